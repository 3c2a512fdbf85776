//! Post-incident assistance: claims, the payee's one-click answer, staff
//! actions, and the claims' scheduled work. The rules are the domain's
//! (`recourse_domain::claim`); the store writes each step with its timeline
//! entry, notifications, ledger movements and audit entry in one transaction.
//!
//! Who may do what:
//! - the claimant (the transfer's payer) files and follows the claim;
//! - the payee sees it (without the claimant's own words) and returns or contests;
//! - agents see every claim and act on it; compliance officers and admins
//!   see claims but do not act on them;
//! - anyone else is told the claim does not exist.

use recourse_domain::claim::{ClaimReason, HoldFacts, Outcome};
use recourse_domain::risk::ReasonCode;
use recourse_domain::trace::{Carried, Destination, attribute};
use recourse_domain::transfer::TransferStatus;
use recourse_domain::{AccountId, OperationId, Role};
use recourse_store::{Audience, ClaimChange, ClaimEventRecord, ClaimFiled, ClaimHoldRecord, ClaimRecord, NewClaim, PayeeKey, StaffAction, UserRecord};

use crate::{Service, ServiceError};

/// Longest claim details, note or message (characters).
pub const CLAIM_TEXT_MAX_CHARS: usize = 2_000;

/// Why a claim cannot be filed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilingRefusal {
    /// No transfer the caller paid has that id.
    TransferNotFound,
    /// The money has not reached the payee (revoke it instead), or it was
    /// refunded already.
    NotCompleted(TransferStatus),
    /// Too long after the transfer.
    WindowClosed { days: i64 },
}

/// How a viewer stands to a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimRole {
    Claimant,
    Payee,
    Staff,
}

/// A claim as one viewer may see it.
#[derive(Clone, Debug)]
pub struct ClaimView {
    pub role: ClaimRole,
    pub claim: ClaimRecord,
    pub timeline: Vec<ClaimEventRecord>,
    pub holds: Vec<ClaimHoldRecord>,
}

impl ClaimView {
    /// Only what this viewer may see: parties see entries for everyone and
    /// for themselves; the payee sees the holds on their own account.
    fn for_role(role: ClaimRole, claim: ClaimRecord, timeline: Vec<ClaimEventRecord>, holds: Vec<ClaimHoldRecord>) -> ClaimView {
        let visible = |audience: Audience| match role {
            ClaimRole::Staff => true,
            ClaimRole::Claimant => matches!(audience, Audience::All | Audience::Claimant),
            ClaimRole::Payee => matches!(audience, Audience::All | Audience::Payee),
        };
        let timeline = timeline.into_iter().filter(|e| visible(e.audience)).collect();
        let holds = match role {
            ClaimRole::Payee => holds.into_iter().filter(|h| h.account == claim.payee_account).collect(),
            _ => holds,
        };
        ClaimView { role, claim, timeline, holds }
    }
}

/// Whether the payer was warned of a look-alike when paying: the risk
/// decision's reasons stored in the transfer's `checks` (`TransferChecks`).
fn warned_of_impersonation(checks: &str) -> bool {
    let checks: serde_json::Value = serde_json::from_str(checks).unwrap_or_default();
    checks["risk"]["reasons"].as_array().is_some_and(|reasons| reasons.iter().any(|r| r == ReasonCode::ImpersonationSuspected.as_str()))
}

fn may_view_as_staff(role: Role) -> bool {
    matches!(role, Role::Agent | Role::Compliance | Role::Admin)
}

