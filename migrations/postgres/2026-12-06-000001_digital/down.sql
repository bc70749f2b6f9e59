DROP TABLE download_counts;
DROP TABLE licence_keys;
DROP TABLE product_files;
ALTER TABLE products DROP COLUMN max_downloads;
ALTER TABLE products DROP COLUMN delivery;
