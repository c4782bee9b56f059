-- Invoices by account: the bill run's and the closed-month checks' lookups. The partial
-- unique index cannot serve them when the status filter is a bound parameter.
CREATE INDEX invoices_account_month ON invoices (account_id, month);
