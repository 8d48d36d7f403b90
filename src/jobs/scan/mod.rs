//! The scan operation: walk the import folders, read and hash what is new or
//! changed (in parallel), group files into books, detect duplicates, and mark
//! vanished files. Unchanged files (same size and mtime) are not read again.

pub mod group;
mod pending;
pub mod tags;
pub mod walk;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use ulid::Ulid;

use crate::hash::{compute_bytes_hash, compute_file_hash};
use crate::ops::{JobError, Reporter};
use crate::store::{
    Book, BookFile, BookStatus, FileRecord, FileRole, FileStamp, Mutation, Store, now,
};

use super::JobContext;
use group::{group_key, guess_from_path, strip_track_number};
use pending::{FLUSH_EVERY, Pending};
use tags::{AudioInfo, read_audio_info, read_audio_info_from};
use walk::{Found, KnownDirs, audio_extension, walk};

/// Lookups per read transaction.
const LOOKUP_CHUNK: usize = 2_048;
/// Files up to this size are read once into memory for hashing and tags.
const IN_MEMORY_LIMIT: u64 = 16 * 1024 * 1024;
/// Walk problems logged one by one before they are only counted.
const MAX_ISSUES_LOGGED: usize = 200;

/// A new or changed file after reading.
struct Scanned {
    found: Found,
    path: String,
    root: PathBuf,
    hash: String,
    info: AudioInfo,
    /// What the store knew of this path before the scan.
    old: Option<FileRecord>,
}

#[derive(Default)]
struct Counts {
    files: u64,
    unchanged: u64,
    new: u64,
    changed: u64,
    duplicates: u64,
    organized_copies: u64,
    unreadable: u64,
    vanished: u64,
    returned: u64,
    new_books: u64,
    parts_added: u64,
}

fn path_str(p: &Path) -> Option<String> {
    p.to_str().map(str::to_string)
}

/// Which folders to scan: `params.paths`, else every enabled import path.
fn roots(ctx: &JobContext, params: &Value) -> Result<Vec<PathBuf>, JobError> {
    let given: Vec<PathBuf> = params
        .get("paths")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    let list = if given.is_empty() {
        ctx.store
            .list_import_paths()?
            .into_iter()
            .filter(|p| p.enabled)
            .map(|p| PathBuf::from(p.path))
            .collect()
    } else {
        given
    };
    if list.is_empty() {
        return Err(JobError::Failed(
            "no import paths to scan: add one (audiobook-organizer scan PATH)".into(),
        ));
    }
    Ok(list)
}

