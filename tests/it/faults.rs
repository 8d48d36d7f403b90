//! Faults: kill -9 during a scan, an integrity check and a burst of log
//! lines; a full disk under the store and the library; files that vanish
//! or change while a scan reads them; names that are not UTF-8.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audiobook_organizer::store::{BookStatus, LogLevel, OperationStatus, RedbStore, Store};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{
    ServeProcess, TestDir, all_books, binary, free_port, logs, mp3, run_op, scan, sha256_file,
    start, tagged,
};

fn seed() -> u64 {
    let s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("fault test seed {s}");
    s
}

fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// `n` single-file books under `dir`; returns each file's SHA-256.
fn write_books(dir: &Path, n: usize) -> HashMap<PathBuf, String> {
    let mut hashes = HashMap::new();
    for i in 0..n {
        let p = dir.join(format!("Author {}/Book {i:04}/book.mp3", i % 13));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            mp3(
                &tagged(&format!("Book {i:04}"), &format!("Author {}", i % 13)),
                2.0,
                i as u64,
            ),
        )
        .unwrap();
        hashes.insert(p.clone(), sha256_file(&p));
    }
    hashes
}

/// The store opens; counts match what is listed; no file is in two books;
/// every source is intact.
fn check_store(db: &Path, sources: &HashMap<PathBuf, String>) -> usize {
    let store = RedbStore::open(db).expect("the store opens after kill -9");
    let mut seen_paths = HashSet::new();
    let mut books = 0;
    let mut after: Option<String> = None;
    loop {
        let page = store.list_books(after.as_deref(), 200).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for b in page {
            books += 1;
            for f in &b.files {
                assert!(
                    seen_paths.insert(f.path.clone()),
                    "{} is in two books",
                    f.path
                );
                assert_eq!(
                    sources.get(Path::new(&f.path)),
                    Some(&f.hash),
                    "{} recorded with a wrong hash",
                    f.path
                );
            }
        }
    }
    assert_eq!(
        store.count_books().unwrap(),
        books as u64,
        "the maintained count drifted"
    );
    for (p, h) in sources {
        assert_eq!(&sha256_file(p), h, "{} damaged", p.display());
    }
    books
}

#[test]
fn kill_dash_nine_during_scans_then_a_rescan_completes_without_duplicates() {
    let t = TestDir::new();
    let imports = t.path().join("in");
    let sources = write_books(&imports, 1500);
    let db = t.path().join("data/audiobook-organizer.redb");
    let mut s = seed();
    // Scans that were still running when killed (their record says so).
    let mut cut_short: Vec<String> = Vec::new();
    for round in 0..4u64 {
        let mut child = binary()
            .current_dir(t.path())
            .arg("scan")
            .arg(&imports)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Keep reading stderr (a closed pipe would end the child early);
        // say when the walk is done (its "found" line).
        let stderr = child.stderr.take().unwrap();
        let (walked, walked_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("audio file(s)") || line.contains("progress") {
                    let _ = walked.send(());
                }
            }
        });
        let _ = walked_rx.recv_timeout(Duration::from_secs(60));
        // The first scan reads every file: kill it early. Later ones are
        // rescans of a partly stored tree: anywhere in 0.4 s.
        let window = if round == 0 { 100_000 } else { 400_000 };
        std::thread::sleep(Duration::from_micros(next(&mut s) % window));
        child.kill().ok();
        child.wait().unwrap();
        let books = check_store(&db, &sources);
        let newest = RedbStore::open(&db)
            .unwrap()
            .list_operations(None, 1)
            .unwrap()
            .pop();
        let running = newest
            .as_ref()
            .is_some_and(|o| o.status == OperationStatus::Running);
        if let (true, Some(op)) = (running, newest) {
            cut_short.push(op.id);
        }
        eprintln!(
            "round {round}: killed {}, {books} books stored",
            if running {
                "mid-scan"
            } else {
                "after the scan ended"
            }
        );
    }
    assert!(!cut_short.is_empty(), "no kill landed inside a scan");
    let out = binary()
        .current_dir(t.path())
        .arg("scan")
        .arg(&imports)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(check_store(&db, &sources), 1500, "every book once");
    let store = RedbStore::open(&db).unwrap();
    let ops = store.list_operations(None, 100).unwrap();
    assert_eq!(ops[0].status, OperationStatus::Completed);
    assert!(ops.iter().all(|o| o.status.is_terminal()));
    for id in &cut_short {
        let op = store.get_operation(id).unwrap().unwrap();
        assert_eq!(
            op.status,
            OperationStatus::Interrupted,
            "a killed scan is marked interrupted"
        );
    }
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    http.post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

