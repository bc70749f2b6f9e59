-- Disputes through their life, as Stripe last described them: their status, the reason, when
-- evidence is due, and the money they moved (withdrawn with the fee, reinstated when won).
CREATE TABLE disputes (
    id TEXT PRIMARY KEY,
    order_id BIGINT REFERENCES orders (id),
    charge_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    evidence_due_by BIGINT,
    withdrawn BIGINT NOT NULL DEFAULT 0,
    reinstated BIGINT NOT NULL DEFAULT 0,
    fees BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX disputes_order ON disputes (order_id);
