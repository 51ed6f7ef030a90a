//! The status workflow (docs/DESIGN.md, "HTTP API"): a task's record (`GET /deletions/{task_id}`)
//! and a selection's progress (`GET /selections/{selection_id}`), read from the decision ledger
//! alone, and the live state of backups no task is known for (`GET /deletions/status`), read
//! from the service as the poller reads it. Answers are JSON values; the HTTP edge renders
//! [`StatusError`]s with their status codes.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::backups::LiveRow;
use crate::cloud::CloudError;
use crate::ports::ledger::{LedgerError, State};
use crate::query::{LiveQuery, LiveTarget, QueryError, live_query};
use crate::request::RequestError;
use crate::submit::Submitter;
use crate::task::rfc3339;

/// Why a status read has no answer.
#[derive(Debug)]
pub enum StatusError {
    /// A parameter that does not validate (400 `invalid_request`).
    Invalid(String),
    /// A query the route does not take (its own code and status).
    Request(RequestError),
    /// The project is not on the allow-list (403).
    NotAllowed(String),
    /// The ledger holds no such task (404 `unknown_task`).
    UnknownTask(String),
    /// The ledger holds no such selection (404 `unknown_selection`).
    UnknownSelection(String),
    Ledger(LedgerError),
    Cloud(CloudError),
}

impl From<LedgerError> for StatusError {
    fn from(e: LedgerError) -> Self {
        StatusError::Ledger(e)
    }
}

impl From<CloudError> for StatusError {
    fn from(e: CloudError) -> Self {
        StatusError::Cloud(e)
    }
}

impl From<RequestError> for StatusError {
    fn from(e: RequestError) -> Self {
        StatusError::Request(e)
    }
}

/// `prefix` and 32 lower-case hex digits, as task and selection ids are made.
fn is_hex_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

fn allowed(submitter: &Submitter, project_id: Option<&str>) -> Result<(), StatusError> {
    match project_id.filter(|p| !submitter.is_allowed(p)) {
        Some(p) => Err(StatusError::NotAllowed(p.to_string())),
        None => Ok(()),
    }
}

/// `GET /deletions/{task_id}`: the record the decision ledger holds — no call to the cloud.
pub async fn task(submitter: &Submitter, task_id: &str, deadline: Instant) -> Result<Value, StatusError> {
    if !is_hex_id(task_id, "tsk_") {
        return Err(StatusError::Invalid(
            "task_id: must be tsk_ followed by 32 lower-case hex digits".into(),
        ));
    }
    let record = submitter
        .ledger()
        .get(task_id, deadline)
        .await?
        .ok_or_else(|| StatusError::UnknownTask(task_id.to_string()))?;
    allowed(submitter, record.project_id.as_deref())?;
    Ok(json!({
        "task_id": record.task_id,
        "state": record.state.as_str(),
        "service": record.service,
        "region": record.region,
        "project_id": record.project_id,
        "submitted_at": record.submitted_at.map(rfc3339),
        "deadline": record.deadline.map(rfc3339),
        "decided_at": record.decided_at.map(rfc3339),
        "event": record.terminal_event(),
    }))
}

/// `GET /selections/{selection_id}`: the recorded plan and the states of the tasks it fanned
/// out that reached the service (the CLI's `status --selection --watch`).
pub async fn selection(submitter: &Submitter, selection_id: &str, deadline: Instant) -> Result<Value, StatusError> {
    if !is_hex_id(selection_id, "sel_") {
        return Err(StatusError::Invalid(
            "selection_id: must be sel_ followed by 32 lower-case hex digits".into(),
        ));
    }
    let ledger = submitter.ledger();
    let (plan, tasks) = futures::try_join!(
        ledger.get(selection_id, deadline),
        ledger.by_selection(selection_id, deadline)
    )?;
    let plan = plan.filter(|r| r.state == State::Planned || r.state == State::Rejected);
    if plan.is_none() && tasks.is_empty() {
        return Err(StatusError::UnknownSelection(selection_id.to_string()));
    }
    let event = plan.as_ref().and_then(|r| r.event.as_ref());
    allowed(submitter, event.and_then(|e| e.project_id.as_deref()))?;
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
    Ok(json!({
        "selection_id": selection_id,
        "state": plan.as_ref().map(|r| r.state.as_str()),
        "planned": planned,
        "tasks": counts,
        "not_yet_submitted": planned.map(|c| c.to_delete.saturating_sub(tasks.len())),
        "done": done,
        "event": event,
    }))
}

/// `GET /deletions/status?project_id=…&checkpoint_id=…[&checkpoint_items=…]` (CSBS) or
/// `?service=cbr&project_id=…&backup_id=…` (`backup_id` may repeat or be a comma list, up to
/// 100): the live state, straight from the service.
pub async fn live(submitter: &Submitter, raw_query: &str, deadline: Instant) -> Result<Value, StatusError> {
    let LiveTarget {
        project_id,
        region,
        query,
    } = live_query(raw_query)?;
    allowed(submitter, Some(&project_id))?;
    let backups = submitter.backups();
    let region = backups.read_region("region", region.as_deref())?;
    let rows = backups
        .live_states(region.as_deref(), &project_id, &query, deadline)
        .await?;
    let region = backups.region_name(region.as_deref());
    // The least advanced state is the whole answer's.
    let overall = ["failed", "deleting", "queued", "present"]
        .into_iter()
        .find(|s| rows.iter().any(|r| r.state.route_state() == *s))
        .unwrap_or("gone");
    let row = |key: &str, r: &LiveRow| json!({key: r.id, "state": r.state.route_state(), "status": r.status});
    Ok(match query {
        LiveQuery::Checkpoint { checkpoint_id, .. } => json!({
            "project_id": project_id,
            "region": region,
            "checkpoint_id": checkpoint_id,
            "state": overall,
            "items": rows.iter().map(|r| row("checkpoint_item_id", r)).collect::<Vec<_>>(),
        }),
        LiveQuery::Backups(_) => json!({
            "service": "cbr",
            "project_id": project_id,
            "region": region,
            "state": overall,
            "items": rows.iter().map(|r| row("backup_id", r)).collect::<Vec<_>>(),
        }),
    })
}

impl From<QueryError> for StatusError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid(m) => StatusError::Invalid(m),
            QueryError::Request(e) => StatusError::Request(e),
        }
    }
}
