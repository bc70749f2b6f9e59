-- Refunds: ours (created from the admin form) and Stripe's (made in the Dashboard), one row each.
CREATE TABLE refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    -- NULL until Stripe answered (or when Stripe refused: nothing was created).
    stripe_refund_id TEXT UNIQUE,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT,
    note TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    failure_message TEXT,
    -- NULL for refunds made outside the shop.
    admin_id BIGINT REFERENCES users (id),
    -- "refund-{token}": a retry replays the same Stripe call.
    idempotency_key TEXT UNIQUE,
    restocked BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX refunds_order_id ON refunds (order_id);

-- Units to put back on the shelf once a refund succeeds.
CREATE TABLE refund_restocks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    refund_id BIGINT NOT NULL REFERENCES refunds (id),
    order_item_id BIGINT NOT NULL REFERENCES order_items (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0)
);
CREATE INDEX refund_restocks_refund_id ON refund_restocks (refund_id);

-- One-time tokens of the refund form: the idempotency key of the refund they create.
CREATE TABLE refund_tokens (
    token TEXT PRIMARY KEY NOT NULL,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    admin_id BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    refund_id BIGINT REFERENCES refunds (id)
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL: the command line or the system.
    actor_id BIGINT REFERENCES users (id),
    action TEXT NOT NULL,
    order_id BIGINT REFERENCES orders (id),
    subject_user_id BIGINT REFERENCES users (id),
    details TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_order_id ON audit_log (order_id, created_at);
CREATE INDEX orders_payment_intent_id ON orders (payment_intent_id);
