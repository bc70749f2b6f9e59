-- Declined and failed payment attempts, from `payment_intent.payment_failed`: the dashboard's
-- failure rate and top decline codes.
CREATE TABLE payment_failures (
    event_id TEXT PRIMARY KEY NOT NULL,
    payment_intent_id TEXT NOT NULL,
    order_id BIGINT REFERENCES orders (id) ON DELETE SET NULL,
    decline_code TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX payment_failures_created_at ON payment_failures (created_at);
