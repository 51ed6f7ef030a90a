//! The decision ledger (docs/DESIGN.md, "Decisions (the ledger: exactly one outcome per
//! task)"): one record per task that reached the service, written `submitted` before its first
//! DELETE and decided once. Copies of a task checked at different moments can honestly see
//! different states; the first decision is written down with a conditional write, and every
//! later copy repeats it instead of its own.
//!
//! The port ([`Ledger`]) has a DynamoDB adapter (src/adapters/dynamodb.rs) and an in-memory one
//! (src/adapters/memory/ledger.rs); both store the same [`Item`]s, built and read here, and pass one conformance
//! suite (tests/it/ledger_conformance.rs).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::time::Instant;

use crate::codes::ErrorCode;
use crate::outcome::{Outcome, OutcomeEvent};
use crate::service::Service;
use crate::task::{PendingTask, Replica};

/// Times in a record keep milliseconds (a copy must find the first deadline exactly; events
/// carry seconds).
fn precise(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How long a record outlives its task's deadline (DynamoDB's TTL on `expires_at`).
pub const RETENTION: chrono::Duration = chrono::Duration::days(14);

/// The region a task belongs to while a stack serves one region (docs/DESIGN.md, "Regions").
pub const DEFAULT_REGION: &str = "default";

/// A record's state: `submitted`, then one terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Submitted,
    Completed,
    Failed,
    TimedOut,
    Rejected,
    /// A selection's record (task id = selection id): its plan, decided once, so copies of
    /// the selection emit the first plan and its progress can be read (`by_selection`).
    Planned,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "submitted",
            State::Completed => "completed",
            State::Failed => "failed",
            State::TimedOut => "timed_out",
            State::Rejected => "rejected",
            State::Planned => "planned",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [
            State::Submitted,
            State::Completed,
            State::Failed,
            State::TimedOut,
            State::Rejected,
            State::Planned,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// The state a terminal event decides (a Planned event: the selection's plan); `None`
    /// for Submitted.
    pub fn of(outcome: Outcome) -> Option<State> {
        match outcome {
            Outcome::Completed => Some(State::Completed),
            Outcome::Failed => Some(State::Failed),
            Outcome::TimedOut => Some(State::TimedOut),
            Outcome::Rejected => Some(State::Rejected),
            Outcome::Planned => Some(State::Planned),
            Outcome::Submitted => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        self != State::Submitted
    }
}

/// One task's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub task_id: String,
    pub state: State,
    pub service: Service,
    pub region: String,
    pub project_id: Option<String>,
    pub request_id: Option<String>,
    pub selection_id: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    /// Once decided: when, and the terminal event (its `event_id` and detail).
    pub decided_at: Option<DateTime<Utc>>,
    pub event: Option<OutcomeEvent>,
    /// Epoch seconds: deadline + [`RETENTION`] (the table's TTL attribute).
    pub expires_at: i64,
    /// The replicas submit found (a task `with_replicas`), kept while the task is submitted:
    /// a copy that finds its source gone learns them here.
    pub replicas: Vec<Replica>,
}

impl Record {
    /// The record submit writes before its first DELETE.
    pub fn submitted(task: &PendingTask) -> Record {
        Record {
            task_id: task.task_id.clone(),
            state: State::Submitted,
            service: task.service,
            region: task.region.clone().unwrap_or_else(|| DEFAULT_REGION.into()),
            project_id: Some(task.project_id.clone()),
            request_id: task.request_id.clone(),
            selection_id: task.selection_id.clone(),
            submitted_at: Some(task.submitted_at),
            deadline: Some(task.deadline),
            decided_at: None,
            event: None,
            expires_at: (task.deadline + RETENTION).timestamp(),
            replicas: task.replicas.clone(),
        }
    }

