//! The event bus port: where outcome events go (src/adapters/: EventBridge and in-memory), and
//! how a batch of them is cut into PutEvents-sized requests.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use tokio::time::Instant;

use crate::outcome::OutcomeEvent;

/// PutEvents takes at most ten entries...
pub const MAX_ENTRIES_PER_PUT: usize = 10;

/// ...of at most 256 KiB in all (EventBridge counts each entry's Detail, DetailType, Source,
/// Time and Resources).
pub const MAX_PUT_BYTES: usize = 256 * 1024;

/// Bytes an entry counts beyond its detail: the detail type, the source (at most 256
/// characters) and the time.
const ENTRY_OVERHEAD: usize = 320;

/// Splits events into PutEvents calls: at most ten entries and [`MAX_PUT_BYTES`] each, in
/// order. An event too large on its own still gets a call of its own (the bus refuses that
/// entry, which is then handled like any refused entry).
pub fn put_chunks<'a>(events: &[&'a OutcomeEvent]) -> Vec<Vec<&'a OutcomeEvent>> {
    let mut chunks: Vec<Vec<&OutcomeEvent>> = Vec::new();
    let mut size = 0;
    for e in events {
        let bytes = serde_json::to_vec(e).map(|v| v.len()).unwrap_or(MAX_PUT_BYTES) + ENTRY_OVERHEAD;
        match chunks.last_mut() {
            Some(c) if c.len() < MAX_ENTRIES_PER_PUT && size + bytes <= MAX_PUT_BYTES => {
                c.push(e);
                size += bytes;
            }
            _ => {
                chunks.push(vec![e]);
                size = bytes;
            }
        }
    }
    chunks
}

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
    // Every event fits before it is sent (docs/DESIGN.md, "Rules that keep it reliable").
    let fitted: Vec<OutcomeEvent> = events.iter().map(|e| e.clone().fitted()).collect();
    let mut todo: Vec<&OutcomeEvent> = fitted.iter().collect();
    let mut delay = Duration::from_millis(100);
    for attempt in 0..attempts.max(1) {
        let mut failed = Vec::new();
        for chunk in put_chunks(&todo) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::EventError;
    use serde_json::{Map, Value};

    fn event(n: usize, context_bytes: usize) -> OutcomeEvent {
        let mut context = Map::new();
        context.insert("pad".into(), Value::String("x".repeat(context_bytes)));
        let mut e = OutcomeEvent::rejected_raw(
            format!("tsk_{n}"),
            Default::default(),
            chrono::Utc::now(),
            EventError {
                code: "c".into(),
                message: "m".into(),
                http_status: None,
            },
        );
        e.context = Some(context);
        e
    }

    #[test]
    fn chunks_hold_ten_entries_and_256_kib_at_most() {
        let small: Vec<OutcomeEvent> = (0..25).map(|n| event(n, 10)).collect();
        let refs: Vec<&OutcomeEvent> = small.iter().collect();
        let sizes: Vec<usize> = put_chunks(&refs).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        // 100 KiB each: two fit in 256 KiB, a third does not.
        let big: Vec<OutcomeEvent> = (0..5).map(|n| event(n, 100 * 1024)).collect();
        let refs: Vec<&OutcomeEvent> = big.iter().collect();
        let chunks = put_chunks(&refs);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        let ids: Vec<&str> = chunks.iter().flatten().map(|e| e.task_id.as_str()).collect();
        assert_eq!(ids, ["tsk_0", "tsk_1", "tsk_2", "tsk_3", "tsk_4"], "in order");
        // One over the limit on its own still gets its call (the bus refuses that entry).
        let huge = [event(9, 300 * 1024)];
        let refs: Vec<&OutcomeEvent> = huge.iter().collect();
        assert_eq!(put_chunks(&refs).len(), 1);
        assert!(put_chunks(&[]).is_empty());
    }

    #[test]
    fn the_per_entry_overhead_counts() {
        // Ten events of 26,000 bytes each: 260,000 bytes of detail fit in 256 KiB, but with
        // EventBridge's per-entry overhead (detail type, source, time) only nine do.
        let base = serde_json::to_vec(&event(0, 0)).unwrap().len();
        let events: Vec<OutcomeEvent> = (0..10).map(|n| event(n, 26_000 - base)).collect();
        assert!(events.iter().all(|e| serde_json::to_vec(e).unwrap().len() == 26_000));
        let refs: Vec<&OutcomeEvent> = events.iter().collect();
        let sizes: Vec<usize> = put_chunks(&refs).iter().map(Vec::len).collect();
        assert_eq!(sizes, [9, 1]);
    }
}
