//! The first phase of a request: the allow-list, the ledger's record, the DELETEs and the
//! decision (docs/DESIGN.md, "Decisions").

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::time::Instant;

use super::restore_point::RestorePoint;
use super::{Accepted, DecidedTask, Decision, Step, SubmitError, Submitter, decide, event_error};
use crate::cloud::{CloudError, DeleteOutcome, ErrorClass};
use crate::outcome::{Outcome, OutcomeEvent};
use crate::ports::ledger::{Begun, Record as LedgerRecord, decide_event};
use crate::request::DeletionRequest;
use crate::task::PendingTask;

impl Submitter {
    /// The first phase of a request: the allow-list, the DELETEs and the decision. What is
    /// left to do — record a pending task, emit an event — is batched across requests by
    /// [`finish`](Self::finish).
    pub(super) async fn prepare(&self, req: &DeletionRequest, received_at: DateTime<Utc>, deadline: Instant) -> Step {
        if !self.is_allowed(&req.project_id) {
            return Step::Done(Err(SubmitError::NotAllowed {
                project_id: req.project_id.clone(),
            }));
        }
        // The default region, named or not, is the same task (docs/DESIGN.md, "Task id").
        let mut req = req.clone();
        req.region = match self.backups.read_region("region", req.region.as_deref()) {
            Ok(region) => region,
            Err(e) => return Step::Done(Err(SubmitError::Invalid(e))),
        };
        // Milliseconds: what the ledger keeps, so every copy computes the same deadline.
        let received_at = chrono::SubsecRound::trunc_subsecs(received_at, 3);
        let mut task = PendingTask::new(&req, received_at, self.settings.default_timeout_seconds);
        task.region = Some(self.backups.region_name(req.region.as_deref()));
        if task.with_replicas {
            // Before the ledger's record, which keeps them: a copy that finds a source gone
            // still deletes the replicas the first one found.
            match self.find_replicas(&task, deadline).await {
                Ok(replicas) => task.replicas = replicas,
                Err(Ok(error)) => {
                    let event = OutcomeEvent::for_task(&task, Outcome::Rejected, Utc::now(), None, Some(error));
                    return self.decided(task, event, deadline).await;
                }
                Err(Err(e)) => return Step::Done(Err(e)),
            }
        }
        let mut task = match self.begin(task, deadline).await {
            Ok(task) => task,
            Err(step) => return step,
        };
        if task.needs_backup_listing() {
            match self.restore_point_targets(&task, deadline).await {
                Ok(ids) => task.backup_ids = Some(ids),
                Err(Ok(event)) => return self.decided(task, event, deadline).await,
                Err(Err(e)) => return Step::Done(Err(e)),
            }
        }
        let results = self.delete_all(&task, deadline).await;
        let refused_items = match decide(&results) {
            Decision::Retry(e) => return Step::Done(Err(SubmitError::transient(e))),
            Decision::Reject(e) => {
                let error = event_error(e);
                let event = OutcomeEvent::for_task(&task, Outcome::Rejected, Utc::now(), None, Some(error));
                return self.decided(task, event, deadline).await;
            }
            Decision::AllGone => {
                let event = OutcomeEvent::for_task(&task, Outcome::Completed, Utc::now(), Some("absent".into()), None);
                return self.decided(task, event, deadline).await;
            }
            Decision::Pending { refused } => refused,
        };
        if !refused_items.is_empty() {
            tracing::warn!(
                refused = refused_items.len(),
                "CSBS refused some items for good; the task goes on for the others and will end Failed"
            );
        }
        Step::Record(PendingTask { refused_items, ..task })
    }

