DROP TABLE key_usage;
DROP TABLE key_changes;
