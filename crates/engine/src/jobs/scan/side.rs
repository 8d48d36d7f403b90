//! Side files in a book's folder, read as Audiobookshelf reads them:
//! `desc.txt` (description), `reader.txt` (narrators, first line), an OPF
//! file (Calibre's `metadata.opf`: title, authors, narrators, date, series
//! and index, ISBN, ASIN, description) and Audiobookshelf's own
//! `metadata.json`; and the cover image. The walk names the side files of
//! every folder it reads; they are opened only for a new book.

use std::path::Path;

use super::layout::{Layer, names};

/// Image extensions a cover may have (Audiobookshelf's list).
const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

fn image_stem(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && IMAGE_EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e)))
        .then_some(stem)
}

/// Whether a file name is a side file the scan reads.
pub fn is_side_file(name: &[u8]) -> bool {
    matches!(name, b"desc.txt" | b"reader.txt" | b"metadata.json")
        || (name.len() > 4 && name[name.len() - 4..].eq_ignore_ascii_case(b".opf"))
        || std::str::from_utf8(name).is_ok_and(|n| image_stem(n).is_some())
}

/// The cover image among a folder's side files: `cover.*`, then
/// `folder.*` (names in any case), then the first image in name order.
pub fn cover_image(present: &[String]) -> Option<&str> {
    let mut images: Vec<&str> = present
        .iter()
        .map(String::as_str)
        .filter(|n| image_stem(n).is_some())
        .collect();
    images.sort_unstable();
    let named = |want: &str| {
        images
            .iter()
            .find(|n| image_stem(n).is_some_and(|s| s.eq_ignore_ascii_case(want)))
            .copied()
    };
    named("cover")
        .or_else(|| named("folder"))
        .or_else(|| images.first().copied())
}

/// Side files larger than this are not read (a description is not 4 MiB).
const MAX_SIDE_FILE: u64 = 4 << 20;

fn read_text(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_SIDE_FILE {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    Some(text.trim_start_matches('\u{feff}').to_string())
}

fn clean(s: &str) -> Option<String> {
    super::tags::text::clean(s)
}

/// `desc.txt` and `reader.txt`.
pub fn txt(dir: &Path, present: &[String]) -> Layer {
    let mut l = Layer::default();
    if present.iter().any(|n| n == "desc.txt") {
        l.description = read_text(&dir.join("desc.txt"))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
    }
    if present.iter().any(|n| n == "reader.txt")
        && let Some(t) = read_text(&dir.join("reader.txt"))
    {
        l.narrators = t.lines().next().map(names).unwrap_or_default();
    }
    l
}

/// The first OPF file (in name order).
pub fn opf(dir: &Path, present: &[String]) -> Layer {
    let mut opfs: Vec<&String> = present
        .iter()
        .filter(|n| n.to_ascii_lowercase().ends_with(".opf"))
        .collect();
    opfs.sort();
    opfs.first()
        .and_then(|n| read_text(&dir.join(n.as_str())))
        .map(|t| parse_opf(&t))
        .unwrap_or_default()
}

/// Audiobookshelf's `metadata.json` (older files nest the fields under
/// `metadata`).
pub fn abs_json(dir: &Path, present: &[String]) -> Layer {
    if !present.iter().any(|n| n == "metadata.json") {
        return Layer::default();
    }
    read_text(&dir.join("metadata.json"))
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|v| parse_abs_json(&v))
        .unwrap_or_default()
}

