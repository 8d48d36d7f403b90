//! The waiting set: first come first served within a priority, higher
//! priority first, and priority aging so that low priority never starves.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::store::Priority;

use super::PriorityDepth;

#[derive(Debug, Clone)]
pub struct Waiting {
    pub id: String,
    pub op_type: String,
    pub priority: Priority,
    /// When it started waiting, on the monotonic clock.
    pub since: Instant,
}

/// Index 0 is high priority, 2 is low.
fn rank(p: Priority) -> usize {
    match p {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    }
}

#[derive(Default)]
pub struct WaitingSet {
    /// One FIFO per priority, by arrival sequence.
    lanes: [BTreeMap<u64, Waiting>; 3],
    index: HashMap<String, (usize, u64)>,
    next_seq: u64,
}

impl WaitingSet {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn push(&mut self, w: Waiting) {
        let lane = rank(w.priority);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.index.insert(w.id.clone(), (lane, seq));
        self.lanes[lane].insert(seq, w);
    }

    pub fn remove(&mut self, id: &str) -> Option<Waiting> {
        let (lane, seq) = self.index.remove(id)?;
        self.lanes[lane].remove(&seq)
    }

    /// The next to run among those `may_start` allows: the first such of
    /// each lane gains one level per `aging` it has waited (zero disables
    /// aging); the best level wins, and among equals whoever came first.
    /// The others keep their places.
    pub fn pop_next(
        &mut self,
        now: Instant,
        aging: Duration,
        may_start: impl Fn(&Waiting) -> bool,
    ) -> Option<Waiting> {
        let mut best: Option<(usize, u64, usize)> = None;
        for (lane, fifo) in self.lanes.iter().enumerate() {
            let Some((seq, w)) = fifo.iter().find(|(_, w)| may_start(w)) else {
                continue;
            };
            let levels = if aging.is_zero() {
                0
            } else {
                (now.saturating_duration_since(w.since).as_nanos() / aging.as_nanos()) as usize
            };
            let effective = lane.saturating_sub(levels);
            if best.is_none_or(|(e, s, _)| (effective, *seq) < (e, s)) {
                best = Some((effective, *seq, lane));
            }
        }
        let (_, seq, lane) = best?;
        let w = self.lanes[lane].remove(&seq)?;
        self.index.remove(&w.id);
        Some(w)
    }

    pub fn depth(&self) -> PriorityDepth {
        PriorityDepth {
            high: self.lanes[0].len(),
            normal: self.lanes[1].len(),
            low: self.lanes[2].len(),
        }
    }

    /// How long the longest-waiting operation has waited.
    pub fn oldest_wait(&self, now: Instant) -> Duration {
        self.lanes
            .iter()
            .filter_map(|l| l.first_key_value())
            .map(|(_, w)| now.saturating_duration_since(w.since))
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(id: &str, p: Priority, since: Instant) -> Waiting {
        Waiting {
            id: id.into(),
            op_type: "scan".into(),
            priority: p,
            since,
        }
    }

    fn order(set: &mut WaitingSet, now: Instant, aging: Duration) -> Vec<String> {
        std::iter::from_fn(|| set.pop_next(now, aging, |_| true).map(|w| w.id)).collect()
    }

    #[test]
    fn high_first_then_fifo_without_aging() {
        let t = Instant::now();
        let mut s = WaitingSet::default();
        s.push(w("low1", Priority::Low, t));
        s.push(w("norm1", Priority::Normal, t));
        s.push(w("high1", Priority::High, t));
        s.push(w("norm2", Priority::Normal, t));
        assert_eq!(
            order(&mut s, t, Duration::ZERO),
            ["high1", "norm1", "norm2", "low1"]
        );
    }

    #[test]
    fn a_waiting_low_operation_gains_a_level_per_interval() {
        let t0 = Instant::now();
        let aging = Duration::from_secs(300);
        let mut s = WaitingSet::default();
        s.push(w("low", Priority::Low, t0));
        let later = t0 + Duration::from_secs(301);
        s.push(w("normal", Priority::Normal, later));
        s.push(w("high", Priority::High, later));
        // After one interval low counts as normal and came first: it beats
        // the fresh normal, not the high.
        assert_eq!(order(&mut s, later, aging), ["high", "low", "normal"]);

        let mut s = WaitingSet::default();
        s.push(w("low", Priority::Low, t0));
        let much_later = t0 + Duration::from_secs(601);
        s.push(w("high", Priority::High, much_later));
        // After two intervals it counts as high and is older.
        assert_eq!(order(&mut s, much_later, aging), ["low", "high"]);
    }

    #[test]
    fn removal_and_depth() {
        let t = Instant::now();
        let mut s = WaitingSet::default();
        s.push(w("a", Priority::Low, t));
        s.push(w("b", Priority::High, t));
        assert_eq!(s.depth().low, 1);
        assert!(s.remove("a").is_some());
        assert!(s.remove("a").is_none());
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.oldest_wait(t + Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn an_operation_that_may_not_start_keeps_its_place_and_the_next_one_goes() {
        let now = Instant::now();
        let mut set = WaitingSet::default();
        for (id, kind) in [("a", "scan"), ("b", "scan"), ("c", "organize")] {
            set.push(Waiting {
                id: id.into(),
                op_type: kind.into(),
                priority: Priority::Normal,
                since: now,
            });
        }
        let no_scans = |w: &Waiting| w.op_type != "scan";
        let aging = Duration::ZERO;
        assert_eq!(set.pop_next(now, aging, no_scans).unwrap().id, "c");
        assert!(set.pop_next(now, aging, no_scans).is_none());
        assert_eq!(set.pop_next(now, aging, |_| true).unwrap().id, "a");
        assert_eq!(set.pop_next(now, aging, |_| true).unwrap().id, "b");
    }
}
