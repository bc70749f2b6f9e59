CREATE TABLE carts (
    id BIGSERIAL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE cart_items (
    id BIGSERIAL PRIMARY KEY,
    cart_id BIGINT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    price_id BIGINT NOT NULL REFERENCES prices (id),
    quantity BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    created_at BIGINT NOT NULL,
    UNIQUE (cart_id, price_id)
);

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'one_time' CHECK (kind IN ('one_time', 'subscription')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'paid', 'payment_failed', 'expired', 'partially_refunded', 'refunded')),
    currency TEXT NOT NULL,
    amount_total BIGINT NOT NULL CHECK (amount_total >= 0),
    amount_refunded BIGINT NOT NULL DEFAULT 0,
    email TEXT,
    cart_id BIGINT REFERENCES carts (id) ON DELETE SET NULL,
    cart_fingerprint TEXT NOT NULL,
    client_ip TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    checkout_session_id TEXT UNIQUE,
    checkout_url TEXT,
    checkout_expires_at BIGINT NOT NULL,
    payment_intent_id TEXT,
    flagged TEXT,
    disputed BOOLEAN NOT NULL DEFAULT FALSE,
    stock_committed BOOLEAN NOT NULL DEFAULT FALSE,
    paid_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX orders_cart_id ON orders (cart_id);
-- One checkout in progress per cart: a double click reuses it instead of opening a second session.
CREATE UNIQUE INDEX orders_one_pending_per_cart ON orders (cart_id) WHERE status = 'pending';
CREATE INDEX orders_client_ip_status ON orders (client_ip, status);
CREATE INDEX orders_status_expires ON orders (status, checkout_expires_at);
CREATE INDEX orders_created_at ON orders (created_at);

CREATE TABLE order_items (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id),
    price_id BIGINT NOT NULL REFERENCES prices (id),
    name TEXT NOT NULL,
    unit_amount BIGINT NOT NULL CHECK (unit_amount >= 0),
    quantity BIGINT NOT NULL CHECK (quantity > 0)
);
CREATE INDEX order_items_order_id ON order_items (order_id);

CREATE TABLE stock_reservations (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    status TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX stock_reservations_product_status ON stock_reservations (product_id, status);
CREATE INDEX stock_reservations_order_id ON stock_reservations (order_id);

CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY NOT NULL,
    type TEXT NOT NULL,
    created BIGINT NOT NULL,
    processed_at BIGINT NOT NULL,
    order_id BIGINT REFERENCES orders (id) ON DELETE SET NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX stripe_events_order_id ON stripe_events (order_id);
