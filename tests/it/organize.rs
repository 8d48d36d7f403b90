use std::path::{Path, PathBuf};
use std::time::Duration;

use audiobook_organizer::sample::SampleTags;
use audiobook_organizer::store::{BookStatus, LogLevel, OperationStatus};

use crate::helpers::*;

fn small_library(t: &TestDir) {
    let dune = SampleTags {
        narrator: Some("Scott Brick".into()),
        series: Some("Dune".into()),
        year: Some(1965),
        ..tagged("Dune", "Frank Herbert")
    };
    t.write("in/Dune.m4b", &m4b(&dune, 1.0, 1));
    t.write(
        "in/Emma.flac",
        &flac(&tagged("Emma", "Jane Austen"), 1.0, 2),
    );
    for n in 1..=3u32 {
        let tags = SampleTags {
            track: Some((n, 3)),
            ..tagged("Trilogy", "Anon")
        };
        t.write(
            &format!("in/trilogy/{n:02}.mp3"),
            &mp3(&tags, 0.5, 10 + n as u64),
        );
    }
}

const EXPECTED: &[&str] = &[
    "Anon/Trilogy/Trilogy - Anon - Part 01.mp3",
    "Anon/Trilogy/Trilogy - Anon - Part 02.mp3",
    "Anon/Trilogy/Trilogy - Anon - Part 03.mp3",
    "Frank Herbert/Dune/Dune (1965)/Dune - Frank Herbert - read by Scott Brick.m4b",
    "Jane Austen/Emma/Emma - Jane Austen.flac",
];

fn organize_with(
    strategy: &str,
) -> (
    TestDir,
    audiobook_organizer::engine::Engine,
    audiobook_organizer::store::Operation,
) {
    let t = TestDir::new();
    small_library(&t);
    let engine = start(t.config());
    scan(&engine, &t.imports());
    let op = organize(&engine, strategy);
    (t, engine, op)
}

fn assert_organized(t: &TestDir, engine: &audiobook_organizer::engine::Engine) {
    let lib = t.config().library;
    assert_eq!(tree(&lib), EXPECTED);
    for b in all_books(engine) {
        assert_eq!(b.status, BookStatus::Organized, "{b:?}");
        for f in &b.files {
            let placed = f.organized_path.as_ref().expect("organized path recorded");
            assert_eq!(f.organized_hash.as_deref(), Some(f.hash.as_str()));
            assert_eq!(
                sha256_file(Path::new(placed)),
                f.hash,
                "content of {placed}"
            );
            // Sources are never modified or removed.
            assert_eq!(sha256_file(Path::new(&f.path)), f.hash);
        }
    }
}

#[test]
fn copy_places_every_book_under_the_default_patterns() {
    let (t, engine, op) = organize_with("copy");
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    assert_organized(&t, &engine);
    let lib = t.config().library;
    let meta = std::fs::metadata(lib.join(EXPECTED[4])).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::nlink(&meta),
        1,
        "copy makes an independent file"
    );
    assert_eq!(engine.metrics.organize_strategy.get("copy"), 5);
    assert_eq!(
        engine
            .metrics
            .organize_files_processed
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
}

#[test]
fn hardlink_shares_the_inode() {
    let (t, engine, op) = organize_with("hardlink");
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    assert_organized(&t, &engine);
    let meta = std::fs::metadata(t.config().library.join(EXPECTED[4])).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::nlink(&meta), 2);
}

