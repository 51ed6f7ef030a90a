//! The CBR side of the simulator's backend: backups by id, restore points, replicas and the
//! delete tasks' operation logs (docs/cbr-api.md).

use tokio::time::Instant;

use super::*;

impl Backend {
    /// The vault of a CBR backup.
    pub fn vault_of(&self, project_id: &str, backup_id: &str) -> Option<String> {
        self.items
            .get(backup_id)
            .filter(|i| i.project_id == project_id)
            .map(|i| i.vault_id.clone())
    }

    /// CBR `DELETE /v3/{project}/backups/{id}`: one backup; a delete task is logged.
    pub fn delete_backup(&mut self, project_id: &str, backup_id: &str, now: Instant) -> CbrDeleteResult {
        self.advance(now);
        let Some(i) = self
            .items
            .get(backup_id)
            .filter(|i| i.project_id == project_id && i.service == Service::Cbr)
        else {
            return CbrDeleteResult::NotFound;
        };
        match i.item.status() {
            status::DELETING | status::WAITING_DELETE | "restoring" | "waiting_restore" => {
                return CbrDeleteResult::Busy("CSBS.2003");
            }
            "protecting" | "waiting_protect" => return CbrDeleteResult::Busy("BackupService.6203"),
            _ => {}
        }
        let (lo, hi) = self.delete_duration;
        let duration = if hi > lo { rand::rng().random_range(lo..=hi) } else { lo };
        self.queue_deletion(backup_id, duration, now);
        let i = &self.items[backup_id];
        self.op_log_of.insert(backup_id.to_string(), self.op_logs.len());
        self.op_logs.push(SimOpLog {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project_id.into(),
            backup_id: backup_id.into(),
            backup_name: i.item.name.clone().unwrap_or_default(),
            resource_id: i.item.resource_id.clone().unwrap_or_default(),
            checkpoint_id: i.item.checkpoint_id.clone().unwrap_or_default(),
            created_at: chrono::Utc::now(),
            outcome: None,
            ended_at: None,
        });
        self.advance(now);
        CbrDeleteResult::Accepted
    }

    /// CBR backups of a project (newest first, the documented default sort), each with
    /// whether it lists a per-disk child. CBR backups matching the filters (`statuses` empty = any; the query may repeat
    /// `status`): `(backup, with_child, seq, vault_id)`.
    pub fn list_backups(
        &mut self,
        project_id: &str,
        filter: &SimFilter,
        now: Instant,
    ) -> Vec<(CheckpointItem, bool, u64, String)> {
        self.advance(now);
        let mut v: Vec<&SimItem> = self
            .items
            .values()
            .filter(|i| i.project_id == project_id && i.service == Service::Cbr)
            .filter(|i| filter.matches(i))
            .collect();
        v.sort_by_cached_key(|i| newest_first(i));
        v.into_iter()
            .map(|i| (i.item.clone(), i.with_child, i.seq, i.vault_id.clone()))
            .collect()
    }

    /// A CBR restore point: `Some(status)` while it holds a backup or was seeded empty.
    pub fn restore_point(&mut self, project_id: &str, checkpoint_id: &str, now: Instant) -> Option<&'static str> {
        self.advance(now);
        let holds = self.items_of(Service::Cbr, project_id, checkpoint_id).next().is_some();
        let empty = self
            .empty_restore_points
            .iter()
            .any(|(p, c)| p == project_id && c == checkpoint_id);
        (holds || empty).then_some("available")
    }

    /// The status a delete task shows now.
    pub fn op_log_status(&self, log: &SimOpLog) -> &'static str {
        if let Some(o) = log.outcome {
            return o;
        }
        match self.items.get(&log.backup_id).map(|i| i.item.status()) {
            Some(status::WAITING_DELETE) => "waiting",
            _ => "running",
        }
    }
}
