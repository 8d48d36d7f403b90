//! Writes a scan collects in memory, applied in batches on a thread of
//! their own, with lookups that see them before they are committed.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fast_map::FastMap;
use crate::ops::JobError;
use crate::store::{Book, FileRecord, FileRole, Mutation, Store, StoreResult};

use super::LOOKUP_CHUNK;

/// Pending books and file records written per transaction, at first:
/// about 2,500 single-file books, ~2 MB in memory. Small enough that most
/// commits happen while files are still being read (one big commit at the
/// end ran alone on one core), large enough that commit overhead stays
/// small.
const FLUSH_EVERY: usize = 5_000;
/// ... growing with the content this scan has indexed (half as many
/// records as index entries it wrote: a quarter as many new files), up to
/// this. New content lands at random places in the hash index, so each
/// commit rewrites pages all over it; commits that grow with the index
/// keep a large first import's writes close to proportional to its size
/// (100,000 files: store writes −15–20 %, the scan −7–12 %). Up to 10,000 new
/// files nothing changes.
const FLUSH_MAX: usize = 20_000;

/// Collected writes, moved out of `Pending` in one piece.
#[derive(Default)]
struct Batch {
    books: Vec<Book>,
    hashes: Vec<(String, String)>,
    other: Vec<Mutation>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.books.is_empty() && self.hashes.is_empty() && self.other.is_empty()
    }

    /// The mutations, each table's in key order: B-tree inserts in order
    /// touch each page once.
    fn into_mutations(mut self) -> Vec<Mutation> {
        self.books.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        self.hashes.sort_unstable();
        let mut out = Vec::with_capacity(self.books.len() + self.hashes.len() + self.other.len());
        out.extend(self.books.into_iter().map(Mutation::PutBook));
        out.extend(
            self.hashes
                .into_iter()
                .map(|(hash, book_id)| Mutation::PutHash { hash, book_id }),
        );
        out.append(&mut self.other);
        out
    }
}

/// A batch being applied on its own thread, with the index entries it
/// writes, so lookups see them before the commit.
struct Writing {
    done: JoinHandle<StoreResult<Duration>>,
    hashes: FastMap<String, String>,
}

/// Writes collected in memory and applied in batches; lookups see them.
/// One batch at a time is written on a thread of its own while the next is
/// built: once the last file is read, building and writing use both cores.
pub(super) struct Pending {
    /// Shared with the writing thread.
    store: Arc<dyn Store>,
    writing: Option<Writing>,
    pub(super) books: FastMap<String, Book>,
    pub(super) hashes: FastMap<String, String>,
    pub(super) other: Vec<Mutation>,
    /// Store answers fetched in bulk ahead of use.
    known_hashes: FastMap<String, Option<String>>,
    /// Set while every hash in the store is one this scan wrote (the index
    /// was empty when it started: a first import). `known_hashes` then
    /// keeps every hash written, and a hash not among them is new without
    /// asking the store: 10,000 lookups a first scan of 10,000 files no
    /// longer makes. Cleared for good once the index holds any other.
    only_own_hashes: bool,
    /// Files known before the scan, by folder, for the folders where new
    /// files were found: the books they belong to are the ones new parts
    /// may join.
    known_in_dirs: FastMap<String, Vec<String>>,
    /// Time spent applying and committing batches (on whichever thread),
    /// reported in the summary's details.
    pub(super) commit_time: Duration,
    /// Hash index entries handed to the store so far.
    indexed: usize,
}

impl Drop for Pending {
    /// A scan that stops early still waits for the batch it handed over.
    fn drop(&mut self) {
        let _ = self.finish_writing();
    }
}

impl Pending {
    pub(super) fn new(
        store: Arc<dyn Store>,
        known_in_dirs: FastMap<String, Vec<String>>,
    ) -> StoreResult<Self> {
        let only_own_hashes = store.count_hashes()? == 0;
        Ok(Self {
            store,
            writing: None,
            books: FastMap::default(),
            hashes: FastMap::default(),
            other: Vec::new(),
            known_hashes: FastMap::default(),
            only_own_hashes,
            known_in_dirs,
            commit_time: Duration::ZERO,
            indexed: 0,
        })
    }

