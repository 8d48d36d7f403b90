//! A full disk under the store and the library: a small tmpfs (mounting
//! needs root; `.ci/run` runs as root). Operations fail cleanly with a
//! clear message, the store stays consistent and the server keeps serving.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use audiobook_organizer::store::BookStatus;
use serde_json::json;

use crate::helpers::{TestDir, all_books, mp3, sha256_file, tagged};
use crate::server_helpers::{spawn_app_with, test_config};

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_work_cleanly_and_the_store_and_server_survive() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root (.ci/run runs as root)");
        return;
    }
    let t = TestDir::new();
    let small = t.path().join("small");
    let Some(_mount) = Tmpfs::mount(&small, "32m") else {
        panic!("cannot mount a tmpfs although running as root");
    };
    let imports = t.imports();
    let mut sources = Vec::new();
    for i in 0..40u64 {
        let p = imports.join(format!("A{}/Book {i:02}/book.mp3", i % 5));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, mp3(&tagged(&format!("Book {i:02}"), "A"), 30.0, i)).unwrap();
        sources.push((p.clone(), sha256_file(&p)));
    }
    let mut config = test_config(&t);
    config.db = small.join("store.redb");
    config.library = small.join("library");
    let app = spawn_app_with(t, config).await;
    let (_, op) = app
        .post("/api/v1/operations/scan", json!({"paths": [imports]}))
        .await;
    let scan = app.wait_op(op["operation_id"].as_str().unwrap()).await;
    assert_eq!(scan["status"], "completed", "{scan}");

    // Leave about 2 MB: a few books fit, then the disk is full.
    let free = || -> u64 {
        // SAFETY: statvfs is a plain C struct of integers: zeroes are valid.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        let c = std::ffi::CString::new(small.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string and a zeroed out-struct.
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
        st.f_bavail as u64 * st.f_frsize as u64
    };
    let filler = small.join("filler");
    std::fs::write(&filler, vec![0u8; free().saturating_sub(2 << 20) as usize]).unwrap();

    let (_, op) = app
        .post("/api/v1/operations/organize", json!({"strategy": "copy"}))
        .await;
    let id = op["operation_id"].as_str().unwrap().to_string();
    let organize = app.wait_op(&id).await;
    assert!(
        ["completed", "failed"].contains(&organize["status"].as_str().unwrap()),
        "{organize}"
    );
    let (_, logs) = app
        .get(&format!(
            "/api/v1/operations/{id}/logs?level=error&tail=1000"
        ))
        .await;
    let text = logs.to_string();
    assert!(
        text.contains("No space left")
            || text.contains("disk is full")
            || organize.to_string().contains("No space left"),
        "no clear message about the full disk: {organize} {logs}"
    );

    // Still serving: reads work, and /ping says what it can.
    let (status, books) = app.get("/api/v1/books?limit=100").await;
    assert_eq!(status, 200, "{books}");
    assert_eq!(books["total"], 40);
    let (ping, body) = app.get("/ping").await;
    assert!(ping == 200 || ping == 503, "{ping} {body}");

    // Consistent: organized books are verified, the rest untouched, no temp files.
    let check = |books: &[audiobook_organizer::store::Book]| {
        let mut organized = 0;
        for b in books {
            if b.status == BookStatus::Organized {
                organized += 1;
                for f in &b.files {
                    let p = f.organized_path.as_ref().unwrap();
                    assert_eq!(
                        &sha256_file(Path::new(p)),
                        f.organized_hash.as_ref().unwrap()
                    );
                }
            } else {
                assert_eq!(b.status, BookStatus::Imported, "{b:?}");
            }
        }
        organized
    };
    let organized = check(&all_books(&app.engine));
    assert!(organized < 40, "the disk was meant to fill up");
    let temp: Vec<_> = crate::helpers::tree(&small.join("library"))
        .into_iter()
        .filter(|f| f.contains(".ao-tmp"))
        .collect();
    assert!(temp.is_empty(), "temp files left: {temp:?}");
    for (p, h) in &sources {
        assert_eq!(&sha256_file(p), h, "source damaged");
    }

    // Not a byte left: store writes fail too. A scan of new books ends
    // (failed, with the reason) instead of hanging, and nothing half-written
    // shows up afterwards.
    let last = small.join("last-byte");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&last).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.flush();
    }
    let more = imports.join("More");
    for i in 0..20u64 {
        let p = more.join(format!("New {i}/book.mp3"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, mp3(&tagged(&format!("New {i}"), "B"), 1.0, 500 + i)).unwrap();
    }
    let (status, op) = app
        .post("/api/v1/operations/scan", json!({"paths": [more]}))
        .await;
    let full_scan = if status == 202 {
        op["operation_id"].as_str().map(str::to_string)
    } else {
        assert!(op["error"].is_string(), "{status} {op}");
        None
    };
    // The worker is free again, and the server answers.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, q) = app.get("/api/v1/queue").await;
        if q["running"] == 0 && q["queued"] == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scan on a full disk never ended: {q}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = app.get("/api/v1/books?limit=1").await;
    assert_eq!(status, 200, "reads still work");
    std::fs::remove_file(&last).unwrap();
    // With space again, its end is stored (the watchdog retries what the
    // store refused), and says why it failed.
    if let Some(id) = full_scan {
        let ended = app.wait_op(&id).await;
        if ended["status"] == "failed" {
            assert!(
                ended["error_message"]
                    .as_str()
                    .unwrap()
                    .contains("No space left"),
                "{ended}"
            );
        }
    }

    // Space again: the same organize finishes the rest.
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = app.get("/ping").await;
    assert_eq!(status, 200, "{body}");
    let (_, op) = app
        .post("/api/v1/operations/organize", json!({"strategy": "copy"}))
        .await;
    let done = app.wait_op(op["operation_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let books = all_books(&app.engine);
    assert!(
        books.len() == 40 || books.len() == 60,
        "{} books",
        books.len()
    );
    assert_eq!(check(&books), books.len());
    app.stop().await;
}
