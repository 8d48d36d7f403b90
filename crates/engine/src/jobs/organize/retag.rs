//! Writing a book's title, authors, narrators and series into the tags of
//! a copy organize staged (never a source, nor a link that shares one's
//! data): the new tags, then the audio unchanged, checked byte for byte
//! against the copy it replaces; the tags are read back before the copy
//! is kept. Returns the tagged copy's hash (the organized hash).

use std::io::{self, Read, Seek, SeekFrom, Write};

use sha2::Digest;

use super::strategy::{Run, Staged};
use crate::store::Book;

/// The SHA-256 of everything from `from` to the end of `f`.
fn tail_sum(f: &mut std::fs::File, from: u64) -> io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(from))?;
    let mut h = sha2::Sha256::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
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

pub(super) fn tag_copy(
    staged: &mut Staged,
    run: &Run,
    book: &Book,
    ext: &str,
) -> Result<String, NotTagged> {
    let tags = new_tags(book);
    let mut unsupported = None;
    let result = staged.rewrite(run, |old, new| {
        let re = match ao_tags::write::retag(old, ext, &tags) {
            Ok(r) => r,
            Err(ao_tags::write::RetagError::Unsupported(e)) => {
                unsupported = Some(e);
                return Err(io::Error::other("unsupported"));
            }
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
        new.write_all(&re.head)?;
        old.seek(SeekFrom::Start(re.audio_start))?;
        io::copy(old, new)?;
        // The audio is the copy's, byte for byte.
        if tail_sum(old, re.audio_start)? != tail_sum(new, re.head.len() as u64)? {
            return Err(io::Error::other("the audio changed while tags were written"));
        }
        // The tags read back as written.
        new.seek(SeekFrom::Start(0))?;
        let info = ao_tags::read_audio_info_from(new, ext).map_err(io::Error::other)?;
        let same = info.title.as_deref() == Some(book.title.as_str())
            && (book.authors.is_empty() || info.artists == book.authors)
            && info.narrators == book.narrators
            && info.series == book.series
            && (book.series.is_none() || info.series_index == book.series_index);
        if !same {
            return Err(io::Error::other(format!(
                "the tags read back differ (title {:?}, artists {:?}, narrators {:?}, series {:?} #{:?})",
                info.title, info.artists, info.narrators, info.series, info.series_index
            )));
        }
        let len = new.metadata()?.len();
        ao_core::hash::compute_open_file_hash(new, len)
    });
    match (result, unsupported) {
        (_, Some(ext)) => Err(NotTagged::Unsupported(ext)),
        (Ok(hash), None) => Ok(hash),
        (Err(e), None) => Err(NotTagged::Failed(e.to_string())),
    }
}

/// Whether `target` is what tagging a copy of `src` as `book` makes (a
/// run that published it and stopped before recording it): the same new
/// tags, then the source's audio, byte for byte.
pub(super) fn is_tagged_copy(
    src: &std::path::Path,
    target: &std::path::Path,
    book: &Book,
    ext: &str,
) -> bool {
    let check = || -> io::Result<bool> {
        let mut s = std::fs::File::open(src)?;
        let t = std::fs::File::open(target)?;
        let tags = new_tags(book);
        let Ok(re) = ao_tags::write::retag(&mut s, ext, &tags) else {
            return Ok(false);
        };
        let (s_len, t_len) = (s.metadata()?.len(), t.metadata()?.len());
        if s_len < re.audio_start || t_len != re.head.len() as u64 + (s_len - re.audio_start) {
            return Ok(false);
        }
        let mut t = io::BufReader::new(t);
        let mut head = vec![0u8; re.head.len()];
        t.read_exact(&mut head)?;
        if head != re.head {
            return Ok(false);
        }
        s.seek(SeekFrom::Start(re.audio_start))?;
        let mut s = io::BufReader::new(s);
        let (mut a, mut b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
        loop {
            let n = s.read(&mut a)?;
            if n == 0 {
                return Ok(true);
            }
            t.read_exact(&mut b[..n])?;
            if a[..n] != b[..n] {
                return Ok(false);
            }
        }
    };
    check().unwrap_or(false)
}
