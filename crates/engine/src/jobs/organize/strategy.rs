//! Placing one file in the library: reflink, hardlink, copy or symlink.
//!
//! Every attempt either leaves the complete, verified target in place (a
//! link) or staged beside it (a copy or clone, named by the caller once
//! its group is durable), or leaves nothing behind. An existing target is
//! never replaced.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use thiserror::Error;

use crate::hash::{
    WHOLE_FILE_LIMIT, compute_file_hash, compute_open_file_hash, sha256_reader, to_hex,
};

pub use crate::config::Strategy;

use super::beneath::OpenDir;

#[derive(Debug, Error)]
pub enum PlaceError {
    #[error("{0} already exists with different content; not overwritten")]
    Occupied(PathBuf),
    #[error(
        "{path} changed since it was scanned (hash {found}, expected {expected}); rescan first"
    )]
    SourceChanged {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("copy of {0} did not verify; removed")]
    VerifyFailed(PathBuf),
    #[error("{strategy} failed for {path}: {source}")]
    Io {
        strategy: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Prefix of temp files in the library; never counted as books (the
/// extension is not audio) and, if a crash left them, removed by the next
/// organize of their folder.
pub const TEMP_PREFIX: &str = ".ao-tmp-";

fn io_err<'a>(strategy: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PlaceError + 'a {
    move |source| PlaceError::Io {
        strategy,
        path: path.to_path_buf(),
        source,
    }
}

/// A complete, verified copy or clone waiting in a temp file beside its
/// target (`.ao-tmp-<run>-<n>.part`): the caller makes a group of them
/// durable with one sync, then publishes each (never one fsync per
/// file). Dropped unpublished, the temp file is removed; one a crash
/// left behind is removed by the next organize of its folder.
#[derive(Debug)]
pub struct Staged {
    dir: Arc<OpenDir>,
    name: String,
    tmp: Option<String>,
}

impl Staged {
    /// Gives the file its name in the folder, only if nothing has it yet
    /// (`AlreadyExists` otherwise). The folder is not synced here.
    pub fn publish(&mut self) -> io::Result<()> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        let result = self.dir.rename_no_replace(&tmp, &self.name);
        if result.is_err() {
            let _ = self.dir.remove(&tmp);
        }
        result
    }
}

impl Staged {
    /// Replaces the staged file with one `rewrite` makes from it (both
    /// opened through the folder, the new one a temp file of this run);
    /// when `rewrite` fails, the staged file stays as it was.
    pub fn rewrite<T>(
        &mut self,
        run: &Run,
        rewrite: impl FnOnce(&mut File, &mut File) -> io::Result<T>,
    ) -> io::Result<T> {
        let Some(old_name) = self.tmp.clone() else {
            return Err(io::Error::other("the file is already published"));
        };
        let mut old = self.dir.open_read(&old_name)?;
        let new_name = run.temp_name();
        let mut new = self.dir.create_new(&new_name)?;
        match rewrite(&mut old, &mut new) {
            Ok(v) => {
                let _ = self.dir.remove(&old_name);
                self.tmp = Some(new_name);
                Ok(v)
            }
            Err(e) => {
                let _ = self.dir.remove(&new_name);
                Err(e)
            }
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = self.dir.remove(&tmp);
        }
    }
}

/// What an occupied target holds, compared with what we would put there.
pub fn target_matches(src: &Path, dst: &Path, expected_hash: &str) -> io::Result<bool> {
    let meta = dst.symlink_metadata()?;
    if meta.file_type().is_symlink() {
        return Ok(std::fs::read_link(dst)? == src);
    }
    Ok(compute_file_hash(dst)? == expected_hash)
}

#[cfg(target_os = "linux")]
fn reflink_into(src: &File, dst: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: FICLONE takes the source descriptor as its int argument; both
    // descriptors are open files owned by the caller for the whole call.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn reflink_into(_: &File, _: &File) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "reflink is only supported on Linux",
    ))
}

/// Errors that say the file system (or the pair of them) cannot clone.
fn cannot_clone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::EXDEV) | Some(libc::EINVAL) | Some(libc::ENOTTY)
    )
}

/// One organize run: the tag its temp files carry (so a folder's sweep
/// of temp files an interrupted run left spares this run's) and what it
/// has learned about the library's file system.
#[derive(Debug)]
pub struct Run {
    tag: String,
    temps: AtomicU64,
    no_reflink: AtomicBool,
    /// Said once per run: tags are not written into links.
    pub(super) told_links_untagged: AtomicBool,
}

impl Run {
    pub fn new() -> Self {
        Self {
            tag: ulid::Ulid::generate().to_string(),
            temps: AtomicU64::new(0),
            no_reflink: AtomicBool::new(false),
            told_links_untagged: AtomicBool::new(false),
        }
    }

