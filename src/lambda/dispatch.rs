//! The submit function's entry: one function, every trigger. The raw payload is inspected
//! first (an untagged enum of `SqsEvent` and lambda_http's request fails on every HTTP payload),
//! then SQS goes to the batch workflow and HTTP to lambda_http's `Adapter`, which answers in
//! the origin's own response shape.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Service, service_fn};
use lambda_runtime::{Context, Error, LambdaEvent};
use percent_encoding::percent_decode_str;
use serde_json::Value;
use tokio::time::Instant;

use super::http::handle_http;
use super::work_deadline;
use crate::codes::ErrorCode;
use crate::submit::Record;
use crate::webhook;
use crate::wiring::SubmitApp;

/// The event shapes the submit function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Sqs,
    /// API Gateway REST (v1 payload).
    ApiGatewayRest,
    /// API Gateway HTTP API or a Function URL (v2 payload).
    HttpApiV2,
    Alb,
}

pub fn shape_of(payload: &Value) -> Option<Shape> {
    let records = payload.get("Records").and_then(Value::as_array);
    if records.is_some_and(|r| {
        !r.is_empty()
            && r.iter()
                .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
    }) {
        return Some(Shape::Sqs);
    }
    let ctx = payload.get("requestContext")?;
    if ctx.get("elb").is_some() {
        Some(Shape::Alb)
    } else if payload.get("version").and_then(Value::as_str) == Some("2.0") && ctx.get("http").is_some() {
        Some(Shape::HttpApiV2)
    } else if payload.get("httpMethod").is_some() {
        Some(Shape::ApiGatewayRest)
    } else {
        None
    }
}

/// The canonical query of an HTTP payload (docs/DESIGN.md, "HTTP API"): what a v2 signature
/// covers and what the routes read. v2 payloads carry the raw query; REST v1 passes decoded
/// parameters, ALB the values as they were sent (still encoded): all end in the same string.
pub fn raw_query(payload: &Value, shape: Shape) -> String {
    if shape == Shape::HttpApiV2 {
        let raw = payload.get("rawQueryString").and_then(Value::as_str).unwrap_or("");
        return webhook::canonical_raw_query(raw);
    }
    let decode = |s: &str| -> String {
        if shape == Shape::Alb {
            percent_decode_str(s).decode_utf8_lossy().into_owned()
        } else {
            s.to_owned()
        }
    };
    let mut pairs = Vec::new();
    if let Some(multi) = payload
        .get("multiValueQueryStringParameters")
        .and_then(Value::as_object)
    {
        for (k, vs) in multi {
            for v in vs.as_array().into_iter().flatten().filter_map(Value::as_str) {
                pairs.push((decode(k), decode(v)));
            }
        }
    } else if let Some(single) = payload.get("queryStringParameters").and_then(Value::as_object) {
        for (k, v) in single {
            pairs.push((decode(k), decode(v.as_str().unwrap_or_default())));
        }
    }
    webhook::canonical_query(pairs)
}

/// Whether the payload says its body is base64 and the body does not decode: lambda_http
/// would panic on it (aws_lambda_events' `Body::from_maybe_encoded`), so it is answered here.
fn invalid_base64_body(payload: &Value) -> bool {
    use base64::Engine;
    payload.get("isBase64Encoded").and_then(Value::as_bool) == Some(true)
        && payload
            .get("body")
            .and_then(Value::as_str)
            .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_err())
}

/// The submit function's handler: the invocation runs in its X-Ray trace (crate::trace), then
/// its metrics are published.
pub async fn handle(app: &SubmitApp, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let trace_id = event.context.xray_trace_id.as_deref().and_then(crate::trace::root_of);
    let answer = crate::trace::scope(trace_id, answer(app, event)).await;
    if let Some(sink) = &app.metrics {
        super::publish_metrics(&sink.take(), &app.submitter.csbs().take_latencies());
    }
    answer
}