async fn wait_terminal(http: &reqwest::Client, base: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let op = get(http, format!("{base}/api/v1/operations/{id}")).await;
        if ["completed", "failed", "canceled", "interrupted"]
            .contains(&op["status"].as_str().unwrap_or(""))
        {
            return op;
        }
        assert!(Instant::now() < deadline, "{id} did not end: {op}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_during_a_burst_of_log_lines_loses_nothing_a_client_saw() {
    let t = TestDir::new();
    let imports = t.path().join("in");
    write_books(&imports, 3000);
    // An empty file beside every book: a warning line each, all through
    // the scan (new books are listed a batch per line).
    for i in 0..3000 {
        let p = imports.join(format!("Author {}/Book {i:04}/empty.mp3", i % 13));
        std::fs::write(p, b"").unwrap();
    }
    let port = free_port();
    let server = ServeProcess::start(t.path(), port, "");
    let http = reqwest::Client::new();
    let base = server.base.clone();
    // Only log lines, so the client keeps up.
    let res = http
        .get(format!("{base}/api/events?types=operation.log"))
        .send()
        .await
        .unwrap();
    let mut body = res.bytes_stream();
    let started = post(
        &http,
        format!("{base}/api/v1/operations/scan"),
        json!({"paths": [imports]}),
    )
    .await;
    let id = started["operation_id"].as_str().unwrap().to_string();
    // Read lines as they are published, then kill mid-burst.
    let mut seen: Vec<u64> = Vec::new();
    let mut buf = String::new();
    let target = 200 + (seed() % 1500);
    'read: while let Some(chunk) = tokio::time::timeout(Duration::from_secs(60), body.next())
        .await
        .expect("events")
    {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                let v: Value = serde_json::from_str(data).unwrap();
                if v["id"] == id.as_str() {
                    seen.push(v["data"]["seq"].as_u64().unwrap());
                    if seen.len() as u64 >= target {
                        break 'read;
                    }
                }
            }
        }
    }
    server.kill9();
    assert!(!seen.is_empty());
    let server = ServeProcess::start(t.path(), port, "");
    let op = get(&http, format!("{base}/api/v1/operations/{id}")).await;
    assert_eq!(op["status"], "interrupted", "{op}");
    let stored = get(
        &http,
        format!("{base}/api/v1/operations/{id}/logs?tail=10000"),
    )
    .await;
    let stored: HashSet<u64> = stored["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    let lost: Vec<_> = seen.iter().filter(|s| !stored.contains(s)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} lines a client saw are gone: {lost:?}",
        lost.len(),
        seen.len()
    );
    // Persist, then publish: what the store kept is one run of sequence
    // numbers without a gap, reaching at least the last line a client saw.
    let mut kept: Vec<u64> = stored.iter().copied().collect();
    kept.sort_unstable();
    assert!(
        kept.windows(2).all(|w| w[1] == w[0] + 1),
        "the stored log has gaps"
    );
    assert!(kept.last() >= seen.iter().max(), "{kept:?} vs {seen:?}");
    // The interrupted scan can be rerun.
    let again = post(
        &http,
        format!("{base}/api/v1/operations/scan"),
        json!({"paths": [imports]}),
    )
    .await;
    let op = wait_terminal(&http, &base, again["operation_id"].as_str().unwrap()).await;
    assert_eq!(op["status"], "completed", "{op}");
    let status = get(&http, format!("{base}/api/v1/system/status")).await;
    assert_eq!(status["books"], 3000);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_during_an_integrity_check_then_a_new_check_completes_clean() {
    let t = TestDir::new();
    let imports = t.path().join("in");
    let sources = write_books(&imports, 400);
    let port = free_port();
    // Slow reads, so the kill lands inside the check.
    let config = "integrity_max_read_mb_s = 2\n";
    let server = ServeProcess::start(t.path(), port, config);
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let scan = post(
        &http,
        format!("{base}/api/v1/operations/scan"),
        json!({"paths": [imports]}),
    )
    .await;
    wait_terminal(&http, &base, scan["operation_id"].as_str().unwrap()).await;
    let check = post(&http, format!("{base}/api/v1/integrity/check"), json!({})).await;
    let id = check["operation_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let op = get(&http, format!("{base}/api/v1/operations/{id}")).await;
        if op["progress"].as_u64().unwrap_or(0) >= 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the check made no progress: {op}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    let server = ServeProcess::start(t.path(), port, "");
    let op = get(&http, format!("{base}/api/v1/operations/{id}")).await;
    assert_eq!(op["status"], "interrupted", "{op}");
    let again = post(&http, format!("{base}/api/v1/integrity/check"), json!({})).await;
    let op = wait_terminal(&http, &base, again["operation_id"].as_str().unwrap()).await;
    assert_eq!(op["status"], "completed", "{op}");
    let findings = get(&http, format!("{base}/api/v1/integrity/mismatches")).await;
    assert_eq!(
        findings["total"], 0,
        "a killed check leaves no false findings: {findings}"
    );
    drop(server);
    for (p, h) in &sources {
        assert_eq!(&sha256_file(p), h);
    }
}

#[test]
fn files_that_vanish_or_change_during_a_scan_are_handled_and_a_rescan_settles() {
    let t = TestDir::new();
    let imports = t.imports();
    write_books(&imports, 2000);
    let engine = start(t.config());
    let victims: Vec<PathBuf> = (0..2000)
        .step_by(7)
        .map(|i| imports.join(format!("Author {}/Book {i:04}/book.mp3", i % 13)))
        .collect();
    let changed: Vec<PathBuf> = (3..2000)
        .step_by(11)
        .map(|i| imports.join(format!("Author {}/Book {i:04}/book.mp3", i % 13)))
        .collect();
    let (v, c) = (victims.clone(), changed.clone());
    let meddler = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        for p in &v {
            let _ = std::fs::remove_file(p);
        }
        for (k, p) in c.iter().enumerate() {
            let _ = std::fs::write(
                p,
                mp3(
                    &tagged(&format!("Changed {k}"), "Someone"),
                    2.0,
                    90_000 + k as u64,
                ),
            );
        }
    });
    let op = run_op(&engine, "scan", json!({"paths": [imports]}));
    meddler.join().unwrap();
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    // After the dust settles, a rescan agrees with the disk.
    let op = run_op(&engine, "scan", json!({"paths": [imports]}));
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    let books = all_books(&engine);
    for b in &books {
        for f in &b.files {
            let p = Path::new(&f.path);
            if p.exists() {
                assert_eq!(sha256_file(p), f.hash, "{} has a stale hash", f.path);
                assert_ne!(b.status, BookStatus::Missing);
            } else {
                assert_eq!(
                    b.status,
                    BookStatus::Missing,
                    "{} is gone but its book is not missing",
                    f.path
                );
            }
        }
    }
    let live: HashSet<&str> = books
        .iter()
        .filter(|b| b.status != BookStatus::Missing)
        .flat_map(|b| b.files.iter().map(|f| f.path.as_str()))
        .collect();
    // (A changed file that was also deleted came back when it was rewritten.)
    let on_disk = (0..2000)
        .filter(|i| {
            imports
                .join(format!("Author {}/Book {i:04}/book.mp3", i % 13))
                .exists()
        })
        .count();
    assert!(on_disk < 2000 - victims.len() + changed.len());
    assert_eq!(live.len(), on_disk, "every file still there is in a book");
}

#[test]
fn a_name_that_is_not_utf8_is_skipped_with_a_warning() {
    let t = TestDir::new();
    let imports = t.imports();
    std::fs::create_dir_all(imports.join("A")).unwrap();
    std::fs::write(
        imports.join("A/Good.mp3"),
        mp3(&tagged("Good", "A"), 1.0, 1),
    )
    .unwrap();
    let bad = imports
        .join("A")
        .join(std::ffi::OsStr::from_bytes(b"Bad \xff\xfe name.mp3"));
    std::fs::write(&bad, mp3(&tagged("Bad", "A"), 1.0, 2)).unwrap();
    let engine = start(t.config());
    let op = scan(&engine, &imports);
    assert_eq!(all_books(&engine).len(), 1);
    let lines = logs(&engine, &op.id);
    assert!(
        lines
            .iter()
            .any(|l| l.level == LogLevel::Warn && l.message.contains("not valid UTF-8")),
        "{lines:#?}"
    );
}
