//! The outcome event contract (docs/DESIGN.md, "Outcome events"): every key present, null where it
//! does not apply; ids derived from task id + outcome so consumers can dedupe.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::request::EchoFields;
use crate::service::Service;
use crate::target::TargetState;
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
    /// A list of this detail was cut short to keep it under [`MAX_DETAIL_BYTES`]
    /// ([`OutcomeEvent::fitted`]; a Planned event's `target_ids`).
    #[serde(default)]
    pub truncated: bool,
    /// The X-Ray trace id of the submit invocation the task began in (crate::trace); null
    /// when there was none (outside Lambda, or a task older than this key).
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The region of the task's own targets (the default region's name when the request
    /// named none); null only in a Rejected event whose request could not be read.
    #[serde(default)]
    pub region: Option<String>,
    /// Every target of a task with replicas, each where it lives and its status at the last
    /// check (docs/DESIGN.md, "Regions"); null for a task in one region.
    #[serde(default)]
    pub targets: Option<Vec<TargetRow>>,
    /// Planned events only.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlannedDetail>,
}

/// One target of a task with replicas, in an event's `targets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRow {
    pub region: Option<String>,
    pub project_id: String,
    pub backup_id: String,
    /// The raw status at the last check (`absent` when gone, `error` when its deletion
    /// failed); null before the first check.
    pub last_status: Option<String>,
}

/// The keys only a Planned event has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedDetail {
    pub dry_run: bool,
    pub counts: crate::selection::Counts,
    /// The targets' ids in plan order, cut short to keep the detail under EventBridge's
    /// limits (the event's `truncated`).
    pub target_ids: Vec<String>,
}

/// Most bytes of an event's `Detail` in compact JSON (docs/DESIGN.md, "Rules that keep it
/// reliable"): EventBridge refuses entries over 256 KB, and a refused terminal event would be
/// retried until the pending queue's DLQ.
pub const MAX_DETAIL_BYTES: usize = 200 * 1024;

/// Most bytes of an error message in an event.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
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
            truncated: false,
            trace_id: task.trace_id.clone(),
            // Submit and poll name the task's region (the configured default's name included);
            // a task built without one is the unconfigured default's.
            region: Some(
                task.region
                    .clone()
                    .unwrap_or_else(|| crate::region::DEFAULT_REGION_NAME.into()),
            ),
            targets: task.has_replicas().then(|| target_rows(task)),
            plan: None,
        }
    }

    /// The event with each target's status from one check (`targets` of a task with
    /// replicas; nothing changes for the others).
    pub fn with_states(mut self, states: &[(String, TargetState)]) -> Self {
        for row in self.targets.iter_mut().flatten() {
            if let Some((_, state)) = states.iter().find(|(id, _)| *id == row.backup_id) {
                row.last_status = Some(match state {
                    TargetState::Gone => "absent".into(),
                    TargetState::Failed(_) => "error".into(),
                    other => other.unfinished_status().unwrap_or_default().to_string(),
                });
            }
        }
        self
    }

    /// Its `Detail` in compact JSON, in bytes.
    pub fn detail_bytes(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len())
    }

    /// The event as it is emitted: an error message cut to [`MAX_ERROR_MESSAGE_BYTES`], and,
    /// while the detail is over [`MAX_DETAIL_BYTES`], its longest list cut (flagged
    /// `truncated`). Deterministic: every copy of an event is cut alike.
    pub fn fitted(mut self) -> Self {
        if let Some(e) = &mut self.error {
            cut(&mut e.message, MAX_ERROR_MESSAGE_BYTES);
        }
        loop {
            let size = self.detail_bytes();
            if size <= MAX_DETAIL_BYTES {
                return self;
            }
            let lists = [
                self.plan.as_mut().map(|p| &mut p.target_ids),
                self.backup_ids.as_mut(),
                self.checkpoint_items.as_mut(),
            ];
            let Some(longest) = lists
                .into_iter()
                .flatten()
                .max_by_key(|l| l.len())
                .filter(|l| !l.is_empty())
            else {
                // Nothing left to cut: every other field is bounded by the request contract.
                return self;
            };
            // Keep the share that fits, a little less so the loop ends in a step or two.
            let keep = (longest.len() as u128 * MAX_DETAIL_BYTES as u128 / size as u128) as usize;
            longest.truncate(keep.saturating_sub(1 + longest.len() / 50));
            self.truncated = true;
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
            truncated: false,
            trace_id: crate::trace::current(),
            region: echo.region,
            targets: None,
            plan: None,
        }
    }
}

/// The rows of a task's `targets`: its sources, then its replicas, each where it lives.
fn target_rows(task: &PendingTask) -> Vec<TargetRow> {
    task.targets()
        .into_iter()
        .flatten()
        .map(|id| {
            let at = task.place_of(id);
            TargetRow {
                region: at.region.map(str::to_string),
                project_id: at.project_id.to_string(),
                backup_id: id.to_string(),
                last_status: None,
            }
        })
        .collect()
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
            "truncated",
            "trace_id",
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
    fn fitted_events_stay_under_the_limit_and_say_so() {
        let many: Vec<String> = (0..5000).map(|i| format!("{i:064}")).collect();
        let req =
            DeletionRequest::from_value(&serde_json::json!({"service": "cbr", "project_id": "p", "backup_id": "b"}))
                .unwrap();
        let mut task = PendingTask::new(&req, Utc::now(), 60);
        task.backup_ids = Some(many.clone());
        let error = EventError {
            code: "c".into(),
            message: "é".repeat(2000),
            http_status: None,
        };
        let e = OutcomeEvent::for_task(&task, Outcome::Failed, Utc::now(), None, Some(error));
        assert!(e.detail_bytes() > MAX_DETAIL_BYTES);
        let fitted = e.clone().fitted();
        assert!(fitted.detail_bytes() <= MAX_DETAIL_BYTES, "{}", fitted.detail_bytes());
        assert!(fitted.truncated);
        let kept = fitted.backup_ids.as_ref().unwrap();
        assert!(kept.len() > 2500, "cut to what fits, not far below: {}", kept.len());
        assert_eq!(kept[..], many[..kept.len()], "a prefix, in order");
        let message = &fitted.error.as_ref().unwrap().message;
        assert!(message.len() <= MAX_ERROR_MESSAGE_BYTES && message.chars().all(|c| c == 'é'));
        assert_eq!(fitted, e.fitted(), "deterministic");
        // A small event is left as it is, but for a long message.
        let small = OutcomeEvent::for_task(&task_of_one(), Outcome::Completed, Utc::now(), None, None);
        assert_eq!(small.clone().fitted(), small);
    }

    fn task_of_one() -> PendingTask {
        let req = DeletionRequest::from_value(&serde_json::json!({"project_id": "p", "checkpoint_id": "c"})).unwrap();
        PendingTask::new(&req, Utc::now(), 60)
    }

    #[test]
    fn event_ids_depend_on_task_and_outcome_only() {
        assert_eq!(event_id("t", Outcome::Completed), event_id("t", Outcome::Completed));
        assert_ne!(event_id("t", Outcome::Completed), event_id("t", Outcome::Failed));
        assert_ne!(event_id("t", Outcome::Completed), event_id("u", Outcome::Completed));
    }
}