    /// The record of a terminal decision, from its event (which carries every field: a task
    /// pending from before the ledger existed, or one whose message could not be read, is
    /// decided like any other). `None` for an event that decides nothing.
    pub fn decided(event: &OutcomeEvent, now: DateTime<Utc>) -> Option<Record> {
        let state = State::of(event.outcome)?;
        let time = |t: &Option<String>| {
            t.as_deref()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.to_utc())
        };
        let deadline = time(&event.deadline);
        Some(Record {
            task_id: event.task_id.clone(),
            state,
            service: event.service,
            region: event.region.clone().unwrap_or_else(|| DEFAULT_REGION.into()),
            project_id: event.project_id.clone(),
            request_id: event.request_id.clone(),
            selection_id: event.selection_id.clone(),
            submitted_at: time(&event.submitted_at),
            deadline,
            decided_at: Some(now),
            event: Some(event.clone()),
            expires_at: (deadline.unwrap_or(now) + RETENTION).timestamp(),
            replicas: Vec::new(),
        })
    }

    /// The recorded terminal event, for a decided record.
    pub fn terminal_event(&self) -> Option<&OutcomeEvent> {
        self.event.as_ref().filter(|_| self.state.is_terminal())
    }

    /// The stored form: one attribute per field, absent where the field is.
    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        let mut s = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                item.insert(k.into(), Attr::S(v));
            }
        };
        s("task_id", Some(self.task_id.clone()));
        s("state", Some(self.state.as_str().into()));
        s("service", Some(self.service.as_str().into()));
        s("region", Some(self.region.clone()));
        s("project_id", self.project_id.clone());
        s("request_id", self.request_id.clone());
        s("selection_id", self.selection_id.clone());
        s("submitted_at", self.submitted_at.map(precise));
        s("deadline", self.deadline.map(precise));
        s("decided_at", self.decided_at.map(precise));
        s("event_id", self.event.as_ref().map(|e| e.event_id.clone()));
        s(
            "event",
            self.event
                .as_ref()
                .map(|e| serde_json::to_string(e).expect("an event serialises")),
        );
        s(
            "replicas",
            (!self.replicas.is_empty()).then(|| serde_json::to_string(&self.replicas).expect("replicas serialise")),
        );
        item.insert("expires_at".into(), Attr::N(self.expires_at.to_string()));
        item
    }

    /// Reads a stored item; anything this code did not write (an unknown state, a missing
    /// or foreign field, a terminal record without its event) is [`LedgerError::Corrupt`].
    pub fn from_item(item: &Item) -> Result<Record, LedgerError> {
        let task_id = match item.get("task_id") {
            Some(Attr::S(t)) => t.clone(),
            _ => return Err(corrupt("?", "no task_id")),
        };
        let bad = |why: String| corrupt(&task_id, &why);
        let text = |k: &str| -> Result<Option<String>, LedgerError> {
            match item.get(k) {
                None => Ok(None),
                Some(Attr::S(v)) => Ok(Some(v.clone())),
                Some(Attr::N(_)) => Err(bad(format!("{k} is a number"))),
            }
        };
        let time = |k: &str| -> Result<Option<DateTime<Utc>>, LedgerError> {
            text(k)?
                .map(|t| {
                    DateTime::parse_from_rfc3339(&t)
                        .map(|t| t.to_utc())
                        .map_err(|_| bad(format!("{k} is not an RFC 3339 time")))
                })
                .transpose()
        };
        let state = text("state")?
            .as_deref()
            .and_then(State::parse)
            .ok_or_else(|| bad("unknown state".into()))?;
        let service = text("service")?
            .as_deref()
            .and_then(Service::parse)
            .ok_or_else(|| bad("unknown service".into()))?;
        let expires_at = match item.get("expires_at") {
            Some(Attr::N(n)) => n.parse().map_err(|_| bad("expires_at is not an integer".into()))?,
            _ => return Err(bad("no expires_at".into())),
        };
        let event: Option<OutcomeEvent> = text("event")?
            .map(|e| serde_json::from_str(&e).map_err(|e| bad(format!("the event does not parse: {e}"))))
            .transpose()?;
        let replicas = replicas_of(text("replicas")?).map_err(bad)?;
        if state.is_terminal() {
            check_decision(&task_id, state, event.as_ref(), text("event_id")?.as_deref())
                .map_err(|why| bad(why.into()))?;
        }
        Ok(Record {
            region: text("region")?.ok_or_else(|| bad("no region".into()))?,
            project_id: text("project_id")?,
            request_id: text("request_id")?,
            selection_id: text("selection_id")?,
            submitted_at: time("submitted_at")?,
            deadline: time("deadline")?,
            decided_at: time("decided_at")?,
            task_id,
            state,
            service,
            event,
            expires_at,
            replicas,
        })
    }
}

