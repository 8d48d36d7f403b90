//! Circuit breaker: `closed` lets calls through and counts consecutive
//! failures; at the threshold it turns `open` and refuses calls; after
//! `open_for` one probe is let through (`half_open`): success closes it,
//! failure opens it again. Changes are published as
//! `circuit_breaker.state` events.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use crate::clock::Clock;

use serde_json::json;

use crate::ops::events::{Event, EventBus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
    /// 0 closed, 1 open, 2 half_open (the plan's gauge values).
    pub fn gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

struct Inner {
    state: BreakerState,
    failures: u32,
    opened_at: Option<OffsetDateTime>,
    probing: bool,
}

pub struct CircuitBreaker {
    name: String,
    threshold: u32,
    open_for: Duration,
    inner: Mutex<Inner>,
    bus: EventBus,
    /// The engine's clock: the open period passes by it.
    clock: Arc<dyn Clock>,
}

/// Refused: the circuit is open.
#[derive(Debug, Clone, Copy)]
pub struct Refused {
    pub retry_in: Duration,
}

impl CircuitBreaker {
    pub fn new(
        name: &str,
        threshold: u32,
        open_for: Duration,
        bus: EventBus,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            name: name.to_string(),
            threshold: threshold.max(1),
            open_for,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                failures: 0,
                opened_at: None,
                probing: false,
            }),
            bus,
            clock,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, inner: &mut Inner, to: BreakerState) {
        if inner.state == to {
            return;
        }
        let from = inner.state;
        inner.state = to;
        self.bus.publish(Event::new(
            "circuit_breaker.state",
            "",
            json!({ "source": self.name, "state": to.as_str(), "previous": from.as_str(), "failures": inner.failures }),
        ));
    }

    /// Asks to make a call; an open circuit refuses until `open_for` has
    /// passed, then lets exactly one probe through.
    pub fn allow(&self) -> Result<(), Refused> {
        let now = self.clock.now();
        let mut inner = self.lock();
        match inner.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open => {
                let since = (now - inner.opened_at.unwrap_or(now))
                    .try_into()
                    .unwrap_or(Duration::ZERO);
                if since >= self.open_for {
                    inner.probing = true;
                    self.set(&mut inner, BreakerState::HalfOpen);
                    Ok(())
                } else {
                    Err(Refused {
                        retry_in: self.open_for - since,
                    })
                }
            }
            BreakerState::HalfOpen if !inner.probing => {
                inner.probing = true;
                Ok(())
            }
            BreakerState::HalfOpen => Err(Refused {
                retry_in: Duration::ZERO,
            }),
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.lock();
        inner.failures = 0;
        inner.probing = false;
        self.set(&mut inner, BreakerState::Closed);
    }

    pub fn record_failure(&self) {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.failures = inner.failures.saturating_add(1);
        let reopen = inner.state == BreakerState::HalfOpen;
        inner.probing = false;
        if reopen || inner.failures >= self.threshold {
            inner.opened_at = Some(now);
            self.set(&mut inner, BreakerState::Open);
        }
    }
}

/// Every breaker of the process, by source name.
pub struct Breakers {
    bus: EventBus,
    clock: Arc<dyn Clock>,
    map: Mutex<BTreeMap<String, Arc<CircuitBreaker>>>,
}

impl Breakers {
    pub fn new(bus: EventBus, clock: Arc<dyn Clock>) -> Self {
        Self {
            bus,
            clock,
            map: Mutex::new(BTreeMap::new()),
        }
    }

    /// The breaker of `source`, created on first use and kept for good.
    pub fn get(&self, source: &str, threshold: u32, open_for: Duration) -> Arc<CircuitBreaker> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(source.to_string())
            .or_insert_with(|| {
                Arc::new(CircuitBreaker::new(
                    source,
                    threshold,
                    open_for,
                    self.bus.clone(),
                    self.clock.clone(),
                ))
            })
            .clone()
    }

    pub fn states(&self) -> Vec<(String, BreakerState)> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, b)| (k.clone(), b.state())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn breaker(threshold: u32, open_for: Duration) -> (CircuitBreaker, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::UNIX_EPOCH,
            time::UtcOffset::UTC,
        ));
        let b = CircuitBreaker::new("x", threshold, open_for, EventBus::default(), clock.clone());
        (b, clock)
    }

    #[test]
    fn opens_after_threshold_then_probes_and_closes() {
        let (b, clock) = breaker(5, Duration::from_secs(30));
        for _ in 0..4 {
            assert!(b.allow().is_ok());
            b.record_failure();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(time::Duration::seconds(29));
        let refused = b.allow().unwrap_err();
        assert_eq!(refused.retry_in, Duration::from_secs(1));
        clock.advance(time::Duration::seconds(1));
        assert!(b.allow().is_ok());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // Only one probe at a time.
        assert!(b.allow().is_err());
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let (b, clock) = breaker(1, Duration::from_secs(1));
        b.record_failure();
        clock.advance(time::Duration::seconds(2));
        assert!(b.allow().is_ok());
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(time::Duration::milliseconds(500));
        assert!(b.allow().is_err());
    }

    #[test]
    fn success_resets_the_count() {
        let (b, _) = breaker(3, Duration::from_secs(1));
        b.record_failure();
        b.record_failure();
        b.record_success();
        b.record_failure();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
