//! Claims, name completion and the risk decision at their edges: deadlines
//! in exact microseconds (written as literals, not with the crate's own
//! constants, so that a wrong constant fails), each limit of the claims
//! policy one past and at the limit, every outcome's name, the completion
//! gate's counts, and which risk reasons apply just inside and just outside
//! their windows (mutation testing, `scripts/mutants`).

use recourse_domain::claim::{ClaimReason, ClaimsPolicy, Notice, Outcome, ServiceLevels, compensation_days_owed, next_compensation_at};
use recourse_domain::confirmation::NameCheckResult;
use recourse_domain::risk::Lang;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 86_400_000_000;

// ---------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------

#[test]
fn outcome_names() {
    for (outcome, text) in [(Outcome::Return, "return"), (Outcome::Reject, "reject"), (Outcome::LegalRoute, "legal_route")] {
        assert_eq!(outcome.as_str(), text);
        assert_eq!(Outcome::parse(text), Some(outcome));
    }
    assert_eq!(Outcome::parse(""), None);
    assert_eq!(Outcome::parse("returned"), None);
}

#[test]
fn notice_names_and_sentences() {
    let names = [
        (Notice::ClaimFiled, "claim_filed"),
        (Notice::ClaimAgainstYou, "claim_against_you"),
        (Notice::FundsHeld, "funds_held"),
        (Notice::MoneyReturned, "money_returned"),
        (Notice::PayeeContested, "payee_contested"),
        (Notice::Escalated, "escalated"),
        (Notice::AgentAssigned, "agent_assigned"),
        (Notice::Message, "message"),
        (Notice::Decided, "decided"),
        (Notice::Compensated, "compensated"),
        (Notice::Overdue, "overdue"),
        (Notice::HoldEnded, "hold_ended"),
        (Notice::DisclosureMade, "disclosure_made"),
    ];
    for (notice, text) in names {
        assert_eq!(notice.as_str(), text);
    }
    // An empty message adds nothing, not even a space.
    let plain = Notice::Decided.sentence(Lang::En, "RC-1", None, None);
    assert_eq!(plain, "Claim RC-1 has been decided.");
    assert_eq!(Notice::Decided.sentence(Lang::En, "RC-1", None, Some("")), plain);
    assert_eq!(Notice::Decided.sentence(Lang::En, "RC-1", None, Some("See you.")), "Claim RC-1 has been decided. See you.");
    assert_eq!(Notice::FundsHeld.sentence(Lang::En, "RC-2", Some(1_205), None), "¥12.05 on your account is held because of claim RC-2.");
    for (result, text) in [
        (NameCheckResult::Match, "match"),
        (NameCheckResult::CloseMatch, "close_match"),
        (NameCheckResult::NoMatch, "no_match"),
        (NameCheckResult::NotPossible, "not_possible"),
    ] {
        assert_eq!(result.as_str(), text);
    }
}

#[test]
fn claim_deadlines_in_microseconds() {
    let policy = ClaimsPolicy::default();
    let filed = 1_000;
    let d = policy.deadlines(ClaimReason::Fraud, filed);
    assert_eq!(d.payee_answer_us, filed + 72 * HOUR);
    assert_eq!(d.acknowledgement_us, filed + 24 * HOUR);
    assert_eq!(d.first_contact_us, filed + 72 * HOUR);
    assert_eq!(d.resolution_us, filed + 30 * DAY);
    assert_eq!(d.resolution_us, filed + 2_592_000_000_000);
    assert_eq!(policy.hold_expiry(5), 5 + 72 * HOUR);
    assert_eq!(ClaimsPolicy { hold_hours: 2, ..ClaimsPolicy::default() }.hold_expiry(-5), -5 + 7_200_000_000);
    assert_eq!(policy.hold_max_us(), 30 * DAY);
    assert_eq!(ClaimsPolicy { hold_max_days: 2, ..ClaimsPolicy::default() }.hold_max_us(), 172_800_000_000);
    assert_eq!(compensation_days_owed(0, DAY - 1), 0);
    assert_eq!(compensation_days_owed(0, DAY), 1);
    assert_eq!(compensation_days_owed(7, 7 + 2 * DAY), 2);
    assert_eq!(next_compensation_at(7, 0), 7 + DAY);
    assert_eq!(next_compensation_at(7, 1), 7 + 2 * DAY);
}

