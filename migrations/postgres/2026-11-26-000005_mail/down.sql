DROP TABLE email_tokens;
DROP TABLE outbox;
