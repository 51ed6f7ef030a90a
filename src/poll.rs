//! The poll workflow: drain the pending queue, check each task against CSBS once per pass,
//! emit one terminal event per finished task, delete its message only after the event was
//! accepted, and re-check unfinished tasks every `interval` while the window lasts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use tokio::time::Instant;

use crate::backups::Backups;
use crate::cloud::CloudError;
use crate::codes::ErrorCode;
use crate::csbs::CsbsClient;
use crate::outcome::{EventError, Outcome, OutcomeEvent, event_id};
use crate::ports::ledger::{Ledger, LedgerError, decide_event};
use crate::ports::pending::{MAX_BATCH, PendingQueue, Received};
use crate::ports::sink::{EventSink, emit_all};
use crate::request::task_id_of_raw;
use crate::target::TargetState;
use crate::task::PendingTask;
use tracing::Instrument;

/// Time kept after the last receive of an invocation to check, emit and delete.
pub const RECEIVE_RESERVE: Duration = Duration::from_secs(3);

/// A pass starts this long after an aligned boundary (messages reappear up to 1 s after it).
const PASS_SLACK: Duration = Duration::from_millis(1100);

/// Added to the rest of the invocation for the visibility of received messages.
const VISIBILITY_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct PollSettings {
    /// How long one invocation keeps re-checking (0 = one pass).
    pub window: Duration,
    /// Time between two checks of an unfinished task.
    pub interval: Duration,
    /// Parallel CSBS calls.
    pub cloud_concurrency: usize,
    pub event_attempts: u32,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            // 60 s: on a one-minute schedule, one invocation watches until the next one starts,
            // so no part of the minute goes unchecked (docs/DESIGN.md, "Rules").
            window: Duration::from_secs(60),
            interval: Duration::from_secs(10),
            cloud_concurrency: 16,
            event_attempts: 4,
        }
    }
}

/// Counters of one invocation (or pass).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PollSummary {
    pub checked: u64,
    pub completed: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub still_pending: u64,
    pub cloud_calls: u64,
    /// Pending messages that could not be read (reported as Failed events).
    pub unreadable: u64,
    /// Terminal events the bus did not accept (their messages are kept).
    pub unemitted: u64,
    /// Terminal verdicts the decision ledger could not take (unavailable, or a record that
    /// cannot be read): their messages are kept and no event is emitted.
    pub ledger_errors: u64,
    pub passes: u64,
}

impl PollSummary {
    /// Adds the counts of another part of the same pass (a lane, a batch).
    fn add_counts(&mut self, o: &PollSummary) {
        self.checked += o.checked;
        self.completed += o.completed;
        self.failed += o.failed;
        self.timed_out += o.timed_out;
        self.still_pending += o.still_pending;
        self.unreadable += o.unreadable;
        self.unemitted += o.unemitted;
        self.ledger_errors += o.ledger_errors;
    }

    /// Adds a later pass's (or invocation's) counters; `still_pending` is the later value.
    pub fn add(&mut self, o: &PollSummary) {
        self.add_counts(o);
        self.cloud_calls += o.cloud_calls;
        self.passes += o.passes;
        // Pending is a state, not a flow: the last pass tells it.
        self.still_pending = o.still_pending;
    }
}

/// What a check decided for a task.
#[derive(Debug)]
enum Verdict {
    Terminal(Box<OutcomeEvent>),
    Pending,
}

/// What becomes of a task's messages once its check in this pass is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Its terminal event was accepted: every copy is deleted.
    Delete,
    /// Unfinished (or its event was not accepted): seen again in this many seconds.
    Retime(u32),
}

/// What a received message of a task means for the batch that received it.
#[derive(Debug)]
enum Claim {
    /// The first copy in this pass: this batch checks the task.
    Mine,
    /// Another batch is checking the task: its receipt goes with that check's outcome.
    Joined,
    /// The task was already checked in this pass: the same disposition applies.
    Settled(Disposition),
}

/// Shared by the lanes of one pass: which tasks were seen, and how long a batch takes.
#[derive(Default)]
struct PassState {
    tasks: std::sync::Mutex<HashMap<String, TaskInPass>>,
    drained: std::sync::atomic::AtomicBool,
    slowest_batch_ms: AtomicU64,
}

enum TaskInPass {
    /// Being checked; receipts of copies received meanwhile by other batches.
    Checking(Vec<String>),
    Settled(Disposition),
}

