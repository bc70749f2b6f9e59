-- At most one open subscription Checkout per customer and product: two tabs (or a click now and
-- another in an hour) reuse the open session, a switch to another plan expires it first, and
-- `attempt` (moved by compare-and-set) names the idempotency key of the next one.
CREATE TABLE subscription_checkouts (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL DEFAULT 0,
    price_id BIGINT,
    expires_at BIGINT NOT NULL DEFAULT 0,
    session_id TEXT,
    url TEXT,
    PRIMARY KEY (user_id, product_id)
);
-- A second live subscription to one product (a session opened elsewhere, a race we lost): kept,
-- since the customer paid, and flagged for an admin.
ALTER TABLE subscriptions ADD COLUMN flagged TEXT;
