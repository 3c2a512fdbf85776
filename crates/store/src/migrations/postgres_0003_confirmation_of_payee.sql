-- Confirmation of payee (PostgreSQL): who paid whom, the contacts a customer
-- manages, masked-name completion attempts and typed-name checks.

-- One row per ordered pair, written when money first reached the payee
-- (an instant transfer, or one in flight when it completes). The store
-- skips the write for pairs it already knows, so a transfer between people
-- who paid each other before costs nothing here.
CREATE TABLE payment_pairs (
    payer_id BYTEA NOT NULL,
    payee_id BYTEA NOT NULL,
    first_at BIGINT NOT NULL,
    PRIMARY KEY (payer_id, payee_id)
);
CREATE INDEX payment_pairs_by_payee ON payment_pairs (payee_id, payer_id);
INSERT INTO payment_pairs (payer_id, payee_id, first_at)
SELECT payer_id, payee_id, min(updated_at) FROM transfers WHERE status = 'completed' GROUP BY payer_id, payee_id;

-- Contacts added by hand, and people removed from the list (a removed
-- counterparty stays hidden until added again).
CREATE TABLE contacts (
    owner_id BYTEA NOT NULL,
    contact_id BYTEA NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('added', 'removed')),
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (owner_id, contact_id)
);

-- Every answer given to a masked-name completion: when, and whether it was
-- right. Never the text typed.
CREATE TABLE name_attempts (
    id BYTEA PRIMARY KEY,
    payer_id BYTEA NOT NULL,
    payee_id BYTEA NOT NULL,
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('wrong', 'passed'))
);
CREATE INDEX name_attempts_by_pair ON name_attempts (payer_id, payee_id, at);
CREATE INDEX name_attempts_by_payer ON name_attempts (payer_id, at);

-- Every typed-name check (POST /v1/payee-checks, or a transfer's
-- expected_name): who asked about whom, when, and the answer. Never the
-- text typed.
CREATE TABLE payee_checks (
    id BYTEA PRIMARY KEY,
    caller_id BYTEA NOT NULL,
    payee_id BYTEA NOT NULL,
    at BIGINT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('match', 'close_match', 'no_match', 'not_possible')),
    source TEXT NOT NULL CHECK (source IN ('check', 'transfer'))
);
CREATE INDEX payee_checks_by_caller ON payee_checks (caller_id, at);
