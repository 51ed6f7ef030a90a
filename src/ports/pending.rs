//! The pending queue port: where submitted tasks wait to be checked. Its adapters
//! (src/adapters/: SQS and in-memory) share the same visibility-timeout semantics.

use async_trait::async_trait;
use thiserror::Error;
use tokio::time::Instant;

use crate::task::PendingTask;

/// ReceiveMessage, SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch take at
/// most ten messages.
pub const MAX_BATCH: usize = 10;

#[derive(Debug, Error)]
pub enum QueueError {
    #[error("queue call failed: {0}")]
    Call(String),
    #[error("the time left for this call ran out")]
    DeadlineExceeded,
}

/// A message taken from the queue; invisible to others until its visibility runs out.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
}

/// The answer of a batch call for one entry: accepted, or refused with a reason.
pub type EntryResult = Result<(), String>;

#[async_trait]
pub trait PendingQueue: Send + Sync {
    /// Sends up to ten tasks in one call (`SendMessageBatch`); one result per task, in order:
    /// a batch call can refuse some entries and take the others.
    async fn send_batch(&self, tasks: &[PendingTask], deadline: Instant) -> Result<Vec<EntryResult>, QueueError>;
    /// Up to `max` (≤ 10) visible messages, hidden from other receivers for `visibility_secs`
    /// (the poller sets it explicitly: the queue's default may be shorter than the work on
    /// them; `None` = the queue's default); empty when there are none.
    async fn receive(
        &self,
        max: usize,
        visibility_secs: Option<u32>,
        deadline: Instant,
    ) -> Result<Vec<Received>, QueueError>;
    /// Deletes up to ten messages; returns the receipts that could not be deleted.
    async fn delete(&self, receipts: &[String], deadline: Instant) -> Result<Vec<String>, QueueError>;
    /// Sets the visibility of up to ten messages (seconds from now); returns the receipts whose
    /// change was refused (they reappear after the visibility they were received with).
    async fn set_visibility(&self, entries: &[(String, u32)], deadline: Instant) -> Result<Vec<String>, QueueError>;

    /// One task: a batch of one.
    async fn send(&self, task: &PendingTask, deadline: Instant) -> Result<(), QueueError> {
        match self.send_batch(std::slice::from_ref(task), deadline).await?.pop() {
            Some(Ok(())) => Ok(()),
            Some(Err(reason)) => Err(QueueError::Call(reason)),
            None => Err(QueueError::Call("no result for the entry".into())),
        }
    }
}