async fn answer(app: &SubmitApp, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let deadline = work_deadline(context.deadline);
    match shape_of(&payload) {
        Some(Shape::Sqs) => {
            let event: SqsEvent = serde_json::from_value(payload)?;
            let failures = handle_sqs(app, event, deadline).await;
            Ok(serde_json::to_value(failures)?)
        }
        Some(_) if invalid_base64_body(&payload) => {
            tracing::warn!(
                code = ErrorCode::InvalidBody.as_str(),
                "refused an HTTP request whose base64 body does not decode"
            );
            answer_fixed(
                payload,
                context,
                ErrorCode::InvalidBody,
                "the body is marked base64 (isBase64Encoded) and is not valid base64",
            )
            .await
        }
        Some(shape) => {
            let raw_query = raw_query(&payload, shape);
            let request: LambdaRequest = serde_json::from_value(payload.clone())?;
            match handle_http_event(app, request, context.clone(), raw_query, deadline) {
                Ok(answer) => Ok(serde_json::to_value(answer.await?)?),
                Err(()) => {
                    answer_fixed(
                        payload,
                        context,
                        ErrorCode::InvalidRequest,
                        "the request URI is not valid",
                    )
                    .await
                }
            }
        }
        None => Err(Error::from(
            "unsupported event: expected an SQS batch or an HTTP request from API Gateway (REST or HTTP API), a Function URL or an ALB",
        )),
    }
}

async fn handle_sqs(app: &SubmitApp, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let records: Vec<Record> = event
        .records
        .into_iter()
        .map(|r| {
            let sent_at = r
                .attributes
                .get("SentTimestamp")
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(chrono::DateTime::from_timestamp_millis);
            Record {
                message_id: r.message_id.unwrap_or_default(),
                body: r.body.unwrap_or_default(),
                sent_at,
            }
        })
        .collect();
    let failed = app.submitter.submit_batch(&records, deadline).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// Hands an HTTP payload to lambda_http's Adapter. Building the `http::Request` panics inside
/// lambda_http when the path or host cannot form a URI (found by the fuzz tests); that panic is
/// contained here (`Err`) instead of failing the invocation.
fn handle_http_event<'a>(
    app: &'a SubmitApp,
    request: LambdaRequest,
    context: Context,
    raw_query: String,
    deadline: Instant,
) -> Result<impl Future<Output = Result<impl serde::Serialize, Error>> + 'a, ()> {
    let service = service_fn(move |req: lambda_http::Request| {
        let raw_query = raw_query.clone();
        async move { Ok::<_, Error>(handle_http(app, req, &raw_query, deadline).await) }
    });
    let mut adapter = Adapter::from(service);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        adapter.call(LambdaEvent::new(request, context))
    }))
    .map_err(|_| tracing::warn!("refused an HTTP request whose URI is not valid"))
}

/// A 400 in the origin's own shape for a request lambda_http cannot read (a path that forms
/// no URI, a base64 body that does not decode): the payload is run again with an empty path,
/// query, headers and body, and answered by a fixed handler.
async fn answer_fixed(mut payload: Value, context: Context, code: ErrorCode, message: &str) -> Result<Value, Error> {
    for key in ["rawPath", "path"] {
        if payload.get(key).is_some() {
            payload[key] = Value::String("/".into());
        }
    }
    for key in ["rawQueryString"] {
        if payload.get(key).is_some() {
            payload[key] = Value::String(String::new());
        }
    }
    for key in [
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "cookies",
    ] {
        if let Some(o) = payload.as_object_mut() {
            o.remove(key);
        }
    }
    if let Some(http) = payload.pointer_mut("/requestContext/http") {
        http["path"] = Value::String("/".into());
    }
    if let Some(p) = payload.pointer_mut("/requestContext/path") {
        *p = Value::String("/".into());
    }
    payload["headers"] = serde_json::json!({});
    payload["body"] = Value::String(String::new());
    payload["isBase64Encoded"] = Value::Bool(false);
    if payload.get("multiValueHeaders").is_some() {
        payload["multiValueHeaders"] = serde_json::json!({});
    }
    let request: LambdaRequest = serde_json::from_value(payload)?;
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    let service = service_fn(move |_req: lambda_http::Request| {
        let body = body.clone();
        async move {
            Ok::<_, Error>(
                lambda_http::Response::builder()
                    .status(400)
                    .header("content-type", "application/json")
                    .body(lambda_http::Body::Text(body.to_string()))
                    .expect("valid response"),
            )
        }
    });
    let mut adapter = Adapter::from(service);
    let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        adapter.call(LambdaEvent::new(request, context))
    }))
    .map_err(|_| Error::from("the HTTP request could not be read"))?;
    Ok(serde_json::to_value(call.await?)?)
}
