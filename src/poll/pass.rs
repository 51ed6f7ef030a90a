//! What the lanes of one pass share: which tasks were seen (copies of a task in one pass
//! share its first copy's check), and how long a batch takes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::outcome::OutcomeEvent;

/// What a check decided for a task.
#[derive(Debug)]
pub(super) enum Verdict {
    Terminal(Box<OutcomeEvent>),
    Pending,
}

/// What becomes of a task's messages once its check in this pass is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Disposition {
    /// Its terminal event was accepted: every copy is deleted.
    Delete,
    /// Unfinished (or its event was not accepted): seen again in this many seconds.
    Retime(u32),
}

/// What a received message of a task means for the batch that received it.
#[derive(Debug)]
pub(super) enum Claim {
    /// The first copy in this pass: this batch checks the task.
    Mine,
    /// Another batch is checking the task: its receipt goes with that check's outcome.
    Joined,
    /// The task was already checked in this pass: the same disposition applies.
    Settled(Disposition),
}

/// Shared by the lanes of one pass: which tasks were seen, and how long a batch takes.
#[derive(Default)]
pub(super) struct PassState {
    tasks: std::sync::Mutex<HashMap<String, TaskInPass>>,
    /// Set once a lane's receive came back empty: the pass has drained the queue.
    pub(super) drained: std::sync::atomic::AtomicBool,
    slowest_batch_ms: AtomicU64,
    /// The pass's number in this poller (groups of tasks count their tasks per pass).
    pub(super) number: u64,
}

pub(super) enum TaskInPass {
    /// Being checked; receipts of copies received meanwhile by other batches.
    Checking(Vec<String>),
    Settled(Disposition),
}

impl PassState {
    pub(super) fn numbered(number: u64) -> Self {
        PassState {
            number,
            ..Default::default()
        }
    }

    pub(super) fn claim(&self, task_id: &str, receipt: &str) -> Claim {
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
    pub(super) fn settle(&self, task_id: &str, d: Disposition) -> Vec<String> {
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

    pub(super) fn record_batch(&self, took: Duration) {
        self.slowest_batch_ms
            .fetch_max(took.as_millis() as u64, Ordering::Relaxed);
    }

    pub(super) fn slowest_batch(&self) -> Duration {
        Duration::from_millis(self.slowest_batch_ms.load(Ordering::Relaxed))
    }
}
