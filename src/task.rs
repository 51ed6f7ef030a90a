//! A pending task: what `submit` records on the pending queue and `poll` checks. Its id is
//! deterministic, so a request delivered twice is the same task.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::request::DeletionRequest;
use crate::service::Service;

/// Task id of a valid request: SHA-256 over its identifying fields (items sorted, deduplicated,
/// provider after defaulting). The service enters the key only when it is not CSBS, so every
/// CSBS task id is what it was before CBR existed.
pub fn task_id(req: &DeletionRequest) -> String {
    let join = |ids: &Option<Vec<String>>| ids.as_ref().map(|i| i.join(",")).unwrap_or_default();
    let checkpoint = req.checkpoint_id.as_deref().unwrap_or("");
    let request_id = req.request_id.as_deref().unwrap_or("");
    let key = match req.service {
        Service::Csbs => format!(
            "csbs-deletion/v1\n{}\n{}\n{}\n{}\n{}",
            req.project_id,
            req.provider_id.as_deref().unwrap_or(""),
            checkpoint,
            join(&req.checkpoint_items),
            request_id
        ),
        // A restore point and a list of backups sit in separate places of the key, so
        // `checkpoint_id: x` and `backup_ids: [x]` are different tasks.
        Service::Cbr => format!(
            "csbs-deletion/v1\n{}\n\n{}\n{}\n{}\nservice=cbr",
            req.project_id,
            checkpoint,
            join(&req.backup_ids),
            request_id
        ),
    };
    // A region other than the default and `with_replicas` enter the key only when set, so
    // every task id from before regions existed stays as it was (docs/DESIGN.md, "Task id").
    let mut key = key;
    if let Some(region) = &req.region {
        key.push_str(&format!("\nregion={region}"));
    }
    if req.with_replicas {
        key.push_str("\nwith_replicas=true");
    }
    format!("tsk_{}", &hex::encode(Sha256::digest(key.as_bytes()))[..32])
}

/// A replica of a task's source backup: a target of the same task in its own region and
/// project (docs/DESIGN.md, "Regions": replicas).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Replica {
    pub region: String,
    pub project_id: String,
    pub backup_id: String,
    /// The source backup it is a replica of.
    pub source_backup_id: String,
}

/// Where one target lives: its region (`None`: the default), project and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    pub region: Option<&'a str>,
    pub project_id: &'a str,
}

/// The pending-queue message body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTask {
    pub task_id: String,
    /// Absent in CSBS tasks (and in every task written before CBR existed).
    #[serde(default, skip_serializing_if = "Service::is_csbs")]
    pub service: Service,
    /// The region of the task's own targets; absent for the default region (and in every
    /// task written before regions existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub project_id: String,
    /// CSBS only (always set there); absent for CBR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// CSBS: the checkpoint. CBR: the restore point the targets were listed from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_id: Option<String>,
    pub checkpoint_items: Option<Vec<String>>,
    /// CBR: the backups to delete (listed from the restore point at submit time when the
    /// request named one). Absent for CSBS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_ids: Option<Vec<String>>,
    pub request_id: Option<String>,
    pub context: Option<Map<String, Value>>,
    pub submitted_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// Items whose DELETE CSBS refused for good while others were accepted: the task goes on
    /// for the accepted ones and ends Failed naming these (docs/DESIGN.md, "Outcome events").
    /// Absent when empty, so every other task's body is as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_items: Vec<RefusedItem>,
    /// The selection that fanned this target out (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_id: Option<String>,
    /// The X-Ray trace id of the submit invocation that created the task (crate::trace):
    /// poll logs it on every line about the task and its events carry it. Absent outside
    /// Lambda and in tasks written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// CBR: the request asked for the backups' replicas too (absent when not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_replicas: bool,
    /// The replicas found at submit, targets of this task in their own regions (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Replica>,
}

/// An item of a task whose DELETE was refused for good, with CSBS's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedItem {
    pub item_id: String,
    pub code: String,
    pub message: String,
    pub http_status: Option<u16>,
}

