//! `backup`: a snapshot of the store into the backup folder, the oldest
//! beyond the configured number removed; its time, size and outcome go to
//! the metrics.

use std::sync::atomic::Ordering;

use super::JobContext;
use crate::ops::{JobError, Reporter};

pub fn run(ctx: &JobContext, r: &Reporter) -> Result<String, JobError> {
    let dir = ctx.config.backup_dir();
    let keep = ctx.config.features.backup.keep;
    r.info(format!(
        "backing up the store into {} (keeping the newest {keep})",
        dir.display()
    ));
    let result = crate::backup::create(&*ctx.store, &dir, keep, ctx.clock.now());
    let m = &ctx.metrics;
    match result {
        Ok((info, removed)) => {
            m.backups.inc("ok");
            m.backup_last_success.store(
                info.created_at.unix_timestamp().max(0) as u64,
                Ordering::Relaxed,
            );
            m.backup_last_bytes.store(info.bytes, Ordering::Relaxed);
            r.add_work(1, info.bytes);
            for name in &removed {
                r.info(format!("removed the old backup {name}"));
            }
            let summary = format!(
                "backed up to {} ({} bytes, sha256 {}); {} old backup(s) removed",
                info.path,
                info.bytes,
                info.sha256.as_deref().unwrap_or("?"),
                removed.len()
            );
            r.info(summary.clone());
            Ok(summary)
        }
        Err(e) => {
            m.backups.inc("failed");
            Err(JobError::Failed(format!("backup failed: {e}")))
        }
    }
}
