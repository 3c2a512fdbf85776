-- The fingerprint of the identity key the store was set up with
-- (`Vault::key_fingerprint`): an instance started with another key refuses
-- to start instead of writing identity data the others cannot read.
CREATE TABLE key_fingerprint (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
);
