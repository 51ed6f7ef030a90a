//! One batch of received pending messages: claim, check, decide in the ledger, emit, then
//! delete or re-time (docs/DESIGN.md, "Reliability").

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::time::Instant;
use tracing::Instrument;

use super::pass::{Claim, Disposition, PassState, Verdict};
use super::verdict::{Check, next_check_secs, unknown_verdict, verdict};
use super::{PollSummary, Poller};
use crate::cloud::CloudError;
use crate::codes::ErrorCode;
use crate::outcome::{EventError, Outcome, OutcomeEvent, event_id};
use crate::ports::ledger::{LedgerError, decide_event};
use crate::ports::pending::{MAX_BATCH, Received};
use crate::ports::sink::emit_all;
use crate::request::task_id_of_raw;
use crate::task::PendingTask;

impl Poller {
    /// Checks one received batch to the end: its events emitted, its messages deleted (after
    /// their event was accepted) or re-timed to their next check.
    pub(super) async fn batch(&self, pass: &PassState, received: Vec<Received>, deadline: Instant) -> PollSummary {
        let mut summary = PollSummary::default();
        let mut after = Dispositions::default();
        let (mut mine, unreadable) = claim_all(pass, received, &mut after);
        summary.unreadable = unreadable.len() as u64;
        summary.checked = mine.len() as u64;
        for (task, _) in &mut mine {
            // A task written before regions existed is the default region's.
            task.region.get_or_insert_with(|| self.backups.region_name(None));
            self.groups.count(pass.number, task);
        }
        let verdicts = self.check_all(pass, mine, deadline).await;
        let mut finals = self.keep_unfinished(pass, verdicts, &mut summary, &mut after);
        finals.extend(unreadable.into_iter().map(|(e, receipt)| (None, receipt, e)));
        self.decide_and_emit(pass, finals, &mut summary, &mut after, deadline)
            .await;
        self.forget(&after.to_delete, deadline).await;
        self.retime(&after.to_retime, deadline).await;
        summary
    }

    /// Checks each claimed task once, `MAX_BATCH` at a time.
    async fn check_all(
        &self,
        pass: &PassState,
        mine: Vec<(PendingTask, String)>,
        deadline: Instant,
    ) -> Vec<(PendingTask, String, Verdict)> {
        futures::stream::iter(mine)
            .map(|(task, receipt)| async move {
                // Every line about the task names it, its request and the trace it began in.
                let span = tracing::info_span!(
                    "task",
                    task_id = %task.task_id,
                    request_id = task.request_id.as_deref().unwrap_or(""),
                    trace_id = task.trace_id.as_deref().unwrap_or(""),
                );
                let verdict = self.check(pass, &task, deadline).instrument(span.clone()).await;
                if let Verdict::Terminal(e) = &verdict {
                    span.in_scope(|| tracing::info!(outcome = e.outcome.as_str(), "decided by this check"));
                }
                (task, receipt, verdict)
            })
            .buffer_unordered(MAX_BATCH)
            .collect()
            .await
    }

    /// Unfinished tasks (and the copies that joined them) are re-timed; the terminal verdicts
    /// are returned as (task id, receipt, event).
    fn keep_unfinished(
        &self,
        pass: &PassState,
        verdicts: Vec<(PendingTask, String, Verdict)>,
        summary: &mut PollSummary,
        after: &mut Dispositions,
    ) -> Vec<Final> {
        let mut finals = Vec::new();
        for (task, receipt, verdict) in verdicts {
            match verdict {
                Verdict::Terminal(event) => finals.push((Some(task.task_id), receipt, *event)),
                Verdict::Pending => {
                    summary.still_pending += 1;
                    let secs = self.next_check_in(&task);
                    let copies = pass.settle(&task.task_id, Disposition::Retime(secs));
                    after.add(Disposition::Retime(secs), copies.into_iter().chain([receipt]));
                }
            }
        }
        finals
    }

