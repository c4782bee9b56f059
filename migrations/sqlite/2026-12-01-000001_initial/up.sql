-- keybill schema (SQLite dialect; postgres/ holds the same schema in its dialect).
-- Instants are UTC (TEXT 'YYYY-MM-DD HH:MM:SS.ffffff'); money is integer cents.

CREATE TABLE developers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    billing_email TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX accounts_name ON accounts (name);

CREATE TABLE locations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, id)
);

CREATE TABLE keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    developer_id BIGINT NOT NULL REFERENCES developers (id),
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    -- The state now: the fold of this key's ledger, rewritten with every event.
    permissions TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'enabled', 'disabled_by_customer',
                                           'disabled_by_developer', 'disabled_by_staff')),
    location_id BIGINT,
    -- Bumped first in every transaction that changes the key: serializes writers.
    version BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    FOREIGN KEY (account_id, location_id) REFERENCES locations (account_id, id)
);
CREATE INDEX keys_account ON keys (account_id);
CREATE INDEX keys_developer ON keys (developer_id);
CREATE INDEX keys_location ON keys (location_id);

CREATE TABLE key_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id BIGINT NOT NULL REFERENCES keys (id),
    kind TEXT NOT NULL CHECK (kind IN ('created', 'permissions_set', 'location_set', 'enabled', 'disabled')),
    effective_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    permissions TEXT,
    location_id BIGINT,
    disabled_by TEXT CHECK (disabled_by IN ('customer', 'developer', 'staff')),
    actor TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX key_events_key ON key_events (key_id, effective_at, id);

CREATE TABLE list_prices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL CHECK (item IN ('free', 'basic', 'standard', 'full')),
    monthly_price_cents BIGINT NOT NULL CHECK (monthly_price_cents >= 0),
    effective_from DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (item, effective_from)
);
INSERT INTO list_prices (item, monthly_price_cents, effective_from, created_at) VALUES
    ('free', 0, '2000-01-01', '2026-12-01 00:00:00'),
    ('basic', 1500, '2000-01-01', '2026-12-01 00:00:00'),
    ('standard', 3000, '2000-01-01', '2026-12-01 00:00:00'),
    ('full', 3500, '2000-01-01', '2026-12-01 00:00:00');

CREATE TABLE account_prices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    item TEXT NOT NULL CHECK (item IN ('free', 'basic', 'standard', 'full', 'texting_asap', 'enterprise')),
    monthly_price_cents BIGINT NOT NULL CHECK (monthly_price_cents >= 0),
    effective_from DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, item, effective_from)
);

CREATE TABLE staff (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'billing', 'support')),
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE staff_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    staff_id BIGINT NOT NULL REFERENCES staff (id),
    token_hash TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id BIGINT,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE bill_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    month TEXT NOT NULL,
    account_id BIGINT REFERENCES accounts (id),
    actor TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    accounts_billed BIGINT NOT NULL DEFAULT 0,
    invoices_created BIGINT NOT NULL DEFAULT 0,
    invoices_changed BIGINT NOT NULL DEFAULT 0,
    invoices_unchanged BIGINT NOT NULL DEFAULT 0,
    total_cents BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    month TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'issued', 'paid', 'void')),
    number TEXT UNIQUE,
    currency TEXT NOT NULL DEFAULT 'USD',
    total_cents BIGINT NOT NULL,
    paid_cents BIGINT NOT NULL DEFAULT 0,
    inputs_digest TEXT NOT NULL,
    revision BIGINT NOT NULL DEFAULT 1,
    changes_json TEXT,
    bill_run_id BIGINT REFERENCES bill_runs (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    issued_at TIMESTAMP,
    paid_at TIMESTAMP,
    voided_at TIMESTAMP
);
-- At most one invoice that is not void per account and month.
CREATE UNIQUE INDEX invoices_one_per_month ON invoices (account_id, month) WHERE status <> 'void';
CREATE INDEX invoices_month ON invoices (month, status);

CREATE TABLE invoice_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    position BIGINT NOT NULL,
    location_id BIGINT NOT NULL REFERENCES locations (id),
    location_name TEXT NOT NULL,
    item TEXT NOT NULL,
    monthly_price_cents BIGINT NOT NULL,
    days BIGINT NOT NULL,
    days_in_month BIGINT NOT NULL,
    periods TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    UNIQUE (invoice_id, position)
);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    paid_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX payments_invoice ON payments (invoice_id);

CREATE TABLE credit_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL UNIQUE REFERENCES invoices (id),
    number TEXT NOT NULL UNIQUE,
    amount_cents BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Gapless document numbers: one row per series and year ('KB-2026', 'CN-2026').
CREATE TABLE number_series (
    series TEXT PRIMARY KEY NOT NULL,
    last_value BIGINT NOT NULL
);

-- Emails to send, written in the same transaction as what causes them.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    invoice_id BIGINT REFERENCES invoices (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
