ALTER TABLE subscriptions DROP COLUMN flagged;
DROP TABLE subscription_checkouts;
