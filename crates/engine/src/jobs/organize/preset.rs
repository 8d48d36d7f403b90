//! Library layouts the players read. `audiobookshelf` writes
//! `Author/Series/Vol N - Year - Title {Narrator}/` as Audiobookshelf's
//! scanner (and this one) reads folder names back; `plex` writes
//! `Author/Title/`, the artist/album layout Plex music libraries (and so
//! Prologue and the Audnexus agent) expect; `default` uses the configured
//! patterns. Side files (`metadata.json`, `desc.txt`, `reader.txt`, and
//! the cover as `cover.jpg` or `.png`) can be
//! written beside the audio.

use crate::config::OrganizePreset;
use crate::store::Book;

use super::pattern::sanitize_value;

/// The folder components of `book` under a fixed preset; `None` for the
/// configured patterns.
pub fn folder_components(preset: OrganizePreset, book: &Book) -> Option<Vec<String>> {
    let clean = |s: &str| sanitize_value(s.trim());
    match preset {
        OrganizePreset::Default => None,
        OrganizePreset::Plex => Some(vec![clean(&book.author), clean(&book.title)]),
        OrganizePreset::Audiobookshelf => {
            // A book without an author (or series) goes straight under the
            // root: an `Unknown Author` folder would read back as an author.
            let mut out = if book.authors.is_empty() && book.series.is_none() {
                Vec::new()
            } else {
                vec![clean(&book.author)]
            };
            let mut title = String::new();
            if let Some(series) = book.series.as_deref().map(clean).filter(|s| !s.is_empty()) {
                out.push(series);
                // A sequence is read back only under a series folder.
                if let Some(n) = book
                    .series_index
                    .as_deref()
                    .filter(|n| !n.trim().is_empty())
                {
                    title.push_str(&format!("Vol {} - ", clean(n)));
                }
            }
            if let Some(y) = book.year {
                title.push_str(&format!("{y} - "));
            }
            title.push_str(&clean(&book.title));
            if !book.narrators.is_empty() {
                title.push_str(&format!(" {{{}}}", clean(&book.narrators.join(", "))));
            } else if let Some(n) = book.narrator.as_deref().filter(|n| !n.is_empty()) {
                title.push_str(&format!(" {{{}}}", clean(n)));
            }
            out.push(title);
            Some(out)
        }
    }
}

/// The file pattern a preset names its files with (parts get ` - Part NN`).
pub fn file_pattern(preset: OrganizePreset) -> Option<&'static str> {
    match preset {
        OrganizePreset::Default => None,
        OrganizePreset::Plex | OrganizePreset::Audiobookshelf => Some("{title}"),
    }
}

/// Audiobookshelf's `metadata.json` for `book`.
pub fn metadata_json(book: &Book) -> String {
    let series: Vec<String> = book
        .series
        .iter()
        .map(|s| match &book.series_index {
            Some(n) => format!("{s} #{n}"),
            None => s.clone(),
        })
        .collect();
    let authors = if book.authors.is_empty() {
        vec![book.author.clone()]
    } else {
        book.authors.clone()
    };
    let v = serde_json::json!({
        "title": book.title,
        "authors": authors,
        "narrators": book.narrators,
        "series": series,
        "publishedYear": book.year.map(|y| y.to_string()),
        "isbn": book.isbn,
        "asin": book.asin,
        "description": book.description,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The side files to write beside a book's audio: (name, content).
pub fn side_files(book: &Book) -> Vec<(&'static str, String)> {
    let mut out = vec![("metadata.json", metadata_json(book))];
    if let Some(d) = book.description.as_deref().filter(|d| !d.trim().is_empty()) {
        out.push(("desc.txt", format!("{d}\n")));
    }
    if !book.narrators.is_empty() {
        out.push(("reader.txt", format!("{}\n", book.narrators.join(" & "))));
    }
    out
}

/// Whether `name` is a file organize writes into a book's folder besides
/// its audio: a side file, the cover image, or an unfinished temp file.
pub fn is_side_file(name: &str) -> bool {
    matches!(name, "metadata.json" | "desc.txt" | "reader.txt")
        || name
            .strip_prefix("cover.")
            .is_some_and(|ext| matches!(ext, "jpg" | "png" | "webp" | "gif"))
        || name.starts_with(super::strategy::TEMP_PREFIX)
}
