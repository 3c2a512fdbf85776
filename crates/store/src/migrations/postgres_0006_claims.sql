-- Post-incident assistance (PostgreSQL): claims with their timelines, holds for
-- claims, the compensation account, notifications, lawful disclosures and
-- the tamper-evident audit log.

-- The language a customer's notifications are written in.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'zh-CN' CHECK (language IN ('zh-CN', 'en'));

-- A third kind of system account: `compensation`, which pays claimants for
-- each day a claim stays open past its deadline (it goes negative by what
-- was paid, like `bank_settlement`).
ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check CHECK (kind IN ('wallet', 'bank_settlement', 'compensation'));
INSERT INTO accounts (id, kind, user_id, currency, balance, held, created_at)
VALUES ('\x00000000000070008000000000000002'::bytea, 'compensation', NULL, 'CNY', 0, 0, 0);

-- A claim on one transfer (one per transfer), its deadlines on the service
-- clock and what came back so far.
CREATE TABLE claims (
    id BYTEA PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    transfer_id BYTEA NOT NULL UNIQUE,
    claimant_id BYTEA NOT NULL,
    payee_id BYTEA NOT NULL,
    claimant_account_id BYTEA NOT NULL,
    payee_account_id BYTEA NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('wrong_recipient', 'impersonation', 'fraud', 'goods_not_received', 'blocked_after_payment')),
    details TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    returned BIGINT NOT NULL DEFAULT 0 CHECK (returned >= 0 AND returned <= amount),
    status TEXT NOT NULL CHECK (status IN ('awaiting_payee', 'in_review', 'returned', 'rejected', 'legal_route')),
    owner_id BYTEA,
    filed_at BIGINT NOT NULL,
    payee_answer_due_at BIGINT NOT NULL,
    acknowledgement_due_at BIGINT NOT NULL,
    first_contact_due_at BIGINT NOT NULL,
    resolution_due_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    first_contact_at BIGINT,
    payee_answered_at BIGINT,
    resolved_at BIGINT,
    compensation_days BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX claims_by_claimant ON claims (claimant_id, filed_at);
CREATE INDEX claims_by_payee ON claims (payee_id, filed_at);
CREATE INDEX claims_queue ON claims (status, resolution_due_at);

-- Every event and message of a claim, numbered; `audience` says who sees it
-- besides staff (`all`: both parties).
CREATE TABLE claim_events (
    claim_id BYTEA NOT NULL,
    seq BIGINT NOT NULL CHECK (seq >= 1),
    kind TEXT NOT NULL,
    actor TEXT NOT NULL CHECK (actor IN ('claimant', 'payee', 'staff', 'system')),
    actor_id BYTEA,
    audience TEXT NOT NULL CHECK (audience IN ('all', 'claimant', 'payee', 'staff')),
    amount BIGINT,
    account_id BYTEA,
    text TEXT,
    at BIGINT NOT NULL,
    PRIMARY KEY (claim_id, seq)
);

-- A hold for a claim is a reserve from the held account to the claimant
-- (ledger.rs); these say which claim, who placed it, and why.
ALTER TABLE holds ADD COLUMN claim_id BYTEA;
ALTER TABLE holds ADD COLUMN placed_by BYTEA;
ALTER TABLE holds ADD COLUMN note TEXT;
CREATE INDEX holds_by_claim ON holds (claim_id) WHERE claim_id IS NOT NULL;

-- A customer's inbox, newest first.
CREATE TABLE notifications (
    id BYTEA PRIMARY KEY,
    user_id BYTEA NOT NULL,
    kind TEXT NOT NULL,
    claim_id BYTEA,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_by_user ON notifications (user_id, created_at, id);

-- An authority's request for the identity behind a claim or transfer,
-- decided by a compliance officer who is not the requester.
CREATE TABLE disclosures (
    id BYTEA PRIMARY KEY,
    requester_id BYTEA NOT NULL,
    claim_id BYTEA,
    transfer_id BYTEA NOT NULL,
    subject_id BYTEA NOT NULL,
    legal_basis TEXT NOT NULL,
    document_ref TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'refused')),
    created_at BIGINT NOT NULL,
    decided_by BYTEA,
    decided_at BIGINT,
    decision_note TEXT,
    subject_notified_at BIGINT
);
CREATE INDEX disclosures_by_status ON disclosures (status, created_at);

-- The tamper-evident audit log: each entry's MAC covers the previous one's
-- (a chain keyed with a key derived from the identity key, which is not in
-- the database). `audit_head` is the chain's end, one row, updated with
-- every append so that appends serialize on it and nothing else.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id BYTEA,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    key_id TEXT NOT NULL,
    mac BYTEA NOT NULL
);
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    mac BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, '\x'::bytea);
