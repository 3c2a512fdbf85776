-- Abuse limits and retention (issue 16). On SQLite one server owns the
-- store, so rate buckets live in that server's memory (`limits.rs`).
--
-- Retention: the scheduler prunes idempotency records past the replay
-- window and expired sessions, oldest first.
CREATE INDEX idempotency_by_age ON idempotency (created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
