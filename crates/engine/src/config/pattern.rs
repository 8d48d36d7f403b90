//! Folder and file name patterns like `{author}/{series}/{title} ({print_year})`.
//!
//! An empty placeholder takes its decoration with it: `( )` around it, or
//! the ` - ...` separator before (or after) it. Values are sanitized so that
//! they can never add a path component: `/`, `\`, `<>:"|?*` and control
//! characters are replaced, and `.`/`..` never survive as a component.

use std::borrow::Cow;

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Author,
    Title,
    Series,
    SeriesIndex,
    Narrator,
    Year,
    PrintYear,
    Album,
    Part,
}

impl Field {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "author" => Self::Author,
            "title" => Self::Title,
            "series" => Self::Series,
            "series_index" | "series_number" => Self::SeriesIndex,
            "narrator" => Self::Narrator,
            "year" => Self::Year,
            "print_year" => Self::PrintYear,
            "album" => Self::Album,
            "part" => Self::Part,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Lit(String),
    Field(Field),
}

#[derive(Debug, Error, PartialEq)]
pub enum PatternError {
    #[error(
        "unknown placeholder {{{0}}} (known: author, title, series, series_index, narrator, year, print_year, album, part)"
    )]
    Unknown(String),
    #[error("unclosed '{{' in pattern")]
    Unclosed,
    #[error("the pattern is empty")]
    Empty,
    #[error("the pattern holds {0:?}, which cannot be part of a file name everywhere")]
    Character(char),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    segments: Vec<Vec<Token>>,
}

/// Longest name we produce for one path component, in bytes.
const MAX_COMPONENT: usize = 200;

pub fn sanitize_value(v: &str) -> String {
    v.chars()
        .map(|c| if replaced(c) { '_' } else { c })
        .collect()
}

/// Characters a value cannot keep in a file name.
fn replaced(c: char) -> bool {
    matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*' | '/' | '\\') || c.is_control()
}

/// `sanitize_value(v.trim())`, keeping `v` itself when that changes nothing.
fn clean_value(v: String) -> String {
    let t = v.trim();
    if t.len() == v.len() && !t.chars().any(replaced) {
        return v;
    }
    sanitize_value(t)
}

