//! CBR response bodies (docs/cbr-api.md §2, §3, §9), typed loosely: every field optional and
//! nullable, numbers accepted as numbers or strings (`resource_size`, `enterprise_project_id`),
//! `extra_info` as an object or a JSON string, times in either documented format.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cloud::ExtraInfo;

/// Backup statuses (the same enum in every source, docs/cbr-api.md §2).
pub mod status {
    pub const AVAILABLE: &str = "available";
    pub const ERROR: &str = "error";
    pub const DELETING: &str = "deleting";
    pub const WAITING_DELETE: &str = "waiting_delete";
    pub const PROTECTING: &str = "protecting";
    pub const WAITING_PROTECT: &str = "waiting_protect";
    pub const RESTORING: &str = "restoring";
    pub const WAITING_RESTORE: &str = "waiting_restore";
}

/// The statuses of a CBR task (an operation log) that ended without success (docs/cbr-api.md §3).
pub mod log_status {
    pub const FAILED: &str = "failed";
    pub const TIMEOUT: &str = "timeout";
}

/// One backup (`BackupResp`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Backup {
    pub id: String,
    pub checkpoint_id: Option<String>,
    /// Set on the per-disk children of a server backup; those are never targets.
    pub parent_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub project_id: Option<String>,
    pub vault_id: Option<String>,
    pub provider_id: Option<String>,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    pub resource_type: Option<String>,
    pub resource_az: Option<String>,
    /// GB; a number in the docs, a string in one SDK model.
    pub resource_size: Option<Value>,
    pub image_type: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub expired_at: Option<String>,
    pub protected_at: Option<String>,
    /// `"0"` in one source, `0` in another.
    pub enterprise_project_id: Option<Value>,
    pub children: Option<Vec<Backup>>,
    pub extend_info: Option<Value>,
    /// Huawei Cloud: where this backup was replicated to (`ReplicationRecordGet`; read by
    /// src/cbr/replicas.rs). Kept raw: a malformed record must refuse a request, never vanish
    /// in deserialisation.
    pub replication_records: Option<Vec<Value>>,
}

impl Backup {
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("")
    }

    /// A top-level backup (not the per-disk child of a server backup).
    pub fn is_top_level(&self) -> bool {
        self.parent_id.as_deref().is_none_or(str::is_empty)
    }

    /// A replica received from another region (`image_type: "replication"`, whatever its
    /// `parent_id`; docs/cbr-api.md, "Replicas"). OTC documents only `backup`, so a backup
    /// without `image_type` is an own backup.
    pub fn is_replica(&self) -> bool {
        self.image_type.as_deref() == Some("replication")
    }

    /// What a restore point or a selection may delete (docs/DESIGN.md, "CBR targets"): a
    /// top-level own backup — never a per-disk child, never a replica.
    pub fn is_own_top_level(&self) -> bool {
        self.is_top_level() && !self.is_replica()
    }

    pub fn resource_size_gb(&self) -> Option<f64> {
        self.resource_size.as_ref().and_then(number)
    }

    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.created_at.as_deref().and_then(parse_time)
    }
}

/// One task (`OperationLog`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct OperationLog {
    pub id: String,
    pub operation_type: Option<String>,
    /// `success`, `skipped`, `failed`, `running`, `timeout`, `waiting`.
    pub status: Option<String>,
    pub checkpoint_id: Option<String>,
    pub vault_id: Option<String>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub updated_at: Option<String>,
    pub ended_at: Option<String>,
    pub error_info: Option<ErrorInfo>,
    pub extra_info: Option<ExtraInfo>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ErrorInfo {
    pub code: Option<Value>,
    pub message: Option<String>,
}

impl OperationLog {
    /// `extra_info.delete.backup_id`: the backup a delete task removed.
    pub fn deleted_backup_id(&self) -> Option<String> {
        let extra = self.extra_info.as_ref()?.as_object()?;
        extra.get("delete")?.get("backup_id")?.as_str().map(str::to_string)
    }

    /// When the task began: `started_at`, else `created_at`.
    pub fn began(&self) -> Option<DateTime<Utc>> {
        self.started_at
            .as_deref()
            .and_then(parse_time)
            .or_else(|| self.created_at.as_deref().and_then(parse_time))
    }

