//! The HTTP API (docs/DESIGN.md, "HTTP API"), the same for every origin: `POST /deletions`, the
//! CSBS-mirroring `DELETE /v1/{project}/providers/{provider}/checkpoints/{checkpoint}`, the
//! CBR-mirroring `DELETE /v3/{project}/backups/{backup}` and `GET /deletions/status`, each under
//! any stage prefix.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cloud::CloudError;
use crate::codes::ErrorCode;
use crate::ports::intake::Intake;
use crate::ports::ledger::LedgerError;
use crate::query::parse_query;
use crate::request::{DeletionRequest, RequestError};
use crate::selection::SelectionRequest;
use crate::status::{self, StatusError};
use crate::submit::{Accepted, SubmitError};
use crate::task::rfc3339;
use crate::webhook;
use crate::wiring::SubmitApp;

use super::route::{Route, route};

/// Bodies above this are refused with 413 before anything else is done.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub(super) fn json_response(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .expect("valid response")
}

pub(super) fn error(status: StatusCode, code: impl AsRef<str>, message: &str) -> Response<Body> {
    json_response(status, json!({"error": {"code": code.as_ref(), "message": message}}))
}

pub(super) fn with_retry_after(mut r: Response<Body>, secs: u32) -> Response<Body> {
    r.headers_mut().insert("retry-after", secs.into());
    r
}

fn request_error(e: &RequestError) -> Response<Body> {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(
        status,
        json!({"error": {"code": e.code, "message": e.message, "field": e.field}}),
    )
}

/// 502 for a CSBS that keeps refusing our credentials or an endpoint that does not serve it
/// (a gateway 404), 503 for one that is failing.
fn cloud_failing(code: &str, message: &str, bad_gateway: bool) -> Response<Body> {
    if bad_gateway {
        with_retry_after(error(StatusCode::BAD_GATEWAY, code, message), 30)
    } else {
        with_retry_after(error(StatusCode::SERVICE_UNAVAILABLE, code, message), 5)
    }
}

/// Answers one HTTP request. `raw_query` is the canonical query of the request
/// ([`webhook::canonical_query`], built from the origin's parameters by the dispatch).
pub async fn handle_http(app: &SubmitApp, req: Request, raw_query: &str, deadline: Instant) -> Response<Body> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            &format!("the body is over {MAX_BODY_BYTES} bytes"),
        );
    }
    let route = match route(req.method(), req.uri().path()) {
        Ok(r) => r,
        Err((status, code, message)) => return error(status, code, message),
    };
    if let Err(refused) = authorize(app, &req, &route, raw_query) {
        return *refused;
    }
    answer(app, route, body, raw_query, deadline).await
}

/// The webhook signature (or the IAM identity) of the request, for exactly its method, route
/// path, query and body (docs/DESIGN.md, "HTTP API and signatures").
fn authorize(app: &SubmitApp, req: &Request, route: &Route, raw_query: &str) -> Result<(), Box<Response<Body>>> {
    let signed = webhook::Signed {
        method: req.method().as_str(),
        path: &route.signed_path(),
        query: raw_query,
        body: req.body().as_ref(),
    };
    let header = req.headers().get(webhook::HEADER).and_then(|v| v.to_str().ok());
    let caller = iam_caller(req);
    if let Err(e) = webhook::authorize(
        &app.webhook,
        caller.as_deref(),
        header,
        &signed,
        chrono::Utc::now().timestamp(),
    ) {
        tracing::warn!(code = e.code().as_str(), "refused an unauthenticated HTTP request");
        return Err(Box::new(error(StatusCode::UNAUTHORIZED, e.code(), &e.to_string())));
    }
    if let (webhook::WebhookPolicy::Iam, Some(caller)) = (&app.webhook, &caller) {
        tracing::info!(caller = %caller, "IAM caller");
    }
    Ok(())
}

