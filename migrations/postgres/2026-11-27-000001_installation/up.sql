-- Which mode made this database (demo data must never become a real shop's), and the install
-- id that prefixes every Stripe idempotency key (so keys derived from our row ids never collide
-- after a database reset, or between two shops on one Stripe account). One row, written at the
-- first start (see src/installation.rs).
CREATE TABLE installation (
    id BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    install_id TEXT NOT NULL,
    -- NULL until a start that talks to Stripe or the emulator claims it.
    mode TEXT CHECK (mode IN ('demo', 'stripe')),
    created_at BIGINT NOT NULL
);
