//! Realistic download layouts, each with the books expected from
//! Audiobookshelf's documented rules (docs/layouts.md lists where this
//! project differs on purpose). Real MP3 files, a real store, one scan.

use std::path::Path;

use audiobook_organizer::sample::{SampleTags, mp3_bytes};
use audiobook_organizer::store::Book;
use serde_json::json;

use crate::helpers::{TestDir, all_books, run_op, start};

/// A file of a layout: its path below the case's import folder and, if
/// tagged, (title, artist, album).
struct F(
    &'static str,
    Option<(&'static str, &'static str, &'static str)>,
);

/// What one book must be.
#[derive(Debug, Default)]
struct Want {
    title: &'static str,
    authors: &'static [&'static str],
    series: Option<&'static str>,
    sequence: Option<&'static str>,
    narrators: &'static [&'static str],
    year: Option<i32>,
    asin: Option<&'static str>,
    /// Its files, in playing order (paths below the import folder).
    files: &'static [&'static str],
    description: Option<&'static str>,
    isbn: Option<&'static str>,
}

struct Case {
    name: &'static str,
    files: Vec<F>,
    books: Vec<Want>,
}

fn u(p: &'static str) -> F {
    F(p, None)
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "cd folders are one book, parts by disc then track",
            files: vec![
                u("Ken Follett/The Pillars of the Earth/CD1/01 Track.mp3"),
                u("Ken Follett/The Pillars of the Earth/CD1/02 Track.mp3"),
                u("Ken Follett/The Pillars of the Earth/CD2/01 Track.mp3"),
            ],
            books: vec![Want {
                title: "The Pillars of the Earth",
                authors: &["Ken Follett"],
                files: &[
                    "Ken Follett/The Pillars of the Earth/CD1/01 Track.mp3",
                    "Ken Follett/The Pillars of the Earth/CD1/02 Track.mp3",
                    "Ken Follett/The Pillars of the Earth/CD2/01 Track.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "disc folders 1 to 3",
            files: vec![
                u("Author/Long Book/Disc 1/01.mp3"),
                u("Author/Long Book/Disc 2/01.mp3"),
                u("Author/Long Book/Disc 3/01.mp3"),
            ],
            books: vec![Want {
                title: "Long Book",
                authors: &["Author"],
                files: &[
                    "Author/Long Book/Disc 1/01.mp3",
                    "Author/Long Book/Disc 2/01.mp3",
                    "Author/Long Book/Disc 3/01.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "disk and cd with spaces and leading zeros",
            files: vec![
                u("Author/Other Book/Disk 03/01.mp3"),
                u("Author/Other Book/CD 2/01.mp3"),
            ],
            books: vec![Want {
                title: "Other Book",
                authors: &["Author"],
                files: &[
                    "Author/Other Book/CD 2/01.mp3",
                    "Author/Other Book/Disk 03/01.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "author, series and a numbered title folder",
            files: vec![
                u("Brandon Sanderson/Mistborn/Book 1 - The Final Empire/01.mp3"),
                u("Brandon Sanderson/Mistborn/Book 1 - The Final Empire/02.mp3"),
            ],
            books: vec![Want {
                title: "The Final Empire",
                authors: &["Brandon Sanderson"],
                series: Some("Mistborn"),
                sequence: Some("1"),
                files: &[
                    "Brandon Sanderson/Mistborn/Book 1 - The Final Empire/01.mp3",
                    "Brandon Sanderson/Mistborn/Book 1 - The Final Empire/02.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "volume, year, title and narrator in one folder name",
            files: vec![u(
                "Terry Goodkind/Sword of Truth/Vol 1 - 1994 - Wizards First Rule {Sam Tsoutsouvas}/01.mp3",
            )],
            books: vec![Want {
                title: "Wizards First Rule",
                authors: &["Terry Goodkind"],
                series: Some("Sword of Truth"),
                sequence: Some("1"),
                narrators: &["Sam Tsoutsouvas"],
                year: Some(1994),
                files: &[
                    "Terry Goodkind/Sword of Truth/Vol 1 - 1994 - Wizards First Rule {Sam Tsoutsouvas}/01.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "album tags that differ by article, punctuation and (Unabridged)",
            files: vec![
                F(
                    "Patrick Rothfuss/The Name of the Wind/01.mp3",
                    Some(("Chapter 1", "Patrick Rothfuss", "The Name of the Wind")),
                ),
                F(
                    "Patrick Rothfuss/The Name of the Wind/02.mp3",
                    Some((
                        "Chapter 2",
                        "Patrick Rothfuss",
                        "The Name of the Wind (Unabridged)",
                    )),
                ),
                F(
                    "Patrick Rothfuss/The Name of the Wind/03.mp3",
                    Some(("Chapter 3", "Patrick Rothfuss", "Name of the Wind, The")),
                ),
            ],
            books: vec![Want {
                title: "The Name of the Wind",
                authors: &["Patrick Rothfuss"],
                files: &[
                    "Patrick Rothfuss/The Name of the Wind/01.mp3",
                    "Patrick Rothfuss/The Name of the Wind/02.mp3",
                    "Patrick Rothfuss/The Name of the Wind/03.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "chapter file names never name the author",
            files: vec![
                u("Terry Pratchett/Guards! Guards!/Guards! Guards! - 01.mp3"),
                u("Terry Pratchett/Guards! Guards!/Guards! Guards! - 02.mp3"),
            ],
            books: vec![Want {
                title: "Guards! Guards!",
                authors: &["Terry Pratchett"],
                files: &[
                    "Terry Pratchett/Guards! Guards!/Guards! Guards! - 01.mp3",
                    "Terry Pratchett/Guards! Guards!/Guards! Guards! - 02.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "a title of digits and dots with part files",
            files: vec![
                u("Stephen King/11.22.63/11.22.63 - Part 01.mp3"),
                u("Stephen King/11.22.63/11.22.63 - Part 02.mp3"),
            ],
            books: vec![Want {
                title: "11.22.63",
                authors: &["Stephen King"],
                files: &[
                    "Stephen King/11.22.63/11.22.63 - Part 01.mp3",
                    "Stephen King/11.22.63/11.22.63 - Part 02.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "a root folder named Author - Title",
            files: vec![
                u("Ken Follett - World Without End/01.mp3"),
                u("Ken Follett - World Without End/02.mp3"),
            ],
            books: vec![Want {
                title: "World Without End",
                authors: &["Ken Follett"],
                files: &[
                    "Ken Follett - World Without End/01.mp3",
                    "Ken Follett - World Without End/02.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "Last, First author folder",
            files: vec![u("King, Stephen/It/01.mp3")],
            books: vec![Want {
                title: "It",
                authors: &["Stephen King"],
                files: &["King, Stephen/It/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "two authors joined with &",
            files: vec![u("Stephen King & Peter Straub/The Talisman/01.mp3")],
            books: vec![Want {
                title: "The Talisman",
                authors: &["Stephen King", "Peter Straub"],
                files: &["Stephen King & Peter Straub/The Talisman/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "three authors with a comma and 'and'",
            files: vec![u(
                "Terry Goodkind, Ichiro Kishimi and Fumitake Koga/Anthology/01.mp3",
            )],
            books: vec![Want {
                title: "Anthology",
                authors: &["Terry Goodkind", "Ichiro Kishimi", "Fumitake Koga"],
                files: &["Terry Goodkind, Ichiro Kishimi and Fumitake Koga/Anthology/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "two narrators in braces",
            files: vec![u(
                "Neil Gaiman/Good Omens {Martin Jarvis & Stephen Fry}/01.mp3",
            )],
            books: vec![Want {
                title: "Good Omens",
                authors: &["Neil Gaiman"],
                narrators: &["Martin Jarvis", "Stephen Fry"],
                files: &["Neil Gaiman/Good Omens {Martin Jarvis & Stephen Fry}/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "an ASIN in brackets",
            files: vec![u("Andy Weir/Project Hail Mary [B08GB58KD5]/01.mp3")],
            books: vec![Want {
                title: "Project Hail Mary",
                authors: &["Andy Weir"],
                asin: Some("B08GB58KD5"),
                files: &["Andy Weir/Project Hail Mary [B08GB58KD5]/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "a year in parentheses without a series",
            files: vec![u(
                "Ursula K. Le Guin/(1969) - The Left Hand of Darkness/01.mp3",
            )],
            books: vec![Want {
                title: "The Left Hand of Darkness",
                authors: &["Ursula K. Le Guin"],
                year: Some(1969),
                files: &["Ursula K. Le Guin/(1969) - The Left Hand of Darkness/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "a half-numbered prequel",
            files: vec![u(
                "Brandon Sanderson/Mistborn/0.5 - The Eleventh Metal/01.mp3",
            )],
            books: vec![Want {
                title: "The Eleventh Metal",
                authors: &["Brandon Sanderson"],
                series: Some("Mistborn"),
                sequence: Some("0.5"),
                files: &["Brandon Sanderson/Mistborn/0.5 - The Eleventh Metal/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "Volume 12. with a dot",
            files: vec![u(
                "Robert Jordan/The Wheel of Time/Volume 12. The Gathering Storm/01.mp3",
            )],
            books: vec![Want {
                title: "The Gathering Storm",
                authors: &["Robert Jordan"],
                series: Some("The Wheel of Time"),
                sequence: Some("12"),
                files: &["Robert Jordan/The Wheel of Time/Volume 12. The Gathering Storm/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "Vol. 3 without a dash",
            files: vec![u("Author/Saga/Vol. 3 Third Act/01.mp3")],
            books: vec![Want {
                title: "Third Act",
                authors: &["Author"],
                series: Some("Saga"),
                sequence: Some("3"),
                files: &["Author/Saga/Vol. 3 Third Act/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "101 Dalmatians is a title, not a sequence",
            files: vec![u("Dodie Smith/Dogs/101 Dalmatians/01.mp3")],
            books: vec![Want {
                title: "101 Dalmatians",
                authors: &["Dodie Smith"],
                series: Some("Dogs"),
                files: &["Dodie Smith/Dogs/101 Dalmatians/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "no sequence without a series folder",
            files: vec![u("Author/1. Title/01.mp3")],
            books: vec![Want {
                title: "1. Title",
                authors: &["Author"],
                files: &["Author/1. Title/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "a title that is a year stays a title",
            files: vec![u("George Orwell/1984/1984.mp3")],
            books: vec![Want {
                title: "1984",
                authors: &["George Orwell"],
                files: &["George Orwell/1984/1984.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "1Q84",
            files: vec![
                u("Haruki Murakami/1Q84/01.mp3"),
                u("Haruki Murakami/1Q84/02.mp3"),
            ],
            books: vec![Want {
                title: "1Q84",
                authors: &["Haruki Murakami"],
                files: &["Haruki Murakami/1Q84/01.mp3", "Haruki Murakami/1Q84/02.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "non-ASCII names",
            files: vec![u("Fjodor Dostojewski/Die Brüder Karamasow/01.mp3")],
            books: vec![Want {
                title: "Die Brüder Karamasow",
                authors: &["Fjodor Dostojewski"],
                files: &["Fjodor Dostojewski/Die Brüder Karamasow/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "CJK names kept as written",
            files: vec![u("村上春樹/ノルウェイの森/01.mp3")],
            books: vec![Want {
                title: "ノルウェイの森",
                authors: &["村上春樹"],
                files: &["村上春樹/ノルウェイの森/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "a very long title folder",
            files: vec![u(
                "Author/A Very Long Title That Goes On And On About Many Things Including The History Of The World In Two Hundred Characters Or So Which Is Long Enough To Test Names Near The Limit Of File Systems/01.mp3",
            )],
            books: vec![Want {
                title: "A Very Long Title That Goes On And On About Many Things Including The History Of The World In Two Hundred Characters Or So Which Is Long Enough To Test Names Near The Limit Of File Systems",
                authors: &["Author"],
                files: &[
                    "Author/A Very Long Title That Goes On And On About Many Things Including The History Of The World In Two Hundred Characters Or So Which Is Long Enough To Test Names Near The Limit Of File Systems/01.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "two different books in one folder stay apart",
            files: vec![
                F("Mixed/a.mp3", Some(("Alpha", "Writer A", "Alpha"))),
                F("Mixed/b.mp3", Some(("Beta", "Writer B", "Beta"))),
            ],
            books: vec![
                Want {
                    title: "Alpha",
                    authors: &["Writer A"],
                    files: &["Mixed/a.mp3"],
                    ..Want::default()
                },
                Want {
                    title: "Beta",
                    authors: &["Writer B"],
                    files: &["Mixed/b.mp3"],
                    ..Want::default()
                },
            ],
        },
        Case {
            name: "a disc folder directly in the import folder is a book",
            files: vec![u("CD1/01.mp3")],
            books: vec![Want {
                title: "CD1",
                files: &["CD1/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "Part folders are not disc folders",
            files: vec![u("Author/Book/Part 1/a.mp3"), u("Author/Book/Part 2/b.mp3")],
            books: vec![
                Want {
                    title: "Part 1",
                    authors: &["Author"],
                    series: Some("Book"),
                    files: &["Author/Book/Part 1/a.mp3"],
                    ..Want::default()
                },
                Want {
                    title: "Part 2",
                    authors: &["Author"],
                    series: Some("Book"),
                    files: &["Author/Book/Part 2/b.mp3"],
                    ..Want::default()
                },
            ],
        },
        Case {
            name: "discs of a numbered book in a series",
            files: vec![
                u("Brandon Sanderson/Stormlight/Book 2 - Words of Radiance/CD1/01.mp3"),
                u("Brandon Sanderson/Stormlight/Book 2 - Words of Radiance/CD2/01.mp3"),
            ],
            books: vec![Want {
                title: "Words of Radiance",
                authors: &["Brandon Sanderson"],
                series: Some("Stormlight"),
                sequence: Some("2"),
                files: &[
                    "Brandon Sanderson/Stormlight/Book 2 - Words of Radiance/CD1/01.mp3",
                    "Brandon Sanderson/Stormlight/Book 2 - Words of Radiance/CD2/01.mp3",
                ],
                ..Want::default()
            }],
        },
        Case {
            name: "tags beat folder names",
            files: vec![F(
                "Folder Author/Folder Title/01.mp3",
                Some(("Tag Title", "Tag Author", "Tag Title")),
            )],
            books: vec![Want {
                title: "Tag Title",
                authors: &["Tag Author"],
                files: &["Folder Author/Folder Title/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "an untagged file at the top named Author - Title",
            files: vec![u("Mary Shelley - Frankenstein.mp3")],
            books: vec![Want {
                title: "Frankenstein",
                authors: &["Mary Shelley"],
                files: &["Mary Shelley - Frankenstein.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "desc.txt and reader.txt",
            files: vec![
                u("Brandon Sanderson/The Way of Kings/01.mp3"),
                u("Brandon Sanderson/The Way of Kings/desc.txt"),
                u("Brandon Sanderson/The Way of Kings/reader.txt"),
            ],
            books: vec![Want {
                title: "The Way of Kings",
                authors: &["Brandon Sanderson"],
                narrators: &["Michael Kramer", "Kate Reading"],
                description: Some("Roshar is a world of stone and storms."),
                files: &["Brandon Sanderson/The Way of Kings/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "a Calibre OPF beats tags and folder names",
            files: vec![
                F(
                    "Folder Author/Folder Title/01.mp3",
                    Some(("Tag Title", "Tag Author", "Tag Title")),
                ),
                u("Folder Author/Folder Title/metadata.opf"),
            ],
            books: vec![Want {
                title: "Oathbringer",
                authors: &["Brandon Sanderson"],
                narrators: &["Kate Reading"],
                series: Some("The Stormlight Archive"),
                sequence: Some("3"),
                year: Some(2017),
                isbn: Some("9780765326379"),
                files: &["Folder Author/Folder Title/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "Audiobookshelf's metadata.json beats everything",
            files: vec![
                u("A/B/01.mp3"),
                u("A/B/metadata.opf"),
                u("A/B/metadata.json"),
            ],
            books: vec![Want {
                title: "Dune",
                authors: &["Frank Herbert"],
                narrators: &["Scott Brick"],
                series: Some("Dune Chronicles"),
                sequence: Some("1"),
                year: Some(1965),
                asin: Some("B002V1OF70"),
                isbn: Some("9780765326379"),
                files: &["A/B/01.mp3"],
                ..Want::default()
            }],
        },
        Case {
            name: "a Last, First artist tag",
            files: vec![F("x/01.mp3", Some(("Carrie", "King, Stephen", "Carrie")))],
            books: vec![Want {
                title: "Carrie",
                authors: &["Stephen King"],
                files: &["x/01.mp3"],
                ..Want::default()
            }],
        },
    ]
}

const OPF: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" unique-identifier="uuid_id" version="2.0">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
    <dc:title>Oathbringer</dc:title>
    <dc:creator opf:file-as="Sanderson, Brandon" opf:role="aut">Brandon Sanderson</dc:creator>
    <dc:creator opf:role="nrt">Kate Reading</dc:creator>
    <dc:date>2017-11-14T05:00:00+00:00</dc:date>
    <dc:identifier opf:scheme="ISBN">9780765326379</dc:identifier>
    <meta name="calibre:series" content="The Stormlight Archive"/>
    <meta name="calibre:series_index" content="3.0"/>
  </metadata>
</package>
"#;

/// The content of a side file of the layouts, by its name.
fn side_file(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    Some(match name {
        "desc.txt" => "Roshar is a world of stone and storms.\n",
        "reader.txt" => "Michael Kramer & Kate Reading\nsecond line is not read\n",
        "metadata.opf" => OPF,
        "metadata.json" => {
            r#"{"title": "Dune", "authors": ["Frank Herbert"], "narrators": ["Scott Brick"], "series": ["Dune Chronicles #1"], "publishedYear": "1965", "asin": "B002V1OF70"}"#
        }
        _ => return None,
    })
}

/// Writes the files of every case `keep` takes, each case in a folder of
/// its own under the import folder; returns those folders.
fn write_cases(
    t: &TestDir,
    cases: &[Case],
    keep: impl Fn(&Case) -> bool,
) -> Vec<std::path::PathBuf> {
    let mut roots = Vec::new();
    for (i, case) in cases.iter().enumerate().filter(|(_, c)| keep(c)) {
        let root = t.imports().join(format!("case{i:02}"));
        for (j, F(path, tags)) in case.files.iter().enumerate() {
            let tags = tags.map(|(title, artist, album)| {
                let mut s = SampleTags::book(title, artist);
                s.album = Some(album.to_string());
                s
            });
            let bytes = match side_file(path) {
                Some(text) => text.as_bytes().to_vec(),
                None => mp3_bytes(tags.as_ref(), 1.0, (i * 100 + j) as u64),
            };
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
        }
        roots.push(std::fs::canonicalize(&root).unwrap());
    }
    roots
}

fn check(case: &Case, book: &Book, want: &Want, root: &Path) {
    let n = case.name;
    assert_eq!(book.title, want.title, "{n}");
    if want.authors.is_empty() {
        assert!(book.authors.is_empty(), "{n}: {:?}", book.authors);
    } else {
        assert_eq!(book.authors, want.authors, "{n}");
        assert_eq!(book.author, want.authors.join(", "), "{n}");
    }
    assert_eq!(book.series.as_deref(), want.series, "{n}");
    assert_eq!(book.series_index.as_deref(), want.sequence, "{n}");
    assert_eq!(book.narrators, want.narrators, "{n}");
    assert_eq!(book.year, want.year, "{n}");
    assert_eq!(book.asin.as_deref(), want.asin, "{n}");
    assert_eq!(book.description.as_deref(), want.description, "{n}");
    assert_eq!(book.isbn.as_deref(), want.isbn, "{n}");
    let files: Vec<String> = book
        .files
        .iter()
        .map(|f| {
            Path::new(&f.path)
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(files, want.files, "{n}");
}

#[test]
fn every_layout_gives_the_books_audiobookshelf_would() {
    let t = TestDir::new();
    let cases = cases();
    assert!(cases.len() >= 30);
    let roots = write_cases(&t, &cases, |_| true);
    let e = start(t.config());
    let op = run_op(&e, "scan", json!({ "paths": roots }));
    assert_eq!(format!("{:?}", op.status), "Completed", "{op:?}");
    let books = all_books(&e);
    let mut failures = Vec::new();
    for (case, root) in cases.iter().zip(&roots) {
        let mine: Vec<&Book> = books
            .iter()
            .filter(|b| Path::new(&b.source_dir).starts_with(root))
            .collect();
        let _ = case;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_eq!(mine.len(), case.books.len(), "{}: {mine:#?}", case.name);
            for want in &case.books {
                let book = mine
                    .iter()
                    .find(|b| b.title == want.title)
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: no book titled {:?} in {mine:#?}",
                            case.name, want.title
                        )
                    });
                check(case, book, want, root);
            }
        }));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} layouts differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Organizes the books of every layout with the `audiobookshelf` preset
/// and scans the library into a fresh store: the same books come back.
/// Without side files, folder names alone must carry author, series,
/// sequence, narrators and year (layouts whose books took them from side
/// files are left out); with side files, every layout.
#[test]
fn an_audiobookshelf_library_scans_back_into_the_same_books() {
    for side_files in [false, true] {
        let t = TestDir::new();
        let cases = cases();
        let roots = write_cases(&t, &cases, |case| {
            side_files || !case.files.iter().any(|f| side_file(f.0).is_some())
        });
        let mut c = t.config();
        c.organize_preset = audiobook_organizer::config::OrganizePreset::Audiobookshelf;
        c.organize_side_files = side_files;
        let library = c.library.clone();
        let e = start(c);
        run_op(&e, "scan", json!({ "paths": roots }));
        let op = run_op(&e, "organize", json!({ "strategy": "copy" }));
        assert_eq!(format!("{:?}", op.status), "Completed", "{op:?}");
        let before = all_books(&e);
        assert!(
            before
                .iter()
                .all(|b| format!("{:?}", b.status) == "Organized"),
            "{before:#?}"
        );
        drop(e);

        let fresh = TestDir::new();
        let e = start(fresh.config());
        let lib = std::fs::canonicalize(&library).unwrap();
        run_op(&e, "scan", json!({ "paths": [lib] }));
        let after = all_books(&e);
        assert_eq!(after.len(), before.len(), "side files {side_files}");
        for b in &before {
            let a = after
                .iter()
                .find(|a| a.file_hash == b.file_hash)
                .unwrap_or_else(|| panic!("{} did not come back", b.title));
            let what = format!("side files {side_files}: {} ({})", b.title, a.source_dir);
            assert_eq!(a.title, b.title, "{what}");
            assert_eq!(a.author, b.author, "{what}");
            assert_eq!(a.series, b.series, "{what}");
            assert_eq!(a.series_index, b.series_index, "{what}");
            assert_eq!(a.narrators, b.narrators, "{what}");
            assert_eq!(a.year, b.year, "{what}");
            assert_eq!(a.files.len(), b.files.len(), "{what}");
        }
    }
}
