use std::sync::Arc;
use std::time::{Duration, Instant};

use audiobook_organizer::logs::writer::LogWriter;
use audiobook_organizer::ops::BusSink;
use audiobook_organizer::ops::events::EventBus;
use audiobook_organizer::store::{
    LogLevel, Mutation, Operation, OperationStatus, Priority, RedbStore, Store,
};

use crate::helpers::TestDir;

fn op(id: &str) -> Operation {
    let mut op = Operation::new(
        id.into(),
        "t",
        Priority::Normal,
        serde_json::Value::Null,
        None,
    );
    op.status = OperationStatus::Running;
    op
}

#[test]
fn lines_are_durable_ordered_counted_and_tailable() {
    let dir = TestDir::new();
    let path = dir.path().join("s.redb");
    {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&path).unwrap());
        store
            .apply(
                &[
                    Mutation::PutOperation(op("A")),
                    Mutation::PutOperation(op("B")),
                ],
                true,
            )
            .unwrap();
        let writer = LogWriter::start(store.clone(), Arc::new(BusSink(EventBus::default())));
        for i in 1..=5000u64 {
            writer.log(
                "A",
                if i % 10 == 0 {
                    LogLevel::Warn
                } else {
                    LogLevel::Info
                },
                format!("line {i}"),
                None,
            );
            if i % 1000 == 0 {
                writer.log("B", LogLevel::Info, format!("b {i}"), None);
            }
        }
        writer.flush().unwrap();
        writer.shutdown();
    }
    // Reopened from disk: nothing acknowledged was lost.
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.count_logs("A").unwrap(), 5000);
    assert_eq!(store.count_logs("B").unwrap(), 5);
    let tail = store.tail_logs("A", 3).unwrap();
    assert_eq!(
        tail.iter().map(|l| l.id).collect::<Vec<_>>(),
        [4998, 4999, 5000]
    );
    assert_eq!(tail[2].message, "line 5000");
    let after = store.logs_after("A", 4990, 100).unwrap();
    assert_eq!(after.first().unwrap().id, 4991);
    assert_eq!(after.len(), 10);
    let all = store.logs_after("A", 0, usize::MAX).unwrap();
    assert!(
        all.windows(2)
            .all(|w| w[0].id + 1 == w[1].id && w[0].created_at <= w[1].created_at)
    );
    assert_eq!(store.tail_logs("B", 100).unwrap().len(), 5);
    assert!(store.tail_logs("C", 10).unwrap().is_empty());
}

#[test]
fn a_lone_line_is_on_disk_within_250_ms() {
    let dir = TestDir::new();
    let path = dir.path().join("s.redb");
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&path).unwrap());
    store
        .apply(&[Mutation::PutOperation(op("A"))], true)
        .unwrap();
    let writer = LogWriter::start(store.clone(), Arc::new(BusSink(EventBus::default())));
    let start = Instant::now();
    writer.log("A", LogLevel::Info, "hello".into(), None);
    // Committed durably by the writer on its own, without a flush call.
    while store.count_logs("A").unwrap() == 0 {
        assert!(
            start.elapsed() < Duration::from_millis(250),
            "not committed within 250 ms"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
