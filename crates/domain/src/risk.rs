//! The risk decision: what Recourse does about a payment, and why, in words
//! a person understands. Pure: the shell gathers the facts ([`RiskFacts`]),
//! this module decides ([`decide`]) under the operator's [`RiskPolicy`]
//! (the `[risk]` section of the settings file, validated at start).
//!
//! Every reason has a code and an action. The default policy:
//! - `impersonation_suspected` (the payee's nickname or avatar looks like
//!   one of the payer's contacts', and the payee is someone else) → `warn`;
//!   if the payer confirms anyway, the transfer is delayed 24 hours (they can
//!   revoke it until it arrives), whatever its size;
//! - `fraud_marker` (a confirmed fraud report on the payee, not yet decayed)
//!   → `block`; `blocked_payer` (the payee blocked the payer after an
//!   earlier payment) → `warn`;
//! - `first_payment`, `new_account`, `payee_unverified`,
//!   `recent_profile_change`, `unusual_amount` and open `fraud_reports` are
//!   shown as warnings and change nothing below the name-completion
//!   threshold; at or above it, name completion answers the identity
//!   question, and only `unusual_amount` adds a `warn`.
//!
//! Decisions order by severity: `allow` < `warn` < `require_name_completion`
//! < `delay` < `block`; the strongest reason decides.

use serde::{Deserialize, Serialize};

use crate::confirmation::Warning;
use crate::transfer::{Arrival, TransferMode};

const DAY_US: i64 = 24 * 3600 * 1_000_000;

/// What Recourse does about a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    /// Ask the payer to confirm (409 `confirmation-required`).
    Warn,
    /// Ask the payer to complete the payee's masked name, whatever the amount.
    RequireNameCompletion,
    /// Let the money go as a delayed transfer the payer can revoke.
    Delay,
    /// Refuse (422 `transfer-blocked`).
    Block,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Warn => "warn",
            Decision::RequireNameCompletion => "require_name_completion",
            Decision::Delay => "delay",
            Decision::Block => "block",
        }
    }
}

/// Every reason code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    ImpersonationSuspected,
    FraudMarker,
    BlockedPayer,
    FirstPayment,
    NewAccount,
    PayeeUnverified,
    RecentProfileChange,
    UnusualAmount,
    FraudReports,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::ImpersonationSuspected => "impersonation_suspected",
            ReasonCode::FraudMarker => "fraud_marker",
            ReasonCode::BlockedPayer => "blocked_payer",
            ReasonCode::FirstPayment => "first_payment",
            ReasonCode::NewAccount => "new_account",
            ReasonCode::PayeeUnverified => "payee_unverified",
            ReasonCode::RecentProfileChange => "recent_profile_change",
            ReasonCode::UnusualAmount => "unusual_amount",
            ReasonCode::FraudReports => "fraud_reports",
        }
    }
}

/// The language of the sentences shown (from `Accept-Language`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// The first supported language of an `Accept-Language` header (by
    /// quality, then order); Chinese when none is supported or given.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(header) = header else { return Lang::Zh };
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map_or(Lang::Zh, |(_, lang)| lang)
    }

    /// A customer's stored language setting: `zh-CN` or `en`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Lang> {
        [Lang::Zh, Lang::En].into_iter().find(|lang| lang.tag() == tag)
    }
}

