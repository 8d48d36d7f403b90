//! The walk itself: threads that share directories to read (a thread
//! with more than it needs hands some to a waiting one), the visited set
//! that stops loops, and what each directory entry becomes.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use ao_core::fast_map::{FastMap, FastSet};

use crate::listing::{DirPacker, DirRecord, DirView, PackedDir};
use crate::sys::{
    Entry, Stat, dev_ino, fstat, is_dir_mode, is_file_mode, is_link_mode, lstat_at, nanos,
    read_entries, size_and_mtime, stat_at, stat_path, with_c_str,
};
use crate::{
    EXCLUSION_MARKERS, Excluded, ExcludedBy, Excludes, FollowSymlinks, Found, KnownDirs,
    NOT_FOLLOWED_LISTED, Skipped, Unchanged, WalkError, WalkIssue, WalkOptions, WalkOutcome,
    count_skipped, lock,
};

/// A directory still to walk. It is reached relative to `base`, the
/// nearest ancestor this walk opened (or by absolute path when `base` is
/// None), so the kernel never resolves the full path again (deep NAS trees
/// make that the main cost of a walk).
pub(crate) struct Dir {
    path: PathBuf,
    base: Option<Arc<OwnedFd>>,
    /// Length of the base's own path plus its separator: the rest of
    /// `path` is the path relative to `base` (all of it without a base).
    base_len: usize,
    /// Whether its (device, inode) is already in the visited set.
    claimed: bool,
    /// Which root of the walk it lies under.
    root: usize,
}

impl Dir {
    fn rel(&self) -> &[u8] {
        let p = self.path.as_os_str().as_bytes();
        match p.get(self.base_len..) {
            Some(r) if !r.is_empty() => r,
            _ => b".",
        }
    }

    /// `f` with the path relative to the base as a C string.
    fn with_cpath<T>(&self, f: impl FnOnce(&CStr) -> std::io::Result<T>) -> std::io::Result<T> {
        with_c_str(self.rel(), f)
    }

    /// A directory below this one, reached through the same base.
    fn below(&self, name: &[u8]) -> Dir {
        Dir {
            path: child(&self.path, name),
            base: self.base.clone(),
            base_len: self.base_len,
            claimed: false,
            root: self.root,
        }
    }

    fn base_fd(&self) -> libc::c_int {
        self.base.as_ref().map_or(libc::AT_FDCWD, |b| b.as_raw_fd())
    }

    fn open(&self) -> std::io::Result<OwnedFd> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: a valid directory descriptor (or AT_FDCWD) and a NUL-terminated path.
        let fd = self
            .with_cpath(|path| Ok(unsafe { libc::openat(self.base_fd(), path.as_ptr(), flags) }))?;
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: we own the descriptor just returned.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// stat of the directory itself (following symlinks), without opening it.
    fn stat(&self) -> std::io::Result<Stat> {
        self.with_cpath(|path| stat_path(self.base_fd(), path))
    }
}

/// A listing is trusted later only if the directory had not changed for
/// this long when it was read: a change within the same timestamp tick
/// (coarse kernel clocks, FAT's 2 s) would otherwise go unseen.
const SETTLE_NS: i64 = 3_000_000_000;

/// The record a listing starts from: the directory as it was before it was read.
fn record_of(st: &Stat, now_ns: i64) -> DirRecord {
    let mtime_ns = nanos(st.st_mtime, st.st_mtime_nsec);
    let ctime_ns = nanos(st.st_ctime, st.st_ctime_nsec);
    DirRecord {
        dev: dev_ino(st).0,
        ino: dev_ino(st).1,
        mtime_ns,
        ctime_ns,
        settled: now_ns.saturating_sub(mtime_ns.max(ctime_ns)) > SETTLE_NS,
        subdirs: Vec::new(),
        files: Vec::new(),
    }
}

fn unchanged(known: &DirView<'_>, st: &Stat) -> bool {
    known.settled
        && (known.dev, known.ino) == dev_ino(st)
        && known.mtime_ns == nanos(st.st_mtime, st.st_mtime_nsec)
        && known.ctime_ns == nanos(st.st_ctime, st.st_ctime_nsec)
}

