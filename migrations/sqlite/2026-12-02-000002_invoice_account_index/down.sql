DROP INDEX invoices_account_month;
