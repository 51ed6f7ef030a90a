//! The simulated CSBS backend: backups per project and the asynchronous deletion queue.
//! Time advances lazily: every access first replays what happened since the last one (slots
//! freed, queued deletions started, deletions finished), so no background task is needed and
//! the outcome depends only on the clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use tokio::time::Instant;

use crate::csbs::models::{CheckpointItem, ExtendInfo, status};
use crate::service::Service;

mod cbr;
mod deletion;

/// A deletion task of one item.
#[derive(Debug, Clone)]
struct DeleteJob {
    queued_at: Instant,
    started_at: Option<Instant>,
    duration: Duration,
}

#[derive(Debug, Clone)]
struct SimItem {
    seq: u64,
    project_id: String,
    /// Which API serves it: a CSBS checkpoint item or a CBR backup (whose `checkpoint_id` is
    /// its restore point). Each API sees only its own.
    service: Service,
    /// CBR: list it with a per-disk child (`parent_id` set), which is never a target.
    with_child: bool,
    item: CheckpointItem,
    vault_id: String,
    /// The deletion of this item ends in `status: error`, `fail_op: delete`.
    fail_delete: bool,
    job: Option<DeleteJob>,
    replication_records: Vec<serde_json::Value>,
}

impl SimItem {
    fn image_type(&self) -> &str {
        self.item
            .extend_info
            .as_ref()
            .and_then(|e| e.image_type.as_deref())
            .unwrap_or("backup")
    }
}

/// How one item was seeded.
#[derive(Debug, Clone, Default)]
pub struct ItemSeed {
    pub id: String,
    pub fail_delete: bool,
    /// Initial status (default `available`).
    pub status: Option<String>,
    /// CBR only: listed with a per-disk child backup.
    pub with_child: bool,
    /// The protected server (default: one fixed server for every backup).
    pub resource_id: Option<String>,
    /// Creation time as the service writes it (default: a fixed time in 2018).
    pub created_at: Option<String>,
    /// Default `backup-<first 8 characters of the id>`.
    pub name: Option<String>,
    /// CBR only (default: one fixed vault).
    pub vault_id: Option<String>,
    /// CBR only: a replica received from another region (`image_type: "replication"`),
    /// listed beside the region's own backups and never a target.
    pub replica: bool,
    /// CBR only: the backup's `replication_records` as the service writes them.
    pub replication_records: Vec<serde_json::Value>,
}

/// The vault of a CBR backup seeded without one.
pub const DEFAULT_VAULT_ID: &str = "3b5816b5-f29c-4172-9d9a-76c719a659ce";

impl ItemSeed {
    pub fn ok(id: impl Into<String>) -> Self {
        ItemSeed {
            id: id.into(),
            ..Default::default()
        }
    }
    pub fn failing(id: impl Into<String>) -> Self {
        ItemSeed {
            id: id.into(),
            fail_delete: true,
            ..Default::default()
        }
    }
}

/// The query filters of the simulated list calls (each `None`/empty = no filter).
#[derive(Debug, Clone, Default)]
pub struct SimFilter {
    pub checkpoint_id: Option<String>,
    pub statuses: Vec<String>,
    pub resource_id: Option<String>,
    pub vault_id: Option<String>,
    /// CBR: `backup` or `replication`.
    pub image_type: Option<String>,
}

impl SimFilter {
    fn matches(&self, i: &SimItem) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
        eq(&self.checkpoint_id, i.item.checkpoint_id.as_deref())
            && eq(&self.resource_id, i.item.resource_id.as_deref())
            && eq(&self.vault_id, Some(&i.vault_id))
            && (self.statuses.is_empty() || self.statuses.iter().any(|s| s == i.item.status()))
            && eq(&self.image_type, Some(i.image_type()))
    }
}

/// Outcome of a simulated DELETE.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteResult {
    Accepted,
    NotFound,
    InExecution,
}

