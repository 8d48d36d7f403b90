//! The engine: the persistent priority queue and its workers (`ops`), the
//! jobs that run as operations (`jobs`), the operation log's services
//! (`logs`), background maintenance, the metadata sources and their
//! breakers, the realtime hub, metrics, OTLP export, and `Engine`, which
//! wires them. Knows nothing of HTTP.

pub mod backup;
pub mod book_edits;
pub mod config;
pub mod engine;
pub mod jobs;
pub mod logs;
pub mod maintenance;
pub mod metrics;
pub mod ops;
pub mod process_stats;
pub mod realtime;
pub mod sources;
pub mod telemetry;
pub mod watch;

pub use ao_core::{clock, fast_map, hash};
pub use ao_store as store;
