//! Placing one file in the library: reflink, hardlink, copy or symlink.
//!
//! Every attempt either leaves the complete, verified target in place or
//! leaves nothing behind. An existing target is never replaced.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::hash::{WHOLE_FILE_LIMIT, compute_file_hash, sha256_reader, to_hex};

pub use crate::config::Strategy;

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

impl PlaceError {
    /// The same error with paths under `from` shown under `to` (files are
    /// placed through a descriptor's `/proc/self/fd` path; users are shown
    /// the library path it stands for).
    pub fn renamed(self, from: &Path, to: &Path) -> Self {
        let fix = |p: PathBuf| match p.strip_prefix(from) {
            Ok(rest) => to.join(rest),
            Err(_) => p,
        };
        match self {
            PlaceError::Occupied(p) => PlaceError::Occupied(fix(p)),
            PlaceError::VerifyFailed(p) => PlaceError::VerifyFailed(fix(p)),
            PlaceError::SourceChanged {
                path,
                expected,
                found,
            } => PlaceError::SourceChanged {
                path: fix(path),
                expected,
                found,
            },
            PlaceError::Io {
                strategy,
                path,
                source,
            } => PlaceError::Io {
                strategy,
                path: fix(path),
                source,
            },
        }
    }
}

/// Prefix of temp files in the library; never counted as books (the
/// extension is not audio) and removed by the next organize.
pub const TEMP_PREFIX: &str = ".ao-tmp-";

fn io_err<'a>(strategy: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PlaceError + 'a {
    move |source| PlaceError::Io {
        strategy,
        path: path.to_path_buf(),
        source,
    }
}

fn temp_path(dst: &Path) -> PathBuf {
    let dir = dst.parent().unwrap_or(Path::new("."));
    dir.join(format!("{TEMP_PREFIX}{}.part", ulid::Ulid::generate()))
}

fn create_exclusive(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Moves a finished temp file to `dst` only if `dst` does not exist.
fn publish(tmp: &Path, dst: &Path) -> io::Result<()> {
    let result = match std::fs::hard_link(tmp, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            // File systems without hard links: check, then rename.
            if dst.symlink_metadata().is_ok() {
                Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "target exists",
                ))
            } else {
                std::fs::rename(tmp, dst)
            }
        }
    };
    let _ = std::fs::remove_file(tmp);
    if let (Ok(()), Some(dir)) = (&result, dst.parent()) {
        sync_dir(dir);
    }
    result
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

