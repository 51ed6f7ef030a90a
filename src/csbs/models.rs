//! CSBS response bodies, typed loosely on purpose: the live service returns fractional numbers
//! where the docs say int, `extra_info` as a string or an object, and drops or nulls fields.
//! Every field is optional, numbers are `f64`, unknown fields are ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Statuses of a checkpoint item (backup) that matter to a deletion.
pub mod status {
    pub const AVAILABLE: &str = "available";
    pub const WAITING_DELETE: &str = "waiting_delete";
    pub const DELETING: &str = "deleting";
    pub const ERROR: &str = "error";
    pub const DELETED: &str = "deleted";
}

/// One backup (`checkpoint_item`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CheckpointItem {
    pub id: String,
    pub checkpoint_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub resource_id: Option<String>,
    pub resource_type: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub backup_data: Option<Value>,
    pub extend_info: Option<ExtendInfo>,
    pub tags: Option<Vec<Value>>,
}

impl CheckpointItem {
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("")
    }

    /// `status: error` with `extend_info.fail_op: "delete"`: the deletion failed for good.
    pub fn deletion_failed(&self) -> bool {
        self.status() == status::ERROR && self.extend_info.as_ref().and_then(|e| e.fail_op.as_deref()) == Some("delete")
    }

    /// The reason CSBS gives for a failure, if any.
    pub fn fail_reason(&self) -> Option<String> {
        let info = self.extend_info.as_ref()?;
        info.fail_reason.clone().filter(|r| !r.is_empty()).or_else(|| {
            info.fail_code
                .as_ref()
                .and_then(|c| c.get("Description"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExtendInfo {
    pub auto_trigger: Option<bool>,
    pub average_speed: Option<f64>,
    pub copy_from: Option<String>,
    pub copy_status: Option<String>,
    pub fail_code: Option<Value>,
    pub fail_op: Option<String>,
    pub fail_reason: Option<String>,
    pub image_type: Option<String>,
    pub incremental: Option<bool>,
    pub progress: Option<f64>,
    pub resource_az: Option<String>,
    pub resource_name: Option<String>,
    pub resource_type: Option<String>,
    pub size: Option<f64>,
    pub space_saving_ratio: Option<f64>,
    pub volume_backups: Option<Vec<VolumeBackup>>,
    pub finished_at: Option<String>,
    pub supported_restore_mode: Option<String>,
    pub support_lld: Option<bool>,
    pub taskid: Option<String>,
    pub hypervisor_type: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct VolumeBackup {
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub bootable: Option<bool>,
    pub incremental: Option<bool>,
    pub average_speed: Option<f64>,
    pub size: Option<f64>,
    pub source_volume_id: Option<String>,
    pub source_volume_size: Option<f64>,
    pub source_volume_name: Option<String>,
    pub space_saving_ratio: Option<f64>,
    pub snapshot_id: Option<String>,
    pub image_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ItemEnvelope {
    pub checkpoint_item: Option<CheckpointItem>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ListEnvelope {
    pub checkpoint_items: Vec<CheckpointItem>,
    /// Karbor-style paging links; the CSBS docs never show them, but SDKs read them.
    pub checkpoint_items_links: Option<Vec<Link>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Link {
    pub href: Option<String>,
    pub rel: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CountEnvelope {
    pub count: Option<f64>,
}

pub use crate::cloud::ExtraInfo;

/// A checkpoint (backup record) as returned by create / execute-policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Checkpoint {
    pub id: String,
    pub status: Option<String>,
    pub created_at: Option<String>,
    pub project_id: Option<String>,
    pub resource_graph: Option<Value>,
    pub extra_info: Option<ExtraInfo>,
    pub protection_plan: Option<ProtectionPlan>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProtectionPlan {
    pub id: Option<String>,
    pub name: Option<String>,
    pub resources: Vec<PlanResource>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PlanResource {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub extra_info: Option<ExtraInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckpointEnvelope {
    pub checkpoint: Option<Checkpoint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProtectableEnvelope {
    pub protectable: Vec<Protectable>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Protectable {
    pub result: Option<bool>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
}
