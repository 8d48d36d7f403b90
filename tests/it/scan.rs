use std::time::{Duration, SystemTime};

use audiobook_organizer::sample::{SampleTags, mp3_bytes};
use audiobook_organizer::store::{BookStatus, LogLevel, OperationStatus, Priority};

use crate::helpers::*;

fn library_of_four_formats(t: &TestDir) {
    let dune = SampleTags {
        narrator: Some("Scott Brick".into()),
        series: Some("Dune Chronicles".into()),
        series_part: Some("1".into()),
        year: Some(1965),
        ..tagged("Dune", "Frank Herbert")
    };
    t.write("Frank Herbert/Dune/Dune.m4b", &m4b(&dune, 3.0, 1));
    let hobbit = SampleTags {
        narrator: Some("Andy Serkis".into()),
        series: Some("Middle-earth".into()),
        series_part: Some("0".into()),
        year: Some(1937),
        ..tagged("The Hobbit", "J.R.R. Tolkien")
    };
    t.write("dl/hobbit.mp3", &mp3(&hobbit, 4.0, 2));
    let emma = SampleTags {
        narrator: Some("Juliet Stevenson".into()),
        series: Some("Austen Novels".into()),
        series_part: Some("4".into()),
        year: Some(1815),
        ..tagged("Emma", "Jane Austen")
    };
    t.write("dl/Austen/emma.flac", &flac(&emma, 2.0, 3));
    t.write(
        "dl/untagged/Mary Shelley - Frankenstein.mp3",
        &mp3_bytes(None, 2.0, 4),
    );
}

#[test]
fn reads_tags_of_every_format_and_falls_back_to_the_path() {
    let t = TestDir::new();
    library_of_four_formats(&t);
    let engine = start(t.config());
    scan(&engine, &t.imports());
    let books = all_books(&engine);
    assert_eq!(books.len(), 4);
    assert_eq!(engine.store.count_books().unwrap(), 4);

    let dune = book_titled(&books, "Dune");
    assert_eq!(dune.author, "Frank Herbert");
    assert_eq!(dune.narrator.as_deref(), Some("Scott Brick"));
    assert_eq!(dune.series.as_deref(), Some("Dune Chronicles"));
    assert_eq!(dune.series_index.as_deref(), Some("1"));
    assert_eq!(dune.year, Some(1965));
    assert_eq!(dune.codec.as_deref(), Some("aac"));
    assert!(
        (dune.duration_secs - 3.0).abs() < 0.1,
        "{}",
        dune.duration_secs
    );

    let hobbit = book_titled(&books, "The Hobbit");
    assert_eq!(hobbit.author, "J.R.R. Tolkien");
    assert_eq!(hobbit.narrator.as_deref(), Some("Andy Serkis"));
    assert_eq!(hobbit.series.as_deref(), Some("Middle-earth"));
    assert_eq!(hobbit.codec.as_deref(), Some("mp3"));
    assert_eq!(hobbit.bitrate_kbps, Some(128));
    assert!(
        (hobbit.duration_secs - 4.0).abs() < 0.1,
        "{}",
        hobbit.duration_secs
    );

    let emma = book_titled(&books, "Emma");
    assert_eq!(emma.author, "Jane Austen");
    assert_eq!(emma.narrator.as_deref(), Some("Juliet Stevenson"));
    assert_eq!(emma.series_index.as_deref(), Some("4"));
    assert_eq!(emma.codec.as_deref(), Some("flac"));
    assert!(
        (emma.duration_secs - 2.0).abs() < 0.1,
        "{}",
        emma.duration_secs
    );

    let frank = book_titled(&books, "Frankenstein");
    assert_eq!(frank.author, "Mary Shelley");
    assert_eq!(frank.narrator, None);
    for b in &books {
        assert_eq!(b.status, BookStatus::Imported);
        assert_eq!(
            b.files[0].hash,
            sha256_file(std::path::Path::new(&b.files[0].path))
        );
    }
    engine.shutdown(Duration::from_secs(1));
}

