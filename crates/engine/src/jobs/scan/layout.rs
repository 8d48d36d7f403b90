//! What folder names say about a book, as Audiobookshelf reads them
//! (docs/layouts.md has the rules and where this project differs):
//! `Author/Series/Title` with the title folder's sequence, year, narrator
//! and ASIN; disc folders (`CD1`, `Disc 2`) merged into their book; author
//! and narrator strings split into names.

use std::path::Path;

use crate::store::BookField;

/// `cd`, `disc` or `disk`, optional spaces, one to three digits, nothing
/// else (any case): the disc number.
pub fn disc_folder(name: &str) -> Option<u32> {
    // Called for every file's folder (in sorts too): no allocation.
    let b = name.as_bytes();
    let word = ["disc", "disk", "cd"]
        .iter()
        .find(|p| b.len() > p.len() && b[..p.len()].eq_ignore_ascii_case(p.as_bytes()))?;
    let rest = &name[word.len()..];
    let digits = rest.trim_start_matches([' ', '\t']);
    (!digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The folder that is a file's book: its own folder, or the one above when
/// its own is a disc folder that is not directly in the import folder.
pub fn book_dir<'p>(path: &'p str, root: &str) -> &'p str {
    let parent = parent_of(path);
    let name = &parent[parent.rfind('/').map_or(0, |i| i + 1)..];
    if disc_folder(name).is_some() {
        let above = parent_of(parent);
        if above.len() > root.trim_end_matches('/').len() {
            return above;
        }
    }
    parent
}

/// The disc number a file's folder gives, if it is a disc folder.
pub fn disc_of_folder(path: &str) -> Option<u32> {
    let parent = parent_of(path);
    disc_folder(&parent[parent.rfind('/').map_or(0, |i| i + 1)..])
}

fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// What one source (folder names, tags, a side file) says about a book;
/// `None`/empty: nothing. Sources are layered by `overlay`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    pub title: Option<String>,
    pub authors: Vec<String>,
    pub narrators: Vec<String>,
    pub series: Option<String>,
    pub sequence: Option<String>,
    pub year: Option<i32>,
    pub isbn: Option<String>,
    pub asin: Option<String>,
    pub description: Option<String>,
    pub language: Option<String>,
    pub publisher: Option<String>,
    pub genres: Vec<String>,
}

impl Layer {
    /// The book fields this layer gives a value for.
    pub fn fields(&self) -> impl Iterator<Item = BookField> {
        [
            (BookField::Title, self.title.is_some()),
            (BookField::Authors, !self.authors.is_empty()),
            (BookField::Narrators, !self.narrators.is_empty()),
            (BookField::Series, self.series.is_some()),
            (BookField::SeriesIndex, self.sequence.is_some()),
            (BookField::Year, self.year.is_some()),
            (BookField::Isbn, self.isbn.is_some()),
            (BookField::Asin, self.asin.is_some()),
            (BookField::Description, self.description.is_some()),
            (BookField::Language, self.language.is_some()),
            (BookField::Publisher, self.publisher.is_some()),
            (BookField::Genres, !self.genres.is_empty()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
    }

    /// What `over` says replaces what this layer says.
    pub fn overlay(&mut self, over: Layer) {
        fn opt<T>(a: &mut Option<T>, b: Option<T>) {
            if b.is_some() {
                *a = b;
            }
        }
        fn list(a: &mut Vec<String>, b: Vec<String>) {
            if !b.is_empty() {
                *a = b;
            }
        }
        opt(&mut self.title, over.title);
        list(&mut self.authors, over.authors);
        list(&mut self.narrators, over.narrators);
        opt(&mut self.series, over.series);
        opt(&mut self.sequence, over.sequence);
        opt(&mut self.year, over.year);
        opt(&mut self.isbn, over.isbn);
        opt(&mut self.asin, over.asin);
        opt(&mut self.description, over.description);
        opt(&mut self.language, over.language);
        opt(&mut self.publisher, over.publisher);
        list(&mut self.genres, over.genres);
    }
}

/// Parses the book folder's path below the import folder.
pub fn parse_book_path(rel: &Path) -> Layer {
    let parts: Vec<&str> = rel
        .iter()
        .filter_map(|c| c.to_str())
        .filter(|c| !c.is_empty())
        .collect();
    let mut m = Layer::default();
    let Some((&title_folder, above)) = parts.split_last() else {
        return m;
    };
    match above {
        [.., author, series] => {
            m.authors = names(author);
            m.series = Some(series.trim().to_string()).filter(|s| !s.is_empty());
        }
        [author] => m.authors = names(author),
        [] => {}
    }
    let mut rest = title_folder.trim().to_string();
    if let Some((asin, without)) = take_asin(&rest) {
        m.asin = Some(asin);
        rest = without;
    }
    if let Some((narrator, without)) = take_narrator(&rest) {
        m.narrators = names(&narrator);
        rest = without;
    }
    if m.series.is_some()
        && let Some((seq, without)) = take_sequence(&rest)
    {
        m.sequence = Some(seq);
        rest = without;
    }
    if let Some((year, without)) = take_year(&rest) {
        m.year = Some(year);
        rest = without;
    }
    // A lone folder named `Author - Title` (a deliberate difference from
    // Audiobookshelf, which keeps the whole name as the title).
    if above.is_empty()
        && m.authors.is_empty()
        && let Some((a, t)) = rest.split_once(" - ")
        && !a.trim().is_empty()
        && !t.trim().is_empty()
        && !a.trim().chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        m.authors = names(a);
        rest = t.trim().to_string();
    }
    m.title = Some(rest.trim().to_string()).filter(|t| !t.is_empty());
    m
}

/// `[B0015T963C]`: ten upper-case letters or digits in brackets, at the
/// start or after a space, before a space or the end.
fn take_asin(s: &str) -> Option<(String, String)> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = s[i..].find('[') {
        let at = i + off;
        let end = at + 11;
        let ok = (at == 0 || b[at - 1] == b' ')
            && b.get(end) == Some(&b']')
            && b[at + 1..end]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && (end + 1 == b.len() || b.get(end + 1) == Some(&b' '));
        if ok {
            let asin = s[at + 1..end].to_string();
            let before = s[..at].strip_suffix(' ').unwrap_or(&s[..at]);
            let rest = format!("{before}{}", &s[end + 1..]);
            return Some((asin, rest.trim().to_string()));
        }
        i = at + 1;
    }
    None
}