pub fn run(ctx: &JobContext, r: &Reporter, params: &Value) -> Result<String, JobError> {
    let started = Instant::now();
    let mut roots = roots(ctx, params)?;
    for root in &mut roots {
        if let Ok(c) = std::fs::canonicalize(&*root) {
            *root = c;
        }
    }
    r.info(format!(
        "scanning {} folder(s): {}",
        roots.len(),
        roots
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let cancelled = || r.is_cancelled();
    let mut phases = Phases::default();
    let known_dirs = load_known_dirs(&*ctx.store, &roots)?;
    phases.mark("load");
    // What the files looked like is needed only after the walk: read it
    // meanwhile.
    let (outcome, stamps) = std::thread::scope(|scope| {
        let stamps = scope.spawn(|| load_stamps(&*ctx.store, &roots));
        let outcome = walk(&roots, ctx.config.scan_threads, &known_dirs, &cancelled);
        let stamps = stamps
            .join()
            .unwrap_or_else(|p| Err(JobError::Failed(crate::ops::queue::panic_message(&*p))));
        (outcome, stamps)
    });
    let mut stamps = stamps?;
    phases.mark("walk");
    if r.is_cancelled() {
        return Err(JobError::Canceled);
    }
    for issue in outcome.issues.iter().take(MAX_ISSUES_LOGGED) {
        r.warn(
            format!("skipped {}: {}", issue.path.display(), issue.message),
            None,
        );
    }
    if outcome.issues.len() > MAX_ISSUES_LOGGED {
        r.warn(
            format!(
                "{} more walk problems not listed",
                outcome.issues.len() - MAX_ISSUES_LOGGED
            ),
            None,
        );
    }
    let mut counts = Counts::default();
    let total = outcome.files.len() as u64;
    counts.files = total;
    ctx.metrics
        .scan_files_scanned
        .fetch_add(total, Ordering::Relaxed);
    r.info(format!(
        "found {total} audio file(s) in {} folder(s) ({} read, {} unchanged since the last scan)",
        outcome.listed.len() + outcome.cached,
        outcome.listed.len(),
        outcome.cached
    ));
    r.update_progress(0, total, "checking for changes");

    // Classify against what the last scan recorded, in memory; full
    // records are read only for the few files that changed or returned.
    let mut to_read: Vec<(Found, String, PathBuf)> = Vec::new();
    let mut returned: Vec<String> = Vec::new();
    let mut changed: Vec<usize> = Vec::new();
    for f in outcome.files {
        let Some(p) = f.path.to_str() else {
            r.warn(
                format!(
                    "skipped {}: the name is not valid UTF-8; rename it",
                    f.path.display()
                ),
                None,
            );
            continue;
        };
        if let Some((stamp, seen)) = stamps.get_mut(p) {
            *seen = true;
            if stamp.size == f.size && stamp.mtime_ns == f.mtime_ns {
                counts.unchanged += 1;
                if stamp.missing {
                    returned.push(p.to_string());
                }
                continue;
            }
            changed.push(to_read.len());
        }
        let root = roots
            .iter()
            .find(|root| {
                p.as_bytes()
                    .starts_with(root.as_os_str().as_encoded_bytes())
            })
            .cloned()
            .unwrap_or_default();
        let p = p.to_string();
        to_read.push((f, p, root));
    }
    let old_records = {
        let paths: Vec<&str> = changed.iter().map(|&i| to_read[i].1.as_str()).collect();
        get_records(&*ctx.store, &paths)?
    };
    let mut olds: Vec<Option<FileRecord>> = vec![None; to_read.len()];
    for (&i, rec) in changed.iter().zip(old_records) {
        olds[i] = rec;
    }
    let to_read: Vec<(Found, String, PathBuf, Option<FileRecord>)> = to_read
        .into_iter()
        .zip(olds)
        .map(|((f, p, root), old)| (f, p, root, old))
        .collect();
    let returned: Vec<(String, FileRecord)> = {
        let paths: Vec<&str> = returned.iter().map(String::as_str).collect();
        let records = get_records(&*ctx.store, &paths)?;
        returned
            .iter()
            .cloned()
            .zip(records)
            .filter_map(|(p, r)| Some((p, r?)))
            .collect()
    };
    if r.is_cancelled() {
        return Err(JobError::Canceled);
    }
    phases.mark("classify");
    r.add_work(total, to_read.iter().map(|(f, ..)| f.size).sum());
    let done = AtomicU64::new(counts.unchanged);
    r.update_progress(
        counts.unchanged,
        total,
        format!("reading {} new or changed file(s)", to_read.len()),
    );
    let mut pending = Pending::new(&*ctx.store);
    for (p, rec) in returned {
        restore_returned(&mut pending, r, &p, rec)?;
        counts.returned += 1;
    }
    read_and_build(ctx, r, to_read, &mut pending, &mut counts, &done, total)?;
    ctx.metrics
        .scan_books_discovered
        .fetch_add(counts.new, Ordering::Relaxed);
    pending.flush(false)?;
    phases.mark("read+books");
    let gone: Vec<String> = stamps
        .into_iter()
        .filter(|(_, (stamp, seen))| !seen && !stamp.missing)
        .map(|(p, _)| p)
        .collect();
    mark_vanished(ctx, &mut pending, r, gone, &mut counts)?;
    keep_listings(&mut pending, &known_dirs, outcome.listed);
    phases.mark("vanished");
    pending.flush(true)?;
    phases.mark("commit");
    r.update_progress(total, total, "scan complete");
    let summary = format!(
        "scanned {} file(s) in {:.2}s: {} new book(s), {} part(s) added, {} unchanged, {} changed, {} duplicate(s), {} organized copies, {} unreadable, {} vanished, {} returned",
        counts.files,
        started.elapsed().as_secs_f64(),
        counts.new_books,
        counts.parts_added,
        counts.unchanged,
        counts.changed,
        counts.duplicates,
        counts.organized_copies,
        counts.unreadable,
        counts.vanished,
        counts.returned
    );
    r.log(
        crate::store::LogLevel::Info,
        summary.clone(),
        Some(format!(
            "{} (store writes {:.1} ms in all)",
            phases.describe(),
            pending.commit_time.as_secs_f64() * 1000.0
        )),
    );
    Ok(summary)
}

/// Wall time per phase, for the summary line's details.
struct Phases {
    last: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Default for Phases {
    fn default() -> Self {
        Self {
            last: Instant::now(),
            done: Vec::new(),
        }
    }
}

impl Phases {
    fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, now - self.last));
        self.last = now;
    }
    fn describe(&self) -> String {
        self.done
            .iter()
            .map(|(n, d)| format!("{n} {:.1} ms", d.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Files per batch handed from the readers to the book builder (whole
/// folders, so a batch may be larger).
const BATCH_FILES: usize = 256;

/// What the readers hand over, batch by batch.
struct Batches {
    /// Read files of each batch, with their index.
    read: Vec<Mutex<Vec<(usize, Scanned)>>>,
    /// Files of each batch finished (read or not).
    finished: Vec<AtomicU64>,
    lock: Mutex<()>,
    ready: std::sync::Condvar,
    /// Set when the builder gives up: readers stop.
    abort: std::sync::atomic::AtomicBool,
}

/// Reads tags and hashes on `scan_threads` threads while this thread turns
/// what has been read into books, batch by batch in folder order: store
/// writes overlap with reading instead of following it. Failures to read
/// are logged and counted; the scan goes on.
fn read_and_build(
    ctx: &JobContext,
    r: &Reporter,
    mut to_read: Vec<(Found, String, PathBuf, Option<FileRecord>)>,
    pending: &mut Pending<'_>,
    counts: &mut Counts,
    done: &AtomicU64,
    total: u64,
) -> Result<(), JobError> {
    // Folder by folder, so that every batch holds whole folders: a
    // multi-part book is grouped within one batch.
    to_read.sort_by(|a, b| {
        let (pa, pb) = (Path::new(&a.1).parent(), Path::new(&b.1).parent());
        pa.cmp(&pb).then_with(|| a.1.cmp(&b.1))
    });
    let mut bounds: Vec<std::ops::Range<usize>> = Vec::new();
    let mut batch_of = Vec::with_capacity(to_read.len());
    let mut start = 0;
    for i in 0..to_read.len() {
        let new_folder =
            i > 0 && Path::new(&to_read[i].1).parent() != Path::new(&to_read[i - 1].1).parent();
        if i - start >= BATCH_FILES && new_folder {
            bounds.push(start..i);
            start = i;
        }
        batch_of.push(bounds.len());
    }
    if start < to_read.len() {
        bounds.push(start..to_read.len());
    }
    let batches = Batches {
        read: bounds.iter().map(|_| Mutex::new(Vec::new())).collect(),
        finished: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
        lock: Mutex::new(()),
        ready: std::sync::Condvar::new(),
        abort: std::sync::atomic::AtomicBool::new(false),
    };
    let next = AtomicU64::new(0);
    let unreadable = AtomicU64::new(0);
    let last_report = Mutex::new(Instant::now());
    let items = &to_read;
    let (batches, batch_of) = (&batches, &batch_of);
    let stop = || r.is_cancelled() || batches.abort.load(Ordering::Relaxed);
    let outcome = std::thread::scope(|scope| {
        for _ in 0..ctx.config.scan_threads.max(1) {
            let builder = std::thread::Builder::new().name("scan-read".into());
            let _ = builder.spawn_scoped(scope, || {
                let mut buf = Vec::new();
                loop {
                    if stop() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((found, path, root, old)) = items.get(i) else {
                        return;
                    };
                    // A panic in a tag parser costs this file, not the scan.
                    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        read_one(found, root, &mut buf)
                    }))
                    .unwrap_or_else(|p| {
                        Err(std::io::Error::other(format!(
                            "the tag reader failed: {}",
                            crate::ops::queue::panic_message(&*p)
                        )))
                    });
                    match read {
                        Ok((hash, info, warning)) => {
                            if let Some(w) = warning {
                                r.warn(
                                    format!("{path}: tags unreadable ({w}); using the path"),
                                    None,
                                );
                            }
                            lock(&batches.read[batch_of[i]]).push((
                                i,
                                Scanned {
                                    found: found.clone(),
                                    path: path.clone(),
                                    root: root.clone(),
                                    hash,
                                    info,
                                    old: old.clone(),
                                },
                            ));
                        }
                        Err(e) => {
                            unreadable.fetch_add(1, Ordering::Relaxed);
                            r.warn(format!("skipped {path}: cannot read it: {e}"), None);
                        }
                    }
                    let b = batch_of[i];
                    let n = batches.finished[b].fetch_add(1, Ordering::AcqRel) + 1;
                    if n == bounds[b].len() as u64 {
                        let _guard = lock(&batches.lock);
                        batches.ready.notify_all();
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    let mut last = lock(&last_report);
                    if last.elapsed() >= Duration::from_millis(100) || d == total {
                        *last = Instant::now();
                        r.update_progress(d, total, format!("read {d} of {total} file(s)"));
                    }
                }
            });
        }
        let built = build_batches(r, pending, counts, batches, &bounds);
        if built.is_err() {
            batches.abort.store(true, Ordering::Relaxed);
        }
        built
    });
    counts.unreadable = unreadable.into_inner();
    if r.is_cancelled() {
        pending.flush(true)?;
        return Err(JobError::Canceled);
    }
    outcome
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The builder's side of `read_and_build`: each batch once it is read.
fn build_batches(
    r: &Reporter,
    pending: &mut Pending<'_>,
    counts: &mut Counts,
    batches: &Batches,
    bounds: &[std::ops::Range<usize>],
) -> Result<(), JobError> {
    for (b, range) in bounds.iter().enumerate() {
        {
            let mut guard = lock(&batches.lock);
            while batches.finished[b].load(Ordering::Acquire) < range.len() as u64 {
                if r.is_cancelled() {
                    return Ok(());
                }
                guard = batches
                    .ready
                    .wait_timeout(guard, Duration::from_millis(50))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        let mut scanned = std::mem::take(&mut *lock(&batches.read[b]));
        scanned.sort_unstable_by_key(|(i, _)| *i);
        build_batch(r, pending, counts, scanned.into_iter().map(|(_, s)| s))?;
        // Between batches only: the answers prefetched for a batch stay
        // true while it is built.
        if pending.len() >= FLUSH_EVERY {
            pending.flush(false)?;
        }
    }
    Ok(())
}

/// Changed parts, known content and new books of one batch of whole folders.
fn build_batch(
    r: &Reporter,
    pending: &mut Pending<'_>,
    counts: &mut Counts,
    scanned: impl ExactSizeIterator<Item = Scanned>,
) -> Result<(), JobError> {
    let scanned: Vec<Scanned> = scanned.collect();
    let hashes: Vec<&str> = scanned.iter().map(|s| s.hash.as_str()).collect();
    pending.prefetch_hashes(&hashes)?;
    let mut fresh: Vec<Scanned> = Vec::new();
    for s in scanned {
        match &s.old {
            Some(old) if old.role == FileRole::Source => {
                update_changed(pending, r, &s, old)?;
                counts.changed += 1;
                if old.missing {
                    counts.returned += 1;
                }
            }
            _ => {
                if place_known_content(pending, r, &s, counts)? {
                    counts.new += 1;
                } else {
                    fresh.push(s);
                }
            }
        }
    }
    counts.new += fresh.len() as u64;
    add_books(pending, r, fresh, counts)
}

fn read_one(
    found: &Found,
    root: &Path,
    buf: &mut Vec<u8>,
) -> std::io::Result<(String, AudioInfo, Option<String>)> {
    if found.size == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file is empty",
        ));
    }
    let ext = audio_extension(&found.path).unwrap_or_default();
    // Small files are read once: hashed and parsed from the same bytes.
    let (hash, parsed) = if found.size <= IN_MEMORY_LIMIT {
        // Into the thread's buffer, sized by the walk's stat: no second
        // stat and no allocation per file. A file that grew since is read
        // to its end all the same.
        use std::io::Read;
        buf.clear();
        buf.reserve(found.size as usize + 1);
        std::fs::File::open(&found.path)?.read_to_end(buf)?;
        let hash = compute_bytes_hash(buf);
        (
            hash,
            read_audio_info_from(&mut std::io::Cursor::new(&buf[..]), &ext),
        )
    } else {
        (
            compute_file_hash(&found.path)?,
            read_audio_info(&found.path, &ext),
        )
    };
    let (mut info, warning) = match parsed {
        Ok(i) => (i, None),
        Err(e) => (AudioInfo::default(), Some(e)),
    };
    if info.codec.is_none() {
        info.codec = Some(ext);
    }
    let _ = root;
    Ok((hash, info, warning))
}

/// A file already known by content: an organized copy of a book, a moved
/// file, or a duplicate. Returns false when the content is new.
fn place_known_content(
    pending: &mut Pending<'_>,
    r: &Reporter,
    s: &Scanned,
    counts: &mut Counts,
) -> Result<bool, JobError> {
    let Some(book_id) = pending.hash_owner(&s.hash)? else {
        return Ok(false);
    };
    let Some(book) = pending.book(&book_id)? else {
        return Ok(false);
    };
    let record = |role| FileRecord {
        book_id: book_id.clone(),
        size: s.found.size,
        mtime_ns: s.found.mtime_ns,
        hash: s.hash.clone(),
        role,
        missing: false,
    };
    if book
        .files
        .iter()
        .any(|f| f.organized_path.as_deref() == Some(s.path.as_str()))
    {
        pending.put_file(&s.path, record(FileRole::Organized));
        counts.organized_copies += 1;
        return Ok(true);
    }
    let original = book.files.iter().position(|f| f.hash == s.hash);
    if let Some(i) = original {
        let old_path = book.files[i].path.clone();
        if old_path != s.path && !Path::new(&old_path).exists() {
            // The file moved: same book, new place.
            book.files[i].path = s.path.clone();
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
            pending.put_file(&s.path, record(FileRole::Source));
            r.info(format!("{} moved from {old_path}", s.path));
            return Ok(true);
        }
    }
    if !book.duplicates.contains(&s.path) {
        book.duplicates.push(s.path.clone());
        book.updated_at = now();
    }
    let title = book.title.clone();
    pending.put_file(&s.path, record(FileRole::Duplicate));
    counts.duplicates += 1;
    r.info(format!(
        "duplicate: {} has the same content as \"{title}\" (book {book_id}); recorded, not added",
        s.path
    ));
    Ok(true)
}

/// A known source file whose size or mtime changed: refresh its part.
fn update_changed(
    pending: &mut Pending<'_>,
    r: &Reporter,
    s: &Scanned,
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
    pending.put_file(
        &s.path,
        FileRecord {
            book_id,
            size: s.found.size,
            mtime_ns: s.found.mtime_ns,
            hash: s.hash.clone(),
            role: FileRole::Source,
            missing: false,
        },
    );
    Ok(())
}

fn restore_returned(
    pending: &mut Pending<'_>,
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
    parts: &'a [Scanned],
    f: impl Fn(&'a AudioInfo) -> Option<&'a String>,
) -> Option<String> {
    parts.iter().find_map(|p| f(&p.info)).cloned()
}

/// Groups new files by folder and key, then adds them to existing books of
/// the same group or creates books.
fn add_books(
    pending: &mut Pending<'_>,
    r: &Reporter,
    fresh: Vec<Scanned>,
    counts: &mut Counts,
) -> Result<(), JobError> {
    let mut groups: Vec<(String, Vec<Scanned>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for s in fresh {
        let dir = Path::new(&s.path)
            .parent()
            .and_then(|p| p.to_str())
            .unwrap_or("")
            .to_string();
        let key = format!(
            "{dir}\u{0}{}",
            group_key(s.info.album.as_deref(), &s.found.path)
        );
        match index.get(&key) {
            Some(&i) => groups[i].1.push(s),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![s]));
            }
        }
    }
    let keys: Vec<&str> = groups.iter().map(|(k, _)| k.as_str()).collect();
    pending.prefetch_groups(&keys)?;
    for (key, mut parts) in groups {
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
        parts.sort_by(|a, b| {
            (a.info.disc.unwrap_or(0), a.info.track.unwrap_or(0), &a.path).cmp(&(
                b.info.disc.unwrap_or(0),
                b.info.track.unwrap_or(0),
                &b.path,
            ))
        });
        let files: Vec<BookFile> = parts
            .iter()
            .map(|s| BookFile {
                path: s.path.clone(),
                size: s.found.size,
                mtime_ns: s.found.mtime_ns,
                hash: s.hash.clone(),
                duration_secs: s.info.duration_secs,
                track: s.info.track,
                disc: s.info.disc,
                organized_path: None,
                organized_hash: None,
            })
            .collect();
        let existing = match pending.group_owner(&key)? {
            Some(id) => pending.book(&id)?.map(|b| b.id.clone()),
            None => None,
        };
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
                let book = new_book(&parts, files);
                counts.new_books += 1;
                r.info(format!(
                    "new book: \"{}\" by {} ({} file(s))",
                    book.title,
                    book.author,
                    book.files.len()
                ));
                let id = book.id.clone();
                pending.groups.insert(key.clone(), id.clone());
                pending.books.insert(id.clone(), book);
                id
            }
        };
        for s in &parts {
            pending
                .hashes
                .entry(s.hash.clone())
                .or_insert_with(|| book_id.clone());
            pending.put_file(
                &s.path,
                FileRecord {
                    book_id: book_id.clone(),
                    size: s.found.size,
                    mtime_ns: s.found.mtime_ns,
                    hash: s.hash.clone(),
                    role: FileRole::Source,
                    missing: false,
                },
            );
        }
    }
    Ok(())
}

