//! Path heuristics and the rule that groups files into books.

use std::path::Path;

/// Author and title guessed from where a file lies, for untagged files:
/// `Author - Title.ext`, else `Author/Title/file.ext`, else `Author/file.ext`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PathGuess {
    pub author: Option<String>,
    pub title: String,
}

/// Strips a leading track number like `01 - `, `01. ` or `1_`.
pub fn strip_track_number(stem: &str) -> &str {
    let rest = stem.trim_start_matches(|c: char| c.is_ascii_digit());
    if rest.len() == stem.len() {
        return stem;
    }
    let rest = rest.trim_start_matches([' ', '-', '.', '_']);
    if rest.is_empty() { stem } else { rest }
}

pub fn guess_from_path(path: &Path, root: &Path) -> PathGuess {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("Unknown")
        .trim();
    if let Some((author, title)) = stem.split_once(" - ") {
        let (author, title) = (author.trim(), strip_track_number(title.trim()));
        if !author.is_empty() && !title.is_empty() && !author.chars().all(|c| c.is_ascii_digit()) {
            return PathGuess {
                author: Some(author.to_string()),
                title: title.to_string(),
            };
        }
    }
    let rel = path.strip_prefix(root).unwrap_or(path);
    let dirs: Vec<&str> = rel
        .parent()
        .map(|p| p.iter().filter_map(|c| c.to_str()).collect())
        .unwrap_or_default();
    match dirs.as_slice() {
        [.., author, title] => PathGuess {
            author: Some(author.to_string()),
            title: title.to_string(),
        },
        [author] => PathGuess {
            author: Some(author.to_string()),
            title: strip_track_number(stem).to_string(),
        },
        _ => PathGuess {
            author: None,
            title: strip_track_number(stem).to_string(),
        },
    }
}

/// Files in one folder with the same key are parts of one book: the album
/// tag when there is one, else the file name without digits (so `01.mp3`,
/// `02.mp3` group, and `A - B.mp3`, `C - D.mp3` stay apart).
pub fn group_key(album: Option<&str>, path: &Path) -> String {
    if let Some(a) = album.map(str::trim).filter(|a| !a.is_empty()) {
        return format!("album:{}", a.to_lowercase());
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let stripped: String = stem
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect::<String>()
        .to_lowercase();
    let stripped = stripped
        .replace(['_', '.'], " ")
        .split_whitespace()
        .filter(|w| {
            !matches!(
                *w,
                "part" | "pt" | "chapter" | "ch" | "disc" | "cd" | "track" | "-"
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "name:{}",
        stripped.trim_matches(|c: char| c == '-' || c.is_whitespace())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn author_dash_title_file_names() {
        let g = guess_from_path(
            Path::new("/in/x/Mary Shelley - Frankenstein.mp3"),
            Path::new("/in"),
        );
        assert_eq!(g.author.as_deref(), Some("Mary Shelley"));
        assert_eq!(g.title, "Frankenstein");
    }

    #[test]
    fn author_title_folders() {
        let g = guess_from_path(Path::new("/in/Herbert/Dune/01.mp3"), Path::new("/in"));
        assert_eq!(g.author.as_deref(), Some("Herbert"));
        assert_eq!(g.title, "Dune");
        let g = guess_from_path(Path::new("/in/01 - Intro.mp3"), Path::new("/in"));
        assert_eq!((g.author, g.title.as_str()), (None, "Intro"));
    }

    #[test]
    fn numbered_parts_share_a_key_and_different_books_do_not() {
        let k = |s: &str| group_key(None, &PathBuf::from(s));
        assert_eq!(k("/a/Part 01.mp3"), k("/a/Part 02.mp3"));
        assert_eq!(k("/a/01.mp3"), k("/a/17.mp3"));
        assert_ne!(k("/a/A - B.mp3"), k("/a/C - D.mp3"));
        assert_eq!(
            group_key(Some("War"), Path::new("/a/x.mp3")),
            group_key(Some(" war "), Path::new("/a/y.mp3"))
        );
    }
}