/// The answer of an authorized request.
async fn answer(app: &SubmitApp, route: Route, body: &[u8], raw_query: &str, deadline: Instant) -> Response<Body> {
    match route {
        Route::Create => match crate::request::parse_json(body, "the body") {
            Err(e) => request_error(&e),
            Ok(v) => match crate::ports::intake::parse_value(&v) {
                Ok(Intake::Delete(r)) => submit(app, &r, deadline).await,
                Ok(Intake::Select(s)) => select(app, &s, deadline).await,
                Ok(Intake::Step(_)) => error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidRequest,
                    "fan_out: fan-out steps are sent by the selection workflow to the intake queue, never over HTTP",
                ),
                Err(e) => request_error(&e),
            },
        },
        Route::Mirror {
            project_id,
            provider_id,
            checkpoint_id,
        } => {
            let (_, items) = match parse_query(raw_query, "checkpoint_items", &[]) {
                Ok(q) => q,
                Err(e) => return request_error(&e),
            };
            let mut v = json!({"project_id": project_id, "provider_id": provider_id, "checkpoint_id": checkpoint_id});
            if !items.is_empty() {
                v["checkpoint_items"] = json!(items);
            }
            match DeletionRequest::from_value(&v) {
                Ok(r) => submit(app, &r, deadline).await,
                Err(e) => request_error(&e),
            }
        }
        Route::CbrMirror { project_id, backup_id } => {
            // The CBR DELETE takes no query parameter; neither does its mirror.
            if let Err(e) = parse_query(raw_query, "", &[]) {
                return request_error(&e);
            }
            let v = json!({"service": "cbr", "project_id": project_id, "backup_id": backup_id});
            match DeletionRequest::from_value(&v) {
                Ok(r) => submit(app, &r, deadline).await,
                Err(e) => request_error(&e),
            }
        }
        Route::Status => status_answer(status::live(&app.submitter, raw_query, deadline).await),
        Route::Task { task_id } => {
            if let Err(e) = parse_query(raw_query, "", &[]) {
                return request_error(&e);
            }
            status_answer(status::task(&app.submitter, &task_id, deadline).await)
        }
        Route::Selection { selection_id } => {
            if let Err(e) = parse_query(raw_query, "", &[]) {
                return request_error(&e);
            }
            status_answer(status::selection(&app.submitter, &selection_id, deadline).await)
        }
    }
}

/// The caller's IAM identity (its user ARN) as API Gateway or the function URL put it in the
/// request context after checking a SigV4 signature: HTTP API and function URL
/// `requestContext.authorizer.iam.userArn`, REST API `requestContext.identity.userArn`. An ALB
/// authenticates no IAM caller.
fn iam_caller(req: &Request) -> Option<String> {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(c) => c.authorizer.as_ref()?.iam.as_ref()?.user_arn.clone(),
        RequestContext::ApiGatewayV1(c) => c.identity.user_arn.clone(),
        _ => None,
    }
    .filter(|arn| !arn.trim().is_empty())
}

/// Most plan rows a dry run answers with (the counts are always whole).
pub const MAX_PLAN_ROWS: usize = 1000;

/// A selection: a dry run answers `200` with the plan, a real run `202` with the counts and
/// the selection id (docs/DESIGN.md, "Selection requests").
async fn select(app: &SubmitApp, req: &SelectionRequest, deadline: Instant) -> Response<Body> {
    let span = tracing::info_span!("http_selection", project_id = %req.select.project_id, dry_run = req.dry_run);
    let _enter = span.enter();
    if !app.submitter.is_allowed(&req.select.project_id) {
        return not_allowed(&req.select.project_id);
    }
    match app.submitter.expander().expand(req, chrono::Utc::now(), deadline).await {
        Ok(exp) => {
            let mut body = json!({
                "selection_id": exp.selection_id,
                "status": "planned",
                "dry_run": req.dry_run,
                "counts": exp.plan.counts,
            });
            if req.dry_run {
                body["plan"] = json!(exp.plan.rows.iter().take(MAX_PLAN_ROWS).collect::<Vec<_>>());
                body["truncated"] = json!(exp.plan.rows.len() > MAX_PLAN_ROWS);
                json_response(StatusCode::OK, body)
            } else {
                body["sent"] = json!(exp.sent);
                json_response(StatusCode::ACCEPTED, body)
            }
        }
        Err(e) => refusal(e, "selection_id"),
    }
}