impl PendingTask {
    pub fn new(req: &DeletionRequest, now: DateTime<Utc>, default_timeout_seconds: u64) -> Self {
        let timeout = req.timeout_seconds.unwrap_or(default_timeout_seconds) as i64;
        PendingTask {
            task_id: task_id(req),
            service: req.service,
            region: req.region.clone(),
            project_id: req.project_id.clone(),
            provider_id: req.provider_id.clone(),
            checkpoint_id: req.checkpoint_id.clone(),
            checkpoint_items: req.checkpoint_items.clone(),
            backup_ids: req.backup_ids.clone(),
            request_id: req.request_id.clone(),
            context: req.context.clone(),
            submitted_at: now,
            deadline: now + chrono::Duration::seconds(timeout),
            refused_items: Vec::new(),
            selection_id: req.selection_id.clone(),
            trace_id: crate::trace::current(),
            with_replicas: req.with_replicas,
            replicas: Vec::new(),
        }
    }

    /// Where a target of this task lives: a replica's region and project, or the task's own.
    pub fn place_of(&self, target: &str) -> Place<'_> {
        match self.replicas.iter().find(|r| r.backup_id == target) {
            Some(r) => Place {
                region: Some(&r.region),
                project_id: &r.project_id,
            },
            None => Place {
                region: self.region.as_deref(),
                project_id: &self.project_id,
            },
        }
    }

    /// Whether the task has targets outside its own region and project.
    pub fn has_replicas(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// Whether `item` is one whose DELETE was refused.
    /// A CBR task naming a restore point but no backups: its backups are listed at submit,
    /// before any DELETE (docs/DESIGN.md, "CBR targets").
    pub fn needs_backup_listing(&self) -> bool {
        self.service == Service::Cbr && self.backup_ids.is_none()
    }

    pub fn is_refused(&self, item: &str) -> bool {
        self.refused_items.iter().any(|r| r.item_id == item)
    }

    /// The ids to delete one by one: CSBS items (or `None` for the whole checkpoint), CBR
    /// backups.
    pub fn targets(&self) -> Vec<Option<&str>> {
        let ids = match self.service {
            Service::Csbs => &self.checkpoint_items,
            Service::Cbr => &self.backup_ids,
        };
        match ids {
            Some(ids) => ids
                .iter()
                .map(String::as_str)
                .chain(self.replicas.iter().map(|r| r.backup_id.as_str()))
                .map(Some)
                .collect(),
            None => vec![None],
        }
    }

    /// The CSBS provider (its default for a task that somehow lacks one).
    pub fn provider(&self) -> &str {
        self.provider_id
            .as_deref()
            .unwrap_or(crate::service::DEFAULT_PROVIDER_ID)
    }

    /// The CSBS checkpoint, or the CBR restore point (empty when there is none).
    pub fn checkpoint(&self) -> &str {
        self.checkpoint_id.as_deref().unwrap_or("")
    }
}

