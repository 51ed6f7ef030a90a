//! A CBR restore point named without backups: its own top-level backups are listed at submit,
//! before any DELETE (docs/DESIGN.md, "CBR targets").

use tokio::time::Instant;

use super::Submitter;
use crate::cbr::BackupFilter;
use crate::cloud::CloudError;
use crate::codes::ErrorCode;
use crate::outcome::EventError;
use crate::task::PendingTask;

/// Most backups a CBR restore point may bring into one task (a pending message stays far
/// below SQS's 256 KiB, and one check stays within one invocation).
pub const MAX_RESTORE_POINT_BACKUPS: usize = 1000;

/// What a CBR restore point holds at submit time.
pub(super) enum RestorePoint {
    Backups(Vec<String>),
    /// It does not exist (any more): nothing to delete.
    Gone,
    /// It cannot be deleted through this request.
    Refused(EventError),
}

impl Submitter {
    /// The backups of a CBR restore point, listed at submit time (top-level ones only: never
    /// the per-disk children). A restore point that lists none is checked with one GET: gone
    /// → Completed, otherwise refused (docs/DESIGN.md, "CBR targets").
    pub(super) async fn restore_point_backups(
        &self,
        task: &PendingTask,
        deadline: Instant,
    ) -> Result<RestorePoint, CloudError> {
        let _slot = self.cloud_slots.acquire(task.region.as_deref()).await;
        let checkpoint = task.checkpoint();
        let listed = self
            .cbr()
            .list_backups(&task.project_id, &BackupFilter::for_restore_point(checkpoint), deadline)
            .await?;
        let mut ids: Vec<String> = listed
            .into_iter()
            // Own top-level backups only: never a per-disk child, never a replica received
            // from another region (docs/DESIGN.md, "CBR targets").
            .filter(|b| b.is_own_top_level())
            // Listed ids go into URLs later, like every request id.
            .filter(|b| crate::ids::validate_id("backup_id", &b.id).is_ok())
            .map(|b| b.id)
            .collect();
        ids.sort();
        ids.dedup();
        if ids.len() > MAX_RESTORE_POINT_BACKUPS {
            return Ok(RestorePoint::Refused(EventError {
                code: ErrorCode::TooManyBackups.into(),
                message: format!(
                    "checkpoint_id: restore point {checkpoint} holds {} backups; at most {MAX_RESTORE_POINT_BACKUPS} per request (name them in backup_ids, 100 at a time)",
                    ids.len()
                ),
                http_status: None,
            }));
        }
        if !ids.is_empty() {
            return Ok(RestorePoint::Backups(ids));
        }
        match self
            .cbr()
            .get_restore_point(&task.project_id, checkpoint, deadline)
            .await?
        {
            None => Ok(RestorePoint::Gone),
            // Being deleted or deleted (restore point statuses, docs/cbr-api.md §2): its backups
            // are gone, as after an earlier delivery of this same request.
            Some(rp) if matches!(rp.status.as_deref(), Some("deleted" | "deleting")) => Ok(RestorePoint::Gone),
            Some(rp) => Ok(RestorePoint::Refused(EventError {
                code: ErrorCode::EmptyRestorePoint.into(),
                message: format!(
                    "checkpoint_id: restore point {checkpoint} (status {}) lists no backup to delete",
                    rp.status.as_deref().unwrap_or("unknown")
                ),
                http_status: None,
            })),
        }
    }
}