/// Outcome of a simulated CBR DELETE.
#[derive(Debug, PartialEq, Eq)]
pub enum CbrDeleteResult {
    Accepted,
    NotFound,
    /// Busy, with the error code CBR answers.
    Busy(&'static str),
}

/// A completed or failed deletion, for inspection by tests and the local run.
#[derive(Debug, Clone, Serialize)]
pub struct FinishedDeletion {
    pub project_id: String,
    pub item_id: String,
    pub checkpoint_id: String,
    pub failed: bool,
    pub service: Service,
    /// How long after the DELETE the item finished, in milliseconds.
    pub after_ms: u64,
    #[serde(skip)]
    pub finished_at: Option<Instant>,
}

/// A CBR delete task (operation log), created when a DELETE is accepted.
#[derive(Debug, Clone)]
pub struct SimOpLog {
    pub id: String,
    pub project_id: String,
    pub backup_id: String,
    pub backup_name: String,
    pub resource_id: String,
    pub checkpoint_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// `None` while it runs; `success` or `failed` once it ended.
    pub outcome: Option<&'static str>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug)]
pub struct Backend {
    items: BTreeMap<String, SimItem>,
    /// The ids of each restore point's (CSBS: checkpoint's) items, by service and project: a
    /// DELETE of one finds its targets without a scan of every backup.
    by_checkpoint: HashMap<(Service, String, String), BTreeSet<String>>,
    /// The deletion queue (src/sim/state/deletion.rs).
    queue: deletion::Queue,
    pub op_logs: Vec<SimOpLog>,
    /// The index in `op_logs` of each backup's latest delete task.
    op_log_of: HashMap<String, usize>,
    /// CBR restore points seeded without any backup.
    empty_restore_points: Vec<(String, String)>,
    next_seq: u64,
    pub max_running: usize,
    pub delete_duration: (Duration, Duration),
    pub finished: Vec<FinishedDeletion>,
}

impl Backend {
    pub fn new(max_running: usize, delete_duration: (Duration, Duration)) -> Self {
        Backend {
            items: BTreeMap::new(),
            by_checkpoint: HashMap::new(),
            queue: deletion::Queue::default(),
            op_logs: Vec::new(),
            op_log_of: HashMap::new(),
            empty_restore_points: Vec::new(),
            next_seq: 0,
            max_running,
            delete_duration,
            finished: Vec::new(),
        }
    }

    pub fn seed(&mut self, project_id: &str, checkpoint_id: &str, seeds: &[ItemSeed]) {
        self.seed_for(Service::Csbs, project_id, checkpoint_id, seeds);
    }

    /// Seeds CBR backups of one restore point (none: an empty restore point).
    pub fn seed_cbr(&mut self, project_id: &str, restore_point: &str, seeds: &[ItemSeed]) {
        if seeds.is_empty() {
            self.empty_restore_points
                .push((project_id.to_string(), restore_point.to_string()));
        }
        self.seed_for(Service::Cbr, project_id, restore_point, seeds);
    }

    fn seed_for(&mut self, service: Service, project_id: &str, checkpoint_id: &str, seeds: &[ItemSeed]) {
        for s in seeds {
            self.next_seq += 1;
            let mut item = sample_item(&s.id, checkpoint_id, s.status.as_deref().unwrap_or(status::AVAILABLE));
            if let Some(r) = &s.resource_id {
                item.resource_id = Some(r.clone());
            }
            if let Some(t) = &s.created_at {
                item.created_at = Some(t.clone());
            }
            if let Some(n) = &s.name {
                item.name = Some(n.clone());
            }
            if s.replica
                && let Some(info) = item.extend_info.as_mut()
            {
                info.image_type = Some("replication".into());
            }
            // Seeded again: the old item leaves its restore point and the deletion queue.
            self.remove_item(&s.id);
            self.by_checkpoint
                .entry((service, project_id.to_string(), checkpoint_id.to_string()))
                .or_default()
                .insert(s.id.clone());
            self.items.insert(
                s.id.clone(),
                SimItem {
                    seq: self.next_seq,
                    project_id: project_id.into(),
                    service,
                    with_child: s.with_child,
                    item,
                    vault_id: s.vault_id.clone().unwrap_or_else(|| DEFAULT_VAULT_ID.into()),
                    fail_delete: s.fail_delete,
                    job: None,
                    replication_records: s.replication_records.clone(),
                },
            );
        }
    }

    /// Removes an item and every index entry of it.
    fn remove_item(&mut self, id: &str) -> Option<SimItem> {
        let i = self.items.remove(id)?;
        let key = (
            i.service,
            i.project_id.clone(),
            i.item.checkpoint_id.clone().unwrap_or_default(),
        );
        if let Some(ids) = self.by_checkpoint.get_mut(&key) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_checkpoint.remove(&key);
            }
        }
        self.queue.forget(id, &i);
        Some(i)
    }

