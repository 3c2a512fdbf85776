-- Transfer velocity (issue 16): each wallet's GCRA state for the transfers
-- it sends (`recourse_domain::rate`), kept on its account row and updated in
-- the same statement that moves the money, so the limit costs no extra
-- round trip and holds exactly under concurrency, across instances.
-- 0: never used (a full bucket).
ALTER TABLE accounts ADD COLUMN velocity_tat BIGINT NOT NULL DEFAULT 0;
