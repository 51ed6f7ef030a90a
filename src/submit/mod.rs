//! The submit workflow: validate → allow-list → task id → one DELETE per item → pending task →
//! Submitted / Completed / Rejected event. No Lambda types: the edges call it with parsed input
//! and a deadline.

mod batch;
mod decide;
mod finish;
mod prepare;
mod replicas;
mod restore_point;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

pub use batch::Record;
pub use decide::{Decision, SENT_AT_HORIZON, decide, received_at};
pub use restore_point::MAX_RESTORE_POINT_BACKUPS;

use crate::backups::Backups;
use crate::cbr::CbrClient;
use crate::cloud::CloudError;
use crate::csbs::CsbsClient;
use crate::outcome::{EventError, OutcomeEvent};
use crate::ports::intake::IntakeQueue;
use crate::ports::ledger::Ledger;
use crate::ports::pending::PendingQueue;
use crate::ports::sink::EventSink;
use crate::request::DeletionRequest;
use crate::select::{ExpandSettings, Expander};
use crate::task::PendingTask;

#[derive(Debug, Clone)]
pub struct SubmitSettings {
    /// Empty: any project.
    pub allowed_project_ids: Vec<String>,
    pub default_timeout_seconds: u64,
    /// Parallel CSBS and CBR calls per invocation and region.
    pub cloud_concurrency: usize,
    /// Tries per event before the record is handed back for redelivery.
    pub event_attempts: u32,
    /// This stack's `EVENT_SOURCE`: intake messages that are its own events are dropped.
    pub event_source: String,
    /// Selections' fan-out (src/selection/).
    pub expand: ExpandSettings,
}

impl Default for SubmitSettings {
    fn default() -> Self {
        SubmitSettings {
            allowed_project_ids: Vec::new(),
            default_timeout_seconds: 1800,
            cloud_concurrency: 16,
            event_attempts: 4,
            event_source: "csbs.checkpoint-deletion".into(),
            expand: ExpandSettings::default(),
        }
    }
}

/// A request that CSBS took.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// Queued by CSBS; a pending task was recorded.
    Submitted(PendingTask),
    /// CSBS says it is already gone.
    Completed(PendingTask),
    /// A copy of a request the ledger has decided already: nothing was deleted, the recorded
    /// event was emitted again (docs/DESIGN.md, "Decisions").
    Decided(Box<DecidedTask>),
}

/// A decided request and its recorded terminal event.
#[derive(Debug, Clone)]
pub struct DecidedTask {
    pub task: PendingTask,
    pub event: OutcomeEvent,
}

impl Accepted {
    pub fn task(&self) -> &PendingTask {
        match self {
            Accepted::Submitted(t) | Accepted::Completed(t) => t,
            Accepted::Decided(d) => &d.task,
        }
    }
}

pub use crate::failure::SubmitError;

pub struct Submitter {
    backups: Backups,
    queue: Arc<dyn PendingQueue>,
    sink: Arc<dyn EventSink>,
    settings: SubmitSettings,
    cloud_slots: Arc<crate::backups::Slots>,
    expander: Expander,
    ledger: Arc<dyn Ledger>,
}

impl Submitter {
    pub fn new(
        backups: impl Into<Backups>,
        queue: Arc<dyn PendingQueue>,
        sink: Arc<dyn EventSink>,
        ledger: Arc<dyn Ledger>,
        settings: SubmitSettings,
    ) -> Self {
        let cloud_slots = Arc::new(crate::backups::Slots::new(settings.cloud_concurrency));
        let backups = backups.into();
        let expander =
            Expander::new(backups.clone(), None, sink.clone(), settings.expand.clone()).with_ledger(ledger.clone());
        Submitter {
            backups,
            queue,
            sink,
            settings,
            cloud_slots,
            expander,
            // Always the caller's: the composition root (src/wiring.rs) gives the DynamoDB
            // one, and submit and poll must share it to decide once.
            ledger,
        }
    }

    /// The same submitter on another ledger.
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.expander = self.expander.with_ledger(ledger.clone());
        self.ledger = ledger;
        self
    }

    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Selections may fan out to `intake` (without it, only dry runs).
    pub fn with_intake(mut self, intake: Arc<dyn IntakeQueue>) -> Self {
        self.expander = Expander::new(
            self.backups.clone(),
            Some(intake),
            self.sink.clone(),
            self.settings.expand.clone(),
        )
        .with_ledger(self.ledger.clone());
        self
    }

    /// The selection workflow (the HTTP edge calls it directly).
    pub fn expander(&self) -> &Expander {
        &self.expander
    }

    pub fn backups(&self) -> &Backups {
        &self.backups
    }

    pub fn csbs(&self) -> &CsbsClient {
        self.backups.csbs()
    }

    pub fn cbr(&self) -> &CbrClient {
        self.backups.cbr()
    }

    pub fn is_allowed(&self, project_id: &str) -> bool {
        self.settings.allowed_project_ids.is_empty()
            || self.settings.allowed_project_ids.iter().any(|p| p == project_id)
    }

    /// Submits one valid request.
    pub async fn submit(&self, req: &DeletionRequest, deadline: Instant) -> Result<Accepted, SubmitError> {
        self.submit_at(req, Utc::now(), deadline).await
    }

    /// Submits one valid request received at `received_at` (the task's `submitted_at`).
    pub async fn submit_at(
        &self,
        req: &DeletionRequest,
        received_at: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Accepted, SubmitError> {
        let step = self.prepare(req, received_at, prepare_deadline(deadline)).await;
        let span = tracing::Span::current();
        self.finish(vec![(span, step)], deadline)
            .await
            .pop()
            .expect("one step, one result")
    }
}

pub(super) fn event_error(e: &CloudError) -> EventError {
    EventError {
        code: e.code(),
        message: e.to_string(),
        http_status: e.http_status(),
    }
}

/// The DELETE phase of a request ends this long before the deadline, so that recording its
/// pending task and emitting its event (batched with the other records') still have time.
pub const FINISH_RESERVE: Duration = Duration::from_secs(2);

pub(super) fn prepare_deadline(deadline: Instant) -> Instant {
    let now = Instant::now();
    let left = deadline.saturating_duration_since(now);
    // With little time left, split it: half for the DELETEs, half for the rest.
    now + left.saturating_sub(FINISH_RESERVE).max(left / 2)
}

/// One request between the two phases of submit.
pub(super) enum Step {
    /// Nothing more to do.
    Done(Result<Accepted, SubmitError>),
    /// An event to emit; once accepted, the request's result is `then`.
    Emit {
        event: Box<OutcomeEvent>,
        then: Result<Accepted, SubmitError>,
    },
    /// A pending task to record; then its Submitted event.
    Record(PendingTask),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deletes_leave_time_to_record_and_emit() {
        // The clock is paused: `now` is the same in here and in prepare_deadline.
        let now = Instant::now();
        let by = |d: Duration| prepare_deadline(now + d) - now;
        assert_eq!(by(Duration::from_secs(27)), Duration::from_secs(25), "the reserve");
        assert_eq!(
            by(Duration::from_secs(3)),
            Duration::from_millis(1500),
            "half of a short budget"
        );
        assert_eq!(by(Duration::ZERO), Duration::ZERO);
    }
}