/// `Title {Narrator}`: the text in the last ` {...}` at the very end.
fn take_narrator(s: &str) -> Option<(String, String)> {
    let inner = s.strip_suffix('}')?;
    let open = inner.rfind(" {")?;
    let narrator = inner[open + 2..].to_string();
    Some((narrator, inner[..open].to_string()))
}

/// The first `" - "` segment that is a sequence: an optional `Vol `,
/// `Vol. `, `Volume ` or `Book ` label, up to three digits with an optional
/// `.d`/`.dd`, an optional dot, then optionally a space and the rest;
/// accepted when nothing follows, a label is there, or the dot is.
fn take_sequence(s: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = s.split(" - ").collect();
    for (i, seg) in segments.iter().enumerate() {
        let Some((number, rest)) = sequence_segment(seg) else {
            continue;
        };
        let mut out: Vec<String> = segments.iter().map(|x| x.to_string()).collect();
        match rest {
            Some(r) => out[i] = r,
            None => {
                out.remove(i);
            }
        }
        return Some((number, out.join(" - ")));
    }
    None
}

fn sequence_segment(seg: &str) -> Option<(String, Option<String>)> {
    let lower = seg.to_ascii_lowercase();
    let (label, body) = ["volume ", "vol. ", "vol ", "book "]
        .iter()
        .find_map(|l| lower.strip_prefix(l).map(|_| (true, &seg[l.len()..])))
        .unwrap_or((false, seg));
    let int_len = body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if int_len > 3 {
        return None;
    }
    let mut at = int_len;
    let mut frac_len = 0;
    if body[at..].starts_with('.') {
        let f = body[at + 1..].len()
            - body[at + 1..]
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        if (1..=2).contains(&f) {
            frac_len = f;
            at += 1 + f;
        }
    }
    if int_len == 0 && frac_len == 0 {
        return None;
    }
    let number = &body[..at];
    let mut dot = false;
    let mut tail = &body[at..];
    if let Some(t) = tail.strip_prefix('.') {
        dot = true;
        tail = t;
    }
    let rest = match tail {
        "" => None,
        t => Some(t.strip_prefix(' ')?.to_string()),
    };
    if !(rest.is_none() || label || dot) {
        return None;
    }
    // `007` → `7`, `1.50` → `1.5`, `2.0` → `2`.
    let n: f64 = number.parse().ok()?;
    let shown = if n.fract() == 0.0 {
        format!("{}", n as u64)
    } else {
        let s = format!("{n:.2}");
        s.trim_end_matches('0').to_string()
    };
    Some((shown, rest))
}

