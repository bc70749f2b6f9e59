CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    -- Lower-cased: unique regardless of case.
    email_normalized TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
    -- Bumped to end every session of the user (password reset, sign out everywhere).
    session_epoch BIGINT NOT NULL DEFAULT 0,
    stripe_customer_id TEXT UNIQUE,
    email_verified_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE login_attempts (
    id BIGSERIAL PRIMARY KEY,
    client_ip TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX login_attempts_ip ON login_attempts (client_ip, created_at);
CREATE INDEX login_attempts_ip_email ON login_attempts (client_ip, email_normalized, created_at);

CREATE TABLE subscriptions (
    id BIGSERIAL PRIMARY KEY,
    stripe_subscription_id TEXT NOT NULL UNIQUE,
    user_id BIGINT REFERENCES users (id),
    stripe_customer_id TEXT NOT NULL,
    price_id BIGINT REFERENCES prices (id),
    stripe_price_id TEXT NOT NULL,
    status TEXT NOT NULL,
    current_period_end BIGINT,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    ended_at BIGINT,
    -- 'paid', or 'payment_failed' when the latest renewal failed.
    latest_invoice_status TEXT,
    last_event_created BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_user_id ON subscriptions (user_id);

ALTER TABLE carts ADD COLUMN user_id BIGINT REFERENCES users (id);
CREATE UNIQUE INDEX carts_user_id ON carts (user_id);
ALTER TABLE orders ADD COLUMN user_id BIGINT REFERENCES users (id);
CREATE INDEX orders_user_id ON orders (user_id, created_at);
ALTER TABLE orders ADD COLUMN invoice_id TEXT;
CREATE UNIQUE INDEX orders_invoice_id ON orders (invoice_id);
ALTER TABLE orders ADD COLUMN subscription_id BIGINT REFERENCES subscriptions (id);
