//! One library snapshot per local day: taken when the day's is missing
//! (at start-up, and on the first check after local midnight). Days the
//! server did not run have no snapshot; nothing is filled in.

use crate::clock::Clock;
use crate::store::{GrowthSnapshot, Mutation, Store, StoreResult};

/// Takes today's snapshot if it is missing; returns it when taken.
pub fn ensure_today(store: &dyn Store, clock: &dyn Clock) -> StoreResult<Option<GrowthSnapshot>> {
    let date = clock.local_today().to_string();
    if store.get_growth(&date)?.is_some() {
        return Ok(None);
    }
    let totals = store.library_totals()?;
    let snap = GrowthSnapshot {
        date,
        books: totals.books,
        total_bytes: totals.total_bytes,
        formats: totals.formats,
        taken_at: clock.now(),
    };
    store.apply(&[Mutation::PutGrowth(snap.clone())], true)?;
    Ok(Some(snap))
}
