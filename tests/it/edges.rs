//! The promises at the edges (docs/DESIGN.md, "HTTP API", "Deletion request", "Rules that keep
//! it reliable"), tried as an attacker and a careless caller would: through the submit
//! function's dispatch with real payload shapes, the in-memory queue and bus, and the simulator
//! over loopback. A signature authorizes one request; no input widens a deletion; every event
//! fits.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{fixture, http_answer, set_header, signature_v1, signature_v2};
use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::lambda::dispatch;
use csbs_deleter::outcome::MAX_DETAIL_BYTES;
use csbs_deleter::outcome::{Outcome, OutcomeEvent};
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::secret::Secret;
use csbs_deleter::sim::{self, DEMO_PROJECT as P, Fault, ItemSeed, Route, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{SubmitSettings, Submitter};
use csbs_deleter::webhook::WebhookPolicy;
use csbs_deleter::wiring::SubmitApp;
use serde_json::{Value, json};
use tokio::time::Instant;

const SECRET: &str = "edges-webhook-secret-0123456789";

struct World {
    sim: RunningSim,
    app: SubmitApp,
    sink: Arc<MemorySink>,
    poller: Poller,
}

async fn world() -> World {
    let sim = Simulator::start(SimConfig {
        delete_duration: (Duration::from_millis(5), Duration::from_millis(20)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.sim.seed_demo();
    let mut cc = ClientConfig::new(sim.base_url(), sim.base_url(), sim::demo_aksk()).with_cbr(sim.base_url());
    cc.retry.min_delay = Duration::from_millis(5);
    cc.retry.max_delay = Duration::from_millis(20);
    cc.retry.max_attempts = 2;
    let csbs = CsbsClient::new(cc).unwrap();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    let sink = Arc::new(MemorySink::new());
    let ledger = Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new());
    let submitter = Submitter::new(
        csbs.clone(),
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        ledger.clone(),
        SubmitSettings::default(),
    );
    let poller = Poller::new(
        csbs,
        queue,
        sink.clone() as Arc<dyn EventSink>,
        ledger,
        PollSettings {
            window: Duration::from_secs(60),
            interval: Duration::from_secs(1),
            ..Default::default()
        },
    );
    let app = SubmitApp::new(submitter, WebhookPolicy::Secret(Secret::new(SECRET)));
    World { sim, app, sink, poller }
}

/// An HTTP API v2 request (the real sample, re-targeted), unsigned.
fn v2(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    let mut ev = fixture("http-api-v2.json");
    ev["rawPath"] = json!(path);
    ev["routeKey"] = json!("$default");
    ev["requestContext"]["http"]["method"] = json!(method);
    ev["requestContext"]["http"]["path"] = json!(path);
    ev["rawQueryString"] = json!(query);
    let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    ev["queryStringParameters"] = if params.is_empty() {
        Value::Null
    } else {
        Value::Object(params)
    };
    match body {
        Some(b) => ev["body"] = json!(b),
        None => {
            ev.as_object_mut().unwrap().remove("body");
        }
    }
    ev
}

/// The v2 header a client computes for this request, now.
fn header_for(method: &str, path: &str, query: &str, body: Option<&str>) -> String {
    let t = chrono::Utc::now().timestamp();
    signature_v2(SECRET, t, method, path, query, body.unwrap_or("").as_bytes())
}

fn signed(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    let mut ev = v2(method, path, query, body);
    set_header(&mut ev, "x-signature-256", &header_for(method, path, query, body));
    ev
}

fn context() -> lambda_runtime::Context {
    crate::common::context(30)
}

async fn call(w: &World, ev: Value) -> (u16, Value) {
    let answer = dispatch::handle(&w.app, lambda_runtime::LambdaEvent::new(ev, context()))
        .await
        .unwrap();
    http_answer(&answer)
}

fn cloud_calls(w: &World) -> u64 {
    let st = w.sim.sim.stats();
    st.csbs_calls() + st.cbr_calls()
}

fn cbr_backup(rp: u32, i: u32) -> String {
    format!("cbb00000-{rp:04}-4000-8000-{i:012}")
}

fn checkpoint(c: u32) -> String {
    format!("c0ffee00-0000-4000-8000-{c:012}")
}

#[tokio::test]
async fn a_signature_authorizes_one_method_path_query_and_body() {
    let w = world().await;
    let b1 = format!("/v3/{P}/backups/{}", cbr_backup(1, 0));
    let b2 = format!("/v3/{P}/backups/{}", cbr_backup(2, 0));
    let csbs_mirror = format!(
        "/v1/{P}/providers/{}/checkpoints/{}",
        csbs_deleter::csbs::DEFAULT_PROVIDER_ID,
        checkpoint(3)
    );
    let one_item = "checkpoint_items=be1a0000-0003-4000-8000-000000000000";
    let status_q = format!("project_id={P}&checkpoint_id={}", checkpoint(0));
    // Each header, captured from a request the owner made, replayed on another request.
    let replays = [
        // Another backup: the CBR mirror DELETE has no query, so v1 signed nothing of it.
        (header_for("DELETE", &b1, "", None), v2("DELETE", &b2, "", None)),
        // Another project.
        (
            header_for("DELETE", &b1, "", None),
            v2(
                "DELETE",
                &format!("/v3/0123456789abcdef0123456789abcdee/backups/{}", cbr_backup(1, 0)),
                "",
                None,
            ),
        ),
        // Another method on the same path.
        (header_for("GET", &b1, "", None), v2("DELETE", &b1, "", None)),
        // One item signed, the whole checkpoint asked for.
        (
            header_for("DELETE", &csbs_mirror, one_item, None),
            v2("DELETE", &csbs_mirror, "", None),
        ),
        // Another item.
        (
            header_for("DELETE", &csbs_mirror, one_item, None),
            v2(
                "DELETE",
                &csbs_mirror,
                "checkpoint_items=be1a0000-0003-4000-8000-000000000001",
                None,
            ),
        ),
        // The status of one checkpoint, replayed for another.
        (
            header_for("GET", "/deletions/status", &status_q, None),
            v2(
                "GET",
                "/deletions/status",
                &format!("project_id={P}&checkpoint_id={}", checkpoint(1)),
                None,
            ),
        ),
        // A status read replayed as a mirror DELETE.
        (
            header_for("GET", "/deletions/status", "", None),
            v2("DELETE", &b1, "", None),
        ),
        // A POST body replayed on a route without a body.
        (
            header_for("POST", "/deletions", "", Some("{}")),
            v2("DELETE", &b1, "", None),
        ),
    ];
    for (i, (header, mut ev)) in replays.into_iter().enumerate() {
        set_header(&mut ev, "x-signature-256", &header);
        let (status, body) = call(&w, ev).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("signature_invalid")),
            "replay {i}: {body}"
        );
    }
    assert_eq!(cloud_calls(&w), 0, "no replay reached the cloud");
    assert!(w.sink.events().is_empty(), "refused before any call: no event");

    // A v1 header authorizes nothing but a POST with a body; two values of a version, nothing.
    let t = chrono::Utc::now().timestamp();
    for (header, code) in [
        (signature_v1(SECRET, t, b""), "signature_v1_not_allowed"),
        (
            format!("{},v2=00", header_for("DELETE", &b1, "", None)),
            "bad_signature",
        ),
    ] {
        let mut ev = v2("DELETE", &b1, "", None);
        set_header(&mut ev, "x-signature-256", &header);
        let (status, body) = call(&w, ev).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some(code)), "{body}");
    }
    assert_eq!(cloud_calls(&w), 0);

    // The owner's own requests go through, parameters in any order.
    for ev in [
        signed("DELETE", &b1, "", None),
        signed("DELETE", &csbs_mirror, one_item, None),
        signed(
            "GET",
            "/deletions/status",
            &format!("checkpoint_id={}&project_id={P}", checkpoint(0)),
            None,
        ),
    ] {
        let (status, body) = call(&w, ev).await;
        assert!(status == 200 || status == 202, "{status} {body}");
    }
    let body = json!({"project_id": P, "checkpoint_id": checkpoint(4)}).to_string();
    let mut legacy = v2("POST", "/deletions", "", Some(&body));
    set_header(
        &mut legacy,
        "x-signature-256",
        &signature_v1(SECRET, t, body.as_bytes()),
    );
    assert_eq!(call(&w, legacy).await.0, 202, "v1 still signs a POST with a body");
    let st = w.sim.sim.stats();
    assert_eq!(
        (st.delete, st.cbr_delete),
        (2, 1),
        "the mirrored item, the POSTed checkpoint's item, the mirrored backup"
    );
}

