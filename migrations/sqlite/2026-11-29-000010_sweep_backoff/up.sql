-- The expiry sweep backs off per order (a session Stripe cannot answer for is not asked again
-- every minute, and cannot starve newer orders), and each order records which Stripe account
-- and mode it was made under (a fingerprint of the key), so a session that account says does not
-- exist can be released safely.
ALTER TABLE orders ADD COLUMN sweep_next_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN sweep_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN stripe_account TEXT;
