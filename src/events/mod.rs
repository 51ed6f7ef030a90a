//! Outcome events and the event bus port: an EventBridge adapter and an in-memory one.

pub mod eventbridge;
pub mod memory;
pub mod schema;

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use tokio::time::Instant;

pub use schema::{EventError, Outcome, OutcomeEvent, event_id};

/// PutEvents takes at most ten entries.
pub const MAX_ENTRIES_PER_PUT: usize = 10;

#[derive(Debug, Error)]
pub enum SinkError {
    #[error("event bus call failed: {0}")]
    Call(String),
    #[error("the time left for this call ran out")]
    DeadlineExceeded,
}

/// An event bus. `put` takes at most [`MAX_ENTRIES_PER_PUT`] events and reports, per entry,
/// whether the bus accepted it (PutEvents can fail some entries and accept others).
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn put(&self, events: &[OutcomeEvent], deadline: Instant) -> Result<Vec<Result<(), String>>, SinkError>;
}

/// Puts every event, in chunks of ten, retrying failed entries with backoff until accepted or
/// the deadline (or `attempts`) runs out. Returns the ids of the accepted events.
pub async fn emit_all(
    sink: &dyn EventSink,
    events: &[OutcomeEvent],
    deadline: Instant,
    attempts: u32,
) -> HashSet<String> {
    let mut accepted = HashSet::new();
    let mut todo: Vec<&OutcomeEvent> = events.iter().collect();
    let mut delay = Duration::from_millis(100);
    for attempt in 0..attempts.max(1) {
        let mut failed = Vec::new();
        for chunk in todo.chunks(MAX_ENTRIES_PER_PUT) {
            let owned: Vec<OutcomeEvent> = chunk.iter().map(|e| (*e).clone()).collect();
            match sink.put(&owned, deadline).await {
                Ok(results) => {
                    for (e, r) in chunk.iter().zip(results) {
                        match r {
                            Ok(()) => {
                                accepted.insert(e.event_id.clone());
                            }
                            Err(reason) => {
                                tracing::warn!(event_id = %e.event_id, task_id = %e.task_id, %reason, "event entry refused");
                                failed.push(*e);
                            }
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "PutEvents failed");
                    failed.extend(chunk.iter().copied());
                }
            }
        }
        todo = failed;
        if todo.is_empty() || attempt + 1 == attempts || Instant::now() + delay >= deadline {
            break;
        }
        let jitter = Duration::from_millis(rand::random::<u64>() % (delay.as_millis() as u64 + 1));
        tokio::time::sleep(delay / 2 + jitter / 2).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    accepted
}
