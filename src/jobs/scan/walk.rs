//! Parallel directory walk. Follows symlinks but never loops: a directory
//! already visited (same device and inode) is skipped with a warning.
//! Unreadable entries become warnings; nothing here is fatal.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

pub const AUDIO_EXTENSIONS: &[&str] = &["m4b", "mp3", "m4a", "aac", "ogg", "flac", "wma", "opus"];

/// The lowercase extension if it is one we treat as audiobook audio.
pub fn audio_extension(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    AUDIO_EXTENSIONS.contains(&ext.as_str()).then_some(ext)
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

#[derive(Default)]
struct Shared {
    pending: Vec<PathBuf>,
    active: usize,
    stop: bool,
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

/// Walks `roots` with `threads` threads, returning audio files by path order.
pub fn walk(
    roots: &[PathBuf],
    threads: usize,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> WalkOutcome {
    let visited: Mutex<HashSet<(u64, u64)>> = Mutex::new(HashSet::new());
    let files = Mutex::new(Vec::new());
    let issues = Mutex::new(Vec::new());
    let shared = Mutex::new(Shared::default());
    let cv = Condvar::new();
    {
        let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
        for root in roots {
            match std::fs::metadata(root) {
                Ok(m) if m.is_dir() => {
                    if visited
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert((m.dev(), m.ino()))
                    {
                        sh.pending.push(root.clone());
                    }
                }
                Ok(_) => issues
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(WalkIssue {
                        path: root.clone(),
                        message: "not a directory".into(),
                    }),
                Err(e) => issues
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(WalkIssue {
                        path: root.clone(),
                        message: e.to_string(),
                    }),
            }
        }
    }
    let issue = |path: &Path, message: String| {
        issues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(WalkIssue {
                path: path.to_path_buf(),
                message,
            });
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let dir = {
                        let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            if sh.stop {
                                return;
                            }
                            if let Some(d) = sh.pending.pop() {
                                sh.active += 1;
                                break d;
                            }
                            if sh.active == 0 {
                                sh.stop = true;
                                cv.notify_all();
                                return;
                            }
                            sh = cv.wait(sh).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let mut subdirs = Vec::new();
                    let mut local = Vec::new();
                    match std::fs::read_dir(&dir) {
                        Err(e) => issue(&dir, format!("cannot read directory: {e}")),
                        Ok(entries) => {
                            for entry in entries {
                                let entry = match entry {
                                    Ok(e) => e,
                                    Err(e) => {
                                        issue(&dir, format!("cannot read entry: {e}"));
                                        continue;
                                    }
                                };
                                let path = entry.path();
                                let ft = match entry.file_type() {
                                    Ok(t) => t,
                                    Err(e) => {
                                        issue(&path, e.to_string());
                                        continue;
                                    }
                                };
                                let is_dir_like = ft.is_dir() || ft.is_symlink();
                                if !is_dir_like && audio_extension(&path).is_none() {
                                    continue;
                                }
                                // Follow symlinks; plain entries too (for size/mtime).
                                let meta = match std::fs::metadata(&path) {
                                    Ok(m) => m,
                                    Err(e) => {
                                        if ft.is_symlink() {
                                            issue(&path, format!("broken or looping symlink: {e}"));
                                        } else {
                                            issue(&path, e.to_string());
                                        }
                                        continue;
                                    }
                                };
                                if meta.is_dir() {
                                    let fresh = visited
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .insert((meta.dev(), meta.ino()));
                                    if fresh {
                                        subdirs.push(path);
                                    } else if ft.is_symlink() {
                                        issue(
                                            &path,
                                            "symlink loop (directory already visited); skipped"
                                                .into(),
                                        );
                                    }
                                } else if meta.is_file() && audio_extension(&path).is_some() {
                                    local.push(Found {
                                        path,
                                        size: meta.len(),
                                        mtime_ns: mtime_ns(&meta),
                                    });
                                }
                            }
                        }
                    }
                    if !local.is_empty() {
                        files
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend(local);
                    }
                    let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
                    sh.active -= 1;
                    if cancelled() {
                        sh.stop = true;
                    }
                    sh.pending.extend(subdirs);
                    cv.notify_all();
                }
            });
        }
    });
    let mut files = files.into_inner().unwrap_or_else(|e| e.into_inner());
    files.sort_by(|a, b| a.path.cmp(&b.path));
    WalkOutcome {
        files,
        issues: issues.into_inner().unwrap_or_else(|e| e.into_inner()),
    }
}
