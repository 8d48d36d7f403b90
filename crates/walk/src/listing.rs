//! Folder listings as a rescan reuses them: a directory's identity, times
//! and the names it held, in the compact form the store keeps (`PackedDir`)
//! and the walk writes as it reads a folder (`DirPacker`). The store holds
//! these bytes without looking into them.

/// A directory as the last scan listed it. While its identity and change
/// time are the same, its entries are too, so a rescan uses `subdirs` and
/// `files` instead of reading the directory again (the "untracked cache"
/// idea from git). `settled` is false when the directory changed so close
/// to the listing that a later change could carry the same timestamp
/// (coarse clocks, FAT's 2 s); such a listing is never trusted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirRecord {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub settled: bool,
    /// Names of entries that are directories or lead to one.
    pub subdirs: Vec<String>,
    /// Names of entries with an audiobook extension.
    pub files: Vec<String>,
}

/// A `DirRecord` in its stored form: version 1, dev, ino, mtime, ctime,
/// settled, the subdirectory and file name counts (u32), then the names,
/// each with a u16 length. A rescan reads one per folder and uses it in
/// place through `view`, without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedDir(Box<[u8]>);

/// The fields of a `PackedDir`, checked, borrowed from it.
#[derive(Debug, Clone)]
pub struct DirView<'a> {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub settled: bool,
    pub subdirs: Names<'a>,
    pub files: Names<'a>,
}

/// Length-prefixed names, already checked to be whole and UTF-8.
#[derive(Debug, Clone)]
pub struct Names<'a> {
    bytes: &'a [u8],
    left: usize,
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        let (name, rest) = split_name(self.bytes)?;
        self.bytes = rest;
        self.left -= 1;
        Some(name)
    }
}

fn split_name(b: &[u8]) -> Option<(&str, &[u8])> {
    let len = u16::from_le_bytes(b.get(..2)?.try_into().ok()?) as usize;
    let name = std::str::from_utf8(b.get(2..2 + len)?).ok()?;
    Some((name, &b[2 + len..]))
}

const PACKED_HEADER: usize = 42;

/// Builds a `PackedDir` while a directory is read: names go straight into
/// two runs of bytes, with no string per name. Reused from folder to
/// folder (`clear`), so a walk allocates once per folder, for the result.
#[derive(Debug, Default)]
pub struct DirPacker {
    subdirs: Vec<u8>,
    files: Vec<u8>,
    n_subdirs: u32,
    n_files: u32,
    /// Where each name of a run starts and ends, for sorting.
    spans: Vec<(usize, usize)>,
}

fn push_name(run: &mut Vec<u8>, name: &str) {
    // File names are at most 255 bytes (NAME_MAX); never cut one.
    let len = u16::try_from(name.len()).unwrap_or(0);
    run.extend_from_slice(&len.to_le_bytes());
    run.extend_from_slice(&name.as_bytes()[..len as usize]);
}

impl DirPacker {
    pub fn clear(&mut self) {
        self.subdirs.clear();
        self.files.clear();
        self.n_subdirs = 0;
        self.n_files = 0;
    }

    pub fn subdir(&mut self, name: &str) {
        push_name(&mut self.subdirs, name);
        self.n_subdirs += 1;
    }

    pub fn file(&mut self, name: &str) {
        push_name(&mut self.files, name);
        self.n_files += 1;
    }

    /// The record: `head`'s identity, times and settledness with the
    /// names added since `clear` (its own name lists are not used), each
    /// list in byte order: a walk that follows a kept listing then meets
    /// folders and files in the order the store keeps their records, so
    /// its lookups move a step at a time (a directory gives its names in
    /// hash order on ext4, and lookups from there took a binary search).
    pub fn pack(&mut self, head: &DirRecord) -> PackedDir {
        let mut out = Vec::with_capacity(PACKED_HEADER + self.subdirs.len() + self.files.len());
        out.push(1u8);
        out.extend_from_slice(&head.dev.to_le_bytes());
        out.extend_from_slice(&head.ino.to_le_bytes());
        out.extend_from_slice(&head.mtime_ns.to_le_bytes());
        out.extend_from_slice(&head.ctime_ns.to_le_bytes());
        out.push(head.settled as u8);
        out.extend_from_slice(&self.n_subdirs.to_le_bytes());
        out.extend_from_slice(&self.n_files.to_le_bytes());
        sorted_into(&mut out, &self.subdirs, &mut self.spans);
        sorted_into(&mut out, &self.files, &mut self.spans);
        PackedDir(out.into_boxed_slice())
    }
}

/// Appends the length-prefixed names of `run` to `out`, sorted by name.
fn sorted_into(out: &mut Vec<u8>, run: &[u8], spans: &mut Vec<(usize, usize)>) {
    spans.clear();
    let mut at = 0;
    while let Some(len) = run.get(at..at + 2) {
        let end = at + 2 + u16::from_le_bytes([len[0], len[1]]) as usize;
        spans.push((at, end.min(run.len())));
        at = end;
    }
    let name = |&(start, end): &(usize, usize)| &run[start + 2..end];
    if spans.is_sorted_by(|a, b| name(a) <= name(b)) {
        out.extend_from_slice(run);
        return;
    }
    spans.sort_unstable_by(|a, b| name(a).cmp(name(b)));
    for &(start, end) in spans.iter() {
        out.extend_from_slice(&run[start..end]);
    }
}

