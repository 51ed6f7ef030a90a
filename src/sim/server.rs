//! HTTP face of the simulator: CSBS v1 + IAM token routes, and `/_sim/*` admin routes.

use std::time::Duration;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{NaiveDateTime, Utc};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use super::faults::{Fault, Route, decide};
use super::state::{CbrDeleteResult, DeleteResult, ItemSeed, SimFilter};
use super::{IssuedToken, Simulator};
use crate::cloud::signer::{DATE_FORMAT, SignInput, parse_authorization};
use crate::csbs::DEFAULT_PROVIDER_ID;

pub fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/v3/auth/tokens", post(token))
        .route("/_sim/faults", post(add_fault).delete(clear_faults))
        .route("/_sim/seed", post(seed))
        .route("/_sim/state", get(state))
        .route("/_sim/expire-tokens", post(expire_tokens))
        .route("/_sim/config", post(configure))
        .fallback(csbs)
        .with_state(sim)
}

fn error(status: u16, code: &str, msg: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({"error_code": code, "error_msg": msg});
    if code.starts_with("APIGW") {
        body["request_id"] = json!(uuid::Uuid::new_v4().simple().to_string());
    }
    (status, axum::Json(body)).into_response()
}

/// Applies injected faults; `Some(response)` short-cuts the request.
async fn apply_faults(sim: &Simulator, route: Route, target: &str) -> Option<Response> {
    sim.record_call(route, target);
    let decision = {
        let mut faults = sim.shared.faults.lock().unwrap();
        let mut rng = rand::rng();
        decide(&mut faults, route, target, || rng.random::<f64>())
    };
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    if decision.hang {
        // Never answers within any sane client timeout.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let (status, retry_after) = decision.status?;
    let mut resp = match (status, decision.error_code.as_deref(), decision.raw_body) {
        (s, _, Some(raw)) => (
            StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [("content-type", "text/html")],
            raw,
        )
            .into_response(),
        (s, Some(code), None) => error(s, code, "Simulated error"),
        (429, None, None) => error(429, "APIGW.0308", "The throttling threshold has been reached"),
        (s, None, None) if s >= 500 && route.is_cbr() => error(s, "BackupService.9910", "Unknown error."),
        (s, None, None) if s >= 500 => error(s, "CSBS.9999", "Simulated service failure"),
        (s, None, None) if route.is_cbr() => error(s, "BackupService.9900", "Parameter verification failed."),
        (s, None, None) => error(s, "CSBS.9006", "Simulated error"),
    };
    if let Some(s) = retry_after {
        resp.headers_mut().insert("retry-after", s.into());
    }
    Some(resp)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenRequest {
    auth: Value,
}

async fn token(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    sim.shared.stats.lock().unwrap().token += 1;
    if let Some(r) = apply_faults(&sim, Route::Token, "/v3/auth/tokens").await {
        return r;
    }
    let req: TokenRequest = serde_json::from_slice(&body).unwrap_or_default();
    let user = &req.auth["identity"]["password"]["user"];
    let (name, password, domain) = (
        user["name"].as_str(),
        user["password"].as_str(),
        user["domain"]["name"].as_str(),
    );
    let Some(project_id) = req.auth["scope"]["project"]["id"].as_str().map(str::to_string) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error": {"code": 400, "message": "scope.project.id is required", "title": "Bad Request"}}),
            ),
        )
            .into_response();
    };
    let config = sim.shared.config.lock().unwrap().clone();
    let known = config.users.iter().any(|u| {
        Some(u.username.as_str()) == name
            && Some(u.password.as_str()) == password
            && Some(u.domain_name.as_str()) == domain
    });
    if !known {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}}))).into_response();
    }
    let token = format!("MIIsim{}", uuid::Uuid::new_v4().simple());
    let issued = Utc::now();
    let expires_at = issued + chrono::Duration::from_std(config.token_lifetime).unwrap_or(chrono::Duration::hours(24));
    sim.shared.tokens.lock().unwrap().insert(
        token.clone(),
        IssuedToken {
            project_id: project_id.clone(),
            expires_at,
        },
    );
    let body = json!({"token": {
        "methods": ["password"],
        "expires_at": expires_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "issued_at": issued.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "user": {"name": name, "domain": {"name": domain}},
        "project": {"id": project_id, "name": "eu-de"},
    }});
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert("x-subject-token", token.parse().expect("ascii token"));
    resp
}