#[test]
fn a_source_rewritten_since_the_scan_is_not_placed_in_the_library() {
    // A hard link is trusted without reading it only while the source's
    // size and mtime are those the scan saw; otherwise its content is
    // checked, and a source whose content changed is refused (rescan
    // first). A copy is checked against the scan's hash before it gets a
    // name in the library.
    for strategy in ["hardlink", "copy"] {
        let t = TestDir::new();
        small_library(&t);
        let engine = start(t.config());
        scan(&engine, &t.imports());
        let emma = t.imports().join("in/Emma.flac");
        let mut changed = std::fs::read(&emma).unwrap();
        changed.extend_from_slice(b"appended after the scan");
        std::fs::write(&emma, changed).unwrap();
        let op = organize(&engine, strategy);
        assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
        assert!(
            op.message.contains("1 failed"),
            "{strategy}: {}",
            op.message
        );
        let lines = log_messages(&engine, &op.id);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("Emma") && l.contains("changed since it was scanned")),
            "{strategy}: {lines:?}"
        );
        let lib = t.config().library;
        // Only the other books are there: nothing of Emma, no temp file.
        assert_eq!(tree(&lib), [EXPECTED[..4].to_vec()].concat(), "{strategy}");
        let emma = book_titled(&all_books(&engine), "Emma").clone();
        assert_eq!(emma.status, BookStatus::Imported);
        engine.shutdown(Duration::from_secs(1));
    }
}

#[test]
fn two_books_aiming_at_one_name_leave_one_placed_and_nothing_else() {
    // Two different recordings with the same tags, in different folders:
    // both books want the same file name, in the same group of placed
    // books. One is placed; the other is refused and leaves no file.
    let t = TestDir::new();
    t.write("in/a/book.mp3", &mp3(&tagged("Same", "Anon"), 0.5, 1));
    t.write("in/b/book.mp3", &mp3(&tagged("Same", "Anon"), 0.7, 2));
    let engine = start(t.config());
    scan(&engine, &t.imports());
    assert_eq!(all_books(&engine).len(), 2);
    for strategy in ["copy", "hardlink"] {
        let op = organize(&engine, strategy);
        assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
        let lib = t.config().library;
        assert_eq!(tree(&lib), ["Anon/Same/Same - Anon.mp3"], "{strategy}");
        let placed = all_books(&engine)
            .into_iter()
            .filter(|b| b.status == BookStatus::Organized)
            .count();
        assert_eq!(placed, 1, "{strategy}: {}", op.message);
        if strategy == "copy" {
            assert!(op.message.contains("1 failed"), "{}", op.message);
            assert!(
                logs(&engine, &op.id)
                    .iter()
                    .any(|l| l.level == LogLevel::Error && l.message.contains("not overwritten")),
            );
        } else {
            // The second run finds the first book in place and the other
            // still refused.
            assert!(op.message.contains("1 already organized"), "{}", op.message);
        }
    }
    engine.shutdown(Duration::from_secs(1));
}

/// A folder on a file system that clones (XFS or btrfs), from
/// `AO_TEST_REFLINK_DIR`; `.ci/run` mounts one (scripts/reflink-fs).
fn reflink_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("AO_TEST_REFLINK_DIR")?;
    Some(std::path::PathBuf::from(dir))
}

#[test]
fn reflink_clones_on_a_file_system_that_shares_extents() {
    let Some(dir) = reflink_dir() else {
        eprintln!("AO_TEST_REFLINK_DIR is not set: no file system with reflinks to test on");
        return;
    };
    for strategy in ["reflink", "auto"] {
        let t = TestDir::new_in(&dir);
        small_library(&t);
        let engine = start(t.config());
        scan(&engine, &t.imports());
        let op = organize(&engine, strategy);
        assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
        assert!(op.message.contains("0 failed"), "{}", op.message);
        assert_eq!(
            engine.metrics.organize_strategy.get("reflink"),
            5,
            "{strategy}: every file cloned"
        );
        assert_organized(&t, &engine);
        // The clone shares the source's extents and has its own inode.
        let placed = t.config().library.join(EXPECTED[4]);
        assert_eq!(
            std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(&placed).unwrap()),
            1
        );
        let map = std::process::Command::new("filefrag")
            .arg("-v")
            .arg(&placed)
            .output()
            .expect("filefrag (e2fsprogs)");
        let map = String::from_utf8_lossy(&map.stdout);
        assert!(map.contains("shared"), "{map}");
        engine.shutdown(Duration::from_secs(1));
    }
}

