//! The real `serve` binary: SIGTERM stops it cleanly, interrupting what
//! runs past the grace period, and `healthcheck` works against it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use audiobook_organizer::store::{OperationStatus, RedbStore, Store};

use crate::helpers::{TestDir, binary, mp3, tagged};

fn bin() -> Command {
    binary()
}

#[test]
fn sigterm_interrupts_running_work_after_the_grace_period_and_exits_zero() {
    let t = TestDir::new();
    let big = t.path().join("big");
    for i in 0..3000u64 {
        let p = big.join(format!("d{i}/f.mp3"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, mp3(&tagged(&format!("T{i}"), "A"), 30.0, i)).unwrap();
    }
    std::fs::write(t.path().join("c.toml"), "shutdown_grace_secs = 0\n").unwrap();
    let mut child = bin()
        .current_dir(t.path())
        .args([
            "--config",
            "c.toml",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    let port = addr.rsplit(':').next().unwrap();
    let hc = bin()
        .args(["healthcheck", "--port", port])
        .output()
        .unwrap();
    assert!(
        hc.status.success(),
        "{}",
        String::from_utf8_lossy(&hc.stderr)
    );

    // Start a long scan over HTTP with a raw request.
    use std::io::{Read, Write};
    let body = format!("{{\"paths\": [\"{}\"]}}", big.display());
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(s, "POST /api/v1/operations/scan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 202"), "{resp}");
    let id = resp
        .split("\"operation_id\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(150));

    let started = Instant::now();
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status:?}");
    assert!(started.elapsed() < Duration::from_secs(20));

    let store = RedbStore::open(&t.path().join("data/audiobook-organizer.redb"))
        .expect("store closed cleanly");
    let op = store.get_operation(&id).unwrap().unwrap();
    assert!(
        op.status == OperationStatus::Interrupted || op.status == OperationStatus::Completed,
        "{op:?}"
    );
    assert!(op.completed_at.is_some());
    let hc = bin()
        .args(["healthcheck", "--port", port])
        .output()
        .unwrap();
    assert!(!hc.status.success(), "nothing answers after exit");
}

#[test]
fn log_format_json_prints_one_object_per_line_for_log_shippers() {
    let t = TestDir::new();
    let imports = t.path().join("imports");
    std::fs::create_dir_all(imports.join("A/Good")).unwrap();
    std::fs::write(
        imports.join("A/Good/1.mp3"),
        mp3(&tagged("Good", "A"), 2.0, 1),
    )
    .unwrap();
    std::fs::create_dir_all(imports.join("A/Bad")).unwrap();
    std::fs::write(imports.join("A/Bad/1.mp3"), b"not audio").unwrap();
    let mut child = bin()
        .current_dir(t.path())
        .args([
            "--log-format",
            "json",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let first: serde_json::Value = serde_json::from_str(&line).expect("the first line is JSON");
    assert_eq!(first["level"], "info");
    let url = first["url"].as_str().expect("url").to_string();
    let addr = url.trim_start_matches("http://").to_string();

    use std::io::{Read, Write};
    let body = format!("{{\"paths\": [\"{}\"]}}", imports.display());
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(s, "POST /api/v1/operations/scan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no completed line in {lines:?}");
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("stdout closed early: {lines:?}");
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string() && v["message"].is_string(),
            "{v}"
        );
        let done = v["event"] == "operation.status" && v["message"] == "operation completed";
        lines.push(v);
        if done {
            break;
        }
    }
    let scan_lines: Vec<_> = lines
        .iter()
        .filter(|v| v["operation_type"] == "scan")
        .collect();
    assert!(scan_lines.iter().all(|v| v["operation_id"].is_string()));
    assert!(
        scan_lines
            .iter()
            .any(|v| v["level"] == "warn" && v["message"].as_str().unwrap().contains("Bad/1.mp3")),
        "{lines:?}"
    );
    assert!(
        scan_lines
            .iter()
            .any(|v| v["event"] == "operation.log" && v["details"].is_string()),
        "the summary line keeps its details: {lines:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
