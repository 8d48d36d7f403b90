//! Fixed-width key encoding: byte order of the keys is the order we read in.

/// Prefix shared by every log line of one operation.
pub fn log_prefix(operation_id: &str) -> String {
    format!("operationlog:{operation_id}:")
}

/// The first key after every key that starts with `prefix`.
pub fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_string();
    // Every prefix we build ends in ':' ; ';' is the next byte.
    end.pop();
    end.push(';');
    end
}

/// `operationlog:<operation_id>:<timestamp_nanos:020>:<seq:010>`: zero padded so
/// that a prefix scan is chronological and a reverse scan yields the tail.
///
/// ```
/// use ao_store::keys::log_key;
/// assert_eq!(
///     log_key("01HOP", 42, 7),
///     "operationlog:01HOP:00000000000000000042:0000000007"
/// );
/// assert!(log_key("01HOP", 9, 1) < log_key("01HOP", 10, 1));
/// ```
pub fn log_key(operation_id: &str, timestamp_nanos: u64, seq: u64) -> String {
    format!("operationlog:{operation_id}:{timestamp_nanos:020}:{seq:010}")
}

/// Parses the timestamp and sequence number back out of a log key.
pub fn parse_log_key(key: &str) -> Option<(u64, u64)> {
    let mut parts = key.rsplitn(3, ':');
    let seq = parts.next()?.parse().ok()?;
    let ts = parts.next()?.parse().ok()?;
    Some((ts, seq))
}

/// Counter key for the number of log lines of an operation.
pub fn log_count_key(operation_id: &str) -> String {
    format!("logs:{operation_id}")
}

pub const BOOKS_COUNT: &str = "books";
/// Bytes of all live books.
pub const LIBRARY_BYTES: &str = "library_bytes";
/// Prefix of the live-book counters per format.
pub const FORMAT_PREFIX: &str = "format:";
/// Prefix of the integrity finding counters per kind.
pub const FINDINGS_PREFIX: &str = "findings:";

/// Counter of live books whose first file has extension `ext`.
pub fn format_count_key(ext: &str) -> String {
    format!("{FORMAT_PREFIX}{ext}")
}

/// Counter of current integrity findings of `kind` ("mismatch", ...).
pub fn finding_count_key(kind: &str) -> String {
    format!("{FINDINGS_PREFIX}{kind}")
}
pub const IMPORT_PATHS_COUNT: &str = "import_paths";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_in_time_then_sequence_order() {
        let a = log_key("01H", 999, 2);
        let b = log_key("01H", 1000, 1);
        let c = log_key("01H", 1000, 10);
        assert!(a < b && b < c);
        assert!(c < prefix_end(&log_prefix("01H")));
        assert!(c > log_prefix("01H"));
        assert_eq!(parse_log_key(&c), Some((1000, 10)));
    }

    #[test]
    fn one_operation_prefix_never_covers_another() {
        let other = log_key("01HX", 1, 1);
        let p = log_prefix("01H");
        assert!(!(other.as_str() >= p.as_str() && other < prefix_end(&p)));
    }
}
