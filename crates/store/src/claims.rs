//! Claims, their timelines, holds for claims, returns, compensation and the
//! notification inbox. All SQL of post-incident assistance lives here; the
//! rules (which status follows which, deadlines, how much may be returned or
//! held) are the domain's (`recourse_domain::claim`).
//!
//! Money moves only through [`crate::ops::apply_entry`]: a hold for a claim
//! is a reserve from the held account to the claimant (`claim_hold`), ended
//! by a settle (the money reaches the claimant) or a release; a return is a
//! post from the payee to the claimant (`claim_return`); compensation is a
//! post from the compensation account (`compensation`), one per day.

use recourse_domain::claim::{self, ClaimReason, ClaimStatus, ClaimStep, Deadlines, HoldFacts, Notice, Outcome, ReturnRefusal, check_return, next_claim_status};
use recourse_domain::ledger::{EntryKind, LedgerEntry, Movement, OperationKind};
use recourse_domain::refusal::Refusal;
use recourse_domain::risk::Lang;
use recourse_domain::transfer::{Actor, TransferEvent, TransferStatus};
use recourse_domain::{AccountId, Amount, Currency, OperationId, UserId, trace};

use crate::audit::{AuditEntry, AuditKey, append_audit};
use crate::ops::{apply_entry, id, transition};
use crate::sql::{Row, SqlConn, Val};
use crate::{COMPENSATION_CNY, Store, StoreError};

/// Who did something to a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimActor {
    Claimant,
    Payee,
    Staff(UserId),
    System,
}

impl ClaimActor {
    fn name(self) -> &'static str {
        match self {
            ClaimActor::Claimant => "claimant",
            ClaimActor::Payee => "payee",
            ClaimActor::Staff(_) => "staff",
            ClaimActor::System => "system",
        }
    }
}