#[test]
fn symlink_points_at_the_source() {
    let (t, engine, op) = organize_with("symlink");
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    assert_organized(&t, &engine);
    let link = t.config().library.join(EXPECTED[4]);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn auto_falls_back_and_reflink_leaves_nothing_behind_when_unsupported() {
    let (t, engine, op) = organize_with("auto");
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    assert_organized(&t, &engine);
    let used: u64 = ["reflink", "hardlink", "copy"]
        .iter()
        .map(|s| engine.metrics.organize_strategy.get(s))
        .sum();
    assert_eq!(used, 5);

    let (t, engine, op) = organize_with("reflink");
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    if engine.metrics.organize_strategy.get("reflink") == 5 {
        assert_organized(&t, &engine);
    } else {
        // This file system cannot clone: every book failed cleanly and no
        // temp or empty file was left in the library.
        let files = tree(&t.config().library);
        assert!(files.is_empty(), "{files:?}");
        assert!(
            op.message.contains("5 failed") || op.message.contains("3 failed"),
            "{}",
            op.message
        );
        assert!(
            all_books(&engine)
                .iter()
                .all(|b| b.status == BookStatus::Imported)
        );
    }
}

#[test]
fn an_occupied_target_is_never_overwritten() {
    let t = TestDir::new();
    small_library(&t);
    let lib = t.config().library;
    let emma_target = lib.join(EXPECTED[4]);
    std::fs::create_dir_all(emma_target.parent().unwrap()).unwrap();
    std::fs::write(&emma_target, b"somebody else's file").unwrap();
    let engine = start(t.config());
    scan(&engine, &t.imports());
    let op = organize(&engine, "copy");
    assert!(
        op.message.contains("2 book(s) (4 file(s))") && op.message.contains("1 failed"),
        "{}",
        op.message
    );
    assert_eq!(
        std::fs::read(&emma_target).unwrap(),
        b"somebody else's file"
    );
    let lines = logs(&engine, &op.id);
    assert!(
        lines
            .iter()
            .any(|l| l.level == LogLevel::Error && l.message.contains("not overwritten")),
        "{lines:#?}"
    );
    let books = all_books(&engine);
    assert_eq!(book_titled(&books, "Emma").status, BookStatus::Imported);

    // Same content already there counts as done.
    std::fs::remove_file(&emma_target).unwrap();
    let src = book_titled(&books, "Emma").files[0].path.clone();
    std::fs::copy(&src, &emma_target).unwrap();
    let op = organize(&engine, "copy");
    assert!(
        op.message.contains("1 book(s) (0 file(s))") && op.message.contains("0 failed"),
        "{}",
        op.message
    );
    assert_eq!(
        book_titled(&all_books(&engine), "Emma").status,
        BookStatus::Organized
    );
}

#[test]
fn tag_values_cannot_steer_files_out_of_the_library() {
    let t = TestDir::new();
    let evil = SampleTags {
        narrator: Some("../../../../tmp/x".into()),
        series: Some("/etc".into()),
        ..tagged("..", "../../..")
    };
    t.write("in/evil.mp3", &mp3(&evil, 0.5, 1));
    t.write(
        "in/evil2.mp3",
        &mp3(&tagged("a/../../b\\c", "x:y*z?<>|\"q"), 0.5, 2),
    );
    let engine = start(t.config());
    scan(&engine, &t.imports());
    let op = organize(&engine, "copy");
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    assert!(op.message.contains("0 failed"), "{}", op.message);
    let lib = std::fs::canonicalize(t.config().library).unwrap();
    let placed = tree(&lib);
    assert_eq!(placed.len(), 2, "{placed:?}");
    for b in all_books(&engine) {
        let p = std::fs::canonicalize(b.files[0].organized_path.as_ref().unwrap()).unwrap();
        assert!(
            p.starts_with(&lib),
            "{} escaped {}",
            p.display(),
            lib.display()
        );
    }
    // Nothing was written next to the library.
    let outside: Vec<_> = tree(t.path())
        .into_iter()
        .filter(|p| !p.starts_with("data/") && !p.starts_with("imports/"))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}

#[test]
fn a_later_scan_recognizes_organized_files_as_the_same_books() {
    let t = TestDir::new();
    small_library(&t);
    let mut config = t.config();
    // The library lives inside the import folder.
    config.library = t.imports().join("library");
    let engine = start(config);
    scan(&engine, &t.imports());
    let op = organize(&engine, "copy");
    assert_eq!(op.status, OperationStatus::Completed);
    let op = scan(&engine, &t.imports());
    // Organize registered what it placed: the scan knows those files already.
    assert!(
        op.message.contains("0 new book(s)") && op.message.contains("10 unchanged"),
        "{}",
        op.message
    );
    assert!(op.message.contains("0 duplicate(s)"), "{}", op.message);
    assert_eq!(all_books(&engine).len(), 3);
    // A store that forgot those files (say, a fresh one) still recognizes
    // them by content as the organized copies of the same books.
    let lib = t.imports().join("library");
    for b in all_books(&engine) {
        for f in &b.files {
            engine
                .store
                .apply(
                    &[audiobook_organizer::store::Mutation::DeleteFile(
                        f.organized_path.clone().unwrap(),
                    )],
                    true,
                )
                .unwrap();
        }
    }
    let op = scan(&engine, &lib);
    assert!(
        op.message.contains("0 new book(s)") && op.message.contains("5 organized copies"),
        "{}",
        op.message
    );
    assert_eq!(all_books(&engine).len(), 3);
    engine.shutdown(Duration::from_secs(1));
}

#[test]
fn organize_within_a_small_open_files_limit_places_every_book() {
    // Each book of a group keeps its folder open until the group is
    // durable, and three groups can be open at once: under a limit of 64
    // open files the groups are smaller, and nothing fails for lack of
    // descriptors.
    let Ok(prlimit) = which("prlimit") else {
        eprintln!("no prlimit (util-linux): skipped");
        return;
    };
    let t = TestDir::new();
    for i in 0..300u64 {
        let tags = tagged(&format!("Book {i:03}"), &format!("Author {}", i % 7));
        t.write(&format!("in/{i:03}/book.mp3"), &mp3(&tags, 0.2, i));
    }
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&prlimit)
            .arg("--nofile=64:64")
            .arg(env!("CARGO_BIN_EXE_audiobook-organizer"))
            .args(args)
            .current_dir(t.path())
            .env_remove("AO_DB")
            .env_remove("AO_DIR")
            .env_remove("AO_CONFIG")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    run(&["scan", t.imports().to_str().unwrap()]);
    for strategy in ["copy", "hardlink"] {
        let text = run(&["organize", "--strategy", strategy]);
        if strategy == "copy" {
            assert!(
                text.contains("organized 300 book(s)") && text.contains("0 failed"),
                "{text}"
            );
        }
    }
    assert_eq!(tree(&t.path().join("data/library")).len(), 300);
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

/// Edits Emma through the engine as a user would.
fn edit(engine: &audiobook_organizer::engine::Engine, title: &str, body: serde_json::Value) {
    let id = all_books(engine)
        .into_iter()
        .find(|b| b.title == title)
        .unwrap()
        .id;
    let req =
        audiobook_organizer::book_edits::EditRequest::from_json(body.as_object().unwrap()).unwrap();
    engine.edit_books(&[id], &req, "local").unwrap();
}

fn dirs(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn an_edited_book_moves_to_its_new_path_and_its_old_folder_goes() {
    use std::os::unix::fs::MetadataExt;
    let t = TestDir::new();
    small_library(&t);
    let mut config = t.config();
    config.organize_side_files = true;
    let lib = config.library.clone();
    let engine = start(config);
    scan(&engine, &t.imports());
    let op = organize(&engine, "hardlink");
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    let old = lib.join("Jane Austen/Emma/Emma - Jane Austen.flac");
    let inode = std::fs::metadata(&old).unwrap().ino();

    edit(
        &engine,
        "Emma",
        serde_json::json!({ "title": "Emma (Annotated)", "authors": ["Jane Austen", "Juliette Wells"] }),
    );
    let op = organize(&engine, "hardlink");
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    assert!(
        op.message
            .contains("1 moved to new paths, 2 already organized")
            && op.message.ends_with(" 0 failed"),
        "{}",
        op.message
    );
    let new = lib.join(
        "Jane Austen, Juliette Wells/Emma (Annotated)/Emma (Annotated) - Jane Austen, Juliette Wells.flac",
    );
    // Renamed, not copied again: the same file.
    assert_eq!(std::fs::metadata(&new).unwrap().ino(), inode);
    // The old folder (and the author folder above it) went with it.
    assert_eq!(
        dirs(&lib),
        ["Anon", "Frank Herbert", "Jane Austen, Juliette Wells"]
    );
    let emma = all_books(&engine)
        .into_iter()
        .find(|b| b.title == "Emma (Annotated)")
        .unwrap();
    assert_eq!(emma.status, BookStatus::Organized);
    assert_eq!(
        emma.files[0].organized_path.as_deref(),
        Some(new.to_str().unwrap())
    );
    assert!(
        emma.organized_dir
            .as_deref()
            .unwrap()
            .ends_with("Emma (Annotated)")
    );
    let files = |p: &Path| engine.store.get_file(p.to_str().unwrap()).unwrap();
    assert!(files(&old).is_none(), "the old path's record is gone");
    assert!(files(&new).is_some());
    // Side files were written in the new folder.
    assert!(new.with_file_name("metadata.json").exists());
    assert!(
        logs(&engine, &op.id)
            .iter()
            .any(|l| l.message.starts_with("moved \"Emma (Annotated)\" from "))
    );

    // A run that moved the file and stopped before recording it: the
    // file at its new name is taken as placed.
    edit(
        &engine,
        "Emma (Annotated)",
        serde_json::json!({ "title": "Emma" }),
    );
    let crashed =
        lib.join("Jane Austen, Juliette Wells/Emma/Emma - Jane Austen, Juliette Wells.flac");
    std::fs::create_dir_all(crashed.parent().unwrap()).unwrap();
    std::fs::rename(&new, &crashed).unwrap();
    let op = organize(&engine, "hardlink");
    assert!(
        op.message.contains("1 moved to new paths") && op.message.ends_with(" 0 failed"),
        "{}",
        op.message
    );
    assert_eq!(std::fs::metadata(&crashed).unwrap().ino(), inode);
    assert_eq!(dirs(&lib.join("Jane Austen, Juliette Wells")), ["Emma"]);
    // A rescan finds the organized copy where the store says it is.
    let op = scan(&engine, &t.imports());
    assert_eq!(all_books(&engine).len(), 3, "{}", op.message);
    // Nothing to move the next time.
    let op = organize(&engine, "hardlink");
    assert!(
        op.message
            .contains("0 moved to new paths, 3 already organized"),
        "{}",
        op.message
    );
    engine.shutdown(Duration::from_secs(1));
}

#[test]
fn a_dry_run_lists_targets_strategies_and_conflicts_and_touches_nothing() {
    let t = TestDir::new();
    small_library(&t);
    // Two recordings with the same tags: one target name for both.
    t.write("in/a/same.mp3", &mp3(&tagged("Same", "Anon"), 0.5, 41));
    t.write("in/b/same.mp3", &mp3(&tagged("Same", "Anon"), 0.7, 42));
    let config = t.config();
    let lib = config.library.clone();
    let engine = start(config);
    scan(&engine, &t.imports());
    let sources = tree(&t.imports());
    assert!(!lib.exists());
    let op = run_op(
        &engine,
        "organize",
        serde_json::json!({ "strategy": "hardlink", "dry_run": true }),
    );
    assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    assert_eq!(
        op.message,
        "organize plan (nothing changed): 5 book(s) to place, 0 to move, 0 in place, 0 skipped, 0 cannot be organized, 1 conflict(s)"
    );
    // Nothing made: not even the library root; the sources as they were.
    assert!(!lib.exists());
    assert_eq!(tree(&t.imports()), sources);
    assert!(
        all_books(&engine)
            .iter()
            .all(|b| b.status == BookStatus::Imported)
    );
    let lines = logs(&engine, &op.id);
    let plan: Vec<&str> = lines
        .iter()
        .filter(|l| l.message.starts_with("plan: "))
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(plan.len(), 5, "{plan:?}");
    assert!(
        plan.iter().any(|l| l.starts_with("plan: \"Emma\" -> ")
            && l.ends_with("Jane Austen/Emma (hardlink, 1 file(s))")),
        "{plan:?}"
    );
    assert!(
        plan.iter()
            .any(|l| l.contains("Trilogy") && l.ends_with("(hardlink, 3 file(s))"))
    );
    let conflicts: Vec<&str> = lines
        .iter()
        .filter(|l| l.level == LogLevel::Warn)
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert!(conflicts[0].contains("Same - Anon.mp3 is also the target of \"Same\""));

    // A file already at a target is a conflict too, and still untouched.
    let occupied = lib.join("Jane Austen/Emma/Emma - Jane Austen.flac");
    std::fs::create_dir_all(occupied.parent().unwrap()).unwrap();
    std::fs::write(&occupied, b"someone else's").unwrap();
    let op = run_op(&engine, "organize", serde_json::json!({ "dry_run": true }));
    assert!(op.message.ends_with("2 conflict(s)"), "{}", op.message);
    assert!(logs(&engine, &op.id).iter().any(|l| l.level == LogLevel::Warn
        && l.message.contains("is occupied by another file")));
    assert_eq!(std::fs::read(&occupied).unwrap(), b"someone else's");
    assert_eq!(tree(&lib), ["Jane Austen/Emma/Emma - Jane Austen.flac"]);
    engine.shutdown(Duration::from_secs(1));
}

/// The tags mutagen (an independent reader) finds in `path`, as JSON:
/// title, album, artists, composers, series, series part, track.
fn mutagen_tags(path: &Path) -> serde_json::Value {
    let script = r#"
import json, sys, mutagen, mutagen.mp4
f = mutagen.File(sys.argv[1])
t = f.tags
out = {}
if hasattr(t, 'getall'):
    def text(id):
        fr = t.getall(id)
        return [str(x) for x in fr[0].text] if fr else []
    out = {"title": text("TIT2"), "album": text("TALB"), "artists": text("TPE1"),
           "composers": text("TCOM"), "track": text("TRCK")}
    for fr in t.getall("TXXX"):
        out["txxx:" + fr.desc.lower()] = [str(x) for x in fr.text]
elif isinstance(f, mutagen.mp4.MP4):
    def ff(name):
        return [bytes(x).decode() for x in t.get("----:com.apple.iTunes:" + name, [])]
    out = {"title": t.get("\xa9nam", []), "album": t.get("\xa9alb", []), "artists": t.get("\xa9ART", []),
           "narrators": t.get("\xa9nrt", []), "series": t.get("\xa9mvn", []), "series-part": ff("series-part")}
else:
    for k in ("title", "album", "artist", "composer", "series", "series-part", "tracknumber"):
        out[k] = t.get(k, [])
print(json.dumps(out))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 with mutagen (scripts/test --setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn tags_are_written_into_copies_only_and_read_back_by_another_reader() {
    use audiobook_organizer::hash::compute_file_hash;
    let t = TestDir::new();
    // Files other programs wrote: an MP3 (ID3v2.3 with a track number),
    // an M4B with its moov before the audio (the tags grow it: every chunk
    // offset moves), an Opus file (not a format tags are written into);
    // and a FLAC and an M4B of our own samples.
    let ffmpeg = |rel: &str, args: &[&str]| {
        let out = t.imports().join(rel);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let ok = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=2",
            ])
            .args(args)
            .arg("-y")
            .arg(&out)
            .status()
            .expect("ffmpeg (scripts/test --setup installs it)");
        assert!(ok.success());
        out
    };
    let mp3_src = ffmpeg(
        "in/A/book.mp3",
        &[
            "-metadata",
            "title=Old Title",
            "-metadata",
            "artist=Old Artist",
            "-metadata",
            "track=3",
            "-id3v2_version",
            "3",
        ],
    );
    let m4b_src = ffmpeg(
        "in/D/book.m4b",
        &[
            "-c:a",
            "aac",
            "-metadata",
            "title=Fast Start",
            "-metadata",
            "artist=Muxer",
            "-movflags",
            "+faststart",
            "-f",
            "ipod",
        ],
    );
    ffmpeg(
        "in/E/book.opus",
        &["-c:a", "libopus", "-metadata", "title=Opus Book"],
    );
    t.write(
        "in/B/book.flac",
        &flac(&tagged("Flac Book", "Flac Author"), 1.0, 2),
    );
    t.write(
        "in/C/book.m4b",
        &m4b(&tagged("M4b Book", "M4b Author"), 1.0, 3),
    );
    let mut config = t.config();
    config.organize_write_tags = true;
    let lib = config.library.clone();
    let engine = start(config);
    scan(&engine, &t.imports());
    let sources: Vec<(String, String)> = all_books(&engine)
        .iter()
        .map(|b| (b.files[0].path.clone(), b.files[0].hash.clone()))
        .collect();
    edit(
        &engine,
        "Old Title",
        serde_json::json!({ "title": "New Title", "authors": ["Author One", "Author Two"],
            "narrators": ["A Reader"], "series": "Saga", "series_index": "2" }),
    );
    let op = organize(&engine, "copy");
    assert!(op.message.ends_with(" 0 failed"), "{}", op.message);
    let first_run = op.id.clone();

    let books = all_books(&engine);
    let book = |title: &str| books.iter().find(|b| b.title == title).unwrap();
    let organized =
        |title: &str| PathBuf::from(book(title).files[0].organized_path.clone().unwrap());
    // MP3: what mutagen reads is what was written; the track stays.
    let mp3_copy = organized("New Title");
    let m = mutagen_tags(&mp3_copy);
    assert_eq!(m["title"], serde_json::json!(["New Title"]), "{m}");
    assert_eq!(m["album"], serde_json::json!(["New Title"]));
    assert_eq!(
        m["artists"],
        serde_json::json!(["Author One", "Author Two"])
    );
    assert_eq!(m["composers"], serde_json::json!(["A Reader"]));
    assert_eq!(m["txxx:series"], serde_json::json!(["Saga"]));
    assert_eq!(m["txxx:series-part"], serde_json::json!(["2"]));
    assert_eq!(m["track"], serde_json::json!(["3"]));
    // FLAC the same, in Vorbis comments.
    let flac_copy = organized("Flac Book");
    let m = mutagen_tags(&flac_copy);
    assert_eq!(m["title"], serde_json::json!(["Flac Book"]), "{m}");
    assert_eq!(m["artist"], serde_json::json!(["Flac Author"]));
    // M4B: the items, and the audio decodes to the same samples as the
    // source's (ffmpeg's MD5 of the decoded stream): the offsets moved.
    let m4b_copy = organized("Fast Start");
    let m = mutagen_tags(&m4b_copy);
    assert_eq!(m["title"], serde_json::json!(["Fast Start"]), "{m}");
    assert_eq!(m["artists"], serde_json::json!(["Muxer"]));
    let decoded = |p: &Path| {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(p)
            .args(["-map", "0:a", "-f", "md5", "-"])
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(decoded(&m4b_copy), decoded(&m4b_src));
    assert_eq!(decoded(&mp3_copy), decoded(&mp3_src));
    let m = mutagen_tags(&organized("M4b Book"));
    assert_eq!(m["title"], serde_json::json!(["M4b Book"]), "{m}");
    assert_eq!(m["artists"], serde_json::json!(["M4b Author"]));
    // The organized hash is the tagged copy's; the sources never changed.
    for title in ["New Title", "Flac Book", "Fast Start", "M4b Book"] {
        let f = &book(title).files[0];
        let copy_hash = compute_file_hash(&organized(title)).unwrap();
        assert_eq!(f.organized_hash.as_deref(), Some(copy_hash.as_str()));
        assert_ne!(copy_hash, f.hash);
    }
    for (path, hash) in &sources {
        assert_eq!(&compute_file_hash(Path::new(path)).unwrap(), hash, "{path}");
    }
    // The Opus file is copied as it is, and the log says why.
    let opus = book("Opus Book");
    assert_eq!(
        opus.files[0].organized_hash.as_deref(),
        Some(opus.files[0].hash.as_str())
    );
    assert!(
        logs(&engine, &first_run)
            .iter()
            .any(|l| l.message.contains(".opus files are not tagged"))
    );
    // An M4B edited with a narrator and a series moves, retagged.
    edit(
        &engine,
        "Fast Start",
        serde_json::json!({ "narrators": ["Mp4 Reader"], "series": "Mp4 Saga", "series_index": "1.5" }),
    );
    let op = organize(&engine, "copy");
    assert!(
        op.message.contains("1 moved to new paths") && op.message.ends_with(" 0 failed"),
        "{}",
        op.message
    );
    let fast = all_books(&engine)
        .into_iter()
        .find(|b| b.title == "Fast Start")
        .unwrap();
    let fast_copy = PathBuf::from(fast.files[0].organized_path.clone().unwrap());
    let m = mutagen_tags(&fast_copy);
    assert_eq!(m["narrators"], serde_json::json!(["Mp4 Reader"]), "{m}");
    assert_eq!(m["series"], serde_json::json!(["Mp4 Saga"]));
    assert_eq!(m["series-part"], serde_json::json!(["1.5"]));
    assert_eq!(decoded(&fast_copy), decoded(&m4b_src));
    // Edited again: the copy moves and its tags follow the edit.
    edit(
        &engine,
        "New Title",
        serde_json::json!({ "title": "Newer Title" }),
    );
    let op = organize(&engine, "copy");
    assert!(
        op.message.contains("1 moved to new paths") && op.message.ends_with(" 0 failed"),
        "{}",
        op.message
    );
    let books = all_books(&engine);
    let newer = books.iter().find(|b| b.title == "Newer Title").unwrap();
    let moved = PathBuf::from(newer.files[0].organized_path.clone().unwrap());
    assert!(!mp3_copy.exists());
    let m = mutagen_tags(&moved);
    assert_eq!(m["title"], serde_json::json!(["Newer Title"]), "{m}");
    assert_eq!(
        m["artists"],
        serde_json::json!(["Author One", "Author Two"])
    );
    assert_eq!(m["track"], serde_json::json!(["3"]));
    assert_eq!(
        newer.files[0].organized_hash.as_deref(),
        Some(compute_file_hash(&moved).unwrap().as_str())
    );
    // An integrity check finds every organized copy as recorded.
    let check = run_op(&engine, "integrity_check", serde_json::json!({}));
    assert_eq!(check.status, OperationStatus::Completed, "{check:?}");
    assert!(
        engine
            .store
            .count_findings()
            .unwrap()
            .iter()
            .all(|(_, n)| *n == 0),
        "{}",
        check.message
    );
    assert!(lib.join("Author One, Author Two").is_dir());
    engine.shutdown(Duration::from_secs(1));

    // Hard links share the source's data: never tagged.
    let t2 = TestDir::new();
    t2.write("in/a.mp3", &mp3(&tagged("Linked", "Someone"), 0.5, 4));
    let mut config = t2.config();
    config.organize_write_tags = true;
    let engine = start(config);
    scan(&engine, &t2.imports());
    let before = std::fs::read(t2.imports().join("in/a.mp3")).unwrap();
    let op = organize(&engine, "hardlink");
    assert!(op.message.ends_with(" 0 failed"), "{}", op.message);
    assert!(logs(&engine, &op.id).iter().any(|l| {
        l.message
            .starts_with("tags are written only into copies and clones")
    }));
    assert_eq!(
        std::fs::read(t2.imports().join("in/a.mp3")).unwrap(),
        before
    );
    engine.shutdown(Duration::from_secs(1));
}
