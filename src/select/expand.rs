//! The selection workflow: list → plan → Planned event → fan-out steps. Like submit and poll it
//! has no Lambda types; every step is safe to repeat (docs/DESIGN.md, "Selection requests").

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::events::{first_step, planned_event, selection_event, too_large_error};
use super::plan::{Plan, TooLarge, plan, target_key};
use crate::backups::Backups;
use crate::cloud::{CloudError, ErrorClass};
use crate::codes::ErrorCode;
use crate::failure::SubmitError;
use crate::outcome::{EventError, Outcome, OutcomeEvent};
use crate::ports::intake::{IntakeQueue, Outgoing};
use crate::ports::ledger::{Ledger, decide_event};
use crate::ports::sink::{EventSink, emit_all};
use crate::selection::fanout::{FanOut, pace};
use crate::selection::selector::SelectionRequest;

pub use super::events::MAX_TARGET_ID_BYTES;

#[derive(Debug, Clone)]
pub struct ExpandSettings {
    /// The delay of a follow-up step (SQS `DelaySeconds`, at most 900).
    pub step_delay_secs: u32,
    pub event_attempts: u32,
}

impl Default for ExpandSettings {
    fn default() -> Self {
        ExpandSettings {
            step_delay_secs: 30,
            event_attempts: 4,
        }
    }
}

/// A planned selection.
#[derive(Debug, Clone)]
pub struct Expansion {
    pub selection_id: String,
    pub plan: Plan,
    pub event: OutcomeEvent,
    /// Targets sent by the first step (the rest follow in delayed steps); 0 for a dry run.
    pub sent: usize,
}

/// What one fan-out step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepReport {
    pub waiting: u64,
    pub sent: usize,
    pub remaining: usize,
}

pub struct Expander {
    backups: Backups,
    intake: Option<Arc<dyn IntakeQueue>>,
    sink: Arc<dyn EventSink>,
    settings: ExpandSettings,
    /// Where a selection's outcome (its plan, or its refusal) is decided once, so copies of a
    /// selection emit the first one and its progress can be read (`GET /selections/{id}`).
    ledger: Option<Arc<dyn Ledger>>,
}

fn queue_failing(reason: impl std::fmt::Display) -> SubmitError {
    SubmitError::Transient {
        code: ErrorCode::IntakeQueueUnavailable.into(),
        message: format!("the intake queue did not take the fan-out: {reason}"),
        bad_gateway: false,
    }
}

impl Expander {
    pub fn new(
        backups: Backups,
        intake: Option<Arc<dyn IntakeQueue>>,
        sink: Arc<dyn EventSink>,
        settings: ExpandSettings,
    ) -> Self {
        Expander {
            backups,
            intake,
            sink,
            settings,
            ledger: None,
        }
    }

    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The selection's outcome as the ledger decides it: `own` when it is the first, the
    /// recorded one otherwise. A dry run decides nothing (it may be asked again and again).
    async fn decided(
        &self,
        mut own: OutcomeEvent,
        dry_run: bool,
        deadline: Instant,
    ) -> Result<OutcomeEvent, SubmitError> {
        // The selection's region by name, the default's included (docs/DESIGN.md, "Regions").
        own.region = Some(self.backups.region_name(own.region.as_deref()));
        match &self.ledger {
            Some(l) if !dry_run => decide_event(l.as_ref(), own, deadline)
                .await
                .map_err(|e| SubmitError::ledger(&e)),
            _ => Ok(own),
        }
    }

    /// The selection with its region read against the served ones: an unknown region is
    /// refused before anything is listed; the default region's name is the same selection as
    /// no region.
    fn in_served_region(&self, req: &SelectionRequest) -> Result<SelectionRequest, SubmitError> {
        let mut req = req.clone();
        req.select.region = self
            .backups
            .read_region("select.region", req.select.region.as_deref())
            .map_err(SubmitError::Invalid)?;
        Ok(req)
    }

