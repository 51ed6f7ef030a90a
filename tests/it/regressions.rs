//! Regression tests for the wrong-terminal-event bugs (issue "No wrong terminal event"), each
//! through the real Lambda handlers, against the CSBS simulator and moto (SQS, EventBridge,
//! Secrets Manager). Each one fails on the code before its fix.

use std::time::Duration;

use crate::common::*;
use csbs_deleter::lambda::{dispatch, poll};
use csbs_deleter::sim::{DEMO_PROJECT as P, Fault, ItemSeed, Route};
use csbs_deleter::wiring;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn http_post(body: &Value) -> Value {
    let mut ev = fixture("http-api-v2.json");
    ev["body"] = json!(body.to_string());
    resign(&mut ev, WEBHOOK_SECRET);
    ev
}

/// Bug 1: a 404 from the API gateway (`APIGW.0101`: no CSBS under this endpoint or path) or a
/// 404 without a JSON error body said "already gone": a Completed event while nothing was
/// deleted. Now it is a configuration error: handed back to SQS (→ DLQ and alarm), 502 over
/// HTTP, and no event at all.
#[tokio::test]
async fn a_gateway_404_is_never_completed() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed(P, "gw404", &[ItemSeed::ok("gw404-a")]);
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let request = json!({"project_id": P, "checkpoint_id": "gw404"});
    for fault in [
        Fault::status(Route::Delete, 404).with_code("APIGW.0101"),
        Fault::status(Route::Delete, 404).with_raw_body("<html><body><h1>404 Not Found</h1></body></html>"),
        Fault::status(Route::Delete, 404).with_raw_body(""),
    ] {
        sim.sim.clear_faults();
        sim.sim.add_fault(fault.clone());
        let answer = dispatch::handle(&app, event(sqs_body_event(std::slice::from_ref(&request)), 20))
            .await
            .unwrap();
        assert_eq!(failures(&answer), ["m-0"], "{fault:?}: handed back to SQS");
        let answer = dispatch::handle(&app, event(http_post(&request), 20)).await.unwrap();
        let (status, body) = http_answer(&answer);
        assert_eq!(status, 502, "{fault:?}: {body}");
        assert!(answer["headers"]["retry-after"].is_string());
    }
    infra.no_more_events().await;
    assert_eq!(infra.pending_count().await, 0);
    assert_eq!(sim.sim.item_status(P, "gw404-a").as_deref(), Some("available"));

    // The service's own not-found (CSBS.3001) still means gone.
    sim.sim.clear_faults();
    let gone = json!({"project_id": P, "checkpoint_id": "never-existed"});
    let answer = dispatch::handle(&app, event(sqs_body_event(&[gone]), 20))
        .await
        .unwrap();
    assert_eq!(failures(&answer), Vec::<String>::new());
    let events = infra.events(1, WAIT).await;
    assert_eq!(events[0]["outcome"], "completed");

    // A pending task whose check meets a gateway 404 stays pending: no Completed.
    sim.sim
        .set_delete_duration(Duration::from_millis(50), Duration::from_millis(50));
    let answer = dispatch::handle(&app, event(sqs_body_event(&[request]), 20))
        .await
        .unwrap();
    assert_eq!(failures(&answer), Vec::<String>::new());
    assert_eq!(infra.events(1, WAIT).await[0]["outcome"], "submitted");
    sim.sim
        .add_fault(Fault::status(Route::List, 404).with_code("APIGW.0101"));
    sim.sim
        .add_fault(Fault::status(Route::Get, 404).with_code("APIGW.0101"));
    let config = infra.config(&sim, &[("POLL_WINDOW_SECONDS", "0")]);
    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let summary = poll::handle(&poll_app, event(fixture("schedule-v2.json"), 20))
        .await
        .unwrap();
    assert_eq!(
        (
            summary["checked"].as_u64(),
            summary["completed"].as_u64(),
            summary["still_pending"].as_u64()
        ),
        (Some(1), Some(0), Some(1)),
        "{summary}"
    );
    infra.no_more_events().await;
    assert_eq!(infra.pending_count().await, 1, "the task is kept");
}

