-- Recourse core schema (PostgreSQL). Instants are BIGINT microseconds since the
-- Unix epoch, read from the service clock; ids are 16-byte UUID v7 blobs;
-- money is BIGINT fen.

CREATE TABLE users (
    id BYTEA PRIMARY KEY,
    phone TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    nickname TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('customer', 'agent', 'compliance', 'authority', 'admin')),
    wallet_account_id BYTEA,
    created_at BIGINT NOT NULL,
    nickname_changed_at BIGINT NOT NULL,
    avatar_id BYTEA,
    avatar_changed_at BIGINT,
    verified_at BIGINT,
    legal_name_enc BYTEA,
    id_number_enc BYTEA,
    id_number_index BYTEA,
    masked_name TEXT,
    id_last4 TEXT
);

-- One row per verified identity (by blind index): counts the accounts it
-- verified, so the per-identity limit is enforced atomically.
CREATE TABLE identities (
    id_number_index BYTEA PRIMARY KEY,
    accounts BIGINT NOT NULL CHECK (accounts > 0)
);

CREATE TABLE nickname_history (
    user_id BYTEA NOT NULL,
    nickname TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX nickname_history_by_user ON nickname_history (user_id, changed_at);

CREATE TABLE avatars (
    id BYTEA PRIMARY KEY,
    user_id BYTEA NOT NULL,
    content_type TEXT NOT NULL,
    image BYTEA NOT NULL,
    sha256 BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX avatars_by_user ON avatars (user_id, created_at);

CREATE TABLE accounts (
    id BYTEA PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('wallet', 'bank_settlement')),
    user_id BYTEA,
    currency TEXT NOT NULL,
    balance BIGINT NOT NULL DEFAULT 0,
    held BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    created_at BIGINT NOT NULL,
    CHECK (kind <> 'wallet' OR balance - held >= 0)
);
CREATE UNIQUE INDEX accounts_one_system_account ON accounts (kind, currency) WHERE user_id IS NULL;

CREATE TABLE journal (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    op_id BYTEA NOT NULL,
    op_kind TEXT NOT NULL,
    account_id BYTEA NOT NULL,
    amount BIGINT NOT NULL CHECK (amount <> 0),
    currency TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX journal_by_account ON journal (account_id, seq);
CREATE INDEX journal_by_operation ON journal (op_id);
CREATE FUNCTION recourse_journal_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal rows are immutable';
END $$;
CREATE TRIGGER journal_rows_are_immutable BEFORE UPDATE OR DELETE ON journal
FOR EACH ROW EXECUTE FUNCTION recourse_journal_is_immutable();
CREATE TRIGGER journal_rows_are_never_truncated BEFORE TRUNCATE ON journal
FOR EACH STATEMENT EXECUTE FUNCTION recourse_journal_is_immutable();

CREATE TABLE transfers (
    id BYTEA PRIMARY KEY,
    payer_id BYTEA NOT NULL,
    payee_id BYTEA NOT NULL,
    payer_account_id BYTEA NOT NULL,
    payee_account_id BYTEA NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    note TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    checks TEXT NOT NULL
);
-- No per-payer/per-payee index: an account's history is read from the
-- journal (journal_by_account), where every movement of the account already
-- is. Each secondary index costs ~15% of the write ceiling (BENCHMARKS.md).

CREATE TABLE transfer_events (
    transfer_id BYTEA NOT NULL,
    status TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (transfer_id, status)
);

CREATE TABLE cards (
    id BYTEA PRIMARY KEY,
    user_id BYTEA NOT NULL,
    card_enc BYTEA NOT NULL,
    card_index BYTEA NOT NULL,
    last4 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, card_index)
);

CREATE TABLE bank_movements (
    id BYTEA PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('topup', 'withdrawal')),
    user_id BYTEA NOT NULL,
    card_id BYTEA NOT NULL,
    account_id BYTEA NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX bank_movements_by_user ON bank_movements (user_id, id);

-- Failed logins per phone number within the current window (service clock),
-- shared by every instance: the brake on password guessing.
CREATE TABLE login_failures (
    phone TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_started_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE idempotency (
    caller_id BYTEA NOT NULL,
    key TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    op_kind TEXT NOT NULL,
    op_id BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (caller_id, key)
);

INSERT INTO accounts (id, kind, user_id, currency, balance, held, created_at)
VALUES ('\x00000000000070008000000000000001'::bytea, 'bank_settlement', NULL, 'CNY', 0, 0, 0);
