//! Server benchmarks, ratios measured in the same run.
//! `cargo bench --bench server` (`AO_BENCH_SMALL=1` for a quick pass).

use std::sync::Arc;
use std::time::{Duration, Instant};

use audiobook_organizer::config::Config;
use audiobook_organizer::engine::{Engine, StartOptions};
use audiobook_organizer::http::Server;
use audiobook_organizer::store::{
    Book, BookStatus, LogLevel, Mutation, Operation, OperationStatus, Priority, now,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn small() -> bool {
    std::env::var("AO_BENCH_SMALL").is_ok()
}

fn op(id: &str) -> Operation {
    let mut op = Operation::new(
        id.into(),
        "bench",
        Priority::Normal,
        serde_json::Value::Null,
        None,
    );
    op.status = OperationStatus::Running;
    op
}

async fn start(
    dir: &std::path::Path,
) -> (
    Arc<Engine>,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
) {
    let mut c = Config::with_base(dir);
    c.server.host = "127.0.0.1".into();
    c.server.port = 0;
    c.server.status_interval = Duration::from_secs(3600);
    let engine = Arc::new(
        Engine::start(
            c,
            StartOptions {
                resume_queued: false,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let (server, _) = Server::bind(engine.clone()).await.unwrap();
    let addr = server.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_until(async {
        let _ = rx.await;
    }));
    (engine, addr, tx)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").map(|v| {
                    v.trim()
                        .trim_end_matches(" kB")
                        .trim()
                        .parse::<u64>()
                        .unwrap_or(0)
                        * 1024
                })
            })
        })
        .unwrap_or(0)
}

/// The server side of the fan-out benchmark, in its own process so that its
/// memory and CPU are its own: serves, then emits log lines on command.
async fn fanout_server() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let (engine, addr, _stop) = start(dir.path()).await;
    engine
        .store
        .apply(&[Mutation::PutOperation(op("FANOUT"))], true)
        .unwrap();
    println!("PORT {}", addr.port());
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(cmd)) = lines.next_line().await {
        if let Some(secs) = cmd.strip_prefix("emit ") {
            let secs: u64 = secs.trim().parse().unwrap();
            let writer = engine.writer.clone();
            tokio::task::spawn_blocking(move || {
                let start = Instant::now();
                for i in 0..secs * 1000 {
                    let due = start + Duration::from_millis(i);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    writer.log(
                        "FANOUT",
                        LogLevel::Info,
                        format!("line {i} sent={}", unix_nanos()),
                        None,
                    );
                }
                writer.flush().unwrap();
            })
            .await
            .unwrap();
            println!("DONE");
        } else if cmd == "quit" {
            break;
        }
    }
}