impl Service {
    /// A payer files a claim on a transfer they made.
    pub async fn file_claim(&self, claimant: &UserRecord, transfer: OperationId, reason: ClaimReason, details: String) -> Result<Result<ClaimFiled, FilingRefusal>, ServiceError> {
        let Some(found) = self.store.transfer(transfer).await? else { return Ok(Err(FilingRefusal::TransferNotFound)) };
        let record = &found.transfer;
        if record.payer != claimant.id {
            return Ok(Err(FilingRefusal::TransferNotFound));
        }
        if record.status != TransferStatus::Completed && record.status != TransferStatus::Returned {
            return Ok(Err(FilingRefusal::NotCompleted(record.status)));
        }
        let now_us = self.clock.now_us();
        let policy = &self.config.claims;
        // When the money reached the payee: the completing event.
        let arrived_at_us = found.history.iter().rev().find(|e| e.status == TransferStatus::Completed).map_or(record.created_at_us, |e| e.at_us);
        if !policy.within_filing_window(arrived_at_us, now_us) {
            return Ok(Err(FilingRefusal::WindowClosed { days: policy.filing_window_days }));
        }
        let facts = self.store.payee_with_facts(claimant.id, PayeeKey::Id(record.payee)).await?.map(|(_, facts)| facts).unwrap_or_default();
        let hold_facts = HoldFacts {
            impersonation_warned: warned_of_impersonation(&record.checks),
            fraud_marker: self.config.risk.marker_stands(&facts.markers_confirmed_at_us, now_us),
            payee_blocked_payer: facts.payee_blocked_payer,
            payee_available_fen: 0,
        };
        let id = uuid::Uuid::now_v7();
        let new = NewClaim {
            id,
            transfer,
            claimant: claimant.id,
            payee: record.payee,
            claimant_account: record.payer_account,
            payee_account: record.payee_account,
            reason,
            details,
            amount_fen: record.amount.fen(),
            filed_at_us: now_us,
            deadlines: policy.deadlines(reason, now_us),
            hold_facts,
            hold_expires_at_us: policy.hold_expiry(now_us),
        };
        let filed = self.store.file_claim(new).await?;
        if let ClaimFiled::Filed(claim) = &filed {
            metrics::counter!("recourse_claims_filed_total", "reason" => reason.as_str()).increment(1);
            tracing::info!(claim = %claim.id, reference = %claim.reference, held_fen = claim.held_fen, "claim filed");
        }
        Ok(Ok(filed))
    }

    /// How `viewer` stands to `claim`, if they may see it at all.
    fn claim_role(viewer: &UserRecord, claim: &ClaimRecord) -> Option<ClaimRole> {
        if viewer.id == claim.claimant {
            Some(ClaimRole::Claimant)
        } else if viewer.id == claim.payee {
            Some(ClaimRole::Payee)
        } else if may_view_as_staff(viewer.role) {
            Some(ClaimRole::Staff)
        } else {
            None
        }
    }

    /// A claim as `viewer` may see it; `None` when it does not exist for them.
    pub async fn claim_for(&self, viewer: &UserRecord, claim: uuid::Uuid) -> Result<Option<ClaimView>, ServiceError> {
        let Some((record, timeline, holds)) = self.store.claim_with_timeline(claim).await? else { return Ok(None) };
        let Some(role) = Self::claim_role(viewer, &record) else { return Ok(None) };
        Ok(Some(ClaimView::for_role(role, record, timeline, holds)))
    }

    /// Claims a customer filed or received, newest first.
    pub async fn claims_of(&self, customer: &UserRecord, limit: i64) -> Result<Vec<ClaimRecord>, ServiceError> {
        Ok(self.store.claims_of(customer.id, limit).await?)
    }

    /// The payee returns `amount_fen`, or contests (`return_fen: None`, with
    /// a reason). `None`: the caller is not this claim's payee (or it does not exist).
    pub async fn payee_answer(&self, payee: &UserRecord, claim: uuid::Uuid, answer: PayeeAnswer) -> Result<Option<ClaimChange>, ServiceError> {
        match self.store.claim(claim).await? {
            Some(record) if record.payee == payee.id => {}
            _ => return Ok(None),
        }
        let now_us = self.clock.now_us();
        let change = match answer {
            PayeeAnswer::Return { amount_fen } => self.store.payee_return(claim, amount_fen, now_us).await?,
            PayeeAnswer::Contest { reason } => self.store.payee_contest(claim, reason, now_us).await?,
        };
        Ok(Some(change))
    }

    /// An agent acts on a claim. `Ok(None)`: no such claim.
    pub async fn staff_claim_action(&self, agent: &UserRecord, claim: uuid::Uuid, request: StaffRequest) -> Result<Option<ClaimChange>, ServiceError> {
        assert_eq!(agent.role, Role::Agent, "staff actions on claims are an agent's (checked at the edge)");
        let Some(record) = self.store.claim(claim).await? else { return Ok(None) };
        let now_us = self.clock.now_us();
        let policy = &self.config.claims;
        let action = match request {
            StaffRequest::Take => StaffAction::Take,
            StaffRequest::Note { text } => StaffAction::Note { text },
            StaffRequest::Message { to, text } => StaffAction::Message { to, text },
            StaffRequest::Hold { account, amount_fen, reason } => {
                // The payee's account, or one down the trail: at most the
                // claimed money that reached it (nothing off the trail).
                let account = account.unwrap_or(record.payee_account);
                let trail = self.trace(&record).await?;
                let limit_fen = trail.iter().filter(|node| node.account == account).map(|node| node.traced_fen).sum();
                StaffAction::PlaceHold { account, amount_fen, limit_fen, expires_at_us: policy.hold_expiry(now_us), note: reason }
            }
            StaffRequest::ExtendHold { hold, until_us } => StaffAction::ExtendHold { hold, until_us, max_us: policy.hold_max_us() },
            StaffRequest::ReleaseHold { hold } => StaffAction::ReleaseHold { hold },
            StaffRequest::Decide { outcome, amount_fen, reason } => StaffAction::Decide { outcome, amount_fen, reason },
        };
        let change = self.store.staff_claim_action(claim, agent.id, action, self.vault.audit_key(), now_us).await?;
        Ok(Some(change))
    }

