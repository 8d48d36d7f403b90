//! Exclude patterns of an import folder: globs matched against paths
//! relative to the folder, a small subset of `.gitignore`'s rules.
//!
//! - `*` matches any run of characters but `/`, `?` one character but `/`,
//!   `[abc]`, `[a-z]` and `[!a-z]` one character of (or not of) a set.
//! - A pattern without a `/` matches a name at any depth (`*.part`,
//!   `@eaDir`, `Sample*`); one with a `/` matches from the folder's top
//!   (`Incomplete/*`, `/Extras`), where `**` stands for any number of
//!   folders (`**/Previews`).
//! - A trailing `/` matches folders only.
//!
//! Matching is case-sensitive, as the file systems are.

use std::path::{Path, PathBuf};

/// Why an exclude pattern was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("an exclude pattern is empty")]
    Empty,
    #[error("exclude pattern {0:?} is longer than {MAX_LEN} bytes")]
    TooLong(String),
    #[error("exclude pattern {0:?} has a `..` or `.` component")]
    DotComponent(String),
    #[error("exclude pattern {0:?} has an unclosed `[`")]
    Unclosed(String),
    #[error("exclude pattern {0:?} has a NUL byte")]
    Nul(String),
}

const MAX_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Byte(u8),
    One,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// `**`: any number of folders.
    AnyDepth,
    Name(Vec<Token>),
}

/// One parsed exclude pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    /// Matched from the folder's top (it has a `/`), else against names.
    anchored: bool,
    dirs_only: bool,
    parts: Vec<Part>,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let err = |f: fn(String) -> PatternError| f(text.to_string());
        if text.trim().is_empty() {
            return Err(PatternError::Empty);
        }
        if text.len() > MAX_LEN {
            return Err(err(PatternError::TooLong));
        }
        if text.contains('\0') {
            return Err(err(PatternError::Nul));
        }
        let dirs_only = text.ends_with('/');
        let body = text.trim_end_matches('/');
        let anchored = body.contains('/');
        let body = body.trim_start_matches('/');
        if body.is_empty() {
            return Err(PatternError::Empty);
        }
        let mut parts = Vec::new();
        for component in body.split('/').filter(|c| !c.is_empty()) {
            if component == "." || component == ".." {
                return Err(err(PatternError::DotComponent));
            }
            if component == "**" {
                if parts.last() != Some(&Part::AnyDepth) {
                    parts.push(Part::AnyDepth);
                }
                continue;
            }
            parts.push(Part::Name(
                tokens(component.as_bytes()).ok_or_else(|| err(PatternError::Unclosed))?,
            ));
        }
        Ok(Self {
            text: text.to_string(),
            anchored,
            dirs_only,
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `rel` (components relative to the import folder, the last
    /// the entry's own name) is excluded.
    fn matches(&self, rel: &[&[u8]], is_dir: bool) -> bool {
        if self.dirs_only && !is_dir {
            return false;
        }
        if self.anchored {
            return match_parts(&self.parts, rel);
        }
        match (rel.last(), self.parts.as_slice()) {
            (Some(name), [Part::Name(tokens)]) => match_name(tokens, name),
            _ => false,
        }
    }
}

fn tokens(mut p: &[u8]) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    while let Some((&b, rest)) = p.split_first() {
        p = rest;
        out.push(match b {
            b'*' => {
                // Runs of stars are one star.
                if out.last() == Some(&Token::Star) {
                    continue;
                }
                Token::Star
            }
            b'?' => Token::One,
            b'[' => {
                let negated = matches!(p.first(), Some(b'!') | Some(b'^'));
                if negated {
                    p = &p[1..];
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let (&c, rest) = p.split_first()?;
                    if c == b']' && !first {
                        p = rest;
                        break;
                    }
                    first = false;
                    match rest {
                        [b'-', hi, tail @ ..] if *hi != b']' => {
                            ranges.push((c.min(*hi), c.max(*hi)));
                            p = tail;
                        }
                        _ => {
                            ranges.push((c, c));
                            p = rest;
                        }
                    }
                }
                Token::Class { negated, ranges }
            }
            b'\\' => match p.split_first() {
                Some((&escaped, rest)) => {
                    p = rest;
                    Token::Byte(escaped)
                }
                None => Token::Byte(b'\\'),
            },
            b => Token::Byte(b),
        });
    }
    Some(out)
}

fn match_parts(parts: &[Part], rel: &[&[u8]]) -> bool {
    match parts.split_first() {
        None => rel.is_empty(),
        Some((Part::AnyDepth, rest)) => (0..=rel.len()).any(|skip| match_parts(rest, &rel[skip..])),
        Some((Part::Name(tokens), rest)) => match rel.split_first() {
            Some((name, tail)) => match_name(tokens, name) && match_parts(rest, tail),
            None => false,
        },
    }
}

/// One name against one component's tokens (stars backtrack to the last
/// star only: linear in practice, never exponential).
fn match_name(tokens: &[Token], name: &[u8]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let ok = match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
                continue;
            }
            Some(Token::One) => true,
            Some(Token::Byte(b)) => *b == name[n],
            Some(Token::Class { negated, ranges }) => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&name[n])) != *negated
            }
            None => false,
        };
        if ok {
            t += 1;
            n += 1;
        } else if let Some((st, sn)) = star {
            t = st + 1;
            n = sn + 1;
            star = Some((st, sn + 1));
        } else {
            return false;
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::Star)
}

