//! The operations this build runs, each with its parameters typed. The
//! queue stores an operation's type and parameters as a name and JSON (so
//! records of any build read back, and an embedding program may add types
//! of its own); everything in this crate enqueues a [`Job`], and each job
//! runs with its parameters already parsed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Strategy;
use crate::ops::JobError;

pub const SCAN: &str = "scan";
pub const ORGANIZE: &str = "organize";
pub const INTEGRITY_CHECK: &str = "integrity_check";
pub const METADATA_FETCH: &str = "metadata_fetch";
pub const BACKUP: &str = "backup";

/// Operation types the queue runs one at a time (the others of the type
/// wait, queued and cancellable): two scans at once that met the same new
/// content in different folders could each make a book of it (each looks
/// the content up before the other's writes are in); organize owns the
/// library's temp files.
pub const ONE_AT_A_TIME: [&str; 3] = [SCAN, ORGANIZE, BACKUP];

/// An operation of this build, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    Scan(ScanParams),
    Organize(OrganizeParams),
    IntegrityCheck,
    MetadataFetch(MetadataParams),
    /// A backup of the store into the configured folder.
    Backup,
}

/// Which folders to scan; none: every enabled import path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanParams {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathBuf>,
    /// Only these folders inside the scanned folders are walked (a watch
    /// saw them change); books are still named from the import folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub within: Vec<PathBuf>,
    /// Organize when the scan found new books (a watch's setting).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub organize_new: bool,
}

/// How to place files; none: the configured strategy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrganizeParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Plan only: every book's target, strategy and conflicts, logged;
    /// nothing on disk changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// Which books to look up; none: every live book missing a field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub book_ids: Option<Vec<String>>,
}

impl Job {
    /// The name the queue and the store know it by.
    pub fn op_type(&self) -> &'static str {
        match self {
            Job::Scan(_) => SCAN,
            Job::Organize(_) => ORGANIZE,
            Job::IntegrityCheck => INTEGRITY_CHECK,
            Job::MetadataFetch(_) => METADATA_FETCH,
            Job::Backup => BACKUP,
        }
    }

    /// The parameters as stored with the operation.
    pub fn params(&self) -> Value {
        let v = match self {
            Job::Scan(p) => serde_json::to_value(p),
            Job::Organize(p) => serde_json::to_value(p),
            Job::IntegrityCheck | Job::Backup => return Value::Null,
            Job::MetadataFetch(p) => serde_json::to_value(p),
        };
        v.unwrap_or_default()
    }

    /// The folder an operation works on, when it is one (a scan of one).
    pub fn folder(&self) -> Option<String> {
        match self {
            Job::Scan(p) if p.paths.len() == 1 => Some(p.paths[0].display().to_string()),
            _ => None,
        }
    }

    /// The job a stored operation is: `None` if the type is not one of
    /// this build's, `Invalid` if its parameters do not parse.
    pub fn from_stored(op_type: &str, params: &Value) -> Result<Option<Job>, JobError> {
        fn parse<T: serde::de::DeserializeOwned + Default>(
            op_type: &str,
            params: &Value,
        ) -> Result<T, JobError> {
            if params.is_null() {
                return Ok(T::default());
            }
            serde_json::from_value(params.clone())
                .map_err(|e| JobError::Invalid(format!("bad parameters for {op_type}: {e}")))
        }
        Ok(Some(match op_type {
            SCAN => Job::Scan(parse(op_type, params)?),
            ORGANIZE => Job::Organize(parse(op_type, params)?),
            INTEGRITY_CHECK => Job::IntegrityCheck,
            METADATA_FETCH => Job::MetadataFetch(parse(op_type, params)?),
            BACKUP => Job::Backup,
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_are_stored_as_before_and_read_back() {
        let cases = [
            (Job::Scan(ScanParams::default()), json!({})),
            (
                Job::Scan(ScanParams {
                    paths: vec!["/in/a".into()],
                    ..ScanParams::default()
                }),
                json!({"paths": ["/in/a"]}),
            ),
            (Job::Organize(OrganizeParams::default()), json!({})),
            (
                Job::Organize(OrganizeParams {
                    strategy: Some(Strategy::Hardlink),
                    dry_run: false,
                }),
                json!({"strategy": "hardlink"}),
            ),
            (
                Job::Organize(OrganizeParams {
                    strategy: None,
                    dry_run: true,
                }),
                json!({"dry_run": true}),
            ),
            (Job::IntegrityCheck, Value::Null),
            (
                Job::MetadataFetch(MetadataParams {
                    book_ids: Some(vec!["01A".into()]),
                }),
                json!({"book_ids": ["01A"]}),
            ),
        ];
        for (job, stored) in cases {
            assert_eq!(job.params(), stored, "{job:?}");
            let back = Job::from_stored(job.op_type(), &stored).unwrap();
            assert_eq!(back, Some(job));
        }
    }

    #[test]
    fn unknown_types_are_not_ours_and_bad_parameters_are_invalid() {
        assert!(Job::from_stored("t", &json!({})).unwrap().is_none());
        let bad = Job::from_stored(ORGANIZE, &json!({"strategy": "teleport"}));
        assert!(matches!(bad, Err(JobError::Invalid(_))), "{bad:?}");
        let bad = Job::from_stored(SCAN, &json!({"paths": "not a list"}));
        assert!(matches!(bad, Err(JobError::Invalid(_))), "{bad:?}");
    }
}