/// The `replicas` attribute (JSON), none when absent.
fn replicas_of(stored: Option<String>) -> Result<Vec<Replica>, String> {
    let parse = |r: String| serde_json::from_str(&r).map_err(|e| format!("the replicas do not parse: {e}"));
    Ok(stored.map(parse).transpose()?.unwrap_or_default())
}

/// A stored attribute: a string or a number (DynamoDB's `S` and `N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    S(String),
    N(String),
}

/// A stored record, attribute by attribute.
pub type Item = BTreeMap<String, Attr>;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    /// The ledger could not be asked (throttled, failing, out of time): transient everywhere —
    /// never a reason to emit an undecided event.
    #[error("the decision ledger is unavailable: {0}")]
    Unavailable(String),
    /// A record this code cannot read: that task fails loudly and yields no event.
    #[error("the ledger record of {task_id} cannot be read: {reason}")]
    Corrupt { task_id: String, reason: String },
}

impl LedgerError {
    /// The error code of an answer or a log line.
    pub fn code(&self) -> ErrorCode {
        match self {
            LedgerError::Unavailable(_) => ErrorCode::LedgerUnavailable,
            LedgerError::Corrupt { .. } => ErrorCode::LedgerRecordUnreadable,
        }
    }
}

/// A decided record's event must be its own decision: its task, its state, its event id.
fn check_decision(
    task_id: &str,
    state: State,
    event: Option<&OutcomeEvent>,
    event_id: Option<&str>,
) -> Result<(), &'static str> {
    let e = event.ok_or("decided without an event")?;
    if e.task_id != task_id || State::of(e.outcome) != Some(state) || event_id != Some(e.event_id.as_str()) {
        return Err("the event is not this record's decision");
    }
    Ok(())
}

fn corrupt(task_id: &str, reason: &str) -> LedgerError {
    LedgerError::Corrupt {
        task_id: task_id.into(),
        reason: reason.into(),
    }
}

/// What [`Ledger::begin`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Begun {
    /// No record existed: this one is written.
    New,
    /// A record exists (a copy came first): submitted or decided.
    Existing(Box<Record>),
}

/// What [`Ledger::decide`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Decided {
    /// This decision is the task's.
    Won,
    /// Another copy decided first: its record, whose event is emitted instead.
    Lost(Box<Record>),
}

#[async_trait]
pub trait Ledger: Send + Sync {
    /// Writes `record` (state `submitted`) unless the task has a record; the existing one is
    /// returned (read consistently).
    async fn begin(&self, record: &Record, deadline: Instant) -> Result<Begun, LedgerError>;

    /// Writes the terminal `record` if the task has no record or one still `submitted`;
    /// otherwise returns the record that decided it (read consistently).
    async fn decide(&self, record: &Record, deadline: Instant) -> Result<Decided, LedgerError>;

    /// The task's record (consistent read), if any.
    async fn get(&self, task_id: &str, deadline: Instant) -> Result<Option<Record>, LedgerError>;

    /// The tasks a selection fanned out that reached the service, with their states (the
    /// table's `by_selection` index: eventually consistent, every page read). The selection's
    /// own record is not among them.
    async fn by_selection(&self, selection_id: &str, deadline: Instant) -> Result<Vec<(String, State)>, LedgerError>;
}

/// The name of the ledger table's index by `selection_id` (template.yaml, LedgerTable).
pub const SELECTION_INDEX: &str = "by_selection";

/// The event a copy emits for `own` (a terminal event it decided on): its own when it won,
/// the recorded one when another copy decided first.
pub async fn decide_event(
    ledger: &dyn Ledger,
    own: OutcomeEvent,
    deadline: Instant,
) -> Result<OutcomeEvent, LedgerError> {
    let Some(record) = Record::decided(&own, Utc::now()) else {
        return Ok(own);
    };
    match ledger.decide(&record, deadline).await? {
        Decided::Won => Ok(own),
        Decided::Lost(first) => {
            let recorded = first
                .terminal_event()
                .cloned()
                .ok_or_else(|| corrupt(&first.task_id, "a lost decision found no recorded event"))?;
            if recorded.outcome != own.outcome {
                tracing::info!(
                    task_id = %own.task_id,
                    request_id = own.request_id.as_deref().unwrap_or(""),
                    trace_id = own.trace_id.as_deref().unwrap_or(""),
                    own = own.outcome.as_str(),
                    recorded = recorded.outcome.as_str(),
                    "another copy decided first; its event is emitted instead of this copy's"
                );
            }
            Ok(recorded)
        }
    }
}