/// Who sees a timeline entry besides staff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    All,
    Claimant,
    Payee,
    Staff,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::All => "all",
            Audience::Claimant => "claimant",
            Audience::Payee => "payee",
            Audience::Staff => "staff",
        }
    }

    fn parse(text: &str) -> Option<Audience> {
        [Audience::All, Audience::Claimant, Audience::Payee, Audience::Staff].into_iter().find(|a| a.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRecord {
    pub id: uuid::Uuid,
    pub reference: String,
    pub transfer: OperationId,
    pub claimant: UserId,
    pub payee: UserId,
    pub claimant_account: AccountId,
    pub payee_account: AccountId,
    pub reason: ClaimReason,
    pub details: String,
    pub amount_fen: i64,
    pub returned_fen: i64,
    /// Held for the claim now, on every account.
    pub held_fen: i64,
    pub status: ClaimStatus,
    pub owner: Option<UserId>,
    pub filed_at_us: i64,
    pub deadlines: Deadlines,
    pub acknowledged_at_us: Option<i64>,
    pub first_contact_at_us: Option<i64>,
    pub payee_answered_at_us: Option<i64>,
    pub resolved_at_us: Option<i64>,
    pub compensation_days: i64,
    pub updated_at_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimEventRecord {
    pub seq: i64,
    pub kind: String,
    /// `claimant`, `payee`, `staff` or `system`.
    pub actor: String,
    pub actor_id: Option<UserId>,
    pub audience: Audience,
    pub amount_fen: Option<i64>,
    pub account: Option<AccountId>,
    pub text: Option<String>,
    pub at_us: i64,
}

/// A hold placed for a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimHoldRecord {
    /// The hold's operation (its journal rows carry this id).
    pub id: OperationId,
    pub account: AccountId,
    pub amount_fen: i64,
    pub created_at_us: i64,
    pub expires_at_us: i64,
    pub ended_at_us: Option<i64>,
    /// `settled` (the money reached the claimant) or `released`.
    pub ending: Option<String>,
    pub placed_by: Option<UserId>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: uuid::Uuid,
    pub kind: String,
    pub claim: Option<uuid::Uuid>,
    pub message: String,
    pub created_at_us: i64,
    pub read_at_us: Option<i64>,
}

/// A claim as filed by the service: who, what, and its deadlines.
#[derive(Clone, Debug)]
pub struct NewClaim {
    pub id: uuid::Uuid,
    pub transfer: OperationId,
    pub claimant: UserId,
    pub payee: UserId,
    pub claimant_account: AccountId,
    pub payee_account: AccountId,
    pub reason: ClaimReason,
    pub details: String,
    pub amount_fen: i64,
    pub filed_at_us: i64,
    pub deadlines: Deadlines,
    /// What raises the risk, for the precautionary hold (the payee's
    /// available balance is read in the claim's transaction).
    pub hold_facts: HoldFacts,
    /// When a precautionary hold would end.
    pub hold_expires_at_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimFiled {
    Filed(ClaimRecord),
    /// The transfer has a claim already: this one.
    AlreadyClaimed(ClaimRecord),
}

/// Why a change to a claim was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// The claim is not in a status that allows this.
    NotAllowed(ClaimStatus),
    Return(ReturnRefusal),
    /// The account cannot cover it.
    InsufficientFunds { available_fen: i64, amount_fen: i64 },
    /// A hold beyond what may be held (on that account, for this claim).
    HoldBeyondLimit { limit_fen: i64 },
    /// No active hold of this claim has that id.
    HoldNotFound,
    /// An extension beyond the longest a hold may last.
    ExtensionBeyondLimit { limit_us: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimChange {
    Done(Box<ClaimRecord>),
    Refused(ClaimRefusal),
    NotFound,
}

/// A staff action on a claim, recorded in the timeline and the audit log.
#[derive(Clone, Debug)]
pub enum StaffAction {
    Take,
    Note { text: String },
    Message { to: Audience, text: String },
    PlaceHold { account: AccountId, amount_fen: i64, limit_fen: i64, expires_at_us: i64, note: String },
    /// `max_us`: the longest a hold may last from when it was placed.
    ExtendHold { hold: OperationId, until_us: i64, max_us: i64 },
    ReleaseHold { hold: OperationId },
    Decide { outcome: Outcome, amount_fen: Option<i64>, reason: String },
}

impl StaffAction {
    fn name(&self) -> &'static str {
        match self {
            StaffAction::Take => "claim.take",
            StaffAction::Note { .. } => "claim.note",
            StaffAction::Message { .. } => "claim.message",
            StaffAction::PlaceHold { .. } => "claim.hold",
            StaffAction::ExtendHold { .. } => "claim.hold_extend",
            StaffAction::ReleaseHold { .. } => "claim.hold_release",
            StaffAction::Decide { .. } => "claim.decide",
        }
    }
}

/// A claim's scheduled work (`due_work.event`); the subject is the claim,
/// or the hold for `HoldExpiry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimDue {
    PayeeAnswer,
    Acknowledgement,
    FirstContact,
    Compensation,
    HoldExpiry,
}

impl ClaimDue {
    pub const ALL: [ClaimDue; 5] = [ClaimDue::PayeeAnswer, ClaimDue::Acknowledgement, ClaimDue::FirstContact, ClaimDue::Compensation, ClaimDue::HoldExpiry];

    pub fn as_str(self) -> &'static str {
        match self {
            ClaimDue::PayeeAnswer => "claim_payee_answer",
            ClaimDue::Acknowledgement => "claim_acknowledgement",
            ClaimDue::FirstContact => "claim_first_contact",
            ClaimDue::Compensation => "claim_compensation",
            ClaimDue::HoldExpiry => "claim_hold_expiry",
        }
    }

    pub fn parse(text: &str) -> Option<ClaimDue> {
        ClaimDue::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

const CLAIM_COLUMNS: &str = "id, reference, transfer_id, claimant_id, payee_id, claimant_account_id, payee_account_id, reason, details, amount, returned, status, owner_id, \
     filed_at, payee_answer_due_at, acknowledgement_due_at, first_contact_due_at, resolution_due_at, acknowledged_at, first_contact_at, payee_answered_at, resolved_at, \
     compensation_days, updated_at, \
     (SELECT CAST(COALESCE(SUM(h.amount), 0) AS BIGINT) FROM holds h WHERE h.claim_id = claims.id AND h.ended_at IS NULL)";

fn claim_from_row(row: &Row) -> Result<ClaimRecord, StoreError> {
    let (reason, status) = (row.text(7)?, row.text(11)?);
    Ok(ClaimRecord {
        id: uuid::Uuid::from_bytes(row.id16(0)?),
        reference: row.text(1)?,
        transfer: OperationId::from_bytes(row.id16(2)?),
        claimant: UserId::from_bytes(row.id16(3)?),
        payee: UserId::from_bytes(row.id16(4)?),
        claimant_account: AccountId::from_bytes(row.id16(5)?),
        payee_account: AccountId::from_bytes(row.id16(6)?),
        reason: ClaimReason::parse(&reason).ok_or_else(|| StoreError::corrupt(format!("unknown claim reason {reason}")))?,
        details: row.text(8)?,
        amount_fen: row.i64(9)?,
        returned_fen: row.i64(10)?,
        status: ClaimStatus::parse(&status).ok_or_else(|| StoreError::corrupt(format!("unknown claim status {status}")))?,
        owner: row.opt_id16(12)?.map(UserId::from_bytes),
        filed_at_us: row.i64(13)?,
        deadlines: Deadlines { payee_answer_us: row.i64(14)?, acknowledgement_us: row.i64(15)?, first_contact_us: row.i64(16)?, resolution_us: row.i64(17)? },
        acknowledged_at_us: row.opt_i64(18)?,
        first_contact_at_us: row.opt_i64(19)?,
        payee_answered_at_us: row.opt_i64(20)?,
        resolved_at_us: row.opt_i64(21)?,
        compensation_days: row.i64(22)?,
        updated_at_us: row.i64(23)?,
        held_fen: row.i64(24)?,
    })
}

fn load_claim(conn: &mut dyn SqlConn, claim: uuid::Uuid) -> Result<Option<ClaimRecord>, StoreError> {
    conn.query_opt(&format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE id = $1"), &[id(claim.as_bytes())])?.map(|row| claim_from_row(&row)).transpose()
}

fn reload(conn: &mut dyn SqlConn, claim: uuid::Uuid) -> Result<ClaimRecord, StoreError> {
    load_claim(conn, claim)?.ok_or_else(|| StoreError::corrupt("a claim vanished inside its transaction"))
}

const HOLD_COLUMNS: &str = "op_id, account_id, amount, created_at, expires_at, ended_at, ending, placed_by, note";

fn hold_from_row(row: &Row) -> Result<ClaimHoldRecord, StoreError> {
    Ok(ClaimHoldRecord {
        id: OperationId::from_bytes(row.id16(0)?),
        account: AccountId::from_bytes(row.id16(1)?),
        amount_fen: row.i64(2)?,
        created_at_us: row.i64(3)?,
        expires_at_us: row.opt_i64(4)?.unwrap_or(i64::MAX),
        ended_at_us: row.opt_i64(5)?,
        ending: row.opt_text(6)?,
        placed_by: row.opt_id16(7)?.map(UserId::from_bytes),
        note: row.opt_text(8)?,
    })
}

fn claim_holds(conn: &mut dyn SqlConn, claim: uuid::Uuid, active_only: bool) -> Result<Vec<ClaimHoldRecord>, StoreError> {
    let filter = if active_only { " AND ended_at IS NULL" } else { "" };
    let rows = conn.query(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE claim_id = $1{filter} ORDER BY created_at, op_id"), &[id(claim.as_bytes())])?;
    rows.iter().map(hold_from_row).collect()
}

/// One timeline entry to append.
struct Event<'a> {
    kind: &'a str,
    actor: ClaimActor,
    audience: Audience,
    amount_fen: Option<i64>,
    account: Option<AccountId>,
    text: Option<&'a str>,
}

fn append_event(conn: &mut dyn SqlConn, claim: uuid::Uuid, event: Event<'_>, at_us: i64) -> Result<(), StoreError> {
    let Event { kind, actor, audience, amount_fen, account, text } = event;
    let actor_id = match actor {
        ClaimActor::Staff(user) => Some(user.as_bytes().to_vec()),
        _ => None,
    };
    conn.execute(
        "INSERT INTO claim_events (claim_id, seq, kind, actor, actor_id, audience, amount, account_id, text, at) \
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM claim_events WHERE claim_id = $1), $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            id(claim.as_bytes()),
            kind.into(),
            Val::Name(actor.name()),
            actor_id.into(),
            Val::Name(audience.as_str()),
            amount_fen.into(),
            account.map(|a| a.as_bytes().to_vec()).into(),
            text.map(str::to_owned).into(),
            at_us.into(),
        ],
    )?;
    Ok(())
}

/// Write a notification to `user`, in their language.
pub(crate) fn notify(conn: &mut dyn SqlConn, user: UserId, notice: Notice, claim: Option<&ClaimRecord>, amount_fen: Option<i64>, text: Option<&str>, now_us: i64) -> Result<(), StoreError> {
    let language = conn.query_opt("SELECT language FROM users WHERE id = $1", &[id(user.as_bytes())])?;
    let lang = language.map(|row| row.text(0)).transpose()?.and_then(|tag| Lang::from_tag(&tag)).unwrap_or_default();
    let reference = claim.map_or("", |c| c.reference.as_str());
    let message = notice.sentence(lang, reference, amount_fen, text);
    conn.execute(
        "INSERT INTO notifications (id, user_id, kind, claim_id, message, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[id(uuid::Uuid::now_v7().as_bytes()), id(user.as_bytes()), Val::Name(notice.as_str()), claim.map(|c| c.id.as_bytes().to_vec()).into(), message.into(), now_us.into()],
    )?;
    Ok(())
}

fn schedule(conn: &mut dyn SqlConn, subject: &[u8; 16], due: ClaimDue, at_us: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO due_work (subject_id, event, due_at) VALUES ($1, $2, $3) ON CONFLICT (subject_id, event) DO UPDATE SET due_at = excluded.due_at",
        &[id(subject), Val::Name(due.as_str()), at_us.into()],
    )?;
    Ok(())
}

fn unschedule(conn: &mut dyn SqlConn, subject: &[u8; 16], due: Option<ClaimDue>) -> Result<(), StoreError> {
    match due {
        Some(due) => conn.execute("DELETE FROM due_work WHERE subject_id = $1 AND event = $2", &[id(subject), Val::Name(due.as_str())])?,
        None => conn.execute("DELETE FROM due_work WHERE subject_id = $1", &[id(subject)])?,
    };
    Ok(())
}

fn available_fen(conn: &mut dyn SqlConn, account: AccountId) -> Result<i64, StoreError> {
    let row = conn.query_opt("SELECT balance - held FROM accounts WHERE id = $1", &[id(account.as_bytes())])?;
    row.ok_or_else(|| StoreError::corrupt(format!("account {account} does not exist")))?.i64(0)
}

fn movement(from: AccountId, to: AccountId, amount_fen: i64) -> Movement {
    Movement::between(from, to, Amount::from_stored(amount_fen), Currency::Cny)
}

/// A step the caller checked can be covered; a refusal here is a broken invariant.
fn apply_checked(conn: &mut dyn SqlConn, op: OperationId, kind: OperationKind, entry: &LedgerEntry, now_us: i64) -> Result<(), StoreError> {
    match apply_entry(conn, op, kind, entry, now_us)? {
        None => Ok(()),
        Some(refusal) => Err(StoreError::corrupt(format!("a checked {kind:?} step was refused: {refusal}"))),
    }
}

/// Hold `amount_fen` on `account` for the claim: a reserve to the claimant.
/// A hold to place: where, how much, until when, by whom and why.
struct NewHold<'a> {
    account: AccountId,
    amount_fen: i64,
    expires_at_us: i64,
    placed_by: Option<UserId>,
    note: &'a str,
}

fn place_hold(conn: &mut dyn SqlConn, claim: &ClaimRecord, hold: NewHold<'_>, now_us: i64) -> Result<Option<Refusal>, StoreError> {
    let NewHold { account, amount_fen, expires_at_us, placed_by, note } = hold;
    let op = OperationId::new();
    let entry = LedgerEntry::new(EntryKind::Reserve, movement(account, claim.claimant_account, amount_fen));
    if let Some(refusal) = apply_entry(conn, op, OperationKind::ClaimHold, &entry, now_us)? {
        return Ok(Some(refusal));
    }
    conn.execute(
        "INSERT INTO holds (id, op_id, account_id, counter_account_id, amount, currency, reason, created_at, expires_at, claim_id, placed_by, note) \
         VALUES ($1, $2, $3, $4, $5, $6, 'claim', $7, $8, $9, $10, $11)",
        &[
            id(uuid::Uuid::now_v7().as_bytes()),
            id(op.as_bytes()),
            id(account.as_bytes()),
            id(claim.claimant_account.as_bytes()),
            amount_fen.into(),
            Val::Name(Currency::Cny.code()),
            now_us.into(),
            expires_at_us.into(),
            id(claim.id.as_bytes()),
            placed_by.map(|u| u.as_bytes().to_vec()).into(),
            note.into(),
        ],
    )?;
    schedule(conn, op.as_bytes(), ClaimDue::HoldExpiry, expires_at_us)?;
    Ok(None)
}

/// End a hold: `Settle` moves the held money to the claimant, `Release` frees it.
fn end_hold(conn: &mut dyn SqlConn, claim: &ClaimRecord, hold: &ClaimHoldRecord, kind: EntryKind, now_us: i64) -> Result<(), StoreError> {
    debug_assert!(matches!(kind, EntryKind::Settle | EntryKind::Release));
    let entry = LedgerEntry::new(kind, movement(hold.account, claim.claimant_account, hold.amount_fen));
    apply_checked(conn, hold.id, OperationKind::ClaimHold, &entry, now_us)?;
    let ending = if kind == EntryKind::Settle { "settled" } else { "released" };
    let ended = conn.execute("UPDATE holds SET ended_at = $1, ending = $2 WHERE op_id = $3 AND ended_at IS NULL", &[now_us.into(), Val::Name(ending), id(hold.id.as_bytes())])?;
    if ended != 1 {
        return Err(StoreError::corrupt(format!("claim hold {} was not active", hold.id)));
    }
    unschedule(conn, hold.id.as_bytes(), Some(ClaimDue::HoldExpiry))
}

/// Post `amount_fen` from `from` to the claimant as a return.
fn post_return(conn: &mut dyn SqlConn, claim: &ClaimRecord, from: AccountId, amount_fen: i64, now_us: i64) -> Result<(), StoreError> {
    let entry = LedgerEntry::new(EntryKind::Post, movement(from, claim.claimant_account, amount_fen));
    apply_checked(conn, OperationId::new(), OperationKind::ClaimReturn, &entry, now_us)
}

/// Record money that came back: the claim's figure, its status, and, once
/// everything is back, the transfer's `returned` status and the end of
/// every other hold and deadline.
fn record_returned(conn: &mut dyn SqlConn, claim: &ClaimRecord, amount_fen: i64, to: ClaimStatus, actor: Actor, now_us: i64) -> Result<(), StoreError> {
    let returned = claim.returned_fen + amount_fen;
    let complete = returned == claim.amount_fen;
    conn.execute(
        "UPDATE claims SET returned = $1, status = $2, updated_at = $3, resolved_at = CASE WHEN CAST($4 AS BIGINT) = 1 THEN $3 ELSE resolved_at END WHERE id = $5",
        &[returned.into(), Val::Name(to.as_str()), now_us.into(), i64::from(!to.accepts_returns()).into(), id(claim.id.as_bytes())],
    )?;
    if complete {
        let status = conn.query_one("SELECT status FROM transfers WHERE id = $1", &[id(claim.transfer.as_bytes())])?.text(0)?;
        if TransferStatus::parse(&status) == Some(TransferStatus::Completed) {
            transition(conn, claim.transfer, TransferEvent::Return, actor, Some("claim"), now_us)?;
        }
    }
    Ok(())
}

/// The claim's status ended: no more deadlines, and no hold outlives it
/// unless the claim went to the legal route (holds then run to their expiry).
fn close(conn: &mut dyn SqlConn, claim: &ClaimRecord, to: ClaimStatus, now_us: i64) -> Result<(), StoreError> {
    unschedule(conn, claim.id.as_bytes(), None)?;
    if to != ClaimStatus::LegalRoute {
        for hold in claim_holds(conn, claim.id, true)? {
            end_hold(conn, claim, &hold, EntryKind::Release, now_us)?;
            append_event(conn, claim.id, Event { kind: "hold_released", actor: ClaimActor::System, audience: Audience::All, amount_fen: Some(hold.amount_fen), account: Some(hold.account), text: None }, now_us)?;
        }
    }
    Ok(())
}

/// Accounts a change to this claim may touch, for the writer's locks (it
/// sorts them and drops repeats).
fn claim_locks(claim: &ClaimRecord, holds: &[ClaimHoldRecord]) -> Vec<AccountId> {
    let mut locks = vec![claim.claimant_account, claim.payee_account];
    locks.extend(holds.iter().map(|h| h.account));
    locks
}

impl Store {
    /// File a claim on a transfer: the claim, its first events, its
    /// deadlines, the precautionary hold when the risk is high, and the
    /// notifications to both parties — in one transaction.
    pub async fn file_claim(&self, new: NewClaim) -> Result<ClaimFiled, StoreError> {
        let locks = vec![new.claimant_account, new.payee_account];
        self.write(locks, move |conn| {
            if let Some(row) = conn.query_opt("SELECT id FROM claims WHERE transfer_id = $1", &[id(new.transfer.as_bytes())])? {
                return Ok(ClaimFiled::AlreadyClaimed(reload(conn, uuid::Uuid::from_bytes(row.id16(0)?))?));
            }
            let d = new.deadlines;
            conn.execute(
                "INSERT INTO claims (id, reference, transfer_id, claimant_id, payee_id, claimant_account_id, payee_account_id, reason, details, amount, status, \
                   filed_at, payee_answer_due_at, acknowledgement_due_at, first_contact_due_at, resolution_due_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'awaiting_payee', $11, $12, $13, $14, $15, $11)",
                &[
                    id(new.id.as_bytes()),
                    claim::reference(&new.id).into(),
                    id(new.transfer.as_bytes()),
                    id(new.claimant.as_bytes()),
                    id(new.payee.as_bytes()),
                    id(new.claimant_account.as_bytes()),
                    id(new.payee_account.as_bytes()),
                    Val::Name(new.reason.as_str()),
                    new.details.clone().into(),
                    new.amount_fen.into(),
                    new.filed_at_us.into(),
                    d.payee_answer_us.into(),
                    d.acknowledgement_us.into(),
                    d.first_contact_us.into(),
                    d.resolution_us.into(),
                ],
            )?;
            let now = new.filed_at_us;
            let claim = reload(conn, new.id)?;
            append_event(conn, claim.id, Event { kind: "filed", actor: ClaimActor::Claimant, audience: Audience::All, amount_fen: Some(claim.amount_fen), account: None, text: Some(claim.reason.as_str()) }, now)?;
            for (due, at) in [
                (ClaimDue::PayeeAnswer, d.payee_answer_us),
                (ClaimDue::Acknowledgement, d.acknowledgement_us),
                (ClaimDue::FirstContact, d.first_contact_us),
                (ClaimDue::Compensation, claim::next_compensation_at(d.resolution_us, 0)),
            ] {
                schedule(conn, claim.id.as_bytes(), due, at)?;
            }
            notify(conn, claim.claimant, Notice::ClaimFiled, Some(&claim), None, None, now)?;
            notify(conn, claim.payee, Notice::ClaimAgainstYou, Some(&claim), Some(claim.amount_fen), None, now)?;
            let facts = HoldFacts { payee_available_fen: available_fen(conn, claim.payee_account)?, ..new.hold_facts };
            let hold_fen = claim::precautionary_hold_fen(facts, claim.amount_fen);
            if hold_fen > 0 {
                if let Some(refusal) = place_hold(conn, &claim, NewHold { account: claim.payee_account, amount_fen: hold_fen, expires_at_us: new.hold_expires_at_us, placed_by: None, note: "precautionary" }, now)? {
                    return Err(StoreError::corrupt(format!("a precautionary hold within the available balance was refused: {refusal}")));
                }
                append_event(conn, claim.id, Event { kind: "hold_placed", actor: ClaimActor::System, audience: Audience::All, amount_fen: Some(hold_fen), account: Some(claim.payee_account), text: Some("precautionary") }, now)?;
                notify(conn, claim.payee, Notice::FundsHeld, Some(&claim), Some(hold_fen), None, now)?;
            }
            Ok(ClaimFiled::Filed(reload(conn, claim.id)?))
        })
        .await
    }

    pub async fn claim(&self, claim: uuid::Uuid) -> Result<Option<ClaimRecord>, StoreError> {
        self.read(move |conn| load_claim(conn, claim)).await
    }

    /// A claim with its whole timeline and every hold it placed.
    pub async fn claim_with_timeline(&self, claim: uuid::Uuid) -> Result<Option<(ClaimRecord, Vec<ClaimEventRecord>, Vec<ClaimHoldRecord>)>, StoreError> {
        self.read(move |conn| {
            let Some(record) = load_claim(conn, claim)? else { return Ok(None) };
            let rows = conn.query(
                "SELECT seq, kind, actor, actor_id, audience, amount, account_id, text, at FROM claim_events WHERE claim_id = $1 ORDER BY seq",
                &[id(claim.as_bytes())],
            )?;
            let events = rows
                .iter()
                .map(|row| {
                    let audience = row.text(4)?;
                    Ok(ClaimEventRecord {
                        seq: row.i64(0)?,
                        kind: row.text(1)?,
                        actor: row.text(2)?,
                        actor_id: row.opt_id16(3)?.map(UserId::from_bytes),
                        audience: Audience::parse(&audience).ok_or_else(|| StoreError::corrupt(format!("unknown audience {audience}")))?,
                        amount_fen: row.opt_i64(5)?,
                        account: row.opt_id16(6)?.map(AccountId::from_bytes),
                        text: row.opt_text(7)?,
                        at_us: row.i64(8)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let holds = claim_holds(conn, claim, false)?;
            Ok(Some((record, events, holds)))
        })
        .await
    }

    /// Claims a customer filed or received, newest first.
    pub async fn claims_of(&self, user: UserId, limit: i64) -> Result<Vec<ClaimRecord>, StoreError> {
        self.read(move |conn| {
            let rows = conn.query(
                &format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE claimant_id = $1 OR payee_id = $1 ORDER BY filed_at DESC, id DESC LIMIT $2"),
                &[id(user.as_bytes()), limit.into()],
            )?;
            rows.iter().map(claim_from_row).collect()
        })
        .await
    }

    /// The agents' queue: claims in the given statuses (open ones by
    /// default), optionally only one agent's or only unowned ones, the
    /// nearest resolution deadline first.
    pub async fn claims_queue(&self, statuses: Vec<ClaimStatus>, owner: Option<Option<UserId>>, limit: i64) -> Result<Vec<ClaimRecord>, StoreError> {
        self.read(move |conn| {
            let names = statuses.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
            let (owner_filter, params) = match owner {
                None => (String::new(), vec![limit.into()]),
                Some(None) => (" AND owner_id IS NULL".to_owned(), vec![limit.into()]),
                Some(Some(agent)) => (" AND owner_id = $2".to_owned(), vec![limit.into(), id(agent.as_bytes())]),
            };
            let rows = conn.query(&format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE status IN ({names}){owner_filter} ORDER BY resolution_due_at, id LIMIT $1"), &params)?;
            rows.iter().map(claim_from_row).collect()
        })
        .await
    }

    /// The payee sends `amount_fen` back. The claim's holds on the payee's
    /// account are spent first (released, the return posted, and what
    /// remains held again), so a hold never stops its own return.
    pub async fn payee_return(&self, claim: uuid::Uuid, amount_fen: i64, now_us: i64) -> Result<ClaimChange, StoreError> {
        let Some(record) = self.claim(claim).await? else { return Ok(ClaimChange::NotFound) };
        let holds = self.read(move |conn| claim_holds(conn, claim, true)).await?;
        self.write(claim_locks(&record, &holds), move |conn| {
            let Some(record) = load_claim(conn, claim)? else { return Ok(ClaimChange::NotFound) };
            if let Err(refusal) = check_return(amount_fen, record.amount_fen, record.returned_fen) {
                return Ok(ClaimChange::Refused(ClaimRefusal::Return(refusal)));
            }
            let complete = record.returned_fen + amount_fen == record.amount_fen;
            let Ok(to) = next_claim_status(record.status, ClaimStep::PayeeReturned { complete }) else {
                return Ok(ClaimChange::Refused(ClaimRefusal::NotAllowed(record.status)));
            };
            let on_payee: Vec<ClaimHoldRecord> = claim_holds(conn, claim, true)?.into_iter().filter(|h| h.account == record.payee_account).collect();
            let held: i64 = on_payee.iter().map(|h| h.amount_fen).sum();
            let available = available_fen(conn, record.payee_account)? + held;
            if available < amount_fen {
                return Ok(ClaimChange::Refused(ClaimRefusal::InsufficientFunds { available_fen: available, amount_fen }));
            }
            for hold in &on_payee {
                end_hold(conn, &record, hold, EntryKind::Release, now_us)?;
            }
            post_return(conn, &record, record.payee_account, amount_fen, now_us)?;
            let outstanding = record.amount_fen - record.returned_fen - amount_fen;
            let again = held.min(outstanding).min(available - amount_fen);
            if again > 0 && !complete {
                let expires = on_payee.iter().map(|h| h.expires_at_us).max().unwrap_or(now_us);
                if let Some(refusal) = place_hold(conn, &record, NewHold { account: record.payee_account, amount_fen: again, expires_at_us: expires, placed_by: None, note: "what remains held after a partial return" }, now_us)? {
                    return Err(StoreError::corrupt(format!("holding again what was held was refused: {refusal}")));
                }
            }
            conn.execute("UPDATE claims SET payee_answered_at = COALESCE(payee_answered_at, $1) WHERE id = $2", &[now_us.into(), id(claim.as_bytes())])?;
            record_returned(conn, &record, amount_fen, to, Actor::Payee, now_us)?;
            append_event(conn, claim, Event { kind: "returned", actor: ClaimActor::Payee, audience: Audience::All, amount_fen: Some(amount_fen), account: Some(record.payee_account), text: None }, now_us)?;
            notify(conn, record.claimant, Notice::MoneyReturned, Some(&record), Some(amount_fen), None, now_us)?;
            if complete {
                close(conn, &record, to, now_us)?;
            }
            Ok(ClaimChange::Done(Box::new(reload(conn, claim)?)))
        })
        .await
    }

    /// The payee contests the claim with a reason: an agent takes over.
    pub async fn payee_contest(&self, claim: uuid::Uuid, reason: String, now_us: i64) -> Result<ClaimChange, StoreError> {
        self.write(Vec::new(), move |conn| {
            let Some(record) = load_claim(conn, claim)? else { return Ok(ClaimChange::NotFound) };
            let Ok(to) = next_claim_status(record.status, ClaimStep::PayeeContested) else {
                return Ok(ClaimChange::Refused(ClaimRefusal::NotAllowed(record.status)));
            };
            conn.execute(
                "UPDATE claims SET status = $1, payee_answered_at = $2, updated_at = $2 WHERE id = $3",
                &[Val::Name(to.as_str()), now_us.into(), id(claim.as_bytes())],
            )?;
            unschedule(conn, claim.as_bytes(), Some(ClaimDue::PayeeAnswer))?;
            append_event(conn, claim, Event { kind: "contested", actor: ClaimActor::Payee, audience: Audience::All, amount_fen: None, account: None, text: Some(&reason) }, now_us)?;
            notify(conn, record.claimant, Notice::PayeeContested, Some(&record), None, None, now_us)?;
            Ok(ClaimChange::Done(Box::new(reload(conn, claim)?)))
        })
        .await
    }

    /// A staff action, with its timeline entry, notifications and audit
    /// entry in one transaction. Any staff action acknowledges the claim;
    /// a message is the first contact.
    pub async fn staff_claim_action(&self, claim: uuid::Uuid, staff: UserId, action: StaffAction, audit_key: AuditKey, now_us: i64) -> Result<ClaimChange, StoreError> {
        let Some(record) = self.claim(claim).await? else { return Ok(ClaimChange::NotFound) };
        let holds = self.read(move |conn| claim_holds(conn, claim, true)).await?;
        let mut locks = claim_locks(&record, &holds);
        if let StaffAction::PlaceHold { account, .. } = &action {
            locks.push(*account);
        }
        self.write(locks, move |conn| {
            let Some(record) = load_claim(conn, claim)? else { return Ok(ClaimChange::NotFound) };
            let details = match staff_step(conn, &record, staff, &action, now_us)? {
                Ok(details) => details,
                Err(refusal) => return Ok(ClaimChange::Refused(refusal)),
            };
            conn.execute(
                "UPDATE claims SET acknowledged_at = COALESCE(acknowledged_at, $1), updated_at = $1 WHERE id = $2",
                &[now_us.into(), id(claim.as_bytes())],
            )?;
            unschedule(conn, claim.as_bytes(), Some(ClaimDue::Acknowledgement))?;
            append_audit(conn, &audit_key, &AuditEntry { at_us: now_us, actor: Some(staff), action: action.name().to_owned(), subject: format!("claim:{claim}"), details })?;
            Ok(ClaimChange::Done(Box::new(reload(conn, claim)?)))
        })
        .await
    }

    /// The claims' scheduled work at `now_us` (see [`ClaimDue`]): what a
    /// due row asks, if it still applies. Returns whether anything changed.
    /// `per_day_fen`: compensation for each day past the resolution deadline.
    pub async fn run_claim_due(&self, subject: uuid::Uuid, due: ClaimDue, per_day_fen: i64, now_us: i64) -> Result<bool, StoreError> {
        let claim_id = match due {
            ClaimDue::HoldExpiry => {
                let row = self.read(move |conn| conn.query_opt("SELECT claim_id FROM holds WHERE op_id = $1", &[id(subject.as_bytes())])).await?;
                match row.map(|r| r.opt_id16(0)).transpose()?.flatten() {
                    Some(claim) => uuid::Uuid::from_bytes(claim),
                    None => {
                        self.write(Vec::new(), move |conn| unschedule(conn, subject.as_bytes(), Some(due))).await?;
                        return Ok(false);
                    }
                }
            }
            _ => subject,
        };
        let Some(record) = self.claim(claim_id).await? else {
            self.write(Vec::new(), move |conn| unschedule(conn, subject.as_bytes(), Some(due))).await?;
            return Ok(false);
        };
        let holds = self.read(move |conn| claim_holds(conn, claim_id, true)).await?;
        let mut locks = claim_locks(&record, &holds);
        if due == ClaimDue::Compensation {
            locks.push(COMPENSATION_CNY);
        }
        self.write(locks, move |conn| {
            // Read again under the locks: a payee or an agent may have acted since.
            let due_at = conn.query_opt("SELECT due_at FROM due_work WHERE subject_id = $1 AND event = $2", &[id(subject.as_bytes()), Val::Name(due.as_str())])?;
            let Some(due_at) = due_at.map(|row| row.i64(0)).transpose()? else { return Ok(false) };
            if due_at > now_us {
                return Ok(false);
            }
            let Some(record) = load_claim(conn, claim_id)? else {
                unschedule(conn, subject.as_bytes(), Some(due))?;
                return Ok(false);
            };
            unschedule(conn, subject.as_bytes(), Some(due))?;
            run_due_step(conn, &record, subject, due, per_day_fen, now_us)
        })
        .await
    }

    /// Claim work due at `now_us`, oldest first: (subject, what).
    pub async fn due_claim_work(&self, now_us: i64, limit: i64) -> Result<Vec<(uuid::Uuid, ClaimDue)>, StoreError> {
        self.read(move |conn| {
            let rows = conn.query(
                "SELECT subject_id, event FROM due_work WHERE due_at <= $1 AND event LIKE 'claim\\_%' ESCAPE '\\' ORDER BY due_at, subject_id LIMIT $2",
                &[now_us.into(), limit.into()],
            )?;
            rows.iter()
                .map(|row| {
                    let event = row.text(1)?;
                    Ok((uuid::Uuid::from_bytes(row.id16(0)?), ClaimDue::parse(&event).ok_or_else(|| StoreError::corrupt(format!("unknown claim due event {event}")))?))
                })
                .collect()
        })
        .await
    }

    /// A customer's notifications, newest first, after the cursor (a
    /// notification id), and how many are unread.
    pub async fn notifications(&self, user: UserId, before: Option<uuid::Uuid>, limit: i64) -> Result<(Vec<NotificationRecord>, i64), StoreError> {
        self.read(move |conn| {
            let rows = match before {
                None => conn.query(
                    "SELECT id, kind, claim_id, message, created_at, read_at FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                    &[id(user.as_bytes()), limit.into()],
                )?,
                Some(cursor) => conn.query(
                    "SELECT n.id, n.kind, n.claim_id, n.message, n.created_at, n.read_at FROM notifications n, notifications c \
                     WHERE c.id = $3 AND c.user_id = $1 AND n.user_id = $1 AND (n.created_at < c.created_at OR (n.created_at = c.created_at AND n.id < c.id)) \
                     ORDER BY n.created_at DESC, n.id DESC LIMIT $2",
                    &[id(user.as_bytes()), limit.into(), id(cursor.as_bytes())],
                )?,
            };
            let list = rows
                .iter()
                .map(|row| {
                    Ok(NotificationRecord {
                        id: uuid::Uuid::from_bytes(row.id16(0)?),
                        kind: row.text(1)?,
                        claim: row.opt_id16(2)?.map(uuid::Uuid::from_bytes),
                        message: row.text(3)?,
                        created_at_us: row.i64(4)?,
                        read_at_us: row.opt_i64(5)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let unread = conn.query_one("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL", &[id(user.as_bytes())])?.i64(0)?;
            Ok((list, unread))
        })
        .await
    }

    /// Mark a notification read (again: unchanged). `false`: not this user's.
    pub async fn mark_notification_read(&self, user: UserId, notification: uuid::Uuid, now_us: i64) -> Result<bool, StoreError> {
        self.write(Vec::new(), move |conn| {
            let exists = conn.query_opt("SELECT 1 FROM notifications WHERE id = $1 AND user_id = $2", &[id(notification.as_bytes()), id(user.as_bytes())])?;
            if exists.is_none() {
                return Ok(false);
            }
            conn.execute("UPDATE notifications SET read_at = $1 WHERE id = $2 AND read_at IS NULL", &[now_us.into(), id(notification.as_bytes())])?;
            Ok(true)
        })
        .await
    }

    /// A customer's language for what Recourse writes to them.
    pub async fn set_language(&self, user: UserId, lang: Lang) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| {
            conn.execute("UPDATE users SET language = $1 WHERE id = $2", &[Val::Name(lang.tag()), id(user.as_bytes())])?;
            Ok(())
        })
        .await
    }

    pub async fn language(&self, user: UserId) -> Result<Lang, StoreError> {
        let row = self.read(move |conn| conn.query_opt("SELECT language FROM users WHERE id = $1", &[id(user.as_bytes())])).await?;
        Ok(row.map(|r| r.text(0)).transpose()?.and_then(|tag| Lang::from_tag(&tag)).unwrap_or_default())
    }
}

/// One staff action inside its transaction. `Ok(Err(_))`: refused, nothing written.
fn staff_step(conn: &mut dyn SqlConn, record: &ClaimRecord, staff: UserId, action: &StaffAction, now_us: i64) -> Result<Result<serde_json::Value, ClaimRefusal>, StoreError> {
    let claim = record.id;
    let actor = ClaimActor::Staff(staff);
    let refused = |refusal| Ok(Err(refusal));
    let details = match action {
        StaffAction::Take => {
            let Ok(to) = next_claim_status(record.status, ClaimStep::Taken) else { return refused(ClaimRefusal::NotAllowed(record.status)) };
            conn.execute("UPDATE claims SET owner_id = $1, status = $2 WHERE id = $3", &[id(staff.as_bytes()), Val::Name(to.as_str()), id(claim.as_bytes())])?;
            if record.status == ClaimStatus::AwaitingPayee {
                unschedule(conn, claim.as_bytes(), Some(ClaimDue::PayeeAnswer))?;
            }
            append_event(conn, claim, Event { kind: "taken", actor, audience: Audience::All, amount_fen: None, account: None, text: None }, now_us)?;
            if record.owner.is_none() {
                notify(conn, record.claimant, Notice::AgentAssigned, Some(record), None, None, now_us)?;
            }
            serde_json::json!({ "previous_owner": record.owner.map(|u| u.to_string()) })
        }
        StaffAction::Note { text } => {
            append_event(conn, claim, Event { kind: "note", actor, audience: Audience::Staff, amount_fen: None, account: None, text: Some(text) }, now_us)?;
            serde_json::json!({ "chars": text.chars().count() })
        }
        StaffAction::Message { to, text } => {
            let recipient = match to {
                Audience::Claimant => record.claimant,
                Audience::Payee => record.payee,
                _ => return Err(StoreError::corrupt("a message goes to the claimant or the payee")),
            };
            append_event(conn, claim, Event { kind: "message", actor, audience: *to, amount_fen: None, account: None, text: Some(text) }, now_us)?;
            notify(conn, recipient, Notice::Message, Some(record), None, Some(text), now_us)?;
            conn.execute("UPDATE claims SET first_contact_at = COALESCE(first_contact_at, $1) WHERE id = $2", &[now_us.into(), id(claim.as_bytes())])?;
            unschedule(conn, claim.as_bytes(), Some(ClaimDue::FirstContact))?;
            serde_json::json!({ "to": to.as_str() })
        }
        StaffAction::PlaceHold { account, amount_fen, limit_fen, expires_at_us, note } => {
            if !record.status.is_open() && record.status != ClaimStatus::LegalRoute {
                return refused(ClaimRefusal::NotAllowed(record.status));
            }
            let already: i64 = claim_holds(conn, claim, true)?.iter().filter(|h| h.account == *account).map(|h| h.amount_fen).sum();
            let limit = (*limit_fen).min(record.amount_fen - record.returned_fen) - already;
            if *amount_fen <= 0 || *amount_fen > limit {
                return refused(ClaimRefusal::HoldBeyondLimit { limit_fen: limit.max(0) });
            }
            if let Some(Refusal::InsufficientFunds { available_fen, amount_fen }) = place_hold(conn, record, NewHold { account: *account, amount_fen: *amount_fen, expires_at_us: *expires_at_us, placed_by: Some(staff), note }, now_us)? {
                return refused(ClaimRefusal::InsufficientFunds { available_fen, amount_fen });
            }
            append_event(conn, claim, Event { kind: "hold_placed", actor, audience: Audience::All, amount_fen: Some(*amount_fen), account: Some(*account), text: Some(note) }, now_us)?;
            let owner = conn.query_one("SELECT user_id FROM accounts WHERE id = $1", &[id(account.as_bytes())])?.opt_id16(0)?;
            if let Some(owner) = owner {
                notify(conn, UserId::from_bytes(owner), Notice::FundsHeld, Some(record), Some(*amount_fen), None, now_us)?;
            }
            serde_json::json!({ "account_id": account.to_string(), "amount_fen": amount_fen, "expires_at_us": expires_at_us, "note": note })
        }
        StaffAction::ExtendHold { hold, until_us, max_us } => {
            let Some(found) = claim_holds(conn, claim, true)?.into_iter().find(|h| h.id == *hold) else { return refused(ClaimRefusal::HoldNotFound) };
            let limit = found.created_at_us.saturating_add(*max_us);
            if *until_us > limit || *until_us <= now_us {
                return refused(ClaimRefusal::ExtensionBeyondLimit { limit_us: limit });
            }
            conn.execute("UPDATE holds SET expires_at = $1 WHERE op_id = $2", &[(*until_us).into(), id(hold.as_bytes())])?;
            schedule(conn, hold.as_bytes(), ClaimDue::HoldExpiry, *until_us)?;
            append_event(conn, claim, Event { kind: "hold_extended", actor, audience: Audience::All, amount_fen: Some(found.amount_fen), account: Some(found.account), text: None }, now_us)?;
            serde_json::json!({ "hold_id": hold.to_string(), "until_us": until_us })
        }
        StaffAction::ReleaseHold { hold } => {
            let Some(found) = claim_holds(conn, claim, true)?.into_iter().find(|h| h.id == *hold) else { return refused(ClaimRefusal::HoldNotFound) };
            end_hold(conn, record, &found, EntryKind::Release, now_us)?;
            append_event(conn, claim, Event { kind: "hold_released", actor, audience: Audience::All, amount_fen: Some(found.amount_fen), account: Some(found.account), text: None }, now_us)?;
            serde_json::json!({ "hold_id": hold.to_string(), "amount_fen": found.amount_fen })
        }
        StaffAction::Decide { outcome, amount_fen, reason } => {
            let Ok(to) = next_claim_status(record.status, ClaimStep::Decided(*outcome)) else { return refused(ClaimRefusal::NotAllowed(record.status)) };
            let mut returned = 0;
            if *outcome == Outcome::Return {
                let holds = claim_holds(conn, claim, true)?;
                let held: i64 = holds.iter().map(|h| h.amount_fen).sum();
                let wanted = amount_fen.unwrap_or(held);
                if wanted <= 0 || wanted > held {
                    return refused(ClaimRefusal::HoldBeyondLimit { limit_fen: held });
                }
                // The payee's account first, then down the trail.
                let mut ordered = holds;
                ordered.sort_by_key(|h| (h.account != record.payee_account, h.created_at_us));
                let mut remaining = wanted;
                for hold in &ordered {
                    if remaining == 0 {
                        break;
                    }
                    if hold.amount_fen <= remaining {
                        end_hold(conn, record, hold, EntryKind::Settle, now_us)?;
                        remaining -= hold.amount_fen;
                    } else {
                        end_hold(conn, record, hold, EntryKind::Release, now_us)?;
                        post_return(conn, record, hold.account, remaining, now_us)?;
                        remaining = 0;
                    }
                }
                returned = wanted;
            }
            conn.execute(
                "UPDATE claims SET status = $1, resolved_at = $2, owner_id = COALESCE(owner_id, $3) WHERE id = $4",
                &[Val::Name(to.as_str()), now_us.into(), id(staff.as_bytes()), id(claim.as_bytes())],
            )?;
            if returned > 0 {
                record_returned(conn, record, returned, to, Actor::Staff(staff), now_us)?;
            }
            close(conn, record, to, now_us)?;
            append_event(conn, claim, Event { kind: "decided", actor, audience: Audience::All, amount_fen: (returned > 0).then_some(returned), account: None, text: Some(&format!("{}: {reason}", outcome.as_str())) }, now_us)?;
            for party in [record.claimant, record.payee] {
                notify(conn, party, Notice::Decided, Some(record), None, Some(reason), now_us)?;
            }
            if returned > 0 {
                notify(conn, record.claimant, Notice::MoneyReturned, Some(record), Some(returned), None, now_us)?;
            }
            serde_json::json!({ "outcome": outcome.as_str(), "returned_fen": returned, "reason": reason })
        }
    };
    Ok(Ok(details))
}

/// One piece of due claim work, inside its transaction (the due row is gone).
fn run_due_step(conn: &mut dyn SqlConn, record: &ClaimRecord, subject: uuid::Uuid, due: ClaimDue, per_day_fen: i64, now_us: i64) -> Result<bool, StoreError> {
    let claim = record.id;
    match due {
        ClaimDue::PayeeAnswer => {
            let Ok(to) = next_claim_status(record.status, ClaimStep::AnswerWindowPassed) else { return Ok(false) };
            conn.execute("UPDATE claims SET status = $1, updated_at = $2 WHERE id = $3", &[Val::Name(to.as_str()), now_us.into(), id(claim.as_bytes())])?;
            append_event(conn, claim, Event { kind: "escalated", actor: ClaimActor::System, audience: Audience::All, amount_fen: None, account: None, text: Some("the payee did not answer in time") }, now_us)?;
            notify(conn, record.claimant, Notice::Escalated, Some(record), None, None, now_us)?;
            if let Some(owner) = record.owner {
                notify(conn, owner, Notice::Escalated, Some(record), None, None, now_us)?;
            }
        }
        ClaimDue::Acknowledgement | ClaimDue::FirstContact => {
            if !record.status.is_open() {
                return Ok(false);
            }
            let (met, what) = match due {
                ClaimDue::Acknowledgement => (record.acknowledged_at_us.is_some(), "acknowledgement"),
                _ => (record.first_contact_at_us.is_some(), "first contact"),
            };
            if met {
                return Ok(false);
            }
            append_event(conn, claim, Event { kind: "overdue", actor: ClaimActor::System, audience: Audience::All, amount_fen: None, account: None, text: Some(what) }, now_us)?;
            notify(conn, record.claimant, Notice::Overdue, Some(record), None, None, now_us)?;
            if let Some(owner) = record.owner {
                notify(conn, owner, Notice::Overdue, Some(record), None, Some(what), now_us)?;
            }
        }
        ClaimDue::Compensation => {
            if !record.status.is_open() {
                return Ok(false);
            }
            // One movement per day owed (several after downtime), then the next day's due row.
            let owed = claim::compensation_days_owed(record.deadlines.resolution_us, now_us);
            let mut paid = record.compensation_days;
            while paid < owed && per_day_fen > 0 {
                paid += 1;
                let entry = LedgerEntry::new(EntryKind::Post, movement(COMPENSATION_CNY, record.claimant_account, per_day_fen));
                apply_checked(conn, OperationId::new(), OperationKind::Compensation, &entry, now_us)?;
                append_event(conn, claim, Event { kind: "compensation", actor: ClaimActor::System, audience: Audience::All, amount_fen: Some(per_day_fen), account: Some(record.claimant_account), text: Some(&format!("day {paid}")) }, now_us)?;
                notify(conn, record.claimant, Notice::Compensated, Some(record), Some(per_day_fen), None, now_us)?;
            }
            conn.execute("UPDATE claims SET compensation_days = $1 WHERE id = $2", &[paid.into(), id(claim.as_bytes())])?;
            schedule(conn, claim.as_bytes(), ClaimDue::Compensation, claim::next_compensation_at(record.deadlines.resolution_us, paid))?;
        }
        ClaimDue::HoldExpiry => {
            let Some(hold) = claim_holds(conn, claim, true)?.into_iter().find(|h| h.id.as_bytes() == subject.as_bytes()) else { return Ok(false) };
            end_hold(conn, record, &hold, EntryKind::Release, now_us)?;
            append_event(conn, claim, Event { kind: "hold_expired", actor: ClaimActor::System, audience: Audience::All, amount_fen: Some(hold.amount_fen), account: Some(hold.account), text: None }, now_us)?;
            let owner = conn.query_one("SELECT user_id FROM accounts WHERE id = $1", &[id(hold.account.as_bytes())])?.opt_id16(0)?;
            if let Some(owner) = owner {
                notify(conn, UserId::from_bytes(owner), Notice::HoldEnded, Some(record), Some(hold.amount_fen), None, now_us)?;
            }
        }
    }
    Ok(true)
}

/// What tracing needs to know about one account on a claim's trail: when
/// the traced money arrived (by which operation), the account's settled
/// balance just after, the settled movements after it within the window,
/// who owns the account, and what is available on it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceHop {
    pub arrived_at_us: i64,
    pub balance_after_fen: i64,
    pub postings: Vec<trace::Posting>,
    /// More movements than were read: the trail beyond them is not followed.
    pub truncated: bool,
    pub owner: Option<UserId>,
    pub available_now_fen: i64,
}

/// Movements read per account on a trail.
const TRACE_POSTINGS_MAX: i64 = 10_000;

impl Store {
    /// One hop of a trace: the money operation `arrival` credited `account`;
    /// the account's movements after it up to `window_us` later. `None`
    /// when that operation did not credit the account.
    pub async fn trace_hop(&self, account: AccountId, arrival: OperationId, window_us: i64) -> Result<Option<TraceHop>, StoreError> {
        self.read(move |conn| {
            let arrived = conn.query_opt(
                "SELECT seq, created_at FROM journal WHERE op_id = $1 AND account_id = $2 AND layer = 'settled' AND amount > 0 ORDER BY seq LIMIT 1",
                &[id(arrival.as_bytes()), id(account.as_bytes())],
            )?;
            let Some(arrived) = arrived else { return Ok(None) };
            let (seq, arrived_at_us) = (arrived.i64(0)?, arrived.i64(1)?);
            let balance_after_fen = conn
                .query_one("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM journal WHERE account_id = $1 AND layer = 'settled' AND seq <= $2", &[id(account.as_bytes()), seq.into()])?
                .i64(0)?;
            let rows = conn.query(
                "SELECT j.created_at, j.amount, j.op_kind, j.op_id, t.payee_account_id FROM journal j \
                 LEFT JOIN transfers t ON t.id = j.op_id AND j.op_kind = 'transfer' \
                 WHERE j.account_id = $1 AND j.layer = 'settled' AND j.seq > $2 AND j.created_at <= $3 ORDER BY j.seq LIMIT $4",
                &[id(account.as_bytes()), seq.into(), arrived_at_us.saturating_add(window_us).into(), (TRACE_POSTINGS_MAX + 1).into()],
            )?;
            let truncated = rows.len() as i64 > TRACE_POSTINGS_MAX;
            let postings = rows
                .iter()
                .take(TRACE_POSTINGS_MAX as usize)
                .map(|row| {
                    let operation = OperationId::from_bytes(row.id16(3)?);
                    let destination = match (OperationKind::parse(&row.text(2)?), row.opt_id16(4)?) {
                        (Some(OperationKind::Transfer), Some(to)) => trace::Destination::Wallet { transfer: operation, account: AccountId::from_bytes(to) },
                        (Some(OperationKind::Withdrawal), _) => trace::Destination::Bank { operation },
                        (Some(OperationKind::ClaimReturn | OperationKind::ClaimHold), _) => trace::Destination::Returned { operation },
                        _ => trace::Destination::Other { operation },
                    };
                    Ok(trace::Posting { at_us: row.i64(0)?, amount_fen: row.i64(1)?, destination })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let now = conn.query_one("SELECT user_id, balance - held FROM accounts WHERE id = $1", &[id(account.as_bytes())])?;
            Ok(Some(TraceHop { arrived_at_us, balance_after_fen, postings, truncated, owner: now.opt_id16(0)?.map(UserId::from_bytes), available_now_fen: now.i64(1)? }))
        })
        .await
    }
}