#[test]
fn the_filing_window_counts_from_the_payment() {
    let policy = ClaimsPolicy::default();
    let made = 400 * DAY;
    assert!(policy.within_filing_window(made, made));
    assert!(policy.within_filing_window(made, made + 90 * DAY));
    assert!(!policy.within_filing_window(made, made + 90 * DAY + 1));
    let short = ClaimsPolicy { filing_window_days: 1, ..ClaimsPolicy::default() };
    assert!(short.within_filing_window(made, made + DAY));
    assert!(!short.within_filing_window(made, made + DAY + 1));
}

#[test]
fn the_claims_policy_at_its_limits() {
    let ok = ClaimsPolicy::default();
    assert_eq!(ok.validate(), Ok(()));
    // The hold may last exactly as long as its maximum, not an hour more.
    assert_eq!(ClaimsPolicy { hold_hours: 720, hold_max_days: 30, ..ok.clone() }.validate(), Ok(()));
    assert!(ClaimsPolicy { hold_hours: 721, hold_max_days: 30, ..ok.clone() }.validate().is_err());
    assert_eq!(ClaimsPolicy { hold_hours: 24, hold_max_days: 1, ..ok.clone() }.validate(), Ok(()));
    assert!(ClaimsPolicy { hold_hours: 25, hold_max_days: 1, ..ok.clone() }.validate().is_err());
    // Service levels: hours up to a year (8760), days up to 365, each alone.
    let with_levels = |levels: ServiceLevels| ClaimsPolicy { service_levels: levels, ..ok.clone() }.validate();
    let base = ServiceLevels::default();
    assert_eq!(with_levels(ServiceLevels { acknowledgement_hours: 8_760, first_contact_hours: 8_760, resolution_days: 365 }), Ok(()));
    assert_eq!(with_levels(ServiceLevels { acknowledgement_hours: 1, first_contact_hours: 1, resolution_days: 1 }), Ok(()));
    for bad in [
        ServiceLevels { acknowledgement_hours: 0, ..base },
        ServiceLevels { acknowledgement_hours: 8_761, ..base },
        ServiceLevels { first_contact_hours: 0, ..base },
        ServiceLevels { first_contact_hours: 8_761, ..base },
        ServiceLevels { resolution_days: 0, ..base },
        ServiceLevels { resolution_days: 366, ..base },
    ] {
        assert_eq!(with_levels(bad), Err("claims service levels for default: hours 1 to 8760, days 1 to 365".to_owned()), "{bad:?}");
    }
    // Per-reason levels are checked too, under their reason's name.
    let mut policy = ok.clone();
    policy.reasons.insert("fraud".into(), ServiceLevels { resolution_days: 366, ..base });
    assert_eq!(policy.validate(), Err("claims service levels for fraud: hours 1 to 8760, days 1 to 365".to_owned()));
    let mut policy = ok.clone();
    policy.reasons.insert("fraud".into(), ServiceLevels { acknowledgement_hours: 8_760, ..base });
    assert_eq!(policy.validate(), Ok(()));
}

// ---------------------------------------------------------------------------
// Name completion
// ---------------------------------------------------------------------------

mod completion {
    use recourse_domain::confirmation::{AttemptCounts, CompletionLimits, Gate, after_wrong_answer, gate};

    use super::DAY;

    const LIMITS: CompletionLimits = CompletionLimits { threshold_fen: 100_000, attempts_max: 3, lock_seconds: 3_600, daily_failures_max: 10 };

