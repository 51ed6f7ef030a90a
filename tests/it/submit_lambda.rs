//! The submit function's handler driven with real AWS payload shapes (events/), against the
//! CSBS simulator and a moto server (SQS, EventBridge, Secrets Manager).

use std::time::Duration;

use crate::common::*;
use csbs_deleter::lambda::dispatch;
use csbs_deleter::sim::{DEMO_PROJECT as P, Fault, ItemSeed, Route};
use csbs_deleter::wiring;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn sqs_event(records: &[(&str, String)]) -> Value {
    // Sent a minute ago, as a fresh message would have been.
    sqs_event_sent(records, chrono::Utc::now().timestamp_millis() - 60_000)
}

/// An SQS batch whose messages carry `sent_ms` as SentTimestamp (a redelivery keeps it).
fn sqs_event_sent(records: &[(&str, String)], sent_ms: i64) -> Value {
    let mut ev = fixture("sqs.json");
    let mut template = ev["Records"][0].clone();
    template["attributes"]["SentTimestamp"] = json!(sent_ms.to_string());
    ev["Records"] = records
        .iter()
        .map(|(id, body)| {
            let mut r = template.clone();
            r["messageId"] = json!(id);
            r["body"] = json!(body);
            r
        })
        .collect();
    ev
}

fn req(checkpoint: &str) -> String {
    json!({"project_id": P, "checkpoint_id": checkpoint}).to_string()
}

#[tokio::test]
async fn sqs_fixture_batch_all_ok() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_demo();
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let answer = dispatch::handle(&app, event(fixture("sqs.json"), 30)).await.unwrap();
    assert_eq!(failures(&answer), Vec::<String>::new());
    let events = infra.events(2, WAIT).await;
    for e in &events {
        assert_eq!(
            (e["outcome"].as_str(), e["_detail_type"].as_str()),
            (Some("submitted"), Some("Checkpoint Deletion Submitted"))
        );
    }
    let mut reqs: Vec<&str> = events.iter().map(|e| e["request_id"].as_str().unwrap()).collect();
    reqs.sort();
    assert_eq!(
        reqs,
        ["req-eb-1", "req-sqs-1"],
        "the EventBridge envelope was unwrapped"
    );
    let with_context = events.iter().find(|e| e["request_id"] == "req-sqs-1").unwrap();
    assert_eq!(with_context["context"], json!({"ticket": "OPS-1"}));
    assert_eq!(infra.pending_count().await, 2);
    assert_eq!(
        sim.sim
            .item_status(P, "be1a0000-0000-4000-8000-000000000000")
            .as_deref(),
        Some("deleting")
    );
}

#[tokio::test]
async fn mixed_batch_reports_only_the_transient_record() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed(P, "ok-ckpt", &[ItemSeed::ok("ok-item")]);
    sim.sim.seed(P, "flaky-ckpt", &[ItemSeed::ok("flaky-item")]);
    sim.sim
        .add_fault(Fault::status(Route::Delete, 503).on_path("flaky-ckpt"));
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let records = [
        ("m-ok", req("ok-ckpt")),
        (
            "m-invalid",
            json!({"project_id": P, "checkpoint_id": "../../etc"}).to_string(),
        ),
        ("m-garbage", "not json at all".to_string()),
        ("m-transient", req("flaky-ckpt")),
    ];
    let answer = dispatch::handle(&app, event(sqs_event(&records), 20)).await.unwrap();
    assert_eq!(failures(&answer), ["m-transient"]);
    let events = infra.events(3, WAIT).await;
    let by = |o: &str| events.iter().filter(|e| e["outcome"] == o).cloned().collect::<Vec<_>>();
    assert_eq!(by("submitted").len(), 1);
    let rejected = by("rejected");
    assert_eq!(rejected.len(), 2);
    for r in &rejected {
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("SQS message m-invalid") || msg.starts_with("SQS message m-garbage"),
            "{msg}"
        );
        assert!(r["task_id"].as_str().unwrap().starts_with("tsk_"));
    }
    let invalid = rejected
        .iter()
        .find(|r| r["error"]["message"].as_str().unwrap().contains("m-invalid"))
        .unwrap();
    assert_eq!(
        (invalid["project_id"].as_str(), invalid["checkpoint_id"].as_str()),
        (Some(P), None),
        "only well-formed strings are echoed"
    );
    assert!(invalid["error"]["message"].as_str().unwrap().contains("checkpoint_id"));
    infra.no_more_events().await;
    assert_eq!(sim.sim.item_status(P, "flaky-item").as_deref(), Some("available"));
}

