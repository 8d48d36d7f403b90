//! audiobook-organizer: scan import folders for audiobooks, read their tags,
//! hash them, and organize them into a library, every step an observable
//! operation. See ARCHITECTURE.md for the map.

pub mod cli;

pub use ao_core::{clock, fast_map, hash, memory};
pub use ao_engine::{
    backup, book_edits, config, engine, jobs, logs, maintenance, metrics, ops, process_stats,
    realtime, sources, telemetry,
};
pub use ao_sample as sample;
pub use ao_server as http;
pub use ao_store as store;
pub use ao_tags as tags;
