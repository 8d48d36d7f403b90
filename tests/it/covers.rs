//! Cover images: found with a book (an image file in its folder or a disc
//! folder, else the picture in its tags), served by the API as the bytes
//! they are, and written as `cover.jpg` into organized folders.

use audiobook_organizer::config::OrganizePreset;
use audiobook_organizer::sample::SampleTags;
use audiobook_organizer::store::{Book, CoverSource};
use serde_json::json;

use crate::helpers::{TestDir, all_books, book_titled, mp3, run_op, scan, start};
use crate::server_helpers::{TestApp, spawn_app_with, test_config};

const JPEG: &[u8] = include_bytes!("../fixtures/cover.jpg");
const PNG: &[u8] = include_bytes!("../fixtures/cover.png");

fn tags(title: &str, author: &str, cover: Option<&[u8]>) -> SampleTags {
    let mut t = SampleTags::book(title, author);
    t.cover = cover.map(<[u8]>::to_vec);
    t
}

/// GET of a cover: status, content type, ETag and body.
async fn get_cover(app: &TestApp, id: &str, etag: Option<&str>) -> (u16, String, String, Vec<u8>) {
    let mut rb = app.http.get(app.url(&format!("/api/v1/books/{id}/cover")));
    if let Some(e) = etag {
        rb = rb.header("If-None-Match", e);
    }
    let r = rb.send().await.unwrap();
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (status, mime, tag) = (r.status().as_u16(), header("content-type"), header("etag"));
    (status, mime, tag, r.bytes().await.unwrap().to_vec())
}