    /// Owners of `hashes` in the store, fetched in chunks, replacing what
    /// was fetched before: answers for this batch only. Nothing to fetch
    /// while the store holds only hashes this scan wrote: one count says
    /// so (the batch being written may or may not be in yet).
    pub(super) fn prefetch_hashes(&mut self, hashes: &[&str]) -> Result<(), JobError> {
        if self.only_own_hashes {
            let own = self.known_hashes.len() as u64;
            let in_flight = self.writing.as_ref().map_or(0, |w| w.hashes.len() as u64);
            let count = self.store.count_hashes()?;
            if count == own || count == own + in_flight {
                return Ok(());
            }
            // Another operation indexed content meanwhile: ask the store.
            self.only_own_hashes = false;
        }
        self.known_hashes.clear();
        for chunk in hashes.chunks(LOOKUP_CHUNK) {
            for (h, owner) in chunk.iter().zip(self.store.get_hashes(chunk)?) {
                self.known_hashes.insert(h.to_string(), owner);
            }
        }
        Ok(())
    }

    /// A book to change: from what is pending, else from the store (once
    /// the batch being written, which may hold it, is in).
    pub(super) fn book(&mut self, id: &str) -> Result<Option<&mut Book>, JobError> {
        if !self.books.contains_key(id) {
            self.finish_writing()?;
            match self.store.get_book(id)? {
                Some(b) => {
                    self.books.insert(id.to_string(), b);
                }
                None => return Ok(None),
            }
        }
        Ok(self.books.get_mut(id))
    }

    /// The book that has content `hash`: pending, being written, as
    /// prefetched, else as the store says.
    pub(super) fn hash_owner(&self, hash: &str) -> Result<Option<String>, JobError> {
        let writing = self.writing.as_ref().and_then(|w| w.hashes.get(hash));
        if let Some(id) = self.hashes.get(hash).or(writing) {
            return Ok(Some(id.clone()));
        }
        match self.known_hashes.get(hash) {
            Some(owner) => Ok(owner.clone()),
            None if self.only_own_hashes => Ok(None),
            None => Ok(self.store.get_hash(hash)?),
        }
    }

