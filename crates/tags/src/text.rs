//! Text as tags hold it: encodings, several values in one field, numbers
//! written as `3/12`, years inside dates. Nothing that leaves here holds a
//! control character.

/// Latin-1 (ISO 8859-1) bytes as text.
pub fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

/// UTF-16 code units from bytes, little- or big-endian.
fn units(b: &[u8], big: bool) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(move |p| {
        if big {
            u16::from_be_bytes([p[0], p[1]])
        } else {
            u16::from_le_bytes([p[0], p[1]])
        }
    })
}

/// UTF-16 with an optional byte-order mark (little-endian without one,
/// as Windows writes it); unpaired surrogates become U+FFFD.
pub fn utf16(b: &[u8], default_big: bool) -> String {
    let (big, rest) = match b {
        [0xFF, 0xFE, rest @ ..] => (false, rest),
        [0xFE, 0xFF, rest @ ..] => (true, rest),
        _ => (default_big, b),
    };
    char::decode_utf16(units(rest, big))
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// UTF-8, invalid sequences replaced.
pub fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A value as it may be shown and stored: control characters become
/// spaces, runs of white space one space, ends trimmed; `None` if empty.
pub fn clean(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() || c == '\u{feff}' {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The values of a field that holds several separated by NUL (ID3v2.4,
/// APEv2), each cleaned, empty ones left out.
pub fn values(s: &str) -> Vec<String> {
    s.split('\0').filter_map(clean).collect()
}

/// The first number of `3`, `03`, `3/12`, ` 3 of 12`; 0 and nonsense are
/// no number.
pub fn number(s: &str) -> Option<u32> {
    let s = s.trim_start();
    let digits: &str = &s[..s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len())];
    digits.parse::<u32>().ok().filter(|n| *n > 0)
}

/// The year of `2004`, `2004-05-01`, `2004-05-01T10:00`, `(2004)`,
/// `05/01/2004`: the first run of exactly four digits, 1000-2999.
pub fn year(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 4 {
                let y: i32 = s[start..i].parse().ok()?;
                if (1000..=2999).contains(&y) {
                    return Some(y);
                }
            }
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_survive() {
        assert_eq!(clean(" a\u{0}b\tc\r\n d\u{7} ").as_deref(), Some("a b c d"));
        assert_eq!(clean("\u{0}\u{1} "), None);
        assert_eq!(values("artist6\0artist7\0\0"), ["artist6", "artist7"]);
    }

    #[test]
    fn numbers_and_years() {
        assert_eq!(number("3/12"), Some(3));
        assert_eq!(number("03"), Some(3));
        assert_eq!(number("0"), None);
        assert_eq!(number("x"), None);
        assert_eq!(year("2004-05-01T10:00"), Some(2004));
        assert_eq!(year("05/01/1998"), Some(1998));
        assert_eq!(year("12345"), None);
        assert_eq!(year(""), None);
    }

    #[test]
    fn utf16_with_and_without_a_mark() {
        assert_eq!(utf16(&[0xFF, 0xFE, b'h', 0, b'i', 0], false), "hi");
        assert_eq!(utf16(&[0xFE, 0xFF, 0, b'h', 0, b'i'], false), "hi");
        assert_eq!(utf16(&[b'h', 0, b'i', 0], false), "hi");
        assert_eq!(utf16(&[0, 0xD8], false), "\u{fffd}");
    }
}
