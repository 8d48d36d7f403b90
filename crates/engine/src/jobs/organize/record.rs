//! Recording placed books: a thread that makes each group of placed books
//! durable (one sync of the library's file system), names their staged
//! files, syncs again and commits the group, while the next group is
//! placed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::OrganizeError;
use super::beneath;
use super::strategy::{self, PlaceError, target_matches};
use crate::jobs::JobContext;
use crate::ops::{JobError, Reporter};
use crate::store::{Book, FileRecord, FileRole, Mutation};

#[derive(Default)]
pub(super) struct Tally {
    pub(super) books: u64,
    pub(super) files: u64,
    pub(super) already: u64,
    /// Books already organized whose files moved to new paths.
    pub(super) moved: u64,
    pub(super) skipped: u64,
    pub(super) failed: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.books += other.books;
        self.files += other.files;
        self.already += other.already;
        self.moved += other.moved;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }

    pub(super) fn fail(&mut self, r: &Reporter, book: &Book, e: OrganizeError) {
        self.failed += 1;
        r.error(
            format!("could not organize \"{}\": {e}", book.title),
            Some(format!("book {}", book.id)),
        );
    }
}

/// One file of a book organize has dealt with: placed, staged for
/// publishing, or found already in place (`how` is None).
pub(super) struct PlacedFile {
    pub(super) src: PathBuf,
    /// Its name in the book's folder.
    pub(super) name: String,
    /// The library path users are shown.
    pub(super) dst: PathBuf,
    pub(super) hash: String,
    pub(super) size: u64,
    pub(super) how: Option<strategy::Placed>,
}

impl PlacedFile {
    /// The file `f` of a book placed (or found) at `dst` with content
    /// `hash`; `f` now says so.
    pub(super) fn record(
        f: &mut crate::store::BookFile,
        src: PathBuf,
        name: &str,
        dst: &std::path::Path,
        hash: String,
        how: Option<strategy::Placed>,
    ) -> Self {
        f.organized_path = Some(dst.display().to_string());
        f.organized_hash = Some(hash.clone());
        PlacedFile {
            src,
            name: name.to_string(),
            dst: dst.to_path_buf(),
            hash,
            size: f.size,
            how,
        }
    }
}

pub(super) struct PlacedBook {
    pub(super) book: Book,
    pub(super) dir: Arc<beneath::OpenDir>,
    pub(super) files: Vec<PlacedFile>,
    /// Library paths the book's files moved from (a re-organize).
    pub(super) moved_from: Vec<String>,
}

/// Books placed since the last commit, each with its folder open until the
/// group is durable. Copies and clones wait as verified temp files.
pub(super) struct Group {
    pub(super) books: Vec<PlacedBook>,
    pub(super) started: Instant,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            books: Vec::new(),
            started: Instant::now(),
        }
    }
}

/// What the recording thread reports back for a group.
type Recorded = (Result<(), JobError>, Tally);

/// The thread that makes groups durable and records them, one group at a
/// time: a group is handed over only once the one before is recorded.
pub(super) struct Recorder {
    to: Option<std::sync::mpsc::SyncSender<Group>>,
    back: std::sync::mpsc::Receiver<Recorded>,
    in_flight: bool,
}

impl Recorder {
    pub(super) fn start<'s, 'e: 's>(
        scope: &'s std::thread::Scope<'s, 'e>,
        ctx: &'e JobContext,
        r: &'e Reporter,
    ) -> Result<Self, JobError> {
        let (to, groups) = std::sync::mpsc::sync_channel::<Group>(1);
        let (done, back) = std::sync::mpsc::sync_channel::<Recorded>(1);
        std::thread::Builder::new()
            .name("organize-record".into())
            .spawn_scoped(scope, move || {
                for mut group in groups {
                    let mut tally = Tally::default();
                    let result = group.record(ctx, r, &mut tally);
                    if done.send((result, tally)).is_err() {
                        break;
                    }
                }
            })
            .map_err(JobError::io("cannot start organize's recording thread"))?;
        Ok(Self {
            to: Some(to),
            back,
            in_flight: false,
        })
    }

    /// Waits for the group in flight, then hands `group` over.
    pub(super) fn hand_off(&mut self, group: Group, tally: &mut Tally) -> Result<(), JobError> {
        self.wait(tally)?;
        if group.books.is_empty() {
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
    pub(super) fn finish(mut self, tally: &mut Tally) -> Result<(), JobError> {
        let result = self.wait(tally);
        self.to = None;
        result
    }

    fn gone() -> JobError {
        JobError::Failed("organize: the recording thread stopped".into())
    }
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
        // Kept open through both syncs, also for books that fail to publish.
        let dirs: Vec<Arc<beneath::OpenDir>> = self.books.iter().map(|b| b.dir.clone()).collect();
        let staged = self.books.iter().any(|b| {
            b.files
                .iter()
                .any(|f| matches!(f.how, Some(strategy::Placed::Staged(..))))
        });
        if staged {
            sync_all(&dirs)?;
        }
        let mut batch = Vec::new();
        for PlacedBook {
            book,
            dir,
            mut files,
            moved_from,
        } in self.books.drain(..)
        {
            if let Err(e) = publish_all(&dir, &mut files) {
                tally.fail(r, &book, e);
                continue;
            }
            if moved_from.is_empty() {
                tally.books += 1;
            } else {
                tally.moved += 1;
            }
            batch.extend(moved_from.into_iter().map(Mutation::DeleteFile));
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
        sync_all(&dirs)?;
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
