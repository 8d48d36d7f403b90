//! An organize's dry run: every book's target, the strategy it would use
//! and every conflict (an occupied target, two books aiming at one name, a
//! hard link across file systems), as the operation's log; nothing on disk
//! is made, moved or removed, the library root included.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::pattern::Pattern;
use super::targets;
use crate::config::Strategy;
use crate::jobs::JobContext;
use crate::ops::{JobError, Reporter};
use crate::store::{Book, BookStatus};

#[derive(Default)]
struct Counts {
    place: u64,
    moves: u64,
    in_place: u64,
    skipped: u64,
    conflicts: u64,
    failed: u64,
}

/// Where the plan stands while it goes through the books.
struct Planner<'a> {
    ctx: &'a JobContext,
    r: &'a Reporter,
    strategy: Strategy,
    root: &'a Path,
    folder: &'a Pattern,
    file: &'a Pattern,
    /// The file system the library is (or would be) on.
    library_dev: Option<u64>,
    /// Every target path planned so far, with the book aiming at it.
    taken: HashMap<PathBuf, String>,
    counts: Counts,
}

/// The nearest folder of `path` that exists: its file system.
fn device_of(path: &Path) -> Option<u64> {
    path.ancestors()
        .find_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.dev())
}

impl Planner<'_> {
    fn conflict(&mut self, book: &Book, what: String) {
        self.counts.conflicts += 1;
        self.r.warn(
            format!("conflict: \"{}\": {what}", book.title),
            Some(format!("book {}", book.id)),
        );
    }

    /// The strategy placing `src` would use, or why it cannot work.
    fn strategy_for(&self, src: &Path) -> Result<&'static str, String> {
        let same_fs = match (self.library_dev, std::fs::metadata(src)) {
            (Some(lib), Ok(m)) => m.dev() == lib,
            (_, Err(e)) => return Err(format!("cannot read the source {}: {e}", src.display())),
            (None, _) => false,
        };
        Ok(match self.strategy {
            Strategy::Auto if same_fs => "reflink, else hard link",
            Strategy::Auto => "copy (another file system)",
            Strategy::Hardlink | Strategy::Reflink if !same_fs => {
                return Err(format!(
                    "a {} cannot reach across file systems: {} is not on the library's",
                    self.strategy.as_str(),
                    src.display()
                ));
            }
            s => s.as_str(),
        })
    }

    fn plan(&mut self, book: &Book) {
        if book.status == BookStatus::Missing {
            self.counts.skipped += 1;
            self.r.info(format!(
                "plan: skip \"{}\": source files are missing",
                book.title
            ));
            return;
        }
        let (dir, paths) = match targets(
            self.root,
            self.folder,
            self.file,
            self.ctx.config.organize_preset,
            book,
        ) {
            Ok(t) => t,
            Err(e) => {
                self.counts.failed += 1;
                self.r.warn(
                    format!("plan: \"{}\" cannot be organized: {e}", book.title),
                    Some(format!("book {}", book.id)),
                );
                return;
            }
        };
        let organized = book.status == BookStatus::Organized;
        let in_place = organized
            && book
                .files
                .iter()
                .zip(&paths)
                .all(|(f, p)| f.organized_path.as_deref().map(Path::new) == Some(p.as_path()));
        let mut conflicts = Vec::new();
        for (f, target) in book.files.iter().zip(&paths) {
            if let Some(other) = self.taken.get(target) {
                conflicts.push(format!(
                    "{} is also the target of \"{other}\" (a name collision)",
                    target.display()
                ));
            } else {
                self.taken.insert(target.clone(), book.title.clone());
            }
            let ours = f.organized_path.as_deref().map(Path::new) == Some(target.as_path());
            if !ours && let Ok(m) = std::fs::symlink_metadata(target) {
                conflicts.push(if m.len() == f.size && m.is_file() {
                    format!(
                        "{} exists with this file's size: taken as placed if its hash is the book's, else refused",
                        target.display()
                    )
                } else {
                    format!(
                        "{} is occupied by another file (never overwritten: the book would fail)",
                        target.display()
                    )
                });
            }
        }
        let how = if in_place {
            Ok("in place")
        } else if organized {
            Ok("move")
        } else {
            match book.files.first() {
                Some(f) => self.strategy_for(Path::new(&f.path)),
                None => Ok("nothing to place"),
            }
        };
        let how = match how {
            Ok(h) => h,
            Err(e) => {
                conflicts.push(e);
                "refused"
            }
        };
        match how {
            "in place" => self.counts.in_place += 1,
            "move" => self.counts.moves += 1,
            _ => self.counts.place += 1,
        }
        if how == "move" {
            self.r.info(format!(
                "plan: move \"{}\" from {} to {} ({} file(s))",
                book.title,
                book.organized_dir.as_deref().unwrap_or("?"),
                dir.display(),
                paths.len()
            ));
        } else if how != "in place" {
            self.r.info(format!(
                "plan: \"{}\" -> {} ({how}, {} file(s))",
                book.title,
                dir.display(),
                paths.len()
            ));
        }
        for c in conflicts {
            self.conflict(book, c);
        }
    }
}

/// Plans the organize of every live book; logs each book's plan and each
/// conflict, and returns the summary.
pub(super) fn run(
    ctx: &JobContext,
    r: &Reporter,
    strategy: Strategy,
    (root, folder, file): (&Path, &Pattern, &Pattern),
) -> Result<String, JobError> {
    let total = ctx.store.count_books()?;
    r.info(format!(
        "planning an organize into {} with strategy {} ({total} book(s)); nothing is changed",
        root.display(),
        strategy.as_str()
    ));
    r.update_progress(0, total, "planning");
    let mut p = Planner {
        ctx,
        r,
        strategy,
        root,
        folder,
        file,
        library_dev: device_of(root),
        taken: HashMap::new(),
        counts: Counts::default(),
    };
    let mut after: Option<String> = None;
    let mut done = 0u64;
    loop {
        let page = ctx.store.list_books(after.as_deref(), super::PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for book in page.iter().filter(|b| !b.deleted) {
            if r.is_cancelled() {
                return Err(JobError::Canceled);
            }
            p.plan(book);
            done += 1;
            r.update_progress(
                done,
                total.max(done),
                format!("{done} of {total} book(s) planned"),
            );
        }
    }
    let c = &p.counts;
    let summary = format!(
        "organize plan (nothing changed): {} book(s) to place, {} to move, {} in place, {} skipped, {} cannot be organized, {} conflict(s)",
        c.place, c.moves, c.in_place, c.skipped, c.failed, c.conflicts
    );
    r.update_progress(done, done, "plan complete");
    r.info(summary.clone());
    Ok(summary)
}
