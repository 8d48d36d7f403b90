//! The operation log's services: the group-commit writer that makes log
//! lines durable before they are published (`writer.rs`) and error
//! fingerprinting on its thread (`error_groups.rs`).

pub mod error_groups;
pub mod writer;