async fn sse_fanout(rows: &mut Vec<String>) {
    use tokio::io::AsyncBufReadExt;
    let clients = if small() { 200 } else { 1000 };
    let seconds = if small() { 3 } else { 5 };
    let mut server = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env("AO_BENCH_ROLE", "server")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = server.id().unwrap();
    let mut out = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let mut stdin = server.stdin.take().unwrap();
    let port: u16 = loop {
        let l = out.next_line().await.unwrap().unwrap();
        if let Some(p) = l.strip_prefix("PORT ") {
            break p.trim().parse().unwrap();
        }
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_of(pid);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let lagged = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let lat = latencies.clone();
        let lag = lagged.clone();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /api/events?types=operation.log HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            let mut carry: Vec<u8> = Vec::new();
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let now = unix_nanos() as f64;
                carry.extend_from_slice(&buf[..n]);
                let mut local = Vec::new();
                let mut consumed = 0;
                let mut i = 0;
                while let Some(pos) = carry[i..].windows(5).position(|w| w == b"sent=") {
                    let start = i + pos + 5;
                    let end = carry[start..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map(|e| start + e);
                    let Some(end) = end else { break };
                    if let Ok(t) = std::str::from_utf8(&carry[start..end])
                        .unwrap()
                        .parse::<f64>()
                    {
                        local.push((now - t) / 1e6);
                    }
                    i = end;
                    consumed = end;
                }
                if carry[..consumed].windows(13).any(|w| w == b"stream.lagged") {
                    lag.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                carry.drain(..consumed);
                if !local.is_empty() {
                    lat.lock().unwrap().extend(local);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connected = engine_clients(addr).await;
    let rss_after = rss_of(pid);
    stdin
        .write_all(format!("emit {seconds}\n").as_bytes())
        .await
        .unwrap();
    loop {
        let l = out.next_line().await.unwrap().unwrap();
        if l == "DONE" {
            break;
        }
    }
    // Deliveries still on their way are waited for (a debug build's
    // clients can trail by seconds), until all are in or none has arrived
    // for two seconds: what is missing then was lost.
    let expected = clients as u64 * seconds * 1000;
    let delivered = || latencies.lock().unwrap().len() as u64;
    let (mut last, mut still) = (delivered(), Instant::now());
    while last < expected && still.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = delivered();
        if now != last {
            (last, still) = (now, Instant::now());
        }
    }
    let mut l = latencies.lock().unwrap().clone();
    let got = l.len();
    let (p50, p99) = (pct(&mut l, 0.5), pct(&mut l, 0.99));
    rows.push(format!(
        "| SSE fan-out: {clients} clients, 1,000 log lines/s for {seconds} s (server in its own process) | p50 {p50:.1} ms, p99 {p99:.1} ms | {got} of {expected} deliveries, {} lag notices | server RSS +{:.1} KiB per client ({connected} connected) |",
        lagged.load(std::sync::atomic::Ordering::Relaxed),
        (rss_after.saturating_sub(rss_before)) as f64 / clients as f64 / 1024.0,
    ));
    for t in tasks {
        t.abort();
    }
    let _ = stdin.write_all(b"quit\n").await;
    let _ = server.wait().await;
}

async fn engine_clients(addr: std::net::SocketAddr) -> String {
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find(|l| l.starts_with("audiobook_organizer_sse_clients_connected "))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string()
}

async fn time_get(url: &str, reps: u32) -> Duration {
    let c = reqwest::Client::new();
    c.get(url).send().await.unwrap().bytes().await.unwrap();
    let start = Instant::now();
    for _ in 0..reps {
        let r = c.get(url).send().await.unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
    }
    start.elapsed() / reps
}

async fn tail_and_metrics(rows: &mut Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (engine, addr, stop) = start(dir.path()).await;
    let big: u64 = if small() { 100_000 } else { 1_000_000 };
    engine
        .store
        .apply(
            &[
                Mutation::PutOperation(op("BIG")),
                Mutation::PutOperation(op("SMALL")),
            ],
            true,
        )
        .unwrap();
    let writer = engine.writer.clone();
    tokio::task::spawn_blocking(move || {
        for i in 0..big {
            writer.log("BIG", LogLevel::Info, format!("processed file {i}"), None);
        }
        for i in 0..1000 {
            writer.log("SMALL", LogLevel::Info, format!("processed file {i}"), None);
        }
        writer.flush().unwrap();
    })
    .await
    .unwrap();
    let t_big = time_get(
        &format!("http://{addr}/api/v1/operations/BIG/logs?tail=100"),
        200,
    )
    .await;
    let t_small = time_get(
        &format!("http://{addr}/api/v1/operations/SMALL/logs?tail=100"),
        200,
    )
    .await;
    let r = t_big.as_secs_f64() / t_small.as_secs_f64();
    rows.push(format!(
        "| tail=100 over HTTP: {big} lines vs 1,000 lines | {:.0} µs vs {:.0} µs | ratio {r:.2} (target < 2) | {} |",
        t_big.as_secs_f64() * 1e6,
        t_small.as_secs_f64() * 1e6,
        if r < 2.0 { "met" } else { "NOT met" }
    ));

    // /metrics with 100 books, then with 100,000.
    let put_books = |from: usize, to: usize| {
        let batch: Vec<Mutation> = (from..to)
            .map(|i| {
                let t = now();
                Mutation::PutBook(Book {
                    id: format!("BOOK{i:08}"),
                    title: format!("Title {i}"),
                    author: "A".into(),
                    authors: vec!["A".into()],
                    album: None,
                    narrator: None,
                    narrators: Vec::new(),
                    series: None,
                    series_index: None,
                    year: None,
                    isbn: None,
                    asin: None,
                    description: None,
                    language: None,
                    publisher: None,
                    genres: Vec::new(),
                    provenance: Default::default(),
                    locked: Default::default(),
                    cover_url: None,
                    cover: None,
                    duration_secs: 1.0,
                    codec: None,
                    bitrate_kbps: None,
                    status: BookStatus::Imported,
                    deleted: false,
                    source_dir: "/x".into(),
                    group_key: String::new(),
                    files: Vec::new(),
                    file_hash: format!("{i}"),
                    duplicates: Vec::new(),
                    editions: Vec::new(),
                    organized_dir: None,
                    created_at: t,
                    updated_at: t,
                })
            })
            .collect();
        engine.store.apply(&batch, true).unwrap();
    };
    put_books(0, 100);
    let m_small = time_get(&format!("http://{addr}/metrics"), 200).await;
    for chunk in (100..100_000).step_by(10_000) {
        put_books(chunk, (chunk + 10_000).min(100_000));
    }
    assert_eq!(engine.store.count_books().unwrap(), 100_000);
    let m_big = time_get(&format!("http://{addr}/metrics"), 200).await;
    let r = m_big.as_secs_f64() / m_small.as_secs_f64();
    rows.push(format!(
        "| /metrics render: 100,000 books vs 100 books | {:.0} µs vs {:.0} µs | ratio {r:.2} (flat: < 1.5) | {} |",
        m_big.as_secs_f64() * 1e6,
        m_small.as_secs_f64() * 1e6,
        if r < 1.5 { "met" } else { "NOT met" }
    ));
    let _ = stop.send(());
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("AO_BENCH_ROLE").as_deref() == Ok("server") {
        rt.block_on(fanout_server());
        return;
    }
    let mut rows = Vec::new();
    rt.block_on(async {
        let only = std::env::var("AO_BENCH_ONLY").unwrap_or_default();
        if only.is_empty() || only.contains("fanout") {
            sse_fanout(&mut rows).await;
        }
        if only.is_empty() || only.contains("tail") {
            tail_and_metrics(&mut rows).await;
        }
    });
    println!();
    println!("| benchmark | measured | baseline / count | result |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
