//! Parallel directory walk. Follows symlinks as the policy says (by
//! default only those whose target lies inside the import folder) and
//! never loops: a directory already visited (same device and inode) is
//! skipped with a warning. Unreadable entries become warnings; a walk
//! thread that cannot start or panics fails the whole walk, so a scan never
//! takes what it did not see for gone.

pub mod exclude;
mod listing;
mod sys;
mod walker;

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use ao_core::fast_map::{FastMap, SortedMap};

pub use exclude::{Excludes, Pattern as ExcludePattern, PatternError};
pub use listing::{DirPacker, DirRecord, DirView, Names, PackedDir};
pub use walker::walk;

/// A folder holding a file of one of these names is left out of a scan
/// with everything below it (`.jabexclude` is the Go server's marker,
/// `.ignore` Audiobookshelf's).
pub const EXCLUSION_MARKERS: [&str; 3] = [".aoignore", ".jabexclude", ".ignore"];

/// Which symlinks a scan follows. Torrent clients create links from a
/// torrent's content, so by default a link is followed only when what it
/// points at lies inside the import folder it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FollowSymlinks {
    #[default]
    Inside,
    All,
    None,
}

impl FollowSymlinks {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "inside" => Self::Inside,
            "all" => Self::All,
            "none" => Self::None,
            _ => return None,
        })
    }
}

/// How a walk runs and what it keeps.
#[derive(Clone, Copy)]
pub struct WalkOptions {
    pub threads: usize,
    pub follow: FollowSymlinks,
    /// Now, in nanoseconds since the epoch, by the caller's clock: a
    /// listing is trusted later only if its folder had not changed for a
    /// few seconds before this.
    pub now_ns: i64,
    /// Which file names are audio files (listed, returned).
    pub is_audio: fn(&[u8]) -> bool,
    /// Which other file names are side files the caller reads
    /// (`WalkOutcome::side`).
    pub is_side: fn(&[u8]) -> bool,
}

/// The extension of a file name (after its last dot; a leading dot makes
/// no extension), if any.
fn extension_of(name: &[u8]) -> Option<&[u8]> {
    match name.iter().rposition(|b| *b == b'.') {
        Some(dot) if dot > 0 && dot + 1 < name.len() => Some(&name[dot + 1..]),
        _ => None,
    }
}

/// Files the walk left out, by lowercase extension (`""`: none).
pub type Skipped = Vec<(String, u64)>;

fn count_skipped(skipped: &mut Skipped, name: &[u8]) {
    let ext = extension_of(name)
        .filter(|e| e.len() <= 12)
        .map(|e| String::from_utf8_lossy(e).to_ascii_lowercase())
        .unwrap_or_default();
    match skipped.iter_mut().find(|(e, _)| *e == ext) {
        Some((_, n)) => *n += 1,
        None => skipped.push((ext, 1)),
    }
}

#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
}

#[derive(Debug, Clone)]
pub struct WalkIssue {
    pub path: PathBuf,
    pub message: String,
}

pub struct WalkOutcome {
    pub files: Vec<Found>,
    pub issues: Vec<WalkIssue>,
    /// Directories read this time (new or changed), as they are now.
    pub listed: Vec<(String, PackedDir)>,
    /// Directories whose kept listing still held.
    pub cached: usize,
    /// Files the caller knew unchanged (not in `files`).
    pub unchanged: u64,
    /// Symlinks the policy kept the walk from following (a few of them,
    /// and how many in all).
    pub not_followed: Vec<PathBuf>,
    pub not_followed_count: u64,
    /// Folders left out for an exclusion marker and folders and files left
    /// out for an exclude pattern, with the marker's name or the pattern.
    pub excluded: Vec<Excluded>,
    /// Files that are not audio, by extension, in the folders read this
    /// time (kept listings hold audio files only).
    pub skipped: Skipped,
    /// Side files (`desc.txt`, `reader.txt`, OPF, `metadata.json`) by
    /// folder, in the folders read this time: new books are in them.
    pub side: FastMap<String, Vec<String>>,
}

/// What the walk left out, and why.
#[derive(Debug, Clone)]
pub struct Excluded {
    pub path: PathBuf,
    pub by: ExcludedBy,
}

#[derive(Debug, Clone)]
pub enum ExcludedBy {
    /// The folder holds this marker file.
    Marker(String),
    /// The folder or file matches this exclude pattern.
    Pattern(String),
}

/// Why a walk gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("cannot start a walk thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("a walk thread failed: {0}")]
    Panicked(String),
}

/// Symlinks not followed that are named one by one.
const NOT_FOLLOWED_LISTED: usize = 20;

/// Modification time in nanoseconds, as scans compare it.
pub fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(m.mtime_nsec())
}

/// Whether a file (its path as bytes, size, mtime) is one the caller
/// already knows as it is: such files are counted, not returned. Called
/// from every walk thread, each with a hint of its own that the caller may
/// keep its place in (a thread asks about files in nearly sorted order).
pub type Unchanged<'a> = &'a (dyn Fn(&[u8], u64, i64, &mut usize) -> bool + Sync);

/// Listings from the last scan, by absolute directory path.
pub type KnownDirs = SortedMap<PackedDir>;

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn options(threads: usize) -> WalkOptions {
        WalkOptions {
            threads,
            follow: FollowSymlinks::Inside,
            now_ns: 0,
            is_audio: |n| n.ends_with(b".mp3"),
            is_side: |_| false,
        }
    }

    fn tree(n: usize) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for i in 0..n {
            let d = t.path().join(format!("a{i}/b{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("01.mp3"), b"x").unwrap();
        }
        t
    }

    #[test]
    fn a_walk_thread_that_panics_fails_the_walk_and_the_others_do_not_wait_forever() {
        let t = tree(300);
        let known = KnownDirs::default();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        // The fault: the 50th file a thread asks about panics that thread.
        let unchanged = |_: &[u8], _: u64, _: i64, _: &mut usize| {
            if calls.fetch_add(1, Ordering::SeqCst) == 49 {
                panic!("injected walk fault");
            }
            false
        };
        let roots = [t.path().to_path_buf()];
        for threads in [1, 4] {
            calls.store(0, Ordering::SeqCst);
            let result = walk(&roots, options(threads), &known, &|| false, &unchanged, &[]);
            match result {
                Err(WalkError::Panicked(m)) => assert!(m.contains("injected"), "{m}"),
                Err(e) => panic!("{e}"),
                Ok(o) => panic!(
                    "a walk with a dead thread answered ({} files)",
                    o.files.len()
                ),
            }
        }
        // Without the fault, the same walk sees every file.
        let all = walk(
            &roots,
            options(4),
            &known,
            &|| false,
            &|_, _, _, _| false,
            &[],
        )
        .unwrap();
        assert_eq!(all.files.len(), 300);
    }

    #[test]
    fn paths_become_c_strings_short_or_long_and_a_nul_is_refused() {
        let len = |b: &[u8]| sys::with_c_str(b, |c| Ok(c.to_bytes().to_vec()));
        assert_eq!(len(b"Author/Book").unwrap(), b"Author/Book");
        assert_eq!(len(b"").unwrap(), b"");
        let long = vec![b'a'; 3000];
        assert_eq!(len(&long).unwrap(), long);
        let edge = vec![b'b'; 511];
        assert_eq!(len(&edge).unwrap(), edge);
        assert_eq!(
            len(b"bad\0name").unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
    }
}