    /// The book a new part in `dir` with group key `key` joins: one made
    /// from files of that folder known before this scan. (Within a scan a
    /// folder is built in one batch, where parts are grouped in memory.)
    pub(super) fn group_owner(&mut self, dir: &str, key: &str) -> Result<Option<String>, JobError> {
        let Some(paths) = self.known_in_dirs.get(dir) else {
            return Ok(None);
        };
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let mut ids: Vec<String> = self
            .store
            .get_files(&paths)?
            .into_iter()
            .flatten()
            .filter(|r| r.role == FileRole::Source)
            .map(|r| r.book_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if self.book(&id)?.is_some_and(|b| {
                let family = b.files.first().map_or("other", |f| {
                    super::group::format_family(std::path::Path::new(&f.path))
                });
                b.source_dir == dir && super::group::same_group(&b.group_key, key, family)
            }) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    pub(super) fn put_file(&mut self, path: &str, record: FileRecord) {
        self.other.push(Mutation::PutFile {
            path: path.to_string(),
            record,
        });
    }

    pub(super) fn len(&self) -> usize {
        self.books.len() + self.other.len()
    }

    /// Whether enough is pending for a transaction of its own.
    pub(super) fn due(&self) -> bool {
        self.len() >= (self.indexed / 2).clamp(FLUSH_EVERY, FLUSH_MAX)
    }

    fn take(&mut self) -> Batch {
        Batch {
            books: self.books.drain().map(|(_, b)| b).collect(),
            hashes: self.hashes.drain().collect(),
            other: std::mem::take(&mut self.other),
        }
    }

    /// Waits for the batch being written, if any.
    fn finish_writing(&mut self) -> Result<(), JobError> {
        if let Some(w) = self.writing.take() {
            let took = w.done.join().unwrap_or_else(|p| {
                Err(crate::store::StoreError::WriterPanicked(
                    crate::ops::queue::panic_message(&*p),
                ))
            })?;
            self.commit_time += took;
            // Answers prefetched before it was in stay true from now on.
            for (hash, book_id) in w.hashes {
                self.known_hashes.insert(hash, Some(book_id));
            }
        }
        Ok(())
    }

    /// Hands everything pending to the writing thread, after the batch
    /// before it is in; `durable` writes it here and waits (the scan's last
    /// write: everything is on disk when it returns). Every batch is a
    /// durable commit, so with nothing left there is nothing to sync.
    pub(super) fn flush(&mut self, durable: bool) -> Result<(), JobError> {
        self.finish_writing()?;
        self.indexed += self.hashes.len();
        let batch = self.take();
        if durable {
            if !batch.is_empty() {
                let started = Instant::now();
                self.store.apply(&batch.into_mutations(), true)?;
                self.commit_time += started.elapsed();
            }
            return Ok(());
        }
        if batch.is_empty() {
            return Ok(());
        }
        let hashes = batch.hashes.iter().cloned().collect();
        let store = self.store.clone();
        let done = std::thread::Builder::new()
            .name("scan-write".into())
            .spawn(move || {
                let started = Instant::now();
                store.apply(&batch.into_mutations(), true)?;
                Ok(started.elapsed())
            })
            .map_err(JobError::io("cannot start the store writer"))?;
        self.writing = Some(Writing { done, hashes });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbStore;

    fn hash_of(i: u8) -> String {
        format!("{i:02x}").repeat(32)
    }

    #[test]
    fn transactions_grow_with_the_content_the_scan_has_indexed_up_to_a_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("s.redb")).unwrap());
        let mut pending = Pending::new(store, FastMap::default()).unwrap();
        let size_due = |p: &mut Pending| {
            p.other.clear();
            while !p.due() {
                p.other.push(Mutation::DeleteDir(String::new()));
            }
            p.len()
        };
        assert_eq!(size_due(&mut pending), FLUSH_EVERY, "at first");
        pending.indexed = 10_000;
        assert_eq!(
            size_due(&mut pending),
            FLUSH_EVERY,
            "up to 10,000 new files"
        );
        pending.indexed = 30_000;
        assert_eq!(size_due(&mut pending), 15_000, "half the entries indexed");
        pending.indexed = 10_000_000;
        assert_eq!(size_due(&mut pending), FLUSH_MAX, "never more than the cap");
        // The index entries a flush hands over count.
        pending.other.clear();
        pending.indexed = 0;
        pending.hashes.insert(hash_of(1), "B".into());
        let record = FileRecord {
            book_id: "B".into(),
            size: 1,
            mtime_ns: 1,
            hash: hash_of(1),
            role: FileRole::Source,
            missing: false,
        };
        pending.put_file("/a.mp3", record);
        pending.flush(true).unwrap();
        assert_eq!((pending.indexed, pending.len()), (1, 0));
    }

    #[test]
    fn a_first_import_answers_from_its_own_writes_until_other_content_is_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("s.redb")).unwrap());
        let mut pending = Pending::new(store.clone(), FastMap::default()).unwrap();
        assert!(pending.only_own_hashes, "an empty index");
        let owner = |p: &Pending, i: u8| p.hash_owner(&hash_of(i)).unwrap();

        // This scan's own writes, one of them possibly still in flight.
        pending.hashes.insert(hash_of(1), "BOOK1".into());
        pending.flush(false).unwrap();
        pending.hashes.insert(hash_of(2), "BOOK2".into());
        pending.flush(false).unwrap();
        pending.prefetch_hashes(&[&hash_of(3)]).unwrap();
        assert!(pending.only_own_hashes, "only its own hashes are in");
        assert_eq!(owner(&pending, 1).as_deref(), Some("BOOK1"));
        assert_eq!(owner(&pending, 2).as_deref(), Some("BOOK2"));
        assert_eq!(owner(&pending, 3), None);

        // Another operation indexes content: from now on the store is asked.
        pending.flush(true).unwrap();
        store
            .apply(
                &[Mutation::PutHash {
                    hash: hash_of(9),
                    book_id: "OTHER".into(),
                }],
                true,
            )
            .unwrap();
        pending.prefetch_hashes(&[&hash_of(9)]).unwrap();
        assert!(!pending.only_own_hashes);
        assert_eq!(owner(&pending, 9).as_deref(), Some("OTHER"));
        assert_eq!(owner(&pending, 1).as_deref(), Some("BOOK1"));

        // A scan starting on a store with content asks it from the start.
        let later = Pending::new(store.clone(), FastMap::default()).unwrap();
        assert!(!later.only_own_hashes);
    }
}
