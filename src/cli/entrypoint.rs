//! The container's entrypoint: started as root, it gives the config and
//! data folders to PUID:PGID (LinuxServer.io's convention), drops to that
//! user and runs the rest of the command line; started as another user
//! (`--user`), it runs it directly. Root is refused. No shell or other
//! program is needed in the image.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::args::EntrypointArgs;

/// Refusals exit with this (EX_USAGE).
const REFUSED: u8 = 64;

fn parent(p: &Path) -> PathBuf {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// Replaces this process with the binary running `args`.
fn exec(args: &[OsString]) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this program")?;
    let err = std::process::Command::new(exe).args(args).exec();
    Err(err).context("cannot start the server")
}

pub fn run(a: EntrypointArgs, config: Option<PathBuf>, db: Option<PathBuf>) -> Result<ExitCode> {
    let umask = u32::from_str_radix(a.umask.trim(), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .with_context(|| format!("UMASK {:?} is not an octal mode", a.umask))?;
    // SAFETY: umask only sets the process's file mode mask.
    unsafe { libc::umask(umask as libc::mode_t) };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return exec(&a.args);
    }
    if a.puid == 0 || a.pgid == 0 {
        eprintln!("refusing to run as root: set PUID and PGID to a normal user");
        return Ok(ExitCode::from(REFUSED));
    }
    // What the server writes: the config file's folder and the store's.
    let config = config.unwrap_or_else(|| PathBuf::from("/config/config.toml"));
    let db = db.unwrap_or_else(|| PathBuf::from("/data/audiobook-organizer.redb"));
    let owned = |p: &Path| {
        std::os::unix::fs::chown(p, Some(a.puid), Some(a.pgid))
            .with_context(|| format!("cannot give {} to {}:{}", p.display(), a.puid, a.pgid))
    };
    for dir in [parent(&config), parent(&db)] {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        owned(&dir)?;
    }
    if !config.exists() {
        std::fs::write(&config, b"")
            .with_context(|| format!("cannot create {}", config.display()))?;
    }
    owned(&config)?;
    if db.exists() {
        owned(&db)?;
    }
    println!(
        "audiobook-organizer: running as uid {} gid {}",
        a.puid, a.pgid
    );
    // SAFETY: plain system calls on ids; each result is checked. Supplementary
    // groups go first, then the group, then the user (after which no
    // capability is left).
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(a.pgid) != 0
            || libc::setuid(a.puid) != 0
        {
            return Err(std::io::Error::last_os_error()).context("cannot drop to PUID:PGID");
        }
    }
    // The config and store paths the server takes are those prepared here.
    // SAFETY: single-threaded at this point (nothing else has started).
    unsafe {
        std::env::set_var("AO_CONFIG", &config);
        std::env::set_var("AO_DB", &db);
    }
    exec(&a.args)
}