/// The pure rule both adapters apply (and the property test checks): may `existing` be
/// overwritten by a write of `incoming`?
pub fn may_write(existing: Option<State>, incoming: State) -> bool {
    match (existing, incoming) {
        (None, _) => true,
        (Some(State::Submitted), s) => s.is_terminal(),
        (Some(_), _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::DeletionRequest;
    use serde_json::json;

    fn task() -> PendingTask {
        let req =
            DeletionRequest::from_value(&json!({"project_id": "p", "checkpoint_id": "c", "request_id": "r"})).unwrap();
        PendingTask::new(&req, Utc::now(), 60)
    }

    #[test]
    fn records_round_trip_through_their_items() {
        let t = task();
        use chrono::SubsecRound;
        let submitted = Record::submitted(&t);
        // An item keeps milliseconds: compare what it can hold.
        let ms = |x: Option<DateTime<Utc>>| x.map(|x| x.trunc_subsecs(3));
        assert_eq!(
            Record::from_item(&submitted.to_item()).unwrap(),
            Record {
                submitted_at: ms(submitted.submitted_at),
                deadline: ms(submitted.deadline),
                ..submitted.clone()
            }
        );
        let event = OutcomeEvent::for_task(&t, Outcome::Completed, Utc::now(), Some("absent".into()), None);
        let decided = Record::decided(&event, Utc::now()).unwrap();
        let back = Record::from_item(&decided.to_item()).unwrap();
        assert_eq!((back.state, back.terminal_event()), (State::Completed, Some(&event)));
        assert_eq!(back.expires_at, (t.deadline + RETENTION).timestamp());
        let submitted_event = OutcomeEvent::for_task(&t, Outcome::Submitted, Utc::now(), None, None);
        assert!(Record::decided(&submitted_event, Utc::now()).is_none());
    }

    #[test]
    fn unreadable_items_are_corrupt_never_a_decision() {
        let t = task();
        let event = OutcomeEvent::for_task(&t, Outcome::Failed, Utc::now(), None, None);
        let good = Record::decided(&event, Utc::now()).unwrap().to_item();
        let mut cases: Vec<(&str, Item)> = Vec::new();
        let mut with = |name: &'static str, f: &dyn Fn(&mut Item)| {
            let mut i = good.clone();
            f(&mut i);
            cases.push((name, i));
        };
        with("unknown state", &|i| {
            i.insert("state".into(), Attr::S("deleted".into()));
        });
        with("no event", &|i| {
            i.remove("event");
        });
        with("event of another outcome", &|i| {
            i.insert("state".into(), Attr::S("completed".into()));
        });
        with("event not JSON", &|i| {
            i.insert("event".into(), Attr::S("{".into()));
        });
        with("foreign service", &|i| {
            i.insert("service".into(), Attr::S("ebs".into()));
        });
        with("number for a string", &|i| {
            i.insert("project_id".into(), Attr::N("7".into()));
        });
        with("no expiry", &|i| {
            i.remove("expires_at");
        });
        with("bad time", &|i| {
            i.insert("deadline".into(), Attr::S("tomorrow".into()));
        });
        with("another task's event", &|i| {
            i.insert("task_id".into(), Attr::S("tsk_other".into()));
        });
        for (name, item) in cases {
            assert!(
                matches!(Record::from_item(&item), Err(LedgerError::Corrupt { .. })),
                "{name}"
            );
        }
        assert!(Record::from_item(&good).is_ok());
    }

    #[test]
    fn only_the_first_terminal_decision_is_written() {
        use State::*;
        let table = [
            (None, Submitted, true),
            (None, Completed, true),
            (Some(Submitted), Submitted, false),
            (Some(Submitted), TimedOut, true),
            (Some(Completed), TimedOut, false),
            (Some(TimedOut), Completed, false),
            (Some(Rejected), Submitted, false),
            (Some(Failed), Failed, false),
        ];
        for (existing, incoming, want) in table {
            assert_eq!(may_write(existing, incoming), want, "{existing:?} ← {incoming:?}");
        }
    }
}