fn new_book(parts: &[Scanned], files: Vec<BookFile>) -> Book {
    let lead = &parts[0];
    let guess = guess_from_path(&lead.found.path, &lead.root);
    let multi = parts.len() > 1;
    let album = first(parts, |i| i.album.as_ref());
    let title = if multi {
        album.clone().unwrap_or_else(|| {
            let dir = lead
                .found
                .path
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str());
            dir.map(str::to_string).unwrap_or(guess.title.clone())
        })
    } else {
        lead.info
            .title
            .clone()
            .or_else(|| album.clone())
            .unwrap_or_else(|| strip_track_number(&guess.title).to_string())
    };
    let author = first(parts, |i| i.album_artist.as_ref())
        .or_else(|| first(parts, |i| i.artist.as_ref()))
        .or(guess.author)
        .unwrap_or_else(|| "Unknown Author".into());
    let t = now();
    Book {
        id: Ulid::generate().to_string(),
        title,
        author,
        album,
        narrator: first(parts, |i| i.narrator.as_ref()),
        series: first(parts, |i| i.series.as_ref()),
        series_index: first(parts, |i| i.series_index.as_ref()),
        year: parts.iter().find_map(|p| p.info.year),
        isbn: None,
        description: None,
        cover_url: None,
        duration_secs: files.iter().map(|f| f.duration_secs).sum(),
        codec: first(parts, |i| i.codec.as_ref()),
        bitrate_kbps: parts.iter().find_map(|p| p.info.bitrate_kbps),
        status: BookStatus::Imported,
        deleted: false,
        source_dir: Path::new(&lead.path)
            .parent()
            .and_then(|p| p.to_str())
            .unwrap_or("")
            .to_string(),
        group_key: group_key(lead.info.album.as_deref(), &lead.found.path),
        file_hash: files[0].hash.clone(),
        files,
        duplicates: Vec::new(),
        organized_dir: None,
        created_at: t,
        updated_at: t,
    }
}

