//! The identity key as the store knows it: its fingerprint and key id (the
//! database never holds a key), and, during a rotation, the previous key's;
//! and the rows a rotation re-encrypts. The vault (`recourse_service::vault`)
//! does the cryptography; this module only reads and writes bytes.

use recourse_domain::{CardId, UserId};

use crate::sql::{SqlConn, Val};
use crate::{Store, StoreError};

/// A key as the store records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// `Vault::key_fingerprint`: a public name of the key.
    pub fingerprint: String,
    /// The id its ciphertexts begin with.
    pub key_id: u8,
}

/// The keys in use: the current one, and the previous one while a rotation
/// is re-encrypting its rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    pub current: KeyRecord,
    pub previous: Option<KeyRecord>,
}

/// A key the store does not accept, and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMismatch {
    pub stored: KeyState,
}

/// A verified user's encrypted identity, as stored.
#[derive(Clone, Debug)]
pub struct StoredIdentity {
    pub user: UserId,
    pub legal_name_enc: Vec<u8>,
    pub id_number_enc: Vec<u8>,
    pub id_number_index: Vec<u8>,
}

/// The same identity under the new key. Written only if the row still holds
/// `old` (a row changed meanwhile is left for the next pass).
#[derive(Clone, Debug)]
pub struct ReencryptedIdentity {
    pub old: StoredIdentity,
    pub legal_name_enc: Vec<u8>,
    pub id_number_enc: Vec<u8>,
    pub id_number_index: Vec<u8>,
}

/// A bound card's encrypted number, as stored.
#[derive(Clone, Debug)]
pub struct StoredCard {
    pub card: CardId,
    pub card_enc: Vec<u8>,
    pub card_index: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct ReencryptedCard {
    pub old: StoredCard,
    pub card_enc: Vec<u8>,
    pub card_index: Vec<u8>,
}

fn key_id(value: i64) -> Result<u8, StoreError> {
    u8::try_from(value).map_err(|_| StoreError::corrupt(format!("key id {value} is not a byte")))
}

fn load_state(conn: &mut dyn SqlConn) -> Result<Option<KeyState>, StoreError> {
    let Some(row) = conn.query_opt("SELECT fingerprint, key_id, previous_fingerprint, previous_key_id FROM key_fingerprint WHERE id = 1", &[])? else {
        return Ok(None);
    };
    let current = KeyRecord { fingerprint: row.text(0)?, key_id: key_id(row.i64(1)?)? };
    let previous = match (row.opt_text(2)?, row.opt_i64(3)?) {
        (Some(fingerprint), Some(id)) => Some(KeyRecord { fingerprint, key_id: key_id(id)? }),
        _ => None,
    };
    Ok(Some(KeyState { current, previous }))
}

/// Identity data is written under the store's current key only (a
/// ciphertext begins with its key's id). An instance that kept running with
/// the old key after a rotation began would otherwise go on writing rows
/// that become unreadable once the previous key is retired, with blind
/// indexes the other instances do not search. A store with no key recorded
/// yet takes any.
pub(crate) fn require_current_key(conn: &mut dyn SqlConn, ciphertexts: &[&[u8]]) -> Result<(), StoreError> {
    let Some(row) = conn.query_opt("SELECT key_id FROM key_fingerprint WHERE id = 1", &[])? else {
        return Ok(());
    };
    let current = key_id(row.i64(0)?)?;
    match ciphertexts.iter().map(|ciphertext| ciphertext.first().copied()).find(|written| *written != Some(current)) {
        Some(written) => Err(StoreError::KeyOutdated { current, written }),
        None => Ok(()),
    }
}

/// The id a new key gets: the next byte after the current one's (1 to 255).
fn next_key_id(current: u8) -> u8 {
    if current == u8::MAX { 1 } else { current + 1 }
}

impl Store {
    /// The key an instance starts with (`fingerprint`; `previous`, the key it
    /// was given as the previous one, if any):
    /// - a store with no key yet records it (key id 1);
    /// - the current key is accepted;
    /// - a new key whose `previous` is the current one starts a rotation:
    ///   it becomes current under the next key id, the old one previous;
    /// - anything else is a [`KeyMismatch`].
    pub async fn claim_key(&self, fingerprint: String, previous: Option<String>) -> Result<Result<KeyState, KeyMismatch>, StoreError> {
        self.write(Vec::new(), move |conn| {
            conn.execute("INSERT INTO key_fingerprint (id, fingerprint, key_id) VALUES (1, $1, 1) ON CONFLICT (id) DO NOTHING", &[fingerprint.clone().into()])?;
            let stored = load_state(conn)?.ok_or_else(|| StoreError::corrupt("the key record vanished"))?;
            if stored.current.fingerprint == fingerprint {
                return Ok(Ok(stored));
            }
            let rotating_from_current = previous.as_deref() == Some(stored.current.fingerprint.as_str()) && stored.previous.is_none();
            if !rotating_from_current {
                return Ok(Err(KeyMismatch { stored }));
            }
            let new_id = next_key_id(stored.current.key_id);
            conn.execute(
                "UPDATE key_fingerprint SET fingerprint = $1, key_id = $2, previous_fingerprint = $3, previous_key_id = $4 WHERE id = 1",
                &[fingerprint.clone().into(), i64::from(new_id).into(), stored.current.fingerprint.clone().into(), i64::from(stored.current.key_id).into()],
            )?;
            Ok(Ok(KeyState { current: KeyRecord { fingerprint: fingerprint.clone(), key_id: new_id }, previous: Some(stored.current) }))
        })
        .await
    }

