//! Turning read files into books: changed parts, moved files, duplicates,
//! organized copies, and new books grouped by folder and album.

use std::path::Path;

use ulid::Ulid;

use crate::fast_map::FastMap;
use crate::ops::{JobError, Reporter};
use crate::store::book_edit::ProvenanceMap;
use crate::store::{
    Book, BookField, BookFile, BookStatus, Cover, CoverSource, FileRecord, FileRole, Mutation,
    Provenance, now,
};

use super::group::{group_key, guess_from_path, strip_track_number, without_format};
use super::layout::{Layer, names, parse_book_path};
use super::pending::Pending;
use super::side;
use super::tags::AudioInfo;
use super::{Counts, Scanned};
use crate::config::MetadataSource;

/// A file already known by content: an organized copy of a book, a moved
/// file, or a duplicate. Returns false when the content is new.
pub(super) fn place_known_content(
    pending: &mut Pending,
    r: &Reporter,
    s: &Scanned<'_>,
    counts: &mut Counts,
) -> Result<bool, JobError> {
    let Some(book_id) = pending.hash_owner(&s.hash)? else {
        return Ok(false);
    };
    let Some(book) = pending.book(&book_id)? else {
        return Ok(false);
    };
    let record = |role| s.record(&book_id, role);
    if book
        .files
        .iter()
        .any(|f| f.organized_path.as_deref() == Some(s.path))
    {
        pending.put_file(s.path, record(FileRole::Organized));
        counts.organized_copies += 1;
        return Ok(true);
    }
    let original = book.files.iter().position(|f| f.hash == s.hash);
    if let Some(i) = original {
        let old_path = book.files[i].path.clone();
        if old_path != s.path && !Path::new(&old_path).exists() {
            // The file moved: same book, new place.
            book.files[i].path = s.path.to_string();
            book.files[i].size = s.found.size;
            book.files[i].mtime_ns = s.found.mtime_ns;
            book.updated_at = now();
            if book.status == BookStatus::Missing {
                book.status = if book.organized_dir.is_some() {
                    BookStatus::Organized
                } else {
                    BookStatus::Imported
                };
            }
            pending.other.push(Mutation::DeleteFile(old_path.clone()));
            pending.put_file(s.path, record(FileRole::Source));
            r.info(format!("{} moved from {old_path}", s.path));
            return Ok(true);
        }
    }
    if !book.duplicates.iter().any(|d| d == s.path) {
        book.duplicates.push(s.path.to_string());
        book.updated_at = now();
    }
    let title = book.title.clone();
    pending.put_file(s.path, record(FileRole::Duplicate));
    counts.duplicates += 1;
    r.info(format!(
        "duplicate: {} has the same content as \"{title}\" (book {book_id}); recorded, not added",
        s.path
    ));
    Ok(true)
}

/// A known source file whose size or mtime changed: refresh its part.
pub(super) fn update_changed(
    pending: &mut Pending,
    r: &Reporter,
    s: &Scanned<'_>,
    old: &FileRecord,
) -> Result<(), JobError> {
    let Some(book) = pending.book(&old.book_id)? else {
        return Ok(());
    };
    if let Some(f) = book.files.iter_mut().find(|f| f.path == s.path) {
        f.size = s.found.size;
        f.mtime_ns = s.found.mtime_ns;
        f.duration_secs = s.info.duration_secs;
        if f.hash != s.hash {
            r.warn(
                format!("{} changed on disk since the last scan", s.path),
                Some(format!("old hash {} new hash {}", f.hash, s.hash)),
            );
            f.hash = s.hash.clone();
        }
    }
    book.duration_secs = book.files.iter().map(|f| f.duration_secs).sum();
    book.file_hash = book
        .files
        .first()
        .map(|f| f.hash.clone())
        .unwrap_or_default();
    book.updated_at = now();
    // A vanished part written again (a new download of it, say).
    if old.missing
        && book.status == BookStatus::Missing
        && book
            .files
            .iter()
            .all(|f| f.path == s.path || Path::new(&f.path).exists())
    {
        book.status = if book.organized_dir.is_some() {
            BookStatus::Organized
        } else {
            BookStatus::Imported
        };
        r.info(format!(
            "\"{}\" is complete again: {} is back",
            book.title, s.path
        ));
    }
    let book_id = book.id.clone();
    pending.hashes.insert(s.hash.clone(), book_id.clone());
    pending.put_file(s.path, s.record(&book_id, FileRole::Source));
    Ok(())
}