#[tokio::test]
async fn a_repeated_key_is_refused_wherever_it_stands() {
    let w = world().await;
    let widening = format!(
        r#"{{"project_id":"{P}","checkpoint_id":"{}","checkpoint_items":["be1a0000-0003-4000-8000-000000000000"],"checkpoint_items":null}}"#,
        checkpoint(3)
    );
    let selection =
        format!(r#"{{"select":{{"project_id":"{P}","older_than_days":30,"older_than_days":1}},"dry_run":true}}"#);
    for (body, field) in [
        (widening.clone(), "checkpoint_items"),
        (selection.clone(), "select.older_than_days"),
        (
            format!(
                r#"{{"project_id":"{P}","checkpoint_id":"{}","context":{{"a":1,"a":2}}}}"#,
                checkpoint(3)
            ),
            "context.a",
        ),
    ] {
        let (status, answer) = call(&w, signed("POST", "/deletions", "", Some(&body))).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], "duplicate_field");
        assert_eq!(answer["error"]["field"], field);
        assert!(answer["error"]["message"].as_str().unwrap().starts_with(field));
    }
    // Over SQS: directly, inside an EventBridge envelope and inside SNS — each a Rejected event.
    let envelope = format!(r#"{{"version":"0","id":"x","detail-type":"Delete","source":"me","detail":{widening}}}"#);
    let sns = json!({"Type": "Notification", "MessageId": "m", "Message": widening}).to_string();
    let mut ev = fixture("sqs.json");
    let template = ev["Records"][0].clone();
    ev["Records"] = [widening.as_str(), &envelope, &sns, &selection]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut r = template.clone();
            r["messageId"] = json!(format!("m-{i}"));
            r["body"] = json!(b);
            r
        })
        .collect();
    let answer = dispatch::handle(&w.app, lambda_runtime::LambdaEvent::new(ev, context()))
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "refused for good, not retried");
    let events = w.sink.events();
    assert_eq!(events.len(), 4);
    for e in &events {
        assert_eq!(e.outcome, Outcome::Rejected);
        assert_eq!(e.error.as_ref().unwrap().code, "duplicate_field", "{e:?}");
    }
    assert_eq!(cloud_calls(&w), 0, "nothing was deleted or listed");
}

