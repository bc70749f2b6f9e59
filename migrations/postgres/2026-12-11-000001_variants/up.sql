-- Variants: what a shopper picks (size, colour…), each with its own SKU, price, stock and
-- optional picture. A product names up to two option axes; every product has at least one
-- variant, and a product without options has exactly one (its "default" variant, options '').
ALTER TABLE products ADD COLUMN option1_name TEXT;
ALTER TABLE products ADD COLUMN option2_name TEXT;

CREATE TABLE product_variants (
    id BIGSERIAL PRIMARY KEY,
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
UPDATE prices SET variant_id = v.id FROM product_variants v
    WHERE v.product_id = prices.product_id AND prices.recurring_interval IS NULL;
CREATE INDEX prices_variant ON prices (variant_id);

-- The variant an order line sold (NULL: a subscription invoice's line).
ALTER TABLE order_items ADD COLUMN variant_id BIGINT REFERENCES product_variants (id);
UPDATE order_items SET variant_id = v.id FROM product_variants v, prices p
    WHERE v.product_id = order_items.product_id AND p.id = order_items.price_id
      AND p.recurring_interval IS NULL;
CREATE INDEX order_items_variant ON order_items (variant_id);

-- Holds and licence-key pools are per variant.
ALTER TABLE stock_reservations ADD COLUMN variant_id BIGINT REFERENCES product_variants (id);
UPDATE stock_reservations SET variant_id = v.id FROM product_variants v
    WHERE v.product_id = stock_reservations.product_id;
ALTER TABLE stock_reservations ALTER COLUMN variant_id SET NOT NULL;
CREATE INDEX stock_reservations_variant_status ON stock_reservations (variant_id, status);

ALTER TABLE licence_keys ADD COLUMN variant_id BIGINT REFERENCES product_variants (id);
UPDATE licence_keys SET variant_id = v.id FROM product_variants v
    WHERE v.product_id = licence_keys.product_id;
ALTER TABLE licence_keys ALTER COLUMN variant_id SET NOT NULL;
DROP INDEX licence_keys_free;
CREATE INDEX licence_keys_free ON licence_keys (variant_id, order_item_id);

-- "E-mail me when it's back" may name one variant (NULL: the product, when every variant is
-- sold out). Once per address and product or variant.
ALTER TABLE stock_alerts ADD COLUMN variant_id BIGINT REFERENCES product_variants (id);
ALTER TABLE stock_alerts DROP CONSTRAINT stock_alerts_product_id_email_key;
CREATE UNIQUE INDEX stock_alerts_once ON stock_alerts (product_id, COALESCE(variant_id, 0), email);