pub(super) fn restore_returned(
    pending: &mut Pending,
    r: &Reporter,
    path: &str,
    mut rec: FileRecord,
) -> Result<(), JobError> {
    rec.missing = false;
    let book_id = rec.book_id.clone();
    pending.put_file(path, rec);
    let Some(book) = pending.book(&book_id)? else {
        return Ok(());
    };
    let all_back = book
        .files
        .iter()
        .all(|f| f.path == path || Path::new(&f.path).exists());
    if book.status == BookStatus::Missing && all_back {
        book.status = if book.organized_dir.is_some() {
            BookStatus::Organized
        } else {
            BookStatus::Imported
        };
        book.updated_at = now();
        r.info(format!(
            "\"{}\" is complete again: {path} is back",
            book.title
        ));
    }
    Ok(())
}

fn first<'a>(
    parts: &'a [Scanned<'_>],
    f: impl Fn(&'a AudioInfo) -> Option<&'a String>,
) -> Option<String> {
    parts.iter().find_map(|p| f(&p.info)).cloned()
}

/// Groups new files by folder and key, then adds them to existing books of
/// the same group or creates books.
/// What every new book of a scan is built with besides its files.
pub(super) struct BookContext<'a> {
    /// Side files by book folder, as the walk named them.
    pub side: &'a FastMap<String, Vec<String>>,
    /// Where metadata comes from, lowest precedence first.
    pub precedence: Vec<MetadataSource>,
}