impl PassState {
    fn claim(&self, task_id: &str, receipt: &str) -> Claim {
        let mut tasks = self.tasks.lock().unwrap();
        match tasks.get_mut(task_id) {
            None => {
                tasks.insert(task_id.to_string(), TaskInPass::Checking(Vec::new()));
                Claim::Mine
            }
            Some(TaskInPass::Checking(copies)) => {
                copies.push(receipt.to_string());
                Claim::Joined
            }
            Some(TaskInPass::Settled(d)) => Claim::Settled(*d),
        }
    }

    /// Records the outcome of a task's check; returns the receipts of the copies that joined it.
    fn settle(&self, task_id: &str, d: Disposition) -> Vec<String> {
        match self
            .tasks
            .lock()
            .unwrap()
            .insert(task_id.to_string(), TaskInPass::Settled(d))
        {
            Some(TaskInPass::Checking(copies)) => copies,
            _ => Vec::new(),
        }
    }

    fn record_batch(&self, took: Duration) {
        self.slowest_batch_ms
            .fetch_max(took.as_millis() as u64, Ordering::Relaxed);
    }

    fn slowest_batch(&self) -> Duration {
        Duration::from_millis(self.slowest_batch_ms.load(Ordering::Relaxed))
    }
}

/// The visibility a receive sets: the rest of the invocation plus a margin, so that no message
/// reappears within the invocation (whatever the queue's default), and one stranded by a crash
/// reappears soon after it.
fn receive_visibility(deadline: Instant, now: Instant) -> u32 {
    (deadline.saturating_duration_since(now) + VISIBILITY_MARGIN)
        .as_secs_f64()
        .ceil() as u32
}

pub struct Poller {
    backups: Backups,
    queue: Arc<dyn PendingQueue>,
    sink: Arc<dyn EventSink>,
    settings: PollSettings,
    calls: AtomicU64,
    /// `cloud_concurrency` checks at a time, across every lane.
    cloud_slots: tokio::sync::Semaphore,
    ledger: Arc<dyn Ledger>,
}

impl Poller {
    pub fn new(
        backups: impl Into<Backups>,
        queue: Arc<dyn PendingQueue>,
        sink: Arc<dyn EventSink>,
        ledger: Arc<dyn Ledger>,
        settings: PollSettings,
    ) -> Self {
        let cloud_slots = tokio::sync::Semaphore::new(settings.cloud_concurrency.max(1));
        Poller {
            backups: backups.into(),
            queue,
            sink,
            settings,
            calls: AtomicU64::new(0),
            cloud_slots,
            // Always the caller's: shared with submit, so a task is decided once.
            ledger,
        }
    }

