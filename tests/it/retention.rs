//! Retention at the store level: bounded steps, counters kept, and a store
//! file that stops growing under a steady write-and-expire workload.

use audiobook_organizer::clock::SystemClock;
use audiobook_organizer::config::FeatureConfig;
use audiobook_organizer::maintenance::{Stopper, retention};
use audiobook_organizer::metrics::Metrics;
use audiobook_organizer::sample::finished_operation_with_logs;
use audiobook_organizer::store::{RedbStore, Store, now};

use crate::helpers::TestDir;

/// `ops` finished operations, ended 10 days ago, `lines` log lines each.
fn expired_batch(store: &dyn Store, cycle: usize, ops: usize, lines: u64) {
    let old = now() - time::Duration::days(10);
    for o in 0..ops {
        let batch = finished_operation_with_logs(&format!("C{cycle:03}OP{o:03}"), old, lines);
        store.apply(&batch, true).unwrap();
    }
}

#[test]
fn the_store_file_stops_growing_when_logs_expire_as_fast_as_they_come() {
    let t = TestDir::new();
    let path = t.path().join("r.redb");
    let store = RedbStore::open(&path).unwrap();
    let cfg = FeatureConfig {
        retention_batch: 1_000,
        ..Default::default()
    };
    let metrics = Metrics::default();
    let mut sizes = Vec::new();
    for cycle in 0..10 {
        expired_batch(&store, cycle, 10, 2_000);
        let out =
            retention::run_once(&store, &SystemClock, &cfg, &metrics, &Stopper::default()).unwrap();
        assert_eq!(out.lines_deleted, 20_000, "cycle {cycle}");
        assert_eq!(store.count_logs(&format!("C{cycle:03}OP000")).unwrap(), 0);
        // Records stay (90 days).
        assert!(
            store
                .get_operation(&format!("C{cycle:03}OP000"))
                .unwrap()
                .is_some()
        );
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    // Freed pages are reused: the file stays within a bound instead of
    // growing with every round (ten rounds kept would be ~10x the first).
    let early = *sizes[..5].iter().max().unwrap();
    let late = *sizes[5..].iter().max().unwrap();
    assert!(late <= 2 * early, "the store kept growing: {sizes:?}");
}
