ALTER TABLE orders DROP COLUMN stripe_account;
ALTER TABLE orders DROP COLUMN sweep_attempts;
ALTER TABLE orders DROP COLUMN sweep_next_at;
