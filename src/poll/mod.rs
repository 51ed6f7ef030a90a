//! The poll workflow: drain the pending queue, check each task against CSBS once per pass,
//! emit one terminal event per finished task, delete its message only after the event was
//! accepted, and re-check unfinished tasks every `interval` while the window lasts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::backups::Backups;
use crate::csbs::CsbsClient;
use crate::ports::ledger::Ledger;
use crate::ports::pending::{MAX_BATCH, PendingQueue};
use crate::ports::sink::EventSink;

mod batch;
mod groups;
mod pass;
mod verdict;

pub use verdict::{Check, check_step_secs, next_check_secs, unknown_verdict, verdict};

use pass::PassState;
use verdict::until_boundary_ms;

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
    cloud_slots: crate::backups::Slots,
    ledger: Arc<dyn Ledger>,
    /// Each group of tasks' in-flight listings, across passes (src/poll/groups.rs).
    groups: groups::Groups,
    passes: AtomicU64,
}

impl Poller {
    pub fn new(
        backups: impl Into<Backups>,
        queue: Arc<dyn PendingQueue>,
        sink: Arc<dyn EventSink>,
        ledger: Arc<dyn Ledger>,
        settings: PollSettings,
    ) -> Self {
        let cloud_slots = crate::backups::Slots::new(settings.cloud_concurrency);
        Poller {
            backups: backups.into(),
            queue,
            sink,
            settings,
            calls: AtomicU64::new(0),
            cloud_slots,
            // Always the caller's: shared with submit, so a task is decided once.
            ledger,
            groups: Default::default(),
            passes: AtomicU64::new(0),
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
        let pass = PassState::numbered(self.passes.fetch_add(1, Ordering::Relaxed) + 1);
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

#[cfg(test)]
mod tests;