/// `1994 - Title` or `(1994) - Title` at the very start.
fn take_year(s: &str) -> Option<(i32, String)> {
    let t = s.trim_start_matches(' ');
    let t = t.strip_prefix('(').unwrap_or(t);
    let digits = t.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let after = &t[4..];
    let after = after.strip_prefix(')').unwrap_or(after);
    let spaces = after.len() - after.trim_start_matches(' ').len();
    if spaces == 0 {
        return None;
    }
    let rest = after[spaces..].strip_prefix('-')?.trim_start_matches(' ');
    if rest.is_empty() {
        return None;
    }
    Some((digits.parse().ok()?, rest.to_string()))
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3040..=0x30FF | 0x31F0..=0x31FF)
}

/// An author or narrator string as names: split on `&`, else ` and `,
/// else `;`, each piece then on commas; `Last, First` pairs turned round;
/// CJK names kept as written. Duplicates and empty names are dropped.
pub fn names(s: &str) -> Vec<String> {
    let s = s.trim();
    if s.is_empty() {
        return Vec::new();
    }
    let outer: Vec<&str> = if s.contains('&') {
        s.split('&').collect()
    } else if s.contains(" and ") {
        s.split(" and ").collect()
    } else if s.contains(';') {
        s.split(';').collect()
    } else {
        vec![s]
    };
    let pieces: Vec<&str> = outer
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .collect();
    if pieces.first().is_some_and(|p| p.chars().any(is_cjk)) {
        return pieces.into_iter().map(str::to_string).collect();
    }
    let mut out: Vec<String> = Vec::new();
    let last_first = s.contains(',') && pieces.len() > 1 && !pieces[0].contains(' ');
    if last_first {
        // (last, first) pairs; an odd piece at the end stands alone.
        for pair in pieces.chunks(2) {
            match pair {
                [last, first] => out.push(format!("{first} {last}").trim().to_string()),
                [one] => out.push(one.to_string()),
                _ => {}
            }
        }
    } else {
        out.extend(pieces.into_iter().map(str::to_string));
    }
    let mut seen = Vec::new();
    out.retain(|n| {
        let keep = !n.is_empty() && !seen.contains(n);
        if keep {
            seen.push(n.clone());
        }
        keep
    });
    out
}