    /// The same poller on another ledger.
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = ledger;
        self
    }

    /// The Huawei transport (CSBS and CBR share it): its call times feed the metrics.
    pub fn csbs(&self) -> &CsbsClient {
        self.backups.csbs()
    }

    /// One invocation: passes every `interval` until nothing is pending or the window (or the
    /// deadline) is used up.
    pub async fn run(&self, deadline: Instant) -> PollSummary {
        // A pass needs time after its last receive to check, emit and delete.
        let last_start =
            (Instant::now() + self.settings.window).min(deadline.checked_sub(RECEIVE_RESERVE).unwrap_or(deadline));
        let mut total = PollSummary::default();
        let mut known_pending = 0;
        loop {
            let pass = self.pass(deadline).await;
            total.add(&pass);
            // An empty pass right after one that left tasks pending only means they are not
            // visible yet (their next check is due); it does not mean they are done.
            if pass.checked > 0 || pass.unreadable > 0 || known_pending == 0 {
                known_pending = pass.still_pending + pass.unemitted;
            }
            total.still_pending = known_pending;
            if known_pending == 0 || self.settings.window.is_zero() {
                break;
            }
            let next = Instant::now() + next_pass_in(self.settings.interval);
            if next >= last_start {
                break;
            }
            // Unfinished tasks become visible again after `interval`: wait for that moment.
            tokio::time::sleep_until(next).await;
        }
        total
    }

    /// One pass: receives batch after batch until the queue answers empty (or time runs
    /// short) and checks each task once. It runs as a pipeline of [`lanes`](Self::lanes): a
    /// lane takes one batch of up to ten messages, checks it, emits its events, deletes or
    /// re-times its messages, and only then receives the next, so at most one batch per lane
    /// is in flight and every finished batch stays finished, whenever the invocation ends.
    /// Each receive hides its messages for the rest of the invocation (plus a margin), so none
    /// reappears within it whatever the queue's default visibility; a duplicate of a task
    /// received in another batch of the same pass shares that task's one check and one event.
    pub async fn pass(&self, deadline: Instant) -> PollSummary {
        let calls_before = self.calls.load(Ordering::Relaxed);
        let pass = PassState::default();
        let lanes = (0..self.lanes()).map(|_| self.lane(&pass, deadline));
        let mut summary = PollSummary {
            passes: 1,
            ..Default::default()
        };
        for lane in futures::future::join_all(lanes).await {
            summary.add_counts(&lane);
        }
        summary.cloud_calls = self.calls.load(Ordering::Relaxed) - calls_before;
        summary
    }

    /// Lanes (batches in flight): enough to keep `cloud_concurrency` checks busy while other
    /// lanes wait for their receive, emit or delete.
    fn lanes(&self) -> usize {
        self.settings.cloud_concurrency.max(1).div_ceil(MAX_BATCH) + 2
    }

    /// One lane of a pass: receive → check → emit → delete/re-time, batch after batch.
    async fn lane(&self, pass: &PassState, deadline: Instant) -> PollSummary {
        let mut summary = PollSummary::default();
        loop {
            if pass.drained.load(Ordering::Relaxed) {
                break;
            }
            // Only take in what can still be finished: a batch takes about as long as the
            // slowest one so far (at least RECEIVE_RESERVE) after its receive.
            let reserve = pass.slowest_batch().max(RECEIVE_RESERVE);
            let Some(stop) = deadline.checked_sub(reserve).filter(|s| Instant::now() < *s) else {
                break;
            };
            let started = Instant::now();
            let visibility = receive_visibility(deadline, started);
            let batch = match self.queue.receive(MAX_BATCH, Some(visibility), stop).await {
                Ok(b) if b.is_empty() => {
                    pass.drained.store(true, Ordering::Relaxed);
                    break;
                }
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "receive failed; this lane stops for the pass");
                    break;
                }
            };
            let done = self.batch(pass, batch, deadline).await;
            summary.add_counts(&done);
            pass.record_batch(started.elapsed());
        }
        summary
    }

    /// Checks one received batch to the end: its events emitted, its messages deleted (after
    /// their event was accepted) or re-timed to their next check.
    async fn batch(&self, pass: &PassState, received: Vec<Received>, deadline: Instant) -> PollSummary {
        let mut summary = PollSummary::default();
        let mut mine: Vec<(PendingTask, String)> = Vec::new();
        let mut to_delete: Vec<String> = Vec::new();
        let mut to_retime: Vec<(String, u32)> = Vec::new();
        let mut unreadable: Vec<(OutcomeEvent, String)> = Vec::new();
        for m in received {
            match serde_json::from_str::<PendingTask>(&m.body) {
                Ok(task) => match pass.claim(&task.task_id, &m.receipt) {
                    Claim::Mine => mine.push((task, m.receipt)),
                    Claim::Joined => {}
                    Claim::Settled(Disposition::Delete) => to_delete.push(m.receipt),
                    Claim::Settled(Disposition::Retime(secs)) => to_retime.push((m.receipt, secs)),
                },
                Err(e) => unreadable.push((unreadable_event(&m, &e.to_string()), m.receipt)),
            }
        }
        summary.unreadable = unreadable.len() as u64;
        summary.checked = mine.len() as u64;

        let verdicts: Vec<(PendingTask, String, Verdict)> = futures::stream::iter(mine)
            .map(|(task, receipt)| async move {
                // Every line about the task names it, its request and the trace it began in.
                let span = tracing::info_span!(
                    "task",
                    task_id = %task.task_id,
                    request_id = task.request_id.as_deref().unwrap_or(""),
                    trace_id = task.trace_id.as_deref().unwrap_or(""),
                );
                let verdict = self.check(&task, deadline).instrument(span.clone()).await;
                if let Verdict::Terminal(e) = &verdict {
                    span.in_scope(|| tracing::info!(outcome = e.outcome.as_str(), "decided by this check"));
                }
                (task, receipt, verdict)
            })
            .buffer_unordered(MAX_BATCH)
            .collect()
            .await;

        let mut events: Vec<OutcomeEvent> = Vec::new();
        let mut terminal: Vec<(PendingTask, String)> = Vec::new();
        for (task, receipt, verdict) in verdicts {
            match verdict {
                Verdict::Terminal(event) => {
                    events.push(*event);
                    terminal.push((task, receipt));
                }
                Verdict::Pending => {
                    summary.still_pending += 1;
                    let secs = self.next_check_in(&task);
                    for r in pass
                        .settle(&task.task_id, Disposition::Retime(secs))
                        .into_iter()
                        .chain([receipt])
                    {
                        to_retime.push((r, secs));
                    }
                }
            }
        }
        // Every terminal verdict goes through the ledger (docs/DESIGN.md, "Decisions"): a copy
        // that lost emits the recorded decision instead of its own; one the ledger could not
        // take keeps its message and is checked again — never an undecided event.
        let mut finals: Vec<(Option<String>, String, OutcomeEvent)> = terminal
            .into_iter()
            .zip(events)
            .map(|((task, receipt), e)| (Some(task.task_id), receipt, e))
            .collect();
        finals.extend(unreadable.into_iter().map(|(e, receipt)| (None, receipt, e)));
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
                    self.count(&mut summary, &event);
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
            let receipts = settled.into_iter().chain([receipt]);
            match disposition {
                Disposition::Delete => to_delete.extend(receipts),
                Disposition::Retime(secs) => to_retime.extend(receipts.map(|r| (r, secs))),
            }
        }
        self.forget(&to_delete, deadline).await;
        self.retime(&to_retime, deadline).await;
        summary
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

    async fn check(&self, task: &PendingTask, deadline: Instant) -> Verdict {
        let states = self
            .backups
            .read_states(task, deadline, &self.cloud_slots, &self.calls)
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
        let _slot = self.cloud_slots.acquire().await.expect("never closed");
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(Err(e)) = self.backups.delete(task, target, deadline).await {
            tracing::warn!(task_id = %task.task_id, error = %e, "re-issued DELETE failed; will check again");
        }
    }
}