    /// Lists and plans a selection without emitting or sending anything (the CLI's `plan`).
    pub async fn plan_only(
        &self,
        req: &SelectionRequest,
        reference: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Result<Plan, TooLarge>, CloudError> {
        let listed = self.backups.list_candidates(&req.select, deadline).await?;
        Ok(plan(&req.select, listed, reference))
    }

    /// Expands a selection received at `reference` (its SQS `SentTimestamp`, its HTTP receipt,
    /// or its own `reference_time`): the Planned event, then — unless a dry run — the first
    /// fan-out step. A refusal for good (a listing the service refuses, a plan over
    /// `max_backups`) is a Rejected event.
    pub async fn expand(
        &self,
        req: &SelectionRequest,
        reference: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Expansion, SubmitError> {
        let req = &self.in_served_region(req)?;
        let selection_id = req.selection_id(reference);
        if !req.dry_run && self.intake.is_none() {
            return Err(SubmitError::Transient {
                code: ErrorCode::IntakeQueueNotConfigured.into(),
                message: "a selection that is not a dry run needs INTAKE_QUEUE_URL".into(),
                bad_gateway: true,
            });
        }
        let plan = match self.plan_only(req, reference, deadline).await {
            Ok(Ok(p)) => p,
            Ok(Err(too_large)) => {
                let error = too_large_error(&too_large);
                return self.reject(req, &selection_id, reference, error, deadline).await;
            }
            Err(e) if e.class() == ErrorClass::Permanent => {
                let error = EventError {
                    code: e.code(),
                    message: e.to_string(),
                    http_status: e.http_status(),
                };
                return self.reject(req, &selection_id, reference, error, deadline).await;
            }
            Err(e) => return Err(SubmitError::transient(&e)),
        };
        let event = planned_event(req, &selection_id, reference, &plan, Utc::now());
        let event = self.decided(event, req.dry_run, deadline).await?;
        self.emit(&event, deadline).await?;
        tracing::info!(
            selection_id = %selection_id,
            to_delete = plan.counts.to_delete,
            kept = plan.counts.kept,
            dry_run = req.dry_run,
            "selection planned"
        );
        let targets: Vec<String> = plan.targets().map(|b| target_key(req.select.service, b)).collect();
        let mut sent = 0;
        if !req.dry_run && !targets.is_empty() {
            sent = self
                .step(&first_step(req, &selection_id, targets), deadline)
                .await?
                .sent;
        }
        Ok(Expansion {
            selection_id,
            plan,
            event,
            sent,
        })
    }

    async fn reject(
        &self,
        req: &SelectionRequest,
        selection_id: &str,
        reference: DateTime<Utc>,
        error: EventError,
        deadline: Instant,
    ) -> Result<Expansion, SubmitError> {
        let mut event = selection_event(req, selection_id, reference, Outcome::Rejected, Utc::now());
        event.error = Some(error);
        let event = self.decided(event, req.dry_run, deadline).await?;
        self.emit(&event, deadline).await?;
        Err(SubmitError::Rejected { event: Box::new(event) })
    }

    async fn emit(&self, event: &OutcomeEvent, deadline: Instant) -> Result<(), SubmitError> {
        let accepted = emit_all(
            self.sink.as_ref(),
            std::slice::from_ref(event),
            deadline,
            self.settings.event_attempts,
        )
        .await;
        if accepted.contains(&event.event_id) {
            Ok(())
        } else {
            Err(SubmitError::Transient {
                code: ErrorCode::EventBusUnavailable.into(),
                message: "the event bus did not accept the event".into(),
                bad_gateway: false,
            })
        }
    }

    /// One fan-out step: counts the project's backups waiting in the service's queue, sends
    /// as many targets as [`pace`] allows (one `SendMessageBatch`), then the rest as one delayed
    /// follow-up. A failure anywhere hands the step back for redelivery: the targets it sent
    /// come again under the same request ids, so they are the same tasks (src/task.rs).
    pub async fn step(&self, fan: &FanOut, deadline: Instant) -> Result<StepReport, SubmitError> {
        let intake = self.intake.as_ref().ok_or_else(|| SubmitError::Transient {
            code: ErrorCode::IntakeQueueNotConfigured.into(),
            message: "a fan-out step needs INTAKE_QUEUE_URL".into(),
            bad_gateway: true,
        })?;
        let waiting = self
            .backups
            .waiting_deletions(fan.service, fan.region.as_deref(), &fan.project_id, deadline)
            .await
            .map_err(|e| SubmitError::transient(&e))?;
        let n = pace(waiting, fan.targets.len());
        if n > 0 {
            let messages: Vec<Outgoing> = fan.targets[..n]
                .iter()
                .map(|t| Outgoing {
                    body: fan.target_request(t).to_string(),
                    delay_seconds: 0,
                })
                .collect();
            send_all(intake.as_ref(), &messages, deadline).await?;
        }
        let rest = fan.rest(n);
        let remaining = rest.as_ref().map_or(0, |r| r.targets.len());
        if let Some(rest) = rest {
            let follow_up = Outgoing {
                body: rest.to_body(),
                delay_seconds: self.settings.step_delay_secs.min(900),
            };
            send_all(intake.as_ref(), std::slice::from_ref(&follow_up), deadline).await?;
        }
        tracing::info!(
            selection_id = %fan.selection_id,
            step = fan.step,
            waiting,
            sent = n,
            remaining,
            "fan-out step"
        );
        Ok(StepReport {
            waiting,
            sent: n,
            remaining,
        })
    }
}

/// Tries per message before a step is handed back: a batch call can refuse single entries
/// (SQS's `InternalError`, throttling), and re-sending only those avoids the redelivery that
/// would send the accepted ones again.
const SEND_ATTEMPTS: u32 = 3;

/// Sends every message, ten per call; refused entries are sent again (with a doubling pause,
/// within the deadline) before the step gives up.
async fn send_all(intake: &dyn IntakeQueue, messages: &[Outgoing], deadline: Instant) -> Result<(), SubmitError> {
    for chunk in messages.chunks(crate::ports::intake::MAX_BATCH) {
        let mut todo: Vec<Outgoing> = chunk.to_vec();
        let mut pause = std::time::Duration::from_millis(100);
        for attempt in 1..=SEND_ATTEMPTS {
            let results = intake.send_messages(&todo, deadline).await.map_err(queue_failing)?;
            let mut refused = Vec::new();
            let mut reason = String::new();
            for (m, r) in todo.into_iter().zip(results) {
                if let Err(why) = r {
                    reason = why;
                    refused.push(m);
                }
            }
            todo = refused;
            if todo.is_empty() {
                break;
            }
            if attempt == SEND_ATTEMPTS || Instant::now() + pause >= deadline {
                return Err(queue_failing(reason));
            }
            tracing::warn!(refused = todo.len(), %reason, "the intake queue refused entries; sending them again");
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::plan::{Action, Candidate, PlanRow};
    use crate::selection::Counts;
    use serde_json::json;

    fn plan_of(n: usize) -> Plan {
        let rows = (0..n)
            .map(|i| PlanRow {
                backup: Candidate::new(
                    format!("{i:036}"),
                    Some("cp".into()),
                    Some("r".into()),
                    None,
                    None,
                    "available".into(),
                    None,
                ),
                action: Action::Delete,
                reason: "matched",
            })
            .collect();
        Plan {
            rows,
            counts: Counts {
                listed: n,
                considered: n,
                kept: 0,
                to_delete: n,
            },
        }
    }

    #[test]
    fn planned_events_stay_under_200_kb() {
        let req = SelectionRequest::from_value(&json!({
            "select": {"project_id": "p", "all_in_project": true},
            "context": {"pad": "x".repeat(4000)}
        }))
        .unwrap();
        let t = Utc::now();
        let small = planned_event(&req, "sel_1", t, &plan_of(3), t);
        let detail = small.plan.as_ref().unwrap();
        assert_eq!((detail.target_ids.len(), small.truncated), (3, false));
        assert_eq!(small.outcome.detail_type(), "Checkpoint Deletion Planned");
        let v = serde_json::to_value(&small).unwrap();
        assert_eq!(v["outcome"], "planned");
        assert_eq!(v["selection_id"], "sel_1");
        assert_eq!(v["counts"]["to_delete"], 3);
        let big = planned_event(&req, "sel_1", t, &plan_of(10_000), t);
        let detail = big.plan.as_ref().unwrap();
        assert!(big.truncated);
        assert!(detail.target_ids.len() > 3000 && detail.target_ids.len() < 10_000);
        assert_eq!(detail.counts.to_delete, 10_000, "the counts are whole");
        let size = serde_json::to_vec(&big).unwrap().len();
        assert!(size < 200_000, "{size} bytes");
    }
}
