//! The payloads the local run sends through the real submit entry point: API Gateway HTTP
//! API (v2) requests signed as a client signs them, SQS batches, Lambda contexts.

use std::time::Duration;

use lambda_runtime::Context;
use serde_json::{Value, json};

use super::LOCAL_WEBHOOK_SECRET;
use crate::secret::Secret;
use crate::webhook;

pub(super) fn context(secs: u64) -> Context {
    let mut c = Context::default();
    c.request_id = uuid::Uuid::new_v4().to_string();
    c.deadline = (std::time::SystemTime::now() + Duration::from_secs(secs))
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    c
}

/// An API Gateway HTTP API (v2) payload, signed with the local secret.
pub fn http_v2_event(
    method: &str,
    path: &str,
    raw_query: &str,
    body: Option<&str>,
    signature: Option<String>,
) -> Value {
    let mut headers =
        json!({"content-type": "application/json", "host": "127.0.0.1", "user-agent": "csbs-deleter-local"});
    if let Some(s) = signature {
        headers["x-signature-256"] = json!(s);
    }
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local"},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": false
    });
    if let Some(b) = body {
        ev["body"] = json!(b);
    }
    ev
}

pub(super) fn signed_post(body: &Value) -> Value {
    signed_http("POST", "/deletions", "", Some(&body.to_string()))
}

/// An HTTP API v2 payload signed as a client signs it (v2: method, path, canonical query, body).
pub(super) fn signed_http(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    let canonical = webhook::canonical_raw_query(query);
    let signed = webhook::Signed {
        method,
        path,
        query: &canonical,
        body: body.unwrap_or("").as_bytes(),
    };
    let sig = webhook::sign(
        &Secret::new(LOCAL_WEBHOOK_SECRET),
        chrono::Utc::now().timestamp(),
        &signed,
    );
    http_v2_event(method, path, query, body, Some(sig))
}

pub(super) fn sqs_event(bodies: &[Value]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            json!({
                "messageId": format!("local-{i}"), "receiptHandle": format!("rh-{i}"), "body": b.to_string(),
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-central-1:000000000000:csbs-deleter-intake", "awsRegion": "eu-central-1"
            })
        })
        .collect();
    json!({"Records": records})
}
