-- An order's total is subtotal - discount + shipping + exclusive tax. Checkout computes the last
-- three (promotion codes, automatic tax); fulfilment snapshots them from the session after
-- checking the arithmetic. Until then amount_total is the subtotal. Inclusive tax is already
-- inside the subtotal, so it is kept apart from the tax added on top.
ALTER TABLE orders ADD COLUMN amount_subtotal BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN amount_discount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN amount_shipping BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN amount_tax_exclusive BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN amount_tax_inclusive BIGINT NOT NULL DEFAULT 0;
-- The promotion code (or the coupon's name) the customer used, for pages and receipts.
ALTER TABLE orders ADD COLUMN discount_label TEXT;
-- The tax behavior the order's session was asked for (NULL: tax off), fixed when the order is
-- made: its session requests and retries, and the check of what Stripe charged, follow it
-- whatever the setting is later.
ALTER TABLE orders ADD COLUMN tax_behavior TEXT;
UPDATE orders SET amount_subtotal = amount_total;
-- Each line's share, from the session's line items: what a per-line refund proposes.
ALTER TABLE order_items ADD COLUMN amount_discount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_items ADD COLUMN amount_tax BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_items ADD COLUMN amount_paid BIGINT NOT NULL DEFAULT 0;
-- The Stripe Product the line was sold as (NULL: an inline product, as before this column).
ALTER TABLE order_items ADD COLUMN stripe_product_id TEXT;
UPDATE order_items SET amount_paid = unit_amount * quantity;
