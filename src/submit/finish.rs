//! The second phase of submit, for any number of requests: record the pending tasks, emit
//! the events, answer each request.

use chrono::Utc;
use tokio::time::Instant;

use super::{Accepted, Step, SubmitError, Submitter};
use crate::codes::ErrorCode;
use crate::outcome::{Outcome, OutcomeEvent};
use crate::ports::pending::MAX_BATCH;
use crate::ports::sink::emit_all;
use crate::task::PendingTask;

impl Submitter {
    /// The second phase, for any number of requests: one `SendMessageBatch` per ten pending
    /// tasks, then one `PutEvents` per ten events (Submitted for the tasks recorded, Completed
    /// and Rejected for the others). A refused entry fails only its own request. Pending first,
    /// then the event: a crash in between leads to a redelivery, whose DELETE answers CSBS.2003
    /// and records the (same) task again.
    /// `steps` come with the log span of their request, under which their outcome is logged.
    pub(super) async fn finish(
        &self,
        steps: Vec<(tracing::Span, Step)>,
        deadline: Instant,
    ) -> Vec<Result<Accepted, SubmitError>> {
        let (spans, steps): (Vec<tracing::Span>, Vec<Step>) = steps.into_iter().unzip();
        let steps = self.record_pending(steps, deadline).await;
        self.emit_and_answer(steps, spans, deadline).await
    }

    /// Records the pending tasks (one `SendMessageBatch` per ten): each recorded one becomes
    /// its Submitted event, each refused one a transient failure.
    async fn record_pending(&self, steps: Vec<Step>, deadline: Instant) -> Vec<Step> {
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
        steps
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
            .collect()
    }

    /// Emits the events (one `PutEvents` per ten) and answers each request: its result once
    /// its event was accepted, a transient failure otherwise.
    async fn emit_and_answer(
        &self,
        steps: Vec<Step>,
        spans: Vec<tracing::Span>,
        deadline: Instant,
    ) -> Vec<Result<Accepted, SubmitError>> {
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
}