    /// Removes temp files other runs (interrupted ones) left in `dir`.
    pub fn remove_stale_temps(&self, dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let ours = format!("{TEMP_PREFIX}{}-", self.tag);
        let mut removed = 0;
        for e in entries.flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TEMP_PREFIX) && !n.starts_with(&ours))
                && std::fs::remove_file(e.path()).is_ok()
            {
                removed += 1;
            }
        }
        removed
    }

    /// A new temp file's name for this run.
    pub(super) fn temp_name(&self) -> String {
        let n = self.temps.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{TEMP_PREFIX}{}-{n}.part", self.tag)
    }
}

impl Default for Run {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes a staged file beside `name` with `fill`, then checks it through
/// the same descriptor: `check` gets the file, its size and what `fill`
/// returned. Either returns the staged file or leaves nothing behind.
fn stage<T>(
    target: &Target<'_>,
    strategy: &'static str,
    run: &Run,
    fill: impl FnOnce(&mut File) -> Result<T, PlaceError>,
    check: impl FnOnce(&mut File, u64, T) -> Result<(), PlaceError>,
) -> Result<Staged, PlaceError> {
    let tmp = run.temp_name();
    let mut file = target
        .dir
        .create_new(&tmp)
        .map_err(io_err(strategy, target.shown))?;
    let staged = Staged {
        dir: target.dir.clone(),
        name: target.name.to_string(),
        tmp: Some(tmp),
    };
    let filled = fill(&mut file)?;
    let size = file
        .metadata()
        .map_err(io_err(strategy, target.shown))?
        .len();
    check(&mut file, size, filled)?;
    Ok(staged)
}

/// The staged file's ComputeFileHash must be the scan's: the placed file
/// has the content the book was scanned with.
fn expect_hash<'a>(
    src: &'a Path,
    target: &'a Target<'a>,
    strategy: &'static str,
    expected: &'a str,
) -> impl FnOnce(&mut File, u64, ()) -> Result<(), PlaceError> + 'a {
    move |file, size, ()| {
        let found = compute_open_file_hash(file, size).map_err(io_err(strategy, target.shown))?;
        if found == expected {
            Ok(())
        } else {
            Err(PlaceError::SourceChanged {
                path: src.to_path_buf(),
                expected: expected.into(),
                found,
            })
        }
    }
}

/// Clones `src` into a staged file (FICLONE: shared extents, no data
/// written). A clone is the source's content at that instant: when the
/// source, looked at after cloning, still has the size and mtime the scan
/// saw (`stamp`) and the clone its size, it has the scanned content, as a
/// hard link would; otherwise the clone's hash is checked.
fn stage_reflink(
    src: &Path,
    target: &Target<'_>,
    expected: &str,
    stamp: Option<(u64, i64)>,
    run: &Run,
) -> Result<Staged, PlaceError> {
    let s = File::open(src).map_err(io_err("reflink", src))?;
    stage(
        target,
        "reflink",
        run,
        |d| reflink_into(&s, d).map_err(io_err("reflink", target.shown)),
        |d, size, ()| {
            let unchanged = stamp.is_some_and(|(scanned_size, mtime)| {
                size == scanned_size
                    && s.metadata()
                        .is_ok_and(|m| m.len() == scanned_size && ao_walk::mtime_ns(&m) == mtime)
            });
            if unchanged {
                return Ok(());
            }
            expect_hash(src, target, "reflink", expected)(d, size, ())
        },
    )
}

/// Copies `src` into a staged file and verifies the copy through the same
/// descriptor. A file hashed whole by the scan (up to 100 MiB) is copied
/// in the kernel (`copy_file_range`, as `cp` does) and its copy must hash
/// to the scan's hash. A larger one is streamed through a SHA-256 of
/// every byte, and its copy must hash the same and match the scan's hash
/// of its ends.
fn stage_copy(
    src: &Path,
    target: &Target<'_>,
    expected: &str,
    run: &Run,
) -> Result<Staged, PlaceError> {
    let mut s = File::open(src).map_err(io_err("copy", src))?;
    let size = s.metadata().map_err(io_err("copy", src))?.len();
    let shown = target.shown;
    if size <= WHOLE_FILE_LIMIT {
        return stage(
            target,
            "copy",
            run,
            |d| copy_exactly(&s, d, size).map_err(io_err("copy", shown)),
            expect_hash(src, target, "copy", expected),
        );
    }
    stage(
        target,
        "copy",
        run,
        |d| {
            let mut hasher = sha2::Sha256::default();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = s.read(&mut buf).map_err(io_err("copy", src))?;
                if n == 0 {
                    break;
                }
                sha2::Digest::update(&mut hasher, &buf[..n]);
                d.write_all(&buf[..n]).map_err(io_err("copy", shown))?;
            }
            Ok(to_hex(&sha2::Digest::finalize(hasher)))
        },
        |d, size, source_sum| {
            d.seek(SeekFrom::Start(0)).map_err(io_err("copy", shown))?;
            let copy_sum = sha256_reader(d).map_err(io_err("copy", shown))?;
            if copy_sum != source_sum {
                return Err(PlaceError::VerifyFailed(src.to_path_buf()));
            }
            expect_hash(src, target, "copy", expected)(d, size, ())
        },
    )
}