/// The verdict when CSBS could not be asked about a task: none (check again) before its
/// deadline; at or after it, Timed Out carrying the error, since waiting longer would outlive
/// the promise the deadline made.
pub fn unknown_verdict(task: &PendingTask, now: DateTime<Utc>, e: &CloudError) -> Option<OutcomeEvent> {
    if now < task.deadline {
        return None;
    }
    let error = EventError {
        code: e.code(),
        message: format!("could not check the deletion before its deadline: {e}"),
        http_status: e.http_status(),
    };
    Some(OutcomeEvent::for_task(task, Outcome::TimedOut, now, None, Some(error)))
}

/// What one check of a task decided, from what CSBS listed for its checkpoint.
#[derive(Debug)]
pub enum Check {
    Terminal(Box<OutcomeEvent>),
    /// Not finished; the DELETE is issued again for these targets (`None` = the checkpoint),
    /// which are still present and not being deleted.
    Pending {
        reissue: Vec<Option<String>>,
    },
}

/// The poll verdict, a pure function of the task, the states of its targets (read by the
/// service's own `state` module) and the time (docs/DESIGN.md, "Outcome events"): Completed
/// when every target is absent; Failed when every target is absent or failed and one failed
/// (or was refused at submit); Timed Out at the deadline with any target unfinished; otherwise
/// pending. `last_status` is the raw status of the least advanced unfinished target.
pub fn verdict(task: &PendingTask, states: &[(String, TargetState)], now: DateTime<Utc>) -> Check {
    let unfinished = states
        .iter()
        .filter(|(_, s)| s.unfinished_status().is_some())
        .min_by_key(|(_, s)| s.progress())
        .and_then(|(_, s)| s.unfinished_status())
        .map(str::to_string);
    let failed: Vec<String> = states
        .iter()
        .filter_map(|(id, s)| match s {
            TargetState::Failed(reason) => Some(format!("{id}: {reason}")),
            _ => None,
        })
        .collect();
    let last_failed_status = if failed.is_empty() { "absent" } else { "error" };
    let service = task.service.display_name();
    let failures: Vec<String> = failed
        .into_iter()
        .chain(task.refused_items.iter().map(|r| {
            format!(
                "{}: {service} refused the DELETE ({}, HTTP {}): {}",
                r.item_id,
                r.code,
                r.http_status.map_or("-".to_string(), |s| s.to_string()),
                r.message
            )
        }))
        .collect();
    match unfinished {
        None if failures.is_empty() => Check::Terminal(Box::new(OutcomeEvent::for_task(
            task,
            Outcome::Completed,
            now,
            Some("absent".into()),
            None,
        ))),
        None => {
            let error = EventError {
                code: ErrorCode::DeletionFailed.into(),
                message: failures.join("; "),
                http_status: None,
            };
            Check::Terminal(Box::new(OutcomeEvent::for_task(
                task,
                Outcome::Failed,
                now,
                Some(last_failed_status.into()),
                Some(error),
            )))
        }
        Some(last) if now >= task.deadline => {
            let mut message = format!(
                "not finished by the deadline {} (last status {last})",
                crate::task::rfc3339(task.deadline)
            );
            if !failures.is_empty() {
                message = format!("{message}; besides: {}", failures.join("; "));
            }
            let error = EventError {
                code: ErrorCode::DeletionTimedOut.into(),
                message,
                http_status: None,
            };
            Check::Terminal(Box::new(OutcomeEvent::for_task(
                task,
                Outcome::TimedOut,
                now,
                Some(last),
                Some(error),
            )))
        }
        Some(_) => Check::Pending {
            reissue: states
                .iter()
                .filter(|(_, s)| matches!(s, TargetState::Idle(_)))
                .map(|(id, _)| Some(id.clone()))
                .collect(),
        },
    }
}

