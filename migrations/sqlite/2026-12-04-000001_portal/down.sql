DROP TABLE portal_sessions;
DROP TABLE portal_tokens;
DROP TABLE portal_users;