pub(super) fn add_books(
    pending: &mut Pending,
    r: &Reporter,
    fresh: Vec<Scanned<'_>>,
    counts: &mut Counts,
    ctx: &BookContext<'_>,
) -> Result<(), JobError> {
    // Folder and group key -> its place in `groups`.
    let mut groups: Vec<(&str, String, Vec<Scanned<'_>>)> = Vec::new();
    let mut index: FastMap<(&str, String), usize> = FastMap::default();
    for s in fresh {
        // The book folder: a disc folder's files join the folder above.
        let dir = super::layout::book_dir(s.path, s.root.to_str().unwrap_or(""));
        let key = group_key(s.info.album.as_deref(), &s.found.path);
        match index.get(&(dir, key.clone())) {
            Some(&i) => groups[i].2.push(s),
            None => {
                index.insert((dir, key.clone()), groups.len());
                groups.push((dir, key, vec![s]));
            }
        }
    }
    let mut added: Vec<String> = Vec::new();
    // Folders holding more than one book: an untagged file there is titled
    // after its own name, not the folder's.
    let mut per_dir: FastMap<&str, usize> = FastMap::default();
    for (dir, _, _) in &groups {
        *per_dir.entry(dir).or_default() += 1;
    }
    // New books by folder and key without format: editions of one work.
    let mut editions: FastMap<(&str, String), Vec<String>> = FastMap::default();
    for (dir, key, mut parts) in groups {
        let shared_folder = per_dir.get(dir).copied().unwrap_or(0) > 1;
        // A copy of content seen earlier in this same scan.
        let mut unique = Vec::with_capacity(parts.len());
        for s in parts.drain(..) {
            if pending.hashes.contains_key(&s.hash) && place_known_content(pending, r, &s, counts)?
            {
                continue;
            }
            unique.push(s);
        }
        let mut parts = unique;
        if parts.is_empty() {
            continue;
        }
        // Disc, then track: a disc folder gives the disc where no tag does.
        let disc = |s: &Scanned<'_>| {
            s.info
                .disc
                .or_else(|| super::layout::disc_of_folder(s.path))
        };
        parts.sort_by(|a, b| {
            (disc(a).unwrap_or(0), a.info.track.unwrap_or(0), &a.path).cmp(&(
                disc(b).unwrap_or(0),
                b.info.track.unwrap_or(0),
                &b.path,
            ))
        });
        let files: Vec<BookFile> = parts
            .iter()
            .map(|s| BookFile {
                path: s.path.to_string(),
                size: s.found.size,
                mtime_ns: s.found.mtime_ns,
                hash: s.hash.clone(),
                duration_secs: s.info.duration_secs,
                track: s.info.track,
                disc: disc(s),
                organized_path: None,
                organized_hash: None,
            })
            .collect();
        let existing = pending.group_owner(dir, &key)?;
        let book_id = match existing {
            Some(id) => {
                let book = pending.book(&id)?.expect("loaded above");
                book.files.extend(files);
                book.files.sort_by(|a, b| {
                    (a.disc.unwrap_or(0), a.track.unwrap_or(0), &a.path).cmp(&(
                        b.disc.unwrap_or(0),
                        b.track.unwrap_or(0),
                        &b.path,
                    ))
                });
                book.duration_secs = book.files.iter().map(|f| f.duration_secs).sum();
                if book.status == BookStatus::Organized {
                    // New parts still need placing.
                    book.status = BookStatus::Imported;
                }
                book.updated_at = now();
                counts.parts_added += parts.len() as u64;
                r.info(format!(
                    "added {} part(s) to \"{}\"",
                    parts.len(),
                    book.title
                ));
                id
            }
            None => {
                let base = without_format(&key).to_string();
                let book = new_book(&parts, files, key, dir, shared_folder, ctx);
                editions
                    .entry((dir, base))
                    .or_default()
                    .push(book.id.clone());
                counts.new_books += 1;
                added.push(format!(
                    "\"{}\" by {} ({} file(s))",
                    book.title,
                    book.author,
                    book.files.len()
                ));
                let id = book.id.clone();
                pending.books.insert(id.clone(), book);
                id
            }
        };
        for s in &parts {
            pending
                .hashes
                .entry(s.hash.clone())
                .or_insert_with(|| book_id.clone());
            pending.put_file(s.path, s.record(&book_id, FileRole::Source));
        }
    }
    // The same work in several formats in one folder: each edition names
    // the others.
    for ((_, _), ids) in editions {
        if ids.len() < 2 {
            continue;
        }
        for id in &ids {
            if let Some(book) = pending.books.get_mut(id) {
                book.editions = ids.iter().filter(|o| *o != id).cloned().collect();
            }
        }
        r.info(format!(
            "{} editions of one book in different formats: {}",
            ids.len(),
            ids.join(", ")
        ));
    }
    log_new_books(r, added);
    Ok(())
}

/// Titles shown in the message of a line that lists new books.
const TITLES_SHOWN: usize = 3;

/// One line per batch of new books (a line each cost a first scan about a
/// tenth of its CPU): the first few in the message, all of them, one per
/// line, in its details.
fn log_new_books(r: &Reporter, added: Vec<String>) {
    match added.len() {
        0 => {}
        1 => r.info(format!("new book: {}", added[0])),
        n => {
            let more = if n > TITLES_SHOWN {
                format!(" and {} more", n - TITLES_SHOWN)
            } else {
                String::new()
            };
            r.log(
                crate::store::LogLevel::Info,
                format!(
                    "{n} new books: {}{more}",
                    added[..n.min(TITLES_SHOWN)].join(", ")
                ),
                Some(added.join("\n")),
            );
        }
    }
}

