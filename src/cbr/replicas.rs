//! A backup's replicas, read from its `replication_records` (docs/cbr-api.md, "Replicas";
//! huaweicloud-sdk-go-v3 `ReplicationRecordGet`). Pure: the records are judged here, and
//! whether this stack can reach a replica is for submit to say.

use serde_json::Value;

use super::models::Backup;
use crate::ids::validate_id;
use crate::region::valid_region_name;

/// Record statuses (the SDK's enum).
pub mod record_status {
    pub const SUCCESS: &str = "success";
    pub const FAIL: &str = "fail";
    pub const SKIP: &str = "skip";
    pub const REPLICATING: &str = "replicating";
    pub const WAITING_REPLICATE: &str = "waiting_replicate";
}

/// One replica a record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRecord {
    /// The record's `id` (or `replication_records[i]` when it has none), for messages.
    pub record: String,
    pub region: String,
    pub project_id: String,
    pub backup_id: String,
}

/// Why a backup's records refuse its deletion with replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordProblem {
    /// A replication still running: its replica does not exist yet, or not fully.
    InProgress { record: String, status: String },
    /// A record this code cannot read (a missing status or destination, an id unfit for a
    /// URL): refused, never skipped, since skipping would leave a replica behind silently.
    Malformed { record: String, reason: String },
}

/// The replicas a backup's records name: `success` records are replicas; `fail` and `skip`
/// name none; `replicating` and `waiting_replicate` refuse (the caller retries once
/// replication has settled); anything else is malformed.
pub fn replicas_of(backup: &Backup) -> Result<Vec<ReplicaRecord>, RecordProblem> {
    let records = backup.replication_records.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let name = r
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| validate_id("id", id).is_ok())
            .map_or_else(
                || format!("replication_records[{i}]"),
                |id| format!("replication record {id}"),
            );
        let malformed = |reason: &str| RecordProblem::Malformed {
            record: name.clone(),
            reason: reason.into(),
        };
        let status = r
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("has no status"))?;
        match status {
            record_status::SUCCESS => {}
            record_status::FAIL | record_status::SKIP => continue,
            record_status::REPLICATING | record_status::WAITING_REPLICATE => {
                return Err(RecordProblem::InProgress {
                    record: name,
                    status: status.into(),
                });
            }
            _ => return Err(malformed(&format!("has the unknown status {status:?}"))),
        }
        let field = |k: &'static str, ok: fn(&str) -> bool| {
            r.get(k)
                .and_then(Value::as_str)
                .filter(|v| ok(v))
                .map(str::to_string)
                .ok_or_else(|| malformed(&format!("has no usable {k}")))
        };
        let id_ok: fn(&str) -> bool = |v| validate_id("id", v).is_ok();
        out.push(ReplicaRecord {
            region: field("destination_region", valid_region_name)?,
            project_id: field("destination_project_id", id_ok)?,
            backup_id: field("destination_backup_id", id_ok)?,
            record: name,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backup(records: Value) -> Backup {
        serde_json::from_value(json!({"id": "b1", "replication_records": records})).unwrap()
    }

    fn record(status: &str) -> Value {
        json!({"id": "r1", "status": status, "destination_region": "eu-nl",
               "destination_project_id": "p2", "destination_backup_id": "b2",
               "extra_info": {"progress": 100}})
    }

    #[test]
    fn success_records_are_replicas_and_failed_ones_name_none() {
        assert_eq!(replicas_of(&backup(Value::Null)), Ok(vec![]));
        assert_eq!(replicas_of(&backup(json!([]))), Ok(vec![]));
        let found = replicas_of(&backup(json!([record("success"), record("fail"), record("skip")]))).unwrap();
        assert_eq!(
            found,
            vec![ReplicaRecord {
                record: "replication record r1".into(),
                region: "eu-nl".into(),
                project_id: "p2".into(),
                backup_id: "b2".into()
            }]
        );
        // extra_info as a string (the SDK model) reads the same.
        let mut r = record("success");
        r["extra_info"] = json!("{\"progress\":100}");
        assert_eq!(replicas_of(&backup(json!([r]))).unwrap().len(), 1);
    }

    #[test]
    fn running_and_malformed_records_refuse() {
        for status in ["replicating", "waiting_replicate"] {
            assert!(matches!(
                replicas_of(&backup(json!([record(status)]))),
                Err(RecordProblem::InProgress { status: s, .. }) if s == status
            ));
        }
        let mut cases = Vec::new();
        for (key, value) in [
            ("status", Value::Null),
            ("status", json!("done")),
            ("destination_region", Value::Null),
            ("destination_region", json!("EU NL")),
            ("destination_project_id", json!("../p")),
            ("destination_backup_id", json!(7)),
        ] {
            let mut r = record("success");
            r[key] = value;
            cases.push(r);
        }
        let mut anonymous = record("success");
        anonymous.as_object_mut().unwrap().remove("id");
        anonymous["destination_backup_id"] = Value::Null;
        for r in cases {
            assert!(
                matches!(replicas_of(&backup(json!([r.clone()]))), Err(RecordProblem::Malformed { record, .. }) if record == "replication record r1"),
                "{r}"
            );
        }
        assert!(matches!(
            replicas_of(&backup(json!([record("fail"), anonymous]))),
            Err(RecordProblem::Malformed { record, .. }) if record == "replication_records[1]"
        ));
    }
}
