//! The simulator's deletion queue: at most `max_running` deletions per user at a time (CSBS
//! runs five), the rest waiting in `waiting_delete`; time advances lazily, on each call.
//!
//! Indexed so that a call costs what it touches, not the whole backlog: each project's waiting
//! deletions in queue order, its running count, and the running ones by due time (the tests and
//! benchmarks hold 5,000–100,000 backups, and a scan of all of them on every call made a backlog's
//! submission quadratic).

use std::collections::{BTreeSet, HashMap};

use tokio::time::Instant;

use super::*;

/// The deletions queued and running.
#[derive(Debug, Default)]
pub(super) struct Queue {
    /// Per project: the waiting deletions, `(queued_at, seq, id)` in the order they start.
    waiting: HashMap<String, BTreeSet<(Instant, u64, String)>>,
    /// Per project: how many deletions run.
    running: HashMap<String, usize>,
    /// The running deletions, `(ends_at, id)`.
    due: BTreeSet<(Instant, String)>,
}

impl Queue {
    /// Queues the deletion of `id` (its job just set).
    fn enqueue(&mut self, id: &str, i: &SimItem) {
        let job = i.job.as_ref().expect("a queued item has a job");
        self.waiting
            .entry(i.project_id.clone())
            .or_default()
            .insert((job.queued_at, i.seq, id.to_string()));
    }

    /// Drops `id` from the queue, wherever its job is (the item is removed or seeded again).
    pub(super) fn forget(&mut self, id: &str, i: &SimItem) {
        let Some(job) = i.job.as_ref() else { return };
        match job.started_at {
            Some(started) => {
                if self.due.remove(&(started + job.duration, id.to_string())) {
                    self.release(&i.project_id);
                }
            }
            None => {
                if let Some(w) = self.waiting.get_mut(&i.project_id) {
                    w.remove(&(job.queued_at, i.seq, id.to_string()));
                }
            }
        }
    }

    /// A running deletion of `project` ended.
    fn release(&mut self, project: &str) {
        if let Some(n) = self.running.get_mut(project) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Backend {
    /// Replays deletions up to `now`: finishes due ones and starts queued ones in order.
    pub fn advance(&mut self, now: Instant) {
        self.start_queued_at(None);
        while let Some((end, id)) = self.queue.due.first().filter(|(end, _)| *end <= now).cloned() {
            self.queue.due.pop_first();
            self.finish(&id, end);
            self.start_queued_at(Some(end));
        }
    }

    pub(super) fn finish(&mut self, id: &str, at: Instant) {
        let Some(i) = self.items.get_mut(id) else {
            return;
        };
        let job = i.job.take().expect("finishing item has a job");
        self.queue.release(&i.project_id);
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
            && let Some(log) = self.op_log_of.get(id).and_then(|n| self.op_logs.get_mut(*n))
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
            self.remove_item(id);
        }
        self.finished.push(record);
    }

    /// Starts queued deletions while a project has free slots; `at` = when the slot freed
    /// (`None`: each starts when it was queued, as a free slot takes it at once).
    pub(super) fn start_queued_at(&mut self, at: Option<Instant>) {
        let max = self.max_running;
        let q = &mut self.queue;
        for (project, waiting) in q.waiting.iter_mut() {
            let running = q.running.entry(project.clone()).or_default();
            while *running < max {
                let Some((queued_at, _, id)) = waiting.pop_first() else {
                    break;
                };
                let i = self.items.get_mut(&id).expect("a queued item exists");
                let job = i.job.as_mut().expect("a queued item has a job");
                let started = at.map_or(queued_at, |a| a.max(queued_at));
                job.started_at = Some(started);
                i.item.status = Some(status::DELETING.into());
                q.due.insert((started + job.duration, id));
                *running += 1;
            }
        }
        q.waiting.retain(|_, w| !w.is_empty());
    }

    /// Queues the deletion of `id`, which lasts `duration`, at `now`.
    pub(super) fn queue_deletion(&mut self, id: &str, duration: Duration, now: Instant) {
        let i = self.items.get_mut(id).expect("a target exists");
        i.item.status = Some(status::WAITING_DELETE.into());
        i.job = Some(DeleteJob {
            queued_at: now,
            started_at: None,
            duration,
        });
        self.queue.enqueue(id, i);
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
            .items_of(Service::Csbs, project_id, checkpoint_id)
            .filter(|id| only.is_none_or(|o| o.contains(id)))
            .cloned()
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
            if let Some(info) = i.item.extend_info.as_mut() {
                info.fail_op = Some(String::new());
                info.fail_reason = Some(String::new());
            }
            self.queue_deletion(id, duration, now);
        }
        self.advance(now);
        DeleteResult::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "p1";
    const Q: &str = "p2";

    /// A backend running two deletions per project, each lasting `d` seconds.
    fn backend(d: u64) -> Backend {
        let d = Duration::from_secs(d);
        Backend::new(2, (d, d))
    }

    fn status(b: &mut Backend, p: &str, id: &str, now: Instant) -> Option<String> {
        b.status_of(p, id, now)
    }

    #[test]
    fn each_project_runs_its_slots_in_queue_order_and_a_freed_slot_starts_the_next() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut b = backend(10);
        let ids = ["a", "b", "c", "d"];
        b.seed(P, "ck", &ids.map(ItemSeed::ok));
        b.seed(Q, "ck-q", &[ItemSeed::ok("q")]);
        for (n, id) in ids.iter().enumerate() {
            let only = [id.to_string()];
            assert_eq!(b.delete(P, "ck", Some(&only), t0 + s(n as u64)), DeleteResult::Accepted);
        }
        // Another project's slots are its own.
        assert_eq!(b.delete(Q, "ck-q", None, t0 + s(5)), DeleteResult::Accepted);
        let at = |b: &mut Backend, t: u64| ids.map(|id| status(b, P, id, t0 + s(t)));
        let (del, wait) = (Some("deleting".to_string()), Some("waiting_delete".to_string()));
        assert_eq!(at(&mut b, 5), [del.clone(), del.clone(), wait.clone(), wait.clone()]);
        assert_eq!(status(&mut b, Q, "q", t0 + s(5)), del);
        // `a` ends at 10 and `c` takes its slot then; `b` ends at 11 and `d` starts.
        assert_eq!(at(&mut b, 10), [None, del.clone(), del.clone(), wait.clone()]);
        assert_eq!(at(&mut b, 11), [None, None, del.clone(), del.clone()]);
        // Replayed lazily, in order: `c` ends at 20, `d` at 21.
        assert_eq!(at(&mut b, 20), [None, None, None, del.clone()]);
        assert_eq!(at(&mut b, 60), [None, None, None, None]);
        let after: Vec<(String, u64)> = b.finished.iter().map(|f| (f.item_id.clone(), f.after_ms)).collect();
        assert!(after.contains(&("c".into(), 18_000)), "{after:?}");
        assert!(after.contains(&("d".into(), 18_000)), "{after:?}");
        assert!(after.contains(&("q".into(), 10_000)), "{after:?}");
    }

