//! Plain data read from and written to the store. Personal data arrives here
//! already encrypted (`*_enc`) or masked; the store never sees plain text.

use recourse_domain::ledger::{Balance, OperationKind};
use recourse_domain::transfer::TransferStatus;
use recourse_domain::{AccountId, CardId, Currency, OperationId, Role, UserId};

#[derive(Clone)]
pub struct NewUser {
    pub id: UserId,
    pub phone: String,
    pub password_hash: String,
    pub nickname: String,
    pub role: Role,
    /// Customers get a wallet; staff do not.
    pub wallet: Option<AccountId>,
    pub created_at_us: i64,
    /// An avatar given at registration, stored in the same transaction.
    pub avatar: Option<Avatar>,
}

#[derive(Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub phone: String,
    pub password_hash: String,
    pub nickname: String,
    pub role: Role,
    pub wallet: Option<AccountId>,
    pub created_at_us: i64,
    pub nickname_changed_at_us: i64,
    pub avatar_id: Option<uuid::Uuid>,
    pub avatar_changed_at_us: Option<i64>,
    pub verified_at_us: Option<i64>,
    pub masked_name: Option<String>,
    pub id_last4: Option<String>,
}

impl std::fmt::Debug for UserRecord {
    // No password hash, no phone number: only what identifies the record.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord").field("id", &self.id).field("role", &self.role).field("verified", &self.verified()).finish_non_exhaustive()
    }
}

impl UserRecord {
    pub fn verified(&self) -> bool {
        self.verified_at_us.is_some()
    }
}

/// A completed real-name verification, encrypted by the vault.
#[derive(Clone, Debug)]
pub struct Verification {
    pub legal_name_enc: Vec<u8>,
    pub id_number_enc: Vec<u8>,
    /// Keyed hash of the identity number: finds accounts of one identity
    /// without decrypting anything.
    pub id_number_index: Vec<u8>,
    pub masked_name: String,
    pub id_last4: String,
    pub verified_at_us: i64,
}

#[derive(Clone, Debug)]
pub struct EncryptedIdentity {
    pub legal_name_enc: Vec<u8>,
    pub id_number_enc: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct NewCard {
    pub id: CardId,
    pub user: UserId,
    pub card_enc: Vec<u8>,
    pub card_index: Vec<u8>,
    pub last4: String,
    pub created_at_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRecord {
    pub id: CardId,
    pub user: UserId,
    pub last4: String,
    pub created_at_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    pub id: OperationId,
    pub payer: UserId,
    pub payee: UserId,
    pub payer_account: AccountId,
    pub payee_account: AccountId,
    pub amount_fen: i64,
    pub currency: Currency,
    pub note: Option<String>,
    pub status: TransferStatus,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    /// The checks that ran before the transfer and what the payer saw (JSON).
    pub checks: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    pub status: TransferStatus,
    pub at_us: i64,
}

/// A top-up (bank → wallet) or withdrawal (wallet → bank).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankMovementRecord {
    pub id: OperationId,
    pub kind: OperationKind,
    pub user: UserId,
    pub card: CardId,
    pub account: AccountId,
    pub amount_fen: i64,
    pub currency: Currency,
    pub created_at_us: i64,
}

/// The caller's idempotency key and a digest of the request it came with.
#[derive(Clone, Debug)]
pub struct IdempotencyClaim {
    pub caller: UserId,
    pub key: String,
    pub request_hash: Vec<u8>,
}

/// Whether an idempotent operation happened now or was already done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    Created(T),
    /// The same key and the same request were seen before: this is the
    /// original result (in its current state), and nothing moved again.
    Replayed(T),
}

impl<T> Outcome<T> {
    pub fn into_inner(self) -> T {
        match self {
            Outcome::Created(t) | Outcome::Replayed(t) => t,
        }
    }
    pub fn is_replay(&self) -> bool {
        matches!(self, Outcome::Replayed(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountBalance {
    pub account: AccountId,
    pub balance: Balance,
    pub currency: Currency,
}

#[derive(Clone, Debug)]
pub struct Avatar {
    pub id: uuid::Uuid,
    pub user: UserId,
    pub content_type: String,
    pub image: Vec<u8>,
    pub sha256: Vec<u8>,
    pub created_at_us: i64,
}
