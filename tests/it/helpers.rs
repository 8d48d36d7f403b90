//! Shared test helpers: real files in temp dirs, a real store, a real engine.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use audiobook_organizer::config::Config;
use audiobook_organizer::engine::{Engine, StartOptions};
use audiobook_organizer::sample::{SampleTags, flac_bytes, m4b_bytes, mp3_bytes};
use audiobook_organizer::store::{Book, LogEntry, Operation, OperationStatus, Priority};
use serde_json::{Value, json};

pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    /// A test folder inside `parent` (another file system, say).
    pub fn new_in(parent: &Path) -> Self {
        Self {
            dir: tempfile::tempdir_in(parent).expect("tempdir"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn imports(&self) -> PathBuf {
        let p = self.path().join("imports");
        std::fs::create_dir_all(&p).unwrap();
        p
    }
    pub fn config(&self) -> Config {
        let mut c = Config::with_base(self.path());
        c.scan_threads = 2;
        c
    }
    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.imports().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

pub fn start(config: Config) -> Engine {
    Engine::start(config, StartOptions::default()).expect("engine starts")
}

pub fn run_op(engine: &Engine, op_type: &str, params: Value) -> Operation {
    let op = engine
        .queue
        .enqueue(op_type, Priority::Normal, params, None)
        .expect("enqueue");
    let done = engine
        .queue
        .wait(&op.id, Duration::from_secs(120))
        .expect("wait");
    assert!(
        done.status.is_terminal(),
        "operation did not finish: {done:?}"
    );
    done
}

pub fn scan(engine: &Engine, dir: &Path) -> Operation {
    let op = run_op(engine, "scan", json!({ "paths": [dir] }));
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    op
}

pub fn organize(engine: &Engine, strategy: &str) -> Operation {
    run_op(engine, "organize", json!({ "strategy": strategy }))
}

pub fn all_books(engine: &Engine) -> Vec<Book> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = engine.store.list_books(after.as_deref(), 100).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        out.extend(page);
    }
    out
}

pub fn book_titled<'a>(books: &'a [Book], title: &str) -> &'a Book {
    books.iter().find(|b| b.title == title).unwrap_or_else(|| {
        panic!(
            "no book titled {title:?} in {:?}",
            books.iter().map(|b| &b.title).collect::<Vec<_>>()
        )
    })
}

pub fn logs(engine: &Engine, id: &str) -> Vec<LogEntry> {
    engine.writer.flush().unwrap();
    engine.store.logs_after(id, 0, usize::MAX).unwrap()
}

/// The messages of an operation's log lines.
pub fn log_messages(engine: &Engine, id: &str) -> Vec<String> {
    logs(engine, id).into_iter().map(|l| l.message).collect()
}

pub fn tagged(title: &str, author: &str) -> SampleTags {
    SampleTags::book(title, author)
}

pub fn mp3(tags: &SampleTags, secs: f64, seed: u64) -> Vec<u8> {
    mp3_bytes(Some(tags), secs, seed)
}
pub fn m4b(tags: &SampleTags, secs: f64, seed: u64) -> Vec<u8> {
    m4b_bytes(Some(tags), secs, seed)
}
pub fn flac(tags: &SampleTags, secs: f64, seed: u64) -> Vec<u8> {
    flac_bytes(Some(tags), secs, seed)
}

/// Every regular file under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn sha256_file(p: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum runs");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The real binary, with the caller's AO_* store settings removed.
pub fn binary() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_audiobook-organizer"));
    c.env_remove("AO_DB")
        .env_remove("AO_DIR")
        .env_remove("AO_CONFIG");
    c
}

/// A port that was free a moment ago (for a server in its own process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `serve` binary in its own process on a known port, with its
/// store under `dir/data` and `dir/c.toml` as its configuration, so a
/// test can kill it (-9) and start it again on the same store and port.
pub struct ServeProcess {
    child: std::process::Child,
    pub base: String,
}

impl ServeProcess {
    pub fn start(dir: &Path, port: u16, config_toml: &str) -> Self {
        std::fs::write(dir.join("c.toml"), config_toml).unwrap();
        let mut child = binary()
            .current_dir(dir)
            .args(["--config", "c.toml", "serve", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    child,
                    base: format!("http://127.0.0.1:{port}"),
                };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not listen on {port}");
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
