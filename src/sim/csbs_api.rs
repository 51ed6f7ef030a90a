//! The simulator's CSBS v1 routes: DELETE a checkpoint (or some of its items), GET an item,
//! list and count items, with CSBS's own answers (docs/csbs-api.md).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::time::Instant;

use super::faults::Route;
use super::server::Asked;
use super::server::error;
use super::state::{Backend, DeleteResult, SimFilter};
use crate::csbs::DEFAULT_PROVIDER_ID;

/// The answer of a CSBS route, once faults and authentication let the request through.
pub(super) fn answer(backend: &mut Backend, asked: &Asked) -> Response {
    let Asked { route, segs, q, now } = *asked;
    let project_id = segs[1];
    match route {
        Route::Delete => delete(backend, project_id, segs, q, now),
        Route::Get => match backend.get(project_id, segs[3], now) {
            Some(item) => axum::Json(json!({"checkpoint_item": item})).into_response(),
            None => error(
                404,
                "CSBS.3001",
                &format!("Checkpoint_item ({}) is not found.", segs[3]),
            ),
        },
        Route::List | Route::Count => list(backend, route, project_id, q, now),
        _ => unreachable!("CSBS routes only"),
    }
}

fn param(q: &[(String, String)], k: &str) -> Option<String> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// `DELETE /v1/{project}/providers/{provider}/checkpoints/{checkpoint}[?checkpoint_items=…]`.
fn delete(backend: &mut Backend, project_id: &str, segs: &[&str], q: &[(String, String)], now: Instant) -> Response {
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

/// `GET /v1/{project}/checkpoint_items[/count]`: filtered, paged by marker (and offset).
fn list(backend: &mut Backend, route: Route, project_id: &str, q: &[(String, String)], now: Instant) -> Response {
    let param = |k: &str| param(q, k);
    let filter = SimFilter {
        checkpoint_id: param("checkpoint_id"),
        statuses: param("status").into_iter().collect(),
        resource_id: param("resource_id"),
        vault_id: None,
        image_type: None,
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
