//! Rotation of the identity key, online.
//!
//! 1. Every instance is restarted with the new key as `identity_key` and the
//!    old one as `identity_key_previous`. The first to start tells the store
//!    (`Store::claim_key`): the new key becomes current under the next key
//!    id, the old one previous. From then on new ciphertexts and blind
//!    indexes use the new key; old rows are read with the previous one, and
//!    lookups by blind index (the per-identity account limit, a card bound
//!    twice) search under both.
//! 2. `recourse admin rotate-key` (with the same two keys) re-encrypts the
//!    old rows in small batches while the servers run — [`Service::rotate_keys`]
//!    — and when none is left, retires the previous key.
//! 3. Instances may then drop `identity_key_previous` (keep it for
//!    `admin verify-audit`: audit entries are chained under the key of their time).
//!
//! An instance started with a key the store does not know, or without the
//! previous key while a rotation is under way, refuses to start.

use recourse_domain::UserId;
use recourse_store::keys::{ReencryptedCard, ReencryptedIdentity};

use crate::vault::Slot;
use crate::{Service, ServiceError};

/// Rows read and written per batch: one short transaction each.
const BATCH: i64 = 200;

/// What a rotation pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotated {
    pub identities: u64,
    pub cards: u64,
}

fn vault_error(error: crate::vault::VaultError) -> ServiceError {
    ServiceError::Internal(format!("re-encrypting identity data: {error}"))
}

impl Service {
    /// Re-encrypt every row still under another key than the current one.
    /// Safe to run beside serving instances and to run again: a row that
    /// changed since it was read is left for the next pass, which this one
    /// makes until a pass finds nothing stale.
    pub async fn rotate_keys(&self) -> Result<Rotated, ServiceError> {
        let mut total = Rotated::default();
        loop {
            let pass = self.rotation_pass().await?;
            total.identities += pass.0.identities;
            total.cards += pass.0.cards;
            if !pass.1 {
                return Ok(total);
            }
        }
    }

    /// One pass over every row: what it wrote, and whether any stale row was seen.
    async fn rotation_pass(&self) -> Result<(Rotated, bool), ServiceError> {
        let mut done = Rotated::default();
        let mut stale_seen = false;
        let mut after: Option<UserId> = None;
        loop {
            let rows = self.store.identities_after(after, BATCH).await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.user);
            let mut batch = Vec::new();
            for row in rows {
                if !self.vault.is_stale(&row.legal_name_enc) && !self.vault.is_stale(&row.id_number_enc) {
                    continue;
                }
                let key = row.user.as_bytes().to_vec();
                let slot = |column| Slot { table: "users", column, row: &key };
                let number = self.vault.decrypt(slot("id_number_enc"), &row.id_number_enc).map_err(vault_error)?;
                batch.push(ReencryptedIdentity {
                    legal_name_enc: self.vault.reencrypt(slot("legal_name_enc"), &row.legal_name_enc).map_err(vault_error)?,
                    id_number_enc: self.vault.encrypt(slot("id_number_enc"), &number),
                    id_number_index: self.vault.blind_index("id_number", &number),
                    old: row,
                });
            }
            stale_seen |= !batch.is_empty();
            done.identities += self.store.reencrypt_identities(batch).await?;
        }
        let mut after = None;
        loop {
            let rows = self.store.cards_after(after, BATCH).await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.card);
            let mut batch = Vec::new();
            for row in rows.into_iter().filter(|row| self.vault.is_stale(&row.card_enc)) {
                let key = row.card.as_bytes().to_vec();
                let slot = Slot { table: "cards", column: "card_enc", row: &key };
                let number = self.vault.decrypt(slot, &row.card_enc).map_err(vault_error)?;
                batch.push(ReencryptedCard { card_enc: self.vault.encrypt(slot, &number), card_index: self.vault.blind_index("card_number", &number), old: row });
            }
            stale_seen |= !batch.is_empty();
            done.cards += self.store.reencrypt_cards(batch).await?;
        }
        if done.identities + done.cards > 0 {
            tracing::info!(identities = done.identities, cards = done.cards, "identity data re-encrypted under the current key");
        }
        Ok((done, stale_seen))
    }
}