    /// The rotation is over: forget the previous key (only if it is still `fingerprint`).
    pub async fn retire_previous_key(&self, fingerprint: String) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| {
            conn.execute("UPDATE key_fingerprint SET previous_fingerprint = NULL, previous_key_id = NULL WHERE id = 1 AND previous_fingerprint = $1", &[fingerprint.clone().into()])?;
            Ok(())
        })
        .await
    }

    /// Verified users' encrypted identities after `after`, in id order.
    pub async fn identities_after(&self, after: Option<UserId>, limit: i64) -> Result<Vec<StoredIdentity>, StoreError> {
        let after = after.map_or_else(Vec::new, |u| u.as_bytes().to_vec());
        self.read_blocking(move |conn| {
            conn.query(
                "SELECT id, legal_name_enc, id_number_enc, id_number_index FROM users WHERE id > $1 AND id_number_enc IS NOT NULL ORDER BY id LIMIT $2",
                &[Val::Blob(after), limit.into()],
            )?
            .into_iter()
            .map(|row| Ok(StoredIdentity { user: UserId::from_bytes(row.id16(0)?), legal_name_enc: row.blob(1)?, id_number_enc: row.blob(2)?, id_number_index: row.blob(3)? }))
            .collect()
        })
        .await
    }

    /// Write re-encrypted identities in one transaction; each row only if it
    /// still holds what was read, and its identity's account count moves
    /// with its blind index. Returns how many rows were written.
    pub async fn reencrypt_identities(&self, rows: Vec<ReencryptedIdentity>) -> Result<u64, StoreError> {
        self.write(Vec::new(), move |conn| {
            let mut written = 0;
            for row in &rows {
                require_current_key(conn, &[&row.legal_name_enc, &row.id_number_enc])?;
                let changed = conn.execute(
                    "UPDATE users SET legal_name_enc = $1, id_number_enc = $2, id_number_index = $3 WHERE id = $4 AND id_number_enc = $5",
                    &[
                        Val::Blob(row.legal_name_enc.clone()),
                        Val::Blob(row.id_number_enc.clone()),
                        Val::Blob(row.id_number_index.clone()),
                        Val::Blob(row.old.user.as_bytes().to_vec()),
                        Val::Blob(row.old.id_number_enc.clone()),
                    ],
                )?;
                if changed == 0 {
                    continue;
                }
                written += 1;
                // The identity's count follows its index (the first of its
                // accounts to be re-encrypted moves it; the others find it moved).
                conn.execute(
                    "INSERT INTO identities (id_number_index, accounts) SELECT $1, accounts FROM identities WHERE id_number_index = $2 \
                     ON CONFLICT (id_number_index) DO UPDATE SET accounts = identities.accounts + excluded.accounts",
                    &[Val::Blob(row.id_number_index.clone()), Val::Blob(row.old.id_number_index.clone())],
                )?;
                conn.execute("DELETE FROM identities WHERE id_number_index = $1", &[Val::Blob(row.old.id_number_index.clone())])?;
            }
            Ok(written)
        })
        .await
    }

    /// Bound cards' encrypted numbers after `after`, in id order.
    pub async fn cards_after(&self, after: Option<CardId>, limit: i64) -> Result<Vec<StoredCard>, StoreError> {
        let after = after.map_or_else(Vec::new, |c| c.as_bytes().to_vec());
        self.read_blocking(move |conn| {
            conn.query("SELECT id, card_enc, card_index FROM cards WHERE id > $1 ORDER BY id LIMIT $2", &[Val::Blob(after), limit.into()])?
                .into_iter()
                .map(|row| Ok(StoredCard { card: CardId::from_bytes(row.id16(0)?), card_enc: row.blob(1)?, card_index: row.blob(2)? }))
                .collect()
        })
        .await
    }

    /// Write re-encrypted cards in one transaction (each only if unchanged).
    pub async fn reencrypt_cards(&self, rows: Vec<ReencryptedCard>) -> Result<u64, StoreError> {
        self.write(Vec::new(), move |conn| {
            let mut written = 0;
            for row in &rows {
                require_current_key(conn, &[&row.card_enc])?;
                written += conn.execute(
                    "UPDATE cards SET card_enc = $1, card_index = $2 WHERE id = $3 AND card_enc = $4",
                    &[Val::Blob(row.card_enc.clone()), Val::Blob(row.card_index.clone()), Val::Blob(row.old.card.as_bytes().to_vec()), Val::Blob(row.old.card_enc.clone())],
                )?;
            }
            Ok(written)
        })
        .await
    }
}