    #[test]
    fn the_windows_the_store_counts_wrong_answers_in() {
        let now = 10 * DAY;
        assert_eq!(AttemptCounts::windows(&LIMITS, now), (now - 3_600_000_000, now - 86_400_000_000));
        let long = CompletionLimits { lock_seconds: 86_400, ..LIMITS };
        assert_eq!(AttemptCounts::windows(&long, 5), (5 - 86_400_000_000, 5 - 86_400_000_000));
        // Saturating, never wrapping.
        assert_eq!(AttemptCounts::windows(&CompletionLimits { lock_seconds: i64::MAX, ..LIMITS }, 0), (i64::MIN + 1, -86_400_000_000));
    }

    #[test]
    fn the_gate_counts_down_and_locks_at_the_limit() {
        let now = 10 * DAY;
        let mut counts = AttemptCounts::default();
        for left in [3, 2, 1] {
            assert_eq!(gate(&counts, &LIMITS, now), Gate::Open { attempts_left: left });
            counts = after_wrong_answer(&counts, now);
        }
        assert_eq!(counts, AttemptCounts { pair_wrong: 3, pair_oldest_us: Some(now), daily_wrong: 3, daily_oldest_us: Some(now) });
        assert_eq!(gate(&counts, &LIMITS, now), Gate::Locked { retry_after_seconds: 3_600 });
        assert_eq!(gate(&counts, &LIMITS, now + 3_600_000_000 - 1), Gate::Locked { retry_after_seconds: 1 });
        // The oldest wrong answer is kept, not replaced.
        let later = after_wrong_answer(&counts, now + 5);
        assert_eq!((later.pair_oldest_us, later.daily_oldest_us), (Some(now), Some(now)));
    }
}

// ---------------------------------------------------------------------------
// The risk decision
// ---------------------------------------------------------------------------

mod risk {
    use recourse_domain::risk::{Decision, Lang, LookAlike, Reason, ReasonCode, RiskDecision, RiskFacts, RiskPolicy, decide, marker_weight, warning};
    use recourse_domain::transfer::{Arrival, TransferMode};

    use super::{DAY, HOUR};

    const NOW: i64 = 1_000 * DAY;

    /// A payment that raises no reason at all.
    fn ordinary() -> RiskFacts {
        RiskFacts {
            now_us: NOW,
            amount_fen: Some(1_000),
            paid_before: true,
            payee_verified: true,
            payee_created_at_us: NOW - 400 * DAY,
            payer_recent_amounts_fen: vec![1_000; 10],
            ..RiskFacts::default()
        }
    }

    fn has(facts: &RiskFacts, policy: &RiskPolicy, code: ReasonCode) -> bool {
        let decision = decide(facts, policy, false);
        assert_eq!(decision.has(code), decision.reasons.iter().any(|r| r.code == code));
        decision.has(code)
    }

    #[test]
    fn decision_names() {
        let names = [
            (Decision::Allow, "allow"),
            (Decision::Warn, "warn"),
            (Decision::RequireNameCompletion, "require_name_completion"),
            (Decision::Delay, "delay"),
            (Decision::Block, "block"),
        ];
        for (decision, text) in names {
            assert_eq!(decision.as_str(), text);
        }
        let ordinary = decide(&ordinary(), &RiskPolicy::default(), false);
        assert!(!ordinary.has(ReasonCode::NewAccount) && !ordinary.has(ReasonCode::FirstPayment));
        let first = decide(&RiskFacts { paid_before: false, ..self::ordinary() }, &RiskPolicy::default(), false);
        assert!(first.has(ReasonCode::FirstPayment) && !first.has(ReasonCode::NewAccount));
        assert!(!RiskDecision { decision: Decision::Allow, reasons: vec![] }.has(ReasonCode::FraudMarker));
    }

    #[test]
    fn a_new_account_is_new_for_exactly_its_days() {
        let policy = RiskPolicy::default();
        assert_eq!(policy.new_account_days, 7);
        let created = |age: i64| RiskFacts { payee_created_at_us: NOW - age, ..ordinary() };
        assert!(has(&created(7 * DAY - 1), &policy, ReasonCode::NewAccount));
        assert!(!has(&created(7 * DAY), &policy, ReasonCode::NewAccount));
        assert!(has(&created(0), &policy, ReasonCode::NewAccount));
        let changed = |age: i64| RiskFacts { payee_profile_changed_at_us: Some(NOW - age), ..ordinary() };
        assert!(has(&changed(7 * DAY - 1), &policy, ReasonCode::RecentProfileChange));
        assert!(!has(&changed(7 * DAY), &policy, ReasonCode::RecentProfileChange));
        assert!(!has(&ordinary(), &policy, ReasonCode::RecentProfileChange));
    }