/// `Author - Title` in a file name, unless the title is only a track or
/// part number (`Guards! Guards! - 01`) or the `author` is the folder's
/// title (`11.22.63 - Part 01`).
fn author_dash_title(stem: &str, folder_title: Option<&str>) -> Option<(String, String)> {
    let (a, t) = stem.split_once(" - ")?;
    let (a, t) = (a.trim(), t.trim());
    let stripped = strip_track_number(t);
    let only_a_number = stripped
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .all(|w| {
            w.chars().all(|c| c.is_ascii_digit())
                || matches!(
                    w.to_lowercase().as_str(),
                    "part" | "pt" | "track" | "chapter" | "ch" | "disc" | "cd" | "of"
                )
        });
    if a.is_empty()
        || stripped.is_empty()
        || only_a_number
        || a.chars().all(|c| c.is_ascii_digit() || c == '.')
        || folder_title.is_some_and(|f| f.eq_ignore_ascii_case(a))
    {
        return None;
    }
    Some((a.to_string(), stripped.to_string()))
}

/// A new book of `parts` (files of the book folder `dir` with group key
/// `key`); `shared_folder`: other books lie in the same folder. What the
/// folder names, the tags and the side files say is layered in the
/// configured precedence (docs/layouts.md), later sources winning.
/// A genre tag's genres: ID3v2.4 separates several with NUL, others
/// with `;` or `/`; repeated ones once.
fn genres(tag: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in tag
        .split(['\0', ';', '/'])
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(g)) {
            out.push(g.to_string());
        }
    }
    out
}

