//! `metadata_fetch`: fills a book's missing year, ISBN, description and
//! cover URL from Open Library (provenance `source:openlibrary`). Fields
//! already set, and fields a user locked, are never overwritten.
//! Every request goes through the source's process-wide circuit breaker;
//! when it is open the operation stops asking and fails with how many books
//! were left.

use super::{JobContext, MetadataParams};
use crate::ops::{JobError, Reporter};
use crate::sources::openlibrary::{Found, OpenLibrary, SOURCE, SourceError};
use crate::store::{Book, BookField, FieldValue, Mutation, Provenance, now};

/// What a lookup may fill: fields with no value that no user locked.
fn open(b: &Book, field: BookField) -> bool {
    !b.has(field) && !b.locked.contains(&field)
}

fn needs(b: &Book) -> bool {
    b.is_live()
        && (open(b, BookField::Year)
            || open(b, BookField::Isbn)
            || open(b, BookField::Description)
            || b.cover_url.is_none())
}

/// Fills what is missing and not locked; true when anything changed.
fn fill(b: &mut Book, f: Found) -> bool {
    let from = Provenance::source(SOURCE);
    let mut changed = false;
    for (field, value) in [
        (BookField::Year, f.year.map(|y| FieldValue::Year(Some(y)))),
        (BookField::Isbn, f.isbn.map(|s| FieldValue::Text(Some(s)))),
        (
            BookField::Description,
            f.description.map(|s| FieldValue::Text(Some(s))),
        ),
    ] {
        if let Some(v) = value
            && open(b, field)
        {
            changed |= b.set_from(field, v, from.clone());
        }
    }
    if b.cover_url.is_none() && f.cover_url.is_some() {
        b.cover_url = f.cover_url;
        changed = true;
    }
    changed
}

pub fn run(ctx: &JobContext, r: &Reporter, params: &MetadataParams) -> Result<String, JobError> {
    let cfg = &ctx.config.features.metadata;
    let breaker = ctx
        .breakers
        .get(SOURCE, cfg.failure_threshold, cfg.open_for);
    let client = OpenLibrary::new(cfg.clone(), breaker);
    // Which books: the ones named, or every live book missing a field.
    let ids: Vec<String> = match &params.book_ids {
        Some(list) => list.clone(),
        None => {
            let mut ids = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = ctx.store.list_books(after.as_deref(), 500)?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                ids.extend(page.iter().filter(|b| needs(b)).map(|b| b.id.clone()));
            }
            ids
        }
    };
    let total = ids.len() as u64;
    r.info(format!("looking up {total} book(s) on {}", cfg.base_url));
    r.update_progress(0, total, "looking up");
    let (mut updated, mut unchanged, mut not_found, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut stopped = false;
    let mut done = 0u64;
    for id in &ids {
        if r.is_cancelled() {
            return Err(JobError::Canceled);
        }
        let Some(book) = ctx.store.get_book(id)? else {
            r.warn(format!("book {id} not found; skipped"), None);
            done += 1;
            continue;
        };
        if !needs(&book) {
            unchanged += 1;
            done += 1;
            continue;
        }
        match client.lookup(&book.title, &book.author) {
            Ok(Some(found)) => {
                // Re-read: a scan may have changed the book meanwhile.
                if let Some(mut fresh) = ctx.store.get_book(id)?
                    && fill(&mut fresh, found)
                {
                    fresh.updated_at = now();
                    ctx.store.apply(&[Mutation::PutBook(fresh)], true)?;
                    updated += 1;
                } else {
                    unchanged += 1;
                }
            }
            Ok(None) => {
                not_found += 1;
                r.info(format!(
                    "no match for \"{}\" by {}",
                    book.title, book.author
                ));
            }
            Err(e @ SourceError::CircuitOpen { .. }) => {
                r.warn(format!("stopping: {e}"), None);
                stopped = true;
                break;
            }
            Err(e) => {
                failed += 1;
                r.warn(format!("lookup of \"{}\" failed: {e}", book.title), None);
            }
        }
        done += 1;
        r.add_work(1, 0);
        r.update_progress(done, total, format!("{done} of {total} book(s) looked up"));
    }
    let left = total - done;
    let summary = format!(
        "{updated} book(s) updated, {unchanged} unchanged, {not_found} not found, {failed} failed, {left} not looked up"
    );
    if stopped {
        return Err(JobError::Failed(format!(
            "{SOURCE} unavailable (circuit open): {summary}"
        )));
    }
    r.info(summary.clone());
    Ok(summary)
}
