-- The events inbox (/admin/events): which Stripe object each event was about, how many times it
-- arrived, and the events whose processing failed (not in the ledger, whose rows are written only
-- with an event's effects), with the reason, until one of the deliveries, the reconcile or a
-- replay applies them.
ALTER TABLE stripe_events ADD COLUMN object_id TEXT;
ALTER TABLE stripe_events ADD COLUMN deliveries BIGINT NOT NULL DEFAULT 1;
CREATE INDEX stripe_events_processed ON stripe_events (processed_at);
CREATE INDEX stripe_events_object ON stripe_events (object_id);

CREATE TABLE stripe_event_failures (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    created BIGINT NOT NULL,
    object_id TEXT,
    -- What went wrong, for the admin (no secrets: our error chain, Stripe's message).
    error TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    first_failed_at BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL
);
