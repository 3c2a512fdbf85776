//! Claims: a payer asks for a transfer back. The one place that says which
//! status may follow which, which deadlines a claim has, when money is held
//! as a precaution, and how much may still be returned.
//!
//! ```text
//!                      payee returns all / agent decides `return`
//!   awaiting_payee ─────────────────────────────────────────────► returned
//!     │   │  payee contests, or no answer in time, or an agent takes it      ▲
//!     │   └──────────────────────────────► in_review ───────────────────────┘
//!     │                                     │   │ agent decides `reject`
//!     │ agent decides (at any time)         │   └──────────────► rejected
//!     └─────────────────────────────────────┴── agent decides `legal_route` ─► legal_route
//! ```
//!
//! A partial return keeps the claim where it is; the payee may still return
//! the rest while the claim is open or on the legal route (a settlement
//! before court). `returned`, `rejected` and `legal_route` end the service's
//! handling: deadlines stop, and so does compensation.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::risk::Lang;

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;

/// Why a payer wants a transfer back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimReason {
    WrongRecipient,
    Impersonation,
    Fraud,
    GoodsNotReceived,
    BlockedAfterPayment,
}

impl ClaimReason {
    pub const ALL: [ClaimReason; 5] = [ClaimReason::WrongRecipient, ClaimReason::Impersonation, ClaimReason::Fraud, ClaimReason::GoodsNotReceived, ClaimReason::BlockedAfterPayment];

    pub fn as_str(self) -> &'static str {
        match self {
            ClaimReason::WrongRecipient => "wrong_recipient",
            ClaimReason::Impersonation => "impersonation",
            ClaimReason::Fraud => "fraud",
            ClaimReason::GoodsNotReceived => "goods_not_received",
            ClaimReason::BlockedAfterPayment => "blocked_after_payment",
        }
    }

    pub fn parse(text: &str) -> Option<ClaimReason> {
        ClaimReason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Filed; the payee is asked to return or contest.
    AwaitingPayee,
    /// With an agent: contested, unanswered in time, or taken.
    InReview,
    /// The money came back (all of it, or what an agent could return).
    Returned,
    Rejected,
    /// Talking failed: the claimant is guided to court with the evidence pack.
    LegalRoute,
}

impl ClaimStatus {
    pub const ALL: [ClaimStatus; 5] = [ClaimStatus::AwaitingPayee, ClaimStatus::InReview, ClaimStatus::Returned, ClaimStatus::Rejected, ClaimStatus::LegalRoute];

    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::AwaitingPayee => "awaiting_payee",
            ClaimStatus::InReview => "in_review",
            ClaimStatus::Returned => "returned",
            ClaimStatus::Rejected => "rejected",
            ClaimStatus::LegalRoute => "legal_route",
        }
    }

    pub fn parse(text: &str) -> Option<ClaimStatus> {
        ClaimStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The service still owes the claimant an answer: deadlines and compensation run.
    pub fn is_open(self) -> bool {
        matches!(self, ClaimStatus::AwaitingPayee | ClaimStatus::InReview)
    }

    /// The payee may still send money back.
    pub fn accepts_returns(self) -> bool {
        matches!(self, ClaimStatus::AwaitingPayee | ClaimStatus::InReview | ClaimStatus::LegalRoute)
    }
}

/// How an agent ends a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Return what the holds keep (all or `amount`), release the rest.
    Return,
    Reject,
    LegalRoute,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Return => "return",
            Outcome::Reject => "reject",
            Outcome::LegalRoute => "legal_route",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        [Outcome::Return, Outcome::Reject, Outcome::LegalRoute].into_iter().find(|o| o.as_str() == text)
    }
}

/// What can happen to a claim's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimStep {
    /// The payee sent money back; `complete`: nothing is left claimed.
    PayeeReturned { complete: bool },
    PayeeContested,
    /// The payee's answer window passed without an answer.
    AnswerWindowPassed,
    /// An agent takes the case.
    Taken,
    Decided(Outcome),
}

#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("a claim that is {from:?} cannot take {step:?}")]
pub struct IllegalClaimStep {
    pub from: ClaimStatus,
    pub step: ClaimStep,
}

