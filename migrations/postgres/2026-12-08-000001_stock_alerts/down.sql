ALTER TABLE audit_log DROP COLUMN product_id;
DROP TABLE stock_alerts;