/// Checks a CSBS request's credentials like the API gateway does.
/// Why the gateway refused a request; turned into a response by the caller.
struct AuthFailure(u16, &'static str, String);

impl AuthFailure {
    fn unauthorized(msg: &str) -> Self {
        AuthFailure(
            401,
            "APIGW.0301",
            format!("Incorrect IAM authentication information: {msg}"),
        )
    }
    fn into_response(self) -> Response {
        error(self.0, self.1, &self.2)
    }
}

fn authenticate(
    sim: &Simulator,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    project_id: &str,
) -> Result<(), AuthFailure> {
    if let Some(tok) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        let tokens = sim.shared.tokens.lock().unwrap();
        return match tokens.get(tok) {
            Some(t) if t.expires_at <= Utc::now() => Err(AuthFailure::unauthorized("The token must be updated")),
            Some(t) if t.project_id == project_id => Ok(()),
            Some(_) => Err(AuthFailure(
                403,
                "APIGW.0302",
                "The IAM token is not scoped to this project".into(),
            )),
            None => Err(AuthFailure::unauthorized("decrypt token fail")),
        };
    }
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(AuthFailure::unauthorized("no token or signature"));
    };
    let Some(parsed) = parse_authorization(auth) else {
        return Err(AuthFailure::unauthorized("verify aksk signature fail"));
    };
    let config = sim.shared.config.lock().unwrap().clone();
    let Some(sk) = config.access_keys.get(&parsed.access) else {
        return Err(AuthFailure::unauthorized(&format!(
            "Get secretKey failed,ak:{},err:ak not exist",
            parsed.access
        )));
    };
    let date = headers
        .get("x-sdk-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Ok(when) = NaiveDateTime::parse_from_str(&date, DATE_FORMAT) else {
        return Err(AuthFailure::unauthorized("verify aksk signature fail: bad X-Sdk-Date"));
    };
    let skew = (Utc::now().naive_utc() - when).num_seconds().unsigned_abs();
    if skew > config.signature_window.as_secs() {
        return Err(AuthFailure::unauthorized(
            "verify aksk signature fail: X-Sdk-Date out of range",
        ));
    }
    if let Some(p) = headers.get("x-project-id").and_then(|v| v.to_str().ok())
        && p != project_id
    {
        return Err(AuthFailure(
            403,
            "APIGW.0302",
            "X-Project-Id does not match the project in the URL".into(),
        ));
    }
    let mut signed = Vec::new();
    for name in &parsed.signed_headers {
        let Some(v) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) else {
            return Err(AuthFailure::unauthorized(
                "verify aksk signature fail: a signed header is missing",
            ));
        };
        signed.push((name.clone(), v.to_string()));
    }
    let expected = SignInput {
        method: method.as_str(),
        path,
        raw_query,
        headers: &signed,
        body: b"",
    }
    .signature(sk, &date);
    if bool::from(expected.as_bytes().ct_eq(parsed.signature.as_bytes())) {
        Ok(())
    } else {
        Err(AuthFailure::unauthorized("verify aksk signature fail"))
    }
}

fn query_pairs(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect()
}

