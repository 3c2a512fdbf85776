//! Confirmation of payee: when a payer must prove they know who they are
//! paying before money moves, how wrong answers are limited so that the
//! check never becomes a way to discover a stranger's name, what a transfer
//! records of what the payer saw and did, and the warnings shown.
//!
//! The rules (README "Confirmation of payee"):
//! - Below `name_completion_threshold_fen` a transfer needs no step-up, also
//!   to an unverified payee (the transfer records the `payee_unverified`
//!   warning).
//! - At or above it, a payee with a verified name must have their masked
//!   name completed ([`StepUp::CompleteName`]); a payee without one has no
//!   name to complete, so the payer must say explicitly that they pay an
//!   unverified person (`confirm_unverified_payee`, recorded)
//!   ([`StepUp::ConfirmUnverified`]). It never passes silently.
//! - Wrong answers are limited per payer→payee pair (`attempts_max` within
//!   `lock_seconds`, counted since the pair's last right answer) and per
//!   payer across all payees (`daily_failures_max` in 24 hours). Reaching
//!   either limit locks completion until the oldest counted wrong answer
//!   leaves its window ([`gate`]).

use serde::{Deserialize, Serialize};

use crate::names::NameCheck;


/// 24 hours, the window of the per-payer daily limit.
pub const DAY_US: i64 = 24 * 3600 * 1_000_000;

/// The limits of name completion (from `limits.` settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletionLimits {
    pub threshold_fen: i64,
    pub attempts_max: u32,
    pub lock_seconds: i64,
    pub daily_failures_max: u32,
}

/// Wrong answers the store counted for a payer and a payee, each with the
/// time of the oldest one counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    /// For this pair, within `lock_seconds` and since its last right answer.
    pub pair_wrong: u32,
    pub pair_oldest_us: Option<i64>,
    /// For this payer, all payees, within 24 hours.
    pub daily_wrong: u32,
    pub daily_oldest_us: Option<i64>,
}

impl AttemptCounts {
    /// The windows these counts cover, for a store query at `now_us`:
    /// (pair window start, daily window start), both exclusive.
    pub fn windows(limits: &CompletionLimits, now_us: i64) -> (i64, i64) {
        (now_us.saturating_sub(limits.lock_seconds.saturating_mul(1_000_000)), now_us.saturating_sub(DAY_US))
    }
}

/// Whether the payer may answer now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Open { attempts_left: u32 },
    Locked { retry_after_seconds: i64 },
}

/// The gate for these counts at `now_us`. When both limits are reached the
/// later unlock wins.
pub fn gate(counts: &AttemptCounts, limits: &CompletionLimits, now_us: i64) -> Gate {
    let until = |oldest: Option<i64>, window_us: i64| oldest.unwrap_or(now_us).saturating_add(window_us);
    let mut locked_until = None::<i64>;
    if counts.pair_wrong >= limits.attempts_max {
        locked_until = Some(until(counts.pair_oldest_us, limits.lock_seconds.saturating_mul(1_000_000)));
    }
    if counts.daily_wrong >= limits.daily_failures_max {
        let daily = until(counts.daily_oldest_us, DAY_US);
        locked_until = Some(locked_until.map_or(daily, |pair| pair.max(daily)));
    }
    match locked_until {
        Some(until_us) => Gate::Locked { retry_after_seconds: ((until_us - now_us).max(1) + 999_999) / 1_000_000 },
        None => Gate::Open {
            attempts_left: (limits.attempts_max - counts.pair_wrong).min(limits.daily_failures_max - counts.daily_wrong),
        },
    }
}

/// The counts after one more wrong answer at `now_us`.
pub fn after_wrong_answer(counts: &AttemptCounts, now_us: i64) -> AttemptCounts {
    AttemptCounts {
        pair_wrong: counts.pair_wrong + 1,
        pair_oldest_us: Some(counts.pair_oldest_us.unwrap_or(now_us)),
        daily_wrong: counts.daily_wrong + 1,
        daily_oldest_us: Some(counts.daily_oldest_us.unwrap_or(now_us)),
    }
}

/// What a transfer asks of its payer before money moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepUp {
    None,
    /// Complete the payee's masked name.
    CompleteName,
    /// The payee has no verified name: confirm paying them anyway.
    ConfirmUnverified,
}

/// The step-up for a transfer of `amount_fen` (`risk_asks`: a risk rule asks
/// for it whatever the amount).
pub fn step_up(amount_fen: i64, limits: &CompletionLimits, payee_verified: bool, risk_asks: bool) -> StepUp {
    if amount_fen < limits.threshold_fen && !risk_asks {
        StepUp::None
    } else if payee_verified {
        StepUp::CompleteName
    } else {
        StepUp::ConfirmUnverified
    }
}