fn finish_component(s: String) -> String {
    // Most names are already single-spaced, trimmed and short.
    let plain = s.len() <= MAX_COMPONENT
        && !s.starts_with([' ', '.'])
        && !s.ends_with([' ', '.'])
        && !s.contains("  ")
        && !s.chars().any(|c| c.is_whitespace() && c != ' ');
    if plain {
        return s;
    }
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut t = collapsed
        .trim_matches(|c: char| c == ' ' || c == '.')
        .to_string();
    if t.len() > MAX_COMPONENT {
        let mut cut = MAX_COMPONENT;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
        t = t.trim_end_matches([' ', '.']).to_string();
    }
    if t.is_empty() && !collapsed.is_empty() {
        // Only dots and spaces (such as `..`): keep a harmless placeholder.
        t = "_".into();
    }
    t
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Self, PatternError> {
        if s.trim().is_empty() {
            return Err(PatternError::Empty);
        }
        if let Some(c) = s.chars().find(|c| c.is_control() || *c == '\\') {
            return Err(PatternError::Character(c));
        }
        let mut segments = Vec::new();
        for seg in s.split('/') {
            let mut tokens = Vec::new();
            let mut rest = seg;
            while let Some(open) = rest.find('{') {
                if open > 0 {
                    tokens.push(Token::Lit(rest[..open].to_string()));
                }
                let close = rest[open..].find('}').ok_or(PatternError::Unclosed)? + open;
                let name = &rest[open + 1..close];
                tokens.push(Token::Field(
                    Field::parse(name.trim())
                        .ok_or_else(|| PatternError::Unknown(name.to_string()))?,
                ));
                rest = &rest[close + 1..];
            }
            if !rest.is_empty() {
                tokens.push(Token::Lit(rest.to_string()));
            }
            segments.push(tokens);
        }
        Ok(Self { segments })
    }

    pub fn uses(&self, field: Field) -> bool {
        self.segments
            .iter()
            .flatten()
            .any(|t| *t == Token::Field(field))
    }

    /// Expands into path components; empty components are dropped.
    pub fn expand(&self, value: &dyn Fn(Field) -> Option<String>) -> Vec<String> {
        let mut out = Vec::new();
        for seg in &self.segments {
            // Resolve values; literals stay as they are (pattern text is trusted).
            let mut parts: Vec<(bool, Cow<'_, str>)> = seg
                .iter()
                .map(|t| match t {
                    Token::Lit(l) => (true, Cow::Borrowed(l.as_str())),
                    Token::Field(f) => (
                        false,
                        Cow::Owned(value(*f).map(clean_value).unwrap_or_default()),
                    ),
                })
                .collect();
            for i in 0..parts.len() {
                if parts[i].0 || !parts[i].1.is_empty() {
                    continue;
                }
                let prev = i.checked_sub(1).filter(|&p| parts[p].0);
                let next = Some(i + 1).filter(|&n| n < parts.len() && parts[n].0);
                let prev_paren = prev.is_some_and(|p| parts[p].1.trim_end().ends_with('('));
                let next_paren = next.is_some_and(|n| parts[n].1.trim_start().starts_with(')'));
                if prev_paren && next_paren {
                    let (p, n) = (prev.unwrap(), next.unwrap());
                    let pl = parts[p]
                        .1
                        .trim_end()
                        .trim_end_matches('(')
                        .trim_end()
                        .to_string();
                    parts[p].1 = Cow::Owned(pl);
                    let nl = parts[n].1.trim_start().trim_start_matches(')').to_string();
                    parts[n].1 = Cow::Owned(nl);
                } else if let Some(p) = prev.filter(|&p| parts[p].1.contains(" - ")) {
                    let at = parts[p].1.rfind(" - ").unwrap_or(0);
                    parts[p].1.to_mut().truncate(at);
                } else if let Some(n) = next.filter(|&n| parts[n].1.starts_with(" - ")) {
                    parts[n].1 = Cow::Owned(parts[n].1[3..].to_string());
                } else if let (0, Some(n)) = (i, next) {
                    let nl = parts[n].1.trim_start_matches([' ', '-', '_']).to_string();
                    parts[n].1 = Cow::Owned(nl);
                }
            }
            let joined = if parts.len() == 1 {
                parts.pop().map(|(_, s)| s.into_owned()).unwrap_or_default()
            } else {
                let mut joined = String::with_capacity(parts.iter().map(|(_, s)| s.len()).sum());
                for (_, s) in &parts {
                    joined.push_str(s);
                }
                joined
            };
            let component = finish_component(joined);
            if !component.is_empty() {
                out.push(component);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz/fuzz_targets/pattern.rs`: a backslash in the pattern's
    /// own text reached a file name (invalid on SMB shares).
    #[test]
    fn control_characters_and_backslashes_in_a_pattern_are_refused() {
        assert_eq!(Pattern::parse("\\V"), Err(PatternError::Character('\\')));
        assert_eq!(
            Pattern::parse("{author}\u{0}x"),
            Err(PatternError::Character('\u{0}'))
        );
        assert_eq!(
            Pattern::parse("a\tb/{title}"),
            Err(PatternError::Character('\t'))
        );
    }

    fn values<'a>(pairs: &'a [(Field, &'a str)]) -> impl Fn(Field) -> Option<String> + 'a {
        move |f| {
            pairs
                .iter()
                .find(|(k, _)| *k == f)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn default_patterns_with_everything() {
        let folder = Pattern::parse("{author}/{series}/{title} ({print_year})").unwrap();
        let v = [
            (Field::Author, "Frank Herbert"),
            (Field::Series, "Dune"),
            (Field::Title, "Dune"),
            (Field::PrintYear, "1965"),
        ];
        assert_eq!(
            folder.expand(&values(&v)),
            ["Frank Herbert", "Dune", "Dune (1965)"]
        );
    }

    #[test]
    fn empty_placeholders_drop_their_decoration() {
        let folder = Pattern::parse("{author}/{series}/{title} ({print_year})").unwrap();
        let v = [(Field::Author, "A"), (Field::Title, "T")];
        assert_eq!(folder.expand(&values(&v)), ["A", "T"]);
        let file = Pattern::parse("{title} - {author} - read by {narrator}").unwrap();
        assert_eq!(file.expand(&values(&v)), ["T - A"]);
        let v2 = [
            (Field::Author, "A"),
            (Field::Title, "T"),
            (Field::Narrator, "N"),
        ];
        assert_eq!(file.expand(&values(&v2)), ["T - A - read by N"]);
        let lead = Pattern::parse("{series} - {title}").unwrap();
        assert_eq!(lead.expand(&values(&v)), ["T"]);
    }

    #[test]
    fn values_cannot_escape_or_add_components() {
        let p = Pattern::parse("{author}/{title}").unwrap();
        let v = [(Field::Author, "../../etc"), (Field::Title, "..")];
        let out = p.expand(&values(&v));
        assert_eq!(out.len(), 2);
        for c in &out {
            assert!(!c.contains('/') && c != ".." && c != ".");
        }
        let v = [(Field::Author, "a<b>:c\"d|e?f*g\u{7}"), (Field::Title, "x")];
        assert_eq!(p.expand(&values(&v))[0], "a_b__c_d_e_f_g_");
    }

    #[test]
    fn components_are_single_spaced_trimmed_and_bounded() {
        let p = Pattern::parse("{title}").unwrap();
        let long = "x".repeat(MAX_COMPONENT + 10);
        let cases = [
            ("Plain Title", "Plain Title"),
            ("Two  spaces", "Two spaces"),
            (" lead", "lead"),
            ("trail. ", "trail"),
            ("tab\u{a0}and\u{2003}em", "tab and em"),
            ("...", "_"),
            (".hidden", "hidden"),
            (long.as_str(), &long[..MAX_COMPONENT]),
        ];
        for (title, want) in cases {
            let v = [(Field::Title, title)];
            assert_eq!(p.expand(&values(&v)), [want], "{title:?}");
        }
        let spaced = format!("{} .x", "y".repeat(MAX_COMPONENT - 1));
        let v = [(Field::Title, spaced.as_str())];
        assert_eq!(p.expand(&values(&v)), ["y".repeat(MAX_COMPONENT - 1)]);
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert_eq!(
            Pattern::parse("{nope}"),
            Err(PatternError::Unknown("nope".into()))
        );
        assert_eq!(Pattern::parse("{title"), Err(PatternError::Unclosed));
        assert_eq!(Pattern::parse(" "), Err(PatternError::Empty));
    }
}