fn parse_abs_json(v: &serde_json::Value) -> Layer {
    use serde_json::Value;
    let v = match v.get("metadata") {
        Some(m) if m.is_object() => m,
        _ => v,
    };
    let text = |k: &str| match v.get(k) {
        Some(Value::String(s)) => clean(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let list = |k: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in v.get(k).and_then(Value::as_array).into_iter().flatten() {
            if let Some(c) = s.as_str().and_then(clean)
                && !out.contains(&c)
            {
                out.push(c);
            }
        }
        out
    };
    let mut l = Layer {
        title: text("title"),
        authors: list("authors"),
        narrators: list("narrators"),
        year: text("publishedYear").and_then(|y| super::tags::text::year(&y)),
        isbn: text("isbn"),
        asin: text("asin"),
        description: text("description"),
        language: text("language"),
        publisher: text("publisher"),
        genres: list("genres"),
        ..Layer::default()
    };
    // `"Name #2"`: the first series.
    if let Some(first) = list("series").into_iter().next() {
        match first.rsplit_once(" #") {
            Some((name, seq)) if !seq.is_empty() && !seq.contains(char::is_whitespace) => {
                l.series = clean(name);
                l.sequence = Some(seq.to_string());
            }
            _ => l.series = Some(first),
        }
    }
    l
}

/// XML's five entities and numeric references.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One element of an OPF: its name, attributes and text.
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
}

impl Element {
    fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == local || k.rsplit(':').next() == Some(local))
            .map(|(_, v)| v.as_str())
    }
}

/// The elements of an XML text, flat (enough for OPF metadata: `dc:*`
/// elements hold text, `meta` elements attributes).
fn elements(xml: &str) -> Vec<Element> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        if rest.starts_with('/') || rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[..close];
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, attr_text) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        let attrs = parse_attrs(attr_text);
        rest = &rest[close + 1..];
        let mut text = String::new();
        if !self_closing {
            let end_tag = format!("</{name}");
            if let Some(e) = rest.find(&end_tag) {
                text = rest[..e].to_string();
            }
        }
        out.push(Element {
            name: name.to_string(),
            attrs,
            text: unescape(&strip_tags(&text)),
        });
        if out.len() > 10_000 {
            break;
        }
    }
    out
}

fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut inside = false;
    for c in s.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

fn parse_attrs(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            break;
        };
        let Some(end) = after[1..].find(q) else { break };
        out.push((key, unescape(&after[1..1 + end])));
        rest = after[end + 2..].trim_start();
    }
    out
}

/// Calibre's OPF metadata: `dc:title`, `dc:creator` (role `aut` or none:
/// author; `nrt`: narrator), `dc:date`, `dc:identifier` (scheme ISBN or
/// ASIN), `dc:description`, `calibre:series` and `calibre:series_index`.
pub fn parse_opf(xml: &str) -> Layer {
    let mut l = Layer::default();
    let els = elements(xml);
    for (i, e) in els.iter().enumerate() {
        let local = e
            .name
            .rsplit(':')
            .next()
            .unwrap_or(&e.name)
            .to_ascii_lowercase();
        let is_dc = e.name.to_ascii_lowercase().starts_with("dc:");
        match (is_dc, local.as_str()) {
            (true, "title") if l.title.is_none() => l.title = clean(&e.text),
            (true, "creator") => {
                let Some(name) = clean(&e.text) else { continue };
                let list = match e.attr("role").map(str::to_ascii_lowercase).as_deref() {
                    Some("nrt") => &mut l.narrators,
                    Some("aut") | None => &mut l.authors,
                    _ => continue,
                };
                if !list.contains(&name) {
                    list.push(name);
                }
            }
            (true, "date") if l.year.is_none() => {
                let t = e.text.trim();
                if let Some(y) = t.split('-').next().filter(|y| y.len() == 4) {
                    l.year = y.parse().ok();
                }
            }
            (true, "identifier") => match e.attr("scheme") {
                Some(s) if s.eq_ignore_ascii_case("isbn") => {
                    l.isbn = l.isbn.take().or_else(|| clean(&e.text))
                }
                Some(s) if s.eq_ignore_ascii_case("asin") => {
                    l.asin = l.asin.take().or_else(|| clean(&e.text))
                }
                _ => {}
            },
            (true, "description") if l.description.is_none() => l.description = clean(&e.text),
            (true, "language") if l.language.is_none() => l.language = clean(&e.text),
            (true, "publisher") if l.publisher.is_none() => l.publisher = clean(&e.text),
            (true, "subject") => {
                if let Some(g) = clean(&e.text)
                    && !l.genres.contains(&g)
                {
                    l.genres.push(g);
                }
            }
            (false, "meta") if e.attr("name") == Some("calibre:series") && l.series.is_none() => {
                l.series = e.attr("content").and_then(clean);
                // Its index, in the meta right after it.
                if let Some(next) = els.get(i + 1)
                    && next.attr("name") == Some("calibre:series_index")
                {
                    l.sequence = next
                        .attr("content")
                        .and_then(clean)
                        .map(|s| tidy_number(&s));
                }
            }
            _ => {}
        }
    }
    if l.series.is_some() && l.sequence.is_none() {
        l.sequence = els
            .iter()
            .find(|e| e.attr("name") == Some("calibre:series_index"))
            .and_then(|e| e.attr("content"))
            .and_then(clean)
            .map(|s| tidy_number(&s));
    }
    l
}

