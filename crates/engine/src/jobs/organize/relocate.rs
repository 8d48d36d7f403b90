//! Organizing a book that is already in the library: when its metadata
//! (edited, say) gives other paths, its files move there by rename within
//! the library, and the old folder goes once nothing else is in it.
//!
//! Crash safety is the first placement's: the book's record changes only
//! after the group is synced, and a run that finds a file already at its
//! new name with the book's content takes it as placed. A file missing
//! from both places is placed again from its source.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::record::{PlacedBook, PlacedFile};
use super::strategy::{self, PlaceError, Strategy, place, target_matches};
use super::{Layout, OrganizeError, below, beneath, preset, targets, write_side_files};
use crate::jobs::JobContext;
use crate::ops::Reporter;
use crate::store::{Book, now};

/// A book's files after a move, ready to record.
pub(super) struct Moved {
    pub(super) files: Vec<PlacedFile>,
    pub(super) dir: Arc<beneath::OpenDir>,
    /// The library paths they moved from.
    pub(super) from: Vec<String>,
}

impl Moved {
    pub(super) fn into_placed(self, book: Book) -> PlacedBook {
        PlacedBook {
            book,
            dir: self.dir,
            files: self.files,
            moved_from: self.from,
        }
    }
}

/// Where the book's files are now, if its metadata puts them elsewhere:
/// moved (or placed again) and ready to record; `None` when every file is
/// where its metadata says.
pub(super) fn relocate(
    ctx: &JobContext,
    r: &Reporter,
    strategy: Strategy,
    run: &strategy::Run,
    layout: &Layout<'_>,
    book: &mut Book,
) -> Result<Option<Moved>, OrganizeError> {
    let root = layout.root;
    let (dir, paths) = targets(
        root,
        layout.folder,
        layout.file,
        ctx.config.organize_preset,
        book,
    )?;
    let in_place = book
        .files
        .iter()
        .zip(&paths)
        .all(|(f, p)| f.organized_path.as_deref().map(Path::new) == Some(p.as_path()));
    if in_place {
        return Ok(None);
    }
    move_book(ctx, r, strategy, run, layout, book, &dir, &paths).map(Some)
}

