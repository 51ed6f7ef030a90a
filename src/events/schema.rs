//! The outcome event contract (docs/DESIGN.md, "Outcome events"): every key present, null where it
//! does not apply; ids derived from task id + outcome so consumers can dedupe.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::request::EchoFields;
use crate::service::Service;
use crate::task::{PendingTask, rfc3339};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Submitted,
    Completed,
    Failed,
    TimedOut,
    Rejected,
    /// A selection's plan (docs/DESIGN.md, "Selection requests"): its own terminal event.
    Planned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Submitted => "submitted",
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Rejected => "rejected",
            Outcome::Planned => "planned",
        }
    }

    /// EventBridge `DetailType`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Outcome::Submitted => "Checkpoint Deletion Submitted",
            Outcome::Completed => "Checkpoint Deletion Completed",
            Outcome::Failed => "Checkpoint Deletion Failed",
            Outcome::TimedOut => "Checkpoint Deletion Timed Out",
            Outcome::Rejected => "Checkpoint Deletion Rejected",
            Outcome::Planned => "Checkpoint Deletion Planned",
        }
    }

    pub fn is_terminal(self) -> bool {
        self != Outcome::Submitted
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventError {
    pub code: String,
    pub message: String,
    pub http_status: Option<u16>,
}

/// The `Detail` of an outcome event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeEvent {
    pub event_id: String,
    pub task_id: String,
    pub outcome: Outcome,
    /// Always set: `csbs` or `cbr`.
    pub service: Service,
    pub project_id: Option<String>,
    pub provider_id: Option<String>,
    pub checkpoint_id: Option<String>,
    pub checkpoint_items: Option<Vec<String>>,
    /// The CBR backups of the task; null for CSBS.
    pub backup_ids: Option<Vec<String>>,
    pub request_id: Option<String>,
    pub context: Option<Map<String, Value>>,
    pub submitted_at: Option<String>,
    pub deadline: Option<String>,
    pub finished_at: Option<String>,
    pub elapsed_seconds: Option<f64>,
    pub last_status: Option<String>,
    pub error: Option<EventError>,
    /// The selection a target was fanned out from, or the selection itself; null otherwise.
    #[serde(default)]
    pub selection_id: Option<String>,
    /// Planned events only.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlannedDetail>,
}

/// The keys only a Planned event has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedDetail {
    pub dry_run: bool,
    pub counts: crate::selection::Counts,
    /// The targets' ids in plan order, cut short to keep the detail under EventBridge's
    /// limits (`truncated`).
    pub target_ids: Vec<String>,
    pub truncated: bool,
}

/// Event id: stable for a task and an outcome.
pub fn event_id(task_id: &str, outcome: Outcome) -> String {
    let h = Sha256::digest(format!("{task_id}:{}", outcome.as_str()).as_bytes());
    format!("evt_{}", &hex::encode(h)[..32])
}

impl OutcomeEvent {
    /// An event about a known task. `finished_at` is set for terminal outcomes.
    pub fn for_task(
        task: &PendingTask,
        outcome: Outcome,
        now: DateTime<Utc>,
        last_status: Option<String>,
        error: Option<EventError>,
    ) -> Self {
        let terminal = outcome.is_terminal();
        OutcomeEvent {
            event_id: event_id(&task.task_id, outcome),
            task_id: task.task_id.clone(),
            outcome,
            service: task.service,
            project_id: Some(task.project_id.clone()),
            provider_id: task.provider_id.clone(),
            checkpoint_id: task.checkpoint_id.clone(),
            checkpoint_items: task.checkpoint_items.clone(),
            backup_ids: task.backup_ids.clone(),
            request_id: task.request_id.clone(),
            context: task.context.clone(),
            submitted_at: Some(rfc3339(task.submitted_at)),
            deadline: Some(rfc3339(task.deadline)),
            finished_at: terminal.then(|| rfc3339(now)),
            elapsed_seconds: terminal.then(|| (now - task.submitted_at).num_milliseconds().max(0) as f64 / 1000.0),
            last_status: if matches!(outcome, Outcome::Submitted | Outcome::Rejected) {
                None
            } else {
                last_status
            },
            error,
            selection_id: task.selection_id.clone(),
            plan: None,
        }
    }

    /// A Rejected event for input that never became a task.
    pub fn rejected_raw(task_id: String, echo: EchoFields, now: DateTime<Utc>, error: EventError) -> Self {
        OutcomeEvent {
            event_id: event_id(&task_id, Outcome::Rejected),
            task_id,
            outcome: Outcome::Rejected,
            service: echo.service,
            project_id: echo.project_id,
            provider_id: echo.provider_id,
            checkpoint_id: echo.checkpoint_id,
            checkpoint_items: None,
            backup_ids: None,
            request_id: echo.request_id,
            context: None,
            submitted_at: None,
            deadline: None,
            finished_at: Some(rfc3339(now)),
            elapsed_seconds: None,
            last_status: None,
            error: Some(error),
            selection_id: None,
            plan: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::DeletionRequest;

    #[test]
    fn every_key_is_present() {
        let req = DeletionRequest::from_value(&serde_json::json!({"project_id": "p", "checkpoint_id": "c"})).unwrap();
        let task = PendingTask::new(&req, Utc::now(), 60);
        let v = serde_json::to_value(OutcomeEvent::for_task(
            &task,
            Outcome::Submitted,
            Utc::now(),
            None,
            None,
        ))
        .unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "event_id",
            "task_id",
            "outcome",
            "service",
            "project_id",
            "provider_id",
            "checkpoint_id",
            "checkpoint_items",
            "backup_ids",
            "request_id",
            "context",
            "submitted_at",
            "deadline",
            "finished_at",
            "elapsed_seconds",
            "last_status",
            "error",
        ] {
            assert!(keys.contains(&k), "{k}");
        }
        assert_eq!(v["outcome"], "submitted");
        assert_eq!((v["service"].as_str(), v["backup_ids"].is_null()), (Some("csbs"), true));
        assert!(v["finished_at"].is_null() && v["error"].is_null());
        assert!(v["submitted_at"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn cbr_events_name_the_service_and_backups() {
        let req = DeletionRequest::from_value(
            &serde_json::json!({"service": "cbr", "project_id": "p", "backup_ids": ["b2", "b1"]}),
        )
        .unwrap();
        let task = PendingTask::new(&req, Utc::now(), 60);
        let v = serde_json::to_value(OutcomeEvent::for_task(
            &task,
            Outcome::Completed,
            Utc::now(),
            None,
            None,
        ))
        .unwrap();
        assert_eq!(v["service"], "cbr");
        assert_eq!(v["backup_ids"], serde_json::json!(["b1", "b2"]));
        for k in ["provider_id", "checkpoint_id", "checkpoint_items"] {
            assert!(v.get(k).is_some_and(|x| x.is_null()), "{k} present and null");
        }
    }

    #[test]
    fn event_ids_depend_on_task_and_outcome_only() {
        assert_eq!(event_id("t", Outcome::Completed), event_id("t", Outcome::Completed));
        assert_ne!(event_id("t", Outcome::Completed), event_id("t", Outcome::Failed));
        assert_ne!(event_id("t", Outcome::Completed), event_id("u", Outcome::Completed));
    }
}
