//! The organize operation: place every imported book in the library under
//! the configured patterns, page by page, recording the organized path and
//! verified hash only once the file is in place.

mod beneath;
mod plan;
pub mod preset;
mod record;
mod relocate;
mod retag;
pub mod strategy;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::ops::{JobError, Reporter};
use crate::store::{Book, BookStatus, Cover, CoverSource, now};

use super::{JobContext, OrganizeParams};
pub use crate::config::pattern;
use pattern::{Field, Pattern};
use record::{Group, PlacedBook, PlacedFile, Recorder, Tally};
use strategy::{PlaceError, Strategy, place, target_matches};

const PAGE: usize = 500;
/// Books, or time, between two progress updates.
const PROGRESS_EVERY: u64 = 50;
const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);
/// Placed books are recorded in groups: their folders are synced, then
/// the group is one durable commit (never one per book).
const COMMIT_BOOKS: usize = 500;
const COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Books in a group: each holds its folder open until the group is
/// recorded, and three groups can be open at once (one placed, one synced,
/// one named and waiting for its commit), so a sixth of the open-files
/// limit at most.
fn group_books() -> usize {
    let limit = ao_core::limits::open_files_limit() as usize;
    (limit / 6).clamp(4, COMMIT_BOOKS)
}

/// Folders above books' folders held open at once: a sixteenth of the
/// open-files limit, at most 64.
fn parents_held() -> usize {
    let limit = ao_core::limits::open_files_limit() as usize;
    (limit / 16).min(64)
}

#[derive(Debug, thiserror::Error)]
pub enum OrganizeError {
    #[error("target path {0} would leave the library root")]
    Escapes(String),
    #[error("the patterns produced no file name for \"{0}\"")]
    EmptyName(String),
    #[error(transparent)]
    Place(#[from] PlaceError),
    #[error("cannot create {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
}

/// The folders of `dir` below the library root.
fn below(root: &Path, dir: &Path) -> Result<Vec<String>, OrganizeError> {
    Ok(dir
        .strip_prefix(root)
        .map_err(|_| OrganizeError::Escapes(dir.display().to_string()))?
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect())
}

/// Joins pattern components under `root`, proving each is one plain name.
pub fn safe_join(root: &Path, components: &[String]) -> Result<PathBuf, OrganizeError> {
    let mut out = root.to_path_buf();
    for c in components {
        out.push(plain_name(c)?);
    }
    Ok(out)
}

/// `c` when it is one plain name (pushed onto a path, it stays below it).
fn plain_name(c: &str) -> Result<&str, OrganizeError> {
    if c.is_empty() || c == "." || c == ".." || c.contains(['/', '\0']) {
        return Err(OrganizeError::Escapes(c.to_string()));
    }
    Ok(c)
}

fn field_value(book: &Book, part: Option<usize>) -> impl Fn(Field) -> Option<String> + '_ {
    move |f| match f {
        Field::Author => Some(book.author.clone()),
        Field::Title => Some(book.title.clone()),
        Field::Series => book.series.clone(),
        Field::SeriesIndex => book.series_index.clone(),
        Field::Narrator => book.narrator.clone(),
        Field::Year | Field::PrintYear => book.year.map(|y| y.to_string()),
        Field::Album => book.album.clone(),
        Field::Part => part.map(|p| format!("{:02}", p + 1)),
    }
}

/// Where each part of `book` goes: (folder, file paths).
pub fn targets(
    root: &Path,
    folder: &Pattern,
    file: &Pattern,
    preset: crate::config::OrganizePreset,
    book: &Book,
) -> Result<(PathBuf, Vec<PathBuf>), OrganizeError> {
    place_of(root, folder, file, preset, book).map(|t| (t.dir, t.paths))
}

/// Where a book goes: its folder (and the folder's components below the
/// library root) and the path of each of its files.
struct Targets {
    components: Vec<String>,
    dir: PathBuf,
    paths: Vec<PathBuf>,
}

