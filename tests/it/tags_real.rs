//! What the tag-reading fixes mean for a scan: the books a user sees.

use audiobook_organizer::sample::{SampleTags, id3v2_tag, m4b_bytes, mp3_bytes};
use serde_json::json;

use crate::helpers::{TestDir, all_books, book_titled, logs, organize, scan, start, tree};
use crate::server_helpers::{spawn_app_with, test_config};

fn tags(title: &str, author: &str, album: Option<&str>) -> SampleTags {
    let mut t = SampleTags::book(title, author);
    t.album = album.map(str::to_string);
    t
}

#[test]
fn a_file_whose_audio_cannot_be_parsed_keeps_its_tags() {
    let t = TestDir::new();
    // A real ID3v2 tag, then bytes that hold no MPEG frame.
    let mut bytes = id3v2_tag(&tags(
        "The Left Hand of Darkness",
        "Ursula K. Le Guin",
        None,
    ));
    bytes.extend(std::iter::repeat_n(0x42u8, 20_000));
    t.write("incoming/x7f3.mp3", &bytes);
    let e = start(t.config());
    let op = scan(&e, &t.imports());
    let books = all_books(&e);
    assert_eq!(books.len(), 1);
    let b = &books[0];
    assert_eq!(b.title, "The Left Hand of Darkness");
    assert_eq!(b.author, "Ursula K. Le Guin");
    assert_eq!(b.duration_secs, 0.0);
    let lines: Vec<String> = logs(&e, &op.id).into_iter().map(|l| l.message).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("x7f3.mp3") && l.contains("duration unknown")),
        "{lines:?}"
    );
}

#[test]
fn files_the_scan_does_not_read_are_counted_by_extension_once() {
    let t = TestDir::new();
    t.write(
        "A/Book/01.mp3",
        &mp3_bytes(Some(&tags("Book", "A", None)), 1.0, 1),
    );
    for (name, n) in [("cover.jpg", 3), ("info.nfo", 1), ("track.wv", 2)] {
        for i in 0..n {
            t.write(&format!("A/Book/{i}{name}"), b"x");
        }
    }
    t.write("A/Book/README", b"x");
    let e = start(t.config());
    let op = scan(&e, &t.imports());
    assert!(
        op.message
            .contains("skipped: 3 .jpg, 2 .wv, 1 .nfo, 1 without an extension"),
        "{}",
        op.message
    );
    // Said once in the summary, not per file.
    let lines: Vec<String> = logs(&e, &op.id).into_iter().map(|l| l.message).collect();
    assert_eq!(
        lines.iter().filter(|l| l.contains(".jpg")).count(),
        1,
        "{lines:?}"
    );
}

#[test]
fn the_same_book_in_two_formats_is_two_editions() {
    let t = TestDir::new();
    let album = Some("Dune");
    t.write(
        "Frank Herbert/Dune/Dune.m4b",
        &m4b_bytes(Some(&tags("Dune", "Frank Herbert", album)), 2.0, 1),
    );
    for i in 1..=2u32 {
        let mut tg = tags(&format!("Dune {i}"), "Frank Herbert", album);
        tg.track = Some((i, 2));
        t.write(
            &format!("Frank Herbert/Dune/Dune {i:02}.mp3"),
            &mp3_bytes(Some(&tg), 1.0, 10 + u64::from(i)),
        );
    }
    let e = start(t.config());
    scan(&e, &t.imports());
    let books = all_books(&e);
    assert_eq!(books.len(), 2, "{books:#?}");
    let m4b = books.iter().find(|b| b.files.len() == 1).unwrap();
    let mp3 = books.iter().find(|b| b.files.len() == 2).unwrap();
    assert_eq!(m4b.editions, std::slice::from_ref(&mp3.id));
    assert_eq!(mp3.editions, std::slice::from_ref(&m4b.id));
    assert!(
        (m4b.duration_secs - 2.0).abs() < 0.1,
        "{}",
        m4b.duration_secs
    );
}

#[test]
fn titles_that_start_with_digits_keep_them() {
    let t = TestDir::new();
    // Untagged books side by side in one folder: each is named after its file.
    let names = [
        "1984",
        "1Q84",
        "11.22.63",
        "2001 A Space Odyssey",
        "01 - Brave New World",
    ];
    for (i, name) in names.iter().enumerate() {
        t.write(
            &format!("Classics/{name}.mp3"),
            &mp3_bytes(None, 1.0, 40 + i as u64),
        );
    }
    let e = start(t.config());
    scan(&e, &t.imports());
    let mut titles: Vec<String> = all_books(&e).into_iter().map(|b| b.title).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "11.22.63",
            "1984",
            "1Q84",
            "2001 A Space Odyssey",
            "Brave New World"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_authors_are_a_list_and_a_display_string() {
    let dir = TestDir::new();
    let mut tg = tags("Good Omens", "Terry Pratchett", None);
    tg.artist = Some("Terry Pratchett\0Neil Gaiman".into());
    dir.write("Good Omens/01.mp3", &mp3_bytes(Some(&tg), 1.0, 5));
    let imports = dir.imports();
    let c = test_config(&dir);
    let library = c.library.clone();
    let app = spawn_app_with(dir, c).await;
    let (_, op) = app
        .post("/api/v1/operations/scan", json!({"paths": [imports]}))
        .await;
    app.wait_op(op["operation_id"].as_str().unwrap()).await;
    let (_, page) = app.get("/api/v1/books").await;
    let b = &page["books"][0];
    assert_eq!(
        b["authors"],
        json!(["Terry Pratchett", "Neil Gaiman"]),
        "{b}"
    );
    assert_eq!(b["author"], "Terry Pratchett, Neil Gaiman");
    let (_, op) = app
        .post("/api/v1/operations/organize", json!({"strategy": "copy"}))
        .await;
    app.wait_op(op["operation_id"].as_str().unwrap()).await;
    let placed = tree(&library);
    assert!(
        placed
            .iter()
            .any(|p| p.starts_with("Terry Pratchett, Neil Gaiman/")),
        "{placed:?}"
    );
    assert!(
        placed
            .iter()
            .all(|p| !p.contains('\0') && !p.contains("Pratchett_Neil")),
        "{placed:?}"
    );
    app.stop().await;
    let _ = (book_titled, organize);
}
