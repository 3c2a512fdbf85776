//! The risk decision's shell: gather the facts about a payer and a payee
//! (`RiskFacts`), let the domain decide (`recourse_domain::risk::decide`),
//! and the customer and staff operations that feed it: blocks, reports and
//! their decisions.

use recourse_domain::risk::{LookAlike, RiskDecision, RiskFacts, decide};
use recourse_domain::avatar::{self, AvatarHash};
use recourse_domain::{OperationId, UserId, lookalike};
use recourse_store::{PairFacts, ReportDecided, ReportReason, ReportRecord, ReportStatus, UserRecord};

use crate::payees::payable;
use crate::{Service, ServiceError};

/// Transfer amounts looked at for `unusual_amount`.
const RECENT_AMOUNTS: i64 = 20;

/// Whether two stored avatar hashes are near copies (`avatar::near_copy`).
fn avatars_near_copies(a: [u64; 2], b: [u64; 2]) -> bool {
    avatar::near_copy(&AvatarHash::from(a), &AvatarHash::from(b))
}

/// Why a block or report is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationRefusal {
    /// No customer has that id.
    NotFound,
    /// Oneself.
    IsSelf,
    /// The transfer named is not one between the reporter and the reported.
    TransferNotBetweenYou,
}

impl Service {
    /// The contacts of `payer` that `payee` looks like, by nickname and/or
    /// avatar (never the payee themself). Nicknames are found by their
    /// stored look-alike key (an index lookup); avatars by comparing the
    /// payee's hashes with the contacts' who have an avatar, and only when
    /// the payee has one.
    async fn look_alikes(&self, payer: &UserRecord, payee: &UserRecord, payee_hashes: Option<[u64; 2]>) -> Result<Vec<LookAlike>, ServiceError> {
        let by_nickname = match lookalike::match_text(&payee.nickname) {
            Some(key) => self.store.contacts_with_nickname_key(payer.id, payee.id, key).await?,
            None => Vec::new(),
        };
        let by_avatar: Vec<UserId> = match payee_hashes {
            Some(hashes) => {
                let contacts = self.store.contact_avatar_hashes(payer.id, payee.id).await?;
                contacts.into_iter().filter(|(_, theirs)| avatars_near_copies(hashes, *theirs)).map(|(user, _)| user).collect()
            }
            None => Vec::new(),
        };
        let mut look_alikes: Vec<LookAlike> = by_nickname
            .iter()
            .map(|user| LookAlike { contact_id: user.to_string(), nickname: true, avatar: by_avatar.contains(user) })
            .collect();
        look_alikes.extend(by_avatar.iter().filter(|user| !by_nickname.contains(user)).map(|user| LookAlike { contact_id: user.to_string(), nickname: false, avatar: true }));
        Ok(look_alikes)
    }

    /// Decide about paying `payee` (`amount_fen`: `None` for a preview).
    /// `confirmed`: the payer resent with `confirm_warnings`.
    pub(crate) async fn risk_decision(
        &self,
        payer: &UserRecord,
        payee: &UserRecord,
        pair: PairFacts,
        amount_fen: Option<i64>,
        confirmed: bool,
        now_us: i64,
    ) -> Result<RiskDecision, ServiceError> {
        let policy = &self.config.risk;
        // Someone the payer already knows is who they are: an impostor is a
        // stranger who looks like a contact.
        let look_alikes = if pair.is_contact || pair.paid_before { Vec::new() } else { self.look_alikes(payer, payee, pair.payee_avatar_hashes).await? };
        let payer_recent_amounts_fen = match (amount_fen, payer.wallet) {
            (Some(amount), Some(wallet)) if amount >= policy.unusual_amount_min_fen => self.store.recent_amounts_sent(wallet, RECENT_AMOUNTS).await?,
            _ => Vec::new(),
        };
        let nickname_changed = Some(payee.nickname_changed_at_us).filter(|at| *at > payee.created_at_us);
        let facts = RiskFacts {
            now_us,
            amount_fen,
            at_or_above_threshold: amount_fen.is_some_and(|amount| amount >= self.config.limits.name_completion_threshold_fen),
            look_alikes,
            paid_before: pair.paid_before,
            payee_verified: payee.verified(),
            payee_created_at_us: payee.created_at_us,
            payee_profile_changed_at_us: nickname_changed.max(payee.avatar_changed_at_us),
            open_fraud_reports: pair.open_reports,
            fraud_markers_confirmed_at_us: pair.markers_confirmed_at_us,
            // `blocked_payer`: the payee blocked the payer after being paid by them.
            payee_blocked_payer: pair.payee_blocked_payer && pair.paid_before,
            payer_recent_amounts_fen,
        };
        let decision = decide(&facts, policy, confirmed);
        for reason in &decision.reasons {
            metrics::counter!("recourse_risk_reasons_total", "code" => reason.code.as_str()).increment(1);
        }
        Ok(decision)
    }