/// Copies the first `size` bytes of `src` into `dst` in the kernel
/// (`copy_file_range`, falling back to reading and writing where the pair
/// of file systems refuses it). A source that shrank meanwhile leaves a
/// short copy, which then fails its hash check.
fn copy_exactly(src: &File, dst: &mut File, size: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut copied = 0u64;
    #[cfg(target_os = "linux")]
    while copied < size {
        let want = (size - copied).min(1 << 30) as usize;
        // SAFETY: two open descriptors; null offsets use and advance the
        // files' own offsets.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                want,
                0,
            )
        };
        match n {
            0 => return Ok(()),
            n if n > 0 => copied += n as u64,
            _ => {
                let e = io::Error::last_os_error();
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EXDEV)
                        | Some(libc::EINVAL)
                        | Some(libc::ENOSYS)
                        | Some(libc::EOPNOTSUPP)
                        | Some(libc::EPERM)
                ) && copied == 0
                {
                    break;
                }
                return Err(e);
            }
        }
    }
    if copied < size {
        io::copy(&mut src.take(size - copied), dst)?;
    }
    Ok(())
}

/// How a file was placed: in place already, or staged for publishing.
#[derive(Debug)]
pub enum Placed {
    Done(Strategy),
    Staged(Strategy, Staged),
}

impl Placed {
    pub fn strategy(&self) -> Strategy {
        match self {
            Placed::Done(s) | Placed::Staged(s, _) => *s,
        }
    }
}

/// A file's place in the library: its name in an open folder, and the
/// library path users are shown.
pub struct Target<'a> {
    pub dir: &'a Arc<OpenDir>,
    pub name: &'a str,
    pub shown: &'a Path,
}

/// Places `src` at `target` (hard link, symlink) or stages it there
/// (reflink, copy: published by the caller after a group sync); the
/// placed or staged content is checked against `expected_hash`. `stamp`
/// is the source's size and mtime as the scan saw them: a hard link (the
/// source's own inode) whose size and mtime are still those has the
/// scanned content, as a rescan would take it, and is not read again. A
/// hard link's folder is not synced here: the caller syncs each folder
/// once, before it records what it placed.
pub fn place(
    strategy: Strategy,
    src: &Path,
    target: &Target<'_>,
    expected_hash: &str,
    stamp: Option<(u64, i64)>,
    run: &Run,
) -> Result<Placed, PlaceError> {
    let shown = target.shown;
    match strategy {
        Strategy::Auto => {
            if !run.no_reflink.load(Ordering::Relaxed) {
                match stage_reflink(src, target, expected_hash, stamp, run) {
                    Ok(s) => return Ok(Placed::Staged(Strategy::Reflink, s)),
                    Err(PlaceError::Io { source, .. }) if cannot_clone(&source) => {
                        run.no_reflink.store(true, Ordering::Relaxed);
                    }
                    Err(_) => {}
                }
            }
            match place(Strategy::Hardlink, src, target, expected_hash, stamp, run) {
                Err(PlaceError::Occupied(p)) => Err(PlaceError::Occupied(p)),
                Err(_) => place(Strategy::Copy, src, target, expected_hash, stamp, run),
                ok => ok,
            }
        }
        Strategy::Reflink => stage_reflink(src, target, expected_hash, stamp, run)
            .map(|s| Placed::Staged(Strategy::Reflink, s)),
        Strategy::Copy => {
            stage_copy(src, target, expected_hash, run).map(|s| Placed::Staged(Strategy::Copy, s))
        }
        Strategy::Symlink => {
            let abs = std::fs::canonicalize(src).map_err(io_err("symlink", src))?;
            target
                .dir
                .symlink(&abs, target.name)
                .map_err(occupied_or(io_err("symlink", shown), shown))?;
            Ok(Placed::Done(Strategy::Symlink))
        }
        Strategy::Hardlink => {
            target
                .dir
                .hard_link_from(src, target.name)
                .map_err(occupied_or(io_err("hardlink", shown), shown))?;
            if let Some((size, mtime)) = stamp
                && target
                    .dir
                    .stamp(target.name)
                    .is_ok_and(|s| s.size == size && s.mtime_ns == mtime)
            {
                return Ok(Placed::Done(Strategy::Hardlink));
            }
            let found = compute_file_hash(&target.dir.path_of(target.name))
                .map_err(io_err("hardlink", shown))?;
            if found != expected_hash {
                let _ = target.dir.remove(target.name);
                return Err(PlaceError::SourceChanged {
                    path: src.to_path_buf(),
                    expected: expected_hash.into(),
                    found,
                });
            }
            Ok(Placed::Done(Strategy::Hardlink))
        }
    }
}

fn occupied_or<'a>(
    other: impl FnOnce(io::Error) -> PlaceError + 'a,
    dst: &'a Path,
) -> impl FnOnce(io::Error) -> PlaceError + 'a {
    move |e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            PlaceError::Occupied(dst.to_path_buf())
        } else {
            other(e)
        }
    }
}