/// An album as parts of one book compare it: case, leading or trailing
/// articles, punctuation and `(Unabridged)`-style notes do not matter.
pub fn album_key(album: &str) -> String {
    let mut s = album.to_lowercase();
    // Notes in brackets that say how, not what.
    for (open, close) in [('(', ')'), ('[', ']')] {
        while let (Some(a), Some(b)) = (s.rfind(open), s.rfind(close)) {
            if b < a {
                break;
            }
            let inner = &s[a + 1..b];
            let note = [
                "unabridged",
                "abridged",
                "audiobook",
                "audio book",
                "retail",
                "mp3",
                "m4b",
                "audible",
            ]
            .iter()
            .any(|w| inner.contains(w));
            if !note {
                break;
            }
            s.replace_range(a..=b, " ");
        }
    }
    let words: Vec<String> = s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let mut words: &[String] = &words;
    // `Name of the Wind, The` and `The Name of the Wind` alike.
    if let Some((last, rest)) = words.split_last()
        && matches!(last.as_str(), "the" | "a" | "an")
        && !rest.is_empty()
    {
        words = rest;
    }
    if let Some((first, rest)) = words.split_first()
        && matches!(first.as_str(), "the" | "a" | "an")
        && !rest.is_empty()
    {
        words = rest;
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disc_folders() {
        for (name, n) in [
            ("CD1", 1),
            ("cd 01", 1),
            ("Disc 004", 4),
            ("DISK2", 2),
            ("Disk 03", 3),
        ] {
            assert_eq!(disc_folder(name), Some(n), "{name}");
        }
        for name in [
            "Disc 1 of 2",
            "CD-1",
            "Part 1",
            "Disc1000",
            "Volume 1",
            "CDs",
        ] {
            assert_eq!(disc_folder(name), None, "{name}");
        }
        assert_eq!(book_dir("/in/A/Book/CD1/01.mp3", "/in"), "/in/A/Book");
        assert_eq!(book_dir("/in/A/Book/01.mp3", "/in"), "/in/A/Book");
        assert_eq!(book_dir("/in/CD1/01.mp3", "/in"), "/in/CD1");
    }

    fn parse(p: &str) -> Layer {
        parse_book_path(Path::new(p))
    }

    #[test]
    fn the_title_folder_of_a_series() {
        let m = parse(
            "Terry Goodkind/Sword of Truth/Vol 1 - 1994 - Wizards First Rule {Sam Tsoutsouvas}",
        );
        assert_eq!(m.authors, ["Terry Goodkind"]);
        assert_eq!(m.series.as_deref(), Some("Sword of Truth"));
        assert_eq!(m.sequence.as_deref(), Some("1"));
        assert_eq!(m.year, Some(1994));
        assert_eq!(m.title.as_deref(), Some("Wizards First Rule"));
        assert_eq!(m.narrators, ["Sam Tsoutsouvas"]);
        let m = parse("Brandon Sanderson/Mistborn/Book 1 - The Final Empire");
        assert_eq!(
            (
                m.series.as_deref(),
                m.sequence.as_deref(),
                m.title.as_deref()
            ),
            (Some("Mistborn"), Some("1"), Some("The Final Empire"))
        );
        let m = parse("A/S/0.5 - Prequel [B0015T963C]");
        assert_eq!(
            (m.sequence.as_deref(), m.title.as_deref(), m.asin.as_deref()),
            (Some("0.5"), Some("Prequel"), Some("B0015T963C"))
        );
        let m = parse("A/S/Volume 12. Twelve");
        assert_eq!(
            (m.sequence.as_deref(), m.title.as_deref()),
            (Some("12"), Some("Twelve"))
        );
        let m = parse("A/S/101 Dalmatians");
        assert_eq!(
            (m.sequence, m.title.as_deref()),
            (None, Some("101 Dalmatians"))
        );
        let m = parse("A/S/(1994) - T");
        assert_eq!((m.year, m.title.as_deref()), (Some(1994), Some("T")));
    }

    #[test]
    fn without_a_series_folder_there_is_no_sequence() {
        let m = parse("Author/1. Title");
        assert_eq!((m.sequence, m.title.as_deref()), (None, Some("1. Title")));
        let m = parse("Author/1984");
        assert_eq!((m.year, m.title.as_deref()), (None, Some("1984")));
    }

    #[test]
    fn a_lone_author_dash_title_folder() {
        let m = parse("Ken Follett - The Pillars of the Earth");
        assert_eq!(m.authors, ["Ken Follett"]);
        assert_eq!(m.title.as_deref(), Some("The Pillars of the Earth"));
        let m = parse("1994 - Title");
        assert_eq!(
            (m.authors.len(), m.year, m.title.as_deref()),
            (0, Some(1994), Some("Title"))
        );
    }

    #[test]
    fn names_split_and_turn_round() {
        assert_eq!(names("King, Stephen"), ["Stephen King"]);
        assert_eq!(
            names("Stephen King & Peter Straub"),
            ["Stephen King", "Peter Straub"]
        );
        assert_eq!(
            names("Terry Goodkind, Ichiro Kishimi and Fumitake Koga"),
            ["Terry Goodkind", "Ichiro Kishimi", "Fumitake Koga"]
        );
        assert_eq!(
            names("Rowling, J.K.; Fry, Stephen"),
            ["J.K. Rowling", "Stephen Fry"]
        );
        assert_eq!(
            names("Kishimi, Ichiro & Koga, Fumitake"),
            ["Ichiro Kishimi", "Fumitake Koga"]
        );
        assert_eq!(
            names("Stephen King, Peter Straub"),
            ["Stephen King", "Peter Straub"]
        );
        assert_eq!(
            names("Stephen King And Peter Straub"),
            ["Stephen King And Peter Straub"]
        );
        assert_eq!(names("村上春樹, 柴田元幸"), ["村上春樹", "柴田元幸"]);
    }

    #[test]
    fn albums_that_are_one_book() {
        let k = album_key("The Name of the Wind");
        assert_eq!(album_key("The Name of the Wind (Unabridged)"), k);
        assert_eq!(album_key("Name of the Wind, The"), k);
        assert_eq!(album_key("the name of the wind [Audiobook]"), k);
        assert_ne!(album_key("The Wise Man's Fear"), k);
        assert_eq!(album_key("The"), "the");
    }
}
