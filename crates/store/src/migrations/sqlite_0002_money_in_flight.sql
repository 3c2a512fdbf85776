-- Money in flight (SQLite): holds as ledger facts, the transfer state machine
-- with a full event history, transfer preferences, durable due work, and the
-- test clock's offset shared by every process on the store.

ALTER TABLE users ADD COLUMN default_arrival TEXT NOT NULL DEFAULT 'instant' CHECK (default_arrival IN ('instant', '2h', '24h'));
ALTER TABLE users ADD COLUMN require_acceptance INTEGER NOT NULL DEFAULT 0 CHECK (require_acceptance IN (0, 1));

-- settled rows make balances; pending rows record reserves and their ends
-- (ledger.rs). Every operation's rows sum to zero within each layer.
ALTER TABLE journal ADD COLUMN layer TEXT NOT NULL DEFAULT 'settled' CHECK (layer IN ('settled', 'pending'));
ALTER TABLE journal ADD COLUMN entry TEXT NOT NULL DEFAULT 'post' CHECK (entry IN ('post', 'reserve', 'settle', 'release'));

ALTER TABLE transfers ADD COLUMN arrival TEXT NOT NULL DEFAULT 'instant' CHECK (arrival IN ('instant', '2h', '24h'));
ALTER TABLE transfers ADD COLUMN acceptance_required INTEGER NOT NULL DEFAULT 0 CHECK (acceptance_required IN (0, 1));
ALTER TABLE transfers ADD COLUMN arrives_at INTEGER;
ALTER TABLE transfers ADD COLUMN expires_at INTEGER;

-- One row per event, numbered per transfer: what happened, who did it, why.
CREATE TABLE transfer_events_v2 (
    transfer_id BLOB NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    status TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (transfer_id, seq)
) WITHOUT ROWID;
INSERT INTO transfer_events_v2 (transfer_id, seq, status, event, actor, reason, at)
SELECT transfer_id, 1, status, 'create', 'payer', NULL, at FROM transfer_events;
DROP TABLE transfer_events;
ALTER TABLE transfer_events_v2 RENAME TO transfer_events;

-- A hold: money reserved on `account_id` (the debit side of a reserve) for
-- the operation `op_id`. It ends by being settled or released.
CREATE TABLE holds (
    id BLOB PRIMARY KEY,
    op_id BLOB NOT NULL UNIQUE,
    account_id BLOB NOT NULL,
    counter_account_id BLOB NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('delayed_transfer', 'awaiting_acceptance', 'claim')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    ended_at INTEGER,
    ending TEXT CHECK (ending IN ('settled', 'released')),
    CHECK ((ended_at IS NULL) = (ending IS NULL))
) WITHOUT ROWID;

-- Work the scheduler must do at a time on the service clock: one row per
-- open deadline, deleted in the transaction that meets it (or makes it moot).
CREATE TABLE due_work (
    subject_id BLOB NOT NULL,
    event TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    PRIMARY KEY (subject_id, event)
) WITHOUT ROWID;
CREATE INDEX due_work_by_time ON due_work (due_at);

-- The test clock's offset (always 0 on a real clock), in the store so that
-- every instance on it agrees on the time.
CREATE TABLE service_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    offset_us INTEGER NOT NULL CHECK (offset_us >= 0)
);
INSERT INTO service_clock (id, offset_us) VALUES (1, 0);
