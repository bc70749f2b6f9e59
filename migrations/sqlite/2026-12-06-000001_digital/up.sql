-- How a digital product reaches its buyer: 'file' (a download) or 'keys' (a licence key per
-- unit, from a pool that is the product's stock). NULL for physical products.
ALTER TABLE products ADD COLUMN delivery TEXT CHECK (delivery IN ('file', 'keys'));
-- Downloads allowed per order line.
ALTER TABLE products ADD COLUMN max_downloads BIGINT NOT NULL DEFAULT 5;

-- The file a 'file' product delivers, kept in the database so every instance serves it.
CREATE TABLE product_files (
    product_id BIGINT PRIMARY KEY REFERENCES products (id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes BLOB NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A 'keys' product's pool: a key belongs to one order line once taken, never to two.
CREATE TABLE licence_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id),
    licence_key TEXT NOT NULL,
    order_item_id BIGINT REFERENCES order_items (id),
    assigned_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (product_id, licence_key)
);
CREATE INDEX licence_keys_free ON licence_keys (product_id, order_item_id);
CREATE INDEX licence_keys_item ON licence_keys (order_item_id);

-- Downloads made of an order line's file, against the product's max_downloads.
CREATE TABLE download_counts (
    order_item_id BIGINT PRIMARY KEY REFERENCES order_items (id),
    downloads BIGINT NOT NULL DEFAULT 0
);
