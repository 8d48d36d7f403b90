//! The scan operation: walk the import folders, read and hash what is new or
//! changed (in parallel), group files into books, detect duplicates, and mark
//! vanished files. Unchanged files (same size and mtime) are not read again.

mod books;
pub mod group;
mod known;
pub mod layout;
mod pending;
mod read;
mod side;
pub use ao_tags as tags;
pub use ao_walk as walk;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::fast_map::FastMap;
use crate::ops::{JobError, Reporter};
use crate::store::{BookStatus, FileRecord, FileRole, Mutation, now};

use super::{JobContext, ScanParams};
use books::restore_returned;
use known::{Stamps, get_records, keep_listings, load_known_dirs, load_stamps};
use pending::Pending;
use read::read_and_build;
use tags::AudioInfo;
use walk::{Found, walk};

/// Lookups per read transaction.
const LOOKUP_CHUNK: usize = 2_048;
/// Files up to this size are read once into memory for hashing and tags.
const IN_MEMORY_LIMIT: u64 = 16 * 1024 * 1024;
/// Walk problems logged one by one before they are only counted.
const MAX_ISSUES_LOGGED: usize = 200;

/// A new or changed file to read.
struct ToRead {
    found: Found,
    path: String,
    /// Index of its root in the scan's roots.
    root: usize,
    /// What the store knew of this path before the scan.
    old: Option<FileRecord>,
}

/// A new or changed file after reading.
struct Scanned<'a> {
    found: &'a Found,
    path: &'a str,
    root: &'a Path,
    hash: String,
    info: AudioInfo,
    old: Option<&'a FileRecord>,
}

impl Scanned<'_> {
    /// The file's record as a part of `book_id` in `role`.
    fn record(&self, book_id: &str, role: FileRole) -> FileRecord {
        FileRecord {
            book_id: book_id.to_string(),
            size: self.found.size,
            mtime_ns: self.found.mtime_ns,
            hash: self.hash.clone(),
            role,
            missing: false,
        }
    }
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
    not_followed: u64,
    excluded_by_marker: u64,
    excluded_by_pattern: u64,
}

/// Meta key: the symlink policy the kept folder listings were made under.
const LISTING_POLICY_META: &str = "scan_listing_policy";

fn policy_name(p: crate::config::FollowSymlinks) -> &'static str {
    match p {
        crate::config::FollowSymlinks::Inside => "inside",
        crate::config::FollowSymlinks::All => "all",
        crate::config::FollowSymlinks::None => "none",
    }
}

fn listing_policy(p: crate::config::FollowSymlinks) -> String {
    format!("v2:{}", policy_name(p))
}

fn path_str(p: &Path) -> Option<String> {
    p.to_str().map(str::to_string)
}

/// Each root's exclude patterns: those of the import path it is in (the
/// nearest one, when import paths nest), matched relative to that path.
fn excludes_of(ctx: &JobContext, roots: &[PathBuf]) -> Result<Vec<walk::Excludes>, JobError> {
    let imports = ctx.store.list_import_paths()?;
    Ok(roots
        .iter()
        .map(|root| {
            imports
                .iter()
                .filter(|p| root.starts_with(&p.path))
                .max_by_key(|p| p.path.len())
                .map(|p| {
                    // Checked when they were set; one that no longer parses
                    // (a store written by hand) is left out.
                    let patterns = p
                        .exclude
                        .iter()
                        .filter_map(|e| walk::ExcludePattern::parse(e).ok())
                        .collect();
                    walk::Excludes::new(PathBuf::from(&p.path), patterns)
                })
                .unwrap_or_default()
        })
        .collect())
}

/// Which folders to scan: `params.paths`, else every enabled import path.
fn roots(ctx: &JobContext, params: &ScanParams) -> Result<Vec<PathBuf>, JobError> {
    let given = params.paths.clone();
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
        return Err(JobError::Invalid(
            "no import paths to scan: add one (audiobook-organizer scan PATH)".into(),
        ));
    }
    Ok(list)
}

/// The folders a scan restricted to `within` walks: each inside one of
/// `roots` (else the scan is refused).
fn walk_roots(roots: &[PathBuf], within: &[PathBuf]) -> Result<Vec<PathBuf>, JobError> {
    if within.is_empty() {
        return Ok(roots.to_vec());
    }
    within
        .iter()
        .map(|w| {
            let w = std::fs::canonicalize(w).unwrap_or_else(|_| w.clone());
            if roots.iter().any(|r| w.starts_with(r)) {
                Ok(w)
            } else {
                Err(JobError::Invalid(format!(
                    "{} is not inside a folder being scanned",
                    w.display()
                )))
            }
        })
        .collect()
}

