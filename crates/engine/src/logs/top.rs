//! The recurring warnings and errors a user sees (`errors/top`), and
//! acknowledging one: it leaves the list until it happens again.

use serde::Serialize;
use time::OffsetDateTime;

use crate::store::{ErrorGroup, Mutation, Store, StoreResult};

/// Meta key of an acknowledgement: the time (unix nanoseconds) it was made.
fn ack_key(fingerprint: &str) -> String {
    format!("error_ack:{fingerprint}")
}

fn acknowledged_at(store: &dyn Store, fingerprint: &str) -> Option<OffsetDateTime> {
    let bytes = store.get_meta(&ack_key(fingerprint)).ok().flatten()?;
    let nanos: i128 = std::str::from_utf8(&bytes).ok()?.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopError {
    #[serde(flatten)]
    pub group: ErrorGroup,
    /// Occurrences on or after the day of `since` (all of them without it).
    pub count_since: u64,
    /// When it was last acknowledged (only with `acknowledged=true`; an
    /// acknowledged group comes back by itself when it happens again).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub acknowledged_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopErrors {
    pub errors: Vec<TopError>,
    /// Distinct fingerprints seen (in range).
    pub groups: u64,
}

/// The `limit` most frequent groups since the day of `since` (UTC), most
/// recent first among equals; acknowledged ones only if asked.
pub fn top(
    store: &dyn Store,
    since: Option<OffsetDateTime>,
    limit: usize,
    with_acknowledged: bool,
) -> StoreResult<TopErrors> {
    let since_day = since.map(|t| t.to_offset(time::UtcOffset::UTC).date().to_string());
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_error_groups(after.as_deref(), 1000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.fingerprint.clone());
        for g in page {
            let count_since = match &since_day {
                None => g.count,
                Some(d) => g.daily.range(d.clone()..).map(|(_, n)| n).sum(),
            };
            let acked = acknowledged_at(store, &g.fingerprint).filter(|at| *at >= g.last_seen);
            if count_since > 0 && (acked.is_none() || with_acknowledged) {
                all.push(TopError {
                    group: g,
                    count_since,
                    acknowledged_at: acked,
                });
            }
        }
    }
    let groups = all.len() as u64;
    all.sort_by(|a, b| {
        b.count_since
            .cmp(&a.count_since)
            .then(b.group.last_seen.cmp(&a.group.last_seen))
    });
    all.truncate(limit);
    Ok(TopErrors {
        errors: all,
        groups,
    })
}

/// Acknowledges a group at `now`; false if there is no such group.
pub fn acknowledge(store: &dyn Store, fingerprint: &str, now: OffsetDateTime) -> StoreResult<bool> {
    if store.get_error_group(fingerprint)?.is_none() {
        return Ok(false);
    }
    store.apply(
        &[Mutation::SetMeta {
            key: ack_key(fingerprint),
            value: now.unix_timestamp_nanos().to_string().into_bytes(),
        }],
        true,
    )?;
    Ok(true)
}