/// What each reason does, and the thresholds that raise them: the `[risk]`
/// settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskPolicy {
    pub impersonation: Decision,
    /// What a confirmed `warn` for impersonation becomes (`delay` by default).
    pub impersonation_confirmed: Decision,
    /// How long that delay is: 2 or 24 hours (a delayed transfer's arrivals).
    pub impersonation_delay_hours: i64,
    pub fraud_marker: Decision,
    pub blocked_payer: Decision,
    /// Below the name-completion threshold.
    pub first_payment: Decision,
    pub new_account: Decision,
    pub payee_unverified: Decision,
    pub recent_profile_change: Decision,
    pub unusual_amount: Decision,
    pub fraud_reports: Decision,
    /// At or above the threshold (name completion answers who the payee is).
    pub unusual_amount_above_threshold: Decision,
    /// A payee account younger than this is `new_account`.
    pub new_account_days: i64,
    /// A nickname or avatar changed within this is `recent_profile_change`.
    pub recent_change_days: i64,
    /// `unusual_amount`: at least this many times the median of the payer's
    /// recent transfers …
    pub unusual_amount_factor: i64,
    /// … and at least this many fen …
    pub unusual_amount_min_fen: i64,
    /// … once the payer has sent at least this many transfers.
    pub unusual_amount_history_min: usize,
    /// A confirmed fraud marker's weight halves every this many days.
    pub marker_half_life_days: i64,
    /// Markers weigh together at least this (1.0 = one fresh marker) to count.
    pub marker_weight_min: f64,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        RiskPolicy {
            impersonation: Decision::Warn,
            impersonation_confirmed: Decision::Delay,
            impersonation_delay_hours: 24,
            fraud_marker: Decision::Block,
            blocked_payer: Decision::Warn,
            first_payment: Decision::Allow,
            new_account: Decision::Allow,
            payee_unverified: Decision::Allow,
            recent_profile_change: Decision::Allow,
            unusual_amount: Decision::Allow,
            fraud_reports: Decision::Allow,
            unusual_amount_above_threshold: Decision::Warn,
            new_account_days: 7,
            recent_change_days: 7,
            unusual_amount_factor: 10,
            unusual_amount_min_fen: 50_000,
            unusual_amount_history_min: 5,
            marker_half_life_days: 90,
            marker_weight_min: 0.5,
        }
    }
}

impl RiskPolicy {
    /// Refuse settings that would make the decision misbehave.
    /// Whether confirmed fraud markers (confirmed at these times) still
    /// stand at `now_us`, after their decay.
    pub fn marker_stands(&self, confirmed_at_us: &[i64], now_us: i64) -> bool {
        marker_weight(confirmed_at_us, self.marker_half_life_days, now_us) >= self.marker_weight_min
    }

    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, &str); 8] = [
            (matches!(self.impersonation_delay_hours, 2 | 24), "risk.impersonation_delay_hours must be 2 or 24"),
            (self.impersonation_confirmed != Decision::Warn, "risk.impersonation_confirmed cannot be warn (the payer already confirmed)"),
            ((0..=365).contains(&self.new_account_days), "risk.new_account_days must be 0 to 365"),
            ((0..=365).contains(&self.recent_change_days), "risk.recent_change_days must be 0 to 365"),
            ((2..=1_000).contains(&self.unusual_amount_factor), "risk.unusual_amount_factor must be 2 to 1000"),
            (self.unusual_amount_min_fen >= 1 && (1..=100).contains(&self.unusual_amount_history_min), "risk.unusual_amount_min_fen must be positive and risk.unusual_amount_history_min 1 to 100"),
            ((1..=3_650).contains(&self.marker_half_life_days), "risk.marker_half_life_days must be 1 to 3650"),
            (self.marker_weight_min > 0.0 && self.marker_weight_min <= 100.0, "risk.marker_weight_min must be above 0 and at most 100"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, problem)) => Err((*problem).to_owned()),
            None => Ok(()),
        }
    }
}

impl RiskPolicy {
    /// The mode a transfer takes when the decision is `delay`: a delayed
    /// transfer arriving after `impersonation_delay_hours` (never sooner
    /// than it would have; a transfer awaiting acceptance already waits for
    /// the payee, and stays as it is).
    pub fn delayed_mode(&self, mode: TransferMode, now_us: i64) -> TransferMode {
        let (arrival, hours) = if self.impersonation_delay_hours == 2 { (Arrival::After2Hours, 2) } else { (Arrival::After24Hours, 24) };
        let arrives_at_us = now_us + hours * 3_600_000_000;
        match mode {
            TransferMode::Instant => TransferMode::Delayed { arrival, arrives_at_us },
            TransferMode::Delayed { arrives_at_us: at, .. } if at < arrives_at_us => TransferMode::Delayed { arrival, arrives_at_us },
            other => other,
        }
    }
}

/// A contact the payee looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookAlike {
    pub contact_id: String,
    pub nickname: bool,
    pub avatar: bool,
}

