DROP TABLE recovery_unsubscribes;
DROP TABLE checkout_recoveries;
ALTER TABLE carts DROP COLUMN recovery_id;
ALTER TABLE orders DROP COLUMN recovered_from;
ALTER TABLE orders DROP COLUMN recovery_email;
ALTER TABLE users DROP COLUMN recovery_opt_in;
