//! Books in a compact binary layout: a first scan writes one per book, and
//! the bytes written are most of its store time. About a third of the JSON
//! size: no field names, hashes as 32 raw bytes, part paths relative to the
//! book's folder, the id left to the key.
//!
//! Layout (version 2; a record starting with `{` is the JSON of older
//! builds and still reads): a presence bitmap of the optional fields, then
//! the fields in declaration order. Lengths and integers are LEB128
//! varints, signed ones zigzag-encoded; `f64` as 8 little-endian bytes.

use time::{OffsetDateTime, UtcOffset};

use super::super::*;
use crate::book_edit::{LockedFields, ProvenanceMap};
use crate::hash::to_hex;

const VERSION: u8 = 2;

// Presence bits of the optional fields.
const ALBUM: u32 = 1;
const NARRATOR: u32 = 1 << 1;
const SERIES: u32 = 1 << 2;
const SERIES_INDEX: u32 = 1 << 3;
const YEAR: u32 = 1 << 4;
const ISBN: u32 = 1 << 5;
const DESCRIPTION: u32 = 1 << 6;
const COVER_URL: u32 = 1 << 7;
const CODEC: u32 = 1 << 8;
const BITRATE: u32 = 1 << 9;
const ORGANIZED_DIR: u32 = 1 << 10;
const DELETED: u32 = 1 << 11;
/// `file_hash` differs from the first part's hash (never, as scans write).
const OWN_FILE_HASH: u32 = 1 << 12;
// Lists added later: written after everything else, present only when set,
// so records of earlier builds read unchanged.
const AUTHORS: u32 = 1 << 13;
const NARRATORS: u32 = 1 << 14;
const EDITIONS: u32 = 1 << 15;
const ASIN: u32 = 1 << 16;
const COVER: u32 = 1 << 17;
const LANGUAGE: u32 = 1 << 18;
const PUBLISHER: u32 = 1 << 19;
const GENRES: u32 = 1 << 20;
/// Provenance: a nibble per field (6 bytes), a count, then (field code,
/// source name) pairs for sources without a code of their own.
const PROVENANCE: u32 = 1 << 21;
/// Locked fields: a count, then field codes.
const LOCKED: u32 = 1 << 22;

// Presence bits of a part's optional fields.
const TRACK: u8 = 1;
const DISC: u8 = 1 << 1;
const ORGANIZED_PATH: u8 = 1 << 2;
const ORGANIZED_HASH: u8 = 1 << 3;

