//! audiobook-organizer: scan import folders for audiobooks, read their tags,
//! hash them, and organize them into a library, every step an observable
//! operation. See ARCHITECTURE.md for the map.

pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod fast_map;
pub mod hash;
pub mod http;
pub mod jobs;
pub mod maintenance;
pub mod metrics;
pub mod ops;
pub mod process_stats;
pub mod realtime;
pub mod sample;
pub mod sources;
pub mod store;
pub mod telemetry;
