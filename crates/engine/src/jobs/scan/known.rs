//! What the last scan left behind: folder listings and file stamps, read
//! in pages at the start of a scan; and the listings this scan keeps.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::fast_map::SortedMap;
use crate::ops::JobError;
use crate::store::{FileRecord, FileStamp, Mutation, Store, StoreResult};
use ao_walk::PackedDir;

use super::pending::Pending;
use super::walk::KnownDirs;
use super::{LOOKUP_CHUNK, path_str};

/// Records per range read.
const PAGE: usize = 4096;

/// Keeps this scan's listings for the next one, and forgets directories
/// that are gone (with everything under them).
pub(super) fn keep_listings(
    pending: &mut Pending,
    known: &KnownDirs,
    mut listed: Vec<(String, PackedDir)>,
) {
    // In key order: B-tree inserts in order touch each page once (the
    // walk's threads list folders in no useful order).
    listed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut gone: HashSet<String> = HashSet::new();
    for (key, record) in listed {
        let old = known.get(&key).and_then(|p| p.view());
        if let (Some(old), Some(now)) = (old, record.view()) {
            let now: HashSet<&str> = now.subdirs.collect();
            gone.extend(
                old.subdirs
                    .filter(|n| !now.contains(n))
                    .map(|name| format!("{key}/{name}")),
            );
        }
        pending.other.push(Mutation::PutDir {
            path: key,
            record: record.into_bytes(),
        });
    }
    if gone.is_empty() {
        return;
    }
    // A kept listing goes when it, or a folder above it, is gone.
    for key in known.keys() {
        let mut at = Some(Path::new(key));
        while let Some(p) = at {
            if p.to_str().is_some_and(|p| gone.contains(p)) {
                pending.other.push(Mutation::DeleteDir(key.to_string()));
                break;
            }
            at = p.parent();
        }
    }
}

/// Every record a paged range read gives, page after page, into `each`.
fn each_page<T>(
    fetch: impl Fn(Option<&str>, &mut dyn FnMut(&str, T)) -> StoreResult<usize>,
    mut each: impl FnMut(&str, T),
) -> Result<(), JobError> {
    let mut after: Option<String> = None;
    let mut last = String::new();
    loop {
        let mut keep = |key: &str, value: T| {
            last.clear();
            last.push_str(key);
            each(key, value);
        };
        if fetch(after.as_deref(), &mut keep)? < PAGE {
            return Ok(());
        }
        after = Some(last.clone());
    }
}

/// The listings kept under `roots` (each root and everything below it).
pub(super) fn load_known_dirs(store: &dyn Store, roots: &[PathBuf]) -> Result<KnownDirs, JobError> {
    let mut all = KnownDirs::default();
    for root in roots {
        let Some(root) = path_str(root) else { continue };
        let below = format!("{}/", root.trim_end_matches('/'));
        each_page(
            |after, each| store.dirs_under(&root, after, PAGE, each),
            // Names that only start like the root ("/a/bc" for "/a/b")
            // are another folder's.
            |key, dir| {
                if key == root || key.starts_with(&below) {
                    all.push(key, PackedDir::from_boxed(dir));
                }
            },
        )?;
    }
    Ok(all.finish())
}

/// What tells a change, for every known file, each with a "seen by this
/// walk" flag (set from the walk's threads).
pub(super) type Stamps = SortedMap<(FileStamp, AtomicBool)>;

/// The stamps of every known file under `roots`.
pub(super) fn load_stamps(store: &dyn Store, roots: &[PathBuf]) -> Result<Stamps, JobError> {
    let mut all = Stamps::default();
    for root in roots {
        let Some(root) = path_str(root) else { continue };
        let below = format!("{}/", root.trim_end_matches('/'));
        each_page(
            |after, each| store.file_stamps_under(&below, after, PAGE, each),
            |key, stamp| all.push(key, (stamp, AtomicBool::new(false))),
        )?;
    }
    Ok(all.finish())
}

/// Full records of `paths`, in order, looked up in chunks.
pub(super) fn get_records(
    store: &dyn Store,
    paths: &[&str],
) -> Result<Vec<Option<FileRecord>>, JobError> {
    let mut out = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(LOOKUP_CHUNK) {
        out.extend(store.get_files(chunk)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FileRole, RedbStore};
    use ao_walk::DirRecord;

    /// More records than one page holds, under the root and beside it.
    #[test]
    fn the_last_scans_records_load_page_after_page_and_only_from_under_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        let n = 2 * PAGE + 7;
        let file = |i: usize| FileRecord {
            book_id: format!("B{i}"),
            size: i as u64,
            mtime_ns: 1,
            hash: String::new(),
            role: FileRole::Source,
            missing: false,
        };
        let mut batch = Vec::new();
        for i in 0..n {
            batch.push(Mutation::PutFile {
                path: format!("/lib/a{:02}/{i:05}.mp3", i % 37),
                record: file(i),
            });
            batch.push(Mutation::PutDir {
                path: format!("/lib/a{:02}/b{i:05}", i % 37),
                record: PackedDir::pack(&DirRecord::default()).into_bytes(),
            });
        }
        for other in ["/lib2/x.mp3", "/libx/y.mp3", "/li/z.mp3"] {
            batch.push(Mutation::PutFile {
                path: other.into(),
                record: file(0),
            });
        }
        for other in ["/lib", "/lib2", "/libx/sub", "/li"] {
            batch.push(Mutation::PutDir {
                path: other.into(),
                record: PackedDir::pack(&DirRecord::default()).into_bytes(),
            });
        }
        store.apply(&batch, true).unwrap();

        let roots = [PathBuf::from("/lib")];
        let stamps = load_stamps(&store, &roots).unwrap();
        assert_eq!(stamps.len(), n, "every file under /lib, none beside it");
        let keys: Vec<&str> = stamps.keys().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| k.starts_with("/lib/a")));
        let (stamp, _) = stamps.get("/lib/a04/04000.mp3").unwrap();
        assert_eq!(stamp.size, 4000);

        let dirs = load_known_dirs(&store, &roots).unwrap();
        assert_eq!(dirs.len(), n + 1, "the root and every folder below it");
        assert!(dirs.get("/lib").is_some());
        assert!(dirs.get("/lib2").is_none() && dirs.get("/libx/sub").is_none());

        // Two roots, one inside the other: each record once.
        let nested = [PathBuf::from("/lib/a05"), PathBuf::from("/lib")];
        assert_eq!(load_stamps(&store, &nested).unwrap().len(), n);
        assert_eq!(load_known_dirs(&store, &nested).unwrap().len(), n + 1);
    }
}
