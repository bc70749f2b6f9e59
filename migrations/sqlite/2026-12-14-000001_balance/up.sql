-- Stripe's account of each order's money: the balance transactions of its charge, refunds and
-- disputes, in the account's settlement currency, with Stripe's fee. Their sum is what the
-- order put in the bank.
CREATE TABLE balance_transactions (
    id TEXT PRIMARY KEY NOT NULL,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    -- What moved the money: the charge (ch_…), refund (re_…) or dispute (dp_…).
    source TEXT,
    -- Stripe's reporting_category: charge, refund, refund_failure, dispute, dispute_reversal.
    category TEXT NOT NULL,
    amount BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    net BIGINT NOT NULL,
    currency TEXT NOT NULL,
    created BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX balance_transactions_order ON balance_transactions (order_id);
CREATE INDEX balance_transactions_source ON balance_transactions (source);

-- Balance transactions still to read from Stripe: queued in the transaction that saw the money
-- move (a charge succeeded, a refund succeeded or failed), read by the background job.
CREATE TABLE balance_fetches (
    -- The PaymentIntent (the order's charge) or the refund to read.
    source TEXT PRIMARY KEY NOT NULL,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX balance_fetches_due ON balance_fetches (next_at);

-- How the order was paid (card, sepa_debit, us_bank_account…), from its charge.
ALTER TABLE orders ADD COLUMN payment_method_type TEXT;

-- Orders paid before fees were kept: their charges and refunds are read once too.
INSERT INTO balance_fetches (source, order_id, attempts, next_at, created_at)
SELECT payment_intent_id, MIN(id), 0, 0, 0 FROM orders
WHERE paid_at IS NOT NULL AND payment_intent_id IS NOT NULL AND amount_total > 0
GROUP BY payment_intent_id;
INSERT INTO balance_fetches (source, order_id, attempts, next_at, created_at)
SELECT stripe_refund_id, MIN(order_id), 0, 0, 0 FROM refunds
WHERE stripe_refund_id IS NOT NULL AND status IN ('succeeded', 'failed')
GROUP BY stripe_refund_id;
