//! What responses show. Personal data appears only masked: legal names by
//! the rule in `recourse_domain::identity`, identity numbers by their last
//! four, phone numbers of other people as `+86 138****8000`.

use recourse_domain::identity::mask_id_last4;
use recourse_domain::transfer::TransferMode;
use recourse_store::{AccountBalance, BankMovementRecord, CardRecord, TransferDetails, TransferEventRecord, TransferRecord, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use recourse_service::clock::rfc3339;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceView {
    /// Fen that can be spent now: `balance - held`.
    pub available: i64,
    /// Fen on hold: the sum of this wallet's active holds (transfers not yet
    /// arrived or accepted; later, claims).
    pub held: i64,
    /// Fen in the wallet, including held.
    pub total: i64,
    #[schema(example = "CNY")]
    pub currency: String,
}

impl From<&AccountBalance> for BalanceView {
    fn from(balance: &AccountBalance) -> Self {
        BalanceView {
            available: balance.balance.available_fen(),
            held: balance.balance.held_fen,
            total: balance.balance.balance_fen,
            currency: balance.currency.code().to_owned(),
        }
    }
}

/// The caller's own account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    pub id: String,
    /// The caller's own phone number, in full.
    pub phone: String,
    pub nickname: String,
    #[schema(example = "customer")]
    pub role: String,
    pub verified: bool,
    /// The verified legal name, masked (`**明`); null until verified.
    pub masked_name: Option<String>,
    /// The identity number with all but the last four hidden; null until verified.
    pub masked_id_number: Option<String>,
    pub verified_at: Option<String>,
    /// Null for staff accounts, which hold no money.
    pub balance: Option<BalanceView>,
    pub avatar_url: Option<String>,
    pub created_at: String,
    /// How this customer's transfers travel when a request does not say:
    /// `instant`, `2h` or `24h`.
    #[schema(example = "instant")]
    pub default_arrival: String,
    /// Transfers to this customer wait for their acceptance.
    pub require_acceptance: bool,
    /// The language of notifications: `zh-CN` or `en`.
    #[schema(example = "zh-CN")]
    pub language: String,
}

impl MeView {
    pub fn new(user: &UserRecord, balance: Option<&AccountBalance>) -> MeView {
        MeView {
            id: user.id.to_string(),
            phone: user.phone.clone(),
            nickname: user.nickname.clone(),
            role: user.role.as_str().to_owned(),
            verified: user.verified(),
            masked_name: user.masked_name.clone(),
            masked_id_number: user.id_last4.as_deref().map(mask_id_last4),
            verified_at: user.verified_at_us.map(rfc3339),
            balance: balance.map(BalanceView::from),
            avatar_url: avatar_url(user),
            created_at: rfc3339(user.created_at_us),
            default_arrival: user.default_arrival.as_str().to_owned(),
            require_acceptance: user.require_acceptance,
            language: user.language.tag().to_owned(),
        }
    }
}

pub fn avatar_url(user: &UserRecord) -> Option<String> {
    user.avatar_id.map(|avatar| format!("/v1/avatars/{avatar}"))
}

/// One event of a transfer's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferEventView {
    /// The status the event left the transfer in.
    #[schema(example = "completed")]
    pub status: String,
    /// `create`, `arrive`, `accept`, `decline`, `revoke`, `expire` (later `return`).
    #[schema(example = "create")]
    pub event: String,
    /// `payer`, `payee`, `system` (the scheduler) or `staff:<user id>`.
    #[schema(example = "payer")]
    pub actor: String,
    pub reason: Option<String>,
    pub at: String,
}