    #[test]
    fn an_unusual_amount_is_measured_against_the_median() {
        // Median of five is the third: 3,000; ten times it is 30,000.
        let policy = RiskPolicy { unusual_amount_min_fen: 1, unusual_amount_history_min: 5, ..RiskPolicy::default() };
        let facts = |amount: i64| RiskFacts { amount_fen: Some(amount), payer_recent_amounts_fen: vec![5_000, 1_000, 4_000, 2_000, 3_000], ..ordinary() };
        assert!(has(&facts(30_000), &policy, ReasonCode::UnusualAmount));
        assert!(!has(&facts(29_999), &policy, ReasonCode::UnusualAmount));
        // Four of history are not enough.
        let short = RiskFacts { payer_recent_amounts_fen: vec![1_000; 4], ..facts(1_000_000) };
        assert!(!has(&short, &policy, ReasonCode::UnusualAmount));
        // An even count: the upper middle (index len / 2).
        let even = RiskFacts { amount_fen: Some(39_999), payer_recent_amounts_fen: vec![1_000, 2_000, 4_000, 9_000, 9_000, 3_000], ..ordinary() };
        assert!(!has(&even, &policy, ReasonCode::UnusualAmount), "median 4,000");
        assert!(has(&RiskFacts { amount_fen: Some(40_000), ..even }, &policy, ReasonCode::UnusualAmount));
    }

    #[test]
    fn a_fraud_marker_stands_for_its_half_life() {
        let policy = RiskPolicy::default();
        assert_eq!((policy.marker_half_life_days, policy.marker_weight_min), (90, 0.5));
        // One marker weighs 1 when new, 0.5 after 90 days: exactly the minimum.
        assert_eq!(marker_weight(&[NOW], 90, NOW), 1.0);
        assert_eq!(marker_weight(&[NOW - 90 * DAY], 90, NOW), 0.5);
        assert_eq!(marker_weight(&[NOW - 180 * DAY], 90, NOW), 0.25);
        assert!(policy.marker_stands(&[NOW - 90 * DAY], NOW));
        assert!(!policy.marker_stands(&[NOW - 90 * DAY - HOUR], NOW));
        assert!(policy.marker_stands(&[NOW - 180 * DAY, NOW - 180 * DAY], NOW), "two quarter-weights");
        assert!(!policy.marker_stands(&[], NOW));
    }

    #[test]
    fn languages() {
        assert_eq!(Lang::Zh.tag(), "zh-CN");
        assert_eq!(Lang::En.tag(), "en");
        assert_eq!(Lang::from_tag("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::from_tag("en"), Some(Lang::En));
        assert_eq!(Lang::from_tag("fr"), None);
        assert_eq!(Lang::from_tag(""), None);
        // Equal quality: the first listed wins.
        assert_eq!(Lang::from_accept_language(Some("en, zh")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("zh, en")), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("zh;q=0.5, en;q=0.5")), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("zh;q=0.5, en;q=0.6")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("fr")), Lang::Zh);
        assert_eq!(Lang::from_accept_language(None), Lang::Zh);
    }