/// The exclude patterns of one scan root, matched relative to the import
/// folder they belong to (which may be above the root).
#[derive(Debug, Clone, Default)]
pub struct Excludes {
    base: PathBuf,
    patterns: Vec<Pattern>,
}

impl Excludes {
    pub fn new(base: PathBuf, patterns: Vec<Pattern>) -> Self {
        Self { base, patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The pattern that excludes `path` (a folder if `is_dir`), if any.
    pub fn matching(&self, path: &Path, is_dir: bool) -> Option<&str> {
        if self.patterns.is_empty() {
            return None;
        }
        use std::os::unix::ffi::OsStrExt;
        let rel = path.strip_prefix(&self.base).ok()?;
        let parts: Vec<&[u8]> = rel.iter().map(|c| c.as_bytes()).collect();
        if parts.is_empty() {
            return None;
        }
        self.patterns
            .iter()
            .find(|p| p.matches(&parts, is_dir))
            .map(Pattern::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str, is_dir: bool) -> bool {
        let e = Excludes::new("/in".into(), vec![Pattern::parse(pattern).unwrap()]);
        e.matching(Path::new(path), is_dir).is_some()
    }

    #[test]
    fn names_match_at_any_depth_and_slashes_anchor() {
        assert!(m("*.part", "/in/a/b/book.part", false));
        assert!(!m("*.part", "/in/a/book.part.mp3", false));
        assert!(m("@eaDir", "/in/x/@eaDir", true));
        assert!(m("Sample*", "/in/Author/Sample - Book", true));
        assert!(
            !m("sample*", "/in/Author/Sample - Book", true),
            "case-sensitive"
        );
        assert!(m("Incomplete/*", "/in/Incomplete/Book", true));
        assert!(
            !m("Incomplete/*", "/in/x/Incomplete/Book", true),
            "anchored"
        );
        assert!(m("/Extras", "/in/Extras", true));
        assert!(!m("/Extras", "/in/a/Extras", true));
        assert!(m("**/Previews", "/in/a/b/Previews", true));
        assert!(m("**/Previews", "/in/Previews", true));
        assert!(m("a/**/z.mp3", "/in/a/z.mp3", false));
        assert!(m("a/**/z.mp3", "/in/a/b/c/z.mp3", false));
        assert!(!m("a/**/z.mp3", "/in/b/z.mp3", false));
        assert!(m("Extras/", "/in/x/Extras", true));
        assert!(!m("Extras/", "/in/x/Extras", false), "folders only");
        assert!(m("disc[0-9]", "/in/disc7", true));
        assert!(!m("disc[!0-9]", "/in/disc7", true));
        assert!(m("disc[!0-9]", "/in/discA", true));
        assert!(m("?.mp3", "/in/a.mp3", false));
        assert!(!m("?.mp3", "/in/ab.mp3", false));
        assert!(m("\\*.mp3", "/in/*.mp3", false));
        assert!(!m("*", "/elsewhere/x", false), "outside the folder");
        assert!(!m("*", "/in", true), "never the folder itself");
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(Pattern::parse(" "), Err(PatternError::Empty));
        assert_eq!(Pattern::parse("/"), Err(PatternError::Empty));
        assert!(matches!(
            Pattern::parse("a/../b"),
            Err(PatternError::DotComponent(_))
        ));
        assert!(matches!(
            Pattern::parse("[ab"),
            Err(PatternError::Unclosed(_))
        ));
        assert!(matches!(
            Pattern::parse(&"a".repeat(600)),
            Err(PatternError::TooLong(_))
        ));
        assert!(matches!(Pattern::parse("a\0"), Err(PatternError::Nul(_))));
    }

    #[test]
    fn stars_never_take_exponential_time() {
        let name = "a".repeat(5000);
        let p = Pattern::parse(&format!("{}b", "*a".repeat(100))).unwrap();
        let e = Excludes::new("/in".into(), vec![p]);
        // Backtracking to every star would never finish; to the last one
        // it is quadratic at worst.
        assert!(e.matching(&Path::new("/in").join(&name), false).is_none());
    }
}