#[derive(Default)]
pub(crate) struct Shared {
    /// Directories any thread may take.
    pending: Vec<Dir>,
    /// Threads holding work of their own.
    active: usize,
    stop: bool,
}

/// One thread's findings, merged when the walk ends.
#[derive(Default)]
pub(crate) struct Results {
    files: Vec<Found>,
    issues: Vec<WalkIssue>,
    listed: Vec<(String, PackedDir)>,
    /// The listing of the folder being read.
    packer: DirPacker,
    cached: usize,
    /// Files the caller knew unchanged: counted, not listed.
    unchanged: u64,
    /// A file's whole path, built here before it is known to be needed.
    scratch: Vec<u8>,
    /// Where this thread's last lookup of a kept listing ended.
    known_hint: usize,
    not_followed: Vec<PathBuf>,
    not_followed_count: u64,
    skipped: Skipped,
    side: Vec<(String, String)>,
    /// What was left out for an exclusion marker or pattern.
    excluded: Vec<Excluded>,
    /// The same for the caller's `Unchanged` lookups.
    stamp_hint: usize,
}

/// How far a thread's results had come before a directory was read.
#[derive(Clone)]
pub(crate) struct Mark {
    files: usize,
    issues: usize,
    not_followed: usize,
    not_followed_count: u64,
    skipped: Skipped,
    side: usize,
    excluded: usize,
    subdirs: usize,
}

impl Results {
    fn mark(&self, subdirs: &[Dir]) -> Mark {
        Mark {
            files: self.files.len(),
            issues: self.issues.len(),
            not_followed: self.not_followed.len(),
            not_followed_count: self.not_followed_count,
            skipped: self.skipped.clone(),
            side: self.side.len(),
            excluded: self.excluded.len(),
            subdirs: subdirs.len(),
        }
    }

    /// Forgets what was found since `mark` (an excluded directory's files,
    /// subdirectories, problems and counts).
    fn take_back(&mut self, mark: Mark, subdirs: &mut Vec<Dir>) {
        self.files.truncate(mark.files);
        self.issues.truncate(mark.issues);
        self.not_followed.truncate(mark.not_followed);
        self.not_followed_count = mark.not_followed_count;
        self.skipped = mark.skipped;
        self.side.truncate(mark.side);
        self.excluded.truncate(mark.excluded);
        subdirs.truncate(mark.subdirs);
    }

    fn issue(&mut self, path: &Path, message: String) {
        self.issues.push(WalkIssue {
            path: path.to_path_buf(),
            message,
        });
    }
}

/// Shards of the visited set, so threads rarely wait on each other.
pub(crate) const VISITED_SHARDS: usize = 16;

pub(crate) struct Walker<'a> {
    shared: Mutex<Shared>,
    cv: Condvar,
    /// Threads waiting for work: a thread with more than it needs hands
    /// some over only then, so the shared queue is touched rarely.
    waiting: std::sync::atomic::AtomicUsize,
    /// (device, inode) of every directory entered.
    visited: Vec<Mutex<FastSet<(u64, u64)>>>,
    known: &'a KnownDirs,
    cancelled: &'a (dyn Fn() -> bool + Sync),
    unchanged: Unchanged<'a>,
    pub(crate) options: WalkOptions,
    /// Each root as the kernel resolves it: where `inside` links must lead.
    real_roots: Vec<PathBuf>,
    /// Each root's exclude patterns.
    excludes: &'a [Excludes],
}

/// Marks the walk over if the thread that holds it unwinds: the other
/// threads would otherwise wait for its share of the work forever.
struct StopOnPanic<'w, 'a>(&'w Walker<'a>);

impl Drop for StopOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// `path/name` in one allocation (`Path::join` copies, then grows).
fn child(path: &Path, name: &[u8]) -> PathBuf {
    let mut v = Vec::with_capacity(path.as_os_str().len() + 1 + name.len());
    join_into(&mut v, path, name);
    PathBuf::from(std::ffi::OsString::from_vec(v))
}

/// `dir/name` as bytes into `buf` (replacing what it held).
fn join_into(buf: &mut Vec<u8>, dir: &Path, name: &[u8]) {
    let p = dir.as_os_str().as_bytes();
    buf.clear();
    buf.extend_from_slice(p);
    if !p.ends_with(b"/") {
        buf.push(b'/');
    }
    buf.extend_from_slice(name);
}