    #[test]
    fn a_look_alike_warning_names_what_looks_alike() {
        let reason = |nickname: bool, avatar: bool| Reason {
            code: ReasonCode::ImpersonationSuspected,
            action: Decision::Warn,
            look_alike: Some(LookAlike { contact_id: "c1".into(), nickname, avatar }),
            count: None,
        };
        let cases = [
            (true, false, "此收款人的昵称与", "This payee's nickname looks", vec!["nickname"]),
            (false, true, "此收款人的头像与", "This payee's avatar looks", vec!["avatar"]),
            (true, true, "此收款人的昵称和头像与", "This payee's nickname and avatar looks", vec!["nickname", "avatar"]),
        ];
        for (nickname, avatar, zh, en, signals) in cases {
            let zh_warning = warning(&reason(nickname, avatar), Lang::Zh);
            assert!(zh_warning.message.starts_with(zh), "{}", zh_warning.message);
            let en_warning = warning(&reason(nickname, avatar), Lang::En);
            assert!(en_warning.message.starts_with(en), "{}", en_warning.message);
            assert_eq!(en_warning.signals, Some(signals.iter().map(|s| s.to_string()).collect()));
            assert_eq!(en_warning.contact_id.as_deref(), Some("c1"));
            assert_eq!(en_warning.code, "impersonation_suspected");
        }
    }

    #[test]
    fn the_risk_policy_at_its_limits() {
        let ok = RiskPolicy::default();
        assert_eq!(ok.validate(), Ok(()));
        let amount_problem = Err("risk.unusual_amount_min_fen must be positive and risk.unusual_amount_history_min 1 to 100".to_owned());
        assert_eq!(RiskPolicy { unusual_amount_min_fen: 0, ..ok.clone() }.validate(), amount_problem);
        assert_eq!(RiskPolicy { unusual_amount_min_fen: 1, ..ok.clone() }.validate(), Ok(()));
        assert_eq!(RiskPolicy { unusual_amount_history_min: 0, ..ok.clone() }.validate(), amount_problem);
        assert_eq!(RiskPolicy { unusual_amount_history_min: 101, ..ok.clone() }.validate(), amount_problem);
        assert_eq!(RiskPolicy { unusual_amount_history_min: 100, ..ok.clone() }.validate(), Ok(()));
        let weight_problem = Err("risk.marker_weight_min must be above 0 and at most 100".to_owned());
        assert_eq!(RiskPolicy { marker_weight_min: 0.0, ..ok.clone() }.validate(), weight_problem);
        assert_eq!(RiskPolicy { marker_weight_min: -1.0, ..ok.clone() }.validate(), weight_problem);
        assert_eq!(RiskPolicy { marker_weight_min: 100.5, ..ok.clone() }.validate(), weight_problem);
        assert_eq!(RiskPolicy { marker_weight_min: 100.0, ..ok.clone() }.validate(), Ok(()));
        assert_eq!(RiskPolicy { marker_weight_min: 0.001, ..ok.clone() }.validate(), Ok(()));
    }

    #[test]
    fn an_impersonation_delay_never_shortens_a_delay() {
        let two = RiskPolicy { impersonation_delay_hours: 2, ..RiskPolicy::default() };
        let day = RiskPolicy { impersonation_delay_hours: 24, ..RiskPolicy::default() };
        let now = 100;
        assert_eq!(two.delayed_mode(TransferMode::Instant, now), TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: 100 + 7_200_000_000 });
        assert_eq!(day.delayed_mode(TransferMode::Instant, now), TransferMode::Delayed { arrival: Arrival::After24Hours, arrives_at_us: 100 + 86_400_000_000 });
        // An earlier arrival is pushed back to the delay.
        let soon = TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: now + 7_200_000_000 };
        assert_eq!(day.delayed_mode(soon, now), TransferMode::Delayed { arrival: Arrival::After24Hours, arrives_at_us: now + 86_400_000_000 });
        assert_eq!(day.delayed_mode(TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: now + 86_400_000_000 - 1 }, now), TransferMode::Delayed { arrival: Arrival::After24Hours, arrives_at_us: now + 86_400_000_000 });
        // One that is already as late, or later, stays as it is.
        let as_late = TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: now + 86_400_000_000 };
        assert_eq!(day.delayed_mode(as_late, now), as_late);
        let later = TransferMode::Delayed { arrival: Arrival::After24Hours, arrives_at_us: now + 7_200_000_001 };
        assert_eq!(two.delayed_mode(later, now), later);
        // Money waiting for acceptance already waits.
        let asking = TransferMode::AcceptanceRequired { expires_at_us: now + 1 };
        assert_eq!(day.delayed_mode(asking, now), asking);
    }
}
