//! Two regions served by one stack (docs/DESIGN.md, "Regions"): both Lambda handlers against
//! two simulators (one per region, each with its own backups and five-at-a-time queue) and
//! moto — requests naming a region, a backup deleted with its replica in the other region, and
//! the refusals that come before any DELETE.

use std::time::Duration;

use crate::common::*;
use csbs_deleter::lambda::{dispatch, poll};
use csbs_deleter::sim::{DEMO_PROJECT as P, ItemSeed, Replicated, RunningSim};
use csbs_deleter::wiring;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
/// The second region's project (project ids are regional).
const P2: &str = "0123456789abcdef0123456789abcd02";

fn by<'a>(events: &'a [Value], request_id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no event for {request_id}: {events:#?}"))
}

fn http_v2(method: &str, path: &str, query: &str, body: Option<&Value>) -> Value {
    let mut ev = fixture("http-api-v2.json");
    ev["requestContext"]["http"]["method"] = json!(method);
    ev["rawPath"] = json!(path);
    ev["requestContext"]["http"]["path"] = json!(path);
    ev["rawQueryString"] = json!(query);
    ev["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
    resign(&mut ev, WEBHOOK_SECRET);
    ev
}

/// `DEFAULT_REGION=eu-de` (the first simulator) and `REGIONS` naming `eu-nl` (the second,
/// CBR only, with its own IAM).
fn two_regions(nl: &RunningSim) -> String {
    json!({"eu-nl": {"cbr": nl.base_url().as_str(), "iam": nl.base_url().as_str()}}).to_string()
}

/// A record that names a replica still being made, or one in a region this stack does not
/// serve.
fn record(status: &str, region: &str) -> Value {
    json!({"id": format!("rec-{status}-{region}"), "status": status, "destination_region": region,
           "destination_project_id": P2, "destination_backup_id": "far-away"})
}

#[tokio::test]
async fn two_regions_through_both_handlers_with_replicas() {
    require_moto!();
    let (de, nl) = (sim().await, sim().await);
    for s in [&de, &nl] {
        s.sim
            .set_delete_duration(Duration::from_millis(100), Duration::from_millis(300));
    }
    let replica = Replicated {
        sim: &nl.sim,
        region: "eu-nl",
        project_id: P2,
        backup_id: "rep-1",
    };
    de.sim.seed_replicated(P, "rp-1", ItemSeed::ok("src-1"), &replica);
    nl.sim.seed_cbr(P2, "rp-nl", &[ItemSeed::ok("nl-1")]);
    let with_records = |id: &str, records: Vec<Value>| ItemSeed {
        replication_records: records,
        ..ItemSeed::ok(id)
    };
    de.sim.seed_cbr(
        P,
        "rp-2",
        &[
            with_records("src-far", vec![record("success", "eu-fr")]),
            with_records("src-running", vec![record("replicating", "eu-nl")]),
            with_records("src-odd", vec![json!({"id": "rec-odd", "status": "success"})]),
            with_records("src-failed-copy", vec![record("fail", "eu-nl")]),
        ],
    );
    let infra = Infra::new(&aksk_json()).await;
    let regions = two_regions(&nl);
    let config = infra.config(
        &de,
        &[
            ("DEFAULT_REGION", "eu-de"),
            ("REGIONS", &regions),
            ("POLL_INTERVAL_SECONDS", "1"),
            ("POLL_WINDOW_SECONDS", "15"),
        ],
    );
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let cbr = |extra: Value| {
        let mut v = json!({"service": "cbr", "project_id": P});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let bodies = [
        cbr(json!({"backup_id": "src-1", "with_replicas": true, "request_id": "with-replica"})),
        cbr(json!({"project_id": P2, "backup_id": "nl-1", "region": "eu-nl", "request_id": "nl"})),
        cbr(json!({"backup_id": "src-failed-copy", "with_replicas": true, "request_id": "no-replica"})),
        cbr(json!({"backup_id": "src-far", "with_replicas": true, "request_id": "unreachable"})),
        cbr(json!({"backup_id": "src-running", "with_replicas": true, "request_id": "in-progress"})),
        cbr(json!({"backup_id": "src-odd", "with_replicas": true, "request_id": "malformed"})),
        cbr(json!({"backup_id": "x", "region": "eu-fr", "request_id": "unknown-region"})),
        // eu-nl serves CBR only: a configuration error for this request, redelivered.
        json!({"project_id": P2, "checkpoint_id": "c", "region": "eu-nl", "request_id": "no-csbs"}),
    ];
    let answer = dispatch::handle(&app, event(sqs_body_event(&bodies), 20))
        .await
        .unwrap();
    assert_eq!(
        failures(&answer),
        vec!["m-7".to_string()],
        "only the CSBS request in eu-nl is redelivered"
    );
    let first = infra.events(7, WAIT).await;
    let outcome = |r: &str| by(&first, r)["outcome"].as_str().unwrap().to_string();
    for r in ["with-replica", "nl", "no-replica"] {
        assert_eq!(outcome(r), "submitted", "{r}");
    }
    for (r, code) in [
        ("unreachable", "replica_not_reachable"),
        ("in-progress", "replica_in_progress"),
        ("malformed", "replica_not_reachable"),
        ("unknown-region", "unknown_region"),
    ] {
        assert_eq!(
            (outcome(r), by(&first, r)["error"]["code"].as_str()),
            ("rejected".into(), Some(code)),
            "{r}"
        );
    }
    assert!(
        by(&first, "unreachable")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("eu-fr")
    );
    assert!(
        by(&first, "malformed")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rec-odd")
    );
    // Refused before any DELETE: the sources are untouched.
    let de_now = de.sim.statuses();
    for id in ["src-far", "src-running", "src-odd"] {
        assert_eq!(de_now.get(id).map(String::as_str), Some("available"), "{id}");
    }
    // Every event names its region; a task with replicas lists its targets.
    assert_eq!(by(&first, "nl")["region"], "eu-nl");
    assert_eq!(by(&first, "with-replica")["region"], "eu-de");
    assert!(by(&first, "nl")["targets"].is_null() && by(&first, "no-replica")["targets"].is_null());
    assert_eq!(
        by(&first, "with-replica")["targets"],
        json!([
            {"region": "eu-de", "project_id": P, "backup_id": "src-1", "last_status": null},
            {"region": "eu-nl", "project_id": P2, "backup_id": "rep-1", "last_status": null}
        ])
    );
    assert_eq!(
        by(&first, "with-replica")["backup_ids"],
        json!(["src-1"]),
        "backup_ids: the sources"
    );

    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let summary = poll::handle(&poll_app, event(fixture("schedule-v2.json"), 30))
        .await
        .unwrap();
    assert_eq!(
        (summary["completed"].as_u64(), summary["still_pending"].as_u64()),
        (Some(3), Some(0)),
        "{summary}"
    );
    let last = infra.events(3, WAIT).await;
    let done = by(&last, "with-replica");
    assert_eq!(done["outcome"], "completed");
    assert_eq!(
        done["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["last_status"].clone())
            .collect::<Vec<_>>(),
        vec![json!("absent"), json!("absent")]
    );
    assert_eq!(by(&last, "nl")["region"], "eu-nl");
    // The replica is gone from the second region, its own backup too; the first region kept
    // what was refused.
    let nl_now = nl.sim.statuses();
    assert!(
        !nl_now.contains_key("rep-1") && !nl_now.contains_key("nl-1"),
        "{nl_now:?}"
    );
    assert!(!de.sim.statuses().contains_key("src-1"));
    infra.no_more_events().await;
}

#[tokio::test]
async fn the_http_routes_take_a_region() {
    require_moto!();
    let (de, nl) = (sim().await, sim().await);
    nl.sim.seed_cbr(P2, "rp", &[ItemSeed::ok("nl-1"), ItemSeed::ok("nl-2")]);
    de.sim.seed_cbr(P, "rp", &[ItemSeed::ok("de-1")]);
    let infra = Infra::new(&aksk_json()).await;
    let regions = two_regions(&nl);
    let config = infra.config(&de, &[("DEFAULT_REGION", "eu-de"), ("REGIONS", &regions)]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let send = |ev: Value| {
        let app = &app;
        async move { http_answer(&dispatch::handle(app, event(ev, 20)).await.unwrap()) }
    };
    // Naming the default region is the same task as naming none.
    let plain = json!({"service": "cbr", "project_id": P, "backup_id": "de-1"});
    let named = json!({"service": "cbr", "project_id": P, "backup_id": "de-1", "region": "eu-de"});
    let (s1, a1) = send(http_v2("POST", "/deletions", "", Some(&plain))).await;
    let (s2, a2) = send(http_v2("POST", "/deletions", "", Some(&named))).await;
    assert_eq!((s1, s2), (202, 202), "{a1} {a2}");
    assert_eq!(a1["task_id"], a2["task_id"]);
    // Another region is another task, in its own simulator.
    let nl_body = json!({"service": "cbr", "project_id": P2, "backup_id": "nl-1", "region": "eu-nl"});
    let (s, a) = send(http_v2("POST", "/deletions", "", Some(&nl_body))).await;
    assert_eq!(s, 202, "{a}");
    assert_ne!(nl.sim.statuses()["nl-1"], "available", "deleted in eu-nl");
    // An unknown region: 400 before any call, no event.
    let far = json!({"service": "cbr", "project_id": P, "backup_id": "de-1", "region": "eu-fr"});
    let (s, a) = send(http_v2("POST", "/deletions", "", Some(&far))).await;
    assert_eq!((s, a["error"]["code"].as_str()), (400, Some("unknown_region")), "{a}");
    // The live status of the second region's backups.
    let (s, a) = send(http_v2(
        "GET",
        "/deletions/status",
        &format!("service=cbr&project_id={P2}&backup_id=nl-1,nl-2&region=eu-nl"),
        None,
    ))
    .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["region"], "eu-nl");
    let states: Vec<&str> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert_ne!(states[0], "present", "nl-1 is being deleted: {a}");
    assert_eq!(states[1], "present");
    let (s, a) = send(http_v2(
        "GET",
        "/deletions/status",
        &format!("service=cbr&project_id={P2}&backup_id=nl-1&region=eu-fr"),
        None,
    ))
    .await;
    assert_eq!((s, a["error"]["code"].as_str()), (400, Some("unknown_region")), "{a}");
    // The task record names its region.
    let (s, a) = send(http_v2(
        "GET",
        &format!("/deletions/{}", a2["task_id"].as_str().unwrap()),
        "",
        None,
    ))
    .await;
    assert_eq!((s, a["region"].as_str()), (200, Some("eu-de")), "{a}");
}