/// The claim status table. Anything not listed is illegal.
pub fn next_claim_status(from: ClaimStatus, step: ClaimStep) -> Result<ClaimStatus, IllegalClaimStep> {
    use ClaimStatus as S;
    use ClaimStep as E;
    let to = match (from, step) {
        (s, E::PayeeReturned { complete: true }) if s.accepts_returns() => S::Returned,
        (s, E::PayeeReturned { complete: false }) if s.accepts_returns() => s,
        (S::AwaitingPayee, E::PayeeContested | E::AnswerWindowPassed | E::Taken) => S::InReview,
        (S::InReview, E::Taken) => S::InReview,
        (s, E::Decided(outcome)) if s.is_open() => match outcome {
            Outcome::Return => S::Returned,
            Outcome::Reject => S::Rejected,
            Outcome::LegalRoute => S::LegalRoute,
        },
        _ => return Err(IllegalClaimStep { from, step }),
    };
    Ok(to)
}

/// Service levels for one reason (`[claims.reasons.<reason>]` overrides the defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceLevels {
    /// An agent acknowledges the claim (takes it, or acts on it) within this.
    pub acknowledgement_hours: i64,
    /// Staff contact a party (a message) within this.
    pub first_contact_hours: i64,
    /// The claim is decided within this, from filing; each day past it is compensated.
    pub resolution_days: i64,
}

impl Default for ServiceLevels {
    fn default() -> Self {
        ServiceLevels { acknowledgement_hours: 24, first_contact_hours: 72, resolution_days: 30 }
    }
}

/// The `[claims]` settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimsPolicy {
    /// A transfer may be claimed this long after it was made.
    pub filing_window_days: i64,
    /// The payee's time to return or contest before an agent takes over.
    pub payee_answer_hours: i64,
    /// How long a precautionary hold lasts unless an agent extends it.
    pub hold_hours: i64,
    /// The longest an agent may extend a hold to, from when it was placed.
    pub hold_max_days: i64,
    /// Credited to the claimant for each day a claim stays open past its resolution deadline (fen).
    pub compensation_fen_per_day: i64,
    /// Tracing: hops followed after the payee, and the window after each arrival.
    pub trace_hops: u32,
    pub trace_window_hours: i64,
    /// Days after an approved disclosure before its data subject is told.
    pub disclosure_notice_days: i64,
    /// Default service levels, and per reason.
    pub service_levels: ServiceLevels,
    pub reasons: std::collections::BTreeMap<String, ServiceLevels>,
}

impl Default for ClaimsPolicy {
    fn default() -> Self {
        ClaimsPolicy {
            filing_window_days: 90,
            payee_answer_hours: 72,
            hold_hours: 72,
            hold_max_days: 30,
            compensation_fen_per_day: 1_000,
            trace_hops: 3,
            trace_window_hours: 72,
            disclosure_notice_days: 90,
            service_levels: ServiceLevels::default(),
            reasons: std::collections::BTreeMap::new(),
        }
    }
}

