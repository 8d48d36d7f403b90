//! Text as the book indexes compare it: lowercase, without accents, in
//! words. "Brontë" and "BRONTE" fold to the same word; so do "Ender's" and
//! "enders".

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Letters that carry no combining mark to strip (NFD leaves them whole)
/// but that a reader types without their stroke or as two letters.
fn spelled_out(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' | 'ẞ' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ø' | 'Ø' => "o",
        'ł' | 'Ł' => "l",
        'đ' | 'Đ' => "d",
        'ð' | 'Ð' => "d",
        'þ' | 'Þ' => "th",
        'ı' => "i",
        _ => return None,
    })
}

/// Apostrophes inside a word ("Ender's") are dropped, not split on.
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '`')
}

/// Folds `s`: accents and case gone, every run of characters that are not
/// letters or digits one space, trimmed.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        return fold_ascii(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.nfd() {
        if is_combining_mark(c) || is_apostrophe(c) {
            continue;
        }
        if !c.is_alphanumeric() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        match spelled_out(c) {
            Some(letters) => out.push_str(letters),
            None => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// `fold` of ASCII text: no accents to take off.
fn fold_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.bytes() {
        if c.is_ascii_alphanumeric() {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c.to_ascii_lowercase() as char);
        } else if !matches!(c, b'\'' | b'`') {
            space = !out.is_empty();
        }
    }
    out
}

/// The folded words of `s`, in order.
pub fn words(s: &str) -> impl Iterator<Item = String> {
    let folded = fold(s);
    let words: Vec<String> = folded
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    words.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_accents_and_punctuation_fold_away() {
        assert_eq!(fold("Brontë"), "bronte");
        assert_eq!(fold("  ÉMILE Zola — Nana! "), "emile zola nana");
        assert_eq!(fold("Ender’s Game"), "enders game");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("Søren Kierkegaard"), "soren kierkegaard");
        assert_eq!(fold("Mrs. Dalloway (1925)"), "mrs dalloway 1925");
        assert_eq!(fold("三体"), "三体");
        assert_eq!(fold(""), "");
    }

    #[test]
    fn ascii_takes_the_short_way_to_the_same_result() {
        for s in [
            "Ender's Game",
            "  The -- Hitch`hiker  ",
            "A1 b2",
            "!!",
            "Mrs. Dalloway (1925)",
        ] {
            let mut slow = String::new();
            let mut space = false;
            for c in s.chars() {
                if is_apostrophe(c) {
                    continue;
                }
                if !c.is_alphanumeric() {
                    space = !slow.is_empty();
                    continue;
                }
                if space {
                    slow.push(' ');
                    space = false;
                }
                slow.extend(c.to_lowercase());
            }
            assert_eq!(fold_ascii(s), slow, "{s}");
        }
    }

    #[test]
    fn words_are_the_folded_words_in_order() {
        let w: Vec<String> = words("The Hitch-hiker's Guide, Vol. 1").collect();
        assert_eq!(w, ["the", "hitch", "hikers", "guide", "vol", "1"]);
    }
}