#[tokio::test]
async fn redelivery_is_answered_2003_and_stays_pending() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed(P, "ckpt-r", &[ItemSeed::ok("item-r")]);
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let body = json!({"project_id": P, "checkpoint_id": "ckpt-r", "request_id": "same"}).to_string();
    // The same message twice in one batch is submitted once.
    let sent = chrono::Utc::now().timestamp_millis() - 60_000;
    let answer = dispatch::handle(
        &app,
        event(sqs_event_sent(&[("a", body.clone()), ("b", body.clone())], sent), 20),
    )
    .await
    .unwrap();
    assert!(failures(&answer).is_empty());
    assert_eq!(sim.sim.stats().delete, 1);
    // A redelivery in a later batch: CSBS answers 400 CSBS.2003, which is not an error.
    let answer = dispatch::handle(&app, event(sqs_event_sent(&[("a", body)], sent), 20))
        .await
        .unwrap();
    assert!(failures(&answer).is_empty());
    assert_eq!(sim.sim.stats().delete, 2);
    let events = infra.events(2, WAIT).await;
    assert_eq!(events[0]["event_id"], events[1]["event_id"], "same task, same event id");
    assert!(events.iter().all(|e| e["outcome"] == "submitted"));
    let pending = infra.pending_bodies().await;
    assert_eq!(pending.len(), 2);
    assert_eq!(
        pending[0], pending[1],
        "a redelivery records a byte-identical task (submitted_at = SentTimestamp)"
    );
}

#[tokio::test]
async fn already_gone_completes_at_once() {
    require_moto!();
    let sim = sim().await;
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let answer = dispatch::handle(&app, event(sqs_event(&[("m", req("never-existed"))]), 20))
        .await
        .unwrap();
    assert!(failures(&answer).is_empty());
    let e = &infra.events(1, WAIT).await[0];
    assert_eq!(
        (e["outcome"].as_str(), e["last_status"].as_str()),
        (Some("completed"), Some("absent"))
    );
    assert!(e["finished_at"].is_string() && e["elapsed_seconds"].is_number());
    assert_eq!(infra.pending_count().await, 0, "nothing to poll");
    // Over HTTP: 200 completed.
    let mut ev = fixture("http-api-v2.json");
    ev["body"] = json!(req("never-existed"));
    resign(&mut ev, WEBHOOK_SECRET);
    let (code, body) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
    assert_eq!((code, body["status"].as_str()), (200, Some("completed")));
}

#[tokio::test]
async fn forbidden_becomes_rejected() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed(P, "ckpt-f", &[ItemSeed::ok("item-f")]);
    sim.sim.add_fault(Fault::status(Route::Delete, 403));
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let answer = dispatch::handle(&app, event(sqs_event(&[("m", req("ckpt-f"))]), 20))
        .await
        .unwrap();
    assert!(
        failures(&answer).is_empty(),
        "a permanent refusal is acknowledged, not retried"
    );
    let e = &infra.events(1, WAIT).await[0];
    assert_eq!(
        (e["outcome"].as_str(), e["error"]["http_status"].as_u64()),
        (Some("rejected"), Some(403))
    );
    assert_eq!(infra.pending_count().await, 0);
    // Over HTTP, a fresh request CSBS refuses with 403 is answered 403.
    sim.sim.seed(P, "ckpt-g", &[ItemSeed::ok("item-g")]);
    let mut ev = fixture("apigw-rest.json");
    ev["body"] = json!(req("ckpt-g"));
    resign(&mut ev, WEBHOOK_SECRET);
    let (code, body) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
    assert_eq!((code, body["status"].as_str()), (403, Some("rejected")));
    // The first request again: decided already (the ledger), so no DELETE, and the answer is
    // the recorded decision (docs/DESIGN.md, "Decisions": decided, not refused).
    let deletes = sim.sim.stats().delete;
    let mut ev = fixture("apigw-rest.json");
    ev["body"] = json!(req("ckpt-f"));
    resign(&mut ev, WEBHOOK_SECRET);
    let (code, body) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
    assert_eq!((code, body["status"].as_str()), (200, Some("rejected")), "{body}");
    assert_eq!(body["event"]["event_id"], e["event_id"], "the recorded event");
    assert_eq!(sim.sim.stats().delete, deletes);
}

#[tokio::test]
async fn token_expiry_logs_in_again() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed(P, "c1", &[ItemSeed::ok("i1")]);
    sim.sim.seed(P, "c2", &[ItemSeed::ok("i2")]);
    let infra = Infra::new(&password_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let a = dispatch::handle(&app, event(sqs_event(&[("m1", req("c1"))]), 20))
        .await
        .unwrap();
    sim.sim.expire_tokens();
    let b = dispatch::handle(&app, event(sqs_event(&[("m2", req("c2"))]), 20))
        .await
        .unwrap();
    assert!(failures(&a).is_empty() && failures(&b).is_empty());
    let st = sim.sim.stats();
    assert_eq!((st.token, st.rejected_auth), (2, 1));
    assert_eq!(
        infra
            .events(2, WAIT)
            .await
            .iter()
            .filter(|e| e["outcome"] == "submitted")
            .count(),
        2
    );
}