impl ClaimsPolicy {
    /// Refuse settings that would make claims misbehave.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("claims.filing_window_days", self.filing_window_days),
            ("claims.payee_answer_hours", self.payee_answer_hours),
            ("claims.hold_hours", self.hold_hours),
            ("claims.hold_max_days", self.hold_max_days),
            ("claims.trace_window_hours", self.trace_window_hours),
        ];
        for (name, value) in positive {
            if !(1..=3_650).contains(&value) {
                return Err(format!("{name} must be 1 to 3650"));
            }
        }
        if self.hold_hours > self.hold_max_days * 24 {
            return Err("claims.hold_hours must not exceed claims.hold_max_days".into());
        }
        if !(0..=10_000_000).contains(&self.compensation_fen_per_day) {
            return Err("claims.compensation_fen_per_day must be 0 to 10,000,000 fen".into());
        }
        if !(1..=6).contains(&self.trace_hops) {
            return Err("claims.trace_hops must be 1 to 6".into());
        }
        if !(0..=3_650).contains(&self.disclosure_notice_days) {
            return Err("claims.disclosure_notice_days must be 0 to 3650".into());
        }
        for (reason, levels) in std::iter::once(("default", &self.service_levels)).chain(self.reasons.iter().map(|(r, l)| (r.as_str(), l))) {
            if reason != "default" && ClaimReason::parse(reason).is_none() {
                return Err(format!("claims.reasons.{reason}: not a claim reason"));
            }
            if !(1..=24 * 365).contains(&levels.acknowledgement_hours) || !(1..=24 * 365).contains(&levels.first_contact_hours) || !(1..=365).contains(&levels.resolution_days) {
                return Err(format!("claims service levels for {reason}: hours 1 to 8760, days 1 to 365"));
            }
        }
        Ok(())
    }

    pub fn levels(&self, reason: ClaimReason) -> ServiceLevels {
        self.reasons.get(reason.as_str()).copied().unwrap_or(self.service_levels)
    }

    /// A claim's deadlines, from when it was filed.
    pub fn deadlines(&self, reason: ClaimReason, filed_at_us: i64) -> Deadlines {
        let levels = self.levels(reason);
        Deadlines {
            payee_answer_us: filed_at_us + self.payee_answer_hours * HOUR_US,
            acknowledgement_us: filed_at_us + levels.acknowledgement_hours * HOUR_US,
            first_contact_us: filed_at_us + levels.first_contact_hours * HOUR_US,
            resolution_us: filed_at_us + levels.resolution_days * DAY_US,
        }
    }

    /// Whether a transfer made at `made_at_us` may still be claimed.
    pub fn within_filing_window(&self, made_at_us: i64, now_us: i64) -> bool {
        now_us - made_at_us <= self.filing_window_days * DAY_US
    }

    pub fn hold_expiry(&self, from_us: i64) -> i64 {
        from_us + self.hold_hours * HOUR_US
    }

    /// The longest a hold may last from when it was placed.
    pub fn hold_max_us(&self) -> i64 {
        self.hold_max_days * DAY_US
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    pub payee_answer_us: i64,
    pub acknowledgement_us: i64,
    pub first_contact_us: i64,
    pub resolution_us: i64,
}

/// What is known at filing about the risk that the money disappears.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HoldFacts {
    /// The payer was warned of a look-alike when paying (`checks` of the transfer).
    pub impersonation_warned: bool,
    /// A confirmed fraud marker stands on the payee.
    pub fraud_marker: bool,
    /// The payee blocked the payer.
    pub payee_blocked_payer: bool,
    /// The payee's available balance.
    pub payee_available_fen: i64,
}

/// How much to hold on the payee's account at once when a claim is filed:
/// when the claim's risk is high and funds are still there, the available
/// funds up to the claimed amount; otherwise nothing.
pub fn precautionary_hold_fen(facts: HoldFacts, claimed_fen: i64) -> i64 {
    let high_risk = facts.impersonation_warned || facts.fraud_marker || facts.payee_blocked_payer;
    if high_risk { facts.payee_available_fen.clamp(0, claimed_fen.max(0)) } else { 0 }
}

#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ReturnRefusal {
    #[error("a return is a positive amount")]
    NotPositive,
    /// More than is still claimed.
    #[error("{amount_fen} fen is more than the {outstanding_fen} fen still claimed")]
    BeyondClaimed { amount_fen: i64, outstanding_fen: i64 },
}

/// A return of `amount_fen` against a claim of `claimed_fen` of which
/// `returned_fen` came back already.
pub fn check_return(amount_fen: i64, claimed_fen: i64, returned_fen: i64) -> Result<(), ReturnRefusal> {
    let outstanding_fen = claimed_fen - returned_fen;
    if amount_fen <= 0 {
        return Err(ReturnRefusal::NotPositive);
    }
    if amount_fen > outstanding_fen {
        return Err(ReturnRefusal::BeyondClaimed { amount_fen, outstanding_fen });
    }
    Ok(())
}

/// Days of compensation owed at `now_us` for a claim still open past its
/// resolution deadline: one per whole day past it.
pub fn compensation_days_owed(resolution_us: i64, now_us: i64) -> i64 {
    if now_us <= resolution_us { 0 } else { (now_us - resolution_us) / DAY_US }
}

/// When the next day of compensation falls due after `days_paid` days.
pub fn next_compensation_at(resolution_us: i64, days_paid: i64) -> i64 {
    resolution_us + (days_paid + 1) * DAY_US
}

