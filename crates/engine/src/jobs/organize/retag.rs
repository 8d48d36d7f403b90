//! Writing a book's title, authors, narrators and series into the tags of
//! a copy organize staged (never a source, nor a link that shares one's
//! data): the new tags, then the audio unchanged, checked byte for byte
//! against the copy it replaces; the tags are read back before the copy
//! is kept. Returns the tagged copy's hash (the organized hash).

use std::io::{self, Read, Seek, SeekFrom, Write};

use ao_tags::write::Piece;
use sha2::Digest;

use super::beneath::OpenDir;
use super::strategy::{Run, Staged};
use crate::store::Book;

/// The SHA-256 of `len` bytes of `f` from `from`.
fn range_sum(f: &mut std::fs::File, from: u64, len: u64) -> io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(from))?;
    let mut h = sha2::Sha256::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut part = f.take(len);
    loop {
        let n = part.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().to_vec());
        }
        h.update(&buf[..n]);
    }
}

/// Why tags were not written, when they were not.
pub(super) enum NotTagged {
    /// Not a format tags are written into.
    Unsupported(String),
    Failed(String),
}

fn new_tags(book: &Book) -> ao_tags::write::NewTags<'_> {
    ao_tags::write::NewTags {
        title: &book.title,
        authors: &book.authors,
        narrators: &book.narrators,
        series: book.series.as_deref(),
        series_part: book.series.as_ref().and(book.series_index.as_deref()),
    }
}

/// Writes `old` with new tags into `new`: checked and read back; the new
/// file's hash.
fn write_tagged(
    old: &mut std::fs::File,
    new: &mut std::fs::File,
    book: &Book,
    ext: &str,
) -> Result<String, NotTagged> {
    let failed = |e: io::Error| NotTagged::Failed(e.to_string());
    let re = match ao_tags::write::retag(old, ext, &new_tags(book)) {
        Ok(r) => r,
        Err(ao_tags::write::RetagError::Unsupported(e)) => return Err(NotTagged::Unsupported(e)),
        Err(e) => return Err(NotTagged::Failed(e.to_string())),
    };
    // The pieces: new bytes, and the old file's ranges (the audio), each
    // checked byte for byte once written.
    let mut copied = Vec::new();
    for piece in &re.pieces {
        match piece {
            Piece::Bytes(b) => new.write_all(b).map_err(failed)?,
            Piece::Copy { start, end } => {
                let at = new.stream_position().map_err(failed)?;
                old.seek(SeekFrom::Start(*start)).map_err(failed)?;
                io::copy(&mut (&mut *old).take(end - start), new).map_err(failed)?;
                copied.push((*start, at, end - start));
            }
        }
    }
    for (from, at, len) in copied {
        if range_sum(old, from, len).map_err(failed)? != range_sum(new, at, len).map_err(failed)? {
            return Err(NotTagged::Failed(
                "the audio changed while tags were written".into(),
            ));
        }
    }
    // The tags read back as written.
    new.seek(SeekFrom::Start(0)).map_err(failed)?;
    let info = ao_tags::read_audio_info_from(new, ext).map_err(NotTagged::Failed)?;
    let same = info.title.as_deref() == Some(book.title.as_str())
        && (book.authors.is_empty() || info.artists == book.authors)
        && info.narrators == book.narrators
        && info.series == book.series
        && (book.series.is_none() || info.series_index == book.series_index);
    if !same {
        return Err(NotTagged::Failed(format!(
            "the tags read back differ (title {:?}, artists {:?}, narrators {:?}, series {:?} #{:?})",
            info.title, info.artists, info.narrators, info.series, info.series_index
        )));
    }
    let len = new.metadata().map_err(failed)?.len();
    ao_core::hash::compute_open_file_hash(new, len).map_err(failed)
}

pub(super) fn tag_copy(
    staged: &mut Staged,
    run: &Run,
    book: &Book,
    ext: &str,
) -> Result<String, NotTagged> {
    let mut outcome = None;
    let result = staged.rewrite(run, |old, new| match write_tagged(old, new, book, ext) {
        Ok(hash) => Ok(hash),
        Err(e) => {
            outcome = Some(e);
            Err(io::Error::other("not tagged"))
        }
    });
    match (result, outcome) {
        (Ok(hash), _) => Ok(hash),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(NotTagged::Failed(e.to_string())),
    }
}

/// Writes new tags into an organized copy that is already in place (its
/// book moved after an edit): a tagged temp file beside it, renamed over
/// it. Returns the new hash.
pub(super) fn retag_in_place(
    dir: &OpenDir,
    name: &str,
    run: &Run,
    book: &Book,
    ext: &str,
) -> Result<String, NotTagged> {
    let failed = |e: io::Error| NotTagged::Failed(e.to_string());
    let mut old = dir.open_read(name).map_err(failed)?;
    let tmp = run.temp_name();
    let mut new = dir.create_new(&tmp).map_err(failed)?;
    let result = write_tagged(&mut old, &mut new, book, ext)
        .and_then(|hash| dir.rename_over(&tmp, name).map(|_| hash).map_err(failed));
    if result.is_err() {
        let _ = dir.remove(&tmp);
    }
    result
}

/// A library path's extension as the tag writer takes it.
pub(super) fn ext_of(path: &std::path::Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The hash of `target` when it is what tagging a copy of `src` as `book`
/// makes (a run that published it and stopped before recording it): the
/// same new tags, then the source's audio, byte for byte. `None` when it
/// is not, or when no tags are written (`book` is `None`).
pub(super) fn tagged_copy_hash(
    src: &std::path::Path,
    target: &std::path::Path,
    book: Option<&Book>,
) -> Option<String> {
    let book = book?;
    let ext = ext_of(target);
    let ext = ext.as_str();
    let check = || -> io::Result<bool> {
        let mut s = std::fs::File::open(src)?;
        let t = std::fs::File::open(target)?;
        let tags = new_tags(book);
        let Ok(re) = ao_tags::write::retag(&mut s, ext, &tags) else {
            return Ok(false);
        };
        if t.metadata()?.len() != re.len() {
            return Ok(false);
        }
        let mut t = io::BufReader::new(t);
        let (mut a, mut b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
        for piece in &re.pieces {
            match piece {
                Piece::Bytes(bytes) => {
                    let mut got = vec![0u8; bytes.len()];
                    t.read_exact(&mut got)?;
                    if &got != bytes {
                        return Ok(false);
                    }
                }
                Piece::Copy { start, end } => {
                    s.seek(SeekFrom::Start(*start))?;
                    let mut left = end - start;
                    while left > 0 {
                        let n = (left as usize).min(a.len());
                        s.read_exact(&mut a[..n])?;
                        t.read_exact(&mut b[..n])?;
                        if a[..n] != b[..n] {
                            return Ok(false);
                        }
                        left -= n as u64;
                    }
                }
            }
        }
        Ok(true)
    };
    check()
        .unwrap_or(false)
        .then(|| ao_core::hash::compute_file_hash(target).ok())
        .flatten()
}
