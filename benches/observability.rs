//! Observability benchmarks, each a ratio against a baseline measured in
//! the same run. `cargo bench --bench observability`; `AO_BENCH_SMALL=1`
//! for a quick pass; `AO_BENCH_ONLY=retention,integrity` to pick.
//!
//! - retention: append latency p99 at 1,000 lines/s while retention
//!   deletes 1,000,000 expired lines, vs the same appends without it.
//! - integrity: an `integrity_check` of 1,000 files vs `sha256sum` over
//!   the same files (page cache warm for both).

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audiobook_organizer::clock::SystemClock;
use audiobook_organizer::config::{Config, FeatureConfig};
use audiobook_organizer::engine::{Engine, StartOptions};
use audiobook_organizer::logs::writer::{CommitSink, Committed, LogWriter};
use audiobook_organizer::maintenance::{Stopper, retention};
use audiobook_organizer::metrics::Metrics;
use audiobook_organizer::sample::{SampleTags, finished_operation_with_logs, mp3_bytes};
use audiobook_organizer::store::{
    LogLevel, Mutation, Operation, OperationStatus, Priority, RedbStore, Store, now,
};
use serde_json::Value;

fn small() -> bool {
    std::env::var("AO_BENCH_SMALL").is_ok()
}

/// Records when each line became durable, by the number in its message.
#[derive(Default)]
struct Stamps(Mutex<Vec<(u64, Instant)>>);

impl CommitSink for Stamps {
    fn committed(&self, items: &[Committed]) {
        let t = Instant::now();
        let mut v = self.0.lock().unwrap();
        for i in items {
            if let Committed::Log(e) = i
                && let Some(n) = e.message.strip_prefix("live ").and_then(|n| n.parse().ok())
            {
                v.push((n, t));
            }
        }
    }
}

fn p(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// Appends `n` lines at `rate` per second; returns sorted latencies from
/// the call to durability.
fn paced_appends(
    writer: &LogWriter,
    stamps: &Stamps,
    first: u64,
    n: u64,
    rate: u64,
) -> Vec<Duration> {
    let start = Instant::now();
    let mut sent = Vec::with_capacity(n as usize);
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        sent.push(Instant::now());
        writer.log("LIVE", LogLevel::Info, format!("live {}", first + i), None);
    }
    writer.flush().unwrap();
    let done = stamps.0.lock().unwrap();
    let mut lat: Vec<Duration> = done
        .iter()
        .filter(|(k, _)| *k >= first && *k < first + n)
        .map(|(k, t)| t.saturating_duration_since(sent[(*k - first) as usize]))
        .collect();
    assert_eq!(lat.len() as u64, n, "every line committed");
    lat.sort();
    lat
}

fn bench_retention(rows: &mut Vec<String>, work: &Path) {
    let lines: u64 = if small() { 100_000 } else { 1_000_000 };
    let ops = 100u64;
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&work.join("ret.redb")).unwrap());
    let old = now() - time::Duration::days(30);
    let mut live = Operation::new("LIVE".into(), "bench", Priority::Normal, Value::Null, None);
    live.status = OperationStatus::Running;
    store.apply(&[Mutation::PutOperation(live)], true).unwrap();
    let per_op = lines / ops;
    for o in 0..ops {
        let batch = finished_operation_with_logs(&format!("OLD{o:04}"), old, per_op);
        store.apply(&batch, true).unwrap();
    }
    let stamps = Arc::new(Stamps::default());
    let writer = LogWriter::start(store.clone(), stamps.clone());
    let rate = 1000;
    let n = if small() { 2000 } else { 5000 };
    let base = paced_appends(&writer, &stamps, 0, n, rate);

    let cfg = FeatureConfig::default();
    let metrics = Metrics::default();
    let s2 = store.clone();
    let started = Instant::now();
    let deleter = std::thread::spawn(move || {
        let r =
            retention::run_once(&*s2, &SystemClock, &cfg, &metrics, &Stopper::default()).unwrap();
        (r, started.elapsed())
    });
    let during = paced_appends(&writer, &stamps, n, n, rate);
    let (outcome, took) = deleter.join().unwrap();
    assert_eq!(outcome.lines_deleted, lines);
    writer.shutdown();
    let (b99, d99) = (p(&base, 0.99), p(&during, 0.99));
    let ratio = d99.as_secs_f64() / b99.as_secs_f64();
    rows.push(format!(
        "| append p99 at {rate} lines/s while retention deletes {lines} lines (took {:.1} s) | p99 {:.2} ms (p50 {:.2}) | without: p99 {:.2} ms (p50 {:.2}) | {ratio:.2}x |",
        took.as_secs_f64(),
        d99.as_secs_f64() * 1e3,
        p(&during, 0.5).as_secs_f64() * 1e3,
        b99.as_secs_f64() * 1e3,
        p(&base, 0.5).as_secs_f64() * 1e3,
    ));
}

fn bench_integrity(rows: &mut Vec<String>, work: &Path) {
    let files = 1000;
    let secs = if small() { 2.0 } else { 20.0 };
    let imports = work.join("imports");
    let mut paths = Vec::new();
    let mut total = 0u64;
    for i in 0..files {
        let dir = imports.join(format!("a{:02}/b{i:04}", i % 50));
        std::fs::create_dir_all(&dir).unwrap();
        let tags = SampleTags::book(&format!("Title {i}"), &format!("Author {}", i % 50));
        let bytes = mp3_bytes(Some(&tags), secs, i as u64);
        total += bytes.len() as u64;
        let p = dir.join("book.mp3");
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    let mut c = Config::with_base(work);
    c.features.integrity_schedule = None;
    let engine = Engine::start(c, StartOptions::default()).unwrap();
    let run = |t: &str, params: Value| {
        let op = engine
            .queue
            .enqueue(t, Priority::Normal, params, None)
            .unwrap();
        let done = engine.queue.wait(&op.id, Duration::from_secs(600)).unwrap();
        assert_eq!(done.status, OperationStatus::Completed, "{done:?}");
        done
    };
    run("scan", serde_json::json!({ "paths": [imports] }));
    let sha = || {
        let t = Instant::now();
        let out = Command::new("sha256sum").args(&paths).output().unwrap();
        assert!(out.status.success());
        t.elapsed()
    };
    sha(); // warm the page cache
    let base = sha();
    let t = Instant::now();
    let op = run("integrity_check", Value::Null);
    let ours = t.elapsed();
    assert!(op.message.contains("0 finding(s)"), "{}", op.message);
    rows.push(format!(
        "| integrity_check of {files} files ({:.0} MiB) | {:.3} s | sha256sum: {:.3} s | {:.2}x |",
        total as f64 / 1048576.0,
        ours.as_secs_f64(),
        base.as_secs_f64(),
        ours.as_secs_f64() / base.as_secs_f64()
    ));
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let only = std::env::var("AO_BENCH_ONLY").unwrap_or_default();
    let want = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    let mut rows = Vec::new();
    if want("retention") {
        bench_retention(&mut rows, work.path());
    }
    if want("integrity") {
        bench_integrity(&mut rows, work.path());
    }
    println!();
    println!("| benchmark | ours | baseline | ratio |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