#[test]
fn numbered_parts_in_one_folder_are_one_book_in_track_order() {
    let t = TestDir::new();
    for n in (1..=30u32).rev() {
        let tags = SampleTags {
            title: Some(format!("Part {n}")),
            track: Some((n, 30)),
            ..tagged("The Long Book", "Some Author")
        };
        let tags = SampleTags {
            album: Some("The Long Book".into()),
            ..tags
        };
        // Names sort differently from track order on purpose.
        t.write(
            &format!("long/{}.mp3", 1000 - n),
            &mp3(&tags, 0.5, n as u64),
        );
    }
    t.write(
        "single/Book.m4b",
        &m4b(&tagged("One File", "Other Author"), 1.0, 99),
    );
    let engine = start(t.config());
    scan(&engine, &t.imports());
    let books = all_books(&engine);
    assert_eq!(books.len(), 2, "{books:#?}");
    let long = book_titled(&books, "The Long Book");
    assert_eq!(long.files.len(), 30);
    let tracks: Vec<u32> = long.files.iter().map(|f| f.track.unwrap()).collect();
    assert_eq!(tracks, (1..=30).collect::<Vec<_>>());
    assert!(
        (long.duration_secs - 15.0).abs() < 1.0,
        "{}",
        long.duration_secs
    );
    assert_eq!(book_titled(&books, "One File").files.len(), 1);
}

#[test]
fn same_content_twice_is_one_book_and_a_recorded_duplicate() {
    let t = TestDir::new();
    let bytes = mp3(&tagged("Twice", "Author"), 1.0, 7);
    t.write("a/Twice.mp3", &bytes);
    t.write("b/copy of Twice.mp3", &bytes);
    let engine = start(t.config());
    let op = scan(&engine, &t.imports());
    let books = all_books(&engine);
    assert_eq!(books.len(), 1);
    assert_eq!(books[0].duplicates.len(), 1);
    assert!(books[0].duplicates[0].ends_with("b/copy of Twice.mp3"));
    let lines = logs(&engine, &op.id);
    assert!(
        lines.iter().any(|l| l.message.starts_with("duplicate:")),
        "{lines:#?}"
    );
    // A rescan keeps it that way.
    scan(&engine, &t.imports());
    assert_eq!(all_books(&engine).len(), 1);
}

#[test]
fn two_scans_started_together_that_meet_the_same_new_content_make_one_book() {
    // Two workers, two scans at once over two folders that both hold the
    // same recording (among others): scans take turns, so the second finds
    // the book the first made instead of making its own.
    let t = TestDir::new();
    let shared = mp3(&tagged("Found Twice", "Author"), 1.0, 7);
    for side in ["left", "right"] {
        t.write(&format!("{side}/shared/book.mp3"), &shared);
        for i in 0..30u64 {
            let own = mp3(&tagged(&format!("{side} {i}"), "Author"), 0.5, 100 + i);
            t.write(&format!("{side}/{i:02}/book.mp3"), &own);
        }
    }
    let mut config = t.config();
    config.workers = 2;
    let engine = start(config);
    let ids: Vec<String> = ["left", "right"]
        .iter()
        .map(|side| {
            let params = serde_json::json!({ "paths": [t.imports().join(side)] });
            let op = engine.queue.enqueue("scan", Priority::Normal, params, None);
            op.unwrap().id
        })
        .collect();
    for id in &ids {
        let op = engine.queue.wait(id, Duration::from_secs(120)).unwrap();
        assert_eq!(op.status, OperationStatus::Completed, "{op:?}");
    }
    let books = all_books(&engine);
    assert_eq!(books.len(), 61, "30 + 30 + the shared one");
    let shared_book = book_titled(&books, "Found Twice");
    assert_eq!(shared_book.duplicates.len(), 1, "{shared_book:?}");
}

#[test]
fn rescan_of_an_unchanged_tree_reads_nothing() {
    let t = TestDir::new();
    library_of_four_formats(&t);
    let engine = start(t.config());
    scan(&engine, &t.imports());
    let before = all_books(&engine);

    // Change a file's bytes but keep its size and mtime: a rescan that only
    // trusts size and mtime does not notice, which proves it did not read it.
    let hobbit = before.iter().find(|b| b.title == "The Hobbit").unwrap();
    let path = std::path::PathBuf::from(&hobbit.files[0].path);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let op = scan(&engine, &t.imports());
    assert!(op.message.contains("4 unchanged"), "{}", op.message);
    assert!(op.message.contains("0 new book(s)"), "{}", op.message);
    let after = all_books(&engine);
    assert_eq!(before, after, "a rescan with no change rewrote books");

    // Touching the mtime makes it read (and re-hash) that one file only.
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    let op = scan(&engine, &t.imports());
    assert!(
        op.message.contains("3 unchanged, 1 changed"),
        "{}",
        op.message
    );
    let hobbit = book_titled(&all_books(&engine), "The Hobbit").clone();
    assert_eq!(hobbit.files[0].hash, sha256_file(&path));
}

