//! Parallel directory walk. Follows symlinks but never loops: a directory
//! already visited (same device and inode) is skipped with a warning.
//! Unreadable entries become warnings; nothing here is fatal.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

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

/// A directory still to read, with the device it is on. It is opened
/// relative to its parent's descriptor, so the kernel never walks the full
/// path again (deep NAS trees make that the main cost of a walk).
struct Dir {
    path: PathBuf,
    dev: u64,
    parent: Option<Arc<OwnedFd>>,
}

impl Dir {
    fn open(&self) -> std::io::Result<OwnedFd> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        let fd = match &self.parent {
            Some(parent) => {
                let name = CString::new(self.path.file_name().unwrap_or_default().as_bytes())?;
                // SAFETY: a valid directory descriptor and a NUL-terminated name.
                unsafe { libc::openat(parent.as_raw_fd(), name.as_ptr(), flags) }
            }
            None => {
                let path = CString::new(self.path.as_os_str().as_bytes())?;
                // SAFETY: a NUL-terminated path.
                unsafe { libc::open(path.as_ptr(), flags) }
            }
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: we own the descriptor just returned.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// One entry as `readdir` gives it: name, type, inode.
struct RawEntry {
    name: Vec<u8>,
    kind: u8,
    ino: u64,
}

/// Reads a directory with `getdents64` on the descriptor we already hold:
/// no `dup`, `fdopendir` or extra `fstat` per directory.
#[cfg(target_os = "linux")]
fn read_entries(dir: &OwnedFd) -> std::io::Result<Vec<RawEntry>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: a valid directory descriptor and a writable buffer of the given size.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(out);
        }
        let mut at = 0usize;
        let n = n as usize;
        // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
        while at + 19 <= n {
            let ino = u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap_or_default());
            let reclen =
                u16::from_ne_bytes(buf[at + 16..at + 18].try_into().unwrap_or_default()) as usize;
            let kind = buf[at + 18];
            if reclen == 0 || at + reclen > n {
                break;
            }
            let name_field = &buf[at + 19..at + reclen];
            let len = name_field
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(name_field.len());
            let name = &name_field[..len];
            if name != b"." && name != b".." {
                out.push(RawEntry {
                    name: name.to_vec(),
                    kind,
                    ino,
                });
            }
            at += reclen;
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn read_entries(dir: &OwnedFd) -> std::io::Result<Vec<RawEntry>> {
    // fdopendir takes ownership of the descriptor it gets: give it a copy.
    // SAFETY: dup of a valid descriptor.
    let copy = unsafe { libc::dup(dir.as_raw_fd()) };
    if copy < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `copy` is a valid directory descriptor we own.
    let dirp = unsafe { libc::fdopendir(copy) };
    if dirp.is_null() {
        let e = std::io::Error::last_os_error();
        // SAFETY: still ours when fdopendir fails.
        unsafe { libc::close(copy) };
        return Err(e);
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: dirp is a valid DIR*; the entry is copied before the next call.
        let ent = unsafe { libc::readdir(dirp) };
        if ent.is_null() {
            break;
        }
        // SAFETY: readdir returns a valid dirent with a NUL-terminated name.
        let (name, kind, ino) = unsafe {
            let e = &*ent;
            (
                CStr::from_ptr(e.d_name.as_ptr()).to_bytes().to_vec(),
                e.d_type,
                e.d_ino as u64,
            )
        };
        if name == b"." || name == b".." {
            continue;
        }
        out.push(RawEntry { name, kind, ino });
    }
    // SAFETY: closes the DIR* and its descriptor (the copy).
    unsafe { libc::closedir(dirp) };
    Ok(out)
}

/// stat relative to a directory descriptor; follows symlinks.
fn stat_at(dir: &OwnedFd, name: &[u8]) -> std::io::Result<libc::stat64> {
    let c = CString::new(name)?;
    // SAFETY: zeroed stat is a valid out-parameter.
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, NUL-terminated name, valid out pointer.
    let rc = unsafe { libc::fstatat64(dir.as_raw_fd(), c.as_ptr(), &mut st, 0) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st)
}

fn is_dir_mode(st: &libc::stat64) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn is_file_mode(st: &libc::stat64) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

fn found(path: PathBuf, st: &libc::stat64) -> Found {
    Found {
        path,
        size: st.st_size.max(0) as u64,
        mtime_ns: st
            .st_mtime
            .saturating_mul(1_000_000_000)
            .saturating_add(st.st_mtime_nsec),
    }
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

    fn entry(
        &self,
        dir: &Dir,
        fd: &Arc<OwnedFd>,
        e: RawEntry,
        subdirs: &mut Vec<Dir>,
        local: &mut Vec<Found>,
    ) {
        let path = dir.path.join(std::ffi::OsStr::from_bytes(&e.name));
        let subdir = |dev| Dir {
            path: path.clone(),
            dev,
            parent: Some(fd.clone()),
        };
        match e.kind {
            // A plain directory is on its parent's device (mount points
            // aside): its identity needs no stat.
            libc::DT_DIR if lock(&self.visited).insert((dir.dev, e.ino)) => {
                subdirs.push(subdir(dir.dev));
            }
            libc::DT_REG if has_audio_extension(&e.name) => match stat_at(fd, &e.name) {
                Ok(st) => local.push(found(path, &st)),
                Err(err) => self.issue(&path, err.to_string()),
            },
            libc::DT_LNK | libc::DT_UNKNOWN => match stat_at(fd, &e.name) {
                Err(err) => {
                    if e.kind == libc::DT_LNK {
                        self.issue(&path, format!("broken or looping symlink: {err}"));
                    } else {
                        self.issue(&path, err.to_string());
                    }
                }
                Ok(st) if is_dir_mode(&st) => {
                    if lock(&self.visited).insert((st.st_dev, st.st_ino)) {
                        subdirs.push(subdir(st.st_dev));
                    } else if e.kind == libc::DT_LNK {
                        self.issue(
                            &path,
                            "symlink loop (directory already visited); skipped".into(),
                        );
                    }
                }
                Ok(st) if is_file_mode(&st) && has_audio_extension(&e.name) => {
                    local.push(found(path, &st))
                }
                Ok(_) => {}
            },
            _ => {}
        }
    }

    fn work(&self) {
        while let Some(dir) = self.next_dir() {
            let mut subdirs = Vec::new();
            let mut local = Vec::new();
            match dir
                .open()
                .and_then(|fd| Ok((read_entries(&fd)?, Arc::new(fd))))
            {
                Err(e) => self.issue(&dir.path, format!("cannot read directory: {e}")),
                Ok((entries, fd)) => {
                    for e in entries {
                        self.entry(&dir, &fd, e, &mut subdirs, &mut local);
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
                        parent: None,
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
