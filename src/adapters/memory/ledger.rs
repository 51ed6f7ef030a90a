//! The in-memory ledger: the local run's and the tests'. It stores the same items as the
//! DynamoDB adapter and applies the same conditions ([`super::may_write`]) atomically, so the
//! conformance suite holds for both.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::time::Instant;

use crate::ports::ledger::{Attr, Begun, Decided, Item, Ledger, LedgerError, Record, State, may_write};

#[derive(Default)]
pub struct MemoryLedger {
    items: Mutex<HashMap<String, Item>>,
    /// While set, every call fails as DynamoDB's throttling would (tests).
    unavailable: AtomicBool,
    writes: AtomicU64,
    reads: AtomicU64,
    conflicts: AtomicU64,
}

/// Calls so far: conditional writes (won or lost), reads, and writes whose condition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerCalls {
    pub writes: u64,
    pub reads: u64,
    pub conflicts: u64,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an item as it is (a test's corrupt or foreign record).
    pub fn put_raw(&self, item: Item) {
        let Some(Attr::S(id)) = item.get("task_id").cloned() else {
            panic!("an item needs a task_id");
        };
        self.items.lock().unwrap().insert(id, item);
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::Relaxed);
    }

    pub fn calls(&self) -> LedgerCalls {
        LedgerCalls {
            writes: self.writes.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
        }
    }

    /// The stored items (the benchmark sizes them as DynamoDB bills them).
    pub fn items(&self) -> Vec<Item> {
        self.items.lock().unwrap().values().cloned().collect()
    }

    /// Every readable record (the local run shows them).
    pub fn records(&self) -> Vec<Record> {
        let mut v: Vec<Record> = self
            .items
            .lock()
            .unwrap()
            .values()
            .filter_map(|i| Record::from_item(i).ok())
            .collect();
        v.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        v
    }

    fn up(&self) -> Result<(), LedgerError> {
        if self.unavailable.load(Ordering::Relaxed) {
            Err(LedgerError::Unavailable(
                "ProvisionedThroughputExceededException (simulated)".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// One conditional write, with DynamoDB's semantics: the condition looks only at the
    /// stored `state` (absent item, or `submitted` for a decision); when it fails, the item
    /// that stands is read (`Ok(Some(_))`, or Corrupt when it cannot be read).
    fn write_if(&self, record: &Record) -> Result<Option<Record>, LedgerError> {
        self.up()?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut items = self.items.lock().unwrap();
        let stored = items.get(&record.task_id);
        let holds = match stored.map(|i| i.get("state")) {
            None => may_write(None, record.state),
            Some(Some(Attr::S(s))) => State::parse(s).is_some_and(|st| may_write(Some(st), record.state)),
            // An unreadable state is never `submitted`: the condition fails.
            Some(_) => false,
        };
        if holds {
            items.insert(record.task_id.clone(), record.to_item());
            return Ok(None);
        }
        self.conflicts.fetch_add(1, Ordering::Relaxed);
        self.reads.fetch_add(1, Ordering::Relaxed);
        stored.map(Record::from_item).transpose()
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn begin(&self, record: &Record, _deadline: Instant) -> Result<Begun, LedgerError> {
        debug_assert_eq!(record.state, State::Submitted);
        Ok(match self.write_if(record)? {
            None => Begun::New,
            Some(existing) => Begun::Existing(Box::new(existing)),
        })
    }

    async fn decide(&self, record: &Record, _deadline: Instant) -> Result<Decided, LedgerError> {
        debug_assert!(record.state.is_terminal());
        Ok(match self.write_if(record)? {
            None => Decided::Won,
            Some(existing) => Decided::Lost(Box::new(existing)),
        })
    }

    async fn get(&self, task_id: &str, _deadline: Instant) -> Result<Option<Record>, LedgerError> {
        self.up()?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.items
            .lock()
            .unwrap()
            .get(task_id)
            .map(Record::from_item)
            .transpose()
    }

    async fn by_selection(&self, selection_id: &str, _deadline: Instant) -> Result<Vec<(String, State)>, LedgerError> {
        self.up()?;
        let mut out: Vec<(String, State)> = self
            .records()
            .into_iter()
            .filter(|r| r.selection_id.as_deref() == Some(selection_id) && r.task_id != selection_id)
            .map(|r| (r.task_id, r.state))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}
