//! The submit workflow: validate → allow-list → task id → one DELETE per item → pending task →
//! Submitted / Completed / Rejected event. No Lambda types: the edges call it with parsed input
//! and a deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument;

use crate::backups::Backups;
use crate::cbr::{BackupFilter, CbrClient};
use crate::cloud::{CloudError, DeleteOutcome, ErrorClass};
use crate::codes::ErrorCode;
use crate::csbs::CsbsClient;
use crate::outcome::{EventError, Outcome, OutcomeEvent};
use crate::ports::intake::{Intake, IntakeQueue, Refusal};
use crate::ports::ledger::{Begun, Ledger, Record as LedgerRecord, decide_event};
use crate::ports::pending::{MAX_BATCH, PendingQueue};
use crate::ports::sink::{EventSink, emit_all};
use crate::request::{DeletionRequest, RequestError, echo_fields, task_id_of_raw};
use crate::select::{ExpandSettings, Expander};
use crate::task::{PendingTask, RefusedItem, task_id};

#[derive(Debug, Clone)]
pub struct SubmitSettings {
    /// Empty: any project.
    pub allowed_project_ids: Vec<String>,
    pub default_timeout_seconds: u64,
    /// Parallel CSBS calls per invocation.
    pub cloud_concurrency: usize,
    /// Tries per event before the record is handed back for redelivery.
    pub event_attempts: u32,
    /// This stack's `EVENT_SOURCE`: intake messages that are its own events are dropped.
    pub event_source: String,
    /// Selections' fan-out (src/selection/).
    pub expand: ExpandSettings,
}

impl Default for SubmitSettings {
    fn default() -> Self {
        SubmitSettings {
            allowed_project_ids: Vec::new(),
            default_timeout_seconds: 1800,
            cloud_concurrency: 16,
            event_attempts: 4,
            event_source: "csbs.checkpoint-deletion".into(),
            expand: ExpandSettings::default(),
        }
    }
}

/// A request that CSBS took.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// Queued by CSBS; a pending task was recorded.
    Submitted(PendingTask),
    /// CSBS says it is already gone.
    Completed(PendingTask),
    /// A copy of a request the ledger has decided already: nothing was deleted, the recorded
    /// event was emitted again (docs/DESIGN.md, "Decisions").
    Decided(Box<DecidedTask>),
}

/// A decided request and its recorded terminal event.
#[derive(Debug, Clone)]
pub struct DecidedTask {
    pub task: PendingTask,
    pub event: OutcomeEvent,
}

impl Accepted {
    pub fn task(&self) -> &PendingTask {
        match self {
            Accepted::Submitted(t) | Accepted::Completed(t) => t,
            Accepted::Decided(d) => &d.task,
        }
    }
}

pub use crate::failure::SubmitError;

/// What the DELETE answers of one request call for (docs/DESIGN.md, "Outcome events").
#[derive(Debug)]
pub enum Decision<'a> {
    /// A transient failure: hand the whole request back (accepted items answer CSBS.2003 on
    /// the retry, refused ones are refused again).
    Retry(&'a CloudError),
    /// Every DELETE was refused for good: Rejected, with the first refusal.
    Reject(&'a CloudError),
    /// Nothing was left to delete: Completed at once.
    AllGone,
    /// At least one item was accepted (or was already gone or being deleted): a pending task,
    /// which remembers the items refused for good.
    Pending { refused: Vec<RefusedItem> },
}

/// Decides a request from its DELETE answers, one per target (`None` = the whole checkpoint).
/// Rejected only when no item was accepted: when some were, the refused ones must not leave
/// the accepted deletions running unwatched.
pub fn decide(results: &[(Option<String>, Result<DeleteOutcome, CloudError>)]) -> Decision<'_> {
    let errors = || results.iter().filter_map(|(_, r)| r.as_ref().err());
    if let Some(e) = errors().find(|e| e.class() != ErrorClass::Permanent) {
        return Decision::Retry(e);
    }
    if let Some(first) = errors().next()
        && results.iter().all(|(_, r)| r.is_err())
    {
        return Decision::Reject(first);
    }
    if results.iter().all(|(_, r)| matches!(r, Ok(DeleteOutcome::AlreadyGone))) {
        return Decision::AllGone;
    }
    let mut refused: Vec<RefusedItem> = results
        .iter()
        .filter_map(|(item, r)| {
            let e = r.as_ref().err()?;
            Some(RefusedItem {
                item_id: item.clone().unwrap_or_default(),
                code: e.code(),
                message: e.to_string(),
                http_status: e.http_status(),
            })
        })
        .collect();
    // Sorted: a redelivery records a byte-identical task whatever order the answers came in.
    refused.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    Decision::Pending { refused }
}

