DROP INDEX login_attempts_email;
DROP INDEX email_tokens_expires;
ALTER TABLE outbox DROP COLUMN link_purpose;
ALTER TABLE outbox DROP COLUMN user_id;
DROP TABLE rate_limit_hits;
DROP TABLE user_sessions;
