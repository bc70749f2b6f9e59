DROP INDEX products_search;
DROP TABLE product_redirects;
ALTER TABLE products ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE products SET active = (status = 'active');
ALTER TABLE products DROP COLUMN status;
DROP INDEX products_category;
ALTER TABLE products DROP COLUMN category_id;
DROP TABLE categories;
