DROP TABLE jobs;
DROP TABLE clock;
DROP TABLE idempotency_keys;
DROP TABLE deliveries;
DROP TABLE objects;