/// The next check of an unfinished task: `interval`, stretched to 1 % of the task's age, never
/// past its deadline. SQS counts every receive towards the pending queue's `maxReceiveCount`
/// (at most 1000): checking a 24-hour task every 10 s would dead-letter it after 2.8 hours,
/// while with the stretch it needs about 550 receives. A 30-minute task is still checked at
/// least every 18 s.
pub fn next_check_secs(
    interval: Duration,
    submitted_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> u32 {
    let age = (now - submitted_at).num_seconds().max(0) as u64;
    let to_deadline = (deadline - now).num_seconds().max(1) as u64;
    let step_ms = check_step_secs(interval, age) * 1000;
    // Aligned to multiples of the step since the epoch: copies of one task (a redelivery checked
    // in another pass) reappear together and are collapsed in one pass, so they cannot drift
    // apart and reach different verdicts. SQS takes whole seconds: round up, so the message is
    // visible at most a second after the boundary.
    let wait_ms = until_boundary_ms(now.timestamp_millis().max(0) as u64, step_ms);
    // At most a day (deadlines are at most 24 h away); the SQS adapter caps it at SQS's 12 h.
    wait_ms.div_ceil(1000).clamp(1, to_deadline) as u32
}

/// The check period of a task `age_secs` old: `interval`, or 1 % of its age when longer (so a
/// finished deletion is seen at most that late: the functions' detection-delay metric).
pub fn check_step_secs(interval: Duration, age_secs: u64) -> u64 {
    interval.as_secs().max(age_secs / 100).max(1)
}

/// Milliseconds from `now_ms` to the next multiple of `step_ms`, at least half a step away.
fn until_boundary_ms(now_ms: u64, step_ms: u64) -> u64 {
    let wait = step_ms - now_ms % step_ms;
    if wait * 2 < step_ms { wait + step_ms } else { wait }
}

/// When the next pass should start: just after the next aligned boundary, once the messages
/// set to reappear there are visible.
fn next_pass_in(interval: Duration) -> Duration {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Duration::from_millis(until_boundary_ms(now_ms, interval.as_millis().max(1) as u64)) + PASS_SLACK
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csbs::models::{CheckpointItem, ExtendInfo};

    /// The verdict on what CSBS listed.
    fn csbs_verdict(task: &PendingTask, items: &[CheckpointItem], now: DateTime<Utc>) -> Check {
        verdict(task, &crate::csbs::state::target_states(task, items), now)
    }

    fn cbr_task(backups: &[&str]) -> PendingTask {
        let req = crate::request::DeletionRequest::from_value(
            &serde_json::json!({"service": "cbr", "project_id": "p", "backup_ids": backups}),
        )
        .unwrap();
        PendingTask::new(&req, Utc::now(), 1800)
    }

    fn item(status: &str, fail_op: &str) -> CheckpointItem {
        CheckpointItem {
            id: "i".into(),
            status: Some(status.into()),
            extend_info: Some(ExtendInfo {
                fail_op: Some(fail_op.into()),
                fail_reason: Some("boom".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn listed(id: &str, status: &str, fail_op: &str) -> CheckpointItem {
        CheckpointItem {
            id: id.into(),
            ..item(status, fail_op)
        }
    }

    fn task_of(items: Option<&[&str]>, refused: &[&str]) -> PendingTask {
        let mut v = serde_json::json!({"project_id": "p", "checkpoint_id": "c"});
        if let Some(items) = items {
            v["checkpoint_items"] = serde_json::json!(items);
        }
        let req = crate::request::DeletionRequest::from_value(&v).unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut t = PendingTask::new(&req, t0, 1800);
        t.refused_items = refused
            .iter()
            .map(|id| crate::task::RefusedItem {
                item_id: id.to_string(),
                code: "CSBS.9006".into(),
                message: "refused".into(),
                http_status: Some(400),
            })
            .collect();
        t
    }

    fn terminal(c: Check) -> OutcomeEvent {
        match c {
            Check::Terminal(e) => *e,
            Check::Pending { reissue } => panic!("pending, reissue {reissue:?}"),
        }
    }

    fn pending(c: Check) -> Vec<Option<String>> {
        match c {
            Check::Pending { reissue } => reissue,
            Check::Terminal(e) => panic!("terminal {:?}: {:?}", e.outcome, e.error),
        }
    }

    #[test]
    fn verdict_completed_failed_timed_out_pending() {
        let t = task_of(Some(&["a", "b"]), &[]);
        let before = t.deadline - chrono::Duration::seconds(1);
        // Both absent (or listed as deleted): Completed.
        let e = terminal(csbs_verdict(&t, &[listed("b", "deleted", "")], before));
        assert_eq!(
            (e.outcome, e.last_status.as_deref()),
            (Outcome::Completed, Some("absent"))
        );
        assert!(e.error.is_none());
        // One failed, the other gone: Failed, naming the item and reason.
        let e = terminal(csbs_verdict(&t, &[listed("a", "error", "delete")], before));
        assert_eq!((e.outcome, e.last_status.as_deref()), (Outcome::Failed, Some("error")));
        let err = e.error.unwrap();
        assert_eq!(err.code, "deletion_failed");
        assert_eq!(err.message, "a: boom");
        // One failed, the other still running: wait for it.
        let listed_now = [listed("a", "error", "delete"), listed("b", "deleting", "")];
        assert_eq!(
            pending(csbs_verdict(&t, &listed_now, before)),
            Vec::<Option<String>>::new()
        );
        // Running at the deadline: Timed Out with the last status, naming the failure too.
        let e = terminal(csbs_verdict(&t, &listed_now, t.deadline));
        assert_eq!(
            (e.outcome, e.last_status.as_deref()),
            (Outcome::TimedOut, Some("deleting"))
        );
        assert!(e.error.unwrap().message.contains("besides: a: boom"));
        // Still available: the DELETE is issued again for that item only.
        let listed_now = [listed("a", "available", ""), listed("b", "waiting_delete", "")];
        assert_eq!(
            pending(csbs_verdict(&t, &listed_now, before)),
            vec![Some("a".to_string())]
        );
        let e = terminal(csbs_verdict(&t, &listed_now, t.deadline + chrono::Duration::seconds(5)));
        assert_eq!(e.outcome, Outcome::TimedOut);
        // An item of another task in the same checkpoint does not matter.
        let e = terminal(csbs_verdict(&t, &[listed("z", "deleting", "")], before));
        assert_eq!(e.outcome, Outcome::Completed);
    }

    #[test]
    fn cbr_verdict_reports_the_least_advanced_backup() {
        let t = cbr_task(&["b1", "b2", "b3"]);
        let before = t.deadline - chrono::Duration::seconds(1);
        let st = |s: &[TargetState]| -> Vec<(String, TargetState)> {
            ["b1", "b2", "b3"]
                .iter()
                .map(|i| i.to_string())
                .zip(s.iter().cloned())
                .collect()
        };
        let running = TargetState::Running("deleting".into());
        let queued = TargetState::Queued("waiting_delete".into());
        let idle = TargetState::Idle("available".into());
        let all_gone = st(&[TargetState::Gone, TargetState::Gone, TargetState::Gone]);
        let e = terminal(verdict(&t, &all_gone, before));
        assert_eq!(
            (e.outcome, e.service),
            (Outcome::Completed, crate::service::Service::Cbr)
        );
        // Queued before running: the event says the deletion is still waiting its turn.
        let e = terminal(verdict(
            &t,
            &st(&[running.clone(), queued.clone(), TargetState::Gone]),
            t.deadline,
        ));
        assert_eq!(
            (e.outcome, e.last_status.as_deref()),
            (Outcome::TimedOut, Some("waiting_delete"))
        );
        let e = terminal(verdict(
            &t,
            &st(&[running.clone(), queued.clone(), idle.clone()]),
            t.deadline,
        ));
        assert_eq!(e.last_status.as_deref(), Some("available"));
        // Only the idle backup gets its DELETE again.
        assert_eq!(
            pending(verdict(&t, &st(&[running, queued, idle]), before)),
            vec![Some("b3".to_string())]
        );
        let busy = TargetState::Busy("protecting".into());
        assert_eq!(
            pending(verdict(
                &t,
                &st(&[busy.clone(), TargetState::Gone, TargetState::Gone]),
                before
            )),
            Vec::<Option<String>>::new()
        );
        let failed = TargetState::Failed("CBR delete task t1 failed: BackupService.9910: Unknown error.".into());
        let e = terminal(verdict(
            &t,
            &st(&[failed, TargetState::Gone, TargetState::Gone]),
            before,
        ));
        assert_eq!((e.outcome, e.last_status.as_deref()), (Outcome::Failed, Some("error")));
        assert_eq!(
            e.error.unwrap().message,
            "b1: CBR delete task t1 failed: BackupService.9910: Unknown error."
        );
    }

    #[test]
    fn cbr_refusals_name_cbr() {
        let mut t = cbr_task(&["b1", "b2"]);
        t.refused_items.push(crate::task::RefusedItem {
            item_id: "b2".into(),
            code: "BackupService.6204".into(),
            message: "used to create an image".into(),
            http_status: Some(400),
        });
        let e = terminal(verdict(&t, &[("b1".into(), TargetState::Gone)], Utc::now()));
        assert_eq!(e.outcome, Outcome::Failed);
        assert!(
            e.error
                .unwrap()
                .message
                .starts_with("b2: CBR refused the DELETE (BackupService.6204, HTTP 400)")
        );
    }

    #[tokio::test]
    async fn a_pass_over_an_empty_queue_is_one_pass_and_no_check() {
        // No message, so no CSBS call: the client's endpoint is never reached.
        let url = url::Url::parse("http://127.0.0.1:9").unwrap();
        let creds = crate::cloud::Credentials::AkSk {
            ak: "AK".into(),
            sk: crate::secret::Secret::new("SK"),
            security_token: None,
        };
        let csbs = CsbsClient::new(crate::cloud::ClientConfig::new(url.clone(), url, creds)).unwrap();
        let queue = Arc::new(crate::adapters::memory::MemoryQueue::new(Duration::from_secs(30)));
        let sink = Arc::new(crate::adapters::memory::MemorySink::new());
        let poller = Poller::new(
            csbs,
            queue.clone(),
            sink.clone(),
            std::sync::Arc::new(crate::adapters::memory::MemoryLedger::new()),
            PollSettings::default(),
        );
        let s = poller.pass(Instant::now() + Duration::from_secs(30)).await;
        assert_eq!((s.passes, s.checked, s.cloud_calls), (1, 0, 0));
        let receives = queue.calls().receive as usize;
        assert!(
            (1..=poller.lanes()).contains(&receives),
            "one empty receive per lane at most: {receives}"
        );
        assert_eq!(sink.puts(), 0);
    }

    #[test]
    fn copies_in_one_pass_share_the_first_copys_outcome() {
        let pass = PassState::default();
        assert!(matches!(pass.claim("t1", "r1"), Claim::Mine));
        assert!(matches!(pass.claim("t1", "r2"), Claim::Joined));
        assert!(matches!(pass.claim("t1", "r3"), Claim::Joined));
        assert!(
            matches!(pass.claim("t2", "r4"), Claim::Mine),
            "another task is checked on its own"
        );
        assert_eq!(pass.settle("t1", Disposition::Delete), ["r2", "r3"]);
        assert!(matches!(pass.claim("t1", "r5"), Claim::Settled(Disposition::Delete)));
        assert_eq!(pass.settle("t2", Disposition::Retime(12)), Vec::<String>::new());
        assert!(matches!(
            pass.claim("t2", "r6"),
            Claim::Settled(Disposition::Retime(12))
        ));
        pass.record_batch(Duration::from_millis(300));
        pass.record_batch(Duration::from_millis(200));
        assert_eq!(pass.slowest_batch(), Duration::from_millis(300));
    }

    #[test]
    fn received_messages_stay_hidden_for_the_rest_of_the_invocation() {
        let now = Instant::now();
        assert_eq!(receive_visibility(now + Duration::from_millis(58_500), now), 64);
        assert_eq!(receive_visibility(now + Duration::from_secs(10), now), 15);
        assert_eq!(receive_visibility(now, now), 5, "past the deadline: the margin alone");
        assert_eq!(receive_visibility(now, now + Duration::from_secs(3)), 5);
    }

    #[test]
    fn unknown_state_times_out_only_at_the_deadline() {
        let t = task_of(None, &[]);
        let e = crate::cloud::error::api_error(503, br#"{"error_code":"CSBS.9999"}"#, None);
        assert!(unknown_verdict(&t, t.deadline - chrono::Duration::milliseconds(1), &e).is_none());
        let ev = unknown_verdict(&t, t.deadline, &e).expect("at the deadline");
        assert_eq!((ev.outcome, ev.last_status.as_deref()), (Outcome::TimedOut, None));
        let err = ev.error.unwrap();
        assert_eq!((err.code.as_str(), err.http_status), ("CSBS.9999", Some(503)));
        assert!(unknown_verdict(&t, t.deadline + chrono::Duration::seconds(60), &e).is_some());
    }

    #[test]
    fn verdict_whole_checkpoint() {
        let t = task_of(None, &[]);
        let before = t.deadline - chrono::Duration::seconds(1);
        assert_eq!(terminal(csbs_verdict(&t, &[], before)).outcome, Outcome::Completed);
        assert_eq!(terminal(csbs_verdict(&t, &[], t.deadline)).outcome, Outcome::Completed);
        let running = [listed("x", "deleting", ""), listed("y", "available", "")];
        assert_eq!(pending(csbs_verdict(&t, &running, before)), vec![Some("y".to_string())]);
        let e = terminal(csbs_verdict(&t, &[listed("x", "error", "delete")], before));
        assert_eq!(
            (e.outcome, e.error.unwrap().message.as_str()),
            (Outcome::Failed, "x: boom")
        );
        // A failed backup (fail_op backup, not delete) is deletable: issued again.
        assert_eq!(
            pending(csbs_verdict(&t, &[listed("x", "error", "backup")], before)),
            vec![Some("x".to_string())]
        );
    }

    #[test]
    fn verdict_refused_items_end_failed_once_the_others_finish() {
        let t = task_of(Some(&["a", "b"]), &["b"]);
        let before = t.deadline - chrono::Duration::seconds(1);
        // The refused item is still there, available: it is neither waited for nor re-issued.
        let listed_now = [listed("a", "deleting", ""), listed("b", "available", "")];
        assert_eq!(
            pending(csbs_verdict(&t, &listed_now, before)),
            Vec::<Option<String>>::new()
        );
        // The accepted item is gone: Failed, naming the refused item and its code.
        let e = terminal(csbs_verdict(&t, &[listed("b", "available", "")], before));
        assert_eq!((e.outcome, e.last_status.as_deref()), (Outcome::Failed, Some("absent")));
        let err = e.error.unwrap();
        assert_eq!(err.code, "deletion_failed");
        assert!(
            err.message
                .starts_with("b: CSBS refused the DELETE (CSBS.9006, HTTP 400)"),
            "{}",
            err.message
        );
        // Never Completed while an item was refused.
        let e = terminal(csbs_verdict(&t, &[], before));
        assert_eq!(e.outcome, Outcome::Failed);
    }

    #[test]
    fn boundaries_are_at_least_half_a_step_away() {
        // Exactly half a step away is far enough; closer moves to the boundary after.
        assert_eq!(until_boundary_ms(5_000, 10_000), 5_000);
        assert_eq!(until_boundary_ms(5_001, 10_000), 14_999);
        assert_eq!(until_boundary_ms(0, 10_000), 10_000);
        assert_eq!(until_boundary_ms(12_345, 10_000), 7_655);
        assert_eq!(until_boundary_ms(9_999, 10_000), 10_001);
    }

    #[test]
    fn checks_stretch_with_age_and_stop_at_the_deadline() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let ten = Duration::from_secs(10);
        // Between half a step and one and a half steps, ending on a multiple of the step.
        for s in 0..30 {
            let now = at(s);
            let n = next_check_secs(ten, t0, at(1800), now);
            assert!((5..=15).contains(&n), "{n}");
            assert_eq!((now.timestamp() + i64::from(n)) % 10, 0);
        }
        let n = next_check_secs(ten, t0, at(1800), at(1795));
        assert!(n <= 5, "not past the deadline: {n}");
        let n = next_check_secs(ten, t0, at(86_400), at(20_000));
        assert!((100..=300).contains(&n), "stretched: {n}");
        // Receives needed for a 24-hour task stay well under SQS's 1000 limit.
        let (mut now, mut receives) = (0i64, 0);
        while now < 86_400 {
            now += i64::from(next_check_secs(ten, t0, at(86_400), at(now)));
            receives += 1;
        }
        assert!(receives < 600, "{receives}");
    }
}
