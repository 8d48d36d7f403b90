//! Daily schedules (the integrity check, the backup): due once per local
//! day at the configured time. A day missed while the server was down is
//! caught up on the next start; the very first start after the time does
//! not fire at once.

use time::{OffsetDateTime, Time};

use crate::store::{Mutation, Store, StoreResult};

/// Meta key holding the local date of the last scheduled integrity check.
pub const LAST_RUN_META: &str = "integrity_last_scheduled";
/// The same for the scheduled backup.
pub const LAST_BACKUP_META: &str = "backup_last_scheduled";

/// Whether a check is due now; records the day when it is (or when this is
/// the first start and today's time has passed).
pub fn due(store: &dyn Store, local_now: OffsetDateTime, at: (u8, u8)) -> StoreResult<bool> {
    due_for(store, LAST_RUN_META, local_now, at)
}

/// Whether the schedule whose last day is kept under `key` is due now.
pub fn due_for(
    store: &dyn Store,
    key: &str,
    local_now: OffsetDateTime,
    at: (u8, u8),
) -> StoreResult<bool> {
    let Ok(time_of_day) = Time::from_hms(at.0, at.1, 0) else {
        return Ok(false);
    };
    if local_now.time() < time_of_day {
        return Ok(false);
    }
    let today = local_now.date().to_string();
    let last = store.get_meta(key)?.and_then(|v| String::from_utf8(v).ok());
    if last.as_deref() == Some(today.as_str()) {
        return Ok(false);
    }
    store.apply(
        &[Mutation::SetMeta {
            key: key.into(),
            value: today.into_bytes(),
        }],
        true,
    )?;
    Ok(last.is_some())
}