async fn csbs(State(sim): State<Simulator>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Bodies are not used by these routes, but must be read for the signature's payload hash.
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let route = match (&parts.method, segs.as_slice()) {
        (&Method::DELETE, ["v1", _, "providers", _, "checkpoints", _]) => Route::Delete,
        (&Method::GET, ["v1", _, "checkpoint_items"]) => Route::List,
        (&Method::GET, ["v1", _, "checkpoint_items", "count"]) => Route::Count,
        (&Method::GET, ["v1", _, "checkpoint_items", _]) => Route::Get,
        (&Method::DELETE, ["v3", _, "backups", _]) => Route::CbrDelete,
        (&Method::GET, ["v3", _, "backups", _]) => Route::CbrGet,
        (&Method::GET, ["v3", _, "backups"]) => Route::CbrList,
        (&Method::GET, ["v3", _, "operation-logs"]) => Route::CbrOperationLogs,
        (&Method::GET, ["v3", _, "checkpoints", _]) => Route::CbrCheckpoint,
        _ => {
            return error(
                404,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment",
            );
        }
    };
    {
        let mut s = sim.shared.stats.lock().unwrap();
        match route {
            Route::Delete => s.delete += 1,
            Route::List => s.list += 1,
            Route::Count => s.count += 1,
            Route::CbrDelete => s.cbr_delete += 1,
            Route::CbrGet => s.cbr_get += 1,
            Route::CbrList => s.cbr_list += 1,
            Route::CbrOperationLogs => s.cbr_operation_logs += 1,
            Route::CbrCheckpoint => s.cbr_checkpoint += 1,
            _ => s.get += 1,
        }
    }
    let target = format!("{path}?{raw_query}");
    if let Some(r) = apply_faults(&sim, route, &target).await {
        return r;
    }
    let project_id = segs[1];
    if !body.is_empty() {
        return error(400, "CSBS.0002", "This request takes no body");
    }
    if let Err(refusal) = authenticate(&sim, &parts.method, &path, &raw_query, &parts.headers, project_id) {
        sim.shared.stats.lock().unwrap().rejected_auth += 1;
        return refusal.into_response();
    }
    let now = Instant::now();
    let q = query_pairs(&raw_query);
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut backend = sim.shared.backend.lock().unwrap();
    if route.is_cbr() {
        return cbr(&mut backend, route, &segs, &q, now);
    }
    match route {
        Route::Delete => {
            let (provider, checkpoint) = (segs[3], segs[5]);
            if provider != DEFAULT_PROVIDER_ID {
                return error(400, "CSBS.9001", "provider invalid");
            }
            let only: Vec<String> = q
                .iter()
                .filter(|(k, _)| k == "checkpoint_items")
                .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
                .filter(|s| !s.is_empty())
                .collect();
            let only = (!only.is_empty()).then_some(only);
            match backend.delete(project_id, checkpoint, only.as_deref(), now) {
                DeleteResult::Accepted => (StatusCode::OK, axum::Json(json!({}))).into_response(),
                DeleteResult::NotFound => error(
                    404,
                    "CSBS.3001",
                    &format!("Checkpoint_item ({checkpoint}) is not found."),
                ),
                DeleteResult::InExecution => error(400, "CSBS.2003", "item in executing"),
            }
        }
        Route::Get => match backend.get(project_id, segs[3], now) {
            Some(item) => axum::Json(json!({"checkpoint_item": item})).into_response(),
            None => error(
                404,
                "CSBS.3001",
                &format!("Checkpoint_item ({}) is not found.", segs[3]),
            ),
        },
        Route::List | Route::Count => {
            let filter = SimFilter {
                checkpoint_id: param("checkpoint_id"),
                statuses: param("status").into_iter().collect(),
                resource_id: param("resource_id"),
                vault_id: None,
            };
            let items = backend.list(project_id, &filter, now);
            if route == Route::Count {
                return axum::Json(json!({"count": items.len()})).into_response();
            }
            let limit = match param("limit").map(|l| l.parse::<usize>()) {
                None => 1000,
                Some(Ok(l)) if l > 0 => l,
                _ => return error(400, "CSBS.0002", "limit must be a positive integer"),
            };
            let start = match param("marker") {
                None => 0,
                Some(m) => match items.iter().position(|i| i.id == m) {
                    Some(p) => p + 1,
                    None => return error(400, "CSBS.0002", "marker not found"),
                },
            };
            let offset = param("offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
            let page: Vec<_> = items.into_iter().skip(start + offset).take(limit).collect();
            axum::Json(json!({"checkpoint_items": page})).into_response()
        }
        _ => unreachable!("routes matched above"),
    }
}

fn backup_not_found() -> Response {
    error(404, "BackupService.6200", "The backup does not exist.")
}

/// The CBR v3 routes (docs/cbr-api.md): the same backend and state machine as CSBS, CBR's
/// shapes. Times alternate between the two documented formats and `resource_size` between a
/// number and a string, so clients meet every form the docs show.
fn cbr(
    backend: &mut super::state::Backend,
    route: Route,
    segs: &[&str],
    q: &[(String, String)],
    now: Instant,
) -> Response {
    let project_id = segs[1];
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // The refusal is a message; the caller turns it into the 400 answer.
    let page = |default: usize| -> Result<(usize, usize), &'static str> {
        let limit = match param("limit").map(|l| l.parse::<usize>()) {
            None => default,
            Some(Ok(l)) if (1..=1000).contains(&l) => l,
            _ => return Err("limit must be from 1 to 1000"),
        };
        let offset = match param("offset").map(|o| o.parse::<usize>()) {
            None => 0,
            Some(Ok(o)) => o,
            _ => return Err("offset must be an integer"),
        };
        Ok((limit, offset))
    };
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
                axum::Json(json!({"backup": cbr_backup(project_id, &item, seq, None, &vault)})).into_response()
            }
            None => backup_not_found(),
        },
        Route::CbrList => {
            let (limit, offset) = match page(1000) {
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
            };
            let mut all = Vec::new();
            for (item, with_child, seq, vault) in backend.list_backups(project_id, &filter, now) {
                all.push(cbr_backup(project_id, &item, seq, None, &vault));
                if with_child {
                    all.push(cbr_backup(project_id, &item, seq, Some(&item.id), &vault));
                }
            }
            let count = all.len();
            let backups: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
            axum::Json(json!({"backups": backups, "count": count})).into_response()
        }
        Route::CbrOperationLogs => {
            let (limit, offset) = match page(1000) {
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
                .map(|l| {
                    let status = backend.op_log_status(l);
                    let (code, message) = if status == "failed" {
                        ("BackupService.9910", "Simulated failure: the backup data could not be removed")
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
                })
                .collect();
            let count = logs.len();
            logs = logs.into_iter().skip(offset).take(limit).collect();
            axum::Json(json!({"operation_logs": logs, "count": count, "limit": limit, "offset": offset}))
                .into_response()
        }
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

async fn add_fault(State(sim): State<Simulator>, axum::Json(f): axum::Json<Fault>) -> Response {
    sim.add_fault(f);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(sim): State<Simulator>) -> Response {
    sim.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedItem {
    id: String,
    #[serde(default)]
    fail_delete: bool,
    status: Option<String>,
    /// CBR: listed with a per-disk child.
    #[serde(default)]
    with_child: bool,
    resource_id: Option<String>,
    created_at: Option<String>,
    name: Option<String>,
    vault_id: Option<String>,
    /// CBR: a replica received from another region.
    #[serde(default)]
    replica: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedRequest {
    #[serde(default)]
    demo: bool,
    project_id: Option<String>,
    checkpoint_id: Option<String>,
    /// `csbs` (default) or `cbr`; for CBR `checkpoint_id` is the restore point.
    #[serde(default)]
    service: crate::service::Service,
    #[serde(default)]
    items: Vec<SeedItem>,
}

async fn seed(State(sim): State<Simulator>, axum::Json(s): axum::Json<SeedRequest>) -> Response {
    if s.demo {
        return axum::Json(json!({"seeded": sim.seed_demo()})).into_response();
    }
    let (Some(p), Some(c)) = (s.project_id, s.checkpoint_id) else {
        return error(
            400,
            "SIM.0001",
            "project_id and checkpoint_id are required (or demo: true)",
        );
    };
    let seeds: Vec<ItemSeed> = s
        .items
        .into_iter()
        .map(|i| ItemSeed {
            id: i.id,
            fail_delete: i.fail_delete,
            status: i.status,
            with_child: i.with_child,
            resource_id: i.resource_id,
            created_at: i.created_at,
            name: i.name,
            vault_id: i.vault_id,
            replica: i.replica,
        })
        .collect();
    match s.service {
        crate::service::Service::Csbs => sim.seed(&p, &c, &seeds),
        crate::service::Service::Cbr => sim.seed_cbr(&p, &c, &seeds),
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn state(State(sim): State<Simulator>) -> Response {
    axum::Json(json!({"items": sim.statuses(), "finished": sim.finished(), "stats": sim.stats()})).into_response()
}

async fn expire_tokens(State(sim): State<Simulator>) -> Response {
    sim.expire_tokens();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigRequest {
    delete_ms_min: u64,
    delete_ms_max: u64,
}

async fn configure(State(sim): State<Simulator>, axum::Json(c): axum::Json<ConfigRequest>) -> Response {
    sim.set_delete_duration(
        Duration::from_millis(c.delete_ms_min),
        Duration::from_millis(c.delete_ms_max.max(c.delete_ms_min)),
    );
    StatusCode::NO_CONTENT.into_response()
}
