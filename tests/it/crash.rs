//! kill -9 at random moments during an organize of 200 books, then restart.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use audiobook_organizer::sample::{SampleTags, mp3_bytes};
use audiobook_organizer::store::{BookStatus, FileRole, OperationStatus, RedbStore, Store};

use crate::helpers::{TestDir, binary, sha256_file, tree};

const BOOKS: usize = 200;

fn bin(t: &TestDir) -> Command {
    let mut c = binary();
    c.current_dir(t.path());
    c
}

/// Every book is either organized with verified files or untouched; every
/// source is intact; no temp file is a book or a known file.
fn check_consistent(db: &Path) -> (usize, usize) {
    let store = RedbStore::open(db).expect("store opens after kill -9");
    let mut organized = 0;
    let mut imported = 0;
    let mut after: Option<String> = None;
    let mut seen = 0;
    loop {
        let page = store.list_books(after.as_deref(), 100).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for b in page {
            seen += 1;
            for f in &b.files {
                assert_eq!(
                    sha256_file(Path::new(&f.path)),
                    f.hash,
                    "source {} damaged",
                    f.path
                );
                assert!(!f.path.contains(".ao-tmp-"));
            }
            match b.status {
                BookStatus::Organized => {
                    organized += 1;
                    for f in &b.files {
                        let p = f.organized_path.as_ref().expect("organized path");
                        assert_eq!(
                            &sha256_file(Path::new(p)),
                            f.organized_hash.as_ref().unwrap(),
                            "organized {p} unverified"
                        );
                        let rec = store.get_file(p).unwrap().expect("organized file recorded");
                        assert_eq!(rec.role, FileRole::Organized);
                    }
                }
                BookStatus::Imported => imported += 1,
                BookStatus::Missing => panic!("no source vanished"),
            }
        }
    }
    assert_eq!(seen, BOOKS);
    assert_eq!(
        store.count_books().unwrap(),
        BOOKS as u64,
        "maintained count drifted"
    );
    (organized, imported)
}

#[test]
fn kill_dash_nine_during_organize_never_damages_or_half_counts() {
    let t = TestDir::new();
    let imports = t.path().join("in");
    for i in 0..BOOKS {
        let tags = SampleTags::book(&format!("Book {i:03}"), &format!("Author {}", i % 17));
        let p = imports.join(format!("{:02}/book{i:03}.mp3", i % 20));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, mp3_bytes(Some(&tags), 12.0, i as u64)).unwrap();
    }
    let status = bin(&t)
        .arg("scan")
        .arg(&imports)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let db = t.path().join("data/audiobook-organizer.redb");

    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut kills = 0;
    // Until five kills have landed inside an organize: a kill that comes
    // after the run ended does not count, and each run organizes some of
    // the 200 books before it is killed, so early kills leave work for
    // the later rounds (late ones had finished the organize in four).
    let mut round = 0;
    while kills < 5 && round < 15 {
        round += 1;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Kill after a random number of placed files (read from the plain
        // log lines on stderr), plus a random sliver of time, so the kill
        // lands inside the work: between copy, fsync, rename and commit.
        let after_files = 1 + (seed % 12) as usize;
        let sliver = Duration::from_micros(seed % 1500);
        let mut child = bin(&t)
            .args(["organize", "--strategy", "copy"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut placed = 0;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(" -> ") {
                placed += 1;
                if placed >= after_files {
                    break;
                }
            }
        }
        std::thread::sleep(sliver);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        if !finished {
            kills += 1;
        }
        let (organized, imported) = check_consistent(&db);
        eprintln!(
            "round {round}: killed after {placed} files + {sliver:?}: {organized} organized, {imported} waiting"
        );
        if organized == BOOKS {
            break;
        }
    }
    assert!(kills >= 5, "only {kills} kills landed inside an organize");

    // A resumed organize completes, and interrupted runs are marked.
    let out = bin(&t)
        .args(["organize", "--strategy", "copy"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (organized, _) = check_consistent(&db);
    assert_eq!(organized, BOOKS);
    let files = tree(&t.path().join("data/library"));
    assert_eq!(
        files.len(),
        BOOKS,
        "every book once, no temp files: {:?}",
        files
            .iter()
            .filter(|f| f.contains(".ao-tmp"))
            .collect::<Vec<_>>()
    );
    let store = RedbStore::open(&db).unwrap();
    let ops = store.list_operations(None, 100).unwrap();
    assert_eq!(ops[0].status, OperationStatus::Completed);
    assert!(
        ops.iter().all(|o| o.status.is_terminal()),
        "no operation left running"
    );
    let interrupted = ops
        .iter()
        .filter(|o| o.status == OperationStatus::Interrupted)
        .count();
    assert!(
        interrupted >= 1 || kills == 0,
        "killed runs are marked interrupted"
    );
}
