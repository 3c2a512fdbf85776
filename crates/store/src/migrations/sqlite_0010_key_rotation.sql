-- Rotation of the identity key (issue 16): the key id each key writes into
-- its ciphertexts (`Vault`: `key_id || nonce || AES-256-GCM`), and, while
-- `recourse admin rotate-key` re-encrypts the old rows, the previous key's
-- fingerprint and id. Instances refuse to start with a key that is neither.
ALTER TABLE key_fingerprint ADD COLUMN key_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE key_fingerprint ADD COLUMN previous_fingerprint TEXT;
ALTER TABLE key_fingerprint ADD COLUMN previous_key_id BIGINT;
