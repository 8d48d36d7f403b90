//! Health pings: a store read and a small durable write, timed and
//! classified `ok` / `slow` / `degraded`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::HealthThresholds;
use crate::store::{Mutation, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Slow,
    Degraded,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Slow => "slow",
            Self::Degraded => "degraded",
        }
    }
    /// 0 ok, 1 slow, 2 degraded (for the gauge).
    pub fn level(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthReading {
    pub status: HealthStatus,
    pub read_latency_ms: f64,
    pub write_latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: time::OffsetDateTime,
}

/// `degraded` if a probe failed or crossed its degraded threshold, `slow`
/// if it crossed its slow threshold, else `ok`.
pub fn classify(
    read: Duration,
    write: Duration,
    failed: bool,
    t: &HealthThresholds,
) -> HealthStatus {
    if failed || read >= t.read_degraded || write >= t.write_degraded {
        HealthStatus::Degraded
    } else if read >= t.read_slow || write >= t.write_slow {
        HealthStatus::Slow
    } else {
        HealthStatus::Ok
    }
}

/// Measures one read and one durable write.
pub fn probe(store: &dyn Store, t: &HealthThresholds, now: time::OffsetDateTime) -> HealthReading {
    let start = Instant::now();
    let read = store.count_books();
    let read_took = start.elapsed();
    let start = Instant::now();
    let write = store.apply(
        &[Mutation::SetMeta {
            key: "health_probe".into(),
            value: now.unix_timestamp().to_string().into_bytes(),
        }],
        true,
    );
    let write_took = start.elapsed();
    let error = read
        .err()
        .map(|e| format!("read: {e}"))
        .or(write.err().map(|e| format!("write: {e}")));
    HealthReading {
        status: classify(read_took, write_took, error.is_some(), t),
        read_latency_ms: read_took.as_secs_f64() * 1000.0,
        write_latency_ms: write_took.as_secs_f64() * 1000.0,
        error,
        checked_at: now,
    }
}

/// The latest reading, shared by the ping task and its readers.
#[derive(Default)]
pub struct HealthMonitor {
    latest: Mutex<Option<HealthReading>>,
}

impl HealthMonitor {
    /// Stores the reading; returns the previous status if it changed.
    pub fn record(&self, r: HealthReading) -> Option<Option<HealthStatus>> {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let before = latest.as_ref().map(|l| l.status);
        let changed = before != Some(r.status);
        *latest = Some(r);
        changed.then_some(before)
    }

    pub fn latest(&self) -> Option<HealthReading> {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> HealthThresholds {
        HealthThresholds {
            interval: Duration::from_secs(5),
            read_slow: Duration::from_millis(50),
            write_slow: Duration::from_millis(250),
            read_degraded: Duration::from_millis(1000),
            write_degraded: Duration::from_millis(5000),
        }
    }

    #[test]
    fn classification_follows_the_thresholds() {
        let ms = Duration::from_millis;
        assert_eq!(classify(ms(1), ms(10), false, &t()), HealthStatus::Ok);
        assert_eq!(classify(ms(60), ms(10), false, &t()), HealthStatus::Slow);
        assert_eq!(classify(ms(1), ms(300), false, &t()), HealthStatus::Slow);
        assert_eq!(
            classify(ms(1), ms(6000), false, &t()),
            HealthStatus::Degraded
        );
        assert_eq!(classify(ms(1), ms(1), true, &t()), HealthStatus::Degraded);
    }

    #[test]
    fn monitor_reports_changes_only() {
        let m = HealthMonitor::default();
        let r = |s| HealthReading {
            status: s,
            read_latency_ms: 0.0,
            write_latency_ms: 0.0,
            error: None,
            checked_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(m.record(r(HealthStatus::Ok)), Some(None));
        assert_eq!(m.record(r(HealthStatus::Ok)), None);
        assert_eq!(
            m.record(r(HealthStatus::Slow)),
            Some(Some(HealthStatus::Ok))
        );
    }
}