impl From<&TransferEventRecord> for TransferEventView {
    fn from(event: &TransferEventRecord) -> Self {
        TransferEventView {
            status: event.status.as_str().to_owned(),
            event: event.event.as_str().to_owned(),
            actor: event.actor.to_text(),
            reason: event.reason.clone(),
            at: rfc3339(event.at_us),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferView {
    pub id: String,
    /// `completed`, `pending_arrival`, `awaiting_acceptance`, `revoked`,
    /// `declined`, `expired_refunded` (later `returned`).
    #[schema(example = "completed")]
    pub status: String,
    /// Fen.
    pub amount: i64,
    #[schema(example = "CNY")]
    pub currency: String,
    pub note: Option<String>,
    pub payer_id: String,
    pub payee_id: String,
    /// `sent` or `received`, from the caller's side.
    pub direction: Option<String>,
    /// `instant`, `2h` or `24h`, as the transfer was made.
    #[schema(example = "instant")]
    pub arrival: String,
    /// `required` when the payee must accept, else `not_required`.
    #[schema(example = "not_required")]
    pub acceptance: String,
    /// When a delayed transfer reaches the payee (null otherwise).
    pub arrives_at: Option<String>,
    /// When an unaccepted transfer's hold goes back to the payer (null otherwise).
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Every event in order (empty in lists; see `GET /v1/transfers/{id}`).
    pub history: Vec<TransferEventView>,
    /// The checks that ran before money moved and what the payer saw.
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
}

impl TransferView {
    pub fn new(details: &TransferDetails, viewer: Option<recourse_domain::UserId>) -> TransferView {
        let mut view = TransferView::summary(&details.transfer, viewer);
        view.history = details.history.iter().map(TransferEventView::from).collect();
        view
    }

    /// Without the history, as lists show it.
    pub fn summary(record: &TransferRecord, viewer: Option<recourse_domain::UserId>) -> TransferView {
        let direction = viewer.and_then(|viewer| {
            if viewer == record.payer {
                Some("sent".to_owned())
            } else if viewer == record.payee {
                Some("received".to_owned())
            } else {
                None
            }
        });
        let (arrival, acceptance, arrives_at, expires_at) = match record.mode {
            TransferMode::Instant => ("instant", "not_required", None, None),
            TransferMode::Delayed { arrival, arrives_at_us } => (arrival.as_str(), "not_required", Some(rfc3339(arrives_at_us)), None),
            TransferMode::AcceptanceRequired { expires_at_us } => ("instant", "required", None, Some(rfc3339(expires_at_us))),
        };
        TransferView {
            id: record.id.to_string(),
            status: record.status.as_str().to_owned(),
            amount: record.amount.fen(),
            currency: record.currency.code().to_owned(),
            note: record.note.clone(),
            payer_id: record.payer.to_string(),
            payee_id: record.payee.to_string(),
            direction,
            arrival: arrival.to_owned(),
            acceptance: acceptance.to_owned(),
            arrives_at,
            expires_at,
            created_at: rfc3339(record.created_at_us),
            updated_at: rfc3339(record.updated_at_us),
            history: Vec::new(),
            checks: serde_json::from_str(&record.checks).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CardView {
    pub id: String,
    #[schema(example = "**** **** **** 1111")]
    pub masked_number: String,
    pub last4: String,
    pub created_at: String,
}

impl From<&CardRecord> for CardView {
    fn from(card: &CardRecord) -> Self {
        CardView {
            id: card.id.to_string(),
            masked_number: format!("**** **** **** {}", card.last4),
            last4: card.last4.clone(),
            created_at: rfc3339(card.created_at_us),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BankMovementView {
    pub id: String,
    /// `topup` or `withdrawal`.
    pub kind: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub card_id: String,
    pub created_at: String,
}

impl From<&BankMovementRecord> for BankMovementView {
    fn from(m: &BankMovementRecord) -> Self {
        BankMovementView {
            id: m.id.to_string(),
            kind: m.kind.as_str().to_owned(),
            status: "completed".to_owned(),
            amount: m.amount.fen(),
            currency: m.currency.code().to_owned(),
            card_id: m.card.to_string(),
            created_at: rfc3339(m.created_at_us),
        }
    }
}
