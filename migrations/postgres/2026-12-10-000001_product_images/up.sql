-- Product pictures uploaded from the admin pages, resized and re-encoded (no metadata kept).
-- The database holds both copies, so every instance can serve them; MEDIA_DIR holds the files
-- served, named by content hash: {name}-thumb.jpg and {name}-large.jpg.
CREATE TABLE product_images (
    id BIGSERIAL PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES products (id),
    position BIGINT NOT NULL,
    alt TEXT NOT NULL,
    name TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    thumb BYTEA NOT NULL,
    large BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (product_id, name)
);
CREATE INDEX product_images_product ON product_images (product_id, position);
CREATE INDEX product_images_name ON product_images (name);
