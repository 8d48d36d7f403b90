//! Opening a book's folder below the library root without following a
//! symlink on the way: a link planted inside the library (by a user, a
//! sync tool or an earlier version of a torrent's tree) must never make
//! organize write somewhere else.
//!
//! Each component is opened relative to the one before it, with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it
//! (Linux 5.6+) and `openat(O_NOFOLLOW)` otherwise; missing ones are made
//! with `mkdirat`. The caller then names files through the descriptor
//! (`/proc/self/fd/N/name`), so nothing is resolved by path again.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// An open folder in the library and the path it stands for.
#[derive(Debug)]
pub struct OpenDir {
    fd: OwnedFd,
    /// Whether `open_below` made the folder itself (so it holds nothing).
    created: bool,
}

impl OpenDir {
    /// Whether this folder was made by the call that opened it.
    pub fn created(&self) -> bool {
        self.created
    }

    /// A path to `name` in this folder that the kernel resolves through
    /// the open descriptor, whatever is renamed or linked meanwhile.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The folder itself, named through its descriptor.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Makes everything written to the folder's file system durable
    /// (`syncfs`, Linux); elsewhere an error, and the caller syncs folders.
    pub fn sync_file_system(&self) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: `fd` is an open descriptor owned by `self` for the call.
            if unsafe { libc::syncfs(self.fd.as_raw_fd()) } == 0 {
                return Ok(());
            }
            Err(io::Error::last_os_error())
        }
        #[cfg(not(target_os = "linux"))]
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// Makes the folder's entries durable (fsync).
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: `fd` is an open descriptor owned by `self` for the call.
        if unsafe { libc::fsync(self.fd.as_raw_fd()) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Size and modification time (ns) of an entry, as `fstatat` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Entries of one open folder, each named relative to its descriptor
/// (`*at` system calls: nothing is resolved through a path again).
impl OpenDir {
    fn stat_at(&self, name: &str, flags: libc::c_int) -> io::Result<Stamp> {
        let name = c_name(name)?;
        // SAFETY: zeroed `stat` is a valid out-buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: an open descriptor, a NUL-terminated name, a valid buffer.
        check(unsafe { libc::fstatat(self.fd.as_raw_fd(), name.as_ptr(), &mut st, flags) })?;
        Ok(Stamp {
            size: st.st_size as u64,
            mtime_ns: (st.st_mtime as i64)
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_mtime_nsec as i64),
        })
    }

    /// Whether `name` exists (a dangling symlink counts).
    pub fn contains(&self, name: &str) -> io::Result<bool> {
        match self.stat_at(name, libc::AT_SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Size and mtime of what `name` is or points to.
    pub fn stamp(&self, name: &str) -> io::Result<Stamp> {
        self.stat_at(name, 0)
    }

    /// Creates `name` exclusively (never through a symlink), open for
    /// writing and reading back.
    pub fn create_new(&self, name: &str) -> io::Result<std::fs::File> {
        let name = c_name(name)?;
        // SAFETY: an open descriptor and a NUL-terminated name.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o644 as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor.
        Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Opens the file `name` here for reading (a symlink is refused).
    pub fn open_read(&self, name: &str) -> io::Result<std::fs::File> {
        let name = c_name(name)?;
        // SAFETY: an open descriptor and a NUL-terminated name.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor.
        Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Renames `from` to `to` within this folder only if `to` does not
    /// exist (`RENAME_NOREPLACE`; a link and unlink where the file system
    /// lacks it, a checked rename where it lacks links too).
    pub fn rename_no_replace(&self, from: &str, to: &str) -> io::Result<()> {
        self.move_no_replace(from, self, to)
    }

    /// Moves `from` here to `to` in folder `into` (same file system) only
    /// if `to` does not exist there, as `rename_no_replace` does.
    pub fn move_no_replace(&self, from: &str, into: &OpenDir, to: &str) -> io::Result<()> {
        let (cf, ct) = (c_name(from)?, c_name(to)?);
        let (fd, into_fd) = (self.fd.as_raw_fd(), into.fd.as_raw_fd());
        #[cfg(target_os = "linux")]
        {
            // SAFETY: open descriptors, NUL-terminated names, a flag the
            // kernel checks.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    fd,
                    cf.as_ptr(),
                    into_fd,
                    ct.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            };
            if rc == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
                return Err(e);
            }
        }
        // SAFETY: open descriptors and NUL-terminated names.
        match check(unsafe { libc::linkat(fd, cf.as_ptr(), into_fd, ct.as_ptr(), 0) }) {
            Ok(()) => self.remove(from),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            Err(_) => {
                if into.contains(to)? {
                    return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                }
                // SAFETY: as above.
                check(unsafe { libc::renameat(fd, cf.as_ptr(), into_fd, ct.as_ptr()) })
            }
        }
    }

    /// Renames `from` to `to` here, replacing `to` (a file of ours).
    pub fn rename_over(&self, from: &str, to: &str) -> io::Result<()> {
        let (cf, ct) = (c_name(from)?, c_name(to)?);
        let fd = self.fd.as_raw_fd();
        // SAFETY: an open descriptor and NUL-terminated names.
        check(unsafe { libc::renameat(fd, cf.as_ptr(), fd, ct.as_ptr()) })
    }

    /// Removes the empty folder `name` here (an error if it holds
    /// anything: `DirectoryNotEmpty`).
    pub fn remove_empty_dir(&self, name: &str) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: an open descriptor and a NUL-terminated name.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) })
    }

    /// Links `src` (a path outside the library) as `name` here.
    pub fn hard_link_from(&self, src: &Path, name: &str) -> io::Result<()> {
        let from = CString::new(src.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let to = c_name(name)?;
        // SAFETY: NUL-terminated paths and an open descriptor.
        check(unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                self.fd.as_raw_fd(),
                to.as_ptr(),
                0,
            )
        })
    }

    /// Makes `name` here a symlink to `target`.
    pub fn symlink(&self, target: &Path, name: &str) -> io::Result<()> {
        let target = CString::new(target.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let to = c_name(name)?;
        // SAFETY: NUL-terminated paths and an open descriptor.
        check(unsafe { libc::symlinkat(target.as_ptr(), self.fd.as_raw_fd(), to.as_ptr()) })
    }

    /// Removes the file `name`.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: an open descriptor and a NUL-terminated name.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), 0) })
    }
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