/// Who a notification or timeline entry is about, for its sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// To the claimant: the claim is filed, with its reference.
    ClaimFiled,
    /// To the payee: a claim on a payment they received; return or contest.
    ClaimAgainstYou,
    /// To the payee: money on their account is held for a claim.
    FundsHeld,
    /// To the claimant: money came back.
    MoneyReturned,
    /// To the claimant: the payee contested.
    PayeeContested,
    /// To the claimant: the payee did not answer; an agent takes over.
    Escalated,
    /// To the claimant: an agent took the case.
    AgentAssigned,
    /// To a party: a message from the agent.
    Message,
    /// To both: the claim was decided.
    Decided,
    /// To the claimant: a day's compensation for the delay.
    Compensated,
    /// To the claimant: a service level was missed; to the owner: a reminder.
    Overdue,
    /// To the payee: a hold ended.
    HoldEnded,
    /// To a data subject: their identity was disclosed to an authority.
    DisclosureMade,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::ClaimFiled => "claim_filed",
            Notice::ClaimAgainstYou => "claim_against_you",
            Notice::FundsHeld => "funds_held",
            Notice::MoneyReturned => "money_returned",
            Notice::PayeeContested => "payee_contested",
            Notice::Escalated => "escalated",
            Notice::AgentAssigned => "agent_assigned",
            Notice::Message => "message",
            Notice::Decided => "decided",
            Notice::Compensated => "compensated",
            Notice::Overdue => "overdue",
            Notice::HoldEnded => "hold_ended",
            Notice::DisclosureMade => "disclosure_made",
        }
    }

    /// The sentence for the recipient, in their language. `reference`: the
    /// case reference; `amount_fen`: the amount concerned, if any; `text`:
    /// free text (a message, an outcome) shown after the sentence.
    pub fn sentence(self, lang: Lang, reference: &str, amount_fen: Option<i64>, text: Option<&str>) -> String {
        let yuan = amount_fen.map(|fen| format!("¥{}.{:02}", fen / 100, fen % 100)).unwrap_or_default();
        let base = match (self, lang) {
            (Notice::ClaimFiled, Lang::Zh) => format!("我们已收到你的申诉 {reference}。我们会联系收款人，并随时告知你进展。"),
            (Notice::ClaimFiled, Lang::En) => format!("We received your claim {reference}. We are contacting the payee and will keep you informed."),
            (Notice::ClaimAgainstYou, Lang::Zh) => format!("付款人对你收到的一笔 {yuan} 付款提出了申诉 {reference}。如果这笔钱不属于你，请一键退回；否则请说明理由。"),
            (Notice::ClaimAgainstYou, Lang::En) => format!("A payer has claimed back a payment of {yuan} you received ({reference}). If it is not yours, return it in one click; otherwise tell us why."),
            (Notice::FundsHeld, Lang::Zh) => format!("因申诉 {reference}，你账户中的 {yuan} 已被暂时冻结。"),
            (Notice::FundsHeld, Lang::En) => format!("{yuan} on your account is held because of claim {reference}."),
            (Notice::MoneyReturned, Lang::Zh) => format!("申诉 {reference}：{yuan} 已退回到你的账户。"),
            (Notice::MoneyReturned, Lang::En) => format!("Claim {reference}: {yuan} came back to your account."),
            (Notice::PayeeContested, Lang::Zh) => format!("申诉 {reference}：收款人对申诉提出异议，客服将跟进处理。"),
            (Notice::PayeeContested, Lang::En) => format!("Claim {reference}: the payee contested it. An agent follows the case up."),
            (Notice::Escalated, Lang::Zh) => format!("申诉 {reference}：收款人未在规定时间内回应，客服已接手处理。"),
            (Notice::Escalated, Lang::En) => format!("Claim {reference}: the payee did not answer in time; an agent has taken over."),
            (Notice::AgentAssigned, Lang::Zh) => format!("申诉 {reference}：客服已受理你的申诉。"),
            (Notice::AgentAssigned, Lang::En) => format!("Claim {reference}: an agent is handling your case."),
            (Notice::Message, Lang::Zh) => format!("申诉 {reference}：客服给你留言。"),
            (Notice::Message, Lang::En) => format!("Claim {reference}: a message from the agent."),
            (Notice::Decided, Lang::Zh) => format!("申诉 {reference} 已有处理结果。"),
            (Notice::Decided, Lang::En) => format!("Claim {reference} has been decided."),
            (Notice::Compensated, Lang::Zh) => format!("申诉 {reference} 超过了处理期限：我们已向你的账户补偿 {yuan}。"),
            (Notice::Compensated, Lang::En) => format!("Claim {reference} is past its resolution deadline: we credited {yuan} to your account for the delay."),
            (Notice::Overdue, Lang::Zh) => format!("申诉 {reference} 的一个处理时限已过，我们正在加快处理。"),
            (Notice::Overdue, Lang::En) => format!("A deadline of claim {reference} has passed; we are speeding it up."),
            (Notice::HoldEnded, Lang::Zh) => format!("申诉 {reference}：你账户中被冻结的 {yuan} 已解除冻结。"),
            (Notice::HoldEnded, Lang::En) => format!("Claim {reference}: the hold of {yuan} on your account has ended."),
            (Notice::DisclosureMade, Lang::Zh) => "依据法律程序，你的身份信息已提供给有权机关。".to_owned(),
            (Notice::DisclosureMade, Lang::En) => "Under a legal procedure, your identity was disclosed to an authority entitled to it.".to_owned(),
        };
        match text {
            Some(text) if !text.is_empty() => format!("{base} {text}"),
            _ => base,
        }
    }
}

