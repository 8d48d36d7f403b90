//! What a library of 1,000, 10,000 and 100,000 books costs, measured on
//! the real server binary through its API: first scan, rescan, organize,
//! a page of the listing, a search, `/metrics`, `system.status`, and the
//! server's memory (idle, peak, settled). Ratios compare the largest size
//! with the smallest in the same run.
//!
//! `cargo bench --bench scale`; `AO_BENCH_SMALL=1` for 1,000 and 10,000;
//! `AO_BENCH_SCALE_SIZES=1000,5000` to choose.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use audiobook_organizer::sample::{SampleTags, mp3_bytes};
use serde_json::{Value, json};

fn sizes() -> Vec<usize> {
    if let Ok(s) = std::env::var("AO_BENCH_SCALE_SIZES") {
        return s.split(',').filter_map(|n| n.trim().parse().ok()).collect();
    }
    if std::env::var("AO_BENCH_SMALL").is_ok() {
        vec![200, 2_000]
    } else {
        vec![1_000, 10_000, 100_000]
    }
}

/// `n` one-file books by 1,000 authors, some in series, with narrators.
fn write_books(root: &Path, n: usize) {
    for i in 0..n {
        let dir = root.join(format!("Author {:04}/Book {i:06}", i % 1000));
        std::fs::create_dir_all(&dir).unwrap();
        let tags = SampleTags {
            narrator: Some(format!("Narrator {}", i % 300)),
            series: (i % 4 == 0).then(|| format!("Saga {}", i % 500)),
            series_part: (i % 4 == 0).then(|| format!("{}", i % 12)),
            ..SampleTags::book(&format!("Book {i:06}"), &format!("Author {:04}", i % 1000))
        };
        std::fs::write(dir.join("book.mp3"), mp3_bytes(Some(&tags), 0.05, i as u64)).unwrap();
    }
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(dir.join("c.toml"), "").unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_audiobook-organizer"))
            .current_dir(dir)
            .args(["--config", "c.toml", "serve", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..2000 {
            if let Ok(r) = s.http.get(format!("{}/health", s.base)).send().await
                && r.status().is_success()
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the server did not answer /health");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn get(&self, path: &str) -> (Duration, Value) {
        let t = Instant::now();
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let body = r.bytes().await.unwrap();
        let took = t.elapsed();
        (took, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Median time of `path` over a few runs after one not counted.
    async fn median(&self, path: &str) -> Duration {
        self.get(path).await;
        let mut v = Vec::new();
        for _ in 0..15 {
            v.push(self.get(path).await.0);
        }
        v.sort();
        v[v.len() / 2]
    }

    /// Runs an operation to its end; how long it took (from the request).
    async fn run(&self, what: &str, body: Value) -> Duration {
        let t = Instant::now();
        let r: Value = self
            .http
            .post(format!("{}/api/v1/operations/{what}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["operation_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_string();
        loop {
            let (_, op) = self.get(&format!("/api/v1/operations/{id}")).await;
            match op["status"].as_str() {
                Some("completed") => return t.elapsed(),
                Some("failed" | "canceled" | "interrupted") => panic!("{what}: {op}"),
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    /// Resident size once it stops falling (or after 60 s).
    async fn settled_kb(&self) -> u64 {
        let start = Instant::now();
        let mut last = rss_kb(self.pid(), "VmRSS");
        let mut steady = 0;
        while start.elapsed() < Duration::from_secs(60) && steady < 3 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = rss_kb(self.pid(), "VmRSS");
            steady = if now + 256 >= last { steady + 1 } else { 0 };
            last = now;
        }
        last
    }
}

struct Costs {
    n: usize,
    idle: u64,
    first: Duration,
    rescan: Duration,
    settled: u64,
    organize: Duration,
    page: Duration,
    page_worst: String,
    search: Duration,
    metrics: Duration,
    status: Duration,
    peak: u64,
    with_index: u64,
}

async fn measure(work: &Path, n: usize) -> Costs {
    let dir = work.join(format!("scale-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    // A tree kept between runs (`AO_BENCH_SCALE_TREE`), or written now.
    let imports = match std::env::var("AO_BENCH_SCALE_TREE") {
        Ok(t) => Path::new(&t).join(n.to_string()),
        Err(_) => dir.join("imports"),
    };
    if !imports.exists() {
        write_books(&imports, n);
        let _ = Command::new("sync").status();
    }
    let server = Server::start(&dir).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = server.settled_kb().await;
    let first = server.run("scan", json!({ "paths": [imports] })).await;
    let rescan = server.run("scan", json!({ "paths": [imports] })).await;
    let settled = server.settled_kb().await;
    if let Ok(rollup) = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", server.pid())) {
        let anon: Vec<&str> = rollup
            .lines()
            .filter(|l| l.starts_with("Anonymous") || l.starts_with("Rss"))
            .collect();
        eprintln!("{n} books, settled after the scans: {anon:?}");
    }
    // Listing: every order, the first and the last page, and the page
    // after a cursor; the slowest median is the one reported.
    let mut page = Duration::ZERO;
    let mut page_worst = String::new();
    for sort in ["added", "title", "author", "series"] {
        for order in ["asc", "desc"] {
            let (_, first_page) = server
                .get(&format!("/api/v1/books?sort={sort}&order={order}&limit=50"))
                .await;
            assert_eq!(first_page["total"], n as u64, "{first_page}");
            let next = first_page["next"].as_str().unwrap_or_default().to_string();
            for path in [
                format!("/api/v1/books?sort={sort}&order={order}&limit=50"),
                format!(
                    "/api/v1/books?sort={sort}&order={order}&limit=50&offset={}",
                    n - 50
                ),
                format!("/api/v1/books?sort={sort}&order={order}&limit=50&after={next}"),
            ] {
                let t = server.median(&path).await;
                if t > page {
                    page = t;
                    page_worst = path;
                }
            }
        }
    }
    let mut search = Duration::ZERO;
    for q in [
        "author%200999",
        "book%200001",
        "saga%2042",
        "narr%2029",
        "b",
    ] {
        search = search.max(
            server
                .median(&format!("/api/v1/books?q={q}&sort=title&limit=50"))
                .await,
        );
    }
    let with_index = rss_kb(server.pid(), "VmRSS");
    let metrics = server.median("/metrics").await;
    let status = server.median("/api/v1/system/status").await;
    let organize = server
        .run("organize", json!({ "strategy": "hardlink" }))
        .await;
    let peak = rss_kb(server.pid(), "VmHWM");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Costs {
        n,
        idle,
        first,
        rescan,
        settled,
        organize,
        page,
        page_worst,
        search,
        metrics,
        status,
        peak,
        with_index,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let all: Vec<Costs> = sizes()
        .into_iter()
        .map(|n| rt.block_on(measure(work.path(), n)))
        .collect();
    let (small, large) = (all.first().unwrap(), all.last().unwrap());

    eprintln!();
    eprintln!(
        "| books | first scan | rescan | organize (hardlink) | a page | a search | /metrics | system.status | RSS idle | RSS peak | RSS settled after the scans | RSS with the listing index |"
    );
    eprintln!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for c in &all {
        eprintln!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.n,
            secs(c.first),
            secs(c.rescan),
            secs(c.organize),
            ms(c.page),
            ms(c.search),
            ms(c.metrics),
            ms(c.status),
            mb(c.idle),
            mb(c.peak),
            mb(c.settled),
            mb(c.with_index)
        );
    }
    eprintln!("slowest page at {} books: {}", large.n, large.page_worst);

    let page_ratio = large.page.as_secs_f64() / small.page.as_secs_f64();
    let rows = [
        (
            format!(
                "a page of the listing at {} books (slowest of 4 orders x 2 directions x first/last/cursor; medians)",
                large.n
            ),
            ms(large.page),
            format!("{} at {} books", ms(small.page), small.n),
            format!("{page_ratio:.2}x"),
            "<= 5 ms, ratio < 2".to_string(),
            large.page <= Duration::from_millis(5) && page_ratio < 2.0,
        ),
        (
            format!(
                "a search at {} books (slowest of 5 queries; medians)",
                large.n
            ),
            ms(large.search),
            format!("{} at {} books", ms(small.search), small.n),
            format!(
                "{:.2}x",
                large.search.as_secs_f64() / small.search.as_secs_f64()
            ),
            "<= 20 ms".to_string(),
            large.search <= Duration::from_millis(20),
        ),
        (
            format!(
                "RSS settled after a first scan and a rescan of {} books",
                large.n
            ),
            mb(large.settled),
            format!("{} idle", mb(large.idle)),
            format!("{:.1}x idle", large.settled as f64 / large.idle as f64),
            "<= 80 MB".to_string(),
            large.settled <= 80 * 1024,
        ),
        (
            "RSS of the idle server".to_string(),
            mb(small.idle),
            "(fresh store)".to_string(),
            String::new(),
            "<= 15 MB".to_string(),
            small.idle <= 15 * 1024,
        ),
        (
            format!(
                "first scan, {} vs {} books (through the API)",
                large.n, small.n
            ),
            secs(large.first),
            secs(small.first),
            format!(
                "{:.2}x for {}x the books",
                large.first.as_secs_f64() / small.first.as_secs_f64(),
                large.n / small.n
            ),
            "grows no faster than the books".to_string(),
            large.first.as_secs_f64() / small.first.as_secs_f64()
                <= 1.3 * (large.n / small.n) as f64,
        ),
    ];
    println!();
    println!("| benchmark | ours | baseline | ratio | target | met |");
    println!("|---|---|---|---|---|---|");
    for (name, ours, base, ratio, target, ok) in rows {
        println!(
            "| {name} | {ours} | {base} | {ratio} | {target} | {} |",
            if ok { "yes" } else { "NO" }
        );
    }
}
