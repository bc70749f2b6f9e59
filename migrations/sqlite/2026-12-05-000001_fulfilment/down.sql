DROP TABLE order_shipping_rates;
DROP TABLE shipping_rates;
DROP TABLE shipment_lines;
DROP TABLE shipments;
DROP TABLE order_shipping;
DROP INDEX orders_fulfilment_queue;
ALTER TABLE orders DROP COLUMN fulfilment_status;
ALTER TABLE order_items DROP COLUMN physical;
ALTER TABLE products DROP COLUMN kind;
