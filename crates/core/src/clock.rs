//! The wall clock that time-based features read (retention, daily growth
//! snapshots, the integrity schedule), behind a trait so tests can move time
//! forward instead of sleeping for days.

use std::sync::Mutex;

use time::{Date, OffsetDateTime, UtcOffset};

pub trait Clock: Send + Sync {
    /// The current instant, in UTC.
    fn now(&self) -> OffsetDateTime;
    /// The local UTC offset in effect at `t`.
    fn local_offset(&self, t: OffsetDateTime) -> UtcOffset;

    /// The current local date and time.
    fn local_now(&self) -> OffsetDateTime {
        let now = self.now();
        now.to_offset(self.local_offset(now))
    }
    fn local_today(&self) -> Date {
        self.local_now().date()
    }
}

/// The real clock; the local offset comes from the C library (TZ, /etc/localtime).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn local_offset(&self, t: OffsetDateTime) -> UtcOffset {
        system_offset(t.unix_timestamp())
    }
}

/// `localtime_r` is thread-safe, unlike the time crate's local-offset lookup
/// that refuses to run once threads exist.
fn system_offset(unix: i64) -> UtcOffset {
    let t: libc::time_t = unix as libc::time_t;
    // SAFETY: `tm` is a plain C struct of integers (and a pointer that may
    // be null): all zeroes is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r writes only `tm`.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return UtcOffset::UTC;
    }
    UtcOffset::from_whole_seconds(tm.tm_gmtoff as i32).unwrap_or(UtcOffset::UTC)
}

/// A clock that stands still until moved; for tests and benchmarks.
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
    offset: UtcOffset,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime, offset: UtcOffset) -> Self {
        Self {
            now: Mutex::new(start),
            offset,
        }
    }

    pub fn set(&self, t: OffsetDateTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    pub fn advance(&self, d: time::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn local_offset(&self, _t: OffsetDateTime) -> UtcOffset {
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    #[test]
    fn manual_clock_reports_local_dates_with_its_offset() {
        let c = ManualClock::new(datetime!(2026-11-28 23:30 UTC), offset!(+2));
        assert_eq!(c.local_today().to_string(), "2026-11-29");
        c.advance(time::Duration::hours(24));
        assert_eq!(c.local_today().to_string(), "2026-11-30");
    }

    #[test]
    fn system_offset_is_within_a_day() {
        let o = SystemClock.local_offset(OffsetDateTime::now_utc());
        assert!(o.whole_hours().abs() <= 14);
    }
}