#[test]
fn vanished_files_mark_their_book_missing_until_they_return() {
    let t = TestDir::new();
    let p = t.write("x/Gone.mp3", &mp3(&tagged("Gone", "Author"), 1.0, 1));
    let engine = start(t.config());
    scan(&engine, &t.imports());
    let hidden = t.path().join("hidden.mp3");
    std::fs::rename(&p, &hidden).unwrap();
    let op = scan(&engine, &t.imports());
    assert!(op.message.contains("1 vanished"), "{}", op.message);
    assert_eq!(all_books(&engine)[0].status, BookStatus::Missing);
    let lines = logs(&engine, &op.id);
    assert!(
        lines
            .iter()
            .any(|l| l.level == LogLevel::Warn && l.message.starts_with("missing:"))
    );
    std::fs::rename(&hidden, &p).unwrap();
    let op = scan(&engine, &t.imports());
    assert!(op.message.contains("1 returned"), "{}", op.message);
    assert_eq!(all_books(&engine)[0].status, BookStatus::Imported);
}

#[test]
fn symlink_loops_and_broken_links_are_warnings_not_failures() {
    let t = TestDir::new();
    t.write("ok/Fine.mp3", &mp3(&tagged("Fine", "Author"), 1.0, 1));
    let imports = t.imports();
    std::os::unix::fs::symlink(&imports, imports.join("ok/loop")).unwrap();
    std::os::unix::fs::symlink(imports.join("nowhere"), imports.join("ok/broken.mp3")).unwrap();
    let engine = start(t.config());
    let op = scan(&engine, &imports);
    assert_eq!(all_books(&engine).len(), 1);
    let lines = logs(&engine, &op.id);
    assert!(
        lines
            .iter()
            .any(|l| l.level == LogLevel::Warn && l.message.contains("symlink loop")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.level == LogLevel::Warn && l.message.contains("broken")),
        "{lines:#?}"
    );
}

#[test]
fn a_truncated_file_is_logged_and_the_scan_goes_on() {
    let t = TestDir::new();
    t.write("a/Good.mp3", &mp3(&tagged("Good", "Author"), 1.0, 1));
    t.write("a/Empty.m4b", b"");
    t.write("a/Garbage.flac", b"fLaC but not really");
    let engine = start(t.config());
    let op = scan(&engine, &t.imports());
    let books = all_books(&engine);
    assert!(books.iter().any(|b| b.title == "Good"));
    assert!(
        !books.iter().any(|b| b.title == "Empty"),
        "an empty file is not a book"
    );
    let lines = logs(&engine, &op.id);
    assert!(
        lines.iter().filter(|l| l.level == LogLevel::Warn).count() >= 2,
        "{lines:#?}"
    );
    assert_eq!(op.progress, op.total);
    assert_eq!(op.total, 3);
}