fn place_of(
    root: &Path,
    folder: &Pattern,
    file: &Pattern,
    preset: crate::config::OrganizePreset,
    book: &Book,
) -> Result<Targets, OrganizeError> {
    let components = preset::folder_components(preset, book)
        .unwrap_or_else(|| folder.expand(&field_value(book, None)));
    let dir = safe_join(root, &components)?;
    let multi = book.files.len() > 1;
    let mut paths = Vec::with_capacity(book.files.len());
    for (i, f) in book.files.iter().enumerate() {
        let mut name = file
            .expand(&field_value(book, multi.then_some(i)))
            .join(" - ");
        if name.is_empty() {
            return Err(OrganizeError::EmptyName(book.title.clone()));
        }
        if multi && !file.uses(Field::Part) {
            name.push_str(&format!(" - Part {:02}", i + 1));
        }
        let ext = Path::new(&f.path)
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        name.push('.');
        name.push_str(ext.as_deref().unwrap_or("audio"));
        paths.push(dir.join(plain_name(&name)?));
    }
    Ok(Targets {
        components,
        dir,
        paths,
    })
}

pub fn run(ctx: &JobContext, r: &Reporter, params: &OrganizeParams) -> Result<String, JobError> {
    let started = Instant::now();
    let strategy = params.strategy.unwrap_or(ctx.config.strategy);
    let folder =
        Pattern::parse(&ctx.config.folder_pattern).map_err(|e| JobError::Invalid(e.to_string()))?;
    let file = Pattern::parse(
        preset::file_pattern(ctx.config.organize_preset).unwrap_or(&ctx.config.file_pattern),
    )
    .map_err(|e| JobError::Invalid(e.to_string()))?;
    let root = &ctx.config.library;
    if params.dry_run {
        // Touches nothing: the root is planned as it is named, or as it
        // resolves when it exists already.
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        return plan::run(ctx, r, strategy, (&root, &folder, &file));
    }
    std::fs::create_dir_all(root).map_err(JobError::io(format!(
        "cannot create library root {}",
        root.display()
    )))?;
    let root = std::fs::canonicalize(root)
        .map_err(JobError::io(format!("cannot resolve {}", root.display())))?;
    let total = ctx.store.count_books()?;
    r.info(format!(
        "organizing into {} with strategy {} ({total} book(s) in the store)",
        root.display(),
        strategy.as_str()
    ));
    r.update_progress(0, total, "organizing");
    let mut tally = Tally::default();
    let run = strategy::Run::new();
    let root_dir = beneath::OpenDir::open_root(&root)
        .map_err(JobError::io(format!("cannot open {}", root.display())))?;
    // A group is made durable and recorded on a second thread while the
    // next one is placed: the syncs and the commit overlap the copying.
    let done = std::thread::scope(|scope| -> Result<u64, JobError> {
        let mut recorder = Recorder::start(scope, ctx, r, COMMIT_INTERVAL)?;
        let placed = place_all(
            ctx,
            r,
            strategy,
            &run,
            &Layout {
                root: &root,
                root_dir: &root_dir,
                parents: std::cell::RefCell::new(beneath::Parents::new(parents_held())),
                folder: &folder,
                file: &file,
            },
            total,
            &mut tally,
            &mut recorder,
        );
        // Whatever happened, what was placed is recorded.
        let recorded = recorder.finish(&mut tally);
        let done = placed?;
        recorded?;
        Ok(done)
    })?;
    let summary = format!(
        "organized {} book(s) ({} file(s)) in {:.2}s; {} moved to new paths, {} already organized, {} skipped, {} failed",
        tally.books,
        tally.files,
        started.elapsed().as_secs_f64(),
        tally.moved,
        tally.already,
        tally.skipped,
        tally.failed
    );
    r.update_progress(done, done, "organize complete");
    if tally.failed > 0 {
        r.warn(summary.clone(), None);
    } else {
        r.info(summary.clone());
    }
    Ok(summary)
}

/// Where books go: the library root and the path patterns.
struct Layout<'a> {
    root: &'a Path,
    /// The root, opened once for the run.
    root_dir: &'a beneath::OpenDir,
    /// Folders above books' folders, opened once for the run.
    parents: std::cell::RefCell<beneath::Parents>,
    folder: &'a Pattern,
    file: &'a Pattern,
}

