//! In-memory pending queue with SQS semantics: visibility timeouts, receipt handles that change
//! on every receive, receive counts. Used by unit tests, the local run and benchmarks. Indexed
//! by receipt and by the time each message becomes visible, so a backlog of 100,000 tasks costs
//! a receive, delete or re-time no more than a backlog of ten (the bulk benchmark's queue).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::chaos::Chaos;
use crate::ports::pending::{EntryResult, PendingQueue, QueueError, Received};
use crate::task::PendingTask;

#[derive(Debug)]
struct Message {
    seq: u64,
    id: String,
    body: String,
    visible_at: Instant,
    receipt: Option<String>,
    receive_count: u32,
}

/// The messages in sending order, with their indexes: current receipt → message, and
/// (visible at, sending order) for receive, which takes the messages visible longest first.
#[derive(Debug, Default)]
struct Store {
    messages: BTreeMap<u64, Message>,
    by_receipt: HashMap<String, u64>,
    by_visibility: BTreeSet<(Instant, u64)>,
}

impl Store {
    fn push(&mut self, m: Message) {
        self.by_visibility.insert((m.visible_at, m.seq));
        self.messages.insert(m.seq, m);
    }

    /// The message a receipt names, while the receipt is its current one.
    fn seq_of(&self, receipt: &str) -> Option<u64> {
        self.by_receipt.get(receipt).copied()
    }

    fn set_visible_at(&mut self, seq: u64, at: Instant) {
        if let Some(m) = self.messages.get_mut(&seq) {
            self.by_visibility.remove(&(m.visible_at, seq));
            m.visible_at = at;
            self.by_visibility.insert((at, seq));
        }
    }

    fn remove(&mut self, seq: u64) {
        if let Some(m) = self.messages.remove(&seq) {
            self.by_visibility.remove(&(m.visible_at, seq));
            if let Some(r) = m.receipt {
                self.by_receipt.remove(&r);
            }
        }
    }

    /// Up to `max` messages visible at `now`, each hidden until `hidden_until` under a new
    /// receipt from `receipts`.
    fn receive(&mut self, now: Instant, hidden_until: Instant, receipts: Vec<String>) -> Vec<Received> {
        let due: Vec<u64> = self
            .by_visibility
            .range(..=(now, u64::MAX))
            .take(receipts.len())
            .map(|(_, seq)| *seq)
            .collect();
        let mut out = Vec::with_capacity(due.len());
        for (seq, receipt) in due.into_iter().zip(receipts) {
            self.set_visible_at(seq, hidden_until);
            let m = self.messages.get_mut(&seq).expect("indexed message exists");
            if let Some(old) = m.receipt.replace(receipt.clone()) {
                self.by_receipt.remove(&old);
            }
            self.by_receipt.insert(receipt.clone(), seq);
            m.receive_count += 1;
            out.push(Received {
                message_id: m.id.clone(),
                receipt,
                body: m.body.clone(),
                receive_count: m.receive_count,
            });
        }
        out
    }
}

pub struct MemoryQueue {
    messages: Mutex<Store>,
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
        format!("{prefix}-{}", self.next_seq())
    }

    fn next_seq(&self) -> u64 {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        *n
    }

    /// Adds a raw body, as a producer that bypasses `send` would (e.g. a corrupt message).
    pub fn push_raw(&self, body: impl Into<String>) {
        self.push_delayed(body, Duration::ZERO);
    }

    /// Adds a raw body that becomes visible after `delay` (SQS `DelaySeconds`).
    pub fn push_delayed(&self, body: impl Into<String>, delay: Duration) {
        let seq = self.next_seq();
        self.messages.lock().unwrap().push(Message {
            seq,
            id: format!("msg-{seq}"),
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
        self.messages.lock().unwrap().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every message visible now, as if their visibility timeouts had run out.
    pub fn expire_visibility(&self) {
        let now = Instant::now();
        let mut store = self.messages.lock().unwrap();
        let seqs: Vec<u64> = store.messages.keys().copied().collect();
        for seq in seqs {
            store.set_visible_at(seq, now);
        }
    }

    /// Makes deletes fail (an invocation that dies before deleting).
    pub fn fail_deletes(&self, fail: bool) {
        *self.fail_deletes.lock().unwrap() = fail;
    }

    /// How often each message was received, in sending order (what a benchmark counts as
    /// checks per task).
    pub fn receive_counts(&self) -> Vec<u32> {
        self.messages
            .lock()
            .unwrap()
            .messages
            .values()
            .map(|m| m.receive_count)
            .collect()
    }

    /// Bodies of every message.
    pub fn bodies(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .messages
            .values()
            .map(|m| m.body.clone())
            .collect()
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
        let receipts: Vec<String> = (0..max).map(|_| self.next_id("rcpt")).collect();
        Ok(self.messages.lock().unwrap().receive(now, now + visibility, receipts))
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
        let mut store = self.messages.lock().unwrap();
        for r in receipts {
            if let Some(seq) = store.seq_of(r) {
                store.remove(seq);
            }
        }
        Ok(Vec::new())
    }

    async fn set_visibility(&self, entries: &[(String, u32)], _deadline: Instant) -> Result<Vec<String>, QueueError> {
        self.calls.lock().unwrap().change_visibility += 1;
        self.chaos("ChangeMessageVisibilityBatch").await?;
        let now = Instant::now();
        let mut store = self.messages.lock().unwrap();
        let mut unknown = Vec::new();
        for (r, secs) in entries {
            match store.seq_of(r) {
                Some(seq) => store.set_visible_at(seq, now + Duration::from_secs(u64::from(*secs))),
                // As SQS does for a receipt that is no longer valid (the message was received
                // again).
                None => unknown.push(r.clone()),
            }
        }
        Ok(unknown)
    }
}
