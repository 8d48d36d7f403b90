//! Integration tests, compiled as one binary.

mod cli;
mod covers;
mod crash;
mod dashboard_api;
mod faults;
mod full_disk;
mod hashing;
mod helpers;
mod layouts;
mod listing;
mod logs;
mod metadata;
mod observability;
mod organize;
mod otlp;
mod queue;
mod retention;
mod scan;
mod security;
mod serve_process;
mod server;
mod server_helpers;
mod soak;
mod tags_real;
mod web;
mod webdriver;