#[test]
fn the_cover_is_the_folder_image_else_a_disc_folder_image_else_the_tag_picture() {
    let t = TestDir::new();
    // A folder image beats the picture in the tags; `cover.*` beats
    // `folder.*` beats any other image, names in any case.
    t.write("A/One/01.mp3", &mp3(&tags("One", "A", Some(PNG)), 1.0, 1));
    t.write("A/One/back.jpg", JPEG);
    t.write("A/One/Cover.JPG", JPEG);
    t.write("A/Two/01.mp3", &mp3(&tags("Two", "A", None), 1.0, 2));
    t.write("A/Two/folder.png", PNG);
    t.write("A/Two/aaa.jpg", JPEG);
    // Only a disc folder holds an image.
    t.write(
        "A/Three/CD1/01.mp3",
        &mp3(&tags("Three", "A", None), 1.0, 3),
    );
    t.write(
        "A/Three/CD2/01.mp3",
        &mp3(&tags("Three", "A", None), 1.0, 4),
    );
    t.write("A/Three/CD1/scan.jpg", JPEG);
    // Only the tags hold one (on the second part).
    t.write("A/Four/01.mp3", &mp3(&tags("Four", "A", None), 1.0, 5));
    t.write(
        "A/Four/02.mp3",
        &mp3(&tags("Four", "A", Some(JPEG)), 1.0, 6),
    );
    // None at all.
    t.write("A/Five/01.mp3", &mp3(&tags("Five", "A", None), 1.0, 7));
    let e = start(t.config());
    scan(&e, &t.imports());
    let books = all_books(&e);
    let cover = |title: &str| {
        book_titled(&books, title)
            .cover
            .as_ref()
            .map(|c| (c.source, c.path.rsplit('/').take(2).collect::<Vec<_>>()))
    };
    assert_eq!(
        cover("One"),
        Some((CoverSource::File, vec!["Cover.JPG", "One"]))
    );
    assert_eq!(
        cover("Two"),
        Some((CoverSource::File, vec!["folder.png", "Two"]))
    );
    assert_eq!(
        cover("Three"),
        Some((CoverSource::File, vec!["scan.jpg", "CD1"]))
    );
    assert_eq!(
        cover("Four"),
        Some((CoverSource::Embedded, vec!["02.mp3", "Four"]))
    );
    assert_eq!(cover("Five"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_the_cover_as_the_image_it_is_and_never_anything_else() {
    let t = TestDir::new();
    t.write(
        "A/Embedded/01.mp3",
        &mp3(&tags("Embedded", "A", Some(JPEG)), 1.0, 1),
    );
    t.write("A/File/01.mp3", &mp3(&tags("File", "A", None), 1.0, 2));
    t.write("A/File/cover.png", PNG);
    // A torrent's "cover" that is a web page, and a picture tag holding
    // one: neither is ever served.
    t.write("A/Fake/01.mp3", &mp3(&tags("Fake", "A", None), 1.0, 3));
    t.write(
        "A/Fake/cover.jpg",
        b"<html><script>fetch('/api/v1/queue/pause',{method:'POST'})</script>",
    );
    t.write(
        "A/FakeTag/01.mp3",
        &mp3(
            &tags("FakeTag", "A", Some(b"<svg onload=alert(1)>")),
            1.0,
            4,
        ),
    );
    let imports = t.imports();
    let c = test_config(&t);
    let app = spawn_app_with(t, c).await;
    let (_, op) = app
        .post("/api/v1/operations/scan", json!({ "paths": [imports] }))
        .await;
    app.wait_op(op["operation_id"].as_str().unwrap()).await;
    let (_, page) = app.get("/api/v1/books?limit=100").await;
    let books: Vec<Book> = serde_json::from_value(page["books"].clone()).unwrap();
    let id = |title: &str| book_titled(&books, title).id.clone();

    let (status, mime, etag, body) = get_cover(&app, &id("Embedded"), None).await;
    assert_eq!((status, mime.as_str()), (200, "image/jpeg"));
    assert_eq!(body, JPEG, "the picture's bytes, unchanged");
    let (status, _, _, body) = get_cover(&app, &id("Embedded"), Some(&etag)).await;
    assert_eq!(
        (status, body.len()),
        (304, 0),
        "a cached cover is not sent again"
    );

    let (status, mime, _, body) = get_cover(&app, &id("File"), None).await;
    assert_eq!((status, mime.as_str()), (200, "image/png"));
    assert_eq!(body, PNG);

    for (title, why) in [
        ("Fake", "an HTML cover.jpg"),
        ("FakeTag", "an SVG picture tag"),
    ] {
        let (status, mime, _, body) = get_cover(&app, &id(title), None).await;
        assert_eq!(status, 404, "{why}: {}", String::from_utf8_lossy(&body));
        assert!(mime.starts_with("application/json"), "{why}: {mime}");
        let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(err["error"].as_str().unwrap().contains("no cover"), "{err}");
    }
    let (status, body) = app
        .get("/api/v1/books/01NOSUCHBOOK0000000000000/cover")
        .await;
    assert_eq!(status, 404, "{body}");
    app.stop().await;
}

#[test]
fn organize_writes_the_cover_beside_the_audio_and_a_rescan_of_the_library_finds_it() {
    let t = TestDir::new();
    t.write(
        "Ann Leckie/Ancillary Justice/01.mp3",
        &mp3(&tags("Ancillary Justice", "Ann Leckie", Some(JPEG)), 1.0, 1),
    );
    t.write(
        "Ann Leckie/Provenance/01.mp3",
        &mp3(&tags("Provenance", "Ann Leckie", None), 1.0, 2),
    );
    t.write("Ann Leckie/Provenance/folder.png", PNG);
    t.write(
        "Ann Leckie/The Raven Tower/01.mp3",
        &mp3(&tags("The Raven Tower", "Ann Leckie", None), 1.0, 3),
    );
    let mut c = t.config();
    c.organize_preset = OrganizePreset::Audiobookshelf;
    c.organize_side_files = true;
    let library = c.library.clone();
    let e = start(c);
    scan(&e, &t.imports());
    let op = run_op(&e, "organize", json!({ "strategy": "copy" }));
    assert_eq!(format!("{:?}", op.status), "Completed", "{op:?}");
    let books = all_books(&e);
    let written = |title: &str, name: &str| {
        let b = book_titled(&books, title);
        let dir = std::path::Path::new(b.organized_dir.as_deref().unwrap());
        let cover = b.cover.as_ref().map(|c| (c.source, c.path.clone()));
        (std::fs::read(dir.join(name)).ok(), cover, dir.join(name))
    };
    // Extracted from the tags.
    let (bytes, cover, path) = written("Ancillary Justice", "cover.jpg");
    assert_eq!(bytes.as_deref(), Some(JPEG));
    assert_eq!(cover, Some((CoverSource::File, path.display().to_string())));
    // Copied from the folder image, named for what it is.
    let (bytes, _, _) = written("Provenance", "cover.png");
    assert_eq!(bytes.as_deref(), Some(PNG));
    // No cover: none written.
    let (bytes, cover, _) = written("The Raven Tower", "cover.jpg");
    assert_eq!((bytes, cover), (None, None));
    drop(e);

    // The library, scanned into a fresh store, gives the covers back.
    let fresh = TestDir::new();
    let e = start(fresh.config());
    run_op(
        &e,
        "scan",
        json!({ "paths": [std::fs::canonicalize(&library).unwrap()] }),
    );
    let again = all_books(&e);
    for (title, name) in [
        ("Ancillary Justice", "cover.jpg"),
        ("Provenance", "cover.png"),
    ] {
        let c = book_titled(&again, title).cover.clone().expect(title);
        assert_eq!(c.source, CoverSource::File, "{title}");
        assert!(c.path.ends_with(name), "{title}: {}", c.path);
    }
}