#[tokio::test]
async fn an_invalid_base64_body_is_a_400_and_the_next_request_is_served() {
    use base64::Engine;
    let w = world().await;
    let mut bad = signed("POST", "/deletions", "", Some("!!not base64!!"));
    bad["isBase64Encoded"] = json!(true);
    let (status, body) = call(&w, bad).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_body")),
        "{body}"
    );
    // The same process serves the next one; a valid base64 body is signed as decoded.
    let plain = json!({"project_id": P, "checkpoint_id": checkpoint(5)}).to_string();
    let mut ok = v2(
        "POST",
        "/deletions",
        "",
        Some(&base64::engine::general_purpose::STANDARD.encode(&plain)),
    );
    ok["isBase64Encoded"] = json!(true);
    set_header(
        &mut ok,
        "x-signature-256",
        &header_for("POST", "/deletions", "", Some(&plain)),
    );
    let (status, body) = call(&w, ok).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn checkpoint_items_are_capped_at_one_hundred() {
    let w = world().await;
    let items: Vec<String> = (0..101).map(|i| format!("item-{i:03}")).collect();
    let body = json!({"project_id": P, "checkpoint_id": checkpoint(3), "checkpoint_items": items}).to_string();
    let (status, answer) = call(&w, signed("POST", "/deletions", "", Some(&body))).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("checkpoint_items")),
        "{answer}"
    );
    assert_eq!(cloud_calls(&w), 0);
}

/// A 64-character id, distinct per `(kind, n)`.
fn long_id(kind: u32, n: u32) -> String {
    format!("{kind:08}-{n:055}")
}

fn largest_context() -> Value {
    // {"pad":"…"} is 10 bytes around the string: 4096 in all, the contract's maximum.
    json!({"pad": "x".repeat(4096 - 10)})
}

/// Polls until every task in the sink has a terminal event (or 60 s pass).
async fn drain(w: &World, tasks: usize) {
    let until = Instant::now() + Duration::from_secs(60);
    while terminal(&w.sink.events()) < tasks && Instant::now() < until {
        w.poller.run(Instant::now() + Duration::from_secs(20)).await;
    }
}

