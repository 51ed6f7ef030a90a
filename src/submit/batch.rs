//! An SQS batch of the intake queue: deletion requests (submitted together, copies once),
//! selections and fan-out steps (to the selection workflow), and the batch item failures to
//! report.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::time::Instant;
use tracing::Instrument;

use super::{Accepted, Step, SubmitError, Submitter, prepare_deadline, received_at};
use crate::codes::ErrorCode;
use crate::outcome::{EventError, OutcomeEvent};
use crate::ports::intake::{Intake, Refusal};
use crate::request::{DeletionRequest, RequestError, echo_fields, task_id_of_raw};
use crate::task::task_id;

/// One SQS record's input.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    pub body: String,
    /// The message's `SentTimestamp`: the same on every redelivery, so a redelivered request
    /// records a byte-identical pending task (same `submitted_at`, same deadline).
    pub sent_at: Option<DateTime<Utc>>,
}

/// What a selection record asks for (src/selection/).
enum SelectionWork {
    Plan(crate::selection::SelectionRequest),
    Step(crate::selection::FanOut),
}

impl Submitter {
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
            Step::Done(Err(SubmitError::Invalid(e))) => {
                tracing::warn!(error = %e, "refused a message before any call");
                Self::rejected_raw(record.body.as_bytes(), &e, &origin)
            }
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
            Err(SubmitError::Invalid(e)) => {
                let span = tracing::Span::current();
                let origin = format!("SQS message {}", record.message_id);
                let step = Self::rejected_raw(record.body.as_bytes(), &e, &origin);
                let result = self.finish(vec![(span, step)], deadline).await;
                result.iter().any(|r| matches!(r, Err(SubmitError::Transient { .. })))
            }
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
        let mut groups = Groups::of(records);
        let prepare_by = prepare_deadline(deadline);
        let order = std::mem::take(&mut groups.order);
        let prepared: Vec<(String, (tracing::Span, Step))> = futures::stream::iter(order)
            .map(|key| {
                let first = groups.records[&key][0];
                let request = groups.parsed.remove(&key).expect("one parse per group");
                let span = record_span(first, &key, groups.labels.get(&key));
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
            if report(&key, result) {
                failed.extend(groups.records[&key].iter().map(|r| r.message_id.clone()));
            }
        }
        failed
    }
}

/// The records of a batch by task id: copies of one request are submitted once.
struct Groups<'a> {
    /// Task ids in the order of their first record.
    order: Vec<String>,
    records: HashMap<String, Vec<&'a Record>>,
    /// The first record's parse, per task id.
    parsed: HashMap<String, Result<DeletionRequest, RequestError>>,
    /// What the record's log span names: project, checkpoint, target, request id (from the
    /// body when it is readable).
    labels: HashMap<String, [String; 4]>,
}

impl<'a> Groups<'a> {
    fn of(records: Vec<(&'a Record, Result<DeletionRequest, RequestError>)>) -> Self {
        let mut g = Groups {
            order: Vec::new(),
            records: HashMap::new(),
            parsed: HashMap::new(),
            labels: HashMap::new(),
        };
        for (r, request) in records {
            let key = match &request {
                Ok(req) => {
                    let key = task_id(req);
                    let labels = [
                        req.project_id.clone(),
                        req.checkpoint_id.clone().unwrap_or_default(),
                        req.target_label(),
                        req.request_id.clone().unwrap_or_default(),
                    ];
                    g.labels.insert(key.clone(), labels);
                    key
                }
                Err(_) => task_id_of_raw(r.body.as_bytes()),
            };
            if !g.records.contains_key(&key) {
                g.order.push(key.clone());
                g.parsed.insert(key.clone(), request);
            }
            g.records.entry(key).or_default().push(r);
        }
        g
    }
}

/// The log span of one request of the batch: every line about it names its task, request and
/// trace.
fn record_span(first: &Record, key: &str, labels: Option<&[String; 4]>) -> tracing::Span {
    let [project, checkpoint, target, request_id] = labels.cloned().unwrap_or_default();
    tracing::info_span!(
        "record",
        message_id = %first.message_id,
        task_id = %key,
        project_id = %project,
        checkpoint_id = %checkpoint,
        target = %target,
        request_id = %request_id,
        trace_id = crate::trace::current().unwrap_or_default(),
    )
}

/// Logs a request's result; `true` when its records must be redelivered.
fn report(key: &str, result: Result<Accepted, SubmitError>) -> bool {
    match result {
        Ok(a) => {
            let outcome = match &a {
                Accepted::Submitted(_) => "submitted",
                Accepted::Completed(_) => "completed",
                Accepted::Decided(d) => d.event.outcome.as_str(),
            };
            tracing::info!(task_id = %key, outcome, "request accepted");
            false
        }
        Err(SubmitError::Rejected { .. }) => false,
        Err(e) => {
            tracing::warn!(task_id = %key, error = ?e, "transient failure; SQS will redeliver");
            true
        }
    }
}
