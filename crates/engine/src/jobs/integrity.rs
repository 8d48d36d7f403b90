//! `integrity_check`: recomputes ComputeFileHash of every book's files (the
//! library copy once organized, else the source) and compares it with the
//! stored hash. Mismatched, missing and unreadable files become findings
//! under `integrity:mismatch:<book_id>`, logged on the operation and sent
//! as `integrity.mismatch`; a clean book clears its earlier finding. The
//! position is saved after every page, so an interrupted check resumes.

use std::fs::File;
use std::io::ErrorKind;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{JobContext, Notice};
use crate::hash::{CHUNK, WHOLE_FILE_LIMIT, compute_open_file_hash};
use crate::ops::{JobError, Reporter};
use crate::store::{Book, FileFinding, FindingKind, IntegrityFinding, Mutation};

/// Where an unfinished check stopped.
pub const CURSOR_META: &str = "integrity_cursor";
const PAGE: usize = 200;
/// The position is saved at least this often.
const SAVE_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    after: Option<String>,
    books: u64,
    files: u64,
    findings: u64,
    cleared: u64,
}

/// Sleeps so that reads stay under the configured rate.
struct ReadLimiter {
    bytes_per_sec: f64,
    start: Instant,
    bytes: u64,
}

impl ReadLimiter {
    fn new(mb_per_sec: f64) -> Self {
        Self {
            bytes_per_sec: mb_per_sec * 1_000_000.0,
            start: Instant::now(),
            bytes: 0,
        }
    }

    /// Accounts for `n` bytes read; false if cancelled while waiting.
    fn consume(&mut self, n: u64, r: &Reporter) -> bool {
        if self.bytes_per_sec <= 0.0 {
            return true;
        }
        self.bytes += n;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.bytes_per_sec);
        while self.start.elapsed() < due {
            if r.is_cancelled() {
                return false;
            }
            std::thread::sleep((due - self.start.elapsed()).min(Duration::from_millis(50)));
        }
        true
    }
}

/// Bytes ComputeFileHash reads from a file of `size` bytes.
fn bytes_read(size: u64) -> u64 {
    if size > WHOLE_FILE_LIMIT {
        2 * CHUNK
    } else {
        size
    }
}

/// Checks one file; returns the finding, if any, and the bytes read.
fn check_file(path: &str, expected: &str, hash_type: &str) -> (Option<FileFinding>, u64) {
    let finding = |kind, computed: Option<String>, error: Option<String>| FileFinding {
        kind,
        file_path: path.to_string(),
        stored_hash: expected.to_string(),
        computed_hash: computed,
        hash_type: hash_type.to_string(),
        error,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return (
                Some(finding(FindingKind::Missing, None, Some(e.to_string()))),
                0,
            );
        }
        Err(e) => {
            return (
                Some(finding(FindingKind::Unreadable, None, Some(e.to_string()))),
                0,
            );
        }
    };
    let size = match file.metadata() {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => {
            let e = Some("not a regular file".to_string());
            return (Some(finding(FindingKind::Unreadable, None, e)), 0);
        }
        Err(e) => {
            return (
                Some(finding(FindingKind::Unreadable, None, Some(e.to_string()))),
                0,
            );
        }
    };
    match compute_open_file_hash(&file, size) {
        Ok(h) if h == expected => (None, bytes_read(size)),
        Ok(h) => (
            Some(finding(FindingKind::Mismatch, Some(h), None)),
            bytes_read(size),
        ),
        Err(e) => (
            Some(finding(FindingKind::Unreadable, None, Some(e.to_string()))),
            0,
        ),
    }
}

/// Every file of the book that is checked: (path, stored hash, hash type).
fn files_to_check(book: &Book) -> Vec<(&str, &str, &'static str)> {
    book.files
        .iter()
        .map(|f| match (&f.organized_path, &f.organized_hash) {
            (Some(p), Some(h)) => (p.as_str(), h.as_str(), "organized_file_hash"),
            _ => (f.path.as_str(), f.hash.as_str(), "file_hash"),
        })
        .collect()
}

fn save_cursor(c: &Cursor) -> Mutation {
    Mutation::SetMeta {
        key: CURSOR_META.into(),
        value: serde_json::to_vec(c).unwrap_or_default(),
    }
}

