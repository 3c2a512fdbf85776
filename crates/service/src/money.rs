//! Money operations: transfers and their transitions, top-ups, withdrawals.
//!
//! Every money request is answered in one fixed order, so the same request
//! always gets the same answer:
//! 1. idempotency: a key this caller already used for the same request gets
//!    the original result in its current state, whatever the checks below
//!    would say now; the key with a different request is `IdempotencyKeyReused`
//!    (consulted when a pre-check refuses, and inside the write transaction
//!    otherwise: the same answers, without a read on the accepted path);
//! 2. the caller holds a wallet; 3. amount (against today's product limit);
//! 4. note; 5. real-name verification; 6. payee (or card) — naming the
//!    payee by phone spends the payer's lookup budget (`limits.rs`); 7. the transfer's
//!    options (acceptance with a delay is refused);
//! 8. confirmation of payee (transfers; `payees.rs`): at or above the
//!    threshold, masked-name completion (or, to an unverified payee, the
//!    explicit confirmation); then the typed-name check if the request
//!    carries `expected_name`. A request that asks for any of these, or
//!    that the risk decision does not plainly allow, reads its idempotency
//!    key first, so that a retry of a transfer that already happened
//!    replays before any check and records no attempt;
//! 9. the risk decision (`risk.rs`; decided from facts read with the payee,
//!    before step 8 so that it can ask for name completion, and acted on
//!    here): `block` refuses, `warn` asks for `confirm_warnings`, `delay`
//!    makes the transfer a delayed one;
//! 10. the payer's velocity and 11. the available balance — both inside
//!     the store transaction that moves the money (`limits.rs`).
//!
//! (Authentication, the key's presence and the body's shape come first, at
//! the HTTP edge.) A refusal is an `Outcome::Refused` value: nothing moved,
//! and the key stays free for a corrected retry.

use recourse_domain::ledger::OperationKind;
use recourse_domain::phone::Phone;
use recourse_domain::refusal::{Party, Refusal, TransferRequestParts, check_bank_movement, check_transfer};
use recourse_domain::text::{NOTE_MAX_CHARS, clean_line};
use recourse_domain::transfer::{Actor, Arrival, TransferEvent, TransferMode, TransferOptions, may_request, plan};
use recourse_domain::{AccountId, Amount, CardId, Currency, OperationId, UserId};
use recourse_store::{BankMovementRecord, IdempotencyClaim, Outcome, TransferDetails, TransferRecord, TransitionOutcome, UserRecord};
use sha2::{Digest, Sha256};

use recourse_domain::confirmation::{Confirmation, StepUp, step_up};
use recourse_domain::risk::Decision;

use crate::limits::{Exceeded, Limit, Lookup};
use crate::payees::PayerAnswers;
use crate::{Service, ServiceError};

/// Who is to be paid, as the payer named them.
#[derive(Clone, Debug)]
pub enum PayeeRef {
    Phone(Phone),
    Id(UserId),
    /// An id that is not one (it can only ever be `payee-not-found`).
    Unparsable(String),
}

/// The payee a [`PayeeRef`] names, if any. Identifying the payee is not a
/// check: it comes first so that the idempotency key compares requests by
/// who is paid, however the payer named them.
fn payee_key_text(payee_ref: &PayeeRef, payee: Option<&UserRecord>) -> String {
    match (payee, payee_ref) {
        (Some(payee), _) => format!("user:{}", payee.id),
        (None, PayeeRef::Phone(phone)) => format!("phone:{}", phone.as_str()),
        (None, PayeeRef::Id(id)) => format!("id:{id}"),
        (None, PayeeRef::Unparsable(text)) => format!("id:{text}"),
    }
}

/// A request to pay someone. Amount and note come as sent: they are judged
/// after the idempotency key (step 1), so that a retry of a transfer that
/// already happened replays even if a limit changed since.
#[derive(Clone, Debug)]
pub struct TransferCommand {
    pub payer: UserRecord,
    pub payee: PayeeRef,
    pub amount_fen: i64,
    pub note: Option<String>,
    /// `None`: the payer's default arrival.
    pub arrival: Option<Arrival>,
    pub acceptance_required: bool,
    pub idempotency_key: String,
    /// Not part of the request the key identifies: a challenged transfer is
    /// sent again with these, under the same key or a new one.
    pub answers: PayerAnswers,
}

/// A transfer that passed every pre-check: the proof carried to the write.
struct CheckedTransfer {
    payer_wallet: AccountId,
    payee: UserRecord,
    payee_wallet: AccountId,
    amount: Amount,
    note: Option<String>,
    mode: TransferMode,
}

