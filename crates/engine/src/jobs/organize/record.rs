//! Recording placed books: a thread that makes each group of placed books
//! durable and names their staged files (one sync of the library's file
//! system serves the files of one group and the names of the one before),
//! and a thread that commits each group once its names are durable, while
//! the next group is placed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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

/// Groups handed over and not yet reported back: one being committed,
/// one whose names wait for the next sync, one being synced.
const IN_FLIGHT: usize = 3;

/// The threads that make groups durable and record them. Each sync of the
/// library's file system serves two groups: it makes the files of the group
/// just handed over durable and the names given to the group before it,
/// which then goes to the committing thread; so a group is recorded when
/// the next one arrives, or after `wait` when none does.
pub(super) struct Recorder {
    to: Option<std::sync::mpsc::SyncSender<Group>>,
    back: std::sync::mpsc::Receiver<Recorded>,
    in_flight: usize,
}

impl Recorder {
    pub(super) fn start<'s, 'e: 's>(
        scope: &'s std::thread::Scope<'s, 'e>,
        ctx: &'e JobContext,
        r: &'e Reporter,
        wait: Duration,
    ) -> Result<Self, JobError> {
        let (to, groups) = std::sync::mpsc::sync_channel::<Group>(1);
        let (done, back) = std::sync::mpsc::sync_channel::<Recorded>(IN_FLIGHT);
        let (commit, commits) = std::sync::mpsc::sync_channel::<Named>(1);
        let committed = done.clone();
        std::thread::Builder::new()
            .name("organize-commit".into())
            .spawn_scoped(scope, move || {
                for named in commits {
                    if committed.send(named.commit(ctx)).is_err() {
                        break;
                    }
                }
            })
            .map_err(JobError::io("cannot start organize's committing thread"))?;
        std::thread::Builder::new()
            .name("organize-record".into())
            .spawn_scoped(scope, move || {
                record_groups(ctx, r, wait, &groups, &commit, &done);
            })
            .map_err(JobError::io("cannot start organize's recording thread"))?;
        Ok(Self {
            to: Some(to),
            back,
            in_flight: 0,
        })
    }

    /// Hands `group` over once fewer than `IN_FLIGHT` groups are, taking
    /// what came back meanwhile (an error of an earlier group ends here).
    pub(super) fn hand_off(&mut self, group: Group, tally: &mut Tally) -> Result<(), JobError> {
        while self.in_flight >= IN_FLIGHT {
            self.wait_one(tally)?;
        }
        if group.books.is_empty() {
            return Ok(());
        }
        let to = self.to.as_ref().ok_or_else(Self::gone)?;
        to.send(group).map_err(|_| Self::gone())?;
        self.in_flight += 1;
        Ok(())
    }

    fn wait_one(&mut self, tally: &mut Tally) -> Result<(), JobError> {
        let (result, recorded) = self.back.recv().map_err(|_| Self::gone())?;
        self.in_flight -= 1;
        tally.add(recorded);
        result
    }

    /// Lets the thread record what it holds, waits for every group and
    /// ends the thread; the first error, if any.
    pub(super) fn finish(mut self, tally: &mut Tally) -> Result<(), JobError> {
        self.to = None;
        let mut first = Ok(());
        while self.in_flight > 0 {
            let result = self.wait_one(tally);
            if first.is_ok() {
                first = result;
            }
        }
        first
    }

    fn gone() -> JobError {
        JobError::Failed("organize: the recording thread stopped".into())
    }
}

/// The recording thread: each group handed over is synced (with the names
/// of the group before it, which then goes to `commit`) and given its
/// names; a group left waiting longer than `wait`, or when no more come,
/// is synced on its own. What fails here is reported on `done`.
fn record_groups(
    ctx: &JobContext,
    r: &Reporter,
    wait: Duration,
    groups: &std::sync::mpsc::Receiver<Group>,
    commit: &std::sync::mpsc::SyncSender<Named>,
    done: &std::sync::mpsc::SyncSender<Recorded>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut named: Option<Named> = None;
    loop {
        let (incoming, more) = if named.is_some() {
            match groups.recv_timeout(wait) {
                Ok(g) => (Some(g), true),
                Err(RecvTimeoutError::Timeout) => (None, true),
                Err(RecvTimeoutError::Disconnected) => (None, false),
            }
        } else {
            match groups.recv() {
                Ok(g) => (Some(g), true),
                Err(_) => return,
            }
        };
        // One sync for the names given before and the new group's files.
        let mut dirs: Vec<Arc<beneath::OpenDir>> = Vec::new();
        if let Some(n) = &named {
            dirs.extend(n.dirs.iter().cloned());
        }
        if let Some(g) = &incoming
            && g.staged()
        {
            dirs.extend(g.books.iter().map(|b| b.dir.clone()));
        }
        let synced = sync_all(&dirs);
        if let Some(mut n) = named.take() {
            let sent = match &synced {
                Ok(()) => {
                    // Durable now: its folders need not stay open.
                    n.dirs.clear();
                    commit.send(n).is_ok()
                }
                Err(e) => done.send((Err(sync_failed(e)), n.tally)).is_ok(),
            };
            if !sent {
                return;
            }
        }
        if let Some(group) = incoming {
            match &synced {
                Ok(()) => named = Some(group.publish(ctx, r)),
                Err(e) => {
                    // Dropped, its staged files are removed.
                    drop(group);
                    if done.send((Err(sync_failed(e)), Tally::default())).is_err() {
                        return;
                    }
                }
            }
        }
        if !more && named.is_none() {
            return;
        }
    }
}

fn sync_failed(e: &std::io::Error) -> JobError {
    JobError::io("cannot sync the library's file system")(std::io::Error::new(
        e.kind(),
        e.to_string(),
    ))
}

/// A group whose files have their names, waiting for the sync that makes
/// the names durable before its one commit.
struct Named {
    dirs: Vec<Arc<beneath::OpenDir>>,
    batch: Vec<Mutation>,
    tally: Tally,
}

impl Named {
    /// One durable commit of the group's books, whose files are all in
    /// place and durable.
    fn commit(self, ctx: &JobContext) -> Recorded {
        let result = if self.batch.is_empty() {
            Ok(())
        } else {
            ctx.store
                .apply(&self.batch, true)
                .map(|_| ())
                .map_err(JobError::from)
        };
        (result, self.tally)
    }
}

impl Group {
    /// Whether any of the group's files waits as a staged copy or clone.
    fn staged(&self) -> bool {
        self.books.iter().any(|b| {
            b.files
                .iter()
                .any(|f| matches!(f.how, Some(strategy::Placed::Staged(..))))
        })
    }

    /// Gives the group's staged copies and clones (made durable by the
    /// sync before) their names, and gathers the commit of the books whose
    /// files are all in place; their folders stay open until it is made.
    fn publish(mut self, ctx: &JobContext, r: &Reporter) -> Named {
        let mut tally = Tally::default();
        let dirs: Vec<Arc<beneath::OpenDir>> = self.books.iter().map(|b| b.dir.clone()).collect();
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
        Named { dirs, batch, tally }
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

/// Makes the new entries (and staged data) of the groups' folders durable:
/// one `syncfs` where there is one, else an fsync per folder.
fn sync_all(dirs: &[Arc<beneath::OpenDir>]) -> std::io::Result<()> {
    let Some(first) = dirs.first() else {
        return Ok(());
    };
    if first.sync_file_system().is_err() {
        for dir in dirs {
            dir.sync()?;
        }
    }
    Ok(())
}
