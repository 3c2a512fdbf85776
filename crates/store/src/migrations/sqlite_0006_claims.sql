-- Post-incident assistance (SQLite): claims with their timelines, holds for
-- claims, the compensation account, notifications, lawful disclosures and
-- the tamper-evident audit log.

-- The language a customer's notifications are written in.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'zh-CN' CHECK (language IN ('zh-CN', 'en'));

-- A third kind of system account: `compensation`, which pays claimants for
-- each day a claim stays open past its deadline (it goes negative by what
-- was paid, like `bank_settlement`). SQLite cannot change a CHECK in place.
CREATE TABLE accounts_v6 (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('wallet', 'bank_settlement', 'compensation')),
    user_id BLOB,
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
    created_at INTEGER NOT NULL,
    CHECK (kind <> 'wallet' OR balance - held >= 0)
) WITHOUT ROWID;
INSERT INTO accounts_v6 (id, kind, user_id, currency, balance, held, created_at)
SELECT id, kind, user_id, currency, balance, held, created_at FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_v6 RENAME TO accounts;
CREATE UNIQUE INDEX accounts_one_system_account ON accounts (kind, currency) WHERE user_id IS NULL;
INSERT INTO accounts (id, kind, user_id, currency, balance, held, created_at)
VALUES (X'00000000000070008000000000000002', 'compensation', NULL, 'CNY', 0, 0, 0);

-- A claim on one transfer (one per transfer), its deadlines on the service
-- clock and what came back so far.
CREATE TABLE claims (
    id BLOB PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    transfer_id BLOB NOT NULL UNIQUE,
    claimant_id BLOB NOT NULL,
    payee_id BLOB NOT NULL,
    claimant_account_id BLOB NOT NULL,
    payee_account_id BLOB NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('wrong_recipient', 'impersonation', 'fraud', 'goods_not_received', 'blocked_after_payment')),
    details TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    returned INTEGER NOT NULL DEFAULT 0 CHECK (returned >= 0 AND returned <= amount),
    status TEXT NOT NULL CHECK (status IN ('awaiting_payee', 'in_review', 'returned', 'rejected', 'legal_route')),
    owner_id BLOB,
    filed_at INTEGER NOT NULL,
    payee_answer_due_at INTEGER NOT NULL,
    acknowledgement_due_at INTEGER NOT NULL,
    first_contact_due_at INTEGER NOT NULL,
    resolution_due_at INTEGER NOT NULL,
    acknowledged_at INTEGER,
    first_contact_at INTEGER,
    payee_answered_at INTEGER,
    resolved_at INTEGER,
    compensation_days INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
CREATE INDEX claims_by_claimant ON claims (claimant_id, filed_at);
CREATE INDEX claims_by_payee ON claims (payee_id, filed_at);
CREATE INDEX claims_queue ON claims (status, resolution_due_at);

-- Every event and message of a claim, numbered; `audience` says who sees it
-- besides staff (`all`: both parties).
CREATE TABLE claim_events (
    claim_id BLOB NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    kind TEXT NOT NULL,
    actor TEXT NOT NULL CHECK (actor IN ('claimant', 'payee', 'staff', 'system')),
    actor_id BLOB,
    audience TEXT NOT NULL CHECK (audience IN ('all', 'claimant', 'payee', 'staff')),
    amount INTEGER,
    account_id BLOB,
    text TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (claim_id, seq)
) WITHOUT ROWID;

-- A hold for a claim is a reserve from the held account to the claimant
-- (ledger.rs); these say which claim, who placed it, and why.
ALTER TABLE holds ADD COLUMN claim_id BLOB;
ALTER TABLE holds ADD COLUMN placed_by BLOB;
ALTER TABLE holds ADD COLUMN note TEXT;
CREATE INDEX holds_by_claim ON holds (claim_id) WHERE claim_id IS NOT NULL;

-- A customer's inbox, newest first.
CREATE TABLE notifications (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    claim_id BLOB,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    read_at INTEGER
);
CREATE INDEX notifications_by_user ON notifications (user_id, created_at, id);

-- An authority's request for the identity behind a claim or transfer,
-- decided by a compliance officer who is not the requester.
CREATE TABLE disclosures (
    id BLOB PRIMARY KEY,
    requester_id BLOB NOT NULL,
    claim_id BLOB,
    transfer_id BLOB NOT NULL,
    subject_id BLOB NOT NULL,
    legal_basis TEXT NOT NULL,
    document_ref TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'refused')),
    created_at INTEGER NOT NULL,
    decided_by BLOB,
    decided_at INTEGER,
    decision_note TEXT,
    subject_notified_at INTEGER
);
CREATE INDEX disclosures_by_status ON disclosures (status, created_at);

-- The tamper-evident audit log: each entry's MAC covers the previous one's
-- (a chain keyed with a key derived from the identity key, which is not in
-- the database). `audit_head` is the chain's end, one row, updated with
-- every append so that appends serialize on it and nothing else.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor_id BLOB,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    key_id TEXT NOT NULL,
    mac BLOB NOT NULL
);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    mac BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, X'');