/// How long a message's `SentTimestamp` stands for its submission time: it covers the
/// redeliveries of the intake queue (5 receives × 180 s visibility); a message redriven from
/// the dead-letter queue later starts a fresh deadline instead of one already past.
pub const SENT_AT_HORIZON: chrono::Duration = chrono::Duration::hours(1);

/// The submission time of a record sent at `sent_at`.
pub fn received_at(sent_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    match sent_at {
        Some(t) if t <= now && now - t < SENT_AT_HORIZON => t,
        _ => now,
    }
}

/// One SQS record's input.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    pub body: String,
    /// The message's `SentTimestamp`: the same on every redelivery, so a redelivered request
    /// records a byte-identical pending task (same `submitted_at`, same deadline).
    pub sent_at: Option<DateTime<Utc>>,
}

/// Most backups a CBR restore point may bring into one task (a pending message stays far
/// below SQS's 256 KiB, and one check stays within one invocation).
pub const MAX_RESTORE_POINT_BACKUPS: usize = 1000;

pub struct Submitter {
    backups: Backups,
    queue: Arc<dyn PendingQueue>,
    sink: Arc<dyn EventSink>,
    settings: SubmitSettings,
    cloud_slots: Arc<Semaphore>,
    expander: Expander,
    ledger: Arc<dyn Ledger>,
}

impl Submitter {
    pub fn new(
        backups: impl Into<Backups>,
        queue: Arc<dyn PendingQueue>,
        sink: Arc<dyn EventSink>,
        ledger: Arc<dyn Ledger>,
        settings: SubmitSettings,
    ) -> Self {
        let cloud_slots = Arc::new(Semaphore::new(settings.cloud_concurrency.max(1)));
        let backups = backups.into();
        let expander =
            Expander::new(backups.clone(), None, sink.clone(), settings.expand.clone()).with_ledger(ledger.clone());
        Submitter {
            backups,
            queue,
            sink,
            settings,
            cloud_slots,
            expander,
            // Always the caller's: the composition root (src/wiring.rs) gives the DynamoDB
            // one, and submit and poll must share it to decide once.
            ledger,
        }
    }

