//! The identity vault: encryption at rest for legal names, identity numbers
//! and card numbers, and blind indexes to find them without decrypting.
//!
//! Ciphertext layout: `key_id (1) || nonce (12) || AES-256-GCM(ciphertext+tag)`.
//! The associated data binds each ciphertext to its table, column and row, so
//! a value copied into another row or column does not decrypt. The key id
//! names the key that wrote a ciphertext: during a rotation (`keys.rs`) the
//! vault holds the new key (every write) and the previous one (old rows, and
//! blind-index lookups under both) until every row is re-encrypted.
//! Sub-keys for encryption and for blind indexes are derived from the one
//! configured master key with HMAC-SHA256 under fixed labels.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, KeyInit as HmacKeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

/// The key id of a store's first key (and of every key before rotation existed).
pub const FIRST_KEY_ID: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, Error)]
pub enum VaultError {
    #[error("identity data could not be decrypted (wrong key, or the ciphertext was moved or altered)")]
    Decrypt,
    #[error("identity data was encrypted with unknown key id {0}")]
    UnknownKey(u8),
    #[error("the identity key must be 32 bytes, given as 64 hex characters")]
    BadKey,
}

/// One master key's derived keys, and the id its ciphertexts carry.
#[derive(Clone)]
struct Keys {
    id: u8,
    cipher: Aes256Gcm,
    index_key: [u8; 32],
    audit_key: [u8; 32],
    fingerprint_key: [u8; 32],
}

impl Keys {
    fn new(master: &[u8; 32], id: u8) -> Keys {
        let encryption_key = derive(master, "recourse/identity-encryption/v1");
        let cipher = <Aes256Gcm as KeyInit>::new_from_slice(&encryption_key).expect("32-byte key");
        Keys {
            id,
            cipher,
            index_key: derive(master, "recourse/blind-index/v1"),
            audit_key: derive(master, "recourse/audit-log/v1"),
            fingerprint_key: derive(master, "recourse/fingerprint/v1"),
        }
    }

    fn fingerprint(&self) -> String {
        let mut mac = <Hmac<Sha256> as HmacKeyInit>::new_from_slice(&self.fingerprint_key).expect("HMAC takes keys of any length");
        mac.update(b"recourse/key-fingerprint/v1");
        mac.finalize().into_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn blind_index(&self, purpose: &str, value: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as HmacKeyInit>::new_from_slice(&self.index_key).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// The current key (every new ciphertext and blind index), and during a
/// rotation the previous one (read only: old rows, and blind-index lookups
/// under both keys).
#[derive(Clone)]
pub struct Vault {
    current: Keys,
    previous: Option<Keys>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(…)")
    }
}

fn derive(master: &[u8; 32], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as HmacKeyInit>::new_from_slice(master).expect("HMAC takes keys of any length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the operating system's random source works");
    key
}

/// Parse a 64-hex-character key.
pub fn parse_key(hex_text: &str) -> Result<[u8; 32], VaultError> {
    let hex_text = hex_text.trim();
    // Hex digits only (and so ASCII): slicing below never splits a character.
    if hex_text.len() != 64 || !hex_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(VaultError::BadKey);
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex_text[2 * i..2 * i + 2], 16).map_err(|_| VaultError::BadKey)?;
    }
    Ok(key)
}

pub fn key_to_hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a ciphertext lives; part of its associated data.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub row: &'a [u8],
}

impl Slot<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(self.table.len() + self.column.len() + self.row.len() + 2);
        aad.extend_from_slice(self.table.as_bytes());
        aad.push(b'.');
        aad.extend_from_slice(self.column.as_bytes());
        aad.push(b':');
        aad.extend_from_slice(self.row);
        aad
    }
}

impl Vault {
    /// A vault of one key, with the first key id.
    pub fn new(master: &[u8; 32]) -> Vault {
        Vault { current: Keys::new(master, FIRST_KEY_ID), previous: None }
    }

    /// The current key under its id, and the previous one during a rotation.
    pub fn with_keys(master: &[u8; 32], key_id: u8, previous: Option<(&[u8; 32], u8)>) -> Vault {
        Vault { current: Keys::new(master, key_id), previous: previous.map(|(key, id)| Keys::new(key, id)) }
    }

    /// The fingerprint of `master` (what [`Vault::key_fingerprint`] says of a vault of it).
    pub fn fingerprint_of(master: &[u8; 32]) -> String {
        Keys::new(master, FIRST_KEY_ID).fingerprint()
    }

    /// Whether `stored` was written under another key than the current one
    /// (a rotation re-encrypts it).
    pub fn is_stale(&self, stored: &[u8]) -> bool {
        stored.first() != Some(&self.current.id)
    }

    /// Decrypt under whichever key wrote it, encrypt under the current one.
    pub fn reencrypt(&self, slot: Slot<'_>, stored: &[u8]) -> Result<Vec<u8>, VaultError> {
        Ok(self.encrypt(slot, &self.decrypt(slot, stored)?))
    }