/// "(R read, C unchanged since the last scan)" from a scan's found line.
fn folders_read_and_kept(engine: &audiobook_organizer::engine::Engine, id: &str) -> (u64, u64) {
    let lines = logs(engine, id);
    let line = lines
        .iter()
        .find(|l| l.message.starts_with("found "))
        .expect("a found line");
    let inner = line.message.rsplit('(').next().unwrap();
    let nums: Vec<u64> = inner
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn a_rescan_keeps_unchanged_folder_listings_yet_sees_every_change() {
    let t = TestDir::new();
    let one = t.write("A/One/one.mp3", &mp3(&tagged("One", "Author"), 1.0, 1));
    t.write("A/Two/two.mp3", &mp3(&tagged("Two", "Author"), 1.0, 2));
    t.write(
        "B/Three/three.mp3",
        &mp3(&tagged("Three", "Author"), 1.0, 3),
    );
    let empty = t.write("A/One/zero.m4b", b"");
    // Listings are trusted only for folders that had settled when read.
    std::thread::sleep(Duration::from_millis(3_300));
    let engine = start(t.config());
    let first = scan(&engine, &t.imports());
    assert_eq!(all_books(&engine).len(), 3);
    assert_eq!(folders_read_and_kept(&engine, &first.id), (6, 0));

    let again = scan(&engine, &t.imports());
    assert!(again.message.contains("3 unchanged"), "{}", again.message);
    assert_eq!(folders_read_and_kept(&engine, &again.id), (0, 6));

    // Files rewritten in place change no folder, yet both are seen: a
    // changed part, and an empty file that now holds a book.
    std::fs::write(&one, mp3(&tagged("One", "Author"), 2.0, 11)).unwrap();
    std::fs::write(&empty, m4b(&tagged("Zero", "Author"), 1.0, 12)).unwrap();
    let op = scan(&engine, &t.imports());
    assert_eq!(folders_read_and_kept(&engine, &op.id), (0, 6));
    assert!(op.message.contains("1 changed"), "{}", op.message);
    assert!(op.message.contains("1 new book"), "{}", op.message);
    let books = all_books(&engine);
    assert!(books.iter().any(|b| b.title == "Zero"), "{books:#?}");
    let changed = book_titled(&books, "One");
    assert!((changed.duration_secs - 2.0).abs() < 0.1, "{changed:?}");

    // A folder that goes away: its book is missing; a new file in a kept
    // folder is found (its folder changed, so it alone is read again).
    std::fs::remove_dir_all(t.imports().join("B/Three")).unwrap();
    t.write("A/Two/bonus.mp3", &mp3(&tagged("Bonus", "Other"), 1.0, 4));
    let op = scan(&engine, &t.imports());
    assert!(op.message.contains("1 vanished"), "{}", op.message);
    assert!(op.message.contains("1 new book"), "{}", op.message);
    assert_eq!(folders_read_and_kept(&engine, &op.id), (2, 3));
    let books = all_books(&engine);
    assert_eq!(book_titled(&books, "Three").status, BookStatus::Missing);
    assert!(books.iter().any(|b| b.title == "Bonus"));

    // The folder comes back (written anew, so with a new mtime): found
    // again through its changed parent, and the book is whole again.
    t.write(
        "B/Three/three.mp3",
        &mp3(&tagged("Three", "Author"), 1.0, 3),
    );
    let op = scan(&engine, &t.imports());
    assert!(op.message.contains("1 returned"), "{}", op.message);
    assert_eq!(
        book_titled(&all_books(&engine), "Three").status,
        BookStatus::Imported
    );
}

#[test]
fn duplicates_of_books_still_being_written_are_found_in_a_large_scan() {
    // Enough books that the scan hands batches to its writer thread while
    // it goes on: copies in later folders must still find their originals.
    let t = TestDir::new();
    let n = 1_500;
    let mut first = Vec::new();
    for i in 0..n {
        let bytes = mp3(&tagged(&format!("Title {i}"), "Author"), 1.0, i as u64);
        if i < 3 {
            first.push(bytes.clone());
        }
        t.write(&format!("a/{i:05}/book.mp3"), &bytes);
    }
    for (i, bytes) in first.iter().enumerate() {
        t.write(&format!("z/copy{i}.mp3"), bytes);
    }
    let engine = start(t.config());
    let op = scan(&engine, &t.imports());
    assert!(op.message.contains("3 duplicate(s)"), "{}", op.message);
    assert_eq!(engine.store.count_books().unwrap(), n as u64);
    let books = all_books(&engine);
    assert_eq!(books.len(), n);
    for i in 0..3 {
        let b = book_titled(&books, &format!("Title {i}"));
        assert_eq!(b.duplicates.len(), 1, "{b:?}");
        assert!(
            b.duplicates[0].ends_with(&format!("z/copy{i}.mp3")),
            "{b:?}"
        );
    }
    // And a rescan agrees.
    let op = scan(&engine, &t.imports());
    assert!(
        op.message.contains(&format!("{} unchanged", n + 3)),
        "{}",
        op.message
    );
    assert_eq!(engine.store.count_books().unwrap(), n as u64);
}

#[test]
fn parts_that_arrive_later_join_their_book_and_another_album_is_another_book() {
    let t = TestDir::new();
    let part = |n: u32, album: &str| {
        let tags = SampleTags {
            title: Some(format!("{album} {n}")),
            track: Some((n, 3)),
            album: Some(album.into()),
            ..tagged(album, "Serial Author")
        };
        mp3(&tags, 0.5, n as u64 + album.len() as u64 * 100)
    };
    t.write("serial/01.mp3", &part(1, "The Serial"));
    t.write("serial/03.mp3", &part(3, "The Serial"));
    let engine = start(t.config());
    scan(&engine, &t.imports());
    assert_eq!(all_books(&engine).len(), 1);

    // A download finishes: the missing part, and a book of another album
    // in the same folder.
    t.write("serial/02.mp3", &part(2, "The Serial"));
    t.write("serial/other.mp3", &part(1, "Another Album"));
    let op = scan(&engine, &t.imports());
    assert!(
        op.message.contains("1 new book(s), 1 part(s) added"),
        "{}",
        op.message
    );
    let books = all_books(&engine);
    assert_eq!(books.len(), 2, "{books:#?}");
    let serial = book_titled(&books, "The Serial");
    let tracks: Vec<u32> = serial.files.iter().map(|f| f.track.unwrap()).collect();
    assert_eq!(tracks, [1, 2, 3]);
    assert_eq!(book_titled(&books, "Another Album 1").files.len(), 1);

    // A new engine (a restart) still knows where parts belong.
    engine.shutdown(Duration::from_secs(5));
    t.write("serial/04.mp3", &part(4, "The Serial"));
    let engine = start(t.config());
    let op = scan(&engine, &t.imports());
    assert!(
        op.message.contains("0 new book(s), 1 part(s) added"),
        "{}",
        op.message
    );
    assert_eq!(
        book_titled(&all_books(&engine), "The Serial").files.len(),
        4
    );
}

#[test]
fn a_folder_with_an_exclusion_marker_is_skipped_with_everything_below_it() {
    let t = TestDir::new();
    t.write("in/keep/a.mp3", &mp3(&tagged("Kept", "Anon"), 0.5, 1));
    t.write("in/skip/b.mp3", &mp3(&tagged("Skipped", "Anon"), 0.5, 2));
    t.write(
        "in/skip/deeper/c.mp3",
        &mp3(&tagged("Deeper", "Anon"), 0.5, 3),
    );
    t.write("in/skip/.aoignore", b"");
    // The Go server's marker works too.
    t.write("in/old/d.mp3", &mp3(&tagged("Old", "Anon"), 0.5, 4));
    t.write("in/old/.jabexclude", b"");
    // And Audiobookshelf's.
    t.write("in/abs/e.mp3", &mp3(&tagged("Abs", "Anon"), 0.5, 5));
    t.write("in/abs/.ignore", b"");
    let engine = start(t.config());
    let op = scan(&engine, &t.imports());
    assert!(
        op.message.contains("1 new book(s)")
            && op.message.contains("3 folder(s) excluded by a marker"),
        "{}",
        op.message
    );
    let titles = |engine: &audiobook_organizer::engine::Engine| {
        let mut v: Vec<String> = all_books(engine).into_iter().map(|b| b.title).collect();
        v.sort();
        v
    };
    assert_eq!(titles(&engine), ["Kept"]);
    let lines = log_messages(&engine, &op.id);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("in/skip holds .aoignore") && l.contains("excluded")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("in/old holds .jabexclude")),
        "{lines:?}"
    );

    // The marker removed, the folder and everything below it are scanned.
    std::fs::remove_file(t.imports().join("in/skip/.aoignore")).unwrap();
    let op = scan(&engine, &t.imports());
    assert!(
        op.message.contains("2 new book(s)")
            && op.message.contains("2 folder(s) excluded by a marker"),
        "{}",
        op.message
    );
    assert_eq!(titles(&engine), ["Deeper", "Kept", "Skipped"]);

    // A marker added to a scanned folder leaves its books as they were:
    // not looked at is not vanished.
    t.write("in/keep/.aoignore", b"");
    let op = scan(&engine, &t.imports());
    assert!(
        op.message.contains("0 vanished")
            && op.message.contains("3 folder(s) excluded by a marker"),
        "{}",
        op.message
    );
    let kept = book_titled(&all_books(&engine), "Kept").clone();
    assert_eq!(kept.status, BookStatus::Imported);
    engine.shutdown(std::time::Duration::from_secs(1));
}