#[allow(clippy::too_many_arguments)]
fn move_book(
    ctx: &JobContext,
    r: &Reporter,
    strategy: Strategy,
    run: &strategy::Run,
    layout: &Layout<'_>,
    book: &mut Book,
    dir: &Path,
    paths: &[PathBuf],
) -> Result<Moved, OrganizeError> {
    let root = layout.root;
    let opened = Arc::new(
        layout
            .root_dir
            .open_below(root, &below(root, dir)?)
            .map_err(|source| OrganizeError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?,
    );
    if !opened.created() {
        run.remove_stale_temps(&opened.path());
    }
    let io = |path: &Path, source| PlaceError::Io {
        strategy: "move",
        path: path.to_path_buf(),
        source,
    };
    let mut placed = Vec::with_capacity(paths.len());
    let mut moved_from = Vec::new();
    let mut old_dirs: Vec<PathBuf> = Vec::new();
    let tagged_as = ctx.config.organize_write_tags.then(|| book.clone());
    for (f, dst) in book.files.iter_mut().zip(paths) {
        let src = PathBuf::from(&f.path);
        let name = file_name(dst)?;
        let old = f.organized_path.as_deref().map(PathBuf::from);
        let mut how = None;
        // The organized file's hash after the move (tags rewritten, or
        // placed again from the source).
        let mut hash: Option<String> = None;
        if old.as_deref() != Some(dst.as_path()) {
            if opened.contains(name).map_err(|e| io(dst, e))? {
                // Moved by a run that stopped before recording it, or
                // something else: only the book's own content will do.
                let at = opened.path_of(name);
                let expected = f.organized_hash.as_deref().unwrap_or(&f.hash);
                if !target_matches(&src, &at, expected).unwrap_or(false) {
                    // Moved and retagged by a run that stopped: its tags
                    // are the edited book's.
                    let h = super::retag::tagged_copy_hash(&src, &at, tagged_as.as_ref())
                        .ok_or_else(|| PlaceError::Occupied(dst.clone()))?;
                    hash = Some(h);
                }
            } else if let Some(old) = old.as_deref()
                && let Some((old_dir, old_name)) = open_old(layout, old)
                && old_dir.contains(&old_name).unwrap_or(false)
            {
                old_dir
                    .move_no_replace(&old_name, &opened, name)
                    .map_err(|e| io(dst, e))?;
                // A copy of ours (not the source's data under a link)
                // gets the edited book's tags.
                if let Some(tagged_as) = &tagged_as
                    && own_copy(&src, &opened.path_of(name))
                {
                    let ext = super::retag::ext_of(dst);
                    match super::retag::retag_in_place(&opened, name, run, tagged_as, &ext) {
                        Ok(h) => hash = Some(h),
                        Err(super::retag::NotTagged::Unsupported(_)) => {}
                        Err(super::retag::NotTagged::Failed(why)) => r.warn(
                            format!("tags not rewritten in {}: {why}", dst.display()),
                            None,
                        ),
                    }
                }
            } else {
                // Gone from the library: placed again from the source.
                let target = strategy::Target {
                    dir: &opened,
                    name,
                    shown: dst,
                };
                how = Some(place(
                    strategy,
                    &src,
                    &target,
                    &f.hash,
                    Some((f.size, f.mtime_ns)),
                    run,
                )?);
            }
            if let Some(old) = old {
                if let Some(parent) = old.parent().filter(|p| *p != dir)
                    && !old_dirs.iter().any(|d| d == parent)
                {
                    old_dirs.push(parent.to_path_buf());
                }
                moved_from.push(old.display().to_string());
            }
        }
        if how.is_some() {
            hash = Some(f.hash.clone());
        }
        let hash = hash
            .or_else(|| f.organized_hash.clone())
            .unwrap_or_else(|| f.hash.clone());
        placed.push(PlacedFile::record(f, src, name, dst, hash, how));
    }
    if ctx.config.organize_side_files {
        write_side_files(book, &opened, dir)?;
    }
    let from = book.organized_dir.clone().unwrap_or_default();
    for old in &old_dirs {
        remove_if_left_empty(layout, old);
    }
    book.organized_dir = Some(dir.display().to_string());
    book.updated_at = now();
    r.info(format!(
        "moved \"{}\" from {from} to {} ({} file(s))",
        book.title,
        dir.display(),
        moved_from.len()
    ));
    Ok(Moved {
        files: placed,
        dir: opened,
        from: moved_from,
    })
}

/// Whether the organized file is a copy of its own, not the source's data
/// under a hard link (or a symlink to it): only a copy is ever written.
fn own_copy(src: &Path, organized: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(src), std::fs::symlink_metadata(organized)) {
        (Ok(s), Ok(o)) => o.file_type().is_file() && (s.dev(), s.ino()) != (o.dev(), o.ino()),
        // Without the source there is nothing to share data with.
        (Err(_), Ok(o)) => o.file_type().is_file() && o.nlink() == 1,
        _ => false,
    }
}

fn file_name(path: &Path) -> Result<&str, OrganizeError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| OrganizeError::Escapes(path.display().to_string()))
}

/// The folder of an organized file (opened without following links) and
/// its name there; none when it is not inside the library any more.
fn open_old(layout: &Layout<'_>, old: &Path) -> Option<(beneath::OpenDir, String)> {
    let parent = old.parent()?;
    let components = below(layout.root, parent).ok()?;
    let dir = layout
        .root_dir
        .open_existing(layout.root, &components)
        .ok()?;
    Some((dir, old.file_name()?.to_str()?.to_string()))
}

/// Removes a library folder a book moved out of when nothing is left in
/// it but what organize writes there (side files, unfinished temp files),
/// then each parent up to the root that is left empty.
fn remove_if_left_empty(layout: &Layout<'_>, dir: &Path) {
    let Ok(components) = below(layout.root, dir) else {
        return;
    };
    let Ok(opened) = layout.root_dir.open_existing(layout.root, &components) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(opened.path()) else {
        return;
    };
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !names.iter().all(|n| preset::is_side_file(n)) {
        return;
    }
    for n in &names {
        let _ = opened.remove(n);
    }
    drop(opened);
    for depth in (1..=components.len()).rev() {
        let (parents, name) = components[..depth].split_at(depth - 1);
        let Ok(parent) = layout.root_dir.open_existing(layout.root, parents) else {
            return;
        };
        if parent.remove_empty_dir(&name[0]).is_err() {
            return;
        }
        // A folder held open for the books after this one may be gone.
        layout.parents.borrow_mut().clear();
    }
}