/// `dir/name` relative to the directory's base, as a C string in a
/// reused buffer.
fn c_join<'b>(buf: &'b mut Vec<u8>, dir: &Dir, name: &str) -> std::io::Result<&'b CStr> {
    buf.clear();
    let rel = dir.rel();
    if rel != b"." {
        buf.extend_from_slice(rel);
        buf.push(b'/');
    }
    buf.extend_from_slice(name.as_bytes());
    buf.push(0);
    CStr::from_bytes_with_nul(buf)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

impl Walker<'_> {
    /// Whether the symlink `name` in `dir` may be followed: under `inside`,
    /// only if what it resolves to lies under the root it was found in.
    fn may_follow(&self, dir: &Dir, name: &[u8]) -> bool {
        match self.options.follow {
            FollowSymlinks::All => true,
            FollowSymlinks::None => false,
            FollowSymlinks::Inside => {
                let Some(root) = self.real_roots.get(dir.root) else {
                    return false;
                };
                // A link that resolves nowhere is reported as broken by the
                // caller (it leads nowhere, inside or out).
                match std::fs::canonicalize(child(&dir.path, name)) {
                    Ok(target) => target.starts_with(root),
                    Err(_) => true,
                }
            }
        }
    }

    /// A file found: counted if the caller knows it unchanged, else listed.
    /// Its path is built in a reused buffer and copied only when listed.
    /// Remembers a side file a new book in `dir` may read.
    fn note_side_file(&self, out: &mut Results, dir: &Path, name: &[u8]) {
        if (self.options.is_side)(name)
            && let (Some(d), Ok(n)) = (dir.to_str(), std::str::from_utf8(name))
        {
            out.side.push((d.to_string(), n.to_string()));
        }
    }

    fn add_file(&self, dir: &Path, name: &[u8], st: &Stat, out: &mut Results) {
        let (size, mtime_ns) = size_and_mtime(st);
        join_into(&mut out.scratch, dir, name);
        if (self.unchanged)(&out.scratch, size, mtime_ns, &mut out.stamp_hint) {
            out.unchanged += 1;
        } else {
            out.files.push(Found {
                path: PathBuf::from(std::ffi::OsStr::from_bytes(&out.scratch)),
                size,
                mtime_ns,
            });
        }
    }

    /// Marks a directory entered; false if it was already.
    fn visit(&self, id: (u64, u64)) -> bool {
        let shard = (id.0 ^ id.1.wrapping_mul(0x9e37_79b9_7f4a_7c15)) as usize % VISITED_SHARDS;
        lock(&self.visited[shard]).insert(id)
    }

    /// Waits for a directory from the shared queue; None when the walk is over.
    fn next_dir(&self, was_active: bool) -> Option<Dir> {
        let mut sh = lock(&self.shared);
        if was_active {
            sh.active -= 1;
        }
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
            self.waiting.fetch_add(1, Ordering::SeqCst);
            sh = self.cv.wait(sh).unwrap_or_else(|e| e.into_inner());
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn share(&self, dirs: Vec<Dir>) {
        let mut sh = lock(&self.shared);
        sh.pending.extend(dirs);
        self.cv.notify_all();
    }

    fn stop(&self) {
        lock(&self.shared).stop = true;
        self.cv.notify_all();
    }

    /// Whether an exclude pattern of `dir`'s root leaves out its entry
    /// `name` (noted in `out` if so).
    fn excluded(&self, dir: &Dir, name: &[u8], is_dir: bool, out: &mut Results) -> bool {
        let Some(excludes) = self.excludes.get(dir.root).filter(|e| !e.is_empty()) else {
            return false;
        };
        let path = child(&dir.path, name);
        match excludes.matching(&path, is_dir) {
            Some(pattern) => {
                out.excluded.push(Excluded {
                    path,
                    by: ExcludedBy::Pattern(pattern.to_string()),
                });
                true
            }
            None => false,
        }
    }

    /// A directory whose listing is known and unchanged: its subdirectories
    /// and audio files come from the listing; only the files are stat'ed.
    fn use_listing(
        &self,
        dir: &Dir,
        known: DirView<'_>,
        out: &mut Results,
        subdirs: &mut Vec<Dir>,
        buf: &mut Vec<u8>,
    ) {
        out.cached += 1;
        for name in known.subdirs {
            if !self.excluded(dir, name.as_bytes(), true, out) {
                subdirs.push(dir.below(name.as_bytes()));
            }
        }
        for name in known.files {
            if self.excluded(dir, name.as_bytes(), false, out) {
                continue;
            }
            match c_join(buf, dir, name).and_then(|rel| stat_path(dir.base_fd(), rel)) {
                Ok(st) if is_file_mode(&st) => self.add_file(&dir.path, name.as_bytes(), &st, out),
                Ok(_) => {}
                // Gone without the directory changing (a symlink whose
                // target went away): a vanished file, not a problem.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => out.issue(&dir.path.join(name), e.to_string()),
            }
        }
    }

    /// Reads a new or changed directory; `st` is its state before reading.
    /// A directory holding an exclusion marker is left out with everything
    /// below it (what its entries added is taken back) and keeps no
    /// listing, so it is looked at again next time.
    fn list(&self, dir: &Dir, fd: OwnedFd, st: &Stat, out: &mut Results, subdirs: &mut Vec<Dir>) {
        let fd = Arc::new(fd);
        let mut head = record_of(st, self.options.now_ns);
        out.packer.clear();
        let before = out.mark(subdirs);
        let mut marker = None;
        let read = read_entries(&fd, &mut |name, kind, ino| {
            if marker.is_none()
                && name.first() == Some(&b'.')
                && EXCLUSION_MARKERS.iter().any(|m| m.as_bytes() == name)
            {
                marker = Some(name.to_vec());
            }
            let e = Entry { name, kind, ino };
            self.entry(dir, dev_ino(st).0, &fd, e, &mut head.settled, out, subdirs)
        });
        if let Some(marker) = marker {
            out.take_back(before, subdirs);
            out.excluded.push(Excluded {
                path: dir.path.clone(),
                by: ExcludedBy::Marker(String::from_utf8_lossy(&marker).into()),
            });
            return;
        }
        match read {
            // What was found before the error stands; without a listing
            // the folder is read again next time.
            Err(e) => out.issue(&dir.path, format!("cannot read directory: {e}")),
            Ok(()) => {
                if let Some(key) = dir.path.to_str() {
                    let packed = out.packer.pack(&head);
                    out.listed.push((key.to_string(), packed));
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        dir: &Dir,
        dev: u64,
        fd: &Arc<OwnedFd>,
        e: Entry<'_>,
        settled: &mut bool,
        out: &mut Results,
        subdirs: &mut Vec<Dir>,
    ) {
        // The entry's whole path is built only where it is kept (a
        // subdirectory) or reported (a problem); a file's is built by
        // `add_file` only if it is listed.
        let path = || child(&dir.path, e.name);
        let subdir = |claimed| {
            let path = path();
            let base_len = path.as_os_str().len() - e.name.len();
            Dir {
                path,
                base: Some(fd.clone()),
                base_len,
                claimed,
                root: dir.root,
            }
        };
        // A name the store cannot keep makes the listing untrustworthy:
        // the directory is read again on every scan.
        let note =
            |out: &mut Results, settled: &mut bool, subdir: bool| match std::str::from_utf8(e.name)
            {
                Ok(n) if subdir => out.packer.subdir(n),
                Ok(n) => out.packer.file(n),
                Err(_) => *settled = false,
            };
        match e.kind {
            // A plain directory is on its parent's device (mount points
            // aside): its identity needs no stat.
            libc::DT_DIR => {
                note(out, settled, true);
                if !self.excluded(dir, e.name, true, out) && self.visit((dev, e.ino)) {
                    subdirs.push(subdir(true));
                }
            }
            libc::DT_REG if (self.options.is_audio)(e.name) => {
                note(out, settled, false);
                if self.excluded(dir, e.name, false, out) {
                    return;
                }
                match stat_at(fd, e.name) {
                    Ok(st) => self.add_file(&dir.path, e.name, &st, out),
                    Err(err) => out.issue(&path(), err.to_string()),
                }
            }
            libc::DT_REG => {
                count_skipped(&mut out.skipped, e.name);
                self.note_side_file(out, &dir.path, e.name);
            }
            libc::DT_LNK | libc::DT_UNKNOWN => {
                let is_link = e.kind == libc::DT_LNK
                    || lstat_at(fd, e.name).is_ok_and(|st| is_link_mode(&st));
                if is_link && self.options.follow != FollowSymlinks::All {
                    // Read again next scan: a kept listing never holds a
                    // link, so each is judged by the policy every time.
                    *settled = false;
                    if !self.may_follow(dir, e.name) {
                        out.not_followed_count += 1;
                        if out.not_followed.len() < NOT_FOLLOWED_LISTED {
                            out.not_followed.push(path());
                        }
                        return;
                    }
                }
                match stat_at(fd, e.name) {
                    Err(err) => {
                        if is_link {
                            out.issue(&path(), format!("broken or looping symlink: {err}"));
                        } else {
                            out.issue(&path(), err.to_string());
                        }
                        // Listed again next time, so the problem is seen again.
                        *settled = false;
                    }
                    Ok(st) if is_dir_mode(&st) => {
                        note(out, settled, true);
                        if self.excluded(dir, e.name, true, out) {
                            return;
                        }
                        if self.visit(dev_ino(&st)) {
                            subdirs.push(subdir(true));
                        } else if is_link {
                            out.issue(
                                &path(),
                                "symlink loop (directory already visited); skipped".into(),
                            );
                        }
                    }
                    Ok(st) if is_file_mode(&st) && (self.options.is_audio)(e.name) => {
                        note(out, settled, false);
                        if !self.excluded(dir, e.name, false, out) {
                            self.add_file(&dir.path, e.name, &st, out)
                        }
                    }
                    Ok(st) if is_file_mode(&st) => {
                        count_skipped(&mut out.skipped, e.name);
                        self.note_side_file(out, &dir.path, e.name);
                    }
                    Ok(_) => {}
                }
            }
            _ => {}
        }
    }

    fn one(&self, dir: &Dir, out: &mut Results, subdirs: &mut Vec<Dir>, buf: &mut Vec<u8>) {
        // A kept listing that does not read back is as good as none.
        let known = self
            .known
            .get_near(dir.path.as_os_str().as_bytes(), &mut out.known_hint)
            .and_then(PackedDir::view);
        // A directory never listed is opened at once and stat'ed through
        // its descriptor; a known one is stat'ed first to see whether its
        // listing still holds. The root is opened even when its listing
        // holds: the walk reaches everything below it through that
        // descriptor.
        let (st, fd) = if known.is_none() || dir.base.is_none() {
            match dir.open().and_then(|fd| Ok((fstat(&fd)?, Some(fd)))) {
                Ok(x) => x,
                Err(e) => return out.issue(&dir.path, format!("cannot read directory: {e}")),
            }
        } else {
            match dir.stat() {
                Ok(st) => (st, None),
                Err(e) => return out.issue(&dir.path, format!("cannot read directory: {e}")),
            }
        };
        if !dir.claimed && !self.visit(dev_ino(&st)) {
            return out.issue(
                &dir.path,
                "symlink loop or second path to a directory already visited; skipped".into(),
            );
        }
        match known {
            Some(k) if unchanged(&k, &st) => match fd {
                Some(fd) => {
                    let opened = Dir {
                        path: dir.path.clone(),
                        base: Some(Arc::new(fd)),
                        base_len: dir.path.as_os_str().len() + 1,
                        claimed: true,
                        root: dir.root,
                    };
                    self.use_listing(&opened, k, out, subdirs, buf)
                }
                None => self.use_listing(dir, k, out, subdirs, buf),
            },
            _ => match fd.map_or_else(|| dir.open(), Ok) {
                Ok(fd) => self.list(dir, fd, &st, out, subdirs),
                Err(e) => out.issue(&dir.path, format!("cannot read directory: {e}")),
            },
        }
    }

    /// One thread: depth first through its own stack of directories,
    /// handing half of it over when another thread runs dry.
    fn work(&self) -> Results {
        let _stop_on_panic = StopOnPanic(self);
        let mut out = Results::default();
        let mut mine: Vec<Dir> = Vec::new();
        let mut subdirs: Vec<Dir> = Vec::new();
        let mut buf = Vec::new();
        let mut active = false;
        let mut done = 0usize;
        loop {
            let dir = match mine.pop() {
                Some(d) => d,
                None => match self.next_dir(active) {
                    Some(d) => {
                        active = true;
                        d
                    }
                    None => return out,
                },
            };
            self.one(&dir, &mut out, &mut subdirs, &mut buf);
            mine.append(&mut subdirs);
            done += 1;
            if done.is_multiple_of(64) && ((self.cancelled)() || lock(&self.shared).stop) {
                self.stop();
                return out;
            }
            if mine.len() > 1 && self.waiting.load(Ordering::Relaxed) > 0 {
                let give = mine.split_off(mine.len() / 2);
                self.share(give);
            }
        }
    }
}

/// Walks `roots` with `options.threads` threads, returning audio files in
/// path (byte) order. Directories in `known` whose identity and change
/// time are unchanged are not read again: their listing stands.
pub fn walk(
    roots: &[PathBuf],
    options: WalkOptions,
    known: &KnownDirs,
    cancelled: &(dyn Fn() -> bool + Sync),
    unchanged: Unchanged<'_>,
    excludes: &[Excludes],
) -> Result<WalkOutcome, WalkError> {
    let walker = Walker {
        shared: Mutex::new(Shared::default()),
        cv: Condvar::new(),
        waiting: std::sync::atomic::AtomicUsize::new(0),
        // Sized for the folders the last scan saw: no rehashing as it fills.
        visited: (0..VISITED_SHARDS)
            .map(|_| {
                let mut set = FastSet::default();
                set.reserve(known.len() / VISITED_SHARDS + 16);
                Mutex::new(set)
            })
            .collect(),
        known,
        cancelled,
        unchanged,
        options,
        real_roots: roots
            .iter()
            .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
            .collect(),
        excludes,
    };
    let mut all = Results::default();
    for (index, root) in roots.iter().enumerate() {
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {
                if walker.visit((m.dev(), m.ino())) {
                    lock(&walker.shared).pending.push(Dir {
                        path: root.clone(),
                        base: None,
                        base_len: 0,
                        claimed: true,
                        root: index,
                    });
                }
            }
            Ok(_) => all.issue(root, "not a directory".into()),
            Err(e) => all.issue(root, e.to_string()),
        }
    }
    let parts: Result<Vec<Results>, WalkError> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut failed = None;
        for _ in 0..options.threads.max(1) {
            match std::thread::Builder::new()
                .name("scan-walk".into())
                .spawn_scoped(scope, || walker.work())
            {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // The threads already started stop at their next
                    // directory; what they found is not used.
                    walker.stop();
                    failed = Some(WalkError::Spawn(e));
                    break;
                }
            }
        }
        let mut parts = Vec::with_capacity(handles.len());
        for h in handles {
            match h.join() {
                Ok(p) => parts.push(p),
                Err(panic) => {
                    failed.get_or_insert(WalkError::Panicked(ao_core::panic_message(&*panic)));
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(parts),
        }
    });
    let parts = parts?;
    let mut side: FastMap<String, Vec<String>> = Default::default();
    for mut p in parts {
        all.files.append(&mut p.files);
        all.issues.append(&mut p.issues);
        all.listed.append(&mut p.listed);
        all.cached += p.cached;
        all.unchanged += p.unchanged;
        all.not_followed_count += p.not_followed_count;
        all.excluded.extend(p.excluded);
        for (d, n) in p.side {
            side.entry(d).or_default().push(n);
        }
        for (ext, n) in p.skipped {
            match all.skipped.iter_mut().find(|(e, _)| *e == ext) {
                Some((_, m)) => *m += n,
                None => all.skipped.push((ext, n)),
            }
        }
        let room = NOT_FOLLOWED_LISTED.saturating_sub(all.not_followed.len());
        all.not_followed
            .extend(p.not_followed.into_iter().take(room));
    }
    all.files.sort_unstable_by(|a, b| {
        a.path
            .as_os_str()
            .as_bytes()
            .cmp(b.path.as_os_str().as_bytes())
    });
    Ok(WalkOutcome {
        files: all.files,
        issues: all.issues,
        listed: all.listed,
        cached: all.cached,
        unchanged: all.unchanged,
        not_followed: all.not_followed,
        not_followed_count: all.not_followed_count,
        excluded: all.excluded,
        skipped: all.skipped,
        side,
    })
}