    /// The same submitter on another ledger.
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.expander = self.expander.with_ledger(ledger.clone());
        self.ledger = ledger;
        self
    }

    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Selections may fan out to `intake` (without it, only dry runs).
    pub fn with_intake(mut self, intake: Arc<dyn IntakeQueue>) -> Self {
        self.expander = Expander::new(
            self.backups.clone(),
            Some(intake),
            self.sink.clone(),
            self.settings.expand.clone(),
        )
        .with_ledger(self.ledger.clone());
        self
    }

    /// The selection workflow (the HTTP edge calls it directly).
    pub fn expander(&self) -> &Expander {
        &self.expander
    }

    pub fn backups(&self) -> &Backups {
        &self.backups
    }

    pub fn csbs(&self) -> &CsbsClient {
        self.backups.csbs()
    }

    pub fn cbr(&self) -> &CbrClient {
        self.backups.cbr()
    }

    pub fn is_allowed(&self, project_id: &str) -> bool {
        self.settings.allowed_project_ids.is_empty()
            || self.settings.allowed_project_ids.iter().any(|p| p == project_id)
    }

    /// Submits one valid request.
    pub async fn submit(&self, req: &DeletionRequest, deadline: Instant) -> Result<Accepted, SubmitError> {
        self.submit_at(req, Utc::now(), deadline).await
    }

    /// Submits one valid request received at `received_at` (the task's `submitted_at`).
    pub async fn submit_at(
        &self,
        req: &DeletionRequest,
        received_at: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Accepted, SubmitError> {
        let step = self.prepare(req, received_at, prepare_deadline(deadline)).await;
        let span = tracing::Span::current();
        self.finish(vec![(span, step)], deadline)
            .await
            .pop()
            .expect("one step, one result")
    }

    /// The first phase of a request: the allow-list, the DELETEs and the decision. What is
    /// left to do — record a pending task, emit an event — is batched across requests by
    /// [`finish`](Self::finish).
    async fn prepare(&self, req: &DeletionRequest, received_at: DateTime<Utc>, deadline: Instant) -> Step {
        if !self.is_allowed(&req.project_id) {
            return Step::Done(Err(SubmitError::NotAllowed {
                project_id: req.project_id.clone(),
            }));
        }
        // Milliseconds: what the ledger keeps, so every copy computes the same deadline.
        let received_at = chrono::SubsecRound::trunc_subsecs(received_at, 3);
        let mut task = PendingTask::new(req, received_at, self.settings.default_timeout_seconds);
        // The record before the first DELETE (docs/DESIGN.md, "Decisions").
        match self.ledger.begin(&LedgerRecord::submitted(&task), deadline).await {
            Ok(Begun::New) => {}
            Ok(Begun::Existing(first)) => {
                if let Some(event) = first.terminal_event() {
                    tracing::info!(task_id = %task.task_id, outcome = event.outcome.as_str(), "already decided: the recorded event again, nothing deleted");
                    return Self::repeat(task, event.clone());
                }
                // A copy of a request still running: its DELETE and pending message are sent
                // again (a crash may have lost them), with the first submission's times.
                if let (Some(at), Some(deadline)) = (first.submitted_at, first.deadline) {
                    task.submitted_at = at;
                    task.deadline = deadline;
                }
            }
            Err(e) => return Step::Done(Err(SubmitError::ledger(&e))),
        }
        if task.needs_backup_listing() {
            match self.restore_point_backups(&task, deadline).await {
                Ok(RestorePoint::Backups(ids)) => task.backup_ids = Some(ids),
                Ok(RestorePoint::Gone) => {
                    let event =
                        OutcomeEvent::for_task(&task, Outcome::Completed, Utc::now(), Some("absent".into()), None);
                    return self.decided(task, event, deadline).await;
                }
                Ok(RestorePoint::Refused(error)) => {
                    let event = OutcomeEvent::for_task(&task, Outcome::Rejected, Utc::now(), None, Some(error));
                    return self.decided(task, event, deadline).await;
                }
                Err(e) if e.class() == ErrorClass::Permanent => {
                    let event =
                        OutcomeEvent::for_task(&task, Outcome::Rejected, Utc::now(), None, Some(event_error(&e)));
                    return self.decided(task, event, deadline).await;
                }
                Err(e) => return Step::Done(Err(SubmitError::transient(&e))),
            }
        }
        // Owned targets: a closure over borrowed `&str` items is not `Send` for every lifetime,
        // which lambda_http's Adapter requires of the whole future.
        let targets: Vec<Option<String>> = task.targets().into_iter().map(|t| t.map(str::to_string)).collect();
        let task_ref = &task;
        let results: Vec<(Option<String>, Result<DeleteOutcome, CloudError>)> = futures::stream::iter(targets)
            .map(|item| async move {
                let r = self.delete_one(task_ref, item.as_deref(), deadline).await;
                (item, r)
            })
            .buffer_unordered(self.settings.cloud_concurrency.max(1))
            .collect()
            .await;
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

    /// The second phase, for any number of requests: one `SendMessageBatch` per ten pending
    /// tasks, then one `PutEvents` per ten events (Submitted for the tasks recorded, Completed
    /// and Rejected for the others). A refused entry fails only its own request. Pending first,
    /// then the event: a crash in between leads to a redelivery, whose DELETE answers CSBS.2003
    /// and records the (same) task again.
    /// `steps` come with the log span of their request, under which their outcome is logged.
    async fn finish(&self, steps: Vec<(tracing::Span, Step)>, deadline: Instant) -> Vec<Result<Accepted, SubmitError>> {
        let (spans, steps): (Vec<tracing::Span>, Vec<Step>) = steps.into_iter().unzip();
        let tasks: Vec<PendingTask> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Record(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        let mut recorded: Vec<Result<(), String>> = Vec::with_capacity(tasks.len());
        for chunk in tasks.chunks(MAX_BATCH) {
            match self.queue.send_batch(chunk, deadline).await {
                Ok(results) => recorded.extend(results),
                Err(e) => recorded.extend(chunk.iter().map(|_| Err(e.to_string()))),
            }
        }
        let mut recorded = recorded.into_iter();
        let steps: Vec<Step> = steps
            .into_iter()
            .map(|s| match s {
                Step::Record(task) => match recorded.next().unwrap_or(Err("not sent".into())) {
                    Ok(()) => Step::Emit {
                        event: Box::new(OutcomeEvent::for_task(
                            &task,
                            Outcome::Submitted,
                            Utc::now(),
                            None,
                            None,
                        )),
                        then: Ok(Accepted::Submitted(task)),
                    },
                    Err(reason) => Step::Done(Err(SubmitError::Transient {
                        code: ErrorCode::PendingQueueUnavailable.into(),
                        message: format!("the pending task could not be recorded: {reason}"),
                        bad_gateway: false,
                    })),
                },
                other => other,
            })
            .collect();
        let events: Vec<OutcomeEvent> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Emit { event, .. } => Some((**event).clone()),
                _ => None,
            })
            .collect();
        let accepted = emit_all(self.sink.as_ref(), &events, deadline, self.settings.event_attempts).await;
        steps
            .into_iter()
            .zip(spans)
            .map(|(s, span)| match s {
                Step::Done(r) => r,
                Step::Emit { event, then } if accepted.contains(&event.event_id) => {
                    span.in_scope(|| {
                        tracing::info!(event_id = %event.event_id, outcome = event.outcome.as_str(), "event emitted")
                    });
                    then
                }
                Step::Emit { .. } => Err(SubmitError::Transient {
                    code: ErrorCode::EventBusUnavailable.into(),
                    message: "the event bus did not accept the event".into(),
                    bad_gateway: false,
                }),
                Step::Record(_) => unreachable!("recorded above"),
            })
            .collect()
    }

    async fn delete_one(
        &self,
        task: &PendingTask,
        target: Option<&str>,
        deadline: Instant,
    ) -> Result<DeleteOutcome, CloudError> {
        let _slot = self.cloud_slots.acquire().await.expect("semaphore never closed");
        self.backups
            .delete(task, target, deadline)
            .await
            .expect("a CBR task has its backups listed before any DELETE")
    }

    /// The backups of a CBR restore point, listed at submit time (top-level ones only: never
    /// the per-disk children). A restore point that lists none is checked with one GET: gone
    /// → Completed, otherwise refused (docs/DESIGN.md, "CBR targets").
    async fn restore_point_backups(&self, task: &PendingTask, deadline: Instant) -> Result<RestorePoint, CloudError> {
        let _slot = self.cloud_slots.acquire().await.expect("semaphore never closed");
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

    /// The Rejected event of a body that failed validation (or names a project not allowed).
    fn rejected_raw(raw: &[u8], err: &RequestError, origin: &str) -> Step {
        let error = EventError {
            code: err.code.to_string(),
            message: format!("{origin}: {}", err.message),
            http_status: None,
        };
        let event = OutcomeEvent::rejected_raw(task_id_of_raw(raw), echo_fields(raw), Utc::now(), error);
        Step::Emit {
            then: Err(SubmitError::Rejected {
                event: Box::new(event.clone()),
            }),
            event: Box::new(event),
        }
    }

    /// The first phase of one SQS record, parsed as a deletion request (or refused).
    async fn prepare_record(
        &self,
        record: &Record,
        parsed: Result<DeletionRequest, RequestError>,
        deadline: Instant,
    ) -> Step {
        let origin = format!("SQS message {}", record.message_id);
        let req = match parsed {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "refused an invalid message");
                return Self::rejected_raw(record.body.as_bytes(), &e, &origin);
            }
        };
        match self
            .prepare(&req, received_at(record.sent_at, Utc::now()), deadline)
            .await
        {
            Step::Done(Err(SubmitError::NotAllowed { project_id })) => Self::not_allowed_raw(record, &project_id),
            step => step,
        }
    }

    fn not_allowed_raw(record: &Record, project_id: &str) -> Step {
        let err = RequestError {
            code: ErrorCode::ProjectNotAllowed,
            field: Some("project_id".into()),
            message: format!("project_id: {project_id} is not in ALLOWED_PROJECT_IDS"),
        };
        Self::rejected_raw(
            record.body.as_bytes(),
            &err,
            &format!("SQS message {}", record.message_id),
        )
    }

    /// A selection or a fan-out step from the queue; `true` when the record must be
    /// redelivered.
    async fn run_selection(&self, record: &Record, work: SelectionWork, deadline: Instant) -> bool {
        let project = match &work {
            SelectionWork::Plan(s) => s.select.project_id.clone(),
            SelectionWork::Step(f) => f.project_id.clone(),
        };
        if !self.is_allowed(&project) {
            let span = tracing::Span::current();
            let step = Self::not_allowed_raw(record, &project);
            let result = self.finish(vec![(span, step)], deadline).await;
            return result.iter().any(|r| matches!(r, Err(SubmitError::Transient { .. })));
        }
        let result = match &work {
            SelectionWork::Plan(req) => {
                // A selection's reference time: its own, else when the message was first sent
                // (the same on every redelivery, so a redelivery plans the same targets).
                let reference = req.reference_time.or(record.sent_at).unwrap_or_else(Utc::now);
                self.expander.expand(req, reference, deadline).await.map(|_| ())
            }
            SelectionWork::Step(fan) => self.expander.step(fan, deadline).await.map(|_| ()),
        };
        match result {
            Ok(()) | Err(SubmitError::Rejected { .. }) | Err(SubmitError::NotAllowed { .. }) => false,
            Err(e) => {
                tracing::warn!(error = ?e, "transient failure of a selection; SQS will redeliver");
                true
            }
        }
    }

    /// Handles an SQS batch; returns the message ids to report as batch item failures.
    /// Records with the same task id are submitted once and share the result. The DELETEs run
    /// in parallel; then the batch's pending tasks go out in one `SendMessageBatch` and its
    /// events in one `PutEvents` (per ten). A record still running when the time for DELETEs
    /// is up, or whose entry a batch call refused, is reported as a failure.
    pub async fn submit_batch(&self, records: &[Record], deadline: Instant) -> Vec<String> {
        let mut deletions: Vec<(&Record, Result<DeletionRequest, RequestError>)> = Vec::new();
        let mut selections: Vec<(Record, SelectionWork)> = Vec::new();
        for r in records {
            match crate::ports::intake::parse_sqs_body(&r.body, &self.settings.event_source) {
                Ok(Intake::Delete(req)) => deletions.push((r, Ok(req))),
                Ok(Intake::Select(s)) => selections.push((r.clone(), SelectionWork::Plan(s))),
                Ok(Intake::Step(f)) => selections.push((r.clone(), SelectionWork::Step(f))),
                Err(Refusal::Invalid(e)) => deletions.push((r, Err(e))),
                Err(Refusal::OwnEvent) => tracing::warn!(
                    message_id = %r.message_id,
                    "dropped an event of this stack's own EVENT_SOURCE: a rule forwards outcome events to the intake queue, which would loop"
                ),
            }
        }
        let selections_failed = futures::stream::iter(selections)
            .map(|(r, intake)| async move {
                let span = tracing::info_span!("selection", message_id = %r.message_id);
                self.run_selection(&r, intake, deadline)
                    .instrument(span)
                    .await
                    .then(|| r.message_id.clone())
            })
            .buffer_unordered(4)
            .filter_map(|failed| async move { failed })
            .collect::<Vec<String>>();
        let (mut failed, selections_failed) =
            futures::join!(self.submit_deletions(deletions, deadline), selections_failed);
        failed.extend(selections_failed);
        failed.sort();
        failed
    }

    async fn submit_deletions(
        &self,
        records: Vec<(&Record, Result<DeletionRequest, RequestError>)>,
        deadline: Instant,
    ) -> Vec<String> {
        let mut groups: HashMap<String, Vec<&Record>> = HashMap::new();
        let mut parsed: HashMap<String, Result<DeletionRequest, RequestError>> = HashMap::new();
        // Per task: (project, checkpoint, target) for the log span, from the body when it is
        // readable.
        // What the record's log span names: project, checkpoint, target, request id.
        let mut labels: HashMap<String, [String; 4]> = HashMap::new();
        let mut order = Vec::new();
        for (r, request) in records {
            let key = match &request {
                Ok(req) => {
                    let key = task_id(req);
                    labels.insert(
                        key.clone(),
                        [
                            req.project_id.clone(),
                            req.checkpoint_id.clone().unwrap_or_default(),
                            req.target_label(),
                            req.request_id.clone().unwrap_or_default(),
                        ],
                    );
                    key
                }
                Err(_) => task_id_of_raw(r.body.as_bytes()),
            };
            if !groups.contains_key(&key) {
                order.push(key.clone());
                parsed.insert(key.clone(), request);
            }
            groups.entry(key).or_default().push(r);
        }
        let prepare_by = prepare_deadline(deadline);
        let prepared: Vec<(String, (tracing::Span, Step))> = futures::stream::iter(order)
            .map(|key| {
                let first = groups[&key][0];
                let request = parsed.remove(&key).expect("one parse per group");
                let [project, checkpoint, target, request_id] = labels.get(&key).cloned().unwrap_or_default();
                let span = tracing::info_span!(
                    "record",
                    message_id = %first.message_id,
                    task_id = %key,
                    project_id = %project,
                    checkpoint_id = %checkpoint,
                    target = %target,
                    request_id = %request_id,
                    trace_id = crate::trace::current().unwrap_or_default(),
                );
                let record_span = span.clone();
                async move {
                    let step = tokio::time::timeout_at(prepare_by, self.prepare_record(first, request, prepare_by))
                        .await
                        .unwrap_or_else(|_| {
                            Step::Done(Err(SubmitError::Transient {
                                code: ErrorCode::DeadlineExceeded.into(),
                                message: "the invocation's time ran out".into(),
                                bad_gateway: false,
                            }))
                        });
                    (key, (record_span, step))
                }
                .instrument(span)
            })
            .buffer_unordered(self.settings.cloud_concurrency.max(1))
            .collect()
            .await;
        let (keys, steps): (Vec<String>, Vec<(tracing::Span, Step)>) = prepared.into_iter().unzip();
        // The record's span again for the last word on it (task, request and trace ids).
        let spans: Vec<tracing::Span> = steps.iter().map(|(s, _)| s.clone()).collect();
        let results = self.finish(steps, deadline).await;
        let mut failed: Vec<String> = Vec::new();
        for ((key, result), span) in keys.into_iter().zip(results).zip(spans) {
            let _in_span = span.enter();
            match result {
                Ok(a) => {
                    let outcome = match &a {
                        Accepted::Submitted(_) => "submitted",
                        Accepted::Completed(_) => "completed",
                        Accepted::Decided(d) => d.event.outcome.as_str(),
                    };
                    tracing::info!(task_id = %key, outcome, "request accepted")
                }
                Err(SubmitError::Rejected { .. }) => {}
                Err(e) => {
                    tracing::warn!(task_id = %key, error = ?e, "transient failure; SQS will redeliver");
                    failed.extend(groups[&key].iter().map(|r| r.message_id.clone()));
                }
            }
        }
        failed
    }
}

