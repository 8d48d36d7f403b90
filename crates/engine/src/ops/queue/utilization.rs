//! Worker utilization: the busy fraction of each worker and of all of them
//! over the last 1, 5 and 15 minutes, from exact busy intervals.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

pub const WINDOWS: [(&str, Duration); 3] = [
    ("1m", Duration::from_secs(60)),
    ("5m", Duration::from_secs(300)),
    ("15m", Duration::from_secs(900)),
];
const KEEP: Duration = Duration::from_secs(900);
/// Intervals kept per worker; older ones are merged away.
const MAX_INTERVALS: usize = 4096;

#[derive(Default)]
struct WorkerBusy {
    busy_since: Option<Instant>,
    operation: Option<String>,
    done: VecDeque<(Instant, Instant)>,
}

impl WorkerBusy {
    fn busy_in(&self, from: Instant, now: Instant) -> Duration {
        let mut total = Duration::ZERO;
        for (s, e) in self.done.iter().rev() {
            if *e <= from {
                break;
            }
            total += e.saturating_duration_since((*s).max(from));
        }
        if let Some(s) = self.busy_since {
            total += now.saturating_duration_since(s.max(from));
        }
        total
    }
}

pub struct Utilization {
    started: Instant,
    workers: Vec<WorkerBusy>,
}

/// Busy fractions (0..1) per window.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BusyFractions {
    #[serde(rename = "1m")]
    pub m1: f64,
    #[serde(rename = "5m")]
    pub m5: f64,
    #[serde(rename = "15m")]
    pub m15: f64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerUtilization {
    pub worker: usize,
    pub busy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    pub utilization: BusyFractions,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UtilizationReport {
    pub overall: BusyFractions,
    pub workers: Vec<WorkerUtilization>,
}

impl Utilization {
    pub fn new(workers: usize, now: Instant) -> Self {
        Self {
            started: now,
            workers: (0..workers).map(|_| WorkerBusy::default()).collect(),
        }
    }

    pub fn begin(&mut self, worker: usize, operation: &str, now: Instant) {
        if let Some(w) = self.workers.get_mut(worker) {
            w.busy_since = Some(now);
            w.operation = Some(operation.to_string());
        }
    }

    pub fn end(&mut self, worker: usize, now: Instant) {
        let Some(w) = self.workers.get_mut(worker) else {
            return;
        };
        if let Some(s) = w.busy_since.take() {
            w.done.push_back((s, now));
        }
        w.operation = None;
        while w
            .done
            .front()
            .is_some_and(|(_, e)| now.saturating_duration_since(*e) > KEEP)
            || w.done.len() > MAX_INTERVALS
        {
            w.done.pop_front();
        }
    }

    /// Fractions over each window; a window longer than the queue has
    /// existed counts from its start.
    pub fn report(&self, now: Instant) -> UtilizationReport {
        let alive = now.saturating_duration_since(self.started);
        let fractions = |busy: &dyn Fn(Instant) -> Duration, n: usize| {
            let mut out = [0.0; 3];
            for (i, (_, win)) in WINDOWS.iter().enumerate() {
                let span = (*win).min(alive);
                if span.is_zero() || n == 0 {
                    continue;
                }
                let from = now.checked_sub(span).unwrap_or(self.started);
                out[i] = (busy(from).as_secs_f64() / (span.as_secs_f64() * n as f64)).min(1.0);
            }
            BusyFractions {
                m1: out[0],
                m5: out[1],
                m15: out[2],
            }
        };
        let workers = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| WorkerUtilization {
                worker: i,
                busy: w.busy_since.is_some(),
                operation_id: w.operation.clone(),
                utilization: fractions(&|from| w.busy_in(from, now), 1),
            })
            .collect();
        let overall = fractions(
            &|from| self.workers.iter().map(|w| w.busy_in(from, now)).sum(),
            self.workers.len(),
        );
        UtilizationReport { overall, workers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_fraction_per_window() {
        let t0 = Instant::now();
        let mut u = Utilization::new(2, t0);
        // Worker 0 busy for the last 30 s of a 15-minute life; worker 1 idle.
        let now = t0 + Duration::from_secs(900);
        u.begin(0, "op", now - Duration::from_secs(30));
        let r = u.report(now);
        assert!((r.workers[0].utilization.m1 - 0.5).abs() < 1e-6);
        assert!((r.workers[0].utilization.m5 - 0.1).abs() < 1e-6);
        assert!((r.workers[0].utilization.m15 - 30.0 / 900.0).abs() < 1e-6);
        assert_eq!(r.workers[1].utilization.m1, 0.0);
        assert!((r.overall.m1 - 0.25).abs() < 1e-6);
        assert!(r.workers[0].busy);
        u.end(0, now);
        let later = now + Duration::from_secs(60);
        let r = u.report(later);
        assert_eq!(r.workers[0].utilization.m1, 0.0);
        assert!((r.workers[0].utilization.m5 - 0.1).abs() < 1e-6);
    }

    #[test]
    fn young_queue_counts_from_its_start() {
        let t0 = Instant::now();
        let mut u = Utilization::new(1, t0);
        u.begin(0, "op", t0);
        let r = u.report(t0 + Duration::from_secs(10));
        assert!((r.workers[0].utilization.m15 - 1.0).abs() < 1e-6);
    }
}
