//! Backups of the store: a consistent snapshot taken while the server
//! runs, gzip-compressed, with a SHA-256 of the file's bytes at its end;
//! a restore checks that checksum and the store inside before it replaces
//! anything, and keeps the store it replaces.
//!
//! A backup file: `AOBACKUP1\n`, the gzip stream of a store file, then
//! `\nsha256:<64 hex>\n` over every byte before it.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::store::{RedbStore, Store, StoreError};

const MAGIC: &[u8] = b"AOBACKUP1\n";
const TRAILER_TAG: &[u8] = b"\nsha256:";
const TRAILER_LEN: u64 = (TRAILER_TAG.len() + 64 + 1) as u64;
const PREFIX: &str = "audiobook-organizer-";
const SUFFIX: &str = ".aobackup";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{} is not a backup of audiobook-organizer (no backup header); nothing was replaced", .0.display())]
    NotABackup(PathBuf),
    #[error("{} is damaged: its checksum is {found}, the file says {expected}; nothing was replaced", path.display())]
    Damaged {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{} does not hold a readable store ({reason}); nothing was replaced", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("the store at {} is in use (a running server?): stop it before restoring; nothing was replaced", .0.display())]
    StoreInUse(PathBuf),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BackupError + 'a {
    move |source| BackupError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// A backup file as listed and as a new one is reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupInfo {
    pub name: String,
    pub path: String,
    pub bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    /// The checksum at the file's end (read back when listing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Hashes what passes through to the file.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync the folder", dir))
}

/// Takes a backup of `store` into `dir` (made 0700 when missing: a backup
/// holds the API key), then keeps the newest `keep` backups there.
/// Returns the new backup and the names of those removed.
pub fn create(
    store: &dyn Store,
    dir: &Path,
    keep: usize,
    now: OffsetDateTime,
) -> Result<(BackupInfo, Vec<String>), BackupError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("create the backup folder", dir))?;
    let stamp = format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}{:03}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    let mut name = format!("{PREFIX}{stamp}{SUFFIX}");
    let mut n = 1;
    while dir.join(&name).exists() {
        n += 1;
        name = format!("{PREFIX}{stamp}-{n}{SUFFIX}");
    }
    let snapshot = dir.join(format!(".{name}.redb.tmp"));
    let partial = dir.join(format!(".{name}.tmp"));
    let cleanup = || {
        let _ = std::fs::remove_file(&snapshot);
        let _ = std::fs::remove_file(&partial);
    };
    cleanup();
    let result = (|| -> Result<BackupInfo, BackupError> {
        store.snapshot_to(&snapshot)?;
        let out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(io_err("create", &partial))?;
        let mut hashing = Hashing {
            inner: BufWriter::new(out),
            hash: Sha256::new(),
        };
        let write = io_err("write", &partial);
        let sha = (|| -> io::Result<String> {
            hashing.write_all(MAGIC)?;
            let mut gz = flate2::write::GzEncoder::new(&mut hashing, flate2::Compression::new(6));
            io::copy(&mut BufReader::new(File::open(&snapshot)?), &mut gz)?;
            gz.finish()?;
            let sha = ao_core::hash::to_hex(&std::mem::take(&mut hashing.hash).finalize());
            let mut out = hashing.inner.into_inner().map_err(|e| e.into_error())?;
            out.write_all(TRAILER_TAG)?;
            out.write_all(sha.as_bytes())?;
            out.write_all(b"\n")?;
            out.sync_all()?;
            Ok(sha)
        })()
        .map_err(write)?;
        let path = dir.join(&name);
        std::fs::rename(&partial, &path).map_err(io_err("name", &path))?;
        sync_dir(dir)?;
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(BackupInfo {
            name: name.clone(),
            path: path.display().to_string(),
            bytes,
            created_at: now,
            sha256: Some(sha),
        })
    })();
    cleanup();
    let info = result?;
    let mut removed = Vec::new();
    for old in list(dir)?.into_iter().skip(keep.max(1)) {
        if std::fs::remove_file(&old.path).is_ok() {
            removed.push(old.name);
        }
    }
    Ok((info, removed))
}