    /// The ledger's record before the first DELETE (docs/DESIGN.md, "Decisions"): the task to
    /// go on with, or — for a copy of a decided request — the step that repeats its event.
    async fn begin(&self, mut task: PendingTask, deadline: Instant) -> Result<PendingTask, Step> {
        match self.ledger.begin(&LedgerRecord::submitted(&task), deadline).await {
            Ok(Begun::New) => {}
            Ok(Begun::Existing(first)) => {
                if let Some(event) = first.terminal_event() {
                    tracing::info!(task_id = %task.task_id, outcome = event.outcome.as_str(), "already decided: the recorded event again, nothing deleted");
                    return Err(Self::repeat(task, event.clone()));
                }
                // A copy of a request still running: its DELETE and pending message are sent
                // again (a crash may have lost them), with the first submission's times.
                if let (Some(at), Some(deadline)) = (first.submitted_at, first.deadline) {
                    task.submitted_at = at;
                    task.deadline = deadline;
                }
                // The replicas the first copy found, and any this one found besides.
                task.replicas.extend(first.replicas.iter().cloned());
                task.replicas.sort();
                task.replicas.dedup();
            }
            Err(e) => return Err(Step::Done(Err(SubmitError::ledger(&e)))),
        }
        Ok(task)
    }

    /// A CBR restore point's backups: its ids, or the terminal event to decide (gone,
    /// refused), or a transient failure.
    async fn restore_point_targets(
        &self,
        task: &PendingTask,
        deadline: Instant,
    ) -> Result<Vec<String>, Result<OutcomeEvent, SubmitError>> {
        let event =
            |outcome, result: Option<String>, error| OutcomeEvent::for_task(task, outcome, Utc::now(), result, error);
        match self.restore_point_backups(task, deadline).await {
            Ok(RestorePoint::Backups(ids)) => Ok(ids),
            Ok(RestorePoint::Gone) => Err(Ok(event(Outcome::Completed, Some("absent".into()), None))),
            Ok(RestorePoint::Refused(error)) => Err(Ok(event(Outcome::Rejected, None, Some(error)))),
            Err(e) if e.class() == ErrorClass::Permanent => {
                Err(Ok(event(Outcome::Rejected, None, Some(event_error(&e)))))
            }
            Err(e) => Err(Err(SubmitError::transient(&e))),
        }
    }

    /// Every target's DELETE, `cloud_concurrency` at a time.
    async fn delete_all(
        &self,
        task: &PendingTask,
        deadline: Instant,
    ) -> Vec<(Option<String>, Result<DeleteOutcome, CloudError>)> {
        // Owned targets: a closure over borrowed `&str` items is not `Send` for every lifetime,
        // which lambda_http's Adapter requires of the whole future.
        let targets: Vec<Option<String>> = task.targets().into_iter().map(|t| t.map(str::to_string)).collect();
        futures::stream::iter(targets)
            .map(|item| async move {
                let r = self.delete_one(task, item.as_deref(), deadline).await;
                (item, r)
            })
            .buffer_unordered(self.settings.cloud_concurrency.max(1))
            .collect()
            .await
    }

    /// A terminal decision of submit (already gone, refused for good): written to the ledger
    /// first; a copy that lost emits the recorded decision instead of its own.
    async fn decided(&self, task: PendingTask, own: OutcomeEvent, deadline: Instant) -> Step {
        let own_id = own.event_id.clone();
        match decide_event(self.ledger.as_ref(), own, deadline).await {
            Err(e) => Step::Done(Err(SubmitError::ledger(&e))),
            Ok(event) if event.event_id == own_id => {
                let then = match event.outcome {
                    Outcome::Completed => Ok(Accepted::Completed(task)),
                    _ => Err(SubmitError::Rejected {
                        event: Box::new(event.clone()),
                    }),
                };
                Step::Emit {
                    event: Box::new(event),
                    then,
                }
            }
            Ok(recorded) => Self::repeat(task, recorded),
        }
    }

    /// A copy of a decided request: the recorded event again, answered as decided.
    fn repeat(task: PendingTask, recorded: OutcomeEvent) -> Step {
        Step::Emit {
            event: Box::new(recorded.clone()),
            then: Ok(Accepted::Decided(Box::new(DecidedTask { task, event: recorded }))),
        }
    }

    async fn delete_one(
        &self,
        task: &PendingTask,
        target: Option<&str>,
        deadline: Instant,
    ) -> Result<DeleteOutcome, CloudError> {
        let _slot = self
            .cloud_slots
            .acquire(task.place_of(target.unwrap_or_default()).region)
            .await;
        self.backups
            .delete(task, target, deadline)
            .await
            .expect("a CBR task has its backups listed before any DELETE")
    }
}