pub(super) fn encode_book(b: &Book) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(256));
    let mut present = 0;
    for (bit, set) in [
        (ALBUM, b.album.is_some()),
        (NARRATOR, b.narrator.is_some()),
        (SERIES, b.series.is_some()),
        (SERIES_INDEX, b.series_index.is_some()),
        (YEAR, b.year.is_some()),
        (ISBN, b.isbn.is_some()),
        (DESCRIPTION, b.description.is_some()),
        (COVER_URL, b.cover_url.is_some()),
        (CODEC, b.codec.is_some()),
        (BITRATE, b.bitrate_kbps.is_some()),
        (ORGANIZED_DIR, b.organized_dir.is_some()),
        (DELETED, b.deleted),
        (
            OWN_FILE_HASH,
            b.files.first().map(|f| f.hash.as_str()) != Some(b.file_hash.as_str()),
        ),
        (AUTHORS, !b.authors.is_empty()),
        (NARRATORS, !b.narrators.is_empty()),
        (EDITIONS, !b.editions.is_empty()),
        (ASIN, b.asin.is_some()),
        (COVER, b.cover.is_some()),
        (LANGUAGE, b.language.is_some()),
        (PUBLISHER, b.publisher.is_some()),
        (GENRES, !b.genres.is_empty()),
        (PROVENANCE, !b.provenance.is_empty()),
        (LOCKED, !b.locked.is_empty()),
    ] {
        if set {
            present |= bit;
        }
    }
    w.byte(VERSION);
    w.uint(present as u64);
    w.str(&b.title);
    w.str(&b.author);
    for s in [&b.album, &b.narrator, &b.series, &b.series_index]
        .into_iter()
        .flatten()
    {
        w.str(s);
    }
    if let Some(y) = b.year {
        w.int(y as i64);
    }
    for s in [&b.isbn, &b.description, &b.cover_url, &b.codec]
        .into_iter()
        .flatten()
    {
        w.str(s);
    }
    if let Some(k) = b.bitrate_kbps {
        w.uint(k as u64);
    }
    if let Some(d) = &b.organized_dir {
        w.str(d);
    }
    w.f64(b.duration_secs);
    w.byte(match b.status {
        BookStatus::Imported => 0,
        BookStatus::Organized => 1,
        BookStatus::Missing => 2,
    });
    w.str(&b.source_dir);
    w.str(&b.group_key);
    w.uint(b.files.len() as u64);
    for f in &b.files {
        let mut bits = 0;
        for (bit, set) in [
            (TRACK, f.track.is_some()),
            (DISC, f.disc.is_some()),
            (ORGANIZED_PATH, f.organized_path.is_some()),
            (ORGANIZED_HASH, f.organized_hash.is_some()),
        ] {
            if set {
                bits |= bit;
            }
        }
        w.byte(bits);
        w.path(&f.path, &b.source_dir);
        w.uint(f.size);
        w.int(f.mtime_ns);
        w.hash(&f.hash);
        w.f64(f.duration_secs);
        if let Some(t) = f.track {
            w.uint(t as u64);
        }
        if let Some(d) = f.disc {
            w.uint(d as u64);
        }
        if let Some(p) = &f.organized_path {
            w.str(p);
        }
        if let Some(h) = &f.organized_hash {
            w.hash(h);
        }
    }
    if present & OWN_FILE_HASH != 0 {
        w.hash(&b.file_hash);
    }
    w.uint(b.duplicates.len() as u64);
    for d in &b.duplicates {
        w.str(d);
    }
    w.time(b.created_at);
    w.time(b.updated_at);
    for list in [&b.authors, &b.narrators, &b.editions] {
        if !list.is_empty() {
            w.uint(list.len() as u64);
            for s in list {
                w.str(s);
            }
        }
    }
    if let Some(a) = &b.asin {
        w.str(a);
    }
    if let Some(c) = &b.cover {
        w.byte(match c.source {
            CoverSource::File => 0,
            CoverSource::Embedded => 1,
        });
        w.path(&c.path, &b.source_dir);
    }
    for s in [&b.language, &b.publisher].into_iter().flatten() {
        w.str(s);
    }
    if !b.genres.is_empty() {
        w.uint(b.genres.len() as u64);
        for g in &b.genres {
            w.str(g);
        }
    }
    if !b.provenance.is_empty() {
        let (packed, other) = b.provenance.codes();
        w.0.extend_from_slice(&packed);
        w.uint(other.len() as u64);
        for (field, name) in other {
            w.byte(field.code());
            w.str(name);
        }
    }
    if !b.locked.is_empty() {
        w.uint(b.locked.len() as u64);
        for field in &b.locked {
            w.byte(field.code());
        }
    }
    w.0
}

/// A book stored under `id`, in either layout.
pub(super) fn decode_book(id: &str, bytes: &[u8]) -> StoreResult<Book> {
    if bytes.first() == Some(&b'{') {
        return super::codec::decode(id, bytes);
    }
    let corrupt = |what: &str| StoreError::Corrupt {
        key: id.to_string(),
        reason: format!("bad book record: {what}"),
    };
    let mut r = Reader { b: bytes, at: 0 };
    read_book(&mut r, id).map_err(corrupt)
}