    /// The ids of a restore point's (CSBS: checkpoint's) items.
    fn items_of(&self, service: Service, project_id: &str, checkpoint_id: &str) -> impl Iterator<Item = &String> {
        self.by_checkpoint
            .get(&(service, project_id.to_string(), checkpoint_id.to_string()))
            .into_iter()
            .flatten()
    }

    pub fn get(&mut self, project_id: &str, item_id: &str, now: Instant) -> Option<CheckpointItem> {
        self.get_for(Service::Csbs, project_id, item_id, now)
    }

    /// An item of `service` (CSBS items and CBR backups live apart).
    pub fn get_for(
        &mut self,
        service: Service,
        project_id: &str,
        item_id: &str,
        now: Instant,
    ) -> Option<CheckpointItem> {
        self.advance(now);
        self.items
            .get(item_id)
            .filter(|i| i.project_id == project_id && i.service == service)
            .map(|i| i.item.clone())
    }

    /// A CBR backup's `replication_records` (empty when it has none or does not exist).
    pub fn replication_records(&self, backup_id: &str) -> Vec<serde_json::Value> {
        self.items
            .get(backup_id)
            .map(|i| i.replication_records.clone())
            .unwrap_or_default()
    }

    /// Any item's status, whichever service holds it (for inspection).
    pub fn status_of(&mut self, project_id: &str, item_id: &str, now: Instant) -> Option<String> {
        self.advance(now);
        self.items
            .get(item_id)
            .filter(|i| i.project_id == project_id)
            .map(|i| i.item.status().to_string())
    }

    /// Items of a project in list order (newest first, the documented default sort), filtered.
    pub fn list(&mut self, project_id: &str, filter: &SimFilter, now: Instant) -> Vec<CheckpointItem> {
        self.advance(now);
        let mut v: Vec<&SimItem> = self
            .items
            .values()
            .filter(|i| i.project_id == project_id && i.service == Service::Csbs)
            .filter(|i| filter.matches(i))
            .collect();
        v.sort_by_cached_key(|i| newest_first(i));
        v.into_iter().map(|i| i.item.clone()).collect()
    }

    /// Status of every item, for inspection.
    pub fn statuses(&mut self, now: Instant) -> BTreeMap<String, String> {
        self.advance(now);
        self.items
            .iter()
            .map(|(id, i)| (id.clone(), i.item.status().to_string()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The services' default list order (`sort=created_at:desc`, docs/csbs-api.md and
/// docs/cbr-api.md): newest first; backups created at the same moment (or without a readable
/// time), the one seeded last first.
fn newest_first(i: &SimItem) -> std::cmp::Reverse<(Option<chrono::DateTime<chrono::Utc>>, u64)> {
    // The key is computed once per item: a 10,000-backup listing sorts in milliseconds.
    let created = i.item.created_at.as_deref().and_then(crate::cbr::models::parse_time);
    std::cmp::Reverse((created, i.seq))
}

/// A backup shaped like the documented sample (docs/csbs-api.md §6.1), with fractional numbers as the
/// live service sends them.
pub fn sample_item(id: &str, checkpoint_id: &str, status: &str) -> CheckpointItem {
    CheckpointItem {
        id: id.into(),
        checkpoint_id: Some(checkpoint_id.into()),
        name: Some(format!("backup-{}", &id[..id.len().min(8)])),
        description: Some("simulated backup".into()),
        status: Some(status.into()),
        resource_id: Some("f8ddc472-cf00-4384-851e-5f2a68c33762".into()),
        resource_type: Some("OS::Nova::Server".into()),
        created_at: Some("2018-08-14T07:53:15.663766".into()),
        updated_at: Some("2018-08-17T04:33:58.025327".into()),
        backup_data: Some(serde_json::json!({"eip": "", "ram": 8192, "vcpus": 4, "disk": 0, "imagetype": "gold"})),
        extend_info: Some(ExtendInfo {
            auto_trigger: Some(false),
            average_speed: Some(29.9),
            space_saving_ratio: Some(2.5),
            fail_op: Some(String::new()),
            fail_reason: Some(String::new()),
            fail_code: Some(serde_json::json!({})),
            progress: Some(100.0),
            size: Some(146184.0),
            image_type: Some("backup".into()),
            ..Default::default()
        }),
        tags: Some(vec![]),
    }
}
