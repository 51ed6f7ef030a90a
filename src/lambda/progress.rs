//! `GET /selections/{selection_id}`: a selection's progress, read from the decision ledger
//! alone (no call to the cloud): its recorded plan and the states of the tasks it fanned out
//! that reached the service (docs/DESIGN.md, "HTTP API"; the CLI's `status --selection --watch`).

use std::collections::BTreeMap;

use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use tokio::time::Instant;

use super::http::{error, json_response, not_allowed, with_retry_after};
use crate::codes::ErrorCode;
use crate::ports::ledger::{LedgerError, State};
use crate::wiring::SubmitApp;

/// Whether `id` is a selection id as `SelectionRequest::selection_id` makes them.
fn is_selection_id(id: &str) -> bool {
    id.strip_prefix("sel_")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

fn ledger_failing(e: &LedgerError) -> Response<Body> {
    match e {
        LedgerError::Unavailable(_) => {
            with_retry_after(error(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.to_string()), 5)
        }
        LedgerError::Corrupt { .. } => {
            tracing::error!(error = %e, "a ledger record cannot be read");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.code(), &e.to_string())
        }
    }
}

pub async fn selection_of(app: &SubmitApp, selection_id: &str, deadline: Instant) -> Response<Body> {
    if !is_selection_id(selection_id) {
        return error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "selection_id: must be sel_ followed by 32 lower-case hex digits",
        );
    }
    let ledger = app.submitter.ledger();
    let (plan, tasks) = match futures::try_join!(
        ledger.get(selection_id, deadline),
        ledger.by_selection(selection_id, deadline)
    ) {
        Ok(v) => v,
        Err(e) => return ledger_failing(&e),
    };
    let plan = plan.filter(|r| r.state == State::Planned || r.state == State::Rejected);
    if plan.is_none() && tasks.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownSelection,
            &format!("selection {selection_id} is not in the decision ledger (never planned, a dry run, or expired)"),
        );
    }
    let event = plan.as_ref().and_then(|r| r.event.as_ref());
    if let Some(p) = event
        .and_then(|e| e.project_id.as_deref())
        .filter(|p| !app.submitter.is_allowed(p))
    {
        return not_allowed(p);
    }
    let mut counts: BTreeMap<&str, usize> = ["submitted", "completed", "failed", "timed_out", "rejected"]
        .into_iter()
        .map(|k| (k, 0))
        .collect();
    for (_, state) in &tasks {
        *counts.entry(state.as_str()).or_default() += 1;
    }
    let planned = event.and_then(|e| e.plan.as_ref()).map(|p| p.counts);
    let decided = tasks.iter().filter(|(_, s)| *s != State::Submitted).count();
    // Done: the plan is known and every planned target is decided (or the selection itself
    // was refused). Targets not yet fanned out are not in the ledger yet.
    let refused = plan.as_ref().is_some_and(|r| r.state == State::Rejected);
    let done = refused || planned.is_some_and(|c| decided >= c.to_delete);
    json_response(
        StatusCode::OK,
        json!({
            "selection_id": selection_id,
            "state": plan.as_ref().map(|r| r.state.as_str()),
            "planned": planned,
            "tasks": counts,
            "not_yet_submitted": planned.map(|c| c.to_delete.saturating_sub(tasks.len())),
            "done": done,
            "event": event,
        }),
    )
}