/// Places every imported book, page by page, handing groups of placed
/// books to the recorder; returns how many books it went through.
#[allow(clippy::too_many_arguments)]
fn place_all(
    ctx: &JobContext,
    r: &Reporter,
    strategy: Strategy,
    run: &strategy::Run,
    layout: &Layout<'_>,
    total: u64,
    tally: &mut Tally,
    recorder: &mut Recorder,
) -> Result<u64, JobError> {
    let mut after: Option<String> = None;
    let mut done = 0u64;
    let mut group = Group::default();
    let group_books = group_books();
    let mut last_progress = Instant::now();
    loop {
        let page = ctx.store.list_books(after.as_deref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for mut book in page {
            if r.is_cancelled() {
                recorder.hand_off(std::mem::take(&mut group), tally)?;
                return Err(JobError::Canceled);
            }
            if book.deleted {
                continue;
            }
            done += 1;
            match book.status {
                BookStatus::Organized => {
                    match relocate::relocate(ctx, r, strategy, run, layout, &mut book) {
                        Ok(None) => tally.already += 1,
                        Ok(Some(moved)) => group.books.push(moved.into_placed(book)),
                        Err(e) => tally.fail(r, &book, e),
                    }
                }
                BookStatus::Missing => {
                    tally.skipped += 1;
                    r.warn(
                        format!("skipped \"{}\": source files are missing", book.title),
                        None,
                    );
                }
                BookStatus::Imported => {
                    match organize_book(ctx, r, strategy, run, layout, &mut book) {
                        Ok((files, dir)) => {
                            group.books.push(PlacedBook {
                                book,
                                dir,
                                files,
                                moved_from: Vec::new(),
                            });
                        }
                        Err(e) => tally.fail(r, &book, e),
                    }
                }
            }
            // The log writer keeps only the latest progress of a commit
            // anyway: a few updates a second are all a watcher sees.
            if done.is_multiple_of(PROGRESS_EVERY) || last_progress.elapsed() >= PROGRESS_INTERVAL {
                last_progress = Instant::now();
                r.update_progress(done, total.max(done), format!("{done} of {total} book(s)"));
            }
            // Record placed books every few books or second, so a crash
            // loses little bookkeeping (placed files are recognized anyway).
            if group.books.len() >= group_books || group.started.elapsed() >= COMMIT_INTERVAL {
                recorder.hand_off(std::mem::take(&mut group), tally)?;
            }
        }
    }
    recorder.hand_off(group, tally)?;
    Ok(done)
}

/// Places or stages every part of one book; returns its files and its
/// folder, to be synced and published before the book is recorded.
fn organize_book(
    ctx: &JobContext,
    r: &Reporter,
    strategy: Strategy,
    run: &strategy::Run,
    layout: &Layout<'_>,
    book: &mut Book,
) -> Result<(Vec<PlacedFile>, Arc<beneath::OpenDir>), OrganizeError> {
    let Layout {
        root, folder, file, ..
    } = *layout;
    let Targets {
        components,
        dir,
        paths,
    } = place_of(root, folder, file, ctx.config.organize_preset, book)?;
    // Every write below goes through this descriptor: no path inside the
    // library is resolved again, so no symlink in it is followed.
    let opened = layout
        .root_dir
        .open_book_folder(root, &components, &mut layout.parents.borrow_mut())
        .map_err(|source| OrganizeError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    let opened = Arc::new(opened);
    let through = opened.path();
    // A folder made just now holds no temp files of an interrupted run.
    let stale = if opened.created() {
        0
    } else {
        run.remove_stale_temps(&through)
    };
    if stale > 0 {
        r.info(format!(
            "removed {stale} unfinished temp file(s) in {}",
            dir.display()
        ));
    }
    let mut placed = Vec::with_capacity(paths.len());
    // What tags are written from (the book as it is now).
    let tagged_as = ctx.config.organize_write_tags.then(|| book.clone());
    for (f, dst) in book.files.iter_mut().zip(&paths) {
        let src = PathBuf::from(&f.path);
        let name = dst
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| OrganizeError::Escapes(dst.display().to_string()))?;
        // A folder made just now is empty.
        let taken = !opened.created()
            && opened.contains(name).map_err(|source| PlaceError::Io {
                strategy: strategy.as_str(),
                path: dst.clone(),
                source,
            })?;
        // The organized copy's hash: the source's, unless tags were written.
        let mut hash = f.hash.clone();
        let how = if taken {
            let at = opened.path_of(name);
            if !matches!(target_matches(&src, &at, &f.hash), Ok(true)) {
                // A tagged copy a stopped run published: its own hash.
                hash = retag::tagged_copy_hash(&src, &at, tagged_as.as_ref())
                    .ok_or_else(|| PlaceError::Occupied(dst.clone()))?;
            }
            None
        } else {
            let target = strategy::Target {
                dir: &opened,
                name,
                shown: dst,
            };
            let stamp = Some((f.size, f.mtime_ns));
            Some(place(strategy, &src, &target, &f.hash, stamp, run)?)
        };
        let mut how = how;
        if let (Some(book), Some(placed_how)) = (&tagged_as, how.as_mut())
            && let Some(tagged) = write_tags(r, run, book, placed_how, dst)
        {
            hash = tagged;
        }
        if let Some(how) = &how {
            r.add_work(1, f.size);
            r.info(placed_line(&f.path, dst, how.strategy()));
        }
        placed.push(PlacedFile::record(f, src, name, dst, hash, how));
    }
    if ctx.config.organize_side_files {
        write_side_files(book, &opened, &dir)?;
    }
    book.organized_dir = Some(dir.display().to_string());
    book.status = BookStatus::Organized;
    book.updated_at = now();
    Ok((placed, opened))
}

/// The log line of a placed file: `source -> target (strategy)`.
fn placed_line(src: &str, dst: &Path, strategy: Strategy) -> String {
    let dst = dst.to_string_lossy();
    let how = strategy.as_str();
    let mut line = String::with_capacity(src.len() + dst.len() + how.len() + 7);
    for part in [src, " -> ", &dst, " (", how, ")"] {
        line.push_str(part);
    }
    line
}

/// Writes the book's tags into a staged copy or clone: its new hash when
/// they were written. Links share the source's data: never tagged.
fn write_tags(
    r: &Reporter,
    run: &strategy::Run,
    book: &Book,
    how: &mut strategy::Placed,
    dst: &Path,
) -> Option<String> {
    use std::sync::atomic::Ordering;
    let strategy::Placed::Staged(_, staged) = how else {
        if !run.told_links_untagged.swap(true, Ordering::Relaxed) {
            r.info(
                "tags are written only into copies and clones: a hard link or symlink shares its source's data, which is never changed"
                    .to_string(),
            );
        }
        return None;
    };
    match retag::tag_copy(staged, run, book, &retag::ext_of(dst)) {
        Ok(hash) => Some(hash),
        Err(retag::NotTagged::Unsupported(ext)) => {
            r.info(format!(
                "tags not written into {}: .{ext} files are not tagged",
                dst.display()
            ));
            None
        }
        Err(retag::NotTagged::Failed(why)) => {
            r.warn(
                format!(
                    "tags not written into {} (the copy is kept untagged): {why}",
                    dst.display()
                ),
                None,
            );
            None
        }
    }
}

/// Writes the book's side files (metadata, description, narrator, cover
/// image) into its library folder.
fn write_side_files(
    book: &mut Book,
    opened: &beneath::OpenDir,
    dir: &Path,
) -> Result<(), OrganizeError> {
    let side_error = |name: &str, source| OrganizeError::CreateDir {
        path: dir.join(name).display().to_string(),
        source,
    };
    for (name, content) in preset::side_files(book) {
        write_side_file(opened, name, content.as_bytes()).map_err(|e| side_error(name, e))?;
    }
    // The cover as an image file players read (extracted from the tags
    // where the book came with none).
    if let Some(picture) = super::cover::load(book) {
        let name = format!("cover.{}", super::cover::extension(picture.mime));
        write_side_file(opened, &name, &picture.data).map_err(|e| side_error(&name, e))?;
        book.cover = Some(Cover {
            source: CoverSource::File,
            path: dir.join(&name).display().to_string(),
        });
    }
    Ok(())
}

/// Writes a side file through the opened folder: a temp file, synced,
/// then renamed over the old one (a side file is ours to replace).
fn write_side_file(dir: &beneath::OpenDir, name: &str, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.path_of(&format!(
        "{}{}.part",
        strategy::TEMP_PREFIX,
        ulid::Ulid::generate()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.path_of(name))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_join_rejects_anything_but_plain_names() {
        let root = Path::new("/lib");
        assert!(safe_join(root, &["a".into(), "b c".into()]).is_ok());
        for bad in ["..", "/etc", "a/b", "."] {
            assert!(safe_join(root, &[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
