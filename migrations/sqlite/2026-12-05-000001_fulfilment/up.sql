-- Physical goods are shipped; digital ones are not. The order line keeps the kind it was sold as.
ALTER TABLE products ADD COLUMN kind TEXT NOT NULL DEFAULT 'physical' CHECK (kind IN ('physical', 'digital'));
ALTER TABLE order_items ADD COLUMN physical BOOLEAN NOT NULL DEFAULT 1;

-- The order's fulfilment, apart from its payment: derived from its lines, shipments and refunds
-- (shipping::status), stored for the "awaiting shipment" queue.
ALTER TABLE orders ADD COLUMN fulfilment_status TEXT NOT NULL DEFAULT 'unfulfilled' CHECK (
    fulfilment_status IN ('unfulfilled', 'partially_shipped', 'shipped', 'delivered', 'not_required', 'canceled')
);
-- Orders refunded before shipping was recorded ship nothing more.
UPDATE orders SET fulfilment_status = 'canceled' WHERE status = 'refunded';
CREATE INDEX orders_fulfilment_queue ON orders (fulfilment_status, created_at);

-- Of the units a refund puts back on the shelf, those that never left (a cancelled part of the
-- order: no longer to ship); the others came back from the customer after shipping.
ALTER TABLE refund_restocks ADD COLUMN cancelled BIGINT NOT NULL DEFAULT 0;

-- Where a paid order goes and how: snapshotted from the Checkout Session at fulfilment.
CREATE TABLE order_shipping (
    order_id BIGINT PRIMARY KEY REFERENCES orders (id),
    name TEXT NOT NULL,
    line1 TEXT,
    line2 TEXT,
    city TEXT,
    state TEXT,
    postal_code TEXT,
    country TEXT NOT NULL,
    phone TEXT,
    rate_id TEXT,
    rate_name TEXT,
    amount BIGINT NOT NULL DEFAULT 0,
    amount_tax BIGINT NOT NULL DEFAULT 0
);

-- The shop's shipping rates, from the catalogue file: sent to Checkout as inline rate data.
CREATE TABLE shipping_rates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount >= 0),
    min_days BIGINT,
    max_days BIGINT,
    -- Free when the order's subtotal (before discounts) is at least this much.
    free_over BIGINT,
    active BOOLEAN NOT NULL DEFAULT 1,
    position BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What each order offered, fixed when it was created: a retried session sends the same
-- options, and fulfilment checks the chosen one against them.
CREATE TABLE order_shipping_rates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    position BIGINT NOT NULL,
    rate_key TEXT NOT NULL,
    name TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount >= 0),
    min_days BIGINT,
    max_days BIGINT
);
CREATE INDEX order_shipping_rates_order_id ON order_shipping_rates (order_id);

-- A parcel: some units of some lines, with a carrier and tracking number; shipped, then delivered.
CREATE TABLE shipments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    -- The form that created it: a double-click or a resubmitted form records one shipment.
    form_key TEXT NOT NULL UNIQUE,
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('shipped', 'delivered')),
    admin_id BIGINT,
    shipped_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX shipments_order_id ON shipments (order_id);

CREATE TABLE shipment_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shipment_id BIGINT NOT NULL REFERENCES shipments (id),
    order_item_id BIGINT NOT NULL REFERENCES order_items (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0)
);
CREATE INDEX shipment_lines_shipment_id ON shipment_lines (shipment_id);

-- Paid orders from before the shop recorded shipping were fulfilled by hand: one parcel each,
-- delivered, by an 'unrecorded' carrier, so they never enter the "awaiting shipment" queue and
-- a later refund does not put them back in it.
INSERT INTO shipments (order_id, form_key, carrier, tracking_number, status, shipped_at, delivered_at)
SELECT id, 'unrecorded-' || id, 'unrecorded', '-', 'delivered', COALESCE(paid_at, created_at), COALESCE(paid_at, created_at)
FROM orders WHERE status IN ('paid', 'partially_refunded');
INSERT INTO shipment_lines (shipment_id, order_item_id, quantity)
SELECT s.id, oi.id, oi.quantity
FROM shipments s JOIN order_items oi ON oi.order_id = s.order_id
WHERE s.carrier = 'unrecorded' AND oi.quantity > 0;
UPDATE orders SET fulfilment_status = 'delivered'
WHERE id IN (SELECT order_id FROM shipments WHERE carrier = 'unrecorded');
