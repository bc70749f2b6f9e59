-- Every Stripe object is one JSON document; `seq` gives list order (newest first).
CREATE TABLE objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    object TEXT NOT NULL,
    created BIGINT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX objects_by_type ON objects (object, seq);

-- One row per (event, webhook endpoint) delivery.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    last_status BIGINT
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_ms);

CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created BIGINT NOT NULL
);

-- Test clock: seconds added to the wall clock.
CREATE TABLE clock (
    id INTEGER PRIMARY KEY NOT NULL,
    offset_secs BIGINT NOT NULL
);
INSERT INTO clock (id, offset_secs) VALUES (1, 0);

-- Work that happens "a few seconds later" (bank debits settling, refunds failing, disputes).
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    due_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL
);
