//! Error aggregation: every warn and error line gets a fingerprint (its
//! message with numbers, ids, paths and hashes normalized), and lines that
//! share one are counted together. Runs on the log writer thread, so the
//! groups are written in the same commit as the lines.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::store::{ErrorExample, ErrorGroup, LogEntry, LogLevel, Store};

/// Days of per-day counts kept on a group.
const DAILY_DAYS: usize = 90;
/// Operation types remembered per group.
const MAX_TYPES: usize = 16;
/// Groups cached in memory; the store holds them all.
const CACHE_LIMIT: usize = 4096;

fn is_path(token: &str) -> bool {
    let t = token.trim_matches(|c: char| "\"'`()[]{}<>,;:".contains(c));
    t.contains('/')
        || t.starts_with('~')
        || (t.len() > 2 && t.as_bytes()[1] == b':' && t.contains('\\'))
}

/// `name.ext` (with optional trailing punctuation): what is left of a
/// path with spaces after its last space.
fn is_file_name_tail(token: &str) -> bool {
    let t = token.trim_end_matches([',', ':', ';']);
    match t.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
                && ext.bytes().any(|b| b.is_ascii_alphabetic())
        }
        None => false,
    }
}

/// Replaces one alphanumeric run.
fn normalize_run(run: &str, out: &mut String) {
    let all_digits = run.bytes().all(|b| b.is_ascii_digit());
    let has_digit = run.bytes().any(|b| b.is_ascii_digit());
    if all_digits {
        out.push_str("<n>");
    } else if run.len() == 26
        && has_digit
        && run
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        out.push_str("<id>");
    } else if run.len() >= 8 && has_digit && run.bytes().all(|b| b.is_ascii_hexdigit()) {
        out.push_str("<hash>");
    } else {
        // Digits inside words ("part3") still vary.
        let mut in_digits = false;
        for c in run.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    out.push_str("<n>");
                }
                in_digits = true;
            } else {
                in_digits = false;
                out.push(c);
            }
        }
    }
}

/// The message with its varying parts replaced: `<path>`, `<id>` (ULIDs),
/// `<hash>` (hex of 8+ characters), `<n>` (numbers). Quoted paths with
/// spaces count as one path.
///
/// ```
/// use ao_engine::logs::error_groups::normalize;
/// assert_eq!(
///     normalize("cannot read \"/data/My Book/01.mp3\": error 5 after 1.5s"),
///     "cannot read <path>: error <n> after <n>.<n>s"
/// );
/// ```
pub fn normalize(message: &str) -> String {
    // Quoted strings that hold a path become one token first.
    let mut unquoted = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('"') {
        let Some(len) = rest[start + 1..].find('"') else {
            break;
        };
        let inner = &rest[start + 1..start + 1 + len];
        unquoted.push_str(&rest[..start]);
        if inner.contains('/') {
            unquoted.push_str("<path>");
        } else {
            unquoted.push_str(&rest[start..start + len + 2]);
        }
        rest = &rest[start + len + 2..];
    }
    unquoted.push_str(rest);

    let mut out = String::with_capacity(unquoted.len());
    for (i, token) in unquoted.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let trailing = token.chars().last().filter(|c| ",:;".contains(*c));
        let follows_path = out.ends_with("<path> ");
        if token != "<path>" && (is_path(token) || (follows_path && is_file_name_tail(token))) {
            if follows_path {
                // The rest of a path with spaces.
                out.pop();
            } else {
                out.push_str("<path>");
            }
            if let Some(p) = trailing {
                out.push(p);
            }
            continue;
        }
        let mut run = String::new();
        for c in token.chars() {
            if c.is_ascii_alphanumeric() {
                run.push(c);
            } else {
                if !run.is_empty() {
                    normalize_run(&run, &mut out);
                    run.clear();
                }
                out.push(c);
            }
        }
        if !run.is_empty() {
            normalize_run(&run, &mut out);
        }
    }
    // "<path> <path>" from an unquoted path with spaces reads as one.
    while out.contains("<path> <path>") {
        out = out.replace("<path> <path>", "<path>");
    }
    out
}