#[cfg(target_os = "linux")]
fn open_step(dir: &OwnedFd, name: &CString) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: zeroed open_how is valid (no flags); fields set below.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: a valid directory descriptor, a NUL-terminated name, and a
    // pointer to an open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd >= 0 {
        // SAFETY: the kernel just gave us this descriptor.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) });
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // No openat2 here (older kernel, or a seccomp filter refusing it):
        // O_NOFOLLOW on a single component refuses a symlink just as well.
        Some(libc::ENOSYS) | Some(libc::EPERM) => open_nofollow(dir, name, flags),
        _ => Err(err),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_step(dir: &OwnedFd, name: &CString) -> io::Result<OwnedFd> {
    open_nofollow(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
    )
}

fn open_nofollow(dir: &OwnedFd, name: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes a folder; true if this call made it, false if it was there.
fn mkdir_at(dir: &OwnedFd, name: &CString) -> io::Result<bool> {
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    if unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::AlreadyExists {
        return Ok(false);
    }
    Err(err)
}

impl OpenDir {
    /// Opens the library root itself (the user's choice: it may be a link).
    pub fn open_root(root: &Path) -> io::Result<OpenDir> {
        let c_root = CString::new(root.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a NUL-terminated path.
        let fd = unsafe {
            libc::open(
                c_root.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OpenDir {
            // SAFETY: the kernel just gave us this descriptor.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            created: false,
        })
    }

    /// Opens (creating what is missing) `components...` below this folder,
    /// each a plain name already proven by `safe_join`, shown to users
    /// under `shown`. A symlink on the way is refused with an error that
    /// names it.
    pub fn open_below(&self, shown: &Path, components: &[String]) -> io::Result<OpenDir> {
        self.open_components(shown, components, true)
    }

    /// Opens `components...` below this folder if they are all there
    /// (none is made), refusing symlinks as `open_below` does.
    pub fn open_existing(&self, shown: &Path, components: &[String]) -> io::Result<OpenDir> {
        self.open_components(shown, components, false)
    }

    fn open_components(
        &self,
        shown: &Path,
        components: &[String],
        create: bool,
    ) -> io::Result<OpenDir> {
        let mut shown = shown.to_path_buf();
        let mut dir: Option<OwnedFd> = None;
        let mut created = false;
        for (i, c) in components.iter().enumerate() {
            shown.push(c);
            let name = c_name(c)?;
            let base = dir.as_ref().unwrap_or(&self.fd);
            let next = if create && (created || i + 1 == components.len()) {
                // A book's own folder is usually new (and anything below a
                // folder made just now is): made first, then opened.
                open_leaf(base, &name).map(|(fd, made)| {
                    created = made;
                    fd
                })
            } else {
                match open_step(base, &name) {
                    Ok(fd) => {
                        created = false;
                        Ok(fd)
                    }
                    Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                        open_leaf(base, &name).map(|(fd, made)| {
                            created = made;
                            fd
                        })
                    }
                    Err(e) => Err(e),
                }
            };
            dir = Some(next.map_err(|e| refused(&shown, e))?);
        }
        let fd = match dir {
            Some(fd) => fd,
            None => self.fd.try_clone()?,
        };
        Ok(OpenDir { fd, created })
    }

    /// Opens (creating what is missing) a book's folder, `components...`
    /// below this folder, as `open_below` does; the folders above it (an
    /// author's, a series') are taken from `parents` when a book before
    /// opened them, so books that share them open only their own folder.
    pub fn open_book_folder(
        &self,
        shown: &Path,
        components: &[String],
        parents: &mut Parents,
    ) -> io::Result<OpenDir> {
        let Some((leaf, above)) = components.split_last() else {
            return self.open_below(shown, components);
        };
        if above.is_empty() || parents.cap == 0 {
            return self.open_below(shown, components);
        }
        // Components are plain names: '/' joins them unambiguously.
        let key = above.join("/");
        if !parents.open.contains_key(&key) {
            let dir = self.open_components(shown, above, true)?;
            if parents.open.len() >= parents.cap {
                parents.open.clear();
            }
            parents.open.insert(key.clone(), dir.fd);
        }
        let parent = &parents.open[&key];
        match open_leaf(parent, &c_name(leaf)?) {
            Ok((fd, created)) => Ok(OpenDir { fd, created }),
            // The parent was removed since (an emptied folder after a
            // move): opened again from the root.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                parents.open.remove(&key);
                self.open_below(shown, components)
            }
            Err(e) => {
                let mut at = shown.to_path_buf();
                at.extend(components);
                Err(refused(&at, e))
            }
        }
    }
}

/// Folders above books' folders opened during one organize run, each
/// held open (never resolved by path again); bounded, cleared when full.
#[derive(Debug)]
pub struct Parents {
    open: std::collections::HashMap<String, OwnedFd>,
    cap: usize,
}

impl Parents {
    /// Holds at most `cap` folders open at once (0: none).
    pub fn new(cap: usize) -> Self {
        Self {
            open: std::collections::HashMap::new(),
            cap,
        }
    }

    /// Forgets every folder (after folders in the library were removed).
    pub fn clear(&mut self) {
        self.open.clear();
    }
}

/// Makes the folder `name` in `dir` if it is missing, then opens it (a
/// symlink refused); whether this call made it.
fn open_leaf(dir: &OwnedFd, name: &CString) -> io::Result<(OwnedFd, bool)> {
    let made = mkdir_at(dir, name)?;
    Ok((open_step(dir, name)?, made))
}

/// A symlink met on the way reads as ELOOP (O_NOFOLLOW, RESOLVE_NO_SYMLINKS)
/// or EXDEV (RESOLVE_BENEATH); say what it means.
fn refused(at: &Path, e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::EXDEV) | Some(libc::ENOTDIR) => io::Error::new(
            e.kind(),
            format!(
                "{} is a symlink or not a folder; organize never writes through a link inside the library ({e})",
                at.display()
            ),
        ),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_beneath(root: &Path, components: &[String]) -> io::Result<OpenDir> {
        OpenDir::open_root(root)?.open_below(root, components)
    }

    #[test]
    fn creates_missing_folders_and_refuses_symlinks_below_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("lib");
        std::fs::create_dir(&root).unwrap();
        let d = open_beneath(&root, &["A".into(), "B".into()]).unwrap();
        std::fs::write(d.path_of("x.mp3"), b"x").unwrap();
        assert_eq!(std::fs::read(root.join("A/B/x.mp3")).unwrap(), b"x");

        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("Evil")).unwrap();
        let err = open_beneath(&root, &["Evil".into(), "Book".into()])
            .expect_err("a symlink below the root is refused");
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(!outside.join("Book").exists());
        // A link deeper down is refused as well.
        std::os::unix::fs::symlink(&outside, root.join("A/B/C")).unwrap();
        assert!(open_beneath(&root, &["A".into(), "B".into(), "C".into()]).is_err());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn book_folders_share_their_held_parent_and_refuse_links_below_it() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("lib");
        std::fs::create_dir(&root).unwrap();
        let top = OpenDir::open_root(&root).unwrap();
        let mut parents = Parents::new(4);
        let path = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        let one = top
            .open_book_folder(&root, &path("A", "One"), &mut parents)
            .unwrap();
        assert!(one.created());
        let two = top
            .open_book_folder(&root, &path("A", "Two"), &mut parents)
            .unwrap();
        assert!(two.created());
        assert_eq!(parents.open.len(), 1);
        let again = top
            .open_book_folder(&root, &path("A", "One"), &mut parents)
            .unwrap();
        assert!(!again.created(), "an existing folder is opened, not made");
        // A link planted where a book's folder goes is refused.
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("A/Evil")).unwrap();
        let err = top
            .open_book_folder(&root, &path("A", "Evil"), &mut parents)
            .expect_err("a symlink is never a book's folder");
        assert!(err.to_string().contains("symlink"), "{err}");
        // The held parent removed (an emptied folder after a move): made
        // again from the root, inside the library.
        drop((one, two, again));
        std::fs::remove_file(root.join("A/Evil")).unwrap();
        for name in ["One", "Two"] {
            std::fs::remove_dir(root.join("A").join(name)).unwrap();
        }
        std::fs::remove_dir(root.join("A")).unwrap();
        let three = top
            .open_book_folder(&root, &path("A", "Three"), &mut parents)
            .unwrap();
        std::fs::write(three.path_of("x"), b"x").unwrap();
        assert_eq!(std::fs::read(root.join("A/Three/x")).unwrap(), b"x");
        // Bounded: past its size, the held folders are let go.
        for i in 0..10 {
            top.open_book_folder(&root, &path(&format!("P{i}"), "B"), &mut parents)
                .unwrap();
        }
        assert!(parents.open.len() <= 4);
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn a_rename_never_replaces_a_name() {
        let t = tempfile::tempdir().unwrap();
        let d = open_beneath(t.path(), &["A".into()]).unwrap();
        for name in ["one", "two", "taken"] {
            use std::io::Write;
            d.create_new(name)
                .unwrap()
                .write_all(name.as_bytes())
                .unwrap();
        }
        assert_eq!(
            d.create_new("one").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        d.rename_no_replace("one", "placed").unwrap();
        let err = d.rename_no_replace("two", "taken").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let read = |n: &str| std::fs::read(t.path().join("A").join(n)).unwrap();
        assert_eq!(read("placed"), b"one");
        assert_eq!(read("taken"), b"taken");
        assert_eq!(read("two"), b"two");
        d.remove("two").unwrap();
        assert!(!d.contains("two").unwrap());
        assert!(d.contains("placed").unwrap());
    }

    #[test]
    fn the_root_may_itself_be_a_link() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("real")).unwrap();
        std::os::unix::fs::symlink(t.path().join("real"), t.path().join("lib")).unwrap();
        let d = open_beneath(&t.path().join("lib"), &["A".into()]).unwrap();
        std::fs::write(d.path_of("f"), b"1").unwrap();
        assert!(t.path().join("real/A/f").exists());
    }
}