/// Bug 2: with several items, one refused for good made the whole request Rejected and
/// recorded no pending task, while the accepted DELETEs ran unwatched. Now the task goes on
/// for the accepted items and ends Failed, naming the refused item and its code.
#[tokio::test]
async fn one_refused_item_leaves_the_others_tracked_and_ends_failed() {
    require_moto!();
    let sim = sim().await;
    sim.sim
        .set_delete_duration(Duration::from_millis(100), Duration::from_millis(300));
    let items = ["mix-a", "mix-b", "mix-c"];
    sim.sim.seed(P, "mix", &items.map(ItemSeed::ok));
    sim.sim
        .add_fault(Fault::status(Route::Delete, 400).on_path("checkpoint_items=mix-b"));
    let infra = Infra::new(&aksk_json()).await;
    let config = infra.config(&sim, &[("POLL_INTERVAL_SECONDS", "1"), ("POLL_WINDOW_SECONDS", "15")]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let request = json!({"project_id": P, "checkpoint_id": "mix", "checkpoint_items": items, "request_id": "mix"});
    let answer = dispatch::handle(&app, event(sqs_body_event(&[request]), 20))
        .await
        .unwrap();
    assert_eq!(failures(&answer), Vec::<String>::new());
    let submitted = infra.events(1, WAIT).await;
    assert_eq!(
        submitted[0]["outcome"], "submitted",
        "not Rejected: two items were accepted"
    );
    let pending = infra.pending_bodies().await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["refused_items"][0]["item_id"], "mix-b");
    assert_eq!(pending[0]["refused_items"][0]["code"], "CSBS.9006");
    for id in ["mix-a", "mix-c"] {
        assert_ne!(
            sim.sim.item_status(P, id).as_deref(),
            Some("available"),
            "{id} is being deleted"
        );
    }

    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let summary = poll::handle(&poll_app, event(fixture("schedule-v2.json"), 30))
        .await
        .unwrap();
    assert_eq!(summary["failed"], 1, "{summary}");
    let events = infra.events(1, WAIT).await;
    let failed = &events[0];
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["task_id"], submitted[0]["task_id"]);
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("mix-b") && message.contains("CSBS.9006"), "{message}");
    assert!(!message.contains("mix-a") && !message.contains("mix-c"), "{message}");
    assert_eq!(sim.sim.item_status(P, "mix-a"), None, "the accepted items were deleted");
    assert_eq!(sim.sim.item_status(P, "mix-c"), None);
    assert_eq!(sim.sim.item_status(P, "mix-b").as_deref(), Some("available"));
    assert_eq!(infra.pending_count().await, 0);

    // Over HTTP the answer is 202 and names the refused item.
    sim.sim
        .seed(P, "mix2", &[ItemSeed::ok("mix2-a"), ItemSeed::ok("mix2-b")]);
    sim.sim
        .add_fault(Fault::status(Route::Delete, 400).on_path("checkpoint_items=mix2-b"));
    let request = json!({"project_id": P, "checkpoint_id": "mix2", "checkpoint_items": ["mix2-a", "mix2-b"]});
    let (status, body) = http_answer(&dispatch::handle(&app, event(http_post(&request), 20)).await.unwrap());
    assert_eq!((status, body["status"].as_str()), (202, Some("submitted")), "{body}");
    assert_eq!(body["refused_items"][0]["item_id"], "mix2-b");
    assert_eq!(infra.events(1, WAIT).await[0]["outcome"], "submitted");

    // Every item refused: Rejected, as before, and nothing pending.
    sim.sim.seed(P, "mix3", &[ItemSeed::ok("mix3-a")]);
    sim.sim.add_fault(Fault::status(Route::Delete, 400).on_path("mix3"));
    let before = infra.pending_count().await;
    let request = json!({"project_id": P, "checkpoint_id": "mix3", "checkpoint_items": ["mix3-a"]});
    let (status, _) = http_answer(&dispatch::handle(&app, event(http_post(&request), 20)).await.unwrap());
    assert_eq!(status, 400);
    assert_eq!(infra.events(1, WAIT).await[0]["outcome"], "rejected");
    assert_eq!(infra.pending_count().await, before);
}

