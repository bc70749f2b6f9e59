DROP TABLE stripe_event_failures;
DROP INDEX stripe_events_object;
DROP INDEX stripe_events_processed;
ALTER TABLE stripe_events DROP COLUMN deliveries;
ALTER TABLE stripe_events DROP COLUMN object_id;