/// RFC 3339 UTC with second precision and `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> DeletionRequest {
        DeletionRequest::from_value(&v).unwrap()
    }

    #[test]
    fn same_request_same_id_whatever_the_spelling() {
        let a = req(json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": ["b", "a"]}));
        let b = req(
            json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": ["a", "b", "a"],
            "provider_id": crate::service::DEFAULT_PROVIDER_ID, "timeout_seconds": 60, "context": {"x": 1}}),
        );
        assert_eq!(task_id(&a), task_id(&b));
        assert!(task_id(&a).starts_with("tsk_") && task_id(&a).len() == 36);
    }

    #[test]
    fn identifying_fields_change_the_id() {
        let base = task_id(&req(json!({"project_id": "p", "checkpoint_id": "c"})));
        for other in [
            json!({"project_id": "p", "checkpoint_id": "c", "request_id": "r"}),
            json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": "i"}),
            json!({"project_id": "q", "checkpoint_id": "c"}),
            json!({"project_id": "p", "checkpoint_id": "c", "provider_id": "x"}),
        ] {
            assert_ne!(task_id(&req(other)), base);
        }
    }

    /// The ids of tasks from before regions existed (pinned: SHA-256 of the documented key,
    /// computed outside this code) stay what they were; a region or `with_replicas` makes
    /// another task.
    #[test]
    fn existing_task_ids_are_unchanged_and_regions_make_new_ones() {
        let csbs = json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": ["b", "a"], "request_id": "r"});
        assert_eq!(task_id(&req(csbs.clone())), "tsk_9aa6833cffa0edb4827761eef09c00b0");
        let cbr = json!({"service": "cbr", "project_id": "p", "backup_id": "b1"});
        assert_eq!(task_id(&req(cbr.clone())), "tsk_3bd855d4b57120a1b03b47f099fe65d4");
        let mut ids = std::collections::BTreeSet::new();
        for (base, extra) in [
            (&cbr, json!({})),
            (&cbr, json!({"region": "eu-nl"})),
            (&cbr, json!({"with_replicas": true})),
            (&cbr, json!({"region": "eu-nl", "with_replicas": true})),
            (&csbs, json!({"region": "eu-nl"})),
        ] {
            let mut v = base.clone();
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            assert!(ids.insert(task_id(&req(v.clone()))), "{v}");
        }
        let mut off = cbr.clone();
        off["with_replicas"] = json!(false);
        assert_eq!(
            task_id(&req(off)),
            "tsk_3bd855d4b57120a1b03b47f099fe65d4",
            "false is absent"
        );
    }

    #[test]
    fn replicas_are_targets_in_their_own_place_and_old_bodies_have_none() {
        let mut t = PendingTask::new(
            &req(json!({"service": "cbr", "project_id": "p", "backup_ids": ["b1"], "with_replicas": true})),
            Utc::now(),
            60,
        );
        t.region = Some("eu-de".into());
        t.replicas.push(Replica {
            region: "eu-nl".into(),
            project_id: "p2".into(),
            backup_id: "r1".into(),
            source_backup_id: "b1".into(),
        });
        assert_eq!(t.targets(), vec![Some("b1"), Some("r1")]);
        assert_eq!(
            t.place_of("r1"),
            Place {
                region: Some("eu-nl"),
                project_id: "p2"
            }
        );
        assert_eq!(t.place_of("b1").region, Some("eu-de"));
        let back: PendingTask = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        let plain = PendingTask::new(&req(json!({"project_id": "p", "checkpoint_id": "c"})), Utc::now(), 60);
        let body = serde_json::to_string(&plain).unwrap();
        for absent in ["region", "with_replicas", "replicas"] {
            assert!(!body.contains(absent), "{absent} in {body}");
        }
    }

    #[test]
    fn deadline_from_timeout_or_default() {
        let now = Utc::now();
        let t = PendingTask::new(
            &req(json!({"project_id": "p", "checkpoint_id": "c", "timeout_seconds": 60})),
            now,
            1800,
        );
        assert_eq!((t.deadline - now).num_seconds(), 60);
        let t = PendingTask::new(&req(json!({"project_id": "p", "checkpoint_id": "c"})), now, 1800);
        assert_eq!((t.deadline - now).num_seconds(), 1800);
        let back: PendingTask = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        assert!(
            !serde_json::to_string(&t).unwrap().contains("refused_items"),
            "absent when empty"
        );
    }

    #[test]
    fn refused_items_round_trip_and_old_bodies_parse() {
        let now = Utc::now();
        let mut t = PendingTask::new(
            &req(json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": ["a", "b"]})),
            now,
            1800,
        );
        t.refused_items.push(RefusedItem {
            item_id: "b".into(),
            code: "CSBS.9006".into(),
            message: "refused".into(),
            http_status: Some(400),
        });
        let body = serde_json::to_string(&t).unwrap();
        let back: PendingTask = serde_json::from_str(&body).unwrap();
        assert_eq!(back, t);
        assert!(back.is_refused("b") && !back.is_refused("a"));
        // A body written before the field existed.
        let old = r#"{"task_id":"tsk_x","project_id":"p","provider_id":"v","checkpoint_id":"c","checkpoint_items":null,"request_id":null,"context":null,"submitted_at":"2026-01-01T00:00:00Z","deadline":"2026-01-01T00:30:00Z"}"#;
        let t: PendingTask = serde_json::from_str(old).unwrap();
        assert!(t.refused_items.is_empty());
    }
}