/// The backups in `dir`, newest first (none when it does not exist).
pub fn list(dir: &Path) -> Result<Vec<BackupInfo>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(PREFIX) && name.ends_with(SUFFIX)) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let created_at = meta
            .modified()
            .map(OffsetDateTime::from)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        out.push(BackupInfo {
            sha256: stated_checksum(&e.path()).ok(),
            path: e.path().display().to_string(),
            name,
            bytes: meta.len(),
            created_at,
        });
    }
    // Newest first: by the time written, then by the time in the name.
    out.sort_by(|a, b| (b.created_at, &b.name).cmp(&(a.created_at, &a.name)));
    Ok(out)
}

/// The checksum a backup's trailer states.
fn stated_checksum(path: &Path) -> Result<String, BackupError> {
    let mut f = File::open(path).map_err(io_err("open", path))?;
    let len = f.metadata().map_err(io_err("read", path))?.len();
    if len < MAGIC.len() as u64 + TRAILER_LEN {
        return Err(BackupError::NotABackup(path.to_path_buf()));
    }
    let mut head = [0u8; MAGIC.len()];
    f.read_exact(&mut head).map_err(io_err("read", path))?;
    let mut trailer = [0u8; TRAILER_LEN as usize];
    f.seek(SeekFrom::Start(len - TRAILER_LEN))
        .and_then(|_| f.read_exact(&mut trailer))
        .map_err(io_err("read", path))?;
    let hex = &trailer[TRAILER_TAG.len()..TRAILER_LEN as usize - 1];
    if head != MAGIC
        || !trailer.starts_with(TRAILER_TAG)
        || trailer.last() != Some(&b'\n')
        || !hex.iter().all(|c| c.is_ascii_hexdigit())
    {
        return Err(BackupError::NotABackup(path.to_path_buf()));
    }
    Ok(String::from_utf8_lossy(hex).into_owned())
}

/// Checks a backup's checksum against every byte before its trailer;
/// returns the checksum.
pub fn verify(path: &Path) -> Result<String, BackupError> {
    let expected = stated_checksum(path)?;
    let f = File::open(path).map_err(io_err("open", path))?;
    let len = f.metadata().map_err(io_err("read", path))?.len();
    let mut hash = Sha256::new();
    let mut body = BufReader::new(f).take(len - TRAILER_LEN);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    let found = ao_core::hash::to_hex(&hash.finalize());
    if found != expected {
        return Err(BackupError::Damaged {
            path: path.to_path_buf(),
            expected,
            found,
        });
    }
    Ok(found)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub books: u64,
    /// Where the store that was replaced now is.
    pub previous: Option<PathBuf>,
}

