-- Impersonation detection and risk decisions (PostgreSQL): blocks, fraud
-- reports and their decisions, and avatars' perceptual hashes.

-- "The payee blocked me": a customer blocks someone (as a chat app would
-- report it); a payment to someone who blocked the payer is warned.
CREATE TABLE blocks (
    blocker_id BYTEA NOT NULL,
    blocked_id BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);

-- Reports of an account by customers; staff confirm (a fraud marker) or
-- dismiss them, recorded with who and why.
CREATE TABLE reports (
    id BYTEA PRIMARY KEY,
    reporter_id BYTEA NOT NULL,
    subject_id BYTEA NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('fraud', 'impersonation', 'goods_not_received', 'harassment', 'other')),
    transfer_id BYTEA,
    details TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'confirmed', 'dismissed')),
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by BYTEA,
    decision_note TEXT
);
CREATE INDEX reports_by_subject ON reports (subject_id, status, decided_at);
CREATE INDEX reports_by_status ON reports (status, created_at);

-- Perceptual hashes of an avatar (64-bit, stored as signed integers), for
-- near-copy detection; NULL for avatars stored before this version.
ALTER TABLE avatars ADD COLUMN hash_a BIGINT;
ALTER TABLE avatars ADD COLUMN hash_b BIGINT;

-- A nickname's look-alike key (`recourse_domain::lookalike::match_text`),
-- kept with it so that comparing a payee with a payer's contacts computes
-- nothing per contact; NULL for nicknames stored before this version (they
-- are not found by look until their owner renames).
ALTER TABLE users ADD COLUMN nickname_key TEXT;
-- Who else looks like this: an index lookup, not a scan of anyone's contacts.
CREATE INDEX users_by_nickname_key ON users (nickname_key);

-- What the risk decision reads about a payee, kept on the payee's row so
-- that one index probe finds it with the payee (written with the report or
-- the avatar that changes it): distinct customers with an open report,
-- confirmed reports, and the current avatar's hashes.
ALTER TABLE users ADD COLUMN open_reporters BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN confirmed_reports BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN avatar_hash_a BIGINT;
ALTER TABLE users ADD COLUMN avatar_hash_b BIGINT;