pub fn run(ctx: &JobContext, r: &Reporter) -> Result<String, JobError> {
    let store = &ctx.store;
    let mut cur: Cursor = store
        .get_meta(CURSOR_META)?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default();
    let total = store.count_books()?;
    if let Some(after) = &cur.after {
        r.info(format!(
            "resuming an unfinished check after book {after}: {} of {total} book(s) already checked",
            cur.books
        ));
    } else {
        r.info(format!("checking the files of {total} book(s)"));
    }
    let limit = ctx.config.features.integrity_max_read_mb_s;
    if limit > 0.0 {
        r.info(format!("reads limited to {limit} MB/s"));
    }
    let mut limiter = ReadLimiter::new(limit);
    r.update_progress(cur.books, total.max(cur.books), "checking");
    // Without earlier findings there is nothing to clear: no lookups.
    let earlier = store.count_findings()?.iter().any(|(_, n)| *n > 0);
    let mut batch = Vec::new();
    let mut last_save = Instant::now();
    // Findings and the position are saved together, every page or second.
    // Findings are published once they are stored: persist, then publish.
    let mut events: Vec<Notice> = Vec::new();
    let save = |batch: &mut Vec<Mutation>, events: &mut Vec<Notice>, cur: &Cursor| {
        batch.push(save_cursor(cur));
        store.apply(&std::mem::take(batch), true)?;
        for e in events.drain(..) {
            ctx.notify.notify(r.operation_id(), e);
        }
        Ok::<(), JobError>(())
    };
    loop {
        let page = store.list_books(cur.after.as_deref(), PAGE)?;
        if page.is_empty() {
            break;
        }
        for book in page {
            if r.is_cancelled() {
                save(&mut batch, &mut events, &cur)?;
                return Err(JobError::Canceled);
            }
            let had = earlier && store.get_finding(&book.id)?.is_some();
            if !book.is_live() {
                if had {
                    batch.push(Mutation::DeleteFinding(book.id.clone()));
                }
                cur.after = Some(book.id.clone());
                continue;
            }
            let mut bad = Vec::new();
            for (path, expected, hash_type) in files_to_check(&book) {
                let (finding, read) = check_file(path, expected, hash_type);
                cur.files += 1;
                ctx.metrics
                    .integrity_files_checked
                    .fetch_add(1, Ordering::Relaxed);
                ctx.metrics
                    .integrity_bytes_read
                    .fetch_add(read, Ordering::Relaxed);
                r.add_work(1, read);
                if let Some(f) = finding {
                    bad.push(f);
                }
                if !limiter.consume(read, r) {
                    // This book is checked again on resume.
                    save(&mut batch, &mut events, &cur)?;
                    return Err(JobError::Canceled);
                }
            }
            cur.books += 1;
            cur.after = Some(book.id.clone());
            match IntegrityFinding::new(
                &book.id,
                &book.title,
                r.operation_id(),
                ctx.clock.now(),
                bad,
            ) {
                Some(f) => {
                    cur.findings += 1;
                    r.warn(
                        format!(
                            "integrity {}: \"{}\" at {}",
                            f.kind.as_str(),
                            f.book_title,
                            f.file_path
                        ),
                        Some(format!(
                            "stored={} computed={} type={}{}",
                            f.stored_hash,
                            f.computed_hash.as_deref().unwrap_or("-"),
                            f.hash_type,
                            if f.files.len() > 1 {
                                format!(" ({} bad files)", f.files.len())
                            } else {
                                String::new()
                            }
                        )),
                    );
                    events.push(Notice::Mismatch(Box::new(f.clone())));
                    batch.push(Mutation::PutFinding(f));
                }
                None if had => {
                    cur.cleared += 1;
                    r.info(format!(
                        "\"{}\" is intact again; finding cleared",
                        book.title
                    ));
                    batch.push(Mutation::DeleteFinding(book.id.clone()));
                }
                None => {}
            }
            r.update_progress(
                cur.books,
                total.max(cur.books),
                format!("{} file(s) checked, {} finding(s)", cur.files, cur.findings),
            );
            if batch.len() >= PAGE || last_save.elapsed() >= SAVE_EVERY {
                save(&mut batch, &mut events, &cur)?;
                last_save = Instant::now();
            }
        }
    }
    batch.push(Mutation::DeleteMeta(CURSOR_META.into()));
    store.apply(&batch, true)?;
    for e in events {
        ctx.notify.notify(r.operation_id(), e);
    }
    let summary = format!(
        "checked {} file(s) of {} book(s): {} finding(s), {} cleared",
        cur.files, cur.books, cur.findings, cur.cleared
    );
    if cur.findings > 0 {
        r.warn(summary.clone(), None);
    } else {
        r.info(summary.clone());
    }
    Ok(summary)
}
