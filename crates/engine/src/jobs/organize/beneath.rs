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
pub struct OpenDir {
    fd: OwnedFd,
}

impl OpenDir {
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

    /// Makes the folder's entries durable (fsync), and lets it go.
    pub fn sync(self) -> io::Result<()> {
        std::fs::File::from(self.fd).sync_all()
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

fn mkdir_at(dir: &OwnedFd, name: &CString) -> io::Result<()> {
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    if unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::AlreadyExists {
        return Ok(());
    }
    Err(err)
}

/// Opens (creating what is missing) `root/components...`, each component a
/// plain name already proven by `safe_join`. A symlink anywhere below the
/// root is refused with an error that names it.
pub fn open_beneath(root: &Path, components: &[String]) -> io::Result<OpenDir> {
    let c_root = CString::new(root.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // The root itself is the user's choice and may be a link.
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
    // SAFETY: the kernel just gave us this descriptor.
    let mut dir = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut shown = root.to_path_buf();
    for c in components {
        shown.push(c);
        let name = c_name(c)?;
        let next = match open_step(&dir, &name) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                mkdir_at(&dir, &name)?;
                open_step(&dir, &name)?
            }
            Err(e) => return Err(refused(&shown, e)),
        };
        dir = next;
    }
    Ok(OpenDir { fd: dir })
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
            .err()
            .expect("a symlink below the root is refused");
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(!outside.join("Book").exists());
        // A link deeper down is refused as well.
        std::os::unix::fs::symlink(&outside, root.join("A/B/C")).unwrap();
        assert!(open_beneath(&root, &["A".into(), "B".into(), "C".into()]).is_err());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
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