fn read_book(r: &mut Reader<'_>, id: &str) -> Result<Book, &'static str> {
    if r.byte()? != VERSION {
        return Err("unknown version");
    }
    let present = u32::try_from(r.uint()?).map_err(|_| "bad flags")?;
    let has = |bit: u32| present & bit != 0;
    let title = r.string()?;
    let author = r.string()?;
    let album = r.opt(has(ALBUM), Reader::string)?;
    let narrator = r.opt(has(NARRATOR), Reader::string)?;
    let series = r.opt(has(SERIES), Reader::string)?;
    let series_index = r.opt(has(SERIES_INDEX), Reader::string)?;
    let year = r.opt(has(YEAR), Reader::small_int)?;
    let isbn = r.opt(has(ISBN), Reader::string)?;
    let description = r.opt(has(DESCRIPTION), Reader::string)?;
    let cover_url = r.opt(has(COVER_URL), Reader::string)?;
    let codec = r.opt(has(CODEC), Reader::string)?;
    let bitrate_kbps = r.opt(has(BITRATE), Reader::small_uint)?;
    let organized_dir = r.opt(has(ORGANIZED_DIR), Reader::string)?;
    let duration_secs = r.f64()?;
    let status = match r.byte()? {
        0 => BookStatus::Imported,
        1 => BookStatus::Organized,
        2 => BookStatus::Missing,
        _ => return Err("bad status"),
    };
    let source_dir = r.string()?;
    let group_key = r.string()?;
    let count = r.uint()? as usize;
    // Every part takes at least 20 bytes: a count beyond that is corrupt.
    if count > r.b.len() / 20 + 1 {
        return Err("bad part count");
    }
    let mut files = Vec::with_capacity(count);
    for _ in 0..count {
        let bits = r.byte()?;
        let path = r.path(&source_dir)?;
        let size = r.uint()?;
        let mtime_ns = r.int()?;
        let hash = r.hash()?;
        let duration_secs = r.f64()?;
        let track = r.opt(bits & TRACK != 0, Reader::small_uint)?;
        let disc = r.opt(bits & DISC != 0, Reader::small_uint)?;
        let organized_path = r.opt(bits & ORGANIZED_PATH != 0, Reader::string)?;
        let organized_hash = r.opt(bits & ORGANIZED_HASH != 0, Reader::hash)?;
        files.push(BookFile {
            path,
            size,
            mtime_ns,
            hash,
            duration_secs,
            track,
            disc,
            organized_path,
            organized_hash,
        });
    }
    let file_hash = match r.opt(has(OWN_FILE_HASH), Reader::hash)? {
        Some(h) => h,
        None => files.first().map(|f| f.hash.clone()).unwrap_or_default(),
    };
    let count = r.uint()? as usize;
    if count > r.b.len() {
        return Err("bad duplicate count");
    }
    let mut duplicates = Vec::with_capacity(count);
    for _ in 0..count {
        duplicates.push(r.string()?);
    }
    let created_at = r.time()?;
    let updated_at = r.time()?;
    let mut lists = [Vec::new(), Vec::new(), Vec::new()];
    for (bit, list) in [AUTHORS, NARRATORS, EDITIONS]
        .into_iter()
        .zip(lists.iter_mut())
    {
        if has(bit) {
            let count = r.uint()? as usize;
            if count > r.b.len() {
                return Err("bad list count");
            }
            for _ in 0..count {
                list.push(r.string()?);
            }
        }
    }
    let [authors, narrators, editions] = lists;
    let asin = r.opt(has(ASIN), Reader::string)?;
    let cover = match has(COVER) {
        false => None,
        true => {
            let source = match r.byte()? {
                0 => CoverSource::File,
                1 => CoverSource::Embedded,
                _ => return Err("bad cover source"),
            };
            let path = r.path(&source_dir)?;
            Some(Cover { source, path })
        }
    };
    let language = r.opt(has(LANGUAGE), Reader::string)?;
    let publisher = r.opt(has(PUBLISHER), Reader::string)?;
    let mut genres = Vec::new();
    if has(GENRES) {
        let count = r.count()?;
        for _ in 0..count {
            genres.push(r.string()?);
        }
    }
    let provenance = if has(PROVENANCE) {
        let packed: [u8; 6] = r.take(6)?.try_into().map_err(|_| "truncated")?;
        let mut other = Vec::new();
        for _ in 0..r.count()? {
            let field = BookField::from_code(r.byte()?).ok_or("bad field")?;
            other.push((field, r.string()?));
        }
        ProvenanceMap::from_codes(packed, other).ok_or("bad provenance")?
    } else {
        ProvenanceMap::new()
    };
    let mut locked = LockedFields::new();
    if has(LOCKED) {
        for _ in 0..r.count()? {
            locked.insert(BookField::from_code(r.byte()?).ok_or("bad field")?);
        }
    }
    if r.at != r.b.len() {
        return Err("trailing bytes");
    }
    Ok(Book {
        id: id.to_string(),
        title,
        author,
        authors,
        album,
        narrator,
        narrators,
        series,
        series_index,
        year,
        isbn,
        asin,
        description,
        language,
        publisher,
        genres,
        provenance,
        locked,
        cover_url,
        cover,
        duration_secs,
        codec,
        bitrate_kbps,
        status,
        deleted: has(DELETED),
        source_dir,
        group_key,
        files,
        file_hash,
        duplicates,
        editions,
        organized_dir,
        created_at,
        updated_at,
    })
}

struct Writer(Vec<u8>);

impl Writer {
    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }
    fn uint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn int(&mut self, v: i64) {
        self.uint(((v << 1) ^ (v >> 63)) as u64);
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    /// A part's path: relative to the book's folder when inside it (0),
    /// else whole (1).
    fn path(&mut self, path: &str, dir: &str) {
        match path
            .strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|_| !dir.is_empty())
        {
            Some(rest) => {
                self.byte(0);
                self.str(rest);
            }
            None => {
                self.byte(1);
                self.str(path);
            }
        }
    }
    /// A SHA-256 in lowercase hex as its 32 bytes (0), anything else as
    /// text (1).
    fn hash(&mut self, h: &str) {
        let raw = h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        if raw {
            self.byte(0);
            for pair in h.as_bytes().chunks_exact(2) {
                let nibble = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
                self.byte(nibble(pair[0]) << 4 | nibble(pair[1]));
            }
        } else {
            self.byte(1);
            self.str(h);
        }
    }
    fn time(&mut self, t: OffsetDateTime) {
        let nanos = t.unix_timestamp_nanos();
        // Any time a record holds fits i64 nanoseconds (years 1678..2262).
        self.int(nanos.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
        self.int(t.offset().whole_seconds() as i64);
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, &'static str> {
        let b = *self.b.get(self.at).ok_or("truncated")?;
        self.at += 1;
        Ok(b)
    }
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        let end = self.at.checked_add(n).ok_or("truncated")?;
        let s = self.b.get(self.at..end).ok_or("truncated")?;
        self.at = end;
        Ok(s)
    }
    fn uint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("bad number")
    }
    fn int(&mut self) -> Result<i64, &'static str> {
        let v = self.uint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }
    fn small_uint(&mut self) -> Result<u32, &'static str> {
        u32::try_from(self.uint()?).map_err(|_| "bad number")
    }
    fn small_int(&mut self) -> Result<i32, &'static str> {
        i32::try_from(self.int()?).map_err(|_| "bad number")
    }
    /// A field that is there only when its presence bit is set.
    fn opt<T>(
        &mut self,
        present: bool,
        read: impl FnOnce(&mut Self) -> Result<T, &'static str>,
    ) -> Result<Option<T>, &'static str> {
        if present {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }
    /// A list's length, no more than the bytes left could hold.
    fn count(&mut self) -> Result<usize, &'static str> {
        let n = self.uint()? as usize;
        if n > self.b.len() - self.at {
            return Err("bad list count");
        }
        Ok(n)
    }
    fn f64(&mut self) -> Result<f64, &'static str> {
        let b = self.take(8)?;
        Ok(f64::from_le_bytes(b.try_into().map_err(|_| "truncated")?))
    }
    fn string(&mut self) -> Result<String, &'static str> {
        let n = usize::try_from(self.uint()?).map_err(|_| "truncated")?;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| "bad text")
    }
    fn path(&mut self, dir: &str) -> Result<String, &'static str> {
        match self.byte()? {
            0 => {
                let rest = self.string()?;
                Ok(format!("{dir}/{rest}"))
            }
            1 => self.string(),
            _ => Err("bad path"),
        }
    }
    fn hash(&mut self) -> Result<String, &'static str> {
        match self.byte()? {
            0 => Ok(to_hex(self.take(32)?)),
            1 => self.string(),
            _ => Err("bad hash"),
        }
    }
    fn time(&mut self) -> Result<OffsetDateTime, &'static str> {
        let nanos = self.int()?;
        let offset = i32::try_from(self.int()?).map_err(|_| "bad offset")?;
        let offset = UtcOffset::from_whole_seconds(offset).map_err(|_| "bad offset")?;
        OffsetDateTime::from_unix_timestamp_nanos(nanos as i128)
            .map(|t| t.to_offset(offset))
            .map_err(|_| "bad time")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Book {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_764_400_000_123_456_789).unwrap();
        let hash = "ab".repeat(32);
        Book {
            id: "01KB0000000000000000000000".into(),
            title: "Tïtle \"quoted\"".into(),
            author: "Author, Other".into(),
            authors: vec!["Author".into(), "Other".into()],
            album: Some("Album".into()),
            narrator: Some("Narrator".into()),
            narrators: vec!["Narrator".into()],
            series: Some("Series".into()),
            series_index: Some("2.5".into()),
            year: Some(-44),
            isbn: Some("978".into()),
            asin: Some("B0015T963C".into()),
            description: Some(String::new()),
            language: Some("eng".into()),
            publisher: Some("Publisher".into()),
            genres: vec!["Fantasy".into(), "Audio drama".into()],
            provenance: [
                (BookField::Title, Provenance::User),
                (BookField::Authors, Provenance::Tag),
                (BookField::Series, Provenance::Path),
                (BookField::Year, Provenance::source("openlibrary")),
                (BookField::Genres, Provenance::source("musicbrainz")),
            ]
            .into(),
            locked: [BookField::Title, BookField::Genres].into(),
            cover_url: Some("http://x/c.jpg".into()),
            cover: Some(Cover {
                source: CoverSource::File,
                path: "/in/Author/Book/cover.jpg".into(),
            }),
            duration_secs: 3601.25,
            codec: Some("mp3".into()),
            bitrate_kbps: Some(64),
            status: BookStatus::Organized,
            deleted: true,
            source_dir: "/in/Author/Book".into(),
            group_key: "album".into(),
            files: vec![
                BookFile {
                    path: "/in/Author/Book/01.mp3".into(),
                    size: u64::MAX,
                    mtime_ns: -5,
                    hash: hash.clone(),
                    duration_secs: 1800.5,
                    track: Some(1),
                    disc: Some(2),
                    organized_path: Some("/lib/Author/Book/01.mp3".into()),
                    organized_hash: Some("NOT-HEX".into()),
                },
                BookFile {
                    path: "/elsewhere/02.mp3".into(),
                    size: 0,
                    mtime_ns: i64::MAX,
                    hash: "short".into(),
                    duration_secs: 0.0,
                    track: None,
                    disc: None,
                    organized_path: None,
                    organized_hash: None,
                },
            ],
            file_hash: "cd".repeat(32),
            duplicates: vec!["/in/copy.mp3".into(), "/in/copy2.mp3".into()],
            editions: vec!["01KB0000000000000000000001".into()],
            organized_dir: Some("/lib/Author/Book".into()),
            created_at: t,
            updated_at: t.to_offset(UtcOffset::from_hms(2, 0, 0).unwrap()),
        }
    }

    fn bare() -> Book {
        let mut b = full();
        b.album = None;
        b.narrator = None;
        b.series = None;
        b.series_index = None;
        b.year = None;
        b.isbn = None;
        b.description = None;
        b.language = None;
        b.publisher = None;
        b.genres.clear();
        b.provenance.clear();
        b.locked.clear();
        b.cover_url = None;
        b.cover = None;
        b.codec = None;
        b.bitrate_kbps = None;
        b.organized_dir = None;
        b.deleted = false;
        b.status = BookStatus::Missing;
        b.files.truncate(1);
        b.files[0].track = None;
        b.files[0].disc = None;
        b.files[0].organized_path = None;
        b.files[0].organized_hash = None;
        b.file_hash = b.files[0].hash.clone();
        b.duplicates.clear();
        b.source_dir = String::new();
        b
    }

    #[test]
    fn every_field_survives_the_round_trip() {
        for book in [full(), bare()] {
            let bytes = encode_book(&book);
            assert_eq!(decode_book(&book.id, &bytes).unwrap(), book);
        }
    }

    #[test]
    fn a_scanned_book_takes_a_third_of_its_json() {
        let b = bare();
        let binary = encode_book(&b).len();
        let json = serde_json::to_vec(&b).unwrap().len();
        assert!(binary * 3 <= json, "{binary} bytes vs {json} as JSON");
    }

    #[test]
    fn json_written_by_older_builds_still_reads() {
        let book = full();
        let json = serde_json::to_vec(&book).unwrap();
        assert_eq!(decode_book(&book.id, &json).unwrap(), book);
    }

    #[test]
    fn damaged_records_are_errors_never_panics() {
        let bytes = encode_book(&full());
        for len in 0..bytes.len() {
            assert!(decode_book("id", &bytes[..len]).is_err(), "length {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_book("id", &longer).is_err());
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0xff;
            let _ = decode_book("id", &flipped);
        }
        // No fields, an empty folder and key, then a part count of 2^28.
        let mut huge_count = vec![VERSION, 0, 0, 0];
        huge_count.extend([0; 8]);
        huge_count.extend([0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
        assert!(decode_book("id", &huge_count).is_err());
    }
}
