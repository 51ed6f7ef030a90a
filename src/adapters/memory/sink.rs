//! In-memory event bus, for tests and the local run; can be told to refuse entries.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::chaos::Chaos;
use crate::outcome::OutcomeEvent;
use crate::ports::sink::{EventSink, SinkError};

pub struct MemorySink {
    events: Mutex<Vec<OutcomeEvent>>,
    refuse_next: Mutex<usize>,
    tx: broadcast::Sender<OutcomeEvent>,
    chaos: Option<Chaos>,
    puts: std::sync::atomic::AtomicU64,
}

impl Default for MemorySink {
    fn default() -> Self {
        MemorySink {
            events: Mutex::default(),
            refuse_next: Mutex::default(),
            tx: broadcast::channel(65_536).0,
            chaos: None,
            puts: Default::default(),
        }
    }
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every accepted event, in order.
    pub fn events(&self) -> Vec<OutcomeEvent> {
        self.events.lock().unwrap().clone()
    }

    /// The next `n` entries are refused (a PutEvents partial failure).
    pub fn refuse_next_entries(&self, n: usize) {
        *self.refuse_next.lock().unwrap() = n;
    }

    /// Every PutEvents waits and may be refused whole; entries may be refused one by one.
    pub fn with_chaos(mut self, chaos: Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    /// PutEvents calls so far.
    pub fn puts(&self) -> u64 {
        self.puts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Accepted events as they arrive.
    pub fn subscribe(&self) -> broadcast::Receiver<OutcomeEvent> {
        self.tx.subscribe()
    }
}

/// `CSBS_EVENT_LOG`: a file every accepted event is appended to, one JSON line with its
/// detail type (scripts/test.sh sets it; tests/py/check_events.py validates every line against
/// the published schemas in events/schemas/, so no emitted event can drift from them).
fn record(e: &OutcomeEvent) {
    static LOG: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    let Some(path) = LOG.get_or_init(|| std::env::var_os("CSBS_EVENT_LOG").map(Into::into)) else {
        return;
    };
    let line = serde_json::json!({"detail-type": e.outcome.detail_type(), "detail": e}).to_string() + "\n";
    // One write of the whole line with O_APPEND: lines of concurrent tests do not interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    if let Err(err) = written {
        tracing::warn!(error = %err, "CSBS_EVENT_LOG: could not record an event");
    }
}

#[async_trait]
impl EventSink for MemorySink {
    async fn put(&self, events: &[OutcomeEvent], _deadline: Instant) -> Result<Vec<Result<(), String>>, SinkError> {
        self.puts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(
            events.len() <= crate::ports::sink::MAX_ENTRIES_PER_PUT,
            "PutEvents takes at most ten entries"
        );
        if let Some(c) = &self.chaos
            && c.before_call().await
        {
            return Err(SinkError::Call("simulated: PutEvents refused".into()));
        }
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            if self.chaos.as_ref().is_some_and(Chaos::refuse_entry) {
                out.push(Err("ThrottlingException: simulated entry refusal".into()));
                continue;
            }
            let refuse = {
                let mut n = self.refuse_next.lock().unwrap();
                let r = *n > 0;
                *n = n.saturating_sub(1);
                r
            };
            if refuse {
                out.push(Err("InternalFailure: simulated partial failure".into()));
            } else {
                record(e);
                self.events.lock().unwrap().push(e.clone());
                let _ = self.tx.send(e.clone());
                out.push(Ok(()));
            }
        }
        Ok(out)
    }
}