    /// The reason the service gives, e.g. `"BackupService.7009: …"`.
    pub fn reason(&self) -> Option<String> {
        let info = self.error_info.as_ref()?;
        let code = info.code.as_ref().map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let code = code.filter(|c| !c.is_empty() && c != "null");
        let message = info.message.clone().filter(|m| !m.is_empty());
        match (code, message) {
            (Some(c), Some(m)) => Some(format!("{c}: {m}")),
            (c, m) => c.or(m),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackupEnvelope {
    pub backup: Option<Backup>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackupListEnvelope {
    pub backups: Option<Vec<Backup>>,
    /// Whether this is the total or the page size is undocumented: never relied on.
    pub count: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OperationLogListEnvelope {
    pub operation_logs: Option<Vec<OperationLog>>,
}

/// A restore point: only what the workflow reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RestorePoint {
    pub id: String,
    pub status: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RestorePointEnvelope {
    pub checkpoint: Option<RestorePoint>,
}

/// A number given as a number or as a string.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// Both documented time formats: `2019-05-10T07:59:12.085+00:00` (OTC: ms and an offset, or
/// `Z`) and `2019-05-10T07:59:12.084695` (Huawei: µs, no zone, which is UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_time_formats_parse_to_the_same_instant() {
        let otc = parse_time("2019-05-10T07:59:12.085+00:00").unwrap();
        let hw = parse_time("2019-05-10T07:59:12.085000").unwrap();
        assert_eq!(otc, hw);
        assert_eq!(parse_time("2020-02-23T01:00:32Z").unwrap().timestamp(), 1582419632);
        assert_eq!(
            parse_time("2019-05-10T09:59:12.085+02:00").unwrap(),
            otc,
            "an offset is honoured"
        );
        assert!(parse_time("yesterday").is_none() && parse_time("").is_none());
    }

    #[test]
    fn numbers_as_strings_and_nulls_everywhere() {
        let b: Backup = serde_json::from_value(json!({
            "id": "b", "resource_size": "40", "enterprise_project_id": "0", "parent_id": null,
            "description": null, "expired_at": null, "children": null, "extend_info": null
        }))
        .unwrap();
        assert_eq!(b.resource_size_gb(), Some(40.0));
        assert!(b.is_top_level());
        let b: Backup = serde_json::from_value(
            json!({"id": "b", "resource_size": 40, "enterprise_project_id": 0, "parent_id": ""}),
        )
        .unwrap();
        assert_eq!(b.resource_size_gb(), Some(40.0));
        assert!(b.is_top_level(), "an empty parent is no parent");
        for (image_type, own) in [(None, true), (Some("backup"), true), (Some("replication"), false)] {
            let b = Backup {
                image_type: image_type.map(str::to_string),
                ..Default::default()
            };
            assert_eq!((b.is_replica(), b.is_own_top_level()), (!own, own), "{image_type:?}");
        }
        let child_replica = Backup {
            image_type: Some("replication".into()),
            parent_id: Some("p".into()),
            ..Default::default()
        };
        assert!(!child_replica.is_own_top_level());
        assert_eq!(number(&json!("x")), None);
        assert_eq!(number(&json!("NaN")), None);
    }

    #[test]
    fn the_delete_log_names_its_backup_in_either_extra_info_form() {
        let object: OperationLog = serde_json::from_value(json!({
            "id": "t", "operation_type": "delete", "status": "failed",
            "error_info": {"code": "BackupService.9910", "message": "Unknown error."},
            "extra_info": {"delete": {"backup_id": "b1", "backup_name": "n"}}
        }))
        .unwrap();
        assert_eq!(object.deleted_backup_id().as_deref(), Some("b1"));
        assert_eq!(object.reason().as_deref(), Some("BackupService.9910: Unknown error."));
        let text: OperationLog = serde_json::from_value(json!({
            "id": "t", "extra_info": "{\"delete\": {\"backup_id\": \"b2\"}}",
            "error_info": {"code": "", "message": ""}
        }))
        .unwrap();
        assert_eq!(text.deleted_backup_id().as_deref(), Some("b2"));
        assert_eq!(text.reason(), None, "empty strings are no reason");
        let numeric: OperationLog = serde_json::from_value(json!({"id": "t", "error_info": {"code": 7009}})).unwrap();
        assert_eq!(numeric.reason().as_deref(), Some("7009"));
    }
}
