//! audiobook-organizer: scan import folders for audiobooks, read their tags,
//! hash them, and organize them into a library, every step an observable
//! operation. See ARCHITECTURE.md for the map.

pub mod cli;
pub mod config;
pub mod engine;
pub mod http;
pub mod jobs;
pub mod logs;
pub mod maintenance;
pub mod metrics;
pub mod ops;
pub mod process_stats;
pub mod realtime;
pub mod sources;
pub mod telemetry;

pub use ao_core::{clock, fast_map, hash};
pub use ao_sample as sample;
pub use ao_store as store;
