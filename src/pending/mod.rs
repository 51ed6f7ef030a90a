//! The pending queue port: where submitted tasks wait to be checked. An SQS adapter and an
//! in-memory one with the same visibility-timeout semantics.

pub mod memory;
pub mod sqs;

use async_trait::async_trait;
use thiserror::Error;
use tokio::time::Instant;

use crate::task::PendingTask;

/// ReceiveMessage / DeleteMessageBatch take at most ten messages.
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

#[async_trait]
pub trait PendingQueue: Send + Sync {
    async fn send(&self, task: &PendingTask, deadline: Instant) -> Result<(), QueueError>;
    /// Up to `max` (≤ 10) visible messages; empty when there are none.
    async fn receive(&self, max: usize, deadline: Instant) -> Result<Vec<Received>, QueueError>;
    /// Deletes up to ten messages; returns the receipts that could not be deleted.
    async fn delete(&self, receipts: &[String], deadline: Instant) -> Result<Vec<String>, QueueError>;
    /// Sets the visibility of up to ten messages (seconds from now).
    async fn set_visibility(&self, entries: &[(String, u32)], deadline: Instant) -> Result<(), QueueError>;
}
