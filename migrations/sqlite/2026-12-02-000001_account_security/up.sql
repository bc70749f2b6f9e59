-- Sign-in sessions, one row per signed-in browser: the session cookie carries a random id whose
-- SHA-256 is the key here, so signing out ends that session for good (a copied cookie stops
-- working), and idle and absolute lifetimes are enforced on the server.
CREATE TABLE user_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_created ON user_sessions (created_at);

-- Per-client and per-e-mail limits of the account forms (register, forgot, reset): one row per
-- counted request; rows older than a day are pruned on write.
CREATE TABLE rate_limit_hits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    bucket TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX rate_limit_hits_key ON rate_limit_hits (kind, bucket, created_at);
CREATE INDEX rate_limit_hits_created ON rate_limit_hits (created_at);

-- Account mails carry a single-use link that the worker issues when it sends the mail: the
-- queued row only says for whom and what for, never the token.
ALTER TABLE outbox ADD COLUMN user_id BIGINT;
ALTER TABLE outbox ADD COLUMN link_purpose TEXT;

CREATE INDEX email_tokens_expires ON email_tokens (expires_at);
CREATE INDEX login_attempts_email ON login_attempts (email_normalized, created_at);
