-- A practice admin disputes a charge on an invoice; staff answer it.
CREATE TABLE disputes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    portal_user_id BIGINT NOT NULL REFERENCES portal_users (id),
    line_position BIGINT,
    message TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    answer TEXT,
    answered_by TEXT,
    answered_at TIMESTAMP
);
CREATE INDEX disputes_invoice ON disputes (invoice_id);
CREATE INDEX disputes_open ON disputes (answered_at);