fn reflink(src: &Path, dst: &Path) -> io::Result<()> {
    let tmp = temp_path(dst);
    let attempt = (|| {
        let s = File::open(src)?;
        let d = create_exclusive(&tmp)?;
        reflink_into(&s, &d)?;
        d.sync_all()
    })();
    match attempt {
        Ok(()) => publish(&tmp, dst),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Streams `src` into a temp file while hashing it, fsyncs, re-reads the
/// temp file to verify, and only then publishes it.
fn copy_verified(src: &Path, dst: &Path) -> Result<String, PlaceError> {
    let tmp = temp_path(dst);
    let attempt = (|| -> Result<String, PlaceError> {
        let mut s = File::open(src).map_err(io_err("copy", src))?;
        let mut d = create_exclusive(&tmp).map_err(io_err("copy", &tmp))?;
        let mut hasher = sha2::Sha256::default();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = s.read(&mut buf).map_err(io_err("copy", src))?;
            if n == 0 {
                break;
            }
            sha2::Digest::update(&mut hasher, &buf[..n]);
            d.write_all(&buf[..n]).map_err(io_err("copy", &tmp))?;
        }
        d.sync_all().map_err(io_err("copy", &tmp))?;
        drop(d);
        let source_sum = to_hex(&sha2::Digest::finalize(hasher));
        let copy_sum = sha256_reader(&mut File::open(&tmp).map_err(io_err("copy", &tmp))?)
            .map_err(io_err("copy", &tmp))?;
        if copy_sum != source_sum {
            return Err(PlaceError::VerifyFailed(src.to_path_buf()));
        }
        Ok(source_sum)
    })();
    match attempt {
        Ok(sum) => {
            publish(&tmp, dst).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    PlaceError::Occupied(dst.to_path_buf())
                } else {
                    PlaceError::Io {
                        strategy: "copy",
                        path: dst.to_path_buf(),
                        source: e,
                    }
                }
            })?;
            Ok(sum)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Places `src` at `dst` and returns the strategy that worked; the placed
/// file's content is checked against `expected_hash`. `stamp` is the
/// source's size and mtime as the scan saw them: a hard link (the source's
/// own inode) whose size and mtime are still those has the scanned content,
/// as a rescan would take it, and is not read again. A hard link's folder
/// is not synced here: the caller syncs each folder once, before it records
/// what it placed.
pub fn place(
    strategy: Strategy,
    src: &Path,
    dst: &Path,
    expected_hash: &str,
    stamp: Option<(u64, i64)>,
) -> Result<Strategy, PlaceError> {
    let result = match strategy {
        Strategy::Auto => {
            let attempt = place(Strategy::Reflink, src, dst, expected_hash, stamp)
                .or_else(|_| place(Strategy::Hardlink, src, dst, expected_hash, stamp));
            match attempt {
                Err(PlaceError::Occupied(p)) => Err(PlaceError::Occupied(p)),
                Err(PlaceError::SourceChanged { .. }) | Err(_) => {
                    place(Strategy::Copy, src, dst, expected_hash, stamp)
                }
                ok => ok,
            }
        }
        Strategy::Reflink => reflink(src, dst)
            .map_err(io_err("reflink", dst))
            .map(|_| Strategy::Reflink),
        Strategy::Hardlink => std::fs::hard_link(src, dst)
            .map_err(io_err("hardlink", dst))
            .map(|_| Strategy::Hardlink),
        Strategy::Symlink => {
            let abs = std::fs::canonicalize(src).map_err(io_err("symlink", src))?;
            std::os::unix::fs::symlink(&abs, dst)
                .map_err(io_err("symlink", dst))
                .map(|_| Strategy::Symlink)
        }
        Strategy::Copy => {
            let size = std::fs::metadata(src).map_err(io_err("copy", src))?.len();
            let sum = copy_verified(src, dst)?;
            if size <= WHOLE_FILE_LIMIT && sum != expected_hash {
                let _ = std::fs::remove_file(dst);
                return Err(PlaceError::SourceChanged {
                    path: src.to_path_buf(),
                    expected: expected_hash.into(),
                    found: sum,
                });
            }
            Ok(Strategy::Copy)
        }
    };
    let used = match result {
        Err(PlaceError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
            return Err(PlaceError::Occupied(dst.to_path_buf()));
        }
        other => other?,
    };
    if strategy == Strategy::Auto || used == Strategy::Symlink || used == Strategy::Copy {
        // Auto verified in its inner call; a symlink has no content of its
        // own; a small copy was verified against the expected hash above.
        if used != Strategy::Copy
            || std::fs::metadata(dst)
                .map(|m| m.len() <= WHOLE_FILE_LIMIT)
                .unwrap_or(false)
        {
            return Ok(used);
        }
    }
    if used == Strategy::Hardlink
        && let Some((size, mtime)) = stamp
        && std::fs::metadata(dst).is_ok_and(|m| m.len() == size && ao_walk::mtime_ns(&m) == mtime)
    {
        return Ok(used);
    }
    let found = compute_file_hash(dst).map_err(io_err(used.as_str(), dst))?;
    if found != expected_hash {
        let _ = std::fs::remove_file(dst);
        return Err(PlaceError::SourceChanged {
            path: src.to_path_buf(),
            expected: expected_hash.into(),
            found,
        });
    }
    Ok(used)
}

/// Removes temp files an interrupted organize left in `dir`.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TEMP_PREFIX))
            && std::fs::remove_file(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}