fn new_book(
    parts: &[Scanned<'_>],
    files: Vec<BookFile>,
    key: String,
    dir: &str,
    shared_folder: bool,
    ctx: &BookContext<'_>,
) -> Book {
    let lead = &parts[0];
    let root = lead.root.to_str().unwrap_or("");
    let rel = dir
        .strip_prefix(root)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or("");
    // A folder holding several books says nothing about any one of them.
    let folder = if shared_folder {
        Layer::default()
    } else {
        parse_book_path(Path::new(rel))
    };
    let guess = || guess_from_path(&lead.found.path, lead.root);
    let multi = parts.len() > 1;
    let album = first(parts, |i| i.album.as_ref());
    let stem = || {
        lead.found
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| strip_track_number(s).to_string())
    };
    // A one-file book named `Author - Title.ext` says more than the
    // folder it was downloaded into; a part's name never names the author
    // of a book of several files.
    let named = if multi {
        None
    } else {
        lead.found
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| author_dash_title(s, folder.title.as_deref()))
    };
    // The path: folder names, then (one-file books) the file name.
    let mut path_layer = folder.clone();
    if let Some((a, t)) = &named {
        path_layer.title = Some(t.clone());
        path_layer.authors = names(a);
    } else if shared_folder && !multi {
        path_layer.title = stem();
    }
    if path_layer.authors.is_empty() {
        path_layer.authors = folder.authors.clone();
    }
    // A one-file book's folder gives an author only where no book folder
    // does: at the top of the import folder or in a folder of several
    // books (named after their author, mostly).
    if path_layer.authors.is_empty()
        && !multi
        && (shared_folder || rel.is_empty())
        && let Some(a) = guess().author
    {
        path_layer.authors = names(&a);
    }
    // The tags: a book of several files is titled by its album.
    let lists = |f: fn(&AudioInfo) -> &Vec<String>| {
        parts
            .iter()
            .map(|p| f(&p.info))
            .find(|v| !v.is_empty())
            .map(|v| v.iter().flat_map(|n| names(n)).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut tag_authors = lists(|i| &i.album_artists);
    if tag_authors.is_empty() {
        tag_authors = lists(|i| &i.artists);
    }
    let tag_layer = Layer {
        title: if multi {
            album.clone()
        } else {
            lead.info.title.clone().or_else(|| album.clone())
        },
        authors: tag_authors,
        narrators: lists(|i| &i.narrators),
        series: first(parts, |i| i.series.as_ref()),
        sequence: first(parts, |i| i.series_index.as_ref()),
        year: parts.iter().find_map(|p| p.info.year),
        genres: first(parts, |i| i.genre.as_ref())
            .map(|g| genres(&g))
            .unwrap_or_default(),
        ..Layer::default()
    };
    let side = ctx.side.get(dir).map(Vec::as_slice).unwrap_or(&[]);
    let mut meta = Layer::default();
    let mut provenance = ProvenanceMap::new();
    let mut path_layer = Some(path_layer);
    let mut tag_layer = Some(tag_layer);
    for source in &ctx.precedence {
        let layer = match source {
            MetadataSource::Folder => path_layer.take().map(|l| (l, Provenance::Path)),
            MetadataSource::Tags => tag_layer.take().map(|l| (l, Provenance::Tag)),
            MetadataSource::Txt if !side.is_empty() => {
                Some((side::txt(Path::new(dir), side), Provenance::source("txt")))
            }
            MetadataSource::Opf if !side.is_empty() => {
                Some((side::opf(Path::new(dir), side), Provenance::source("opf")))
            }
            MetadataSource::Json if !side.is_empty() => Some((
                side::abs_json(Path::new(dir), side),
                Provenance::source("metadata.json"),
            )),
            _ => None,
        };
        if let Some((l, from)) = layer {
            for field in l.fields() {
                provenance.insert(field, from.clone());
            }
            meta.overlay(l);
        }
    }
    // The cover: an image of the book's own folder or, failing that, of
    // its disc folders (a folder of several books has none of its own);
    // else the first part whose tags hold one.
    let cover = if shared_folder {
        None
    } else {
        let part_dirs = parts
            .iter()
            .filter_map(|p| Path::new(p.path).parent()?.to_str());
        std::iter::once(dir)
            .chain(part_dirs)
            .find_map(|d| side::cover_image(ctx.side.get(d)?).map(|n| Path::new(d).join(n)))
            .map(|path| Cover {
                source: CoverSource::File,
                path: path.to_string_lossy().into_owned(),
            })
    }
    .or_else(|| {
        parts.iter().find(|p| p.info.has_picture).map(|p| Cover {
            source: CoverSource::Embedded,
            path: p.path.to_string(),
        })
    });
    let title = meta.title.clone().unwrap_or_else(|| {
        provenance.insert(BookField::Title, Provenance::Path);
        strip_track_number(&guess().title).to_string()
    });
    let authors = meta.authors;
    let author = if authors.is_empty() {
        "Unknown Author".to_string()
    } else {
        authors.join(", ")
    };
    let narrators = meta.narrators;
    let (series, series_index, year) = (meta.series, meta.sequence, meta.year);
    let t = now();
    Book {
        id: Ulid::generate().to_string(),
        title,
        author,
        authors,
        album,
        narrator: (!narrators.is_empty()).then(|| narrators.join(", ")),
        narrators,
        series,
        series_index,
        year,
        asin: meta.asin,
        isbn: meta.isbn,
        description: meta.description,
        language: meta.language,
        publisher: meta.publisher,
        genres: meta.genres,
        provenance,
        locked: Default::default(),
        cover_url: None,
        cover,
        duration_secs: files.iter().map(|f| f.duration_secs).sum(),
        codec: first(parts, |i| i.codec.as_ref()),
        bitrate_kbps: parts.iter().find_map(|p| p.info.bitrate_kbps),
        status: BookStatus::Imported,
        deleted: false,
        source_dir: dir.to_string(),
        group_key: key,
        file_hash: files[0].hash.clone(),
        files,
        duplicates: Vec::new(),
        editions: Vec::new(),
        organized_dir: None,
        created_at: t,
        updated_at: t,
    }
}
