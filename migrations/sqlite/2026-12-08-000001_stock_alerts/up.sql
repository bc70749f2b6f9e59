-- Shoppers waiting for a sold-out product: each gets one mail when it can be bought again.
CREATE TABLE stock_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id),
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    notified_at BIGINT,
    UNIQUE (product_id, email)
);
CREATE INDEX stock_alerts_waiting ON stock_alerts (notified_at, product_id);

-- Catalogue changes (stock set or adjusted by an admin) are audited per product.
ALTER TABLE audit_log ADD COLUMN product_id BIGINT REFERENCES products (id);
