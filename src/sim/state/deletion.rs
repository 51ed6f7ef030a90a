//! The simulator's deletion queue: at most `max_running` deletions per user at a time (CSBS
//! runs five), the rest waiting in `waiting_delete`; time advances lazily, on each call.

use tokio::time::Instant;

use super::*;

impl Backend {
    /// Replays deletions up to `now`: finishes due ones and starts queued ones in order.
    pub fn advance(&mut self, now: Instant) {
        loop {
            self.start_queued_at(None);
            // The earliest running deletion that is due.
            let due = self
                .items
                .iter()
                .filter_map(|(id, i)| {
                    let j = i.job.as_ref()?;
                    let end = j.started_at? + j.duration;
                    (end <= now && i.item.status() == status::DELETING).then(|| (end, id.clone()))
                })
                .min();
            let Some((end, id)) = due else { return };
            self.finish(&id, end);
            self.start_queued_at(Some(end));
        }
    }

    pub(super) fn finish(&mut self, id: &str, at: Instant) {
        let Some(i) = self.items.get_mut(id) else {
            return;
        };
        let job = i.job.take().expect("finishing item has a job");
        let record = FinishedDeletion {
            project_id: i.project_id.clone(),
            item_id: id.to_string(),
            checkpoint_id: i.item.checkpoint_id.clone().unwrap_or_default(),
            failed: i.fail_delete,
            service: i.service,
            after_ms: at.duration_since(job.queued_at).as_millis() as u64,
            finished_at: Some(at),
        };
        if i.service == Service::Cbr
            && let Some(log) = self.op_logs.iter_mut().rev().find(|l| l.backup_id == id)
        {
            log.outcome = Some(if i.fail_delete { "failed" } else { "success" });
            log.ended_at = Some(chrono::Utc::now());
        }
        if i.fail_delete {
            i.item.status = Some(status::ERROR.into());
            let info = i.item.extend_info.get_or_insert_with(Default::default);
            info.fail_op = Some("delete".into());
            info.fail_reason = Some("Simulated failure: the backup data could not be removed".into());
            info.fail_code = Some(serde_json::json!({"Code": "CSBS.9999", "Description": "delete failed"}));
        } else {
            self.items.remove(id);
        }
        self.finished.push(record);
    }

    /// Starts queued deletions while a project has free slots; `at` = when the slot freed.
    pub(super) fn start_queued_at(&mut self, at: Option<Instant>) {
        let mut running: HashMap<String, usize> = HashMap::new();
        for i in self.items.values().filter(|i| i.item.status() == status::DELETING) {
            *running.entry(i.project_id.clone()).or_default() += 1;
        }
        // Only the projects with a free slot have a queue to move (a backlog of thousands is
        // not sorted on every call while its five slots are busy). The busy projects are few:
        // a list compare per waiting item, not a hash (the tests run this unoptimised).
        let busy: Vec<&str> = running
            .iter()
            .filter(|(_, n)| **n >= self.max_running)
            .map(|(p, _)| p.as_str())
            .collect();
        let free = |p: &str| !busy.contains(&p);
        let mut waiting: Vec<(Instant, u64, String)> = self
            .items
            .iter()
            .filter(|(_, i)| i.item.status() == status::WAITING_DELETE && free(&i.project_id))
            .map(|(id, i)| {
                (
                    i.job.as_ref().expect("queued item has a job").queued_at,
                    i.seq,
                    id.clone(),
                )
            })
            .collect();
        waiting.sort();
        for (queued_at, _, id) in waiting {
            let i = self.items.get_mut(&id).expect("listed above");
            let n = running.entry(i.project_id.clone()).or_default();
            if *n < self.max_running {
                *n += 1;
                i.item.status = Some(status::DELETING.into());
                let job = i.job.as_mut().expect("queued item has a job");
                job.started_at = Some(at.map_or(queued_at, |a| a.max(queued_at)));
            }
        }
    }

    /// DELETE of a checkpoint, or of the listed items of it.
    pub fn delete(
        &mut self,
        project_id: &str,
        checkpoint_id: &str,
        only: Option<&[String]>,
        now: Instant,
    ) -> DeleteResult {
        self.advance(now);
        let targets: Vec<String> = self
            .items
            .iter()
            .filter(|(id, i)| {
                i.project_id == project_id
                    && i.service == Service::Csbs
                    && i.item.checkpoint_id.as_deref() == Some(checkpoint_id)
                    && only.is_none_or(|o| o.iter().any(|x| x == *id))
            })
            .map(|(id, _)| id.clone())
            .collect();
        if targets.is_empty() {
            return DeleteResult::NotFound;
        }
        let busy = [
            "deleting",
            "waiting_delete",
            "protecting",
            "waiting_protect",
            "restoring",
            "waiting_restore",
        ];
        if targets.iter().any(|id| busy.contains(&self.items[id].item.status())) {
            return DeleteResult::InExecution;
        }
        let (lo, hi) = self.delete_duration;
        for id in &targets {
            let duration = if hi > lo { rand::rng().random_range(lo..=hi) } else { lo };
            let i = self.items.get_mut(id).expect("listed above");
            i.item.status = Some(status::WAITING_DELETE.into());
            if let Some(info) = i.item.extend_info.as_mut() {
                info.fail_op = Some(String::new());
                info.fail_reason = Some(String::new());
            }
            i.job = Some(DeleteJob {
                queued_at: now,
                started_at: None,
                duration,
            });
        }
        self.advance(now);
        DeleteResult::Accepted
    }
}