/// A top-up or withdrawal request; amount and card as sent (see [`TransferCommand`]).
#[derive(Clone, Debug)]
pub struct BankMovementCommand {
    pub customer: UserRecord,
    pub kind: OperationKind,
    /// `None`: the request named no card this service issued.
    pub card: Option<CardId>,
    pub card_text: String,
    pub amount_fen: i64,
    pub idempotency_key: String,
}

/// Digest of a request as sent: the same logical request always hashes the
/// same, whatever formatting the client used. Length-prefixed fields.
fn request_hash(parts: &[&str]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().to_vec()
}

fn party(user: &UserRecord) -> Party {
    Party { wallet: user.wallet, verified: user.verified() }
}

impl Service {
    /// Pay someone: instantly, after a delay the payer can still revoke, or
    /// once the payee accepts.
    pub async fn create_transfer(&self, command: TransferCommand) -> Result<Outcome<TransferDetails>, ServiceError> {
        let (payee, facts) = self.resolve_payee_with_facts(&command.payer, &command.payee).await?.unzip();
        // Naming the payee by phone number is a lookup: it spends the payer's
        // lookup budget, given back if the request turns out to be a replay.
        let lookup = matches!(command.payee, PayeeRef::Phone(_)).then(|| {
            let found = payee.as_ref().is_some_and(|p| !p.role.is_staff());
            (Limit::Lookups(command.payer.id), self.lookup_cost(if found { Lookup::Found } else { Lookup::Missing }))
        });
        let exceeded = match lookup {
            Some((limit, cost)) => self.charge(limit, cost).await?.err(),
            None => None,
        };
        let outcome = self.create_transfer_to(command, payee, facts, exceeded).await?;
        if let (Outcome::Replayed(_), Some((limit, cost)), None) = (&outcome, lookup, exceeded) {
            self.refund(limit, cost).await?;
        }
        Ok(outcome)
    }

