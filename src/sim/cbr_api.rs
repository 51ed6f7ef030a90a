//! The simulator's CBR v3 routes (docs/cbr-api.md): the same backend and state machine as
//! CSBS, CBR's shapes. Times alternate between the two documented formats and `resource_size`
//! between a number and a string, so clients meet every form the docs show.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::faults::Route;
use super::server::Asked;
use super::server::error;
use super::state::{Backend, CbrDeleteResult, SimFilter, SimOpLog};

fn backup_not_found() -> Response {
    error(404, "BackupService.6200", "The backup does not exist.")
}

fn param(q: &[(String, String)], k: &str) -> Option<String> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// `limit` (1–1000, `default`) and `offset`; the refusal is a message for the 400 answer.
fn page(q: &[(String, String)], default: usize) -> Result<(usize, usize), &'static str> {
    let limit = match param(q, "limit").map(|l| l.parse::<usize>()) {
        None => default,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        _ => return Err("limit must be from 1 to 1000"),
    };
    let offset = match param(q, "offset").map(|o| o.parse::<usize>()) {
        None => 0,
        Some(Ok(o)) => o,
        _ => return Err("offset must be an integer"),
    };
    Ok((limit, offset))
}

/// The answer of a CBR route, once faults and authentication let the request through.
pub(super) fn answer(backend: &mut Backend, asked: &Asked) -> Response {
    let Asked { route, segs, q, now } = *asked;
    let project_id = segs[1];
    match route {
        Route::CbrDelete => match backend.delete_backup(project_id, segs[3], now) {
            CbrDeleteResult::Accepted => StatusCode::NO_CONTENT.into_response(),
            CbrDeleteResult::NotFound => backup_not_found(),
            CbrDeleteResult::Busy(code) => error(400, code, "The backup is being executed."),
        },
        Route::CbrGet => match backend.get_for(crate::service::Service::Cbr, project_id, segs[3], now) {
            Some(item) => {
                let seq: u64 = item.id.bytes().map(u64::from).sum();
                let vault = backend.vault_of(project_id, segs[3]).unwrap_or_default();
                let mut backup = cbr_backup(project_id, &item, seq, None, &vault);
                backup["replication_records"] = json!(backend.replication_records(&item.id));
                axum::Json(json!({"backup": backup})).into_response()
            }
            None => backup_not_found(),
        },
        Route::CbrList => list(backend, project_id, q, now),
        Route::CbrOperationLogs => operation_logs(backend, project_id, q, now),
        Route::CbrCheckpoint => match backend.restore_point(project_id, segs[3], now) {
            Some(status) => axum::Json(json!({"checkpoint": {
                "id": segs[3], "project_id": project_id, "status": status,
                "created_at": "2019-05-10T07:59:12.037+00:00",
                "vault": {"id": "3b5816b5-f29c-4172-9d9a-76c719a659ce", "name": "vault-sim", "resources": []}
            }}))
            .into_response(),
            None => error(404, "BackupService.6200", "The restore point does not exist."),
        },
        _ => unreachable!("CBR routes only"),
    }
}

/// `GET /v3/{project}/backups`: filtered (`status` may repeat, docs/cbr-api.md §2b), paged by
/// offset; a backup with a child is listed with its per-disk child.
fn list(backend: &mut Backend, project_id: &str, q: &[(String, String)], now: Instant) -> Response {
    let param = |k: &str| param(q, k);
    let (limit, offset) = match page(q, 1000) {
        Ok(p) => p,
        Err(m) => return error(400, "BackupService.9900", m),
    };
    let filter = SimFilter {
        checkpoint_id: param("checkpoint_id"),
        // `status` may repeat (docs/cbr-api.md §2b).
        statuses: q
            .iter()
            .filter(|(k, _)| k == "status")
            .map(|(_, v)| v.clone())
            .collect(),
        resource_id: param("resource_id"),
        vault_id: param("vault_id"),
        image_type: param("image_type"),
    };
    let mut all = Vec::new();
    for (item, with_child, seq, vault) in backend.list_backups(project_id, &filter, now) {
        let mut backup = cbr_backup(project_id, &item, seq, None, &vault);
        backup["replication_records"] = json!(backend.replication_records(&item.id));
        all.push(backup);
        if with_child {
            all.push(cbr_backup(project_id, &item, seq, Some(&item.id), &vault));
        }
    }
    let count = all.len();
    let backups: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    axum::Json(json!({"backups": backups, "count": count})).into_response()
}

