//! In-memory pending queue with SQS semantics: visibility timeouts, receipt handles that change
//! on every receive, receive counts. Used by unit tests, the local run and benchmarks.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::chaos::Chaos;
use crate::ports::pending::{EntryResult, PendingQueue, QueueError, Received};
use crate::task::PendingTask;

#[derive(Debug)]
struct Message {
    id: String,
    body: String,
    visible_at: Instant,
    receipt: Option<String>,
    receive_count: u32,
}

pub struct MemoryQueue {
    messages: Mutex<Vec<Message>>,
    visibility_timeout: Duration,
    next: Mutex<u64>,
    fail_deletes: Mutex<bool>,
    chaos: Option<Chaos>,
    receive_latency: Duration,
    calls: Mutex<QueueCalls>,
    refuse_next_sends: Mutex<usize>,
    /// Entries still accepted before the scripted refusals begin.
    accept_before_refusing: Mutex<usize>,
}

/// API calls made to a [`MemoryQueue`], by kind (what SQS would bill as requests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCalls {
    pub send: u64,
    pub receive: u64,
    pub delete: u64,
    pub change_visibility: u64,
}

impl QueueCalls {
    pub fn total(&self) -> u64 {
        self.send + self.receive + self.delete + self.change_visibility
    }
}

impl MemoryQueue {
    /// `visibility_timeout`: how long a received message stays hidden (the queue's default).
    pub fn new(visibility_timeout: Duration) -> Self {
        MemoryQueue {
            messages: Mutex::default(),
            visibility_timeout,
            next: Mutex::new(0),
            fail_deletes: Mutex::new(false),
            chaos: None,
            receive_latency: Duration::ZERO,
            calls: Mutex::default(),
            refuse_next_sends: Mutex::default(),
            accept_before_refusing: Mutex::default(),
        }
    }

    /// Every ReceiveMessage takes this long, as on a slow queue (moto takes about 0.4 s for
    /// one receive from 1,000 messages). The messages are taken at the end of the wait.
    pub fn with_receive_latency(mut self, latency: Duration) -> Self {
        self.receive_latency = latency;
        self
    }

    /// The next `n` SendMessageBatch entries are refused (a partial batch failure).
    pub fn refuse_next_sends(&self, n: usize) {
        self.refuse_sends_after(0, n);
    }

    /// The `n` SendMessageBatch entries after the next `accepted` are refused (a crash
    /// part-way through a sequence of sends).
    pub fn refuse_sends_after(&self, accepted: usize, n: usize) {
        *self.accept_before_refusing.lock().unwrap() = accepted;
        *self.refuse_next_sends.lock().unwrap() = n;
    }

    /// The calls made so far.
    pub fn calls(&self) -> QueueCalls {
        *self.calls.lock().unwrap()
    }