/// Replaces the store at `store_path` with the one in `backup`, after
/// checking the backup's checksum and that the store in it opens; the
/// replaced store is kept beside it as `<name>.before-restore-<time>`.
/// Refused while anything holds the store open.
pub fn restore(
    backup: &Path,
    store_path: &Path,
    now: OffsetDateTime,
) -> Result<Restored, BackupError> {
    verify(backup)?;
    let restoring = store_path.with_extension("restoring");
    let _ = std::fs::remove_file(&restoring);
    let unpacked = (|| -> Result<u64, BackupError> {
        let f = File::open(backup).map_err(io_err("open", backup))?;
        let len = f.metadata().map_err(io_err("read", backup))?.len();
        let mut reader = BufReader::new(f);
        reader
            .seek(SeekFrom::Start(MAGIC.len() as u64))
            .map_err(io_err("read", backup))?;
        let payload = reader.take(len - TRAILER_LEN - MAGIC.len() as u64);
        let mut gz = flate2::read::GzDecoder::new(payload);
        let mut out = File::create(&restoring).map_err(io_err("create", &restoring))?;
        io::copy(&mut gz, &mut out).map_err(|e| BackupError::Invalid {
            path: backup.to_path_buf(),
            reason: format!("cannot decompress: {e}"),
        })?;
        out.sync_all().map_err(io_err("write", &restoring))?;
        // The store inside opens and reads (and is migrated if older).
        let store = RedbStore::open(&restoring).map_err(|e| BackupError::Invalid {
            path: backup.to_path_buf(),
            reason: e.to_string(),
        })?;
        let books = store.count_books()?;
        store.list_import_paths()?;
        Ok(books)
    })();
    let books = match unpacked {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&restoring);
            return Err(e);
        }
    };
    let mut previous = None;
    if store_path.exists() {
        // Nobody may hold the store being replaced.
        match RedbStore::open(store_path) {
            Ok(s) => drop(s),
            Err(StoreError::Locked { .. }) => {
                let _ = std::fs::remove_file(&restoring);
                return Err(BackupError::StoreInUse(store_path.to_path_buf()));
            }
            // A damaged store is what a restore is for: it is kept aside.
            Err(_) => {}
        }
        let kept = PathBuf::from(format!(
            "{}.before-restore-{}",
            store_path.display(),
            now.unix_timestamp()
        ));
        std::fs::rename(store_path, &kept).map_err(io_err("move aside", store_path))?;
        previous = Some(kept);
    }
    std::fs::rename(&restoring, store_path).map_err(io_err("put in place", store_path))?;
    if let Some(parent) = store_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(Restored { books, previous })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Mutation;

    #[test]
    fn a_backup_restores_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("a.redb")).unwrap();
        store
            .apply(
                &[Mutation::SetMeta {
                    key: "k".into(),
                    value: b"v".to_vec(),
                }],
                true,
            )
            .unwrap();
        let backups = dir.path().join("backups");
        let t = OffsetDateTime::now_utc();
        let (one, _) = create(&store, &backups, 2, t).unwrap();
        verify(Path::new(&one.path)).unwrap();
        for _ in 0..3 {
            create(&store, &backups, 2, t).unwrap();
        }
        let kept = list(&backups).unwrap();
        assert_eq!(kept.len(), 2, "the newest two are kept");
        assert!(
            std::fs::read_dir(&backups).unwrap().count() == 2,
            "no temp files left"
        );
        drop(store);

        // Restored over a store that is not there, and over one that is.
        let target = dir.path().join("restored.redb");
        let r = restore(Path::new(&kept[0].path), &target, t).unwrap();
        assert!(r.previous.is_none());
        let s = RedbStore::open(&target).unwrap();
        assert_eq!(s.get_meta("k").unwrap().as_deref(), Some(&b"v"[..]));
        // In use: refused, nothing replaced.
        let err = restore(Path::new(&kept[0].path), &target, t).unwrap_err();
        assert!(matches!(err, BackupError::StoreInUse(_)), "{err}");
        drop(s);
        let r = restore(Path::new(&kept[0].path), &target, t).unwrap();
        assert!(r.previous.unwrap().exists());

        // One flipped byte anywhere: refused before anything is touched.
        let bytes = std::fs::read(&kept[0].path).unwrap();
        for at in [3, MAGIC.len() + 40, bytes.len() / 2, bytes.len() - 10] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            let damaged = dir.path().join("damaged.aobackup");
            std::fs::write(&damaged, &bad).unwrap();
            let before = std::fs::read(&target).unwrap();
            let err = restore(&damaged, &target, t).unwrap_err();
            assert!(
                matches!(
                    err,
                    BackupError::Damaged { .. } | BackupError::NotABackup(_)
                ),
                "{at}: {err}"
            );
            assert_eq!(std::fs::read(&target).unwrap(), before);
        }
        let err = restore(&dir.path().join("a.redb"), &target, t).unwrap_err();
        assert!(matches!(err, BackupError::NotABackup(_)), "{err}");
    }
}