pub fn run(ctx: &JobContext, r: &Reporter, params: &ScanParams) -> Result<String, JobError> {
    let started = Instant::now();
    let mut roots = roots(ctx, params)?;
    for root in &mut roots {
        if let Ok(c) = std::fs::canonicalize(&*root) {
            *root = c;
        }
    }
    // Books are named below `roots`; the walk covers `walked`.
    let walked = walk_roots(&roots, &params.within)?;
    if !params.within.is_empty() {
        r.info(format!(
            "only the changed folder(s): {}",
            walked
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
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
    // What the last scan left: folder listings and file stamps, read side
    // by side. The walk then compares each file it stats with its stamp on
    // the spot: unchanged files are only counted.
    // Kept listings hold no symlinks under the `inside` and `none`
    // policies (a folder with a link is read every time); listings kept
    // under another policy (or by a build before the policies) are not
    // trusted.
    let policy = listing_policy(ctx.config.follow_symlinks);
    let listings_hold =
        ctx.store.get_meta(LISTING_POLICY_META)?.as_deref() == Some(policy.as_bytes());
    let (known_dirs, stamps) = std::thread::scope(|scope| {
        let stamps = scope.spawn(|| load_stamps(&*ctx.store, &walked));
        let known_dirs = if listings_hold {
            load_known_dirs(&*ctx.store, &walked)
        } else {
            Ok(Default::default())
        };
        let stamps = stamps
            .join()
            .unwrap_or_else(|p| Err(JobError::Failed(crate::ops::queue::panic_message(&*p))));
        known_dirs.and_then(|k| Ok((k, stamps?)))
    })?;
    phases.mark("load");
    let unchanged = |path: &[u8], size: u64, mtime_ns: i64, hint: &mut usize| {
        match stamps.get_near(path, hint) {
            // A file that was missing is unchanged, yet returned: listed.
            Some((s, seen)) if s.size == size && s.mtime_ns == mtime_ns && !s.missing => {
                seen.store(true, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    };
    let options = walk::WalkOptions {
        threads: ctx.config.scan_threads,
        follow: ctx.config.follow_symlinks,
        now_ns: ctx.clock.now().unix_timestamp_nanos() as i64,
        is_audio: tags::is_audio_name,
        is_side: side::is_side_file,
    };
    let excludes = excludes_of(ctx, &walked)?;
    let outcome = walk(
        &walked,
        options,
        &known_dirs,
        &cancelled,
        &unchanged,
        &excludes,
    )
    .map_err(|e| JobError::Stopped {
        context: "the scan stopped",
        source: Box::new(e),
        hint: "; nothing was marked missing (try again, or lower scan_threads)",
    })?;
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
    for link in &outcome.not_followed {
        r.info(format!(
            "not followed: symlink {} (follow_symlinks = {})",
            link.display(),
            policy_name(ctx.config.follow_symlinks)
        ));
    }
    for e in outcome.excluded.iter().take(MAX_ISSUES_LOGGED) {
        r.info(match &e.by {
            walk::ExcludedBy::Marker(marker) => format!(
                "excluded: {} holds {marker}; skipped with everything below it",
                e.path.display()
            ),
            walk::ExcludedBy::Pattern(pattern) => format!(
                "excluded: {} matches the exclude pattern {pattern:?}; skipped",
                e.path.display()
            ),
        });
    }
    if outcome.excluded.len() > MAX_ISSUES_LOGGED {
        r.info(format!(
            "{} more excluded folders and files not listed",
            outcome.excluded.len() - MAX_ISSUES_LOGGED
        ));
    }
    // What lies in an excluded folder was not looked at: not vanished.
    let excluded: ao_core::fast_map::FastSet<&Path> =
        outcome.excluded.iter().map(|e| e.path.as_path()).collect();
    let by_marker = outcome
        .excluded
        .iter()
        .filter(|e| matches!(e.by, walk::ExcludedBy::Marker(_)))
        .count() as u64;
    let skipped = describe_skipped(outcome.skipped.clone());
    let mut counts = Counts {
        not_followed: outcome.not_followed_count,
        excluded_by_marker: by_marker,
        excluded_by_pattern: outcome.excluded.len() as u64 - by_marker,
        unchanged: outcome.unchanged,
        ..Counts::default()
    };
    let total = outcome.files.len() as u64 + outcome.unchanged;
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
    let mut to_read: Vec<ToRead> = Vec::new();
    let mut returned: Vec<String> = Vec::new();
    let mut changed: Vec<usize> = Vec::new();
    let mut hint = 0;
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
        if let Some((stamp, seen)) = stamps.get_near(p.as_bytes(), &mut hint) {
            seen.store(true, Ordering::Relaxed);
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
            .position(|root| {
                p.as_bytes()
                    .starts_with(root.as_os_str().as_encoded_bytes())
            })
            .unwrap_or_default();
        let path = p.to_string();
        to_read.push(ToRead {
            found: f,
            path,
            root,
            old: None,
        });
    }
    let paths: Vec<&str> = changed.iter().map(|&i| to_read[i].path.as_str()).collect();
    let old_records = get_records(&*ctx.store, &paths)?;
    for (&i, rec) in changed.iter().zip(old_records) {
        to_read[i].old = rec;
    }
    let paths: Vec<&str> = returned.iter().map(String::as_str).collect();
    let records = get_records(&*ctx.store, &paths)?;
    let returned: Vec<(String, FileRecord)> = returned
        .into_iter()
        .zip(records)
        .filter_map(|(p, r)| Some((p, r?)))
        .collect();
    if r.is_cancelled() {
        return Err(JobError::Canceled);
    }
    phases.mark("classify");
    r.add_work(total, to_read.iter().map(|t| t.found.size).sum());
    r.update_progress(
        counts.unchanged,
        total,
        format!("reading {} new or changed file(s)", to_read.len()),
    );
    let known_in_dirs = known_files_by_folder(&to_read, &stamps);
    let mut pending = Pending::new(ctx.store.clone(), known_in_dirs)?;
    // Listings go in with the first writes, while files are still read: a
    // listing committed before its files' records is harmless, since a
    // rescan still stats every file it names and reads those it does not
    // know.
    keep_listings(&mut pending, &known_dirs, outcome.listed);
    if !listings_hold {
        pending.other.push(Mutation::SetMeta {
            key: LISTING_POLICY_META.into(),
            value: policy.clone().into_bytes(),
        });
    }
    for (p, rec) in returned {
        restore_returned(&mut pending, r, &p, rec)?;
        counts.returned += 1;
    }
    let book_context = books::BookContext {
        side: &outcome.side,
        precedence: ctx.config.metadata_precedence.clone(),
    };
    read_and_build(
        ctx,
        r,
        &roots,
        to_read,
        &mut pending,
        &mut counts,
        &book_context,
    )?;
    ctx.metrics
        .scan_books_discovered
        .fetch_add(counts.new, Ordering::Relaxed);
    phases.mark("read+books");
    let gone: Vec<String> = stamps
        .iter()
        .filter(|(_, (stamp, seen))| !seen.load(Ordering::Relaxed) && !stamp.missing)
        .filter(|(p, _)| {
            excluded.is_empty() || !Path::new(*p).ancestors().any(|a| excluded.contains(a))
        })
        .map(|(p, _)| p.to_string())
        .collect();
    // Freeing what the last scan left (a string per file and folder) is
    // no part of the answer: a thread of its own does it.
    drop_later((stamps, known_dirs));
    mark_vanished(ctx, &mut pending, r, gone, &mut counts)?;
    phases.mark("vanished");
    pending.flush(true)?;
    phases.mark("commit");
    r.update_progress(total, total, "scan complete");
    if counts.new_books > 0 {
        ctx.notify.notify(
            r.operation_id(),
            crate::jobs::Notice::BooksAdded {
                new: counts.new_books,
                organize: params.organize_new,
            },
        );
    }
    let mut summary = format!(
        "scanned {} file(s) in {:.2}s: {} new book(s), {} part(s) added, {} unchanged, {} changed, {} duplicate(s), {} organized copies, {} unreadable, {} vanished, {} returned, {} symlink(s) not followed, {} folder(s) excluded by a marker, {} path(s) by a pattern",
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
        counts.returned,
        counts.not_followed,
        counts.excluded_by_marker,
        counts.excluded_by_pattern
    );
    if let Some(s) = skipped {
        summary.push_str("; skipped: ");
        summary.push_str(&s);
    }
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

/// `12 .jpg, 3 .nfo, 1 .wv`, most first, or `None` if nothing was
/// skipped.
fn describe_skipped(mut skipped: walk::Skipped) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    // Most first; files without an extension last among equals.
    skipped.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.is_empty().cmp(&b.0.is_empty()))
            .then_with(|| a.0.cmp(&b.0))
    });
    Some(
        skipped
            .iter()
            .map(|(ext, n)| {
                if ext.is_empty() {
                    format!("{n} without an extension")
                } else {
                    format!("{n} .{ext}")
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// Drops `value` on a short-lived thread of its own (inline if no thread
/// can be started).
fn drop_later<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("scan-free".into())
        .spawn(move || drop(value));
}

/// Paths known before this scan in each folder where a new file was found:
/// new parts may belong to their books. (Nothing to look at on a first
/// scan; a handful of folders on a rescan.)
fn known_files_by_folder(to_read: &[ToRead], stamps: &Stamps) -> FastMap<String, Vec<String>> {
    let mut out: FastMap<String, Vec<String>> = FastMap::default();
    if stamps.is_empty() {
        return out;
    }
    // By book folder: a disc folder's files belong to the folder above.
    for t in to_read.iter().filter(|t| t.old.is_none()) {
        out.entry(layout::book_dir(&t.path, "").to_string())
            .or_default();
    }
    if out.is_empty() {
        return out;
    }
    for path in stamps.keys() {
        if let Some(files) = out.get_mut(layout::book_dir(path, "")) {
            files.push(path.to_string());
        }
    }
    out.retain(|_, files| !files.is_empty());
    out
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

/// Known files under the scanned roots that the walk did not see.
fn mark_vanished(
    ctx: &JobContext,
    pending: &mut Pending,
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
            if pending.due() {
                pending.flush(false)?;
            }
        }
    }
    Ok(())
}
