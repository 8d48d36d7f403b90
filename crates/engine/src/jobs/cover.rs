//! A book's cover image, read for the API and for organize: the image
//! file the scan found with the book, else the picture in a part's tags
//! (the organized copy first, then the source). Only bytes that are an
//! image by their own signature are handed out, so a file swapped for
//! something else after the scan is never served as a cover.

use std::io::Read;
use std::path::Path;

use crate::store::{Book, BookFile, CoverSource};

pub use super::scan::tags::picture::{Picture, extension, image_type};

/// The largest cover image read (a cover is not a 16 MiB file).
pub const MAX_COVER_BYTES: u64 = 16 << 20;

/// The image file at `path`, if it is one and not too large.
fn image_file(path: &Path) -> Option<Picture> {
    let f = std::fs::File::open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut data = Vec::new();
    f.take(MAX_COVER_BYTES + 1).read_to_end(&mut data).ok()?;
    if data.len() as u64 > MAX_COVER_BYTES {
        return None;
    }
    let mime = image_type(&data)?;
    Some(Picture { mime, data })
}

fn embedded(path: &Path) -> Option<Picture> {
    super::scan::tags::picture::embedded(path)
        .ok()
        .flatten()
        .filter(|p| p.data.len() as u64 <= MAX_COVER_BYTES)
}

/// The book's cover, if it has one that can still be read.
pub fn load(book: &Book) -> Option<Picture> {
    let cover = book.cover.as_ref()?;
    if cover.source == CoverSource::File
        && let Some(p) = image_file(Path::new(&cover.path))
    {
        return Some(p);
    }
    // The picture in the tags: of the part the scan found it in (its
    // organized copy first: the source may be gone), else of the first
    // few parts.
    let lead = |f: &&BookFile| cover.source == CoverSource::Embedded && f.path == cover.path;
    let paths = |f: &BookFile| {
        let mut v: Vec<String> = f.organized_path.iter().cloned().collect();
        v.push(f.path.clone());
        v
    };
    book.files
        .iter()
        .filter(lead)
        .chain(book.files.iter().filter(|f| !lead(f)).take(4))
        .flat_map(paths)
        .find_map(|p| embedded(Path::new(&p)))
}