    /// Every terminal verdict goes through the ledger (docs/DESIGN.md, "Decisions"): a copy
    /// that lost emits the recorded decision instead of its own; one the ledger could not take
    /// keeps its message and is checked again — never an undecided event. A message is deleted
    /// only once its event was accepted.
    async fn decide_and_emit(
        &self,
        pass: &PassState,
        finals: Vec<Final>,
        summary: &mut PollSummary,
        after: &mut Dispositions,
        deadline: Instant,
    ) {
        let own: Vec<OutcomeEvent> = finals.iter().map(|(_, _, e)| e.clone()).collect();
        let decided: Vec<Result<OutcomeEvent, LedgerError>> = futures::stream::iter(own)
            .map(|e| {
                let ledger = self.ledger.clone();
                async move { decide_event(ledger.as_ref(), e, deadline).await }
            })
            .buffered(MAX_BATCH)
            .collect()
            .await;
        let to_emit: Vec<OutcomeEvent> = decided.iter().filter_map(|d| d.as_ref().ok().cloned()).collect();
        let accepted = emit_all(self.sink.as_ref(), &to_emit, deadline, self.settings.event_attempts).await;
        let retry_secs = self.settings.interval.as_secs().max(1) as u32;
        for ((task_id, receipt, _), decision) in finals.into_iter().zip(decided) {
            let disposition = match decision {
                Ok(event) if accepted.contains(&event.event_id) => {
                    self.count(summary, &event);
                    Disposition::Delete
                }
                Ok(_) => {
                    // Kept: checked again (and the decided event emitted) at the next pass.
                    summary.unemitted += 1;
                    Disposition::Retime(retry_secs)
                }
                Err(e) => {
                    // Loud: an error line, the ledger_errors metric and its alarm.
                    tracing::error!(task_id = task_id.as_deref().unwrap_or(""), code = e.code().as_str(), error = %e, "the decision could not be recorded; the task is kept and no event is emitted");
                    summary.ledger_errors += 1;
                    Disposition::Retime(retry_secs)
                }
            };
            let settled = task_id.map(|t| pass.settle(&t, disposition)).unwrap_or_default();
            after.add(disposition, settled.into_iter().chain([receipt]));
        }
    }

    fn count(&self, summary: &mut PollSummary, e: &OutcomeEvent) {
        match e.outcome {
            Outcome::Completed => summary.completed += 1,
            Outcome::Failed => summary.failed += 1,
            Outcome::TimedOut => summary.timed_out += 1,
            _ => {}
        }
        tracing::info!(
            event_id = %e.event_id,
            task_id = %e.task_id,
            request_id = e.request_id.as_deref().unwrap_or(""),
            trace_id = e.trace_id.as_deref().unwrap_or(""),
            outcome = e.outcome.as_str(),
            "event emitted"
        );
    }