impl PackedDir {
    pub fn pack(d: &DirRecord) -> Self {
        let mut packer = DirPacker::default();
        d.subdirs.iter().for_each(|n| packer.subdir(n));
        d.files.iter().for_each(|n| packer.file(n));
        packer.pack(d)
    }

    pub fn from_bytes(b: &[u8]) -> Self {
        Self(b.into())
    }

    /// The record as the store returns it.
    pub fn from_boxed(b: Box<[u8]>) -> Self {
        Self(b)
    }

    /// The bytes the store keeps.
    pub fn into_bytes(self) -> Box<[u8]> {
        self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The record's fields, or None if the bytes are not a whole record.
    pub fn view(&self) -> Option<DirView<'_>> {
        let b = &self.0;
        if b.first() != Some(&1) {
            return None;
        }
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
        };
        let u32_at = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let n_subdirs = u32_at(34)?;
        let n_files = u32_at(38)?;
        let names = b.get(PACKED_HEADER..)?;
        // Check every name once, and find where the file names start.
        let mut rest = names;
        let mut files_at = names;
        for i in 0..n_subdirs.checked_add(n_files)? {
            if i == n_subdirs {
                files_at = rest;
            }
            rest = split_name(rest)?.1;
        }
        if n_files == 0 {
            files_at = rest;
        }
        if !rest.is_empty() {
            return None;
        }
        Some(DirView {
            dev: u64_at(1)?,
            ino: u64_at(9)?,
            mtime_ns: u64_at(17)? as i64,
            ctime_ns: u64_at(25)? as i64,
            settled: *b.get(33)? != 0,
            subdirs: Names {
                bytes: names,
                left: n_subdirs,
            },
            files: Names {
                bytes: files_at,
                left: n_files,
            },
        })
    }

    #[cfg(test)]
    fn unpack(&self) -> Option<DirRecord> {
        let v = self.view()?;
        Some(DirRecord {
            dev: v.dev,
            ino: v.ino,
            mtime_ns: v.mtime_ns,
            ctime_ns: v.ctime_ns,
            settled: v.settled,
            subdirs: v.subdirs.map(str::to_string).collect(),
            files: v.files.map(str::to_string).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_records_round_trip() {
        let d = DirRecord {
            dev: 2049,
            ino: u64::MAX - 3,
            mtime_ns: -5,
            ctime_ns: 1_700_000_000_123_456_789,
            settled: true,
            subdirs: vec!["Book One".into(), "ünïcode".into()],
            files: vec![String::new(), "01.mp3".into(), "b.m4b".into()],
        };
        assert_eq!(PackedDir::pack(&d).unpack(), Some(d));
        let only_files = DirRecord {
            files: vec!["a.mp3".into()],
            ..Default::default()
        };
        assert_eq!(PackedDir::pack(&only_files).unpack(), Some(only_files));
        let empty = DirRecord::default();
        assert_eq!(PackedDir::pack(&empty).unpack(), Some(empty));
    }

    #[test]
    fn a_reused_packer_holds_only_the_names_since_it_was_cleared() {
        let mut packer = DirPacker::default();
        packer.subdir("old");
        packer.file("old.mp3");
        packer.clear();
        packer.file("b.m4b");
        packer.subdir("Book");
        packer.file("c.mp3");
        let head = DirRecord {
            dev: 7,
            ino: 9,
            settled: true,
            ..Default::default()
        };
        let expected = DirRecord {
            subdirs: vec!["Book".into()],
            files: vec!["b.m4b".into(), "c.mp3".into()],
            ..head.clone()
        };
        assert_eq!(packer.pack(&head).unpack(), Some(expected));
    }

    #[test]
    fn names_are_kept_in_byte_order_whatever_order_they_were_read_in() {
        let mut packer = DirPacker::default();
        for name in ["book10", "Book", "book02", "ä", "book1", "book02x"] {
            packer.subdir(name);
        }
        for name in ["z.mp3", "a.m4b", "M.flac"] {
            packer.file(name);
        }
        let view = packer.pack(&DirRecord::default()).unpack().unwrap();
        assert_eq!(
            view.subdirs,
            ["Book", "book02", "book02x", "book1", "book10", "ä"]
        );
        assert_eq!(view.files, ["M.flac", "a.m4b", "z.mp3"]);
    }

    #[test]
    fn truncated_padded_or_foreign_records_do_not_view() {
        let packed = PackedDir::pack(&DirRecord {
            subdirs: vec!["a".into()],
            files: vec!["b.mp3".into()],
            ..Default::default()
        });
        let bytes = packed.as_bytes();
        for cut in 0..bytes.len() {
            assert!(
                PackedDir::from_bytes(&bytes[..cut]).view().is_none(),
                "cut at {cut}"
            );
        }
        let mut padded = bytes.to_vec();
        padded.push(0);
        assert!(PackedDir::from_bytes(&padded).view().is_none());
        let mut huge = bytes.to_vec();
        huge[34..38].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(PackedDir::from_bytes(&huge).view().is_none());
        let mut not_utf8 = bytes.to_vec();
        let at = not_utf8.len() - 1;
        not_utf8[at] = 0xff;
        assert!(PackedDir::from_bytes(&not_utf8).view().is_none());
    }
}
