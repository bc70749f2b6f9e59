-- The money of a refund that belongs to one order line: what "refund this line" proposes
-- next is what was paid for the line less these (pending and succeeded refunds). A refund
-- for no line in particular (goodwill, or made in the Dashboard) has no rows here.
CREATE TABLE refund_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    refund_id BIGINT NOT NULL REFERENCES refunds (id),
    order_item_id BIGINT NOT NULL REFERENCES order_items (id),
    amount BIGINT NOT NULL CHECK (amount > 0)
);
CREATE INDEX refund_lines_refund_id ON refund_lines (refund_id);
CREATE INDEX refund_lines_order_item_id ON refund_lines (order_item_id);

-- Refunds made before this table attributed money to lines only through the units they put
-- back on the shelf: carry that over as each restocked unit's share of what was paid for it.
INSERT INTO refund_lines (refund_id, order_item_id, amount)
SELECT rr.refund_id, rr.order_item_id,
       CASE WHEN oi.amount_paid * rr.quantity / oi.quantity > r.amount THEN r.amount
            ELSE oi.amount_paid * rr.quantity / oi.quantity END
FROM refund_restocks rr
JOIN refunds r ON r.id = rr.refund_id
JOIN order_items oi ON oi.id = rr.order_item_id
WHERE oi.quantity > 0 AND oi.amount_paid * rr.quantity / oi.quantity > 0;
