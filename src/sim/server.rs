//! HTTP face of the simulator: the CSBS v1 and CBR v3 routes on one port (src/sim/csbs_api.rs,
//! src/sim/cbr_api.rs) behind injected faults and the gateway's checks (src/sim/auth.rs), the
//! IAM token route, and `/_sim/*` admin routes.

use std::time::Duration;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::Simulator;
use super::auth::{Incoming, authenticate};
use super::faults::{Fault, Route, decide};
use super::state::ItemSeed;

/// A request past the gateway, as the route tables answer it.
pub(super) struct Asked<'a> {
    pub(super) route: Route,
    /// The path's segments (`segs[1]` is the project).
    pub(super) segs: &'a [&'a str],
    pub(super) q: &'a [(String, String)],
    pub(super) now: Instant,
}

pub fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/v3/auth/tokens", post(super::auth::token))
        .route("/_sim/faults", post(add_fault).delete(clear_faults))
        .route("/_sim/seed", post(seed))
        .route("/_sim/state", get(state))
        .route("/_sim/expire-tokens", post(expire_tokens))
        .route("/_sim/config", post(configure))
        .fallback(csbs)
        .with_state(sim)
}

pub(super) fn error(status: u16, code: &str, msg: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({"error_code": code, "error_msg": msg});
    if code.starts_with("APIGW") {
        body["request_id"] = json!(uuid::Uuid::new_v4().simple().to_string());
    }
    (status, axum::Json(body)).into_response()
}

/// Applies the gateway's throttle (the calls of `project`) and injected faults;
/// `Some(response)` short-cuts the request.
pub(super) async fn apply_faults(
    sim: &Simulator,
    route: Route,
    target: &str,
    project: Option<&str>,
) -> Option<Response> {
    if sim.record_call(route, target, project) {
        return Some(error(
            429,
            "APIGW.0308",
            "The throttling threshold has been reached: policy user over ratelimit",
        ));
    }
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
    let Some(route) = route_of(&parts.method, &segs) else {
        return error(
            404,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment",
        );
    };
    count(&sim, route);
    let target = format!("{path}?{raw_query}");
    if let Some(r) = apply_faults(&sim, route, &target, Some(segs[1])).await {
        return r;
    }
    let project_id = segs[1];
    if !body.is_empty() {
        return error(400, "CSBS.0002", "This request takes no body");
    }
    let incoming = Incoming {
        method: &parts.method,
        path: &path,
        raw_query: &raw_query,
        headers: &parts.headers,
        project_id,
    };
    if let Err(refusal) = authenticate(&sim, &incoming) {
        sim.shared.stats.lock().unwrap().rejected_auth += 1;
        return refusal.into_response();
    }
    let now = Instant::now();
    let q = query_pairs(&raw_query);
    let mut backend = sim.shared.backend.lock().unwrap();
    let asked = Asked {
        route,
        segs: &segs,
        q: &q,
        now,
    };
    if route.is_cbr() {
        super::cbr_api::answer(&mut backend, &asked)
    } else {
        super::csbs_api::answer(&mut backend, &asked)
    }
}

/// The route a request's method and path name (both services share one port), if any.
fn route_of(method: &Method, segs: &[&str]) -> Option<Route> {
    Some(match (method, segs) {
        (&Method::DELETE, ["v1", _, "providers", _, "checkpoints", _]) => Route::Delete,
        (&Method::GET, ["v1", _, "checkpoint_items"]) => Route::List,
        (&Method::GET, ["v1", _, "checkpoint_items", "count"]) => Route::Count,
        (&Method::GET, ["v1", _, "checkpoint_items", _]) => Route::Get,
        (&Method::DELETE, ["v3", _, "backups", _]) => Route::CbrDelete,
        (&Method::GET, ["v3", _, "backups", _]) => Route::CbrGet,
        (&Method::GET, ["v3", _, "backups"]) => Route::CbrList,
        (&Method::GET, ["v3", _, "operation-logs"]) => Route::CbrOperationLogs,
        (&Method::GET, ["v3", _, "checkpoints", _]) => Route::CbrCheckpoint,
        _ => return None,
    })
}

/// Counts a call in the simulator's stats (the tests' and benchmarks' call counts).
fn count(sim: &Simulator, route: Route) {
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
    /// CBR: the backup's replication records, as the service writes them.
    #[serde(default)]
    replication_records: Vec<serde_json::Value>,
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
            replication_records: i.replication_records,
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
    /// Calls per second each project may make (absent: no throttling).
    #[serde(default)]
    throttle_per_second: Option<f64>,
}

async fn configure(State(sim): State<Simulator>, axum::Json(c): axum::Json<ConfigRequest>) -> Response {
    sim.set_delete_duration(
        Duration::from_millis(c.delete_ms_min),
        Duration::from_millis(c.delete_ms_max.max(c.delete_ms_min)),
    );
    sim.set_throttle(c.throttle_per_second);
    StatusCode::NO_CONTENT.into_response()
}