    /// Every call waits and may be refused, as a real queue's calls may (see [`Chaos`]).
    pub fn with_chaos(mut self, chaos: Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    async fn chaos(&self, call: &str) -> Result<(), QueueError> {
        match &self.chaos {
            Some(c) if c.before_call().await => Err(QueueError::Call(format!("simulated: {call} refused"))),
            _ => Ok(()),
        }
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        format!("{prefix}-{n}")
    }

    /// Adds a raw body, as a producer that bypasses `send` would (e.g. a corrupt message).
    pub fn push_raw(&self, body: impl Into<String>) {
        self.push_delayed(body, Duration::ZERO);
    }

    /// Adds a raw body that becomes visible after `delay` (SQS `DelaySeconds`).
    pub fn push_delayed(&self, body: impl Into<String>, delay: Duration) {
        let id = self.next_id("msg");
        self.messages.lock().unwrap().push(Message {
            id,
            body: body.into(),
            visible_at: Instant::now() + delay,
            receipt: None,
            receive_count: 0,
        });
    }

    /// Whether a refused entry is due (a scripted refusal or chaos).
    fn refuse_entry(&self) -> bool {
        let refused = {
            let mut before = self.accept_before_refusing.lock().unwrap();
            let mut n = self.refuse_next_sends.lock().unwrap();
            if *before > 0 && *n > 0 {
                *before -= 1;
                return self.chaos.as_ref().is_some_and(Chaos::refuse_entry);
            }
            let r = *n > 0;
            *n = n.saturating_sub(1);
            r
        };
        refused || self.chaos.as_ref().is_some_and(Chaos::refuse_entry)
    }

    /// Messages in the queue, visible or not.
    pub fn len(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every message visible now, as if their visibility timeouts had run out.
    pub fn expire_visibility(&self) {
        for m in self.messages.lock().unwrap().iter_mut() {
            m.visible_at = Instant::now();
        }
    }

    /// Makes deletes fail (an invocation that dies before deleting).
    pub fn fail_deletes(&self, fail: bool) {
        *self.fail_deletes.lock().unwrap() = fail;
    }

    /// Bodies of every message.
    pub fn bodies(&self) -> Vec<String> {
        self.messages.lock().unwrap().iter().map(|m| m.body.clone()).collect()
    }
}

#[async_trait]
impl crate::ports::intake::IntakeQueue for MemoryQueue {
    async fn send_messages(
        &self,
        messages: &[crate::ports::intake::Outgoing],
        _deadline: Instant,
    ) -> Result<Vec<EntryResult>, QueueError> {
        self.calls.lock().unwrap().send += 1;
        self.chaos("SendMessageBatch").await?;
        Ok(messages
            .iter()
            .map(|m| {
                if self.refuse_entry() {
                    return Err("InternalError: simulated entry refusal".into());
                }
                self.push_delayed(m.body.clone(), Duration::from_secs(m.delay_seconds.into()));
                Ok(())
            })
            .collect())
    }
}

#[async_trait]
impl PendingQueue for MemoryQueue {
    async fn send_batch(&self, tasks: &[PendingTask], _deadline: Instant) -> Result<Vec<EntryResult>, QueueError> {
        self.calls.lock().unwrap().send += 1;
        self.chaos("SendMessageBatch").await?;
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            if self.refuse_entry() {
                out.push(Err("InternalError: simulated entry refusal".into()));
                continue;
            }
            let body = serde_json::to_string(task).map_err(|e| QueueError::Call(e.to_string()))?;
            self.push_raw(body);
            out.push(Ok(()));
        }
        Ok(out)
    }

    async fn receive(
        &self,
        max: usize,
        visibility_secs: Option<u32>,
        _deadline: Instant,
    ) -> Result<Vec<Received>, QueueError> {
        self.calls.lock().unwrap().receive += 1;
        self.chaos("ReceiveMessage").await?;
        if !self.receive_latency.is_zero() {
            tokio::time::sleep(self.receive_latency).await;
        }
        let now = Instant::now();
        let visibility = visibility_secs.map_or(self.visibility_timeout, |s| Duration::from_secs(u64::from(s)));
        let mut out = Vec::new();
        let receipts: Vec<String> = (0..max).map(|_| self.next_id("rcpt")).collect();
        let mut msgs = self.messages.lock().unwrap();
        for (m, receipt) in msgs.iter_mut().filter(|m| m.visible_at <= now).take(max).zip(receipts) {
            m.visible_at = now + visibility;
            m.receipt = Some(receipt.clone());
            m.receive_count += 1;
            out.push(Received {
                message_id: m.id.clone(),
                receipt,
                body: m.body.clone(),
                receive_count: m.receive_count,
            });
        }
        Ok(out)
    }

    async fn delete(&self, receipts: &[String], _deadline: Instant) -> Result<Vec<String>, QueueError> {
        self.calls.lock().unwrap().delete += 1;
        self.chaos("DeleteMessageBatch").await?;
        if *self.fail_deletes.lock().unwrap() {
            return Err(QueueError::Call(
                "simulated: the invocation died before deleting".into(),
            ));
        }
        // As in SQS, a receipt from an earlier receive may no longer be valid; such deletes are
        // ignored (the message will be seen again, which the poller handles).
        self.messages
            .lock()
            .unwrap()
            .retain(|m| m.receipt.as_ref().is_none_or(|r| !receipts.contains(r)));
        Ok(Vec::new())
    }

    async fn set_visibility(&self, entries: &[(String, u32)], _deadline: Instant) -> Result<Vec<String>, QueueError> {
        self.calls.lock().unwrap().change_visibility += 1;
        self.chaos("ChangeMessageVisibilityBatch").await?;
        let now = Instant::now();
        let mut unknown: Vec<String> = entries.iter().map(|(r, _)| r.clone()).collect();
        for m in self.messages.lock().unwrap().iter_mut() {
            if let Some((r, secs)) = entries.iter().find(|(r, _)| Some(r) == m.receipt.as_ref()) {
                m.visible_at = now + Duration::from_secs(u64::from(*secs));
                unknown.retain(|u| u != r);
            }
        }
        // As SQS does for a receipt that is no longer valid (the message was received again).
        Ok(unknown)
    }
}