fn terminal(events: &[OutcomeEvent]) -> usize {
    events
        .iter()
        .filter(|e| e.outcome.is_terminal() && e.outcome != Outcome::Planned)
        .map(|e| &e.task_id)
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// The largest request and selection the contract allows, and every event they produce
/// (Submitted, Failed, Completed, Rejected, Planned): each detail under 200 KiB, a cut list
/// flagged `truncated`.
#[tokio::test]
async fn every_event_of_the_largest_inputs_fits() {
    let w = world().await;
    let request_id = "r".repeat(128);
    // CSBS: 100 items of 64 characters, half of them failing to delete.
    let ckpt = long_id(1, 0);
    let items: Vec<String> = (0..100).map(|i| long_id(2, i)).collect();
    let seeds: Vec<ItemSeed> = items
        .iter()
        .enumerate()
        .map(|(i, id)| {
            if i % 2 == 0 {
                ItemSeed::failing(id.clone())
            } else {
                ItemSeed::ok(id.clone())
            }
        })
        .collect();
    w.sim.sim.seed(P, &ckpt, &seeds);
    let csbs_req = json!({"project_id": P, "checkpoint_id": ckpt, "checkpoint_items": items,
        "provider_id": csbs_deleter::csbs::DEFAULT_PROVIDER_ID, "request_id": request_id,
        "timeout_seconds": 86_400, "context": largest_context()});
    // CBR: a restore point of 1000 backups of 64 characters (the most a request may bring).
    let rp = long_id(3, 0);
    let backups: Vec<ItemSeed> = (0..1000).map(|i| ItemSeed::ok(long_id(4, i))).collect();
    w.sim.sim.seed_cbr(P, &rp, &backups);
    let cbr_req = json!({"service": "cbr", "project_id": P, "checkpoint_id": rp, "request_id": request_id,
        "context": largest_context()});
    for body in [&csbs_req, &cbr_req] {
        let (status, answer) = call(&w, signed("POST", "/deletions", "", Some(&body.to_string()))).await;
        assert_eq!(status, 202, "{answer}");
    }
    // Every DELETE of the largest request refused for good: one Rejected naming 100 items.
    w.sim.sim.add_fault(Fault {
        path_contains: Some(long_id(6, 0)),
        ..Fault::status(Route::Delete, 400)
    });
    let refused: Vec<String> = (0..100).map(|i| format!("{}-{i:02}", &long_id(6, 0)[..61])).collect();
    let refused_req = json!({"project_id": P, "checkpoint_id": long_id(6, 0), "checkpoint_items": refused,
        "request_id": request_id, "context": largest_context()});
    let (status, answer) = call(&w, signed("POST", "/deletions", "", Some(&refused_req.to_string()))).await;
    assert_eq!(status, 400, "{answer}");
    drain(&w, 3).await;
    // A selection of 10,000 backups of 64 characters (the most max_backups allows): Planned.
    let many: Vec<ItemSeed> = (0..10_000).map(|i| ItemSeed::ok(long_id(5, i))).collect();
    w.sim.sim.seed(P, &long_id(5, 99_999), &many);
    let select = json!({"select": {"project_id": P, "checkpoint_ids": [long_id(5, 99_999)], "max_backups": 10_000},
        "dry_run": true, "request_id": "s".repeat(60), "context": largest_context()});
    let (status, answer) = call(&w, signed("POST", "/deletions", "", Some(&select.to_string()))).await;
    assert_eq!(
        (status, answer["counts"]["to_delete"].as_u64()),
        (200, Some(10_000)),
        "{}",
        answer["error"]
    );

    let events = w.sink.events();
    let kinds: std::collections::HashSet<Outcome> = events.iter().map(|e| e.outcome).collect();
    for k in [
        Outcome::Submitted,
        Outcome::Failed,
        Outcome::Completed,
        Outcome::Rejected,
        Outcome::Planned,
    ] {
        assert!(kinds.contains(&k), "{k:?} among {kinds:?}");
    }
    for e in &events {
        let bytes = serde_json::to_vec(e).unwrap().len();
        assert!(
            bytes < MAX_DETAIL_BYTES,
            "{:?} {} is {bytes} bytes",
            e.outcome,
            e.task_id
        );
        if let Some(err) = &e.error {
            assert!(
                err.message.len() <= 1024,
                "{:?}: message of {}",
                e.outcome,
                err.message.len()
            );
        }
    }
    let planned = events.iter().find(|e| e.outcome == Outcome::Planned).unwrap();
    let target_ids = &planned.plan.as_ref().unwrap().target_ids;
    assert!(planned.truncated && target_ids.len() < 10_000 && target_ids.len() > 2000);
    assert_eq!(
        planned.plan.as_ref().unwrap().counts.to_delete,
        10_000,
        "the counts stay whole"
    );
    let cbr_done = events
        .iter()
        .find(|e| e.outcome == Outcome::Completed && e.service == csbs_deleter::service::Service::Cbr)
        .unwrap();
    assert_eq!(cbr_done.backup_ids.as_ref().unwrap().len(), 1000, "fits whole: not cut");
    assert!(!cbr_done.truncated);
}

/// Replicas received from another region and per-disk children are never targets of a restore
/// point or a selection (the demo restore point 0 lists both beside its two own backups).
#[tokio::test]
async fn replicas_and_children_are_never_targets() {
    let w = world().await;
    let rp0 = sim::demo_restore_point(0);
    let body = json!({"service": "cbr", "project_id": P, "checkpoint_id": rp0}).to_string();
    let (status, answer) = call(&w, signed("POST", "/deletions", "", Some(&body))).await;
    assert_eq!(status, 202, "{answer}");
    let submitted = w.sink.events();
    assert_eq!(
        submitted[0].backup_ids.as_deref().unwrap(),
        [cbr_backup(0, 0), cbr_backup(0, 1)],
        "own top-level backups only"
    );
    let select = json!({"select": {"service": "cbr", "project_id": P, "all_in_project": true}, "dry_run": true});
    let (status, answer) = call(&w, signed("POST", "/deletions", "", Some(&select.to_string()))).await;
    assert_eq!(status, 200, "{answer}");
    let planned: Vec<&str> = answer["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(!planned.is_empty());
    assert!(!planned.contains(&sim::DEMO_REPLICA), "{planned:?}");
    assert!(planned.iter().all(|id| !id.ends_with("-disk")), "{planned:?}");
    drain(&w, 1).await;
    assert!(
        w.sim.sim.statuses().contains_key(sim::DEMO_REPLICA),
        "the replica is still there after its restore point was deleted"
    );
}

/// `GET /deletions/{task_id}` answers from the decision ledger, signed like every route, and
/// never calls the cloud (docs/DESIGN.md, "HTTP API").
#[tokio::test]
async fn a_task_is_read_by_its_id_from_the_ledger() {
    let w = world().await;
    let body = json!({"project_id": P, "checkpoint_id": checkpoint(0), "request_id": "by-id"}).to_string();
    let (status, answer) = call(&w, signed("POST", "/deletions", "", Some(&body))).await;
    assert_eq!(status, 202, "{answer}");
    let task_id = answer["task_id"].as_str().unwrap().to_string();
    let path = format!("/deletions/{task_id}");
    let calls = cloud_calls(&w);
    let (status, record) = call(&w, signed("GET", &path, "", None)).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(
        (
            record["state"].as_str(),
            record["project_id"].as_str(),
            &record["event"]
        ),
        (Some("submitted"), Some(P), &Value::Null)
    );
    assert_eq!(record["deadline"], answer["deadline"]);
    assert_eq!(cloud_calls(&w), calls, "no call to the cloud");
    drain(&w, 1).await;
    let (status, record) = call(&w, signed("GET", &path, "", None)).await;
    assert_eq!((status, record["state"].as_str()), (200, Some("completed")), "{record}");
    assert_eq!(record["event"]["outcome"], "completed");
    assert!(record["decided_at"].is_string());
    // Unknown, malformed, and a header signed for another task.
    let unknown = format!("/deletions/tsk_{}", "0".repeat(32));
    let (status, e) = call(&w, signed("GET", &unknown, "", None)).await;
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("unknown_task")));
    for bad in ["/deletions/tsk_XYZ", "/deletions/not-a-task"] {
        let (status, e) = call(&w, signed("GET", bad, "", None)).await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }
    let mut replay = v2("GET", &path, "", None);
    set_header(&mut replay, "x-signature-256", &header_for("GET", &unknown, "", None));
    assert_eq!(call(&w, replay).await.0, 401);
    let (status, _) = call(&w, signed("DELETE", &path, "", None)).await;
    assert_eq!(status, 405);
}
