//! Path heuristics and the rule that groups files into books.

use std::path::Path;

/// Author and title guessed from where a file lies, for untagged files:
/// `Author - Title.ext`, else `Author/Title/file.ext`, else `Author/file.ext`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PathGuess {
    pub author: Option<String>,
    pub title: String,
}

/// Words that name a part of a book, not the book.
const PART_WORDS: &[&str] = &["track", "part", "pt", "chapter", "ch", "disc", "disk", "cd"];

/// Strips what marks a track or part, never a title's own digits:
/// `01 - `, `01. `, `1_`, `3) `, `01 ` (a leading zero), `Track 01 - `,
/// `Part 1 of 3 - `. `1984`, `1Q84`, `2001 A Space Odyssey`, `11.22.63`,
/// `101 Dalmatians` and `8khz_5s` keep theirs. What would leave nothing is
/// left as it is.
pub fn strip_track_number(stem: &str) -> &str {
    let s = stem.trim_start();
    let rest = strip_part_word(s).unwrap_or_else(|| strip_number_prefix(s).unwrap_or(s));
    let rest = rest.trim_start();
    if rest.is_empty() || rest.len() == s.len() {
        return stem.trim();
    }
    rest.trim_end()
}

/// `Track 01 - Title`, `Part 1 of 3 - Title`, `Chapter 5. Title`.
fn strip_part_word(s: &str) -> Option<&str> {
    let word_end = s.find(|c: char| !c.is_alphabetic())?;
    let word = s[..word_end].to_lowercase();
    if !PART_WORDS.contains(&word.as_str()) {
        return None;
    }
    let after = s[word_end..].trim_start_matches([' ', '_', '.', '-']);
    let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let mut rest = &after[digits..];
    // "of 3"
    let t = rest.trim_start();
    if let Some(of) = t.strip_prefix("of ").or_else(|| t.strip_prefix("/")) {
        rest = of
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let sep = rest.trim_start_matches([' ', '-', '.', '_', ')', ':', '–']);
    (sep.len() < rest.len() || rest.is_empty()).then_some(sep)
}

/// `01 - `, `01. `, `1_`, `3) `, `01 `: one to three digits and a
/// separator (a space only after a leading zero), followed by something
/// that does not start with a digit.
fn strip_number_prefix(s: &str) -> Option<&str> {
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 3 {
        return None;
    }
    let after = &s[digits..];
    let sep_len = after.len()
        - after
            .trim_start_matches([' ', '-', '.', '_', ')', '–'])
            .len();
    if sep_len == 0 {
        return None;
    }
    let sep = &after[..sep_len];
    let rest = &after[sep_len..];
    if rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let only_space = sep.chars().all(|c| c == ' ');
    if only_space && !s.starts_with('0') {
        return None;
    }
    Some(rest)
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

/// The format family of a file: the same work as `.m4b` and as `.mp3`
/// parts in one folder is two editions, not one book of twice the length.
pub fn format_family(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "m4a" | "m4b" | "mp4" => "mp4",
        "mp3" => "mp3",
        "mpg" | "mpeg" => "mpeg",
        "aif" | "aiff" => "aiff",
        "ogg" | "oga" | "opus" | "spx" => "ogg",
        "webm" | "webma" | "mka" => "matroska",
        "flac" => "flac",
        "wav" => "wav",
        "wma" => "wma",
        "aac" => "aac",
        "caf" => "caf",
        "awb" => "amr",
        _ => "other",
    }
}

/// What separates a group key from the format family it holds.
const FORMAT_MARK: &str = "|fmt:";

/// Files in one folder with the same key are parts of one book: the album
/// tag when there is one, else the file name without digits (so `01.mp3`,
/// `02.mp3` group, and `A - B.mp3`, `C - D.mp3` stay apart); and the same
/// format family.
pub fn group_key(album: Option<&str>, path: &Path) -> String {
    format!(
        "{}{FORMAT_MARK}{}",
        base_key(album, path),
        format_family(path)
    )
}

/// The key without its format: equal for the editions of one work.
pub fn without_format(key: &str) -> &str {
    key.split(FORMAT_MARK).next().unwrap_or(key)
}

/// Whether a book grouped under `stored` (perhaps by an older build, whose
/// keys had no format) takes a part of key `key` whose first part is of
/// `family`.
pub fn same_group(stored: &str, key: &str, stored_family: &str) -> bool {
    stored == key
        || (!stored.contains(FORMAT_MARK)
            && stored == without_format(key)
            && key.ends_with(&format!("{FORMAT_MARK}{stored_family}")))
}

fn base_key(album: Option<&str>, path: &Path) -> String {
    if let Some(a) = album.map(str::trim).filter(|a| !a.is_empty()) {
        return format!("album:{}", super::layout::album_key(a));
    }
    // The name without its numbers and part words: `Dune 01`, `Dune 02`
    // and `01`, `02` group; a name whose digits are its own (`11.22.63`,
    // `1Q84`) keeps them and stays apart.
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_lowercase();
    let words: Vec<&str> = stem
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '(' || c == ')' || c == '[' || c == ']'))
        .filter(|w| {
            !w.is_empty()
                && !w.chars().all(|c| c.is_ascii_digit())
                && !PART_WORDS.contains(w)
                && *w != "of"
        })
        .collect();
    format!("name:{}", words.join(" "))
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
    fn only_track_and_part_prefixes_are_stripped() {
        for (name, title) in [
            ("01 - Intro", "Intro"),
            ("01. Intro", "Intro"),
            ("1_Intro", "Intro"),
            ("3) Intro", "Intro"),
            ("01 Intro", "Intro"),
            ("Track 01 - Intro", "Intro"),
            ("Part 1 of 3 - The Hobbit", "The Hobbit"),
            ("Chapter 05. Riddles", "Riddles"),
            ("1984", "1984"),
            ("1Q84", "1Q84"),
            ("2001 A Space Odyssey", "2001 A Space Odyssey"),
            ("11.22.63", "11.22.63"),
            ("101 Dalmatians", "101 Dalmatians"),
            ("8khz_5s", "8khz_5s"),
            ("01", "01"),
            ("Track 01", "Track 01"),
            ("Partridge Family", "Partridge Family"),
        ] {
            assert_eq!(strip_track_number(name), title, "{name}");
        }
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

    #[test]
    fn formats_are_editions_and_old_keys_still_match() {
        let m4b = group_key(Some("Dune"), Path::new("/a/Dune.m4b"));
        let mp3 = group_key(Some("Dune"), Path::new("/a/Dune 01.mp3"));
        assert_ne!(m4b, mp3);
        assert_eq!(without_format(&m4b), without_format(&mp3));
        assert!(same_group("album:dune", &mp3, "mp3"));
        assert!(!same_group("album:dune", &mp3, "mp4"));
        assert!(same_group(&mp3, &mp3, "mp3"));
    }
}
