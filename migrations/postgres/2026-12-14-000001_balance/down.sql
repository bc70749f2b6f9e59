DROP TABLE balance_fetches;
DROP TABLE balance_transactions;
ALTER TABLE orders DROP COLUMN payment_method_type;
