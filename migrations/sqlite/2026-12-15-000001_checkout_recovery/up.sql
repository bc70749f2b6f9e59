-- Abandoned-checkout recovery, only with consent: a customer's standing opt-in, and the address
-- a guest gave with the box ticked at checkout.
ALTER TABLE users ADD COLUMN recovery_opt_in BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE orders ADD COLUMN recovery_email TEXT;
-- The recovery e-mail whose link brought this order (see checkout_recoveries).
ALTER TABLE orders ADD COLUMN recovered_from BIGINT;
-- The recovery a restored cart came from, so its checkout carries it on.
ALTER TABLE carts ADD COLUMN recovery_id BIGINT;

-- One recovery e-mail per abandoned checkout, at most: scheduled when its session expired,
-- sent after the delay unless the customer paid for those items since or unsubscribed,
-- recovered when an order made through its link is paid.
CREATE TABLE checkout_recoveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL UNIQUE REFERENCES orders (id),
    email TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id),
    cart_id BIGINT,
    cart_fingerprint TEXT NOT NULL,
    -- scheduled, sent, cancelled, recovered
    status TEXT NOT NULL,
    expired_at BIGINT NOT NULL,
    sent_at BIGINT,
    cancelled_reason TEXT,
    -- SHA-256 of the link's token (the token itself is only in the mail).
    token_hash TEXT UNIQUE,
    restored_at BIGINT,
    recovered_order_id BIGINT REFERENCES orders (id),
    recovered_amount BIGINT,
    recovered_currency TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX checkout_recoveries_due ON checkout_recoveries (status, expired_at);
-- The same cart contents are reminded of once per address (see recovery::schedule).
CREATE UNIQUE INDEX checkout_recoveries_cart ON checkout_recoveries (email, cart_fingerprint);

-- Addresses that asked for no more recovery e-mails (the link in each one).
CREATE TABLE recovery_unsubscribes (
    email TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL
);