#[tokio::test]
async fn every_http_origin_is_answered_in_its_own_shape() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_demo();
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    for (name, expect) in [
        ("apigw-rest.json", 202),
        ("http-api-v2.json", 202),
        ("function-url.json", 202),
        ("alb.json", 202),
        ("http-api-v2-status.json", 200),
    ] {
        let mut ev = fixture(name);
        resign(&mut ev, WEBHOOK_SECRET);
        let answer = dispatch::handle(&app, event(ev, 20)).await.unwrap();
        let (code, body) = http_answer(&answer);
        assert_eq!(code, expect, "{name}: {body}");
        match name {
            "apigw-rest.json" => assert!(answer["multiValueHeaders"]["content-type"].is_array(), "{answer}"),
            "alb.json" => assert_eq!(answer["statusDescription"], "202 Accepted"),
            _ => assert_eq!(answer["headers"]["content-type"], "application/json"),
        }
        if expect == 202 {
            assert_eq!(body["status"], "submitted");
            assert!(body["task_id"].as_str().unwrap().starts_with("tsk_"));
        } else {
            assert_eq!(body["state"], "deleting", "{body}");
            assert_eq!(body["items"].as_array().unwrap().len(), 3);
        }
    }
    assert_eq!(infra.events(4, WAIT).await.len(), 4);
}

#[tokio::test]
async fn webhooks_unsigned_forged_or_stale_are_refused() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_demo();
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let mut unsigned = fixture("http-api-v2.json");
    remove_header(&mut unsigned, "x-signature-256");
    let mut forged = fixture("http-api-v2.json");
    resign(&mut forged, "an-attacker-guessed-secret");
    let stale = fixture("http-api-v2.json"); // signed at a fixed time long ago
    let mut tampered = fixture("apigw-rest.json");
    resign(&mut tampered, WEBHOOK_SECRET);
    tampered["body"] = json!(req("c0ffee00-0000-4000-8000-000000000007"));
    for (ev, code) in [
        (unsigned, "signature_missing"),
        (forged, "signature_invalid"),
        (stale, "signature_expired"),
        (tampered, "signature_invalid"),
    ] {
        let (status, body) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some(code)));
    }
    // No secret and ALLOW_UNSIGNED_HTTP unset: every HTTP request is refused.
    let app = wiring::submit_app(&infra.config(&sim, &[("WEBHOOK_SECRET_ARN", "")]), &infra.aws)
        .await
        .unwrap();
    let mut ev = fixture("http-api-v2.json");
    resign(&mut ev, WEBHOOK_SECRET);
    let (status, body) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unsigned_http_refused"))
    );
    // A configured secret wins over ALLOW_UNSIGNED_HTTP=true.
    let app = wiring::submit_app(&infra.config(&sim, &[("ALLOW_UNSIGNED_HTTP", "true")]), &infra.aws)
        .await
        .unwrap();
    let mut ev = fixture("http-api-v2.json");
    remove_header(&mut ev, "x-signature-256");
    assert_eq!(
        http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap()).0,
        401
    );
    assert_eq!(sim.sim.stats().csbs_calls(), 0, "nothing reached CSBS");
    infra.no_more_events().await;
}

#[tokio::test]
async fn path_injection_ids_never_reach_csbs() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_demo();
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let bad_bodies = [
        json!({"project_id": P, "checkpoint_id": "../../v3/auth/tokens"}),
        json!({"project_id": "p?x=1", "checkpoint_id": "c"}),
        json!({"project_id": P, "checkpoint_id": "c", "checkpoint_items": ["ok", "a/b"]}),
        json!({"project_id": P, "checkpoint_id": "c%2F..", "provider_id": "x"}),
        json!({"project_id": P, "checkpoint_id": "c", "checkpoint_item": "i"}),
    ];
    for b in bad_bodies {
        let mut ev = fixture("http-api-v2.json");
        ev["body"] = json!(b.to_string());
        resign(&mut ev, WEBHOOK_SECRET);
        let (status, body) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
        assert_eq!(status, 400, "{b}: {body}");
        assert!(body["error"]["message"].is_string());
    }
    for (path, query) in [
        (
            format!("/v1/{P}/providers/fc4d5750-22e7-4798-8a46-f48f62c4c1da/checkpoints/..%2F..%2Fx"),
            "",
        ),
        (
            format!(
                "/v1/{P}/providers/fc4d5750-22e7-4798-8a46-f48f62c4c1da/checkpoints/c0ffee00-0000-4000-8000-000000000000"
            ),
            "checkpoint_items=a%2Fb",
        ),
        (
            format!(
                "/v1/{P}/providers/fc4d5750-22e7-4798-8a46-f48f62c4c1da/checkpoints/c0ffee00-0000-4000-8000-000000000000"
            ),
            "other=1",
        ),
    ] {
        let mut ev = fixture("http-api-v2.json");
        ev["requestContext"]["http"]["method"] = json!("DELETE");
        ev["rawPath"] = json!(path);
        ev["requestContext"]["http"]["path"] = json!(path);
        ev["rawQueryString"] = json!(query);
        ev["body"] = Value::Null;
        resign(&mut ev, WEBHOOK_SECRET);
        let (status, body) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
        assert_eq!(status, 400, "{path}?{query}: {body}");
    }
    let st = sim.sim.stats();
    assert_eq!((st.token, st.csbs_calls()), (0, 0), "no request reached the simulator");
    infra.no_more_events().await;
}