    #[test]
    fn a_queued_item_seeded_again_leaves_the_queue_and_its_slot() {
        let t0 = Instant::now();
        let mut b = backend(10);
        b.seed(P, "ck", &[ItemSeed::ok("a"), ItemSeed::ok("b"), ItemSeed::ok("c")]);
        assert_eq!(b.delete(P, "ck", None, t0), DeleteResult::Accepted);
        // `a` runs, `b` runs, `c` waits; `a` seeded again (available, another checkpoint)
        // frees its slot for `c` and is no longer a target of its old checkpoint.
        b.seed(P, "ck2", &[ItemSeed::ok("a")]);
        assert_eq!(status(&mut b, P, "a", t0).as_deref(), Some("available"));
        assert_eq!(status(&mut b, P, "c", t0).as_deref(), Some("deleting"));
        assert_eq!(b.delete(P, "ck", Some(&["a".to_string()]), t0), DeleteResult::NotFound);
        assert_eq!(b.delete(P, "ck2", None, t0), DeleteResult::Accepted);
        assert_eq!(status(&mut b, P, "a", t0).as_deref(), Some("waiting_delete"));
        assert_eq!(status(&mut b, P, "a", t0 + Duration::from_secs(20)), None);
    }

    #[test]
    fn a_failed_deletion_frees_its_slot_and_keeps_the_item_in_error() {
        let t0 = Instant::now();
        let mut b = backend(1);
        b.max_running = 1;
        b.seed(P, "ck", &[ItemSeed::failing("x"), ItemSeed::ok("y")]);
        assert_eq!(b.delete(P, "ck", None, t0), DeleteResult::Accepted);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(status(&mut b, P, "x", later).as_deref(), Some("error"));
        assert_eq!(status(&mut b, P, "y", later), None);
        // Deleted again: queued once more.
        assert_eq!(b.delete(P, "ck", None, later), DeleteResult::Accepted);
        assert_eq!(status(&mut b, P, "x", later).as_deref(), Some("deleting"));
    }
}
