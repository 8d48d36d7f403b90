use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audiobook_organizer::logs::writer::LogWriter;
use audiobook_organizer::metrics::Metrics;
use audiobook_organizer::ops::events::EventBus;
use audiobook_organizer::ops::{BusSink, JobError, JobFn, Queue, QueueConfig, QueueError};
use audiobook_organizer::store::{
    LogLevel, Mutation, Operation, OperationStatus, Priority, RedbStore, Store,
};
use serde_json::{Value, json};

use crate::helpers::TestDir;

struct Harness {
    _dir: TestDir,
    store: Arc<dyn Store>,
    writer: LogWriter,
    bus: EventBus,
    metrics: Arc<Metrics>,
}

impl Harness {
    fn new() -> Self {
        let dir = TestDir::new();
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("q.redb")).unwrap());
        let bus = EventBus::new(100_000);
        let writer = LogWriter::start(store.clone(), Arc::new(BusSink(bus.clone())));
        Self {
            _dir: dir,
            store,
            writer,
            bus,
            metrics: Arc::new(Metrics::default()),
        }
    }

    fn queue(&self, jobs: HashMap<String, JobFn>, config: QueueConfig) -> Queue {
        Queue::start(
            self.store.clone(),
            self.writer.clone(),
            self.bus.clone(),
            self.metrics.clone(),
            jobs,
            config,
        )
        .unwrap()
    }
}

fn job(
    f: impl Fn(&audiobook_organizer::ops::Reporter, &Value) -> Result<String, JobError>
    + Send
    + Sync
    + 'static,
) -> JobFn {
    Arc::new(f)
}

fn one_worker() -> QueueConfig {
    QueueConfig {
        workers: 1,
        ..QueueConfig::default()
    }
}

