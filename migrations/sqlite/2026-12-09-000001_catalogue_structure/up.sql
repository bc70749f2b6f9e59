-- Categories shoppers browse by; a product is in at most one.
CREATE TABLE categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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

-- Full-text search over name and description: an FTS5 index over the products table, kept in
-- step by triggers, so every writer (seed, admin pages, another instance) updates it.
CREATE VIRTUAL TABLE product_search USING fts5 (
    name, description,
    content = 'products', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO product_search (product_search) VALUES ('rebuild');
CREATE TRIGGER product_search_insert AFTER INSERT ON products BEGIN
    INSERT INTO product_search (rowid, name, description) VALUES (new.id, new.name, new.description);
END;
CREATE TRIGGER product_search_delete AFTER DELETE ON products BEGIN
    INSERT INTO product_search (product_search, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
END;
CREATE TRIGGER product_search_update AFTER UPDATE OF name, description ON products BEGIN
    INSERT INTO product_search (product_search, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
    INSERT INTO product_search (rowid, name, description) VALUES (new.id, new.name, new.description);
END;
