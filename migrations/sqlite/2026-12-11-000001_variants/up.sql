-- Variants: what a shopper picks (size, colour…), each with its own SKU, price, stock and
-- optional picture. A product names up to two option axes; every product has at least one
-- variant, and a product without options has exactly one (its "default" variant, options '').
ALTER TABLE products ADD COLUMN option1_name TEXT;
ALTER TABLE products ADD COLUMN option2_name TEXT;

CREATE TABLE product_variants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id),
    position BIGINT NOT NULL,
    sku TEXT,
    option1 TEXT NOT NULL DEFAULT '',
    option2 TEXT NOT NULL DEFAULT '',
    -- NULL: unlimited. What is on the shelf; held units are stock_reservations.
    stock BIGINT CHECK (stock >= 0),
    image_id BIGINT REFERENCES product_images (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (product_id, option1, option2)
);
CREATE INDEX product_variants_product ON product_variants (product_id, position);
-- A SKU is one code whatever its case ("tote-s" is "TOTE-S" on a label); search looks it up here.
CREATE UNIQUE INDEX product_variants_sku ON product_variants (UPPER(sku));

-- Every existing product becomes one default variant with its stock: no visible change.
INSERT INTO product_variants (product_id, position, stock, created_at, updated_at)
    SELECT id, 0, stock, created_at, updated_at FROM products;
ALTER TABLE products DROP COLUMN stock;

-- A one-time price is a variant's price; plans (recurring prices) belong to the product.
ALTER TABLE prices ADD COLUMN variant_id BIGINT REFERENCES product_variants (id);
UPDATE prices SET variant_id = (SELECT v.id FROM product_variants v WHERE v.product_id = prices.product_id)
    WHERE recurring_interval IS NULL;
CREATE INDEX prices_variant ON prices (variant_id);

-- The variant an order line sold (NULL: a subscription invoice's line).
ALTER TABLE order_items ADD COLUMN variant_id BIGINT REFERENCES product_variants (id);
UPDATE order_items SET variant_id = (SELECT v.id FROM product_variants v WHERE v.product_id = order_items.product_id)
    WHERE price_id IN (SELECT id FROM prices WHERE recurring_interval IS NULL);
CREATE INDEX order_items_variant ON order_items (variant_id);

-- Holds and licence-key pools are per variant (rebuilt: SQLite cannot add a required reference).
CREATE TABLE stock_reservations_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    status TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    variant_id BIGINT NOT NULL REFERENCES product_variants (id)
);
INSERT INTO stock_reservations_new
    SELECT r.id, r.order_id, r.product_id, r.quantity, r.status, r.created_at, r.updated_at, v.id
    FROM stock_reservations r JOIN product_variants v ON v.product_id = r.product_id;
DROP TABLE stock_reservations;
ALTER TABLE stock_reservations_new RENAME TO stock_reservations;
CREATE INDEX stock_reservations_variant_status ON stock_reservations (variant_id, status);
CREATE INDEX stock_reservations_product_status ON stock_reservations (product_id, status);
CREATE INDEX stock_reservations_order_id ON stock_reservations (order_id);

CREATE TABLE licence_keys_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id),
    licence_key TEXT NOT NULL,
    order_item_id BIGINT REFERENCES order_items (id),
    assigned_at BIGINT,
    created_at BIGINT NOT NULL,
    variant_id BIGINT NOT NULL REFERENCES product_variants (id),
    UNIQUE (product_id, licence_key)
);
INSERT INTO licence_keys_new
    SELECT k.id, k.product_id, k.licence_key, k.order_item_id, k.assigned_at, k.created_at, v.id
    FROM licence_keys k JOIN product_variants v ON v.product_id = k.product_id;
DROP TABLE licence_keys;
ALTER TABLE licence_keys_new RENAME TO licence_keys;
CREATE INDEX licence_keys_free ON licence_keys (variant_id, order_item_id);
CREATE INDEX licence_keys_item ON licence_keys (order_item_id);

-- "E-mail me when it's back" may name one variant (NULL: the product, when every variant is
-- sold out). Once per address and product or variant.
CREATE TABLE stock_alerts_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id),
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    notified_at BIGINT,
    variant_id BIGINT REFERENCES product_variants (id)
);
INSERT INTO stock_alerts_new
    SELECT id, product_id, email, created_at, notified_at, NULL FROM stock_alerts;
DROP TABLE stock_alerts;
ALTER TABLE stock_alerts_new RENAME TO stock_alerts;
CREATE UNIQUE INDEX stock_alerts_once ON stock_alerts (product_id, COALESCE(variant_id, 0), email);
CREATE INDEX stock_alerts_waiting ON stock_alerts (notified_at, product_id);
