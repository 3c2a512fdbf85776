-- Abuse limits and retention (issue 16).
--
-- Rate buckets (`recourse_domain::rate`, GCRA): one theoretical arrival
-- time per subject (a caller's lookup budget, a payer's transfer velocity,
-- an address's logins and registrations), shared by every instance.
-- UNLOGGED: no WAL, so a take costs no flush; a crash empties the table,
-- which refills every bucket once (never lets money move, never loses any).
CREATE UNLOGGED TABLE rate_buckets (
    subject TEXT PRIMARY KEY,
    tat_us BIGINT NOT NULL,
    allowed BIGINT NOT NULL
);

-- Retention: the scheduler prunes idempotency records past the replay
-- window and expired sessions, oldest first.
CREATE INDEX idempotency_by_age ON idempotency (created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
