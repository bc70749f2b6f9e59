CREATE TABLE products (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    image_url TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- NULL means unlimited.
    stock BIGINT CHECK (stock IS NULL OR stock >= 0),
    position BIGINT NOT NULL DEFAULT 0,
    stripe_product_id TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE prices (
    id BIGSERIAL PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES products (id),
    lookup_key TEXT NOT NULL UNIQUE,
    currency TEXT NOT NULL,
    unit_amount BIGINT NOT NULL CHECK (unit_amount >= 0),
    recurring_interval TEXT CHECK (recurring_interval IN ('day', 'week', 'month', 'year')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    stripe_price_id TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX prices_product_id ON prices (product_id);
