//! Reading an operation's log the ways the API offers: the last lines, the
//! lines after a sequence number, or a window before one (paging back),
//! optionally of one level. Reads follow what is returned, not the log's
//! size.

use crate::store::{LogEntry, LogLevel, Store, StoreResult};

/// The most lines one read returns.
pub const MAX_LINES: u64 = 10_000;
/// Lines returned when no count is asked for.
const DEFAULT_LINES: u64 = 1000;

/// Which lines.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    /// The last `n` (of those after `after`, if given).
    Tail { n: u64, after: Option<u64> },
    /// Up to 1,000 lines after `after` (from the start without it).
    After(Option<u64>),
    /// The last `n` (default 1,000) before `before`.
    Before { before: u64, n: Option<u64> },
}

/// The lines of operation `id` in `window` (of `level` only, if given),
/// oldest first, and how many lines it has in all.
pub fn read(
    store: &dyn Store,
    id: &str,
    window: Window,
    level: Option<LogLevel>,
) -> StoreResult<(Vec<LogEntry>, u64)> {
    let total = store.count_logs(id)?;
    let keep = |l: &LogEntry| level.is_none_or(|lv| l.level == lv);
    let logs = match window {
        Window::Before { before, n } => {
            let n = n.unwrap_or(DEFAULT_LINES).min(MAX_LINES) as usize;
            lines_before(store, id, before, n, &keep)?
        }
        Window::Tail { n, after } => {
            let n = n.min(MAX_LINES) as usize;
            // Widen the window backwards until enough lines pass the filters.
            let mut window = n.max(1);
            loop {
                let lines = store.tail_logs(id, window)?;
                let exhausted = lines.len() < window
                    || lines
                        .first()
                        .is_some_and(|l| after.is_some_and(|a| l.id <= a));
                let mut picked: Vec<LogEntry> = lines
                    .into_iter()
                    .filter(|l| keep(l) && after.is_none_or(|a| l.id > a))
                    .collect();
                if picked.len() >= n || exhausted || window as u64 >= total {
                    let skip = picked.len().saturating_sub(n);
                    picked.drain(..skip);
                    break picked;
                }
                window = window.saturating_mul(4);
            }
        }
        Window::After(after) => {
            let mut out = Vec::new();
            let mut from = after.unwrap_or(0);
            while (out.len() as u64) < DEFAULT_LINES {
                let chunk = store.logs_after(id, from, DEFAULT_LINES as usize)?;
                let Some(last) = chunk.last() else { break };
                from = last.id;
                out.extend(chunk.into_iter().filter(|l| keep(l)));
            }
            out.truncate(DEFAULT_LINES as usize);
            out
        }
    };
    Ok((logs, total))
}

/// The last `n` lines (that pass `keep`) with sequence numbers below
/// `before`, oldest first. Sequence numbers within an operation are dense
/// from 1, so each window back is one forward range read.
fn lines_before(
    store: &dyn Store,
    id: &str,
    before: u64,
    n: usize,
    keep: &dyn Fn(&LogEntry) -> bool,
) -> StoreResult<Vec<LogEntry>> {
    let mut picked: Vec<LogEntry> = Vec::new();
    // Nothing lies past the newest line: start there, however large `before` is.
    let newest = store.last_log_position(id)?.map_or(0, |(_, seq)| seq);
    let mut end = before.min(newest.saturating_add(1));
    let mut window = n.max(1) as u64;
    while end > 1 && picked.len() < n {
        let start = end.saturating_sub(window).max(1);
        let chunk = store.logs_after(id, start - 1, (end - start) as usize)?;
        let mut kept: Vec<LogEntry> = chunk
            .into_iter()
            .filter(|l| l.id < end && keep(l))
            .collect();
        kept.append(&mut picked);
        picked = kept;
        end = start;
        window = window.saturating_mul(4).min(MAX_LINES * 4);
    }
    let skip = picked.len().saturating_sub(n);
    picked.drain(..skip);
    Ok(picked)
}
