//! The organize operation: place every imported book in the library under
//! the configured patterns, page by page, recording the organized path and
//! verified hash only once the file is in place.

mod beneath;
pub mod preset;
pub mod strategy;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::ops::{JobError, Reporter};
use crate::store::{Book, BookStatus, Cover, CoverSource, FileRecord, FileRole, Mutation, now};

use super::{JobContext, OrganizeParams};
pub use crate::config::pattern;
use pattern::{Field, Pattern};
use strategy::{PlaceError, Strategy, place, target_matches};

const PAGE: usize = 500;
/// Placed books are recorded in groups: their folders are synced, then
/// the group is one durable commit (never one per book).
const COMMIT_BOOKS: usize = 500;
const COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// How many staged copies and clones a run may hold open (each an unnamed
/// file until its group is published): what the open-files limit leaves
/// beside a group's folders and the server's own files.
fn staged_budget() -> usize {
    let limit = ao_core::limits::open_files_limit();
    (limit.saturating_sub(COMMIT_BOOKS as u64 + 256) as usize).min(8192)
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

/// Joins pattern components under `root`, proving each is one plain name.
pub fn safe_join(root: &Path, components: &[String]) -> Result<PathBuf, OrganizeError> {
    let mut out = root.to_path_buf();
    for c in components {
        let mut parts = Path::new(c).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(n)), None) if n == c.as_str() => out.push(c),
            _ => return Err(OrganizeError::Escapes(c.clone())),
        }
    }
    if !out.starts_with(root) {
        return Err(OrganizeError::Escapes(out.display().to_string()));
    }
    Ok(out)
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
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_else(|| "audio".into());
        paths.push(safe_join(&dir, &[format!("{name}.{ext}")])?);
    }
    Ok((dir, paths))
}

#[derive(Default)]
struct Tally {
    books: u64,
    files: u64,
    already: u64,
    skipped: u64,
    failed: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.books += other.books;
        self.files += other.files;
        self.already += other.already;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }

    fn fail(&mut self, r: &Reporter, book: &Book, e: OrganizeError) {
        self.failed += 1;
        r.error(
            format!("could not organize \"{}\": {e}", book.title),
            Some(format!("book {}", book.id)),
        );
    }
}

/// One file of a book organize has dealt with: placed, staged for
/// publishing, or found already in place (`how` is None).
struct PlacedFile {
    src: PathBuf,
    /// Its name in the book's folder.
    name: String,
    /// The library path users are shown.
    dst: PathBuf,
    hash: String,
    size: u64,
    how: Option<strategy::Placed>,
}

struct PlacedBook {
    book: Book,
    dir: Arc<beneath::OpenDir>,
    files: Vec<PlacedFile>,
}

/// Books placed since the last commit, with their folders open until the
/// group is durable. Copies and clones wait as verified temp files.
struct Group {
    dirs: Vec<Arc<beneath::OpenDir>>,
    books: Vec<PlacedBook>,
    started: Instant,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            dirs: Vec::new(),
            books: Vec::new(),
            started: Instant::now(),
        }
    }
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
    let run = strategy::Run::new(staged_budget());
    // A group is made durable and recorded on a second thread while the
    // next one is placed: the syncs and the commit overlap the copying.
    let done = std::thread::scope(|scope| -> Result<u64, JobError> {
        let mut recorder = Recorder::start(scope, ctx, r);
        let placed = place_all(
            ctx,
            r,
            strategy,
            &run,
            &Layout {
                root: &root,
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
        "organized {} book(s) ({} file(s)) in {:.2}s; {} already organized, {} skipped, {} failed",
        tally.books,
        tally.files,
        started.elapsed().as_secs_f64(),
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
                BookStatus::Organized => tally.already += 1,
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
                            group.dirs.push(dir.clone());
                            group.books.push(PlacedBook { book, dir, files });
                        }
                        Err(e) => tally.fail(r, &book, e),
                    }
                }
            }
            r.update_progress(done, total.max(done), format!("{done} of {total} book(s)"));
            // Record placed books every few books or second, so a crash
            // loses little bookkeeping (placed files are recognized anyway).
            if group.books.len() >= COMMIT_BOOKS
                || group.started.elapsed() >= COMMIT_INTERVAL
                || run.full()
            {
                recorder.hand_off(std::mem::take(&mut group), tally)?;
            }
        }
    }
    recorder.hand_off(group, tally)?;
    Ok(done)
}

