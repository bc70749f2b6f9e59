-- A plan's shipping charge per period (the coffee club's "+ $4.00 shipping / month"), billed as
-- a second subscription item; NULL when the price includes delivery.
ALTER TABLE prices ADD COLUMN shipping_amount BIGINT CHECK (shipping_amount > 0);

-- The Stripe Prices made for those charges, one per price and terms (amount, interval, tax
-- behavior). Rows stay when the terms change: older subscriptions keep billing the old Price,
-- and their invoices must still be read as plan plus shipping.
CREATE TABLE shipping_prices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    price_id BIGINT NOT NULL REFERENCES prices (id),
    terms TEXT NOT NULL,
    amount BIGINT NOT NULL,
    stripe_price_id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    UNIQUE (price_id, terms)
);