/// A claim's human reference: `RC-` and the last 10 hex digits of its id
/// (UUID v7: the random part), upper case.
pub fn reference(claim_id: &uuid::Uuid) -> String {
    let hex = claim_id.simple().to_string().to_uppercase();
    format!("RC-{}", &hex[hex.len() - 10..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table() {
        use ClaimStatus as S;
        use ClaimStep as E;
        assert_eq!(next_claim_status(S::AwaitingPayee, E::PayeeReturned { complete: true }), Ok(S::Returned));
        assert_eq!(next_claim_status(S::AwaitingPayee, E::PayeeReturned { complete: false }), Ok(S::AwaitingPayee));
        assert_eq!(next_claim_status(S::InReview, E::PayeeReturned { complete: false }), Ok(S::InReview));
        assert_eq!(next_claim_status(S::LegalRoute, E::PayeeReturned { complete: true }), Ok(S::Returned));
        assert_eq!(next_claim_status(S::LegalRoute, E::PayeeReturned { complete: false }), Ok(S::LegalRoute));
        assert_eq!(next_claim_status(S::AwaitingPayee, E::PayeeContested), Ok(S::InReview));
        assert_eq!(next_claim_status(S::AwaitingPayee, E::AnswerWindowPassed), Ok(S::InReview));
        assert_eq!(next_claim_status(S::AwaitingPayee, E::Taken), Ok(S::InReview));
        assert_eq!(next_claim_status(S::InReview, E::Taken), Ok(S::InReview));
        assert_eq!(next_claim_status(S::AwaitingPayee, E::Decided(Outcome::Return)), Ok(S::Returned));
        assert_eq!(next_claim_status(S::InReview, E::Decided(Outcome::Reject)), Ok(S::Rejected));
        assert_eq!(next_claim_status(S::InReview, E::Decided(Outcome::LegalRoute)), Ok(S::LegalRoute));
        for ended in [S::Returned, S::Rejected] {
            for step in [E::PayeeReturned { complete: true }, E::PayeeReturned { complete: false }, E::PayeeContested, E::AnswerWindowPassed, E::Taken, E::Decided(Outcome::Return)] {
                assert!(next_claim_status(ended, step).is_err(), "{ended:?} {step:?}");
            }
        }
        for step in [E::PayeeContested, E::AnswerWindowPassed, E::Taken, E::Decided(Outcome::Reject)] {
            assert!(next_claim_status(S::LegalRoute, step).is_err(), "{step:?}");
        }
        assert!(next_claim_status(S::InReview, E::PayeeContested).is_err(), "contested once");
        assert!(next_claim_status(S::InReview, E::AnswerWindowPassed).is_err());
        assert!(S::ALL.iter().all(|s| ClaimStatus::parse(s.as_str()) == Some(*s)));
        assert!(ClaimReason::ALL.iter().all(|r| ClaimReason::parse(r.as_str()) == Some(*r)));
    }

    #[test]
    fn returns_never_exceed_what_is_claimed() {
        assert_eq!(check_return(100, 100, 0), Ok(()));
        assert_eq!(check_return(40, 100, 60), Ok(()));
        assert_eq!(check_return(41, 100, 60), Err(ReturnRefusal::BeyondClaimed { amount_fen: 41, outstanding_fen: 40 }));
        assert_eq!(check_return(0, 100, 0), Err(ReturnRefusal::NotPositive));
        assert_eq!(check_return(-5, 100, 0), Err(ReturnRefusal::NotPositive));
        assert_eq!(check_return(1, 100, 100), Err(ReturnRefusal::BeyondClaimed { amount_fen: 1, outstanding_fen: 0 }));
    }

    #[test]
    fn a_precautionary_hold_only_when_the_risk_is_high() {
        let plain = HoldFacts { payee_available_fen: 5_000, ..HoldFacts::default() };
        assert_eq!(precautionary_hold_fen(plain, 3_000), 0);
        for risky in [HoldFacts { impersonation_warned: true, ..plain }, HoldFacts { fraud_marker: true, ..plain }, HoldFacts { payee_blocked_payer: true, ..plain }] {
            assert_eq!(precautionary_hold_fen(risky, 3_000), 3_000, "up to the claimed amount");
            assert_eq!(precautionary_hold_fen(HoldFacts { payee_available_fen: 1_200, ..risky }, 3_000), 1_200, "what is there");
            assert_eq!(precautionary_hold_fen(HoldFacts { payee_available_fen: 0, ..risky }, 3_000), 0, "nothing there");
        }
    }

    #[test]
    fn deadlines_and_compensation_days() {
        let mut policy = ClaimsPolicy::default();
        policy.reasons.insert("fraud".into(), ServiceLevels { acknowledgement_hours: 4, first_contact_hours: 24, resolution_days: 15 });
        assert_eq!(policy.validate(), Ok(()));
        let d = policy.deadlines(ClaimReason::Fraud, 0);
        assert_eq!((d.acknowledgement_us, d.first_contact_us, d.resolution_us, d.payee_answer_us), (4 * HOUR_US, 24 * HOUR_US, 15 * DAY_US, 72 * HOUR_US));
        let d = policy.deadlines(ClaimReason::WrongRecipient, 10);
        assert_eq!((d.acknowledgement_us, d.resolution_us), (10 + 24 * HOUR_US, 10 + 30 * DAY_US));
        assert_eq!(compensation_days_owed(100, 100), 0);
        assert_eq!(compensation_days_owed(100, 100 + DAY_US - 1), 0);
        assert_eq!(compensation_days_owed(100, 100 + DAY_US), 1);
        assert_eq!(compensation_days_owed(100, 100 + 3 * DAY_US + 5), 3);
        assert_eq!(next_compensation_at(100, 0), 100 + DAY_US);
        assert_eq!(next_compensation_at(100, 2), 100 + 3 * DAY_US);
        assert!(policy.within_filing_window(0, 90 * DAY_US));
        assert!(!policy.within_filing_window(0, 90 * DAY_US + 1));
        policy.reasons.insert("lost_wallet".into(), ServiceLevels::default());
        assert!(policy.validate().is_err());
        assert!(ClaimsPolicy { hold_hours: 24 * 31, ..ClaimsPolicy::default() }.validate().is_err());
        assert!(ClaimsPolicy { trace_hops: 0, ..ClaimsPolicy::default() }.validate().is_err());
    }

    #[test]
    fn references_and_sentences() {
        let id = uuid::Uuid::parse_str("01936b2e-1c2d-7abc-8def-0123456789ab").unwrap();
        assert_eq!(reference(&id), "RC-23456789AB");
        let zh = Notice::ClaimAgainstYou.sentence(Lang::Zh, "RC-1", Some(12_345), None);
        assert!(zh.contains("¥123.45") && zh.contains("RC-1"), "{zh}");
        let en = Notice::Message.sentence(Lang::En, "RC-1", None, Some("Please send a receipt."));
        assert!(en.ends_with("Please send a receipt."), "{en}");
    }
}