/// 16 hex characters of SHA-256 over level and normalized message.
pub fn fingerprint(level: LogLevel, pattern: &str) -> String {
    let mut h = Sha256::new();
    h.update(level.as_str().as_bytes());
    h.update([0u8]);
    h.update(pattern.as_bytes());
    crate::hash::to_hex(&h.finalize()[..8])
}

#[derive(Default)]
pub struct ErrorAggregator {
    cache: HashMap<String, ErrorGroup>,
    dirty: HashSet<String>,
}

impl ErrorAggregator {
    /// Counts a warn or error line; info lines are ignored.
    pub fn observe(&mut self, store: &dyn Store, entry: &LogEntry, op_type: &str) {
        if entry.level == LogLevel::Info {
            return;
        }
        let pattern = normalize(&entry.message);
        let fp = fingerprint(entry.level, &pattern);
        if !self.cache.contains_key(&fp) {
            if self.cache.len() >= CACHE_LIMIT && self.dirty.is_empty() {
                self.cache.clear();
            }
            let stored = store.get_error_group(&fp).ok().flatten();
            self.cache.insert(
                fp.clone(),
                stored.unwrap_or_else(|| ErrorGroup {
                    fingerprint: fp.clone(),
                    pattern,
                    level: entry.level,
                    count: 0,
                    first_seen: entry.created_at,
                    last_seen: entry.created_at,
                    last_example: example(entry),
                    operation_types: Vec::new(),
                    daily: Default::default(),
                }),
            );
        }
        let Some(g) = self.cache.get_mut(&fp) else {
            return;
        };
        g.count += 1;
        g.last_seen = entry.created_at;
        g.last_example = example(entry);
        if !g.operation_types.iter().any(|t| t == op_type) && g.operation_types.len() < MAX_TYPES {
            g.operation_types.push(op_type.to_string());
        }
        *g.daily
            .entry(entry.created_at.date().to_string())
            .or_default() += 1;
        while g.daily.len() > DAILY_DAYS {
            g.daily.pop_first();
        }
        self.dirty.insert(fp);
    }

    /// Groups changed since the last call, to be written with the batch.
    pub fn take_dirty(&mut self) -> Vec<ErrorGroup> {
        self.dirty
            .drain()
            .filter_map(|fp| self.cache.get(&fp).cloned())
            .collect()
    }

    /// After a failed commit the cache is ahead of the store.
    pub fn forget(&mut self) {
        self.cache.clear();
        self.dirty.clear();
    }
}

fn example(entry: &LogEntry) -> ErrorExample {
    ErrorExample {
        message: entry.message.clone(),
        details: entry.details.clone(),
        operation_id: entry.operation_id.clone(),
        at: entry.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varying_parts_are_replaced() {
        assert_eq!(
            normalize(
                "hash mismatch for 01JD2X3Y4Z5A6B7C8D9E0F1G2H: stored 9f86d081884c7d65 got 3"
            ),
            "hash mismatch for <id>: stored <hash> got <n>"
        );
        assert_eq!(
            normalize("cannot open /srv/books/a b/part3.mp3: No such file"),
            "cannot open <path>: No such file"
        );
        assert_eq!(normalize("retry 3 of 5"), "retry <n> of <n>");
        assert_eq!(
            normalize("/srv/in/junk0/broken 0.mp3: tags unreadable (bad frame)"),
            "<path>: tags unreadable (bad frame)"
        );
        assert_eq!(normalize("part3 failed"), "part<n> failed");
    }

    #[test]
    fn same_shape_same_fingerprint() {
        let a = normalize("cannot read \"/a/x y/1.mp3\": timeout after 30s");
        let b = normalize("cannot read \"/b/z/2.flac\": timeout after 5s");
        assert_eq!(a, b);
        assert_eq!(
            fingerprint(LogLevel::Warn, &a),
            fingerprint(LogLevel::Warn, &b)
        );
        assert_ne!(
            fingerprint(LogLevel::Warn, &a),
            fingerprint(LogLevel::Error, &a)
        );
    }
}