/// `GET /v3/{project}/operation-logs`: the delete tasks, newest first.
fn operation_logs(backend: &mut Backend, project_id: &str, q: &[(String, String)], now: Instant) -> Response {
    let param = |k: &str| param(q, k);
    let (limit, offset) = match page(q, 1000) {
        Ok(p) => p,
        Err(m) => return error(400, "BackupService.9900", m),
    };
    // Replay what happened until now, as every other route does (time advances lazily).
    backend.advance(now);
    let since = param("start_time").and_then(|t| crate::cbr::models::parse_time(&t));
    let mut logs: Vec<Value> = backend
        .op_logs
        .iter()
        .rev()
        .filter(|l| l.project_id == project_id)
        .filter(|_| param("operation_type").is_none_or(|t| t == "delete"))
        .filter(|l| param("resource_id").is_none_or(|r| r == l.resource_id))
        .filter(|l| since.is_none_or(|s| l.created_at >= s))
        // `status` filters by the task's status, as the service does (docs/cbr-api.md).
        .filter(|l| param("status").is_none_or(|st| st == backend.op_log_status(l)))
        .map(|l| op_log_json(backend, l))
        .collect();
    let count = logs.len();
    logs = logs.into_iter().skip(offset).take(limit).collect();
    axum::Json(json!({"operation_logs": logs, "count": count, "limit": limit, "offset": offset})).into_response()
}

/// One delete task as an `OperationLog` (docs/cbr-api.md §3).
fn op_log_json(backend: &Backend, l: &SimOpLog) -> Value {
    let status = backend.op_log_status(l);
    let (code, message) = if status == "failed" {
        (
            "BackupService.9910",
            "Simulated failure: the backup data could not be removed",
        )
    } else {
        ("", "")
    };
    json!({
        "id": l.id, "operation_type": "delete", "status": status, "project_id": l.project_id,
        "checkpoint_id": l.checkpoint_id, "provider_id": "0daac4c5-6707-4851-97ba-169e36266b66",
        "created_at": l.created_at.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string(),
        "started_at": l.created_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        "updated_at": l.ended_at.unwrap_or(l.created_at).format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        "ended_at": l.ended_at.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()),
        "error_info": {"code": code, "message": message},
        "extra_info": {
            "delete": {"backup_id": l.backup_id, "backup_name": l.backup_name},
            "resource": {"id": l.resource_id, "name": "ecs-sim", "type": "OS::Nova::Server"},
            "common": {"progress": if l.outcome.is_some() { 100 } else { 0 }, "request_id": format!("req-{}", l.id)}
        },
        "policy_id": null, "vault_id": null, "vault_name": null
    })
}

/// A CBR backup as `BackupResp` (docs/cbr-api.md §9); `parent` makes it the per-disk child.
fn cbr_backup(
    project_id: &str,
    item: &crate::csbs::models::CheckpointItem,
    seq: u64,
    parent: Option<&str>,
    vault_id: &str,
) -> Value {
    let even = seq.is_multiple_of(2);
    // A seeded creation time, in one of the two documented formats.
    let seeded = item
        .created_at
        .as_deref()
        .filter(|t| !t.starts_with("2018-08-14"))
        .and_then(crate::cbr::models::parse_time);
    let time = match (seeded, even) {
        (Some(t), true) => t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        (Some(t), false) => t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string(),
        (None, true) => "2019-05-10T07:59:12.084695".to_string(),
        (None, false) => "2019-05-10T07:59:12.085+00:00".to_string(),
    };
    let id = match parent {
        Some(p) => format!("{}-disk", &p[..p.len().min(59)]),
        None => item.id.clone(),
    };
    json!({
        "id": id,
        "parent_id": parent,
        "checkpoint_id": item.checkpoint_id,
        "name": item.name,
        "description": null,
        "status": item.status,
        "project_id": project_id,
        "vault_id": vault_id,
        "provider_id": "0daac4c5-6707-4851-97ba-169e36266b66",
        "resource_id": item.resource_id,
        "resource_name": "ecs-sim",
        "resource_type": if parent.is_some() { "OS::Cinder::Volume" } else { "OS::Nova::Server" },
        "resource_az": "eu-de-01",
        "resource_size": if even { json!("40") } else { json!(40) },
        "image_type": item.extend_info.as_ref().and_then(|e| e.image_type.as_deref()).unwrap_or("backup"),
        "created_at": time,
        "updated_at": null,
        "expired_at": null,
        "protected_at": null,
        "enterprise_project_id": if even { json!("0") } else { json!(0) },
        "children": [],
        "extend_info": {"auto_trigger": false, "supported_restore_mode": "backup", "contain_system_disk": true, "support_lld": true}
    })
}