fn wait_status(q: &Queue, id: &str, want: OperationStatus) -> Operation {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let op = q.store().get_operation(id).unwrap().unwrap();
        if op.status == want || Instant::now() > deadline {
            assert_eq!(op.status, want, "{op:?}");
            return op;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A job that runs until canceled, checking every millisecond.
fn until_canceled() -> JobFn {
    job(|r, _| {
        r.update_progress(1, 100, "working");
        while !r.is_cancelled() {
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(JobError::Canceled)
    })
}

#[test]
fn high_priority_first_and_first_come_first_served_within_a_level() {
    let h = Harness::new();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let mut jobs = HashMap::new();
    jobs.insert(
        "t".to_string(),
        job(move |_, p| {
            o.lock()
                .unwrap()
                .push(p["name"].as_str().unwrap().to_string());
            Ok("ok".into())
        }),
    );
    let q = h.queue(jobs, one_worker());
    q.pause().unwrap();
    let mut ids = Vec::new();
    for (name, prio) in [
        ("L1", Priority::Low),
        ("N1", Priority::Normal),
        ("H1", Priority::High),
        ("N2", Priority::Normal),
        ("L2", Priority::Low),
        ("H2", Priority::High),
    ] {
        ids.push(
            q.enqueue("t", prio, json!({ "name": name }), None)
                .unwrap()
                .id,
        );
    }
    q.resume().unwrap();
    for id in &ids {
        q.wait(id, Duration::from_secs(10)).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["H1", "H2", "N1", "N2", "L1", "L2"]);
}

#[test]
fn a_canceled_queued_operation_never_starts() {
    let h = Harness::new();
    let ran = Arc::new(Mutex::new(0));
    let r2 = ran.clone();
    let mut jobs = HashMap::new();
    jobs.insert(
        "t".to_string(),
        job(move |_, _| {
            *r2.lock().unwrap() += 1;
            Ok("ran".into())
        }),
    );
    let q = h.queue(jobs, one_worker());
    q.pause().unwrap();
    let op = q.enqueue("t", Priority::Normal, Value::Null, None).unwrap();
    let canceled = q.cancel(&op.id).unwrap();
    assert_eq!(canceled.status, OperationStatus::Canceled);
    assert!(canceled.started_at.is_some() && canceled.completed_at.is_some());
    q.resume().unwrap();
    let other = q.enqueue("t", Priority::Normal, Value::Null, None).unwrap();
    q.wait(&other.id, Duration::from_secs(10)).unwrap();
    assert_eq!(*ran.lock().unwrap(), 1, "only the second operation ran");
    assert!(matches!(
        q.cancel(&op.id),
        Err(QueueError::AlreadyFinished { .. })
    ));
    assert!(matches!(
        q.cancel("01NOSUCHOPERATION"),
        Err(QueueError::NotFound(_))
    ));
    assert_eq!(h.metrics.operations_canceled.get("t"), 1);
}

#[test]
fn a_canceled_running_operation_ends_canceled_and_progress_cannot_revive_it() {
    let h = Harness::new();
    let mut jobs = HashMap::new();
    jobs.insert("slow".to_string(), until_canceled());
    let q = h.queue(jobs, one_worker());
    let op = q
        .enqueue("slow", Priority::Normal, Value::Null, None)
        .unwrap();
    wait_status(&q, &op.id, OperationStatus::Running);
    q.cancel(&op.id).unwrap();
    let done = q.wait(&op.id, Duration::from_secs(10)).unwrap();
    assert_eq!(done.status, OperationStatus::Canceled);
    assert!(done.started_at.is_some() && done.completed_at.is_some());
    assert!(done.error_message.is_none());
    // A late progress update from a straggler is ignored.
    h.writer.progress(&op.id, 99, 100, "late".into());
    h.writer.flush().unwrap();
    let after = h.store.get_operation(&op.id).unwrap().unwrap();
    assert_eq!(after.status, OperationStatus::Canceled);
    assert_ne!(after.message, "late");
    assert_eq!(h.metrics.operations_canceled.get("slow"), 1);
    assert_eq!(h.metrics.operations_failed.get("slow"), 0);
}

#[test]
fn a_panic_fails_the_operation_and_the_worker_lives_on() {
    let h = Harness::new();
    let mut jobs = HashMap::new();
    jobs.insert("boom".to_string(), job(|_, _| panic!("kaboom in the job")));
    jobs.insert("ok".to_string(), job(|_, _| Ok("fine".into())));
    let q = h.queue(jobs, one_worker());
    let bad = q
        .enqueue("boom", Priority::Normal, Value::Null, None)
        .unwrap();
    let good = q
        .enqueue("ok", Priority::Normal, Value::Null, None)
        .unwrap();
    let bad = q.wait(&bad.id, Duration::from_secs(10)).unwrap();
    assert_eq!(bad.status, OperationStatus::Failed);
    assert!(
        bad.error_message
            .as_deref()
            .unwrap()
            .contains("kaboom in the job"),
        "{bad:?}"
    );
    assert_eq!(
        q.wait(&good.id, Duration::from_secs(10)).unwrap().status,
        OperationStatus::Completed
    );
    assert_eq!(h.metrics.operations_failed.get("boom"), 1);
}

#[test]
fn a_timeout_fails_the_operation() {
    let h = Harness::new();
    let mut jobs = HashMap::new();
    jobs.insert("slow".to_string(), until_canceled());
    let mut config = one_worker();
    config
        .timeouts
        .insert("slow".into(), Duration::from_millis(200));
    let q = h.queue(jobs, config);
    let op = q
        .enqueue("slow", Priority::Normal, Value::Null, None)
        .unwrap();
    let done = q.wait(&op.id, Duration::from_secs(10)).unwrap();
    assert_eq!(done.status, OperationStatus::Failed);
    assert!(done.error_message.unwrap().contains("timed out"));
}

#[test]
fn a_full_queue_refuses_loudly() {
    let h = Harness::new();
    let mut jobs = HashMap::new();
    jobs.insert("t".to_string(), job(|_, _| Ok(String::new())));
    let q = h.queue(
        jobs,
        QueueConfig {
            workers: 1,
            max_queued: 2,
            ..QueueConfig::default()
        },
    );
    q.pause().unwrap();
    q.enqueue("t", Priority::Normal, Value::Null, None).unwrap();
    q.enqueue("t", Priority::Normal, Value::Null, None).unwrap();
    let err = q
        .enqueue("t", Priority::Normal, Value::Null, None)
        .unwrap_err();
    assert!(matches!(err, QueueError::Full(2)), "{err}");
    assert!(err.to_string().contains("full"));
    assert!(matches!(
        q.enqueue("nope", Priority::Normal, Value::Null, None),
        Err(QueueError::UnknownType(_))
    ));
}

#[test]
fn a_thousand_short_operations_on_four_workers_each_run_exactly_once() {
    let h = Harness::new();
    let runs: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let r2 = runs.clone();
    let mut jobs = HashMap::new();
    jobs.insert(
        "t".to_string(),
        job(move |r, _| {
            *r2.lock()
                .unwrap()
                .entry(r.operation_id().to_string())
                .or_default() += 1;
            r.log(LogLevel::Info, "hello", None);
            Ok("done".into())
        }),
    );
    let q = h.queue(
        jobs,
        QueueConfig {
            workers: 4,
            ..QueueConfig::default()
        },
    );
    let ids: Vec<String> = (0..1000)
        .map(|i| {
            let prio = [Priority::Low, Priority::Normal, Priority::High][i % 3];
            q.enqueue("t", prio, Value::Null, None).unwrap().id
        })
        .collect();
    for id in &ids {
        assert_eq!(
            q.wait(id, Duration::from_secs(60)).unwrap().status,
            OperationStatus::Completed
        );
    }
    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), 1000);
    assert!(runs.values().all(|n| *n == 1), "an operation ran twice");
    assert_eq!(h.metrics.operations_started.get("t"), 1000);
    assert_eq!(h.metrics.operations_completed.get("t"), 1000);
}

#[test]
fn restart_resumes_queued_operations_and_marks_running_ones_interrupted() {
    let h = Harness::new();
    // What a crashed process leaves behind: one running, two queued.
    let mk = |status| {
        let mut op = Operation::new(
            ulid::Ulid::generate().to_string(),
            "t",
            Priority::Normal,
            Value::Null,
            None,
        );
        op.status = status;
        op.progress = 3;
        op.total = 10;
        op
    };
    let running = mk(OperationStatus::Running);
    let queued: Vec<Operation> = (0..2).map(|_| mk(OperationStatus::Queued)).collect();
    let mut batch = vec![Mutation::PutOperation(running.clone())];
    batch.extend(queued.iter().cloned().map(Mutation::PutOperation));
    h.store.apply(&batch, true).unwrap();

    let mut jobs = HashMap::new();
    jobs.insert("t".to_string(), job(|_, _| Ok("resumed".into())));
    let q = h.queue(jobs, one_worker());
    let r = q.wait(&running.id, Duration::from_secs(5)).unwrap();
    assert_eq!(r.status, OperationStatus::Interrupted);
    assert!(r.completed_at.is_some());
    h.writer.flush().unwrap();
    let lines = h.store.tail_logs(&running.id, 10).unwrap();
    assert!(
        lines.iter().any(|l| l.message.starts_with("interrupted")),
        "{lines:?}"
    );
    for op in &queued {
        let done = q.wait(&op.id, Duration::from_secs(10)).unwrap();
        assert_eq!(done.status, OperationStatus::Completed);
        assert_eq!(done.message, "resumed");
    }

    // A graceful stop keeps queued work queued for the next start.
    q.pause().unwrap();
    let later = q.enqueue("t", Priority::High, Value::Null, None).unwrap();
    q.shutdown(Duration::from_secs(1));
    drop(q);
    assert_eq!(
        h.store.get_operation(&later.id).unwrap().unwrap().status,
        OperationStatus::Queued
    );
    let mut jobs = HashMap::new();
    jobs.insert("t".to_string(), job(|_, _| Ok("after restart".into())));
    let q2 = h.queue(jobs, one_worker());
    // The pause was stored: nothing starts until it is lifted (the
    // operation's start time comes after the resume).
    assert!(q2.snapshot().paused);
    let resumed_at = time::OffsetDateTime::now_utc();
    q2.resume().unwrap();
    let done = q2.wait(&later.id, Duration::from_secs(10)).unwrap();
    assert_eq!(done.message, "after restart");
    let started = done.started_at.expect("started");
    assert!(
        started >= resumed_at,
        "started {started} before the resume {resumed_at}"
    );
}

#[test]
fn every_transition_progress_and_log_is_published_after_it_is_stored() {
    let h = Harness::new();
    let mut rx = h.bus.subscribe();
    let mut jobs = HashMap::new();
    jobs.insert(
        "t".to_string(),
        job(|r, _| {
            r.update_progress(1, 2, "half");
            r.log(LogLevel::Warn, "careful", Some("some details".into()));
            r.update_progress(2, 2, "all");
            Ok("done".into())
        }),
    );
    let q = h.queue(jobs, one_worker());
    let op = q.enqueue("t", Priority::Normal, Value::Null, None).unwrap();
    q.wait(&op.id, Duration::from_secs(10)).unwrap();
    let mut statuses = Vec::new();
    let mut saw_log = false;
    let mut saw_progress = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while statuses.last().map(String::as_str) != Some("completed") && Instant::now() < deadline {
        let Ok(ev) = rx.try_recv() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        if ev.kind == "queue.status" {
            continue;
        }
        assert_eq!(ev.id, op.id);
        match ev.kind.as_str() {
            "operation.status" => statuses.push(ev.data["status"].as_str().unwrap().to_string()),
            "operation.log" => {
                let seq = ev.data["seq"].as_u64().unwrap();
                // Already in the store when it is published.
                assert!(h.store.count_logs(&op.id).unwrap() >= seq);
                if ev.data["message"] == "careful" {
                    assert_eq!(ev.data["level"], "warn");
                    assert_eq!(ev.data["details"], "some details");
                    saw_log = true;
                }
            }
            "operation.progress" => {
                assert!(ev.data["percentage"].as_f64().unwrap() <= 100.0);
                saw_progress = true;
            }
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(statuses, ["queued", "running", "completed"]);
    assert!(saw_log && saw_progress);
}

#[test]
fn a_type_that_runs_one_at_a_time_waits_queued_and_cancellable_while_others_run() {
    let h = Harness::new();
    let mut jobs = HashMap::new();
    jobs.insert("exclusive".to_string(), until_canceled());
    jobs.insert("other".to_string(), job(|_, _| Ok("other ran".into())));
    let q = h.queue(
        jobs,
        QueueConfig {
            workers: 3,
            one_at_a_time: vec!["exclusive".into()],
            ..QueueConfig::default()
        },
    );
    let first = q
        .enqueue("exclusive", Priority::Normal, Value::Null, None)
        .unwrap();
    wait_status(&q, &first.id, OperationStatus::Running);
    // Two workers are free: the second of the type still waits, queued;
    // an operation of another type behind it goes first.
    let second = q
        .enqueue("exclusive", Priority::High, Value::Null, None)
        .unwrap();
    let third = q
        .enqueue("exclusive", Priority::Normal, Value::Null, None)
        .unwrap();
    let other = q
        .enqueue("other", Priority::Low, Value::Null, None)
        .unwrap();
    assert_eq!(
        q.wait(&other.id, Duration::from_secs(10)).unwrap().message,
        "other ran"
    );
    assert_eq!(
        q.store().get_operation(&second.id).unwrap().unwrap().status,
        OperationStatus::Queued
    );
    // Waiting, it is cancellable like any queued operation: it never starts.
    assert_eq!(
        q.cancel(&second.id).unwrap().status,
        OperationStatus::Canceled
    );
    // The first ends: the next of its type starts.
    q.cancel(&first.id).unwrap();
    wait_status(&q, &first.id, OperationStatus::Canceled);
    wait_status(&q, &third.id, OperationStatus::Running);
    q.cancel(&third.id).unwrap();
    wait_status(&q, &third.id, OperationStatus::Canceled);
    let second = q.store().get_operation(&second.id).unwrap().unwrap();
    assert_eq!(second.message, "canceled before it started", "{second:?}");
}