/// Known files under the scanned roots that the walk did not see.
fn mark_vanished(
    ctx: &JobContext,
    pending: &mut Pending<'_>,
    r: &Reporter,
    mut gone: Vec<String>,
    counts: &mut Counts,
) -> Result<(), JobError> {
    gone.sort_unstable();
    for chunk in gone.chunks(LOOKUP_CHUNK) {
        let paths: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let records = ctx.store.get_files(&paths)?;
        for (path, rec) in chunk.iter().zip(records) {
            let Some(mut rec) = rec else { continue };
            if rec.missing {
                continue;
            }
            let path = path.clone();
            counts.vanished += 1;
            match rec.role {
                FileRole::Duplicate => {
                    pending.other.push(Mutation::DeleteFile(path.clone()));
                    if let Some(book) = pending.book(&rec.book_id)? {
                        book.duplicates.retain(|d| d != &path);
                    }
                }
                FileRole::Source => {
                    rec.missing = true;
                    let book_id = rec.book_id.clone();
                    pending.put_file(&path, rec);
                    if let Some(book) = pending.book(&book_id)? {
                        if book.status != BookStatus::Missing {
                            book.status = BookStatus::Missing;
                            book.updated_at = now();
                        }
                        r.warn(
                            format!("missing: {path} (book \"{}\") is gone", book.title),
                            None,
                        );
                    }
                }
                FileRole::Organized => {
                    rec.missing = true;
                    pending.put_file(&path, rec);
                    r.warn(format!("missing: organized file {path} is gone"), None);
                }
            }
            if pending.len() >= FLUSH_EVERY {
                pending.flush(false)?;
            }
        }
    }
    Ok(())
}