    pub fn encrypt(&self, slot: Slot<'_>, plaintext: &str) -> Vec<u8> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce_bytes).expect("the operating system's random source works");
        let nonce = Nonce::from(nonce_bytes);
        let aad = slot.associated_data();
        let ciphertext = self
            .current
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad: &aad })
            .expect("AES-GCM encryption of a short value cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(self.current.id);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn decrypt(&self, slot: Slot<'_>, stored: &[u8]) -> Result<String, VaultError> {
        let (&key_id, rest) = stored.split_first().ok_or(VaultError::Decrypt)?;
        let keys = match &self.previous {
            _ if key_id == self.current.id => &self.current,
            Some(previous) if key_id == previous.id => previous,
            _ => return Err(VaultError::UnknownKey(key_id)),
        };
        if rest.len() < NONCE_LEN {
            return Err(VaultError::Decrypt);
        }
        let (nonce_bytes, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce_array: [u8; NONCE_LEN] = nonce_bytes.try_into().map_err(|_| VaultError::Decrypt)?;
        let nonce = Nonce::from(nonce_array);
        let aad = slot.associated_data();
        let plaintext = keys.cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: &aad }).map_err(|_| VaultError::Decrypt)?;
        String::from_utf8(plaintext).map_err(|_| VaultError::Decrypt)
    }

    /// The audit log's chain key, derived from the identity key (which the
    /// database never holds), and its id: the first 8 bytes of its SHA-256.
    pub fn audit_key(&self) -> recourse_store::AuditKey {
        use sha2::Digest;
        let digest = Sha256::digest(self.current.audit_key);
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        recourse_store::AuditKey { id, key: self.current.audit_key }
    }

    /// A short public name of the master key (16 hex characters, an HMAC
    /// under a fixed label: it reveals nothing of the key). The store keeps
    /// it, so that an instance started with another key refuses to start.
    pub fn key_fingerprint(&self) -> String {
        self.current.fingerprint()
    }

    /// A keyed hash for equality lookups ("which accounts share this identity
    /// number?") that reveals nothing without the key.
    pub fn blind_index(&self, purpose: &str, value: &str) -> Vec<u8> {
        self.current.blind_index(purpose, value)
    }

    /// The same under the previous key, during a rotation: lookups search
    /// under both until every row is re-encrypted.
    pub fn previous_blind_index(&self, purpose: &str, value: &str) -> Option<Vec<u8>> {
        self.previous.as_ref().map(|keys| keys.blind_index(purpose, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let vault = Vault::new(&random_key());
        let slot = Slot { table: "users", column: "legal_name_enc", row: b"row-1" };
        let stored = vault.encrypt(slot, "王小明");
        assert!(!String::from_utf8_lossy(&stored).contains("王小明"));
        assert_eq!(vault.decrypt(slot, &stored).unwrap(), "王小明");
        let moved = Slot { row: b"row-2", ..slot };
        assert!(vault.decrypt(moved, &stored).is_err(), "ciphertext is bound to its row");
        let other_key = Vault::new(&random_key());
        assert!(other_key.decrypt(slot, &stored).is_err());
        let mut tampered = stored.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(vault.decrypt(slot, &tampered).is_err());
    }

    #[test]
    fn keys_parse_without_panicking_and_have_a_stable_fingerprint() {
        assert!(parse_key(&"a".repeat(64)).is_ok());
        // 64 bytes of non-ASCII text, odd lengths, signs: errors, never panics.
        for bad in ["é".repeat(32), "日本".repeat(10) + &"a".repeat(4), "+".repeat(64), "a".repeat(63), "a".repeat(65), "0x".to_owned() + &"a".repeat(62)] {
            assert!(parse_key(&bad).is_err(), "{bad}");
        }
        let key = random_key();
        assert_eq!(Vault::new(&key).key_fingerprint(), Vault::new(&key).key_fingerprint());
        assert_ne!(Vault::new(&key).key_fingerprint(), Vault::new(&random_key()).key_fingerprint());
        assert_eq!(Vault::new(&key).key_fingerprint().len(), 16);
    }

    #[test]
    fn blind_index_is_stable_and_keyed() {
        let key = random_key();
        let a = Vault::new(&key);
        let b = Vault::new(&key);
        assert_eq!(a.blind_index("id", "x"), b.blind_index("id", "x"));
        assert_ne!(a.blind_index("id", "x"), a.blind_index("card", "x"));
        assert_ne!(a.blind_index("id", "x"), Vault::new(&random_key()).blind_index("id", "x"));
    }

    #[test]
    fn a_rotating_vault_reads_both_keys_and_writes_the_new_one() {
        let (old_key, new_key) = (random_key(), random_key());
        let old = Vault::new(&old_key);
        let slot = Slot { table: "users", column: "legal_name_enc", row: b"row-1" };
        let stored = old.encrypt(slot, "王小明");
        let rotating = Vault::with_keys(&new_key, 2, Some((&old_key, FIRST_KEY_ID)));
        assert!(rotating.is_stale(&stored));
        assert_eq!(rotating.decrypt(slot, &stored).unwrap(), "王小明");
        let again = rotating.reencrypt(slot, &stored).unwrap();
        assert_eq!((again[0], rotating.is_stale(&again)), (2, false));
        let rotated = Vault::with_keys(&new_key, 2, None);
        assert_eq!(rotated.decrypt(slot, &again).unwrap(), "王小明");
        assert!(matches!(rotated.decrypt(slot, &stored), Err(VaultError::UnknownKey(1))));
        assert_eq!(rotating.previous_blind_index("id", "x"), Some(old.blind_index("id", "x")));
        assert_ne!(rotating.blind_index("id", "x"), old.blind_index("id", "x"));
        assert_eq!(rotated.previous_blind_index("id", "x"), None);
        assert_eq!(rotating.key_fingerprint(), Vault::fingerprint_of(&new_key));
    }

    #[test]
    fn keys_parse_from_hex() {
        let key = random_key();
        assert_eq!(parse_key(&key_to_hex(&key)).unwrap(), key);
        assert!(parse_key("abc").is_err());
    }
}