/// Bug 3: a server's Retry-After kept the retries going after the backoff's attempts were
/// used up, so a CSBS answering 429 forever was called until the invocation's deadline.
/// Now it is called `max_attempts` (6) times, then the request is handed back.
#[tokio::test]
async fn retry_after_does_not_outlive_the_retry_budget() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed(P, "busy", &[ItemSeed::ok("busy-a")]);
    sim.sim.add_fault(Fault {
        retry_after: Some(1),
        ..Fault::status(Route::Delete, 429)
    });
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let request = json!({"project_id": P, "checkpoint_id": "busy"});
    let answer = dispatch::handle(&app, event(http_post(&request), 28)).await.unwrap();
    let (status, body) = http_answer(&answer);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("APIGW.0308")),
        "{body}"
    );
    assert_eq!(sim.sim.stats().delete, 6, "max_attempts calls, not until the deadline");
    let answer = dispatch::handle(&app, event(sqs_body_event(&[request]), 28))
        .await
        .unwrap();
    assert_eq!(failures(&answer), ["m-0"]);
    assert_eq!(sim.sim.stats().delete, 12);
    infra.no_more_events().await;
}

/// Bug 4: `now - ts` overflowed in the webhook verifier for `t=-9223372036854775808` (a panic
/// in debug builds, a wrapped difference in release). Extreme timestamps are now stale.
#[tokio::test]
async fn extreme_signature_timestamps_are_refused_not_a_panic() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_demo();
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let body = json!({"project_id": P, "checkpoint_id": "c0ffee00-0000-4000-8000-000000000000"}).to_string();
    for t in [i64::MIN, i64::MIN + 1, i64::MAX, -1, 0] {
        let mut ev = fixture("http-api-v2.json");
        ev["body"] = json!(body);
        set_header(
            &mut ev,
            "x-signature-256",
            &signature_v2(WEBHOOK_SECRET, t, "POST", "/deletions", "", body.as_bytes()),
        );
        let (status, answer) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (401, Some("signature_expired")),
            "t={t}"
        );
    }
    // Out-of-range and malformed timestamps are malformed.
    for header in [
        "t=-9223372036854775809,v2=00",
        "t=9223372036854775808,v2=00",
        "t=,v2=00",
    ] {
        let mut ev = fixture("http-api-v2.json");
        set_header(&mut ev, "x-signature-256", header);
        let (status, answer) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (401, Some("signature_malformed"))
        );
    }
    assert_eq!(sim.sim.stats().csbs_calls(), 0);
    infra.no_more_events().await;
}

/// The signature of a body-less request covers the canonical query: REST v1 (a multi-value
/// map) and ALB (still-encoded values) carry only parsed parameters, and a client's v2
/// signature over the query it sent verifies whatever order it sent the parameters in; a
/// signature over another value does not.
#[tokio::test]
async fn rest_and_alb_status_requests_verify_over_the_canonical_query() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_demo();
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let checkpoint = "c0ffee00-0000-4000-8000-000000000000";
    let params = json!({"project_id": P, "checkpoint_id": checkpoint});
    let multi = json!({"project_id": [P], "checkpoint_id": [checkpoint]});
    let sign = |ev: &mut Value, query: &str| {
        let sig = signature_v2(
            WEBHOOK_SECRET,
            chrono::Utc::now().timestamp(),
            "GET",
            "/deletions/status",
            query,
            b"",
        );
        set_header(ev, "x-signature-256", &sig);
    };
    for name in ["apigw-rest.json", "alb.json"] {
        let mut ev = fixture(name);
        ev["httpMethod"] = json!("GET");
        ev["path"] = json!("/deletions/status");
        ev["body"] = Value::Null;
        if name == "apigw-rest.json" {
            ev["resource"] = json!("/deletions/status");
            ev["requestContext"]["httpMethod"] = json!("GET");
            ev["requestContext"]["path"] = json!("/prod/deletions/status");
            ev["queryStringParameters"] = params.clone();
            ev["multiValueQueryStringParameters"] = multi.clone();
        } else {
            ev["queryStringParameters"] = params.clone();
        }
        for literal in [
            format!("project_id={P}&checkpoint_id={checkpoint}"),
            format!("checkpoint_id={checkpoint}&project_id={P}"),
        ] {
            sign(&mut ev, &literal);
            let (status, body) = http_answer(&dispatch::handle(&app, event(ev.clone(), 20)).await.unwrap());
            assert_eq!(status, 200, "{name} {literal}: {body}");
            assert_eq!(body["checkpoint_id"], checkpoint);
        }
        // A signature over another checkpoint does not verify for this one.
        sign(
            &mut ev,
            &format!("checkpoint_id=c0ffee00-0000-4000-8000-000000000001&project_id={P}"),
        );
        let (status, body) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("signature_invalid")),
            "{name}"
        );
    }
}