/// What a selection record asks for (src/selection/).
enum SelectionWork {
    Plan(crate::selection::SelectionRequest),
    Step(crate::selection::FanOut),
}

/// What a CBR restore point holds at submit time.
enum RestorePoint {
    Backups(Vec<String>),
    /// It does not exist (any more): nothing to delete.
    Gone,
    /// It cannot be deleted through this request.
    Refused(EventError),
}

fn event_error(e: &CloudError) -> EventError {
    EventError {
        code: e.code(),
        message: e.to_string(),
        http_status: e.http_status(),
    }
}

/// The DELETE phase of a request ends this long before the deadline, so that recording its
/// pending task and emitting its event (batched with the other records') still have time.
pub const FINISH_RESERVE: Duration = Duration::from_secs(2);

fn prepare_deadline(deadline: Instant) -> Instant {
    let now = Instant::now();
    let left = deadline.saturating_duration_since(now);
    // With little time left, split it: half for the DELETEs, half for the rest.
    now + left.saturating_sub(FINISH_RESERVE).max(left / 2)
}

/// One request between the two phases of submit.
enum Step {
    /// Nothing more to do.
    Done(Result<Accepted, SubmitError>),
    /// An event to emit; once accepted, the request's result is `then`.
    Emit {
        event: Box<OutcomeEvent>,
        then: Result<Accepted, SubmitError>,
    },
    /// A pending task to record; then its Submitted event.
    Record(PendingTask),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::error::api_error;