    /// `blocker` blocks `blocked` (as a chat app would report it).
    pub async fn block_user(&self, blocker: &UserRecord, blocked: UserId) -> Result<Result<(), RelationRefusal>, ServiceError> {
        if blocked == blocker.id {
            return Ok(Err(RelationRefusal::IsSelf));
        }
        if payable(self.store.user(blocked).await?).is_none() {
            return Ok(Err(RelationRefusal::NotFound));
        }
        self.store.block(blocker.id, blocked, self.clock.now_us()).await?;
        Ok(Ok(()))
    }

    /// A customer reports an account, optionally naming a transfer between them.
    pub async fn report_user(
        &self,
        reporter: &UserRecord,
        subject: UserId,
        reason: ReportReason,
        transfer: Option<OperationId>,
        details: Option<String>,
    ) -> Result<Result<ReportRecord, RelationRefusal>, ServiceError> {
        if subject == reporter.id {
            return Ok(Err(RelationRefusal::IsSelf));
        }
        if payable(self.store.user(subject).await?).is_none() {
            return Ok(Err(RelationRefusal::NotFound));
        }
        if let Some(transfer) = transfer {
            let between = self.store.transfer(transfer).await?.is_some_and(|d| {
                let t = &d.transfer;
                (t.payer == reporter.id && t.payee == subject) || (t.payer == subject && t.payee == reporter.id)
            });
            if !between {
                return Ok(Err(RelationRefusal::TransferNotBetweenYou));
            }
        }
        let record = ReportRecord {
            id: uuid::Uuid::now_v7(),
            reporter: reporter.id,
            subject,
            reason,
            transfer: transfer.map(|t| uuid::Uuid::from_bytes(*t.as_bytes())),
            details,
            status: ReportStatus::Open,
            created_at_us: self.clock.now_us(),
            decided_at_us: None,
            decided_by: None,
            decision_note: None,
        };
        metrics::counter!("recourse_reports_total", "reason" => reason.as_str()).increment(1);
        Ok(Ok(self.store.create_report(record).await?))
    }

    /// Reports in `status`, oldest first (staff).
    pub async fn reports(&self, status: ReportStatus, limit: i64) -> Result<Vec<ReportRecord>, ServiceError> {
        Ok(self.store.reports(status, limit).await?)
    }

    /// Staff confirm (a fraud marker on the account) or dismiss a report.
    pub async fn decide_report(&self, staff: &UserRecord, report: uuid::Uuid, confirm: bool, note: String) -> Result<ReportDecided, ServiceError> {
        let to = if confirm { ReportStatus::Confirmed } else { ReportStatus::Dismissed };
        let decided = self.store.decide_report(report, to, staff.id, note, self.vault.audit_key(), self.clock.now_us()).await?;
        if let ReportDecided::Decided(record) = &decided {
            tracing::info!(report = %record.id, staff = %staff.id, status = to.as_str(), "report decided");
        }
        Ok(decided)
    }
}