/// `2.0` → `2`, `1.50` → `1.5`; anything else as written.
fn tidy_number(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(n) if n.fract() == 0.0 && n >= 0.0 => format!("{}", n as u64),
        Ok(_) if s.contains('.') => s.trim_end_matches('0').to_string(),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibre_opf() {
        let xml = r#"<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
    <dc:title>The Way of Kings</dc:title>
    <dc:creator opf:role="aut" opf:file-as="Sanderson, Brandon">Brandon Sanderson</dc:creator>
    <dc:creator opf:role="nrt">Michael Kramer</dc:creator>
    <dc:creator opf:role="nrt">Kate Reading</dc:creator>
    <dc:date>2010-08-31T00:00:00+00:00</dc:date>
    <dc:identifier opf:scheme="ISBN">9780765326355</dc:identifier>
    <dc:description>&lt;p&gt;Roshar is a world of stone &amp; storms.&lt;/p&gt;</dc:description>
    <dc:language>eng</dc:language>
    <meta name="calibre:series" content="The Stormlight Archive"/>
    <meta name="calibre:series_index" content="1.0"/>
  </metadata>
</package>"#;
        let l = parse_opf(xml);
        assert_eq!(l.title.as_deref(), Some("The Way of Kings"));
        assert_eq!(l.authors, ["Brandon Sanderson"]);
        assert_eq!(l.narrators, ["Michael Kramer", "Kate Reading"]);
        assert_eq!(l.year, Some(2010));
        assert_eq!(l.isbn.as_deref(), Some("9780765326355"));
        assert_eq!(l.series.as_deref(), Some("The Stormlight Archive"));
        assert_eq!(l.sequence.as_deref(), Some("1"));
        assert_eq!(
            l.description.as_deref(),
            Some("<p>Roshar is a world of stone & storms.</p>")
        );
    }

    #[test]
    fn audiobookshelf_metadata_json() {
        let v = serde_json::json!({
            "title": "Dune", "authors": ["Frank Herbert", "Frank Herbert"],
            "narrators": ["Scott Brick"], "series": ["Dune Chronicles #1"],
            "publishedYear": "1965", "asin": "B002V1OF70", "description": "Spice."
        });
        let l = parse_abs_json(&v);
        assert_eq!(l.title.as_deref(), Some("Dune"));
        assert_eq!(l.authors, ["Frank Herbert"]);
        assert_eq!(l.series.as_deref(), Some("Dune Chronicles"));
        assert_eq!(l.sequence.as_deref(), Some("1"));
        assert_eq!(l.year, Some(1965));
        let nested = serde_json::json!({"metadata": {"title": "Old"}});
        assert_eq!(parse_abs_json(&nested).title.as_deref(), Some("Old"));
    }

    #[test]
    fn entities() {
        assert_eq!(
            unescape("a &amp; b &#233; &#x41; &bogus; &"),
            "a & b é A &bogus; &"
        );
    }
}