    async fn forget(&self, receipts: &[String], deadline: Instant) {
        for chunk in receipts.chunks(MAX_BATCH) {
            match self.queue.delete(chunk, deadline).await {
                Ok(failed) if failed.is_empty() => {}
                Ok(failed) => tracing::warn!(
                    count = failed.len(),
                    "some pending messages were not deleted; they will be seen again and re-emit the same event ids"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "delete failed; the tasks will be seen again and re-emit the same event ids")
                }
            }
        }
    }

    async fn retime(&self, entries: &[(String, u32)], deadline: Instant) {
        for chunk in entries.chunks(MAX_BATCH) {
            match self.queue.set_visibility(chunk, deadline).await {
                Ok(refused) if refused.is_empty() => {}
                // Harmless: those reappear when the visibility they were received with ends.
                Ok(refused) => tracing::warn!(count = refused.len(), "some next-check times were not set"),
                Err(e) => tracing::warn!(error = %e, "could not set the next check time"),
            }
        }
    }

    /// Seconds until the next check of an unfinished task.
    fn next_check_in(&self, task: &PendingTask) -> u32 {
        next_check_secs(self.settings.interval, task.submitted_at, task.deadline, Utc::now())
    }

    async fn check(&self, pass: &PassState, task: &PendingTask, deadline: Instant) -> Verdict {
        let shown = self.in_flight(pass, task, deadline).await;
        let states = self
            .backups
            .read_states(task, shown.as_deref(), deadline, &self.cloud_slots, &self.calls)
            .await;
        let now = Utc::now();
        let states = match states {
            Ok(s) => s,
            Err(e) => return self.unknown_state(task, now, &e),
        };
        match verdict(task, &states, now) {
            Check::Terminal(event) => Verdict::Terminal(event),
            Check::Pending { reissue } => {
                for target in &reissue {
                    self.reissue(task, target.as_deref(), deadline).await;
                }
                Verdict::Pending
            }
        }
    }

    /// CSBS could not be asked: keep waiting, unless the deadline has passed.
    fn unknown_state(&self, task: &PendingTask, now: DateTime<Utc>, e: &CloudError) -> Verdict {
        tracing::warn!(task_id = %task.task_id, error = %e, "check failed; will check again");
        match unknown_verdict(task, now, e) {
            Some(event) => Verdict::Terminal(Box::new(event)),
            None => Verdict::Pending,
        }
    }

    /// A backup still `available` after a check: the DELETE is issued again (idempotent), as
    /// the Terraform providers do.
    async fn reissue(&self, task: &PendingTask, target: Option<&str>, deadline: Instant) {
        let _slot = self
            .cloud_slots
            .acquire(task.place_of(target.unwrap_or_default()).region)
            .await;
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(Err(e)) = self.backups.delete(task, target, deadline).await {
            tracing::warn!(task_id = %task.task_id, error = %e, "re-issued DELETE failed; will check again");
        }
    }
}

/// A terminal verdict on its way to the ledger and the bus: the task id (none for an
/// unreadable message), the receipt, the event.
type Final = (Option<String>, String, OutcomeEvent);

/// The receipts a batch deletes (their event was accepted) and re-times (unfinished).
#[derive(Default)]
struct Dispositions {
    to_delete: Vec<String>,
    to_retime: Vec<(String, u32)>,
}

impl Dispositions {
    fn add(&mut self, d: Disposition, receipts: impl Iterator<Item = String>) {
        match d {
            Disposition::Delete => self.to_delete.extend(receipts),
            Disposition::Retime(secs) => self.to_retime.extend(receipts.map(|r| (r, secs))),
        }
    }
}

/// A pending message that is not a task: its Failed event and its receipt.
type Unreadable = (OutcomeEvent, String);

/// Sorts a batch's messages: the tasks this batch checks, the unreadable ones (with their
/// Failed event); copies of a task already settled in this pass share its disposition.
fn claim_all(
    pass: &PassState,
    received: Vec<Received>,
    after: &mut Dispositions,
) -> (Vec<(PendingTask, String)>, Vec<Unreadable>) {
    let mut mine = Vec::new();
    let mut unreadable = Vec::new();
    for m in received {
        match serde_json::from_str::<PendingTask>(&m.body) {
            Ok(task) => match pass.claim(&task.task_id, &m.receipt) {
                Claim::Mine => mine.push((task, m.receipt)),
                Claim::Joined => {}
                Claim::Settled(d) => after.add(d, std::iter::once(m.receipt)),
            },
            Err(e) => unreadable.push((unreadable_event(&m, &e.to_string()), m.receipt)),
        }
    }
    (mine, unreadable)
}

/// A Failed event for a pending message that cannot be read: its task id comes from the raw
/// bytes, so a redelivered copy yields the same event id.
fn unreadable_event(m: &Received, reason: &str) -> OutcomeEvent {
    let task_id = task_id_of_raw(m.body.as_bytes());
    let mut e = OutcomeEvent::rejected_raw(
        task_id.clone(),
        crate::request::echo_fields(m.body.as_bytes()),
        Utc::now(),
        EventError {
            code: ErrorCode::UnreadablePendingTask.into(),
            message: format!("pending message {} is not a task: {reason}", m.message_id),
            http_status: None,
        },
    );
    e.outcome = Outcome::Failed;
    e.event_id = event_id(&task_id, Outcome::Failed);
    e
}