    /// Where the claimed money went: the payee's account, then every
    /// account its later payments reached within `claims.trace_window_hours`
    /// of each arrival, up to `claims.trace_hops` hops, with the share of the
    /// claimed money each carried (`recourse_domain::trace::attribute`).
    /// Breadth first; at most `TRAIL_NODES_MAX` accounts.
    pub async fn trace(&self, claim: &ClaimRecord) -> Result<Vec<TrailNode>, ServiceError> {
        self.trace_from(claim.payee_account, claim.transfer, claim.amount_fen).await
    }

    /// The trail of `amount_fen` that `transfer` brought to `account`.
    pub async fn trace_from(&self, account: AccountId, transfer: OperationId, amount_fen: i64) -> Result<Vec<TrailNode>, ServiceError> {
        let policy = &self.config.claims;
        let window_us = policy.trace_window_hours * 3_600_000_000;
        let mut nodes = Vec::new();
        let mut frontier = std::collections::VecDeque::from([(1, account, transfer, amount_fen)]);
        while let Some((hop, account, arrived_via, traced_fen)) = frontier.pop_front() {
            if nodes.len() >= TRAIL_NODES_MAX {
                break;
            }
            let Some(found) = self.store.trace_hop(account, arrived_via, window_us).await? else { continue };
            let until_us = found.arrived_at_us.saturating_add(window_us);
            let (carried, remaining_fen) = attribute(traced_fen, found.balance_after_fen, &found.postings, until_us);
            if hop < policy.trace_hops {
                for out in &carried {
                    if let Destination::Wallet { transfer, account: next } = out.destination {
                        frontier.push_back((hop + 1, next, transfer, out.attributed_fen));
                    }
                }
            }
            nodes.push(TrailNode {
                hop,
                account,
                owner: found.owner,
                arrived_via,
                arrived_at_us: found.arrived_at_us,
                traced_fen,
                carried,
                remaining_fen,
                available_now_fen: found.available_now_fen,
                truncated: found.truncated,
            });
        }
        Ok(nodes)
    }

    /// A claim's trail, for staff who may see the claim.
    pub async fn trace_for(&self, viewer: &UserRecord, claim: uuid::Uuid) -> Result<Option<(ClaimRecord, Vec<TrailNode>)>, ServiceError> {
        let Some(record) = self.store.claim(claim).await? else { return Ok(None) };
        if Self::claim_role(viewer, &record) != Some(ClaimRole::Staff) {
            return Ok(None);
        }
        let trail = self.trace(&record).await?;
        Ok(Some((record, trail)))
    }