/// Keeps this scan's listings for the next one, and forgets directories
/// that are gone (with everything under them).
fn keep_listings(
    pending: &mut Pending<'_>,
    known: &KnownDirs,
    listed: Vec<(PathBuf, crate::store::DirRecord)>,
) {
    let mut gone: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (path, record) in listed {
        let Some(key) = path_str(&path) else { continue };
        if let Some(old) = known.get(&key).and_then(|p| p.view()) {
            let now: std::collections::HashSet<&str> =
                record.subdirs.iter().map(String::as_str).collect();
            gone.extend(
                old.subdirs
                    .filter(|n| !now.contains(n))
                    .map(|name| format!("{key}/{name}")),
            );
        }
        pending.other.push(Mutation::PutDir { path: key, record });
    }
    if gone.is_empty() {
        return;
    }
    // A kept listing goes when it, or a folder above it, is gone.
    for key in known.keys() {
        let mut at = Some(Path::new(key.as_str()));
        while let Some(p) = at {
            if p.to_str().is_some_and(|p| gone.contains(p)) {
                pending.other.push(Mutation::DeleteDir(key.clone()));
                break;
            }
            at = p.parent();
        }
    }
}

/// The listings kept under `roots` (each root and everything below it).
fn load_known_dirs(store: &dyn Store, roots: &[PathBuf]) -> Result<KnownDirs, JobError> {
    let mut known = KnownDirs::new();
    for root in roots {
        let Some(root) = path_str(root) else { continue };
        let below = format!("{}/", root.trim_end_matches('/'));
        let mut after: Option<String> = None;
        loop {
            let page = store.dirs_under(&root, after.as_deref(), 4096)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            known.extend(
                page.into_iter()
                    .filter(|(k, _)| *k == root || k.starts_with(&below)),
            );
        }
    }
    Ok(known)
}

/// What tells a change, for every known file under `roots`, each with a
/// "seen by this walk" flag.
fn load_stamps(
    store: &dyn Store,
    roots: &[PathBuf],
) -> Result<HashMap<String, (FileStamp, bool)>, JobError> {
    let mut stamps = HashMap::new();
    for root in roots {
        let Some(root) = path_str(root) else { continue };
        let below = format!("{}/", root.trim_end_matches('/'));
        let mut after: Option<String> = None;
        loop {
            let page = store.file_stamps_under(&below, after.as_deref(), 4096)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            stamps.extend(page.into_iter().map(|(p, s)| (p, (s, false))));
        }
    }
    Ok(stamps)
}

/// Full records of `paths`, in order, looked up in chunks.
fn get_records(store: &dyn Store, paths: &[&str]) -> Result<Vec<Option<FileRecord>>, JobError> {
    let mut out = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(LOOKUP_CHUNK) {
        out.extend(store.get_files(chunk)?);
    }
    Ok(out)
}