/// A warning shown to the payer, in one shape everywhere: `{"code",
/// "message", …}`; the codes and sentences are the risk decision's
/// (`risk::warning`). Impersonation warnings name the contact the payee
/// looks like and what looks alike (`signals`); `fraud_reports` its `count`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// An explicit confirmation a payer gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    ConfirmUnverifiedPayee,
    ConfirmNoMatch,
    /// The payer confirmed the risk decision's warnings (`confirm_warnings`).
    ConfirmWarnings,
}

/// The masked-name completion a transfer went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionRecord {
    pub required: bool,
    /// Answers given for this payee in the current window, this one included.
    pub attempts: u32,
    pub passed: bool,
}

/// The typed-name check a transfer carried (`expected_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameCheckRecord {
    pub result: NameCheckResult,
}

/// A typed-name check's answer, with the meaning Europe's Verification of
/// Payee gives it; `not_possible` when the payee has no verified name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameCheckResult {
    Match,
    CloseMatch,
    NoMatch,
    NotPossible,
}

impl NameCheckResult {
    pub fn as_str(self) -> &'static str {
        match self {
            NameCheckResult::Match => "match",
            NameCheckResult::CloseMatch => "close_match",
            NameCheckResult::NoMatch => "no_match",
            NameCheckResult::NotPossible => "not_possible",
        }
    }
}

impl From<NameCheck> for NameCheckResult {
    fn from(check: NameCheck) -> Self {
        match check {
            NameCheck::Match => NameCheckResult::Match,
            NameCheck::CloseMatch => NameCheckResult::CloseMatch,
            NameCheck::NoMatch => NameCheckResult::NoMatch,
        }
    }
}

/// What the payer saw and did before a transfer: stored with the transfer
/// (`transfers.checks`) and shown in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferChecks {
    pub payer_verified: bool,
    pub payee_verified: bool,
    /// The payee's masked legal name as shown to the payer (null: unverified).
    pub payee_masked_name_shown: Option<String>,
    pub payee_requires_acceptance: bool,
    pub name_completion: CompletionRecord,
    pub name_check: Option<NameCheckRecord>,
    pub warnings: Vec<Warning>,
    pub confirmations: Vec<Confirmation>,
    /// The risk decision and its reason codes.
    pub risk: RiskRecord,
    /// Why the transfer was made a delayed one (the risk decision's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_reason: Option<String>,
}

/// The risk decision as a transfer records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskRecord {
    pub decision: String,
    pub reasons: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: CompletionLimits = CompletionLimits { threshold_fen: 100_000, attempts_max: 3, lock_seconds: 86_400, daily_failures_max: 10 };

    #[test]
    fn step_up_follows_the_threshold_and_the_payee() {
        assert_eq!(step_up(99_999, &LIMITS, true, false), StepUp::None);
        assert_eq!(step_up(99_999, &LIMITS, false, false), StepUp::None);
        assert_eq!(step_up(100_000, &LIMITS, true, false), StepUp::CompleteName);
        assert_eq!(step_up(100_000, &LIMITS, false, false), StepUp::ConfirmUnverified);
        assert_eq!(step_up(1, &LIMITS, true, true), StepUp::CompleteName, "a risk rule asks whatever the amount");
    }

    #[test]
    fn three_wrong_answers_lock_the_pair_for_a_day_from_the_first() {
        let now = 1_000 * DAY_US;
        let mut counts = AttemptCounts::default();
        assert_eq!(gate(&counts, &LIMITS, now), Gate::Open { attempts_left: 3 });
        counts = after_wrong_answer(&counts, now);
        counts = after_wrong_answer(&counts, now + 1_000_000);
        assert_eq!(gate(&counts, &LIMITS, now + 2_000_000), Gate::Open { attempts_left: 1 });
        counts = after_wrong_answer(&counts, now + 2_000_000);
        assert_eq!(gate(&counts, &LIMITS, now + 2_000_000), Gate::Locked { retry_after_seconds: 86_400 - 2 });
    }

    #[test]
    fn the_daily_limit_spans_payees_and_the_later_unlock_wins() {
        let now = 1_000 * DAY_US;
        let counts = AttemptCounts { pair_wrong: 0, pair_oldest_us: None, daily_wrong: 9, daily_oldest_us: Some(now - 3_600_000_000) };
        assert_eq!(gate(&counts, &LIMITS, now), Gate::Open { attempts_left: 1 });
        let counts = after_wrong_answer(&counts, now);
        assert_eq!(gate(&counts, &LIMITS, now), Gate::Locked { retry_after_seconds: 86_400 - 3_600 });
        let both = AttemptCounts { pair_wrong: 3, pair_oldest_us: Some(now), daily_wrong: 10, daily_oldest_us: Some(now - 3_600_000_000) };
        assert_eq!(gate(&both, &LIMITS, now), Gate::Locked { retry_after_seconds: 86_400 });
    }
}