async fn submit(app: &SubmitApp, req: &DeletionRequest, deadline: Instant) -> Response<Body> {
    let span = tracing::info_span!("http_request", task_id = %crate::task::task_id(req), project_id = %req.project_id, checkpoint_id = %req.checkpoint_id.as_deref().unwrap_or(""), target = %req.target_label(), request_id = req.request_id.as_deref().unwrap_or(""), trace_id = crate::trace::current().unwrap_or_default());
    let _enter = span.enter();
    match app.submitter.submit(req, deadline).await {
        // A copy of a decided request: the recorded outcome, whatever it is (docs/DESIGN.md,
        // "Decisions": the request is decided, not refused).
        Ok(Accepted::Decided(d)) => json_response(
            StatusCode::OK,
            json!({"task_id": d.task.task_id, "status": d.event.outcome.as_str(), "decided_at": d.event.finished_at, "event": d.event}),
        ),
        Ok(accepted) => {
            let task = accepted.task();
            let (code, status) = match accepted {
                Accepted::Submitted(_) => (StatusCode::ACCEPTED, "submitted"),
                Accepted::Completed(_) => (StatusCode::OK, "completed"),
                Accepted::Decided(_) => unreachable!("answered above"),
            };
            let mut body = json!({"task_id": task.task_id, "status": status, "submitted_at": rfc3339(task.submitted_at), "deadline": rfc3339(task.deadline)});
            if !task.refused_items.is_empty() {
                // The task goes on for the accepted items and will end Failed naming these.
                body["refused_items"] = json!(task.refused_items);
            }
            json_response(code, body)
        }
        Err(e) => refusal(e, "task_id"),
    }
}

/// The answer to a request that did not go through; `id_key` names the Rejected event's
/// task id in the body (`task_id`, or `selection_id` for a selection).
fn refusal(e: SubmitError, id_key: &str) -> Response<Body> {
    match e {
        SubmitError::NotAllowed { project_id } => not_allowed(&project_id),
        SubmitError::Invalid(e) => request_error(&e),
        SubmitError::Rejected { event } => {
            let e = event.error.clone().expect("a Rejected event has an error");
            let code = if e.http_status == Some(403) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            json_response(
                code,
                json!({id_key: event.task_id, "status": "rejected", "error": {"code": e.code, "message": e.message}}),
            )
        }
        SubmitError::Transient {
            code,
            message,
            bad_gateway,
        } => cloud_failing(&code, &message, bad_gateway),
    }
}

pub(super) fn not_allowed(project_id: &str) -> Response<Body> {
    error(
        StatusCode::FORBIDDEN,
        ErrorCode::ProjectNotAllowed,
        &format!("project {project_id} is not in ALLOWED_PROJECT_IDS"),
    )
}

fn cloud_error(e: &CloudError) -> Response<Body> {
    match e.class() {
        crate::cloud::ErrorClass::Permanent if e.http_status() == Some(403) => {
            error(StatusCode::FORBIDDEN, e.code(), &e.to_string())
        }
        crate::cloud::ErrorClass::Permanent => error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
        _ => cloud_failing(&e.code(), &e.to_string(), e.is_bad_gateway()),
    }
}

/// A status read's answer: 200 with its body, or its refusal.
fn status_answer(read: Result<Value, StatusError>) -> Response<Body> {
    match read {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(StatusError::Invalid(m)) => error(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, &m),
        Err(StatusError::Request(e)) => request_error(&e),
        Err(StatusError::NotAllowed(p)) => not_allowed(&p),
        Err(StatusError::UnknownTask(task_id)) => error(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownTask,
            &format!(
                "task {task_id} is not in the decision ledger (never submitted, refused before reaching the service, or expired)"
            ),
        ),
        Err(StatusError::UnknownSelection(selection_id)) => error(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownSelection,
            &format!("selection {selection_id} is not in the decision ledger (never planned, a dry run, or expired)"),
        ),
        Err(StatusError::Ledger(e @ LedgerError::Unavailable(_))) => {
            with_retry_after(error(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.to_string()), 5)
        }
        Err(StatusError::Ledger(e)) => {
            tracing::error!(error = %e, "a ledger record cannot be read");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.code(), &e.to_string())
        }
        Err(StatusError::Cloud(e)) => cloud_error(&e),
    }
}
