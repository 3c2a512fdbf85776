//! Rates: how often something may happen, as the generic cell rate
//! algorithm (GCRA) decides it — a token bucket kept as one number per
//! subject, the *theoretical arrival time* (`tat`): the moment the bucket
//! would be full again. Taking `cost` tokens moves it `cost × interval`
//! later; a take is allowed while the bucket would still hold them
//! (`tat − now ≤ burst × interval`). Integer microseconds throughout.
//!
//! The store keeps `tat` per subject (in memory on SQLite, where one server
//! owns the store; in a table on PostgreSQL, where every instance sees it,
//! with the same arithmetic in SQL); this module is the rule both follow.

/// A rate: at most `burst` tokens at once, refilled `refill` tokens every
/// `period_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub refill: u32,
    pub period_us: i64,
}

/// The answer to a take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// Taken; the subject's new `tat`.
    Allowed { tat_us: i64 },
    /// Not enough tokens: the bucket holds `cost` again after this long.
    Refused { retry_after_us: i64 },
}

impl Rate {
    /// Per `period_us`, `limit` tokens, and at most `limit` at once.
    pub const fn per(limit: u32, period_us: i64) -> Rate {
        Rate { burst: limit, refill: limit, period_us }
    }

    /// Microseconds one token takes to come back (at least 1).
    pub fn interval_us(&self) -> i64 {
        (self.period_us / i64::from(self.refill.max(1))).max(1)
    }

    /// How far ahead of now `tat` may run: the whole bucket.
    pub fn tolerance_us(&self) -> i64 {
        self.interval_us().saturating_mul(i64::from(self.burst))
    }

    /// Take `cost` tokens at `now_us` from a bucket whose `tat` is `tat_us`
    /// (`None`: never used, so full).
    pub fn take(&self, tat_us: Option<i64>, now_us: i64, cost: u32) -> Take {
        let start = tat_us.map_or(now_us, |tat| tat.max(now_us));
        let next = start.saturating_add(self.interval_us().saturating_mul(i64::from(cost)));
        let ahead = next - now_us;
        if ahead <= self.tolerance_us() {
            Take::Allowed { tat_us: next }
        } else {
            Take::Refused { retry_after_us: ahead - self.tolerance_us() }
        }
    }

    /// Give back `cost` tokens taken by a request that turned out to be a
    /// replay (replays are never charged).
    pub fn refund(&self, tat_us: i64, cost: u32) -> i64 {
        tat_us.saturating_sub(self.interval_us().saturating_mul(i64::from(cost)))
    }
}

/// Whole seconds to wait, rounded up, at least 1: what `Retry-After` says.
pub fn retry_after_seconds(retry_after_us: i64) -> i64 {
    (retry_after_us.max(1) + 999_999) / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    #[test]
    fn a_full_bucket_gives_its_burst_and_then_refuses() {
        let rate = Rate::per(120, MINUTE);
        let mut tat = None;
        for n in 0..120 {
            match rate.take(tat, 0, 1) {
                Take::Allowed { tat_us } => tat = Some(tat_us),
                refused => panic!("take {n} refused: {refused:?}"),
            }
        }
        // The 121st waits for one token: half a second at 120 a minute.
        assert_eq!(rate.take(tat, 0, 1), Take::Refused { retry_after_us: 500_000 });
        assert!(matches!(rate.take(tat, 500_000, 1), Take::Allowed { .. }));
        assert!(matches!(rate.take(tat, 499_999, 1), Take::Refused { retry_after_us: 1 }));
    }

    #[test]
    fn the_lookup_budget_charges_a_missing_phone_twenty_times_an_existing_one() {
        let rate = Rate { burst: 1000, refill: 20, period_us: MINUTE };
        assert_eq!(rate.interval_us(), 3_000_000);
        let mut tat = None;
        for _ in 0..50 {
            let Take::Allowed { tat_us } = rate.take(tat, 0, 20) else { panic!("refused early") };
            tat = Some(tat_us);
        }
        // Empty: one existing-account lookup needs one token, three seconds.
        assert_eq!(rate.take(tat, 0, 1), Take::Refused { retry_after_us: 3_000_000 });
        // A missing phone needs twenty: a minute.
        assert_eq!(rate.take(tat, 0, 20), Take::Refused { retry_after_us: MINUTE });
        // After a minute, twenty tokens are back: one missing phone, or twenty lookups.
        assert!(matches!(rate.take(tat, MINUTE, 20), Take::Allowed { .. }));
    }

    #[test]
    fn an_idle_bucket_fills_up_to_its_burst_and_no_further() {
        let rate = Rate::per(2, 1_000_000);
        let Take::Allowed { tat_us } = rate.take(None, 0, 2) else { panic!() };
        // A long pause does not bank more than the burst.
        let later = 3_600_000_000;
        let Take::Allowed { tat_us: after_two } = rate.take(Some(tat_us), later, 2) else { panic!() };
        assert_eq!(after_two, later + 1_000_000);
        assert!(matches!(rate.take(Some(after_two), later, 1), Take::Refused { .. }));
    }

    #[test]
    fn a_refund_gives_back_exactly_what_was_taken() {
        let rate = Rate::per(1, 1_000_000);
        let Take::Allowed { tat_us } = rate.take(None, 10, 1) else { panic!() };
        assert!(matches!(rate.take(Some(tat_us), 10, 1), Take::Refused { .. }));
        let refunded = rate.refund(tat_us, 1);
        assert_eq!(refunded, 10);
        assert!(matches!(rate.take(Some(refunded), 10, 1), Take::Allowed { .. }));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(1), 1);
        assert_eq!(retry_after_seconds(0), 1);
        assert_eq!(retry_after_seconds(1_000_000), 1);
        assert_eq!(retry_after_seconds(1_000_001), 2);
    }
}
