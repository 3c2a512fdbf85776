//! Plain data read from and written to the store. Personal data arrives here
//! already encrypted (`*_enc`) or masked; the store never sees plain text.

use recourse_domain::ledger::{Balance, OperationKind};
use recourse_domain::refusal::Refusal;
use recourse_domain::transfer::{Actor, Arrival, TransferEvent, TransferMode, TransferStatus};
use recourse_domain::{AccountId, Amount, CardId, Currency, OperationId, Role, UserId};

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
    /// How this customer's transfers travel when they do not say.
    pub default_arrival: Arrival,
    /// "Ask me before accepting transfers."
    pub require_acceptance: bool,
    /// The language of what Recourse writes to them (notifications).
    pub language: recourse_domain::risk::Lang,
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

/// Profile fields to change together; `None` keeps a field.
#[derive(Clone, Debug, Default)]
pub struct ProfileChanges {
    pub nickname: Option<String>,
    pub default_arrival: Option<Arrival>,
    pub require_acceptance: Option<bool>,
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
    pub amount: Amount,
    pub currency: Currency,
    pub note: Option<String>,
    pub status: TransferStatus,
    /// How it travels: instant, delayed until `arrives_at`, or awaiting the
    /// payee's acceptance until `expires_at`.
    pub mode: TransferMode,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    /// The checks that ran before the transfer and what the payer saw (JSON).
    pub checks: String,
}

/// One entry of a transfer's history, numbered from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferEventRecord {
    pub seq: i64,
    /// The status the event left the transfer in.
    pub status: TransferStatus,
    pub event: TransferEvent,
    pub actor: Actor,
    pub reason: Option<String>,
    pub at_us: i64,
}

/// A transfer with its whole history, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferDetails {
    pub transfer: TransferRecord,
    pub history: Vec<TransferEventRecord>,
}

/// The answer to a request for a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The transition was made (with its ledger step, in one transaction).
    Moved(TransferDetails),
    /// The same transition had already been made; nothing was written.
    AlreadyDone(TransferDetails),
    /// The transfer has moved on: the transition is no longer possible.
    Illegal(TransferDetails),
    NotFound,
}

/// What the idempotency table holds for a caller's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request_hash: Vec<u8>,
    pub op_kind: OperationKind,
    pub op_id: OperationId,
}

/// A top-up (bank → wallet) or withdrawal (wallet → bank).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankMovementRecord {
    pub id: OperationId,
    pub kind: OperationKind,
    pub user: UserId,
    pub card: CardId,
    pub account: AccountId,
    pub amount: Amount,
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

/// The business answer of an idempotent operation: done now, done before,
/// or refused (nothing moved and the key stays free).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    Created(T),
    /// The same key and the same request were seen before: this is the
    /// original result (in its current state), and nothing moved again.
    Replayed(T),
    Refused(Refusal),
}

impl<T> Outcome<T> {
    pub fn is_replay(&self) -> bool {
        matches!(self, Outcome::Replayed(_))
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Created(t) => Outcome::Created(f(t)),
            Outcome::Replayed(t) => Outcome::Replayed(f(t)),
            Outcome::Refused(refusal) => Outcome::Refused(refusal),
        }
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
    /// Its two 64-bit perceptual hashes (`recourse_domain::avatar`); `None`
    /// for avatars stored before they were computed.
    pub hashes: Option<[u64; 2]>,
}