    /// [`Service::create_transfer`] once the payee is looked up (`exceeded`:
    /// the lookup budget was spent).
    async fn create_transfer_to(&self, command: TransferCommand, payee: Option<UserRecord>, facts: Option<recourse_store::PairFacts>, exceeded: Option<Exceeded>) -> Result<Outcome<TransferDetails>, ServiceError> {
        let arrival_text = command.arrival.map_or("", Arrival::as_str);
        let acceptance_text = if command.acceptance_required { "required" } else { "" };
        let hash = request_hash(&[
            OperationKind::Transfer.as_str(),
            &payee_key_text(&command.payee, payee.as_ref()),
            &command.amount_fen.to_string(),
            command.note.as_deref().unwrap_or(""),
            arrival_text,
            acceptance_text,
        ]);
        let claim = IdempotencyClaim { caller: command.payer.id, key: command.idempotency_key.clone(), request_hash: hash };
        // One instant for the whole request: the deadlines are measured from it.
        let now_us = self.clock.now_us();
        if let Some(exceeded) = exceeded {
            return self.refuse_unless_replay(&claim, OperationKind::Transfer, exceeded.into()).await;
        }
        let mut checked = match self.check_transfer(&command, payee, now_us) {
            Ok(checked) => checked,
            Err(refusal) => return self.refuse_unless_replay(&claim, OperationKind::Transfer, refusal).await,
        };
        let answers = &command.answers;
        let amount_fen = checked.amount.fen();
        let facts = facts.ok_or_else(|| ServiceError::Internal("a checked payee has no facts".into()))?;
        let risk = self.risk_decision(&command.payer, &checked.payee, facts, Some(amount_fen), answers.confirm_warnings, now_us).await?;
        let risk_asks = risk.decision == Decision::RequireNameCompletion;
        let steps_up = step_up(amount_fen, &self.config.limits.completion(), checked.payee.verified(), risk_asks) != StepUp::None;
        // A request that may be challenged or refused reads its key first:
        // a retry of a transfer that already happened replays before any check.
        if (steps_up || answers.expected_name.is_some() || risk.decision != Decision::Allow)
            && let Some(answer) = self.replay_if_used(&claim, OperationKind::Transfer).await?
        {
            return Ok(answer);
        }
        let mut checks = match self.confirm_payee(&command.payer, &checked.payee, amount_fen, answers, &risk, now_us).await? {
            Ok(checks) => checks,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        // The risk decision: after name completion, before funds.
        let reasons = || risk.reasons.iter().map(|r| r.code.as_str().to_owned()).collect::<Vec<_>>();
        match risk.decision {
            Decision::Block => return Ok(Outcome::Refused(Refusal::TransferBlocked { reasons: reasons(), warnings: checks.warnings })),
            Decision::Warn => return Ok(Outcome::Refused(Refusal::ConfirmationRequired { reasons: reasons(), warnings: checks.warnings })),
            Decision::Delay => {
                let delayed = self.config.risk.delayed_mode(checked.mode, now_us);
                if delayed != checked.mode {
                    checked.mode = delayed;
                    checks.delay_reason = risk.reasons.iter().find(|r| r.action == Decision::Delay).map(|r| r.code.as_str().to_owned());
                }
            }
            Decision::Allow | Decision::RequireNameCompletion => {}
        }
        if answers.confirm_warnings && risk.reasons.iter().any(|r| matches!(r.action, Decision::Warn | Decision::Delay)) {
            checks.confirmations.push(Confirmation::ConfirmWarnings);
        }
        let checks = serde_json::to_string(&checks).map_err(|e| ServiceError::Internal(format!("checks: {e}")))?;
        let record = TransferRecord {
            id: OperationId::new(),
            payer: command.payer.id,
            payee: checked.payee.id,
            payer_account: checked.payer_wallet,
            payee_account: checked.payee_wallet,
            amount: checked.amount,
            currency: Currency::Cny,
            note: checked.note,
            status: checked.mode.initial_status(),
            mode: checked.mode,
            created_at_us: now_us,
            updated_at_us: now_us,
            checks,
        };
        // The payer's velocity is taken by the store with the write, after
        // the key: only a transfer it creates counts.
        let outcome = self.store.create_transfer(claim, record, self.velocity()).await?;
        let label = match &outcome {
            Outcome::Created(_) => "created",
            Outcome::Replayed(_) => "replayed",
            Outcome::Refused(_) => "refused",
        };
        metrics::counter!("recourse_transfers_total", "outcome" => label).increment(1);
        Ok(outcome)
    }

    /// Step 1 of the check order, for a request a pre-check refused: the
    /// key answers first if it already holds this request (a replay) or
    /// another one (a conflict). The pre-checks only read, so running them
    /// first and consulting the key only when they refuse gives exactly the
    /// answers of "key first" — and spares every accepted request a read.
    /// (An accepted request's key is decided inside its write transaction.)
    async fn refuse_unless_replay<T>(&self, claim: &IdempotencyClaim, kind: OperationKind, refusal: Refusal) -> Result<Outcome<T>, ServiceError>
    where
        T: Replayable,
    {
        Ok(self.replay_if_used(claim, kind).await?.unwrap_or(Outcome::Refused(refusal)))
    }

    /// What the key already holds: a replay of the same request, a
    /// conflict for another one, or `None` when the key is free.
    async fn replay_if_used<T>(&self, claim: &IdempotencyClaim, kind: OperationKind) -> Result<Option<Outcome<T>>, ServiceError>
    where
        T: Replayable,
    {
        let Some(existing) = self.store.idempotency_record(claim.caller, claim.key.clone()).await? else {
            return Ok(None);
        };
        if existing.request_hash != claim.request_hash || existing.op_kind != kind {
            return Ok(Some(Outcome::Refused(Refusal::IdempotencyKeyReused)));
        }
        match T::load(self, existing.op_id).await? {
            Some(original) => Ok(Some(Outcome::Replayed(original))),
            None => Err(ServiceError::Store(recourse_store::StoreError::corrupt("idempotency record points at a missing operation"))),
        }
    }

    /// Steps 2–7 of the check order, over the payee `command.payee` named:
    /// the domain's `check_transfer` (wallet, amount, note, verification,
    /// payee), then the transfer's options (`plan`).
    fn check_transfer(&self, command: &TransferCommand, payee: Option<UserRecord>, now_us: i64) -> Result<CheckedTransfer, Refusal> {
        let payer = &command.payer;
        let parts = TransferRequestParts {
            payer: party(payer),
            amount: Amount::from_fen(command.amount_fen, self.config.limits.transfer_max_fen),
            note: command.note.as_deref().map(|note| clean_line(note, NOTE_MAX_CHARS, true)).transpose().map(|note| note.filter(|n| !n.is_empty())),
            payee: payee.as_ref().map(|p| (party(p), p.id == payer.id)),
        };
        let checked = check_transfer(parts)?;
        let payee = payee.ok_or(Refusal::PayeeNotFound)?;
        let options = TransferOptions {
            arrival: command.arrival,
            acceptance_required: command.acceptance_required,
            payer_default_arrival: payer.default_arrival,
            payee_requires_acceptance: payee.require_acceptance,
        };
        let window_us = self.config.limits.acceptance_window_seconds.saturating_mul(1_000_000);
        let mode = plan(options, now_us, window_us)?;
        Ok(CheckedTransfer { payer_wallet: checked.payer_wallet, payee, payee_wallet: checked.payee_wallet, amount: checked.amount, note: checked.note, mode })
    }

    /// A transfer as `viewer` may see it: its payer, its payee, or staff.
    pub async fn transfer_for(&self, viewer: &UserRecord, transfer: OperationId) -> Result<Option<TransferDetails>, ServiceError> {
        let details = self.store.transfer(transfer).await?;
        Ok(details.filter(|d| d.transfer.payer == viewer.id || d.transfer.payee == viewer.id || viewer.role.is_staff()))
    }

    /// The transfers in and out of `viewer`'s wallet (in flight included),
    /// newest first, each with the journal position to page from. Staff hold
    /// no wallet, so no money moved through them.
    pub async fn transfer_history(&self, viewer: &UserRecord, before_seq: Option<i64>, limit: i64) -> Result<Vec<(i64, TransferRecord)>, ServiceError> {
        let Some(wallet) = viewer.wallet else {
            return Ok(Vec::new());
        };
        Ok(self.store.transfers_of(wallet, before_seq, limit).await?)
    }

    /// The payer revokes, or the payee accepts or declines. Anyone who may
    /// not ask for `event` on this transfer learns nothing: `NotFound`.
    pub async fn act_on_transfer(&self, caller: &UserRecord, transfer: OperationId, event: TransferEvent) -> Result<TransitionOutcome, ServiceError> {
        let Some(details) = self.store.transfer(transfer).await? else {
            return Ok(TransitionOutcome::NotFound);
        };
        let actor = if caller.id == details.transfer.payer {
            Actor::Payer
        } else if caller.id == details.transfer.payee {
            Actor::Payee
        } else {
            return Ok(TransitionOutcome::NotFound);
        };
        if !may_request(actor, event) {
            return Ok(TransitionOutcome::NotFound);
        }
        let outcome = self.store.transition_transfer(transfer, event, actor, None, self.clock.now_us()).await?;
        if let TransitionOutcome::Moved(_) = &outcome {
            metrics::counter!("recourse_transfer_transitions_total", "event" => event.as_str()).increment(1);
        }
        Ok(outcome)
    }

    /// A top-up (bank → wallet) or withdrawal (wallet → bank), in the same
    /// check order as transfers.
    pub async fn bank_movement(&self, command: BankMovementCommand) -> Result<Outcome<BankMovementRecord>, ServiceError> {
        let kind = command.kind;
        assert!(matches!(kind, OperationKind::Topup | OperationKind::Withdrawal));
        let hash = request_hash(&[kind.as_str(), &command.card_text, &command.amount_fen.to_string()]);
        let claim = IdempotencyClaim { caller: command.customer.id, key: command.idempotency_key.clone(), request_hash: hash };
        let (wallet, card, amount) = match self.check_bank_movement(&command) {
            Ok(checked) => checked,
            Err(refusal) => return self.refuse_unless_replay(&claim, kind, refusal).await,
        };
        let record = BankMovementRecord {
            id: OperationId::new(),
            kind,
            user: command.customer.id,
            card,
            account: wallet,
            amount,
            currency: Currency::Cny,
            created_at_us: self.clock.now_us(),
        };
        let outcome = self.store.create_bank_movement(claim, record).await?;
        metrics::counter!("recourse_bank_movements_total", "kind" => kind.as_str(), "replayed" => if outcome.is_replay() { "true" } else { "false" }).increment(1);
        Ok(outcome)
    }

    /// Steps 2–6 for a top-up or withdrawal: the domain's
    /// `check_bank_movement` (wallet, amount, verification, a card id this
    /// service could have issued).
    fn check_bank_movement(&self, command: &BankMovementCommand) -> Result<(AccountId, CardId, Amount), Refusal> {
        let limit_fen = match command.kind {
            OperationKind::Topup => self.config.limits.topup_max_fen,
            _ => self.config.limits.withdrawal_max_fen,
        };
        let (wallet, amount, card) = check_bank_movement(party(&command.customer), Amount::from_fen(command.amount_fen, limit_fen), command.card)?;
        Ok((wallet, card, amount))
    }
}

/// An operation that a replayed idempotency key can load in its current state.
trait Replayable: Sized {
    async fn load(service: &Service, id: OperationId) -> Result<Option<Self>, ServiceError>;
}

impl Replayable for TransferDetails {
    async fn load(service: &Service, id: OperationId) -> Result<Option<Self>, ServiceError> {
        Ok(service.store.transfer(id).await?)
    }
}

impl Replayable for BankMovementRecord {
    async fn load(service: &Service, id: OperationId) -> Result<Option<Self>, ServiceError> {
        Ok(service.store.bank_movement(id).await?)
    }
}
