//! The routes of the HTTP API (docs/DESIGN.md, "HTTP API"), matched on the path's end so a
//! stage or base-path prefix changes nothing, and the path a signature covers.

use http::{Method, StatusCode};

use crate::codes::ErrorCode;

pub(super) enum Route {
    Create,
    Mirror {
        project_id: String,
        provider_id: String,
        checkpoint_id: String,
    },
    /// `DELETE /v3/{project_id}/backups/{backup_id}`: a CBR request for one backup.
    CbrMirror {
        project_id: String,
        backup_id: String,
    },
    Status,
    /// `GET /deletions/{task_id}`: the task's record in the decision ledger.
    Task {
        task_id: String,
    },
    /// `GET /selections/{selection_id}`: a selection's progress, from the ledger.
    Selection {
        selection_id: String,
    },
}

impl Route {
    /// The path a v2 signature covers: the route's own path with the ids as sent, whatever
    /// stage prefix the origin added (docs/DESIGN.md, "HTTP API").
    pub(super) fn signed_path(&self) -> String {
        match self {
            Route::Create => "/deletions".into(),
            Route::Status => "/deletions/status".into(),
            Route::Mirror {
                project_id,
                provider_id,
                checkpoint_id,
            } => format!("/v1/{project_id}/providers/{provider_id}/checkpoints/{checkpoint_id}"),
            Route::CbrMirror { project_id, backup_id } => format!("/v3/{project_id}/backups/{backup_id}"),
            Route::Task { task_id } => format!("/deletions/{task_id}"),
            Route::Selection { selection_id } => format!("/selections/{selection_id}"),
        }
    }
}

/// A routing refusal: status, code, message.
pub(super) type Refusal = (StatusCode, ErrorCode, &'static str);

const WRONG_METHOD: Refusal = (
    StatusCode::METHOD_NOT_ALLOWED,
    ErrorCode::MethodNotAllowed,
    "this path does not take that method",
);

/// `route` when the request's method is `allowed`, else 405.
fn only(method: &Method, allowed: Method, route: Route) -> Result<Route, Refusal> {
    if *method == allowed {
        Ok(route)
    } else {
        Err(WRONG_METHOD)
    }
}

pub(super) fn route(method: &Method, path: &str) -> Result<Route, Refusal> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let n = segs.len();
    let is_create = segs.last() == Some(&"deletions");
    let is_status = n >= 2 && segs[n - 2..] == ["deletions", "status"];
    let mirror = (n >= 6 && segs[n - 6] == "v1" && segs[n - 4] == "providers" && segs[n - 2] == "checkpoints")
        .then(|| (segs[n - 5], segs[n - 3], segs[n - 1]));
    let cbr_mirror = (n >= 4 && segs[n - 4] == "v3" && segs[n - 2] == "backups").then(|| (segs[n - 3], segs[n - 1]));
    let task = (n >= 2 && segs[n - 2] == "deletions" && segs[n - 1] != "status").then(|| segs[n - 1]);
    if n >= 2 && segs[n - 2] == "selections" && mirror.is_none() && cbr_mirror.is_none() {
        let selection_id = segs[n - 1].into();
        return only(method, Method::GET, Route::Selection { selection_id });
    }
    if let Some(task_id) = task.filter(|_| mirror.is_none()) {
        let task_id = task_id.into();
        return only(method, Method::GET, Route::Task { task_id });
    }
    if let Some((p, b)) = cbr_mirror {
        let (project_id, backup_id) = (p.into(), b.into());
        return only(method, Method::DELETE, Route::CbrMirror { project_id, backup_id });
    }
    match (method, is_create, is_status, mirror) {
        (&Method::POST, true, _, _) => Ok(Route::Create),
        (&Method::GET, _, true, _) => Ok(Route::Status),
        (&Method::DELETE, _, _, Some((p, pv, c))) => Ok(Route::Mirror {
            project_id: p.into(),
            provider_id: pv.into(),
            checkpoint_id: c.into(),
        }),
        (_, true, _, _) | (_, _, true, _) | (_, _, _, Some(_)) => Err(WRONG_METHOD),
        _ => Err((
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "routes: POST /deletions, DELETE /v1/{project_id}/providers/{provider_id}/checkpoints/{checkpoint_id}, DELETE /v3/{project_id}/backups/{backup_id}, GET /deletions/status, GET /deletions/{task_id}, GET /selections/{selection_id}",
        )),
    }
}
