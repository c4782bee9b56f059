-- Practice admins and their portal.
CREATE TABLE portal_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX portal_users_account ON portal_users (account_id);

-- One-time links (invites, password resets): only the token's hash is stored.
CREATE TABLE portal_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    portal_user_id BIGINT NOT NULL REFERENCES portal_users (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

CREATE TABLE portal_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    portal_user_id BIGINT NOT NULL REFERENCES portal_users (id),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