/// Everything the decision looks at, gathered by the shell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RiskFacts {
    pub now_us: i64,
    /// `None` for a preview (no amount yet).
    pub amount_fen: Option<i64>,
    pub at_or_above_threshold: bool,
    pub look_alikes: Vec<LookAlike>,
    pub paid_before: bool,
    pub payee_verified: bool,
    pub payee_created_at_us: i64,
    /// The payee's latest nickname or avatar change after creating the account.
    pub payee_profile_changed_at_us: Option<i64>,
    pub open_fraud_reports: u32,
    /// When each confirmed fraud marker on the payee was confirmed.
    pub fraud_markers_confirmed_at_us: Vec<i64>,
    pub payee_blocked_payer: bool,
    /// The payer's recent transfer amounts (newest first).
    pub payer_recent_amounts_fen: Vec<i64>,
}

/// One reason, with what it does under the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Reason {
    pub code: ReasonCode,
    pub action: Decision,
    pub look_alike: Option<LookAlike>,
    pub count: Option<u32>,
}

/// The decision and every reason behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskDecision {
    pub decision: Decision,
    pub reasons: Vec<Reason>,
}

impl RiskDecision {
    pub fn has(&self, code: ReasonCode) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }

    /// The warnings shown to the payer, in `lang`, in the one warning shape.
    pub fn warnings(&self, lang: Lang) -> Vec<Warning> {
        self.reasons.iter().map(|reason| warning(reason, lang)).collect()
    }
}

/// The combined weight of confirmed markers at `now_us` (1.0 = one fresh marker).
pub fn marker_weight(confirmed_at_us: &[i64], half_life_days: i64, now_us: i64) -> f64 {
    let half_life_us = (half_life_days.max(1) * DAY_US) as f64;
    confirmed_at_us.iter().map(|at| 0.5f64.powf(((now_us - at).max(0)) as f64 / half_life_us)).sum()
}

