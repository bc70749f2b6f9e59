-- The instances serving the shop: each writes its heartbeat every few seconds, and the ones seen
-- lately share the Stripe account's rate limit (payments::budget), unless STRIPE_INSTANCES
-- fixes their number.
CREATE TABLE instances (
    id TEXT PRIMARY KEY NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);

-- The requests the shop sent to Stripe, per minute and endpoint, every instance's added up:
-- the dashboard's view of the rate limit (calls a second, 429s, calls per paid order).
CREATE TABLE stripe_usage (
    minute BIGINT NOT NULL,
    endpoint TEXT NOT NULL,
    requests BIGINT NOT NULL,
    rate_limited BIGINT NOT NULL,
    PRIMARY KEY (minute, endpoint)
);
