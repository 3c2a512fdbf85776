//! The service clock: the only place that reads the wall clock.
//!
//! Everything time-based (session expiry, arrivals, acceptance deadlines,
//! later SLAs) asks this clock. A server started with `--test-clock` gets a
//! clock that tests move forward through `POST /v1/test/clock`, so no test
//! sleeps. The test clock's offset lives in the store (`service_clock`), so
//! that every instance on one store agrees on the time: the service copies it
//! into this clock before each request and each scheduler round.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;
use jiff::tz::TimeZone;

#[derive(Clone)]
pub struct Clock {
    inner: Arc<ClockInner>,
}

struct ClockInner {
    /// Added to the wall clock; only ever non-zero on a test clock.
    offset_us: AtomicI64,
    adjustable: bool,
    zone: TimeZone,
}

/// Largest single advance accepted: ten years.
pub const ADVANCE_SECONDS_MAX: i64 = 10 * 366 * 24 * 3600;

impl Clock {
    pub fn system(zone: TimeZone) -> Clock {
        Clock { inner: Arc::new(ClockInner { offset_us: AtomicI64::new(0), adjustable: false, zone }) }
    }

    pub fn test(zone: TimeZone) -> Clock {
        Clock { inner: Arc::new(ClockInner { offset_us: AtomicI64::new(0), adjustable: true, zone }) }
    }

    pub fn is_test_clock(&self) -> bool {
        self.inner.adjustable
    }

    pub fn now(&self) -> Timestamp {
        let wall = Timestamp::now().as_microsecond();
        let shifted = wall.saturating_add(self.inner.offset_us.load(Ordering::SeqCst));
        Timestamp::from_microsecond(shifted).unwrap_or(Timestamp::MAX)
    }

    pub fn now_us(&self) -> i64 {
        self.now().as_microsecond()
    }

    /// Today's date in the operator's time zone (ages, statements).
    pub fn today(&self) -> jiff::civil::Date {
        self.now().to_zoned_datetime(self.inner.zone.clone()).date()
    }

    /// Set a test clock's offset to the one the store holds. The offset
    /// only grows, so a stale copy never moves the clock back. Returns
    /// `false` on a real clock, which never moves.
    pub fn set_offset_us(&self, offset_us: i64) -> bool {
        if !self.inner.adjustable {
            return false;
        }
        self.inner.offset_us.fetch_max(offset_us, Ordering::SeqCst);
        true
    }
}

/// RFC 3339 text for an instant stored as microseconds.
pub fn rfc3339(at_us: i64) -> String {
    Timestamp::from_microsecond(at_us).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_moves_only_when_told() {
        let clock = Clock::test(TimeZone::UTC);
        let before = clock.now_us();
        assert!(clock.set_offset_us(3_600_000_000));
        assert!(clock.now_us() - before >= 3_600_000_000);
        assert!(clock.set_offset_us(0), "a stale offset is ignored");
        assert!(clock.now_us() - before >= 3_600_000_000);
        assert!(!Clock::system(TimeZone::UTC).set_offset_us(1));
    }
}