fn median(amounts: &[i64]) -> i64 {
    let mut sorted = amounts.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

/// Decide. `confirmed`: the payer resent with `confirm_warnings`.
pub fn decide(facts: &RiskFacts, policy: &RiskPolicy, confirmed: bool) -> RiskDecision {
    let mut reasons = Vec::new();
    let mut add = |code, action, look_alike: Option<LookAlike>, count: Option<u32>| reasons.push(Reason { code, action, look_alike, count });
    for look_alike in &facts.look_alikes {
        let action = if confirmed { policy.impersonation_confirmed } else { policy.impersonation };
        add(ReasonCode::ImpersonationSuspected, action, Some(look_alike.clone()), None);
    }
    if policy.marker_stands(&facts.fraud_markers_confirmed_at_us, facts.now_us) {
        add(ReasonCode::FraudMarker, policy.fraud_marker, None, None);
    }
    if facts.payee_blocked_payer {
        add(ReasonCode::BlockedPayer, policy.blocked_payer, None, None);
    }
    // Below the threshold these are the payer's information; above it name
    // completion has answered who the payee is.
    let shown = |below: Decision| if facts.at_or_above_threshold { Decision::Allow } else { below };
    if !facts.paid_before {
        add(ReasonCode::FirstPayment, shown(policy.first_payment), None, None);
    }
    if facts.now_us - facts.payee_created_at_us < policy.new_account_days * DAY_US {
        add(ReasonCode::NewAccount, shown(policy.new_account), None, None);
    }
    if !facts.payee_verified {
        add(ReasonCode::PayeeUnverified, shown(policy.payee_unverified), None, None);
    }
    if facts.payee_profile_changed_at_us.is_some_and(|at| facts.now_us - at < policy.recent_change_days * DAY_US) {
        add(ReasonCode::RecentProfileChange, shown(policy.recent_profile_change), None, None);
    }
    if let Some(amount) = facts.amount_fen {
        let history = &facts.payer_recent_amounts_fen;
        if history.len() >= policy.unusual_amount_history_min
            && amount >= policy.unusual_amount_min_fen
            && amount >= median(history).saturating_mul(policy.unusual_amount_factor)
        {
            let action = if facts.at_or_above_threshold { policy.unusual_amount_above_threshold } else { policy.unusual_amount };
            add(ReasonCode::UnusualAmount, action, None, None);
        }
    }
    if facts.open_fraud_reports > 0 {
        add(ReasonCode::FraudReports, shown(policy.fraud_reports), None, Some(facts.open_fraud_reports));
    }
    // A confirmed warning is answered: what remains is the strongest other action.
    let decision = reasons.iter().map(|r| r.action).filter(|action| !(confirmed && *action == Decision::Warn)).max().unwrap_or(Decision::Allow);
    RiskDecision { decision, reasons }
}

/// The sentence for a reason, in `lang`.
pub fn warning(reason: &Reason, lang: Lang) -> Warning {
    let signals = reason.look_alike.as_ref().map(|l| {
        let mut signals = Vec::new();
        if l.nickname {
            signals.push("nickname".to_owned());
        }
        if l.avatar {
            signals.push("avatar".to_owned());
        }
        signals
    });
    let what = match (&signals, lang) {
        (Some(s), Lang::Zh) if s.len() == 2 => "昵称和头像",
        (Some(s), Lang::Zh) if s.first().is_some_and(|x| x == "avatar") => "头像",
        (Some(_), Lang::Zh) => "昵称",
        (Some(s), Lang::En) if s.len() == 2 => "nickname and avatar",
        (Some(s), Lang::En) if s.first().is_some_and(|x| x == "avatar") => "avatar",
        (Some(_), Lang::En) => "nickname",
        (None, _) => "",
    };
    let count = reason.count.unwrap_or(0);
    let message = match (reason.code, lang) {
        (ReasonCode::ImpersonationSuspected, Lang::Zh) => format!("此收款人的{what}与你的一位联系人相似，但不是同一个账户。骗子常冒充熟人：请先通过电话或当面确认。"),
        (ReasonCode::ImpersonationSuspected, Lang::En) => format!("This payee's {what} looks like one of your contacts', but it is a different account. Impostors copy friends: check by phone or in person first."),
        (ReasonCode::FraudMarker, Lang::Zh) => "此账户已被确认涉及诈骗，暂停向其付款。".to_owned(),
        (ReasonCode::FraudMarker, Lang::En) => "This account has been confirmed as involved in fraud; payments to it are stopped.".to_owned(),
        (ReasonCode::BlockedPayer, Lang::Zh) => "此收款人在收到你之前的付款后屏蔽了你。".to_owned(),
        (ReasonCode::BlockedPayer, Lang::En) => "This payee blocked you after an earlier payment from you.".to_owned(),
        (ReasonCode::FirstPayment, Lang::Zh) => "你是第一次向此人付款。".to_owned(),
        (ReasonCode::FirstPayment, Lang::En) => "This is your first payment to this person.".to_owned(),
        (ReasonCode::NewAccount, Lang::Zh) => "此账户是最近才注册的。".to_owned(),
        (ReasonCode::NewAccount, Lang::En) => "This account was opened recently.".to_owned(),
        (ReasonCode::PayeeUnverified, Lang::Zh) => "此人尚未完成实名认证，Recourse 无法确认其身份。".to_owned(),
        (ReasonCode::PayeeUnverified, Lang::En) => "This person has not verified their real name. Recourse cannot confirm who they are.".to_owned(),
        (ReasonCode::RecentProfileChange, Lang::Zh) => "此人最近更改了昵称或头像。".to_owned(),
        (ReasonCode::RecentProfileChange, Lang::En) => "This person changed their nickname or avatar recently.".to_owned(),
        (ReasonCode::UnusualAmount, Lang::Zh) => "这笔金额远高于你平时的付款。".to_owned(),
        (ReasonCode::UnusualAmount, Lang::En) => "This amount is far above what you usually send.".to_owned(),
        (ReasonCode::FraudReports, Lang::Zh) => format!("有 {count} 份尚未核实的举报涉及此账户。"),
        (ReasonCode::FraudReports, Lang::En) => format!("{count} unconfirmed report(s) concern this account."),
    };
    Warning {
        code: reason.code.as_str().to_owned(),
        message,
        contact_id: reason.look_alike.as_ref().map(|l| l.contact_id.clone()),
        signals,
        count: reason.count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000 * DAY_US;

    fn ordinary() -> RiskFacts {
        RiskFacts {
            now_us: NOW,
            amount_fen: Some(1_000),
            paid_before: true,
            payee_verified: true,
            payee_created_at_us: NOW - 400 * DAY_US,
            payer_recent_amounts_fen: vec![1_000; 10],
            ..RiskFacts::default()
        }
    }

    fn codes(decision: &RiskDecision) -> Vec<&'static str> {
        decision.reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn an_ordinary_payment_is_allowed_without_a_word() {
        let decision = decide(&ordinary(), &RiskPolicy::default(), false);
        assert_eq!((decision.decision, decision.reasons.len()), (Decision::Allow, 0));
    }

    #[test]
    fn information_never_changes_the_decision_below_the_threshold() {
        let facts = RiskFacts {
            paid_before: false,
            payee_verified: false,
            payee_created_at_us: NOW - DAY_US,
            payee_profile_changed_at_us: Some(NOW - DAY_US),
            open_fraud_reports: 3,
            amount_fen: Some(90_000),
            payer_recent_amounts_fen: vec![100; 10],
            ..ordinary()
        };
        let decision = decide(&facts, &RiskPolicy::default(), false);
        assert_eq!(decision.decision, Decision::Allow);
        assert_eq!(codes(&decision), ["first_payment", "new_account", "payee_unverified", "recent_profile_change", "unusual_amount", "fraud_reports"]);
        // Above it only an unusual amount asks for confirmation.
        let above = RiskFacts { at_or_above_threshold: true, amount_fen: Some(200_000), ..facts };
        let decision = decide(&above, &RiskPolicy::default(), false);
        assert_eq!(decision.decision, Decision::Warn);
        assert!(decision.reasons.iter().all(|r| (r.code == ReasonCode::UnusualAmount) == (r.action == Decision::Warn)));
        assert_eq!(decide(&above, &RiskPolicy::default(), true).decision, Decision::Allow);
    }

    #[test]
    fn impersonation_warns_then_delays_once_confirmed() {
        let facts = RiskFacts { look_alikes: vec![LookAlike { contact_id: "c".into(), nickname: true, avatar: true }], paid_before: false, ..ordinary() };
        let warned = decide(&facts, &RiskPolicy::default(), false);
        assert_eq!(warned.decision, Decision::Warn);
        let zh = warned.warnings(Lang::Zh);
        assert_eq!((zh[0].code.as_str(), zh[0].contact_id.as_deref()), ("impersonation_suspected", Some("c")));
        assert_eq!(zh[0].signals.as_deref(), Some(&["nickname".to_owned(), "avatar".to_owned()][..]));
        assert!(zh[0].message.contains("昵称和头像"));
        assert!(warned.warnings(Lang::En)[0].message.contains("nickname and avatar"));
        assert_eq!(decide(&facts, &RiskPolicy::default(), true).decision, Decision::Delay);
    }

    #[test]
    fn a_fresh_fraud_marker_blocks_and_decays() {
        let facts = RiskFacts { fraud_markers_confirmed_at_us: vec![NOW - DAY_US], ..ordinary() };
        assert_eq!(decide(&facts, &RiskPolicy::default(), true).decision, Decision::Block);
        let old = RiskFacts { fraud_markers_confirmed_at_us: vec![NOW - 200 * DAY_US], ..ordinary() };
        assert_eq!(decide(&old, &RiskPolicy::default(), false).decision, Decision::Allow);
        assert!((marker_weight(&[NOW - 90 * DAY_US], 90, NOW) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_payee_who_blocked_the_payer_asks_for_confirmation() {
        let facts = RiskFacts { payee_blocked_payer: true, ..ordinary() };
        assert_eq!(decide(&facts, &RiskPolicy::default(), false).decision, Decision::Warn);
        assert_eq!(decide(&facts, &RiskPolicy::default(), true).decision, Decision::Allow);
    }

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Lang::from_accept_language(None), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("fr, en;q=0.5, zh;q=0.8")), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("de")), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some(";;;q=x,,")), Lang::Zh);
    }

    #[test]
    fn the_default_policy_is_valid_and_bad_ones_are_refused() {
        assert_eq!(RiskPolicy::default().validate(), Ok(()));
        let bad = RiskPolicy { impersonation_delay_hours: 0, ..RiskPolicy::default() };
        assert!(bad.validate().is_err());
    }
}
