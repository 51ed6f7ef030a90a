//! The selection's own events: Planned (its plan) and Rejected, and the first fan-out step.

use chrono::{DateTime, Utc};

use super::plan::{Plan, TooLarge};
use crate::codes::ErrorCode;
use crate::outcome::{EventError, Outcome, OutcomeEvent, PlannedDetail, event_id};
use crate::selection::fanout::FanOut;
use crate::selection::selector::SelectionRequest;
use crate::task::rfc3339;

/// The target ids a Planned event lists, in bytes of JSON: with the common keys and a context
/// of at most 4 KiB the detail stays under 200 KB (docs/DESIGN.md).
pub const MAX_TARGET_ID_BYTES: usize = 150_000;

/// An event about the selection itself (task id = selection id).
pub(super) fn selection_event(
    req: &SelectionRequest,
    selection_id: &str,
    reference: DateTime<Utc>,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> OutcomeEvent {
    OutcomeEvent {
        event_id: event_id(selection_id, outcome),
        task_id: selection_id.to_string(),
        outcome,
        service: req.select.service,
        project_id: Some(req.select.project_id.clone()),
        provider_id: None,
        checkpoint_id: None,
        checkpoint_items: None,
        backup_ids: None,
        request_id: req.request_id.clone(),
        context: req.context.clone(),
        submitted_at: Some(rfc3339(reference)),
        deadline: None,
        finished_at: Some(rfc3339(now)),
        elapsed_seconds: Some((now - reference).num_milliseconds().max(0) as f64 / 1000.0),
        last_status: None,
        error: None,
        selection_id: Some(selection_id.to_string()),
        truncated: false,
        trace_id: crate::trace::current(),
        region: req.select.region.clone(),
        targets: None,
        plan: None,
    }
}

/// The Planned event: counts and the target ids, cut to [`MAX_TARGET_ID_BYTES`].
pub fn planned_event(
    req: &SelectionRequest,
    selection_id: &str,
    reference: DateTime<Utc>,
    plan: &Plan,
    now: DateTime<Utc>,
) -> OutcomeEvent {
    let mut budget = MAX_TARGET_ID_BYTES;
    let mut target_ids = Vec::new();
    let mut truncated = false;
    for b in plan.targets() {
        let cost = b.id.len() + 3;
        if cost > budget {
            truncated = true;
            break;
        }
        budget -= cost;
        target_ids.push(b.id.clone());
    }
    let mut event = selection_event(req, selection_id, reference, Outcome::Planned, now);
    event.plan = Some(PlannedDetail {
        dry_run: req.dry_run,
        counts: plan.counts,
        target_ids,
    });
    event.truncated = truncated;
    event
}

/// The Rejected error of a plan over `max_backups`.
pub(super) fn too_large_error(&TooLarge { count, max }: &TooLarge) -> EventError {
    EventError {
        code: ErrorCode::SelectionTooLarge.into(),
        message: format!(
            "select.max_backups: the selection matches {count} backups, more than max_backups ({max}); narrow it or raise max_backups (at most {})",
            crate::selection::selector::MAX_MAX_BACKUPS
        ),
        http_status: None,
    }
}

/// The first fan-out step of a planned selection: every target, step 0.
pub(super) fn first_step(req: &SelectionRequest, selection_id: &str, targets: Vec<String>) -> FanOut {
    FanOut {
        selection_id: selection_id.to_string(),
        service: req.select.service,
        project_id: req.select.project_id.clone(),
        request_prefix: req.request_prefix(selection_id),
        timeout_seconds: req.timeout_seconds,
        context: req.context.clone(),
        targets,
        step: 0,
        region: req.select.region.clone(),
        with_replicas: req.select.with_replicas,
    }
}