/// What the recording thread reports back for a group.
type Recorded = (Result<(), JobError>, Tally);

/// The thread that makes groups durable and records them, one group at a
/// time: a group is handed over only once the one before is recorded.
struct Recorder {
    to: Option<std::sync::mpsc::SyncSender<Group>>,
    back: std::sync::mpsc::Receiver<Recorded>,
    in_flight: bool,
}

impl Recorder {
    fn start<'s, 'e: 's>(
        scope: &'s std::thread::Scope<'s, 'e>,
        ctx: &'e JobContext,
        r: &'e Reporter,
    ) -> Self {
        let (to, groups) = std::sync::mpsc::sync_channel::<Group>(1);
        let (done, back) = std::sync::mpsc::sync_channel::<Recorded>(1);
        scope.spawn(move || {
            for mut group in groups {
                let mut tally = Tally::default();
                let result = group.record(ctx, r, &mut tally);
                if done.send((result, tally)).is_err() {
                    break;
                }
            }
        });
        Self {
            to: Some(to),
            back,
            in_flight: false,
        }
    }

    /// Waits for the group in flight, then hands `group` over.
    fn hand_off(&mut self, group: Group, tally: &mut Tally) -> Result<(), JobError> {
        self.wait(tally)?;
        if group.books.is_empty() && group.dirs.is_empty() {
            return Ok(());
        }
        let to = self.to.as_ref().ok_or_else(Self::gone)?;
        to.send(group).map_err(|_| Self::gone())?;
        self.in_flight = true;
        Ok(())
    }

    fn wait(&mut self, tally: &mut Tally) -> Result<(), JobError> {
        if !std::mem::take(&mut self.in_flight) {
            return Ok(());
        }
        let (result, recorded) = self.back.recv().map_err(|_| Self::gone())?;
        tally.add(recorded);
        result
    }

    /// Waits for the last group and ends the thread.
    fn finish(mut self, tally: &mut Tally) -> Result<(), JobError> {
        let result = self.wait(tally);
        self.to = None;
        result
    }

    fn gone() -> JobError {
        JobError::Failed("organize: the recording thread stopped".into())
    }
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
    let Layout { root, folder, file } = *layout;
    let (dir, paths) = targets(root, folder, file, ctx.config.organize_preset, book)?;
    let components: Vec<String> = dir
        .strip_prefix(root)
        .map_err(|_| OrganizeError::Escapes(dir.display().to_string()))?
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    // Every write below goes through this descriptor: no path inside the
    // library is resolved again, so no symlink in it is followed.
    let opened =
        beneath::open_beneath(root, &components).map_err(|source| OrganizeError::CreateDir {
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
        let how = if taken {
            match target_matches(&src, &opened.path_of(name), &f.hash) {
                Ok(true) => None,
                _ => return Err(PlaceError::Occupied(dst.clone()).into()),
            }
        } else {
            let target = strategy::Target {
                dir: &opened,
                name,
                shown: dst,
            };
            let stamp = Some((f.size, f.mtime_ns));
            Some(place(strategy, &src, &target, &f.hash, stamp, run)?)
        };
        if let Some(how) = &how {
            r.add_work(1, f.size);
            r.info(format!(
                "{} -> {} ({})",
                f.path,
                dst.display(),
                how.strategy().as_str()
            ));
        }
        placed.push(PlacedFile {
            src,
            name: name.to_string(),
            dst: dst.clone(),
            hash: f.hash.clone(),
            size: f.size,
            how,
        });
        f.organized_path = Some(dst.display().to_string());
        f.organized_hash = Some(f.hash.clone());
    }
    if ctx.config.organize_side_files {
        let side_error = |name: &str, source| OrganizeError::CreateDir {
            path: dir.join(name).display().to_string(),
            source,
        };
        for (name, content) in preset::side_files(book) {
            write_side_file(&opened, name, content.as_bytes()).map_err(|e| side_error(name, e))?;
        }
        // The cover as an image file players read (extracted from the
        // tags where the book came with none).
        if let Some(picture) = super::cover::load(book) {
            let name = format!("cover.{}", super::cover::extension(picture.mime));
            write_side_file(&opened, &name, &picture.data).map_err(|e| side_error(&name, e))?;
            book.cover = Some(Cover {
                source: CoverSource::File,
                path: dir.join(&name).display().to_string(),
            });
        }
    }
    book.organized_dir = Some(dir.display().to_string());
    book.status = BookStatus::Organized;
    book.updated_at = now();
    Ok((placed, opened))
}