    fn refused() -> CloudError {
        api_error(400, br#"{"error_code":"CSBS.9006","error_msg":"refused"}"#, None)
    }

    fn answers(
        rs: Vec<(&str, Result<DeleteOutcome, CloudError>)>,
    ) -> Vec<(Option<String>, Result<DeleteOutcome, CloudError>)> {
        rs.into_iter().map(|(i, r)| (Some(i.to_string()), r)).collect()
    }

    #[test]
    fn rejected_only_when_no_item_was_accepted() {
        let all_refused = answers(vec![("a", Err(refused())), ("b", Err(refused()))]);
        assert!(matches!(decide(&all_refused), Decision::Reject(e) if e.code() == "CSBS.9006"));
        let whole = vec![(None, Err(refused()))];
        assert!(matches!(decide(&whole), Decision::Reject(_)));
        for other in [
            DeleteOutcome::Accepted,
            DeleteOutcome::AlreadyDeleting,
            DeleteOutcome::AlreadyGone,
        ] {
            let mixed = answers(vec![("b", Err(refused())), ("a", Ok(other))]);
            match decide(&mixed) {
                Decision::Pending { refused } => {
                    assert_eq!(refused.len(), 1);
                    assert_eq!(
                        (
                            refused[0].item_id.as_str(),
                            refused[0].code.as_str(),
                            refused[0].http_status
                        ),
                        ("b", "CSBS.9006", Some(400))
                    );
                }
                d => panic!("{other:?}: {d:?}"),
            }
        }
    }

    #[test]
    fn transient_wins_and_all_gone_completes() {
        let busy = api_error(503, b"{}", None);
        let r = answers(vec![
            ("a", Err(refused())),
            ("b", Err(busy)),
            ("c", Ok(DeleteOutcome::Accepted)),
        ]);
        assert!(matches!(decide(&r), Decision::Retry(e) if e.http_status() == Some(503)));
        let gateway_404 = api_error(404, br#"{"error_code":"APIGW.0101","error_msg":"no such API"}"#, None);
        let r = answers(vec![("a", Err(gateway_404))]);
        assert!(
            matches!(decide(&r), Decision::Retry(e) if e.is_bad_gateway()),
            "a gateway 404 is never gone"
        );
        let r = answers(vec![
            ("a", Ok(DeleteOutcome::AlreadyGone)),
            ("b", Ok(DeleteOutcome::AlreadyGone)),
        ]);
        assert!(matches!(decide(&r), Decision::AllGone));
        let r = answers(vec![
            ("a", Ok(DeleteOutcome::AlreadyGone)),
            ("b", Ok(DeleteOutcome::Accepted)),
        ]);
        assert!(matches!(decide(&r), Decision::Pending { refused } if refused.is_empty()));
    }

    #[test]
    fn refusals_are_recorded_in_item_order() {
        let r = answers(vec![
            ("c", Err(refused())),
            ("a", Ok(DeleteOutcome::Accepted)),
            ("b", Err(refused())),
        ]);
        let Decision::Pending { refused } = decide(&r) else {
            panic!()
        };
        let ids: Vec<&str> = refused.iter().map(|r| r.item_id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[tokio::test(start_paused = true)]
    async fn deletes_leave_time_to_record_and_emit() {
        // The clock is paused: `now` is the same in here and in prepare_deadline.
        let now = Instant::now();
        let by = |d: Duration| prepare_deadline(now + d) - now;
        assert_eq!(by(Duration::from_secs(27)), Duration::from_secs(25), "the reserve");
        assert_eq!(
            by(Duration::from_secs(3)),
            Duration::from_millis(1500),
            "half of a short budget"
        );
        assert_eq!(by(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn sent_timestamp_is_used_within_the_horizon() {
        let now = Utc::now();
        let recent = now - chrono::Duration::minutes(10);
        assert_eq!(received_at(Some(recent), now), recent);
        assert_eq!(received_at(Some(now - chrono::Duration::hours(2)), now), now);
        assert_eq!(received_at(Some(now + chrono::Duration::minutes(1)), now), now);
        assert_eq!(received_at(None, now), now);
        // The horizon's edge: an hour old is too old; a millisecond less is not.
        let hour = chrono::Duration::hours(1);
        assert_eq!(received_at(Some(now - hour), now), now);
        let just = now - hour + chrono::Duration::milliseconds(1);
        assert_eq!(received_at(Some(just), now), just);
        assert_eq!(received_at(Some(now), now), now);
    }
}