#[tokio::test]
async fn oversized_bodies_and_contexts_are_413() {
    require_moto!();
    let sim = sim().await;
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let huge = json!({"project_id": P, "checkpoint_id": "c", "context": {"blob": "x".repeat(70 * 1024)}}).to_string();
    let big_context = json!({"project_id": P, "checkpoint_id": "c", "context": {"blob": "x".repeat(5000)}}).to_string();
    for (body, code) in [(huge, "payload_too_large"), (big_context, "context_too_large")] {
        let mut ev = fixture("function-url.json");
        ev["body"] = json!(body);
        resign(&mut ev, WEBHOOK_SECRET);
        let (status, answer) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
        assert_eq!((status, answer["error"]["code"].as_str()), (413, Some(code)));
    }
    assert_eq!(sim.sim.stats().csbs_calls(), 0);
}

#[tokio::test]
async fn csbs_failing_over_http_is_503_with_retry_after_and_bad_credentials_502() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_demo();
    sim.sim.add_fault(Fault::status(Route::Delete, 503));
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let mut ev = fixture("http-api-v2.json");
    resign(&mut ev, WEBHOOK_SECRET);
    let answer = dispatch::handle(&app, event(ev, 4)).await.unwrap();
    assert_eq!(http_answer(&answer).0, 503);
    assert!(answer["headers"]["retry-after"].is_string());
    sim.sim.clear_faults();
    let wrong = json!({"ak": csbs_deleter::sim::DEMO_AK, "sk": "a-wrong-secret-key"}).to_string();
    let infra = Infra::new(&wrong).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let mut ev = fixture("http-api-v2.json");
    resign(&mut ev, WEBHOOK_SECRET);
    let answer = dispatch::handle(&app, event(ev, 4)).await.unwrap();
    assert_eq!(http_answer(&answer).0, 502);
    infra.no_more_events().await;
}

#[tokio::test]
async fn project_allow_list() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_demo();
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(
        &infra.config(&sim, &[("ALLOWED_PROJECT_IDS", "someone-else")]),
        &infra.aws,
    )
    .await
    .unwrap();
    let mut ev = fixture("http-api-v2.json");
    resign(&mut ev, WEBHOOK_SECRET);
    let (status, _) = http_answer(&dispatch::handle(&app, event(ev, 20)).await.unwrap());
    assert_eq!(status, 403);
    let answer = dispatch::handle(&app, event(fixture("sqs.json"), 20)).await.unwrap();
    assert!(failures(&answer).is_empty());
    let events = infra.events(2, WAIT).await;
    assert!(
        events
            .iter()
            .all(|e| e["outcome"] == "rejected" && e["error"]["code"] == "project_not_allowed")
    );
    assert_eq!(sim.sim.stats().csbs_calls(), 0);
}

#[tokio::test]
async fn records_left_when_time_runs_out_are_reported() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed(P, "slow", &[ItemSeed::ok("slow-item")]);
    sim.sim.add_fault(Fault::hang(Route::Delete));
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    // Lambda ends the invocation at its deadline (3 s here): the handler must have answered
    // by then, with the hanging record reported for redelivery rather than lost.
    let ev = event(sqs_event(&[("m-slow", req("slow"))]), 3);
    let answer = tokio::time::timeout(Duration::from_secs(3), dispatch::handle(&app, ev))
        .await
        .expect("answered within the invocation's deadline")
        .unwrap();
    assert_eq!(failures(&answer), ["m-slow"]);
    assert_eq!(sim.sim.stats().delete, 1, "the DELETE was sent and hung");
}

#[tokio::test]
async fn unsupported_payloads_are_an_error() {
    require_moto!();
    let sim = sim().await;
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let e = dispatch::handle(&app, event(json!({"hello": "world"}), 5))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unsupported event"));
}
