//! Parallel directory walk. Follows symlinks but never loops: a directory
//! already visited (same device and inode) is skipped with a warning.
//! Unreadable entries become warnings; nothing here is fatal.

use std::collections::HashSet;
use std::fs::DirEntry;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

pub const AUDIO_EXTENSIONS: &[&str] = &["m4b", "mp3", "m4a", "aac", "ogg", "flac", "wma", "opus"];

/// The lowercase extension if it is one we treat as audiobook audio.
pub fn audio_extension(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    AUDIO_EXTENSIONS.contains(&ext.as_str()).then_some(ext)
}

fn has_audio_extension(name: &[u8]) -> bool {
    let Some(dot) = name.iter().rposition(|b| *b == b'.') else {
        return false;
    };
    let ext = &name[dot + 1..];
    AUDIO_EXTENSIONS
        .iter()
        .any(|a| a.as_bytes().eq_ignore_ascii_case(ext))
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
}

/// Modification time in nanoseconds, as scans compare it.
pub fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(m.mtime_nsec())
}

/// A directory still to read, with the device it is on.
struct Dir {
    path: PathBuf,
    dev: u64,
}

#[derive(Default)]
struct Shared {
    pending: Vec<Dir>,
    active: usize,
    stop: bool,
}

struct Walker<'a> {
    shared: Mutex<Shared>,
    cv: Condvar,
    /// (device, inode) of every directory entered.
    visited: Mutex<HashSet<(u64, u64)>>,
    files: Mutex<Vec<Found>>,
    issues: Mutex<Vec<WalkIssue>>,
    cancelled: &'a (dyn Fn() -> bool + Sync),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Walker<'_> {
    fn issue(&self, path: &Path, message: String) {
        lock(&self.issues).push(WalkIssue {
            path: path.to_path_buf(),
            message,
        });
    }

    fn next_dir(&self) -> Option<Dir> {
        let mut sh = lock(&self.shared);
        loop {
            if sh.stop {
                return None;
            }
            if let Some(d) = sh.pending.pop() {
                sh.active += 1;
                return Some(d);
            }
            if sh.active == 0 {
                sh.stop = true;
                self.cv.notify_all();
                return None;
            }
            sh = self.cv.wait(sh).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn finish_dir(&self, subdirs: Vec<Dir>) {
        let mut sh = lock(&self.shared);
        sh.active -= 1;
        if (self.cancelled)() {
            sh.stop = true;
        }
        sh.pending.extend(subdirs);
        self.cv.notify_all();
    }

    fn entry(&self, dir: &Dir, entry: DirEntry, subdirs: &mut Vec<Dir>, local: &mut Vec<Found>) {
        let ft = match entry.file_type() {
            Ok(t) => t,
            Err(e) => return self.issue(&entry.path(), e.to_string()),
        };
        if ft.is_dir() {
            // A plain directory is on its parent's device (mount points
            // aside): no stat needed to know its identity.
            if lock(&self.visited).insert((dir.dev, entry.ino())) {
                subdirs.push(Dir {
                    path: entry.path(),
                    dev: dir.dev,
                });
            }
        } else if ft.is_symlink() {
            let path = entry.path();
            match std::fs::metadata(&path) {
                Err(e) => self.issue(&path, format!("broken or looping symlink: {e}")),
                Ok(m) if m.is_dir() => {
                    if lock(&self.visited).insert((m.dev(), m.ino())) {
                        subdirs.push(Dir { path, dev: m.dev() });
                    } else {
                        self.issue(
                            &path,
                            "symlink loop (directory already visited); skipped".into(),
                        );
                    }
                }
                Ok(m) if m.is_file() && has_audio_extension(entry.file_name().as_bytes()) => local
                    .push(Found {
                        path,
                        size: m.len(),
                        mtime_ns: mtime_ns(&m),
                    }),
                Ok(_) => {}
            }
        } else if ft.is_file() && has_audio_extension(entry.file_name().as_bytes()) {
            // An fstatat on the open directory, not a full path lookup.
            match entry.metadata() {
                Ok(m) => local.push(Found {
                    path: entry.path(),
                    size: m.len(),
                    mtime_ns: mtime_ns(&m),
                }),
                Err(e) => self.issue(&entry.path(), e.to_string()),
            }
        }
    }

    fn work(&self) {
        while let Some(dir) = self.next_dir() {
            let mut subdirs = Vec::new();
            let mut local = Vec::new();
            match std::fs::read_dir(&dir.path) {
                Err(e) => self.issue(&dir.path, format!("cannot read directory: {e}")),
                Ok(entries) => {
                    for entry in entries {
                        match entry {
                            Ok(e) => self.entry(&dir, e, &mut subdirs, &mut local),
                            Err(e) => self.issue(&dir.path, format!("cannot read entry: {e}")),
                        }
                    }
                }
            }
            if !local.is_empty() {
                lock(&self.files).extend(local);
            }
            self.finish_dir(subdirs);
        }
    }
}

/// Walks `roots` with `threads` threads, returning audio files in path
/// (byte) order.
pub fn walk(
    roots: &[PathBuf],
    threads: usize,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> WalkOutcome {
    let walker = Walker {
        shared: Mutex::new(Shared::default()),
        cv: Condvar::new(),
        visited: Mutex::new(HashSet::new()),
        files: Mutex::new(Vec::new()),
        issues: Mutex::new(Vec::new()),
        cancelled,
    };
    for root in roots {
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {
                if lock(&walker.visited).insert((m.dev(), m.ino())) {
                    lock(&walker.shared).pending.push(Dir {
                        path: root.clone(),
                        dev: m.dev(),
                    });
                }
            }
            Ok(_) => walker.issue(root, "not a directory".into()),
            Err(e) => walker.issue(root, e.to_string()),
        }
    }
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let builder = std::thread::Builder::new().name("scan-walk".into());
            let _ = builder.spawn_scoped(scope, || walker.work());
        }
    });
    let mut files = walker.files.into_inner().unwrap_or_else(|e| e.into_inner());
    files.sort_unstable_by(|a, b| {
        a.path
            .as_os_str()
            .as_bytes()
            .cmp(b.path.as_os_str().as_bytes())
    });
    WalkOutcome {
        files,
        issues: walker
            .issues
            .into_inner()
            .unwrap_or_else(|e| e.into_inner()),
    }
}
