-- Categories shoppers browse by; a product is in at most one.
CREATE TABLE categories (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
ALTER TABLE products ADD COLUMN category_id BIGINT REFERENCES categories (id);
CREATE INDEX products_category ON products (category_id);

-- A product's life: draft (being prepared, not shown), active (for sale), archived (no longer
-- sold, kept because orders name it). Replaces the on-sale flag: a product that was not on
-- sale is archived when it has orders and a draft otherwise.
ALTER TABLE products ADD COLUMN status TEXT NOT NULL DEFAULT 'draft'
    CHECK (status IN ('draft', 'active', 'archived'));
UPDATE products SET status = CASE
    WHEN active THEN 'active'
    WHEN EXISTS (SELECT 1 FROM order_items WHERE order_items.product_id = products.id) THEN 'archived'
    ELSE 'draft'
END;
ALTER TABLE products DROP COLUMN active;

-- The earlier addresses of renamed products: each answers 301 with the current one.
CREATE TABLE product_redirects (
    slug TEXT PRIMARY KEY NOT NULL,
    product_id BIGINT NOT NULL REFERENCES products (id),
    created_at BIGINT NOT NULL
);

-- Full-text search over name (weighted first) and description. The query in
-- src/catalog/search.rs repeats this expression exactly, so the planner uses the index.
CREATE INDEX products_search ON products USING GIN (
    (setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', description), 'B'))
);
