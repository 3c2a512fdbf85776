-- Recourse core schema (SQLite). Instants are INTEGER microseconds since the
-- Unix epoch, read from the service clock; ids are 16-byte UUID v7 blobs;
-- money is INTEGER fen.

CREATE TABLE users (
    id BLOB PRIMARY KEY,
    phone TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    nickname TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('customer', 'agent', 'compliance', 'authority', 'admin')),
    wallet_account_id BLOB,
    created_at INTEGER NOT NULL,
    nickname_changed_at INTEGER NOT NULL,
    avatar_id BLOB,
    avatar_changed_at INTEGER,
    verified_at INTEGER,
    legal_name_enc BLOB,
    id_number_enc BLOB,
    id_number_index BLOB,
    masked_name TEXT,
    id_last4 TEXT
);

-- One row per verified identity (by blind index): counts the accounts it
-- verified, so the per-identity limit is enforced atomically.
CREATE TABLE identities (
    id_number_index BLOB PRIMARY KEY,
    accounts BIGINT NOT NULL CHECK (accounts > 0)
);

CREATE TABLE nickname_history (
    user_id BLOB NOT NULL,
    nickname TEXT NOT NULL,
    changed_at INTEGER NOT NULL
);
CREATE INDEX nickname_history_by_user ON nickname_history (user_id, changed_at);

CREATE TABLE avatars (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL,
    content_type TEXT NOT NULL,
    image BLOB NOT NULL,
    sha256 BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX avatars_by_user ON avatars (user_id, created_at);

CREATE TABLE accounts (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('wallet', 'bank_settlement')),
    user_id BLOB,
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
    created_at INTEGER NOT NULL,
    CHECK (kind <> 'wallet' OR balance - held >= 0)
) WITHOUT ROWID;
CREATE UNIQUE INDEX accounts_one_system_account ON accounts (kind, currency) WHERE user_id IS NULL;

CREATE TABLE journal (
    seq INTEGER PRIMARY KEY,
    op_id BLOB NOT NULL,
    op_kind TEXT NOT NULL,
    account_id BLOB NOT NULL,
    amount INTEGER NOT NULL CHECK (amount <> 0),
    currency TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX journal_by_account ON journal (account_id, seq);
CREATE INDEX journal_by_operation ON journal (op_id);
CREATE TRIGGER journal_rows_are_immutable_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'journal rows are immutable'); END;
CREATE TRIGGER journal_rows_are_immutable_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'journal rows are immutable'); END;

CREATE TABLE transfers (
    id BLOB PRIMARY KEY,
    payer_id BLOB NOT NULL,
    payee_id BLOB NOT NULL,
    payer_account_id BLOB NOT NULL,
    payee_account_id BLOB NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    note TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    checks TEXT NOT NULL
) WITHOUT ROWID;
-- No per-payer/per-payee index: an account's history is read from the
-- journal (journal_by_account), where every movement of the account already
-- is. Each secondary index costs ~15% of the write ceiling (BENCHMARKS.md).

CREATE TABLE transfer_events (
    transfer_id BLOB NOT NULL,
    status TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (transfer_id, status)
) WITHOUT ROWID;

CREATE TABLE cards (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL,
    card_enc BLOB NOT NULL,
    card_index BLOB NOT NULL,
    last4 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, card_index)
);

CREATE TABLE bank_movements (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('topup', 'withdrawal')),
    user_id BLOB NOT NULL,
    card_id BLOB NOT NULL,
    account_id BLOB NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX bank_movements_by_user ON bank_movements (user_id, id);

-- Failed logins per phone number within the current window (service clock),
-- shared by every instance: the brake on password guessing.
CREATE TABLE login_failures (
    phone TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_started_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;

CREATE TABLE idempotency (
    caller_id BLOB NOT NULL,
    key TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    op_kind TEXT NOT NULL,
    op_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (caller_id, key)
) WITHOUT ROWID;

INSERT INTO accounts (id, kind, user_id, currency, balance, held, created_at)
VALUES (X'00000000000070008000000000000001', 'bank_settlement', NULL, 'CNY', 0, 0, 0);