impl Group {
    /// Records the group: the staged copies and clones made durable (one
    /// `syncfs` of the library's file system on Linux, as `sync` after
    /// `cp` does, else an fsync per folder) and then published under their
    /// names, the new entries made durable the same way, then one durable
    /// commit of the books whose files are all in place.
    fn record(
        &mut self,
        ctx: &JobContext,
        r: &Reporter,
        tally: &mut Tally,
    ) -> Result<(), JobError> {
        let staged = self.books.iter().any(|b| {
            b.files
                .iter()
                .any(|f| matches!(f.how, Some(strategy::Placed::Staged(..))))
        });
        if staged {
            sync_all(&self.dirs)?;
        }
        let mut batch = Vec::new();
        for PlacedBook {
            book,
            dir,
            mut files,
        } in self.books.drain(..)
        {
            if let Err(e) = publish_all(&dir, &mut files) {
                tally.fail(r, &book, e);
                continue;
            }
            tally.books += 1;
            for f in &files {
                if let Some(how) = &f.how {
                    let used = how.strategy();
                    ctx.metrics
                        .organize_files_processed
                        .fetch_add(1, Ordering::Relaxed);
                    ctx.metrics.organize_strategy.inc(used.as_str());
                    tally.files += 1;
                }
                batch.push(Mutation::PutFile {
                    path: f.dst.display().to_string(),
                    record: FileRecord {
                        book_id: book.id.clone(),
                        size: f.size,
                        mtime_ns: dir.stamp(&f.name).map(|s| s.mtime_ns).unwrap_or(0),
                        hash: f.hash.clone(),
                        role: FileRole::Organized,
                        missing: false,
                    },
                });
            }
            batch.push(Mutation::PutBook(book));
        }
        sync_all(&self.dirs)?;
        self.dirs.clear();
        self.started = Instant::now();
        if !batch.is_empty() {
            ctx.store.apply(&batch, true)?;
        }
        Ok(())
    }
}

/// Publishes a book's staged files; a target taken meanwhile (by another
/// book of the same group) is fine when it holds the same content.
fn publish_all(dir: &beneath::OpenDir, files: &mut [PlacedFile]) -> Result<(), OrganizeError> {
    for f in files {
        let Some(strategy::Placed::Staged(used, staged)) = &mut f.how else {
            continue;
        };
        match staged.publish() {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if !target_matches(&f.src, &dir.path_of(&f.name), &f.hash).unwrap_or(false) {
                    return Err(PlaceError::Occupied(f.dst.clone()).into());
                }
                f.how = None;
            }
            Err(source) => {
                return Err(PlaceError::Io {
                    strategy: used.as_str(),
                    path: f.dst.clone(),
                    source,
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Makes the new entries (and staged data) of the group's folders durable:
/// one `syncfs` where there is one, else an fsync per folder.
fn sync_all(dirs: &[Arc<beneath::OpenDir>]) -> Result<(), JobError> {
    let Some(first) = dirs.first() else {
        return Ok(());
    };
    if first.sync_file_system().is_err() {
        for dir in dirs {
            dir.sync()
                .map_err(JobError::io("cannot sync a library folder"))?;
        }
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
