//! The operation log's services: the group-commit writer that makes log
//! lines durable before they are published (`writer.rs`), error
//! fingerprinting on its thread (`error_groups.rs`), and the reads the API
//! offers: log windows (`query.rs`) and the top recurring errors with their
//! acknowledgements (`top.rs`).

pub mod error_groups;
pub mod query;
pub mod top;
pub mod writer;
