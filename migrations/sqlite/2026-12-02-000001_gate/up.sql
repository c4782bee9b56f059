-- The check endpoint's change feed and usage counters.

-- One row per committed change to a key, written in the change's transaction; every
-- server polls it to refresh its in-memory key index within a second.
CREATE TABLE key_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id BIGINT NOT NULL REFERENCES keys (id),
    changed_at TIMESTAMP NOT NULL
);
CREATE INDEX key_changes_at ON key_changes (changed_at);

-- Check-endpoint answers per key and UTC day, added to in batches.
CREATE TABLE key_usage (
    key_id BIGINT NOT NULL REFERENCES keys (id),
    day DATE NOT NULL,
    allowed BIGINT NOT NULL DEFAULT 0,
    denied BIGINT NOT NULL DEFAULT 0,
    throttled BIGINT NOT NULL DEFAULT 0,
    unauthorized BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
);
