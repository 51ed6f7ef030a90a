//! The source backups of a task `with_replicas`, read for their `replication_records`.

use futures::StreamExt;
use tokio::time::Instant;

use super::Backups;
use crate::cbr::models::Backup;
use crate::cloud::CloudError;
use crate::ports::pending::MAX_BATCH;
use crate::task::PendingTask;

impl Backups {
    /// Each of a CBR task's source backups as its region shows it now (`None`: gone), for
    /// its `replication_records`: one GET per backup, all at once, each holding one of `slots`.
    pub async fn sources(
        &self,
        task: &PendingTask,
        deadline: Instant,
        slots: &super::Slots,
    ) -> Vec<(String, Result<Option<Backup>, CloudError>)> {
        let cbr = self.cbr_at(task.region.as_deref());
        let ids: Vec<String> = task.backup_ids.iter().flatten().cloned().collect();
        let cbr = &cbr;
        futures::stream::iter(ids)
            .map(|id| async move {
                let _slot = slots.acquire(task.region.as_deref()).await;
                let got = cbr.get_backup(&task.project_id, &id, deadline).await;
                (id, got)
            })
            .buffer_unordered(MAX_BATCH)
            .collect()
            .await
    }
}
