//! Reading new and changed files (tags and hash, on `scan_threads`
//! threads) pipelined with turning them into books on the scan's own
//! thread, batch by batch of whole folders in folder order.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::hash::{compute_bytes_hash, compute_file_hash};
use crate::ops::{JobError, Reporter};
use crate::store::FileRole;

use super::books::{BookContext, add_books, place_known_content, update_changed};
use super::pending::Pending;
use super::tags::audio_extension;
use super::tags::{AudioInfo, read_audio_info, read_audio_info_from_bytes};
use super::walk::{Found, lock};
use super::{Counts, IN_MEMORY_LIMIT, JobContext, Scanned, ToRead};

/// Files per batch handed from the readers to the book builder (whole
/// folders, so a batch may be larger).
const BATCH_FILES: usize = 256;
/// Files read between looks at the clock for a progress update.
const PROGRESS_CHECK_EVERY: u64 = 32;

/// What the readers hand over, batch by batch.
struct Batches<'a> {
    /// Read files of each batch, with their index.
    read: Vec<Mutex<Vec<(usize, Scanned<'a>)>>>,
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
pub(super) fn read_and_build(
    ctx: &JobContext,
    r: &Reporter,
    roots: &[PathBuf],
    mut to_read: Vec<ToRead>,
    pending: &mut Pending,
    counts: &mut Counts,
    books: &BookContext<'_>,
) -> Result<(), JobError> {
    let (done, total) = (&AtomicU64::new(counts.unchanged), counts.files);
    // Folder by folder, so that every batch holds whole folders: a
    // multi-part book is grouped within one batch.
    // (Compared as bytes: `Path` comparisons walk components, which made
    // this sort a tenth of the builder's time.)
    to_read.sort_unstable_by(|a, b| (folder(&a.path), &a.path).cmp(&(folder(&b.path), &b.path)));
    let mut bounds: Vec<std::ops::Range<usize>> = Vec::new();
    let mut batch_of = Vec::with_capacity(to_read.len());
    let mut start = 0;
    for i in 0..to_read.len() {
        let new_folder = i > 0 && folder(&to_read[i].path) != folder(&to_read[i - 1].path);
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
                    let Some(item) = items.get(i) else {
                        return;
                    };
                    let path = &item.path;
                    // A panic in a tag parser costs this file, not the scan.
                    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        read_one(&item.found, &mut buf)
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
                            } else if !info.notes.is_empty() {
                                r.warn(format!("{path}: {}", info.notes.join("; ")), None);
                            }
                            lock(&batches.read[batch_of[i]]).push((
                                i,
                                Scanned {
                                    found: &item.found,
                                    path,
                                    root: roots.get(item.root).map_or(Path::new(""), |p| p),
                                    hash,
                                    info,
                                    old: item.old.as_ref(),
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
                    // The clock is read every few files, not every file.
                    if d.is_multiple_of(PROGRESS_CHECK_EVERY) || d == total {
                        let mut last = lock(&last_report);
                        if last.elapsed() >= Duration::from_millis(100) || d == total {
                            *last = Instant::now();
                            r.update_progress(d, total, format!("read {d} of {total} file(s)"));
                        }
                    }
                }
            });
        }
        let built = build_batches(r, pending, counts, batches, &bounds, books);
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

/// The book folder of a path: its folder, or the one above a disc folder
/// (so a book's discs are built in one batch).
fn folder(path: &str) -> &str {
    super::layout::book_dir(path, "")
}

/// The builder's side of `read_and_build`: each batch once it is read.
fn build_batches(
    r: &Reporter,
    pending: &mut Pending,
    counts: &mut Counts,
    batches: &Batches<'_>,
    bounds: &[std::ops::Range<usize>],
    books: &BookContext<'_>,
) -> Result<(), JobError> {
    for (b, range) in bounds.iter().enumerate() {
        let ready = |b: usize| batches.finished[b].load(Ordering::Acquire) >= range.len() as u64;
        // Ahead of the readers: write now rather than wait idle, so what
        // is left to write once the last file is read stays small.
        if !ready(b) && pending.len() > 0 {
            pending.flush(false)?;
        }
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
        build_batch(
            r,
            pending,
            counts,
            scanned.into_iter().map(|(_, s)| s),
            books,
        )?;
        // Between batches only: the answers prefetched for a batch stay
        // true while it is built.
        if pending.due() {
            pending.flush(false)?;
        }
    }
    Ok(())
}

/// Changed parts, known content and new books of one batch of whole folders.
fn build_batch<'a>(
    r: &Reporter,
    pending: &mut Pending,
    counts: &mut Counts,
    scanned: impl ExactSizeIterator<Item = Scanned<'a>>,
    books: &BookContext<'_>,
) -> Result<(), JobError> {
    let scanned: Vec<Scanned<'a>> = scanned.collect();
    let hashes: Vec<&str> = scanned.iter().map(|s| s.hash.as_str()).collect();
    pending.prefetch_hashes(&hashes)?;
    let mut fresh: Vec<Scanned<'a>> = Vec::new();
    for s in scanned {
        match s.old {
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
    add_books(pending, r, fresh, counts, books)
}

fn read_one(
    found: &Found,
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
        read_whole(&found.path, found.size as usize, buf)?;
        let hash = compute_bytes_hash(buf);
        (hash, read_audio_info_from_bytes(buf, &ext))
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
    Ok((hash, info, warning))
}

/// The whole file into `buf`, sized by the walk's stat: one read for the
/// expected bytes and one to see the end, without `read_to_end`'s own stat
/// and seek. A file that grew since is read to its end all the same.
fn read_whole(path: &Path, size: usize, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    buf.clear();
    buf.resize(size + 1, 0);
    let mut filled = 0;
    loop {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled == buf.len() {
                    // Grew: the rest the usual way, after what is read.
                    file.read_to_end(buf)?;
                    return Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(())
}
