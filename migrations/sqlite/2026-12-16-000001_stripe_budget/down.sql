DROP TABLE stripe_usage;
DROP TABLE instances;