    /// The evidence pack of a claim: for the claimant and staff (the
    /// counterparty masked), and for an authority holding an approved
    /// disclosure on this claim (the counterparty in full; the read is
    /// audited). `None` for anyone else.
    pub async fn evidence_for(&self, viewer: &UserRecord, claim: uuid::Uuid) -> Result<Option<Evidence>, ServiceError> {
        let Some((record, timeline, holds)) = self.store.claim_with_timeline(claim).await? else { return Ok(None) };
        let (role, authority_copy) = match (Self::claim_role(viewer, &record), viewer.role) {
            (Some(ClaimRole::Claimant), _) => (ClaimRole::Claimant, false),
            (Some(ClaimRole::Staff), _) => (ClaimRole::Staff, false),
            (_, Role::Authority) => match self.store.approved_disclosure_for_claim(claim, viewer.id).await? {
                Some(disclosure) => {
                    self.store.log_disclosure_read(disclosure.id, viewer.id, self.vault.audit_key(), self.clock.now_us()).await?;
                    (ClaimRole::Staff, true)
                }
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let transfer = self.store.transfer(record.transfer).await?.ok_or_else(|| ServiceError::Internal("a claim's transfer vanished".into()))?;
        let party = |user: UserRecord| EvidenceParty {
            nickname: user.nickname.clone(),
            masked_name: user.masked_name.clone(),
            masked_phone: recourse_domain::phone::Phone::parse(&user.phone).map(|p| p.masked()).unwrap_or_default(),
            legal_name: None,
            id_number: None,
            phone: None,
        };
        let missing = || ServiceError::Internal("a claim's party vanished".into());
        let payer = party(self.store.user(record.claimant).await?.ok_or_else(missing)?);
        let payee_user = self.store.user(record.payee).await?.ok_or_else(missing)?;
        let mut payee = party(payee_user.clone());
        if authority_copy {
            let (legal_name, id_number) = self.identity_of(&payee_user).await?;
            payee = EvidenceParty { legal_name, id_number, phone: Some(payee_user.phone.clone()), ..payee };
        }
        let view = ClaimView::for_role(role, record, timeline, holds);
        Ok(Some(Evidence { view, transfer, payer, payee, authority_copy, generated_at_us: self.clock.now_us() }))
    }

    /// A customer's notifications, newest first, after `before`, and the unread count.
    pub async fn notifications(&self, user: &UserRecord, before: Option<uuid::Uuid>, limit: i64) -> Result<(Vec<recourse_store::NotificationRecord>, i64), ServiceError> {
        Ok(self.store.notifications(user.id, before, limit).await?)
    }

    /// Mark one of `user`'s notifications read; `false`: not theirs.
    pub async fn mark_notification_read(&self, user: &UserRecord, notification: uuid::Uuid) -> Result<bool, ServiceError> {
        Ok(self.store.mark_notification_read(user.id, notification, self.clock.now_us()).await?)
    }

    /// The language Recourse writes to `user` in (notifications).
    pub async fn set_language(&self, user: &UserRecord, lang: recourse_domain::risk::Lang) -> Result<(), ServiceError> {
        Ok(self.store.set_language(user.id, lang).await?)
    }

    /// The agents' queue (open claims unless `statuses` says otherwise), nearest deadline first.
    pub async fn claims_queue(&self, statuses: Vec<recourse_domain::claim::ClaimStatus>, owner: Option<Option<recourse_domain::UserId>>, limit: i64) -> Result<Vec<ClaimRecord>, ServiceError> {
        Ok(self.store.claims_queue(statuses, owner, limit).await?)
    }
}

/// A party as an evidence pack shows them.
#[derive(Clone)]
pub struct EvidenceParty {
    pub nickname: String,
    pub masked_name: Option<String>,
    pub masked_phone: String,
    /// Only in an authority's copy after an approved disclosure.
    pub legal_name: Option<String>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
}

impl std::fmt::Debug for EvidenceParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EvidenceParty(…)")
    }
}

/// Everything an evidence pack shows, for one viewer.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub view: ClaimView,
    pub transfer: recourse_store::TransferDetails,
    pub payer: EvidenceParty,
    pub payee: EvidenceParty,
    /// The copy of an authority with an approved disclosure: the payee in full.
    pub authority_copy: bool,
    pub generated_at_us: i64,
}

/// Accounts followed on one trail at most.
pub const TRAIL_NODES_MAX: usize = 200;

/// One account on a claim's trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailNode {
    /// 1: the payee's account; 2: an account the payee paid; …
    pub hop: u32,
    pub account: AccountId,
    pub owner: Option<recourse_domain::UserId>,
    /// The payment that brought the claimed money here.
    pub arrived_via: OperationId,
    pub arrived_at_us: i64,
    /// How much of the claimed money arrived here.
    pub traced_fen: i64,
    /// The payments out that carried some of it.
    pub carried: Vec<Carried>,
    /// How much of it is still here by attribution.
    pub remaining_fen: i64,
    pub available_now_fen: i64,
    /// The account moved more money than was read: the trail beyond is incomplete.
    pub truncated: bool,
}

/// The payee's one click.
#[derive(Clone, Debug)]
pub enum PayeeAnswer {
    Return { amount_fen: i64 },
    Contest { reason: String },
}

/// What an agent asks for.
#[derive(Clone, Debug)]
pub enum StaffRequest {
    Take,
    Note { text: String },
    Message { to: Audience, text: String },
    Hold { account: Option<AccountId>, amount_fen: i64, reason: String },
    ExtendHold { hold: OperationId, until_us: i64 },
    ReleaseHold { hold: OperationId },
    Decide { outcome: Outcome, amount_fen: Option<i64>, reason: String },
}
