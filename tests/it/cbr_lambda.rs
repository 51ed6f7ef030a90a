//! CBR requests through both Lambda handlers, against the simulator and moto: SQS batches and
//! every HTTP route, the pending tasks they record, and the events that end them.

use std::time::Duration;

use crate::common::*;
use csbs_deleter::lambda::{dispatch, poll};
use csbs_deleter::sim::{DEMO_PROJECT as P, Fault, ItemSeed, Route};
use csbs_deleter::wiring;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_cbr_batch_submits_polls_and_ends_in_one_event_each() {
    require_moto!();
    let sim = sim().await;
    sim.sim
        .set_delete_duration(Duration::from_millis(100), Duration::from_millis(300));
    sim.sim
        .seed_cbr(P, "rp-a", &[ItemSeed::ok("bk-a1"), ItemSeed::ok("bk-a2")]);
    let server = |id: &str| ItemSeed {
        with_child: true,
        ..ItemSeed::ok(id)
    };
    sim.sim.seed_cbr(P, "rp-srv", &[server("bk-s1"), server("bk-s2")]);
    sim.sim.seed_cbr(P, "rp-empty", &[]);
    sim.sim.seed_cbr(P, "rp-f", &[ItemSeed::failing("bk-fail")]);
    sim.sim.seed_cbr(P, "rp-img", &[ItemSeed::ok("bk-image")]);
    sim.sim.seed(P, "csbs-ckpt", &[ItemSeed::ok("csbs-item")]);
    sim.sim.add_fault(
        Fault::status(Route::CbrDelete, 400)
            .with_code("BackupService.6204")
            .on_path("bk-image"),
    );
    let infra = Infra::new(&aksk_json()).await;
    let config = infra.config(&sim, &[("POLL_INTERVAL_SECONDS", "1"), ("POLL_WINDOW_SECONDS", "15")]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let bodies = [
        json!({"service": "cbr", "project_id": P, "backup_ids": ["bk-a2", "bk-a1"], "request_id": "ids"}),
        json!({"service": "cbr", "project_id": P, "checkpoint_id": "rp-srv", "request_id": "restore-point"}),
        json!({"service": "cbr", "project_id": P, "checkpoint_id": "rp-gone", "request_id": "gone"}),
        json!({"service": "cbr", "project_id": P, "checkpoint_id": "rp-empty", "request_id": "empty"}),
        json!({"service": "cbr", "project_id": P, "backup_id": "bk-image", "request_id": "refused"}),
        json!({"service": "cbr", "project_id": P, "backup_id": "bk-fail", "request_id": "fails"}),
        json!({"service": "cbr", "project_id": P, "backup_id": "x", "checkpoint_items": ["i"], "request_id": "bad"}),
        // CSBS side by side in the same batch.
        json!({"project_id": P, "checkpoint_id": "csbs-ckpt", "request_id": "csbs"}),
    ];
    let answer = dispatch::handle(&app, event(sqs_body_event(&bodies), 20))
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    let first = infra.events(8, WAIT).await;
    let outcome = |r: &str| by(&first, r)["outcome"].as_str().unwrap().to_string();
    for r in ["ids", "restore-point", "fails", "csbs"] {
        assert_eq!(outcome(r), "submitted", "{r}");
    }
    assert_eq!(outcome("gone"), "completed");
    assert_eq!(by(&first, "gone")["last_status"], "absent");
    for (r, code) in [
        ("empty", "empty_restore_point"),
        ("refused", "BackupService.6204"),
        ("bad", "invalid_request"),
    ] {
        assert_eq!(outcome(r), "rejected", "{r}");
        assert_eq!(by(&first, r)["error"]["code"], code, "{r}");
    }
    assert!(
        by(&first, "bad")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("checkpoint_items")
    );
    // Every event names its service; CBR events their backups, CSBS events null.
    for e in &first {
        assert!(e.get("service").is_some() && e.get("backup_ids").is_some(), "{e}");
    }
    assert_eq!(by(&first, "csbs")["service"], "csbs");
    assert!(by(&first, "csbs")["backup_ids"].is_null());
    assert_eq!(by(&first, "bad")["service"], "cbr", "a refused body echoes its service");
    assert_eq!(by(&first, "ids")["backup_ids"], json!(["bk-a1", "bk-a2"]));
    assert!(by(&first, "ids")["provider_id"].is_null());
    // A restore point's targets are its top-level backups, listed at submit time.
    let rp = by(&first, "restore-point");
    assert_eq!(
        (rp["checkpoint_id"].as_str(), rp["backup_ids"].clone()),
        (Some("rp-srv"), json!(["bk-s1", "bk-s2"]))
    );
    let pending = infra.pending_bodies().await;
    assert_eq!(pending.len(), 4);
    let csbs_task = pending.iter().find(|t| t["request_id"] == "csbs").unwrap();
    assert!(
        csbs_task.get("service").is_none() && csbs_task.get("backup_ids").is_none(),
        "CSBS bodies as before"
    );
    let cbr_task = pending.iter().find(|t| t["request_id"] == "ids").unwrap();
    assert_eq!(cbr_task["service"], "cbr");

    let before = sim.sim.stats();
    let calls_before = sim.sim.calls().len();
    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let summary = poll::handle(&poll_app, event(fixture("schedule-v2.json"), 30))
        .await
        .unwrap();
    assert_eq!(
        (
            summary["completed"].as_u64(),
            summary["failed"].as_u64(),
            summary["still_pending"].as_u64()
        ),
        (Some(3), Some(1), Some(0)),
        "{summary}"
    );
    let last = infra.events(4, WAIT).await;
    for r in ["ids", "restore-point", "csbs"] {
        let e = by(&last, r);
        assert_eq!(
            (e["outcome"].as_str(), e["last_status"].as_str()),
            (Some("completed"), Some("absent")),
            "{r}"
        );
    }
    let failed = by(&last, "fails");
    assert_eq!(
        (failed["outcome"].as_str(), failed["last_status"].as_str()),
        (Some("failed"), Some("error"))
    );
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("bk-fail: CBR delete task") && message.contains("BackupService.9910"),
        "the reason comes from the delete task: {message}"
    );
    // Checks cost one GET per backup the in-flight listing of the group did not show (one more
    // for the failed one's task); no other listing.
    let after = sim.sim.stats();
    let gets = after.cbr_get - before.cbr_get;
    let lists: Vec<String> = sim.sim.calls()[calls_before..]
        .iter()
        .filter(|c| c.route == Route::CbrList)
        .map(|c| c.target.clone())
        .collect();
    assert!(
        lists
            .iter()
            .all(|t| t.contains("status=waiting_delete&status=deleting")),
        "only in-flight listings after submit: {lists:?}"
    );
    assert!(after.cbr_operation_logs - before.cbr_operation_logs >= 1);
    assert!(gets >= 5, "{gets}");
    assert!(
        gets <= 5 * u64::from(summary["passes"].as_u64().unwrap_or(1) as u32),
        "at most one GET per backup per pass: {gets}"
    );
    assert_eq!(infra.pending_count().await, 0);
    infra.no_more_events().await;
}

#[tokio::test]
async fn busy_and_available_backups_get_their_delete_again() {
    require_moto!();
    let sim = sim().await;
    sim.sim
        .set_delete_duration(Duration::from_millis(100), Duration::from_millis(100));
    sim.sim.seed_cbr(P, "rp", &[ItemSeed::ok("bk-1")]);
    let infra = Infra::new(&password_json()).await;
    let config = infra.config(&sim, &[("POLL_INTERVAL_SECONDS", "1"), ("POLL_WINDOW_SECONDS", "10")]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    // The DELETE is lost on the way (CBR answered 204, but the backup stays available): the
    // poller finds it available and issues the DELETE again.
    sim.sim
        .add_fault(Fault::status(Route::CbrDelete, 204).with_raw_body("").times(1));
    let body = json!({"service": "cbr", "project_id": P, "backup_id": "bk-1", "request_id": "lost"});
    let answer = dispatch::handle(&app, event(sqs_body_event(&[body]), 20))
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    assert_eq!(infra.events(1, WAIT).await[0]["outcome"], "submitted");
    assert_eq!(sim.sim.item_status(P, "bk-1").as_deref(), Some("available"));
    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let summary = poll::handle(&poll_app, event(fixture("schedule-v2.json"), 20))
        .await
        .unwrap();
    assert_eq!(summary["completed"], 1, "{summary}");
    assert_eq!(sim.sim.stats().cbr_delete, 2, "submitted once, re-issued once");
    assert_eq!(infra.events(1, WAIT).await[0]["outcome"], "completed");
}

#[tokio::test]
async fn cbr_over_http_post_mirror_and_status() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_cbr(P, "rp", &[ItemSeed::ok("bk-1"), ItemSeed::ok("bk-2")]);
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let send = |ev: Value| {
        let app = &app;
        async move { http_answer(&dispatch::handle(app, event(ev, 20)).await.unwrap()) }
    };
    // POST /deletions with a CBR body.
    let body = json!({"service": "cbr", "project_id": P, "backup_id": "bk-1"});
    let (status, answer) = send(http_v2("POST", "/deletions", "", Some(&body))).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (202, Some("submitted")),
        "{answer}"
    );
    // The CBR-mirroring DELETE: the same request, the same task.
    let (status, again) = send(http_v2("DELETE", &format!("/v3/{P}/backups/bk-1"), "", None)).await;
    assert_eq!((status, &again["task_id"]), (202, &answer["task_id"]), "{again}");
    // ... under an HTTP API named stage (its rawPath carries the prefix; the signature covers
    // the route's path); and no query parameter is taken.
    let mut staged = http_v2("DELETE", &format!("/prod/v3/{P}/backups/bk-2"), "", None);
    staged["requestContext"]["stage"] = json!("prod");
    resign(&mut staged, WEBHOOK_SECRET);
    let (status, _) = send(staged).await;
    assert_eq!(status, 202);
    let (status, refused) = send(http_v2("DELETE", &format!("/v3/{P}/backups/bk-2"), "force=1", None)).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("force")),
        "{refused}"
    );
    let (status, _) = send(http_v2("GET", &format!("/v3/{P}/backups/bk-2"), "", None)).await;
    assert_eq!(status, 405);
    let (status, bad) = send(http_v2("DELETE", &format!("/v3/{P}/backups/a%2Fb"), "", None)).await;
    assert_eq!(status, 400, "{bad}");
    // Status of CBR backups: live state from CBR.
    let q = format!("service=cbr&project_id={P}&backup_id=bk-1,bk-2&backup_id=bk-none");
    let (status, st) = send(http_v2("GET", "/deletions/status", &q, None)).await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["service"], "cbr");
    let items = st["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let state = |id: &str| items.iter().find(|i| i["backup_id"] == id).unwrap()["state"].clone();
    assert!(
        ["queued", "deleting"].contains(&state("bk-1").as_str().unwrap()),
        "{st}"
    );
    assert_eq!(state("bk-none"), "gone");
    assert!(["queued", "deleting"].contains(&st["state"].as_str().unwrap()));
    for bad_q in [
        format!("service=cbr&project_id={P}"),
        format!("service=cbr&project_id={P}&backup_id=a%2Fb"),
        format!("service=cbr&project_id={P}&backup_id=b&checkpoint_id=c"),
        format!("service=vbs&project_id={P}&checkpoint_id=c"),
    ] {
        let (status, _) = send(http_v2("GET", "/deletions/status", &bad_q, None)).await;
        assert_eq!(status, 400, "{bad_q}");
    }
    // A CBR body that mixes in a CSBS field is refused before CBR is called.
    let calls = sim.sim.stats().cbr_calls();
    let body = json!({"service": "cbr", "project_id": P, "backup_id": "bk-1", "provider_id": "x"});
    let (status, refused) = send(http_v2("POST", "/deletions", "", Some(&body))).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (400, Some("provider_id")));
    assert_eq!(sim.sim.stats().cbr_calls(), calls);
}

#[tokio::test]
async fn cbr_failing_over_http_is_503_and_a_gateway_404_is_502() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed_cbr(P, "rp", &[ItemSeed::ok("bk-1")]);
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let body = json!({"service": "cbr", "project_id": P, "backup_id": "bk-1"});
    sim.sim.add_fault(Fault::status(Route::CbrDelete, 503));
    let ev = http_v2("POST", "/deletions", "", Some(&body));
    let out = dispatch::handle(&app, event(ev, 3)).await.unwrap();
    let (status, _) = http_answer(&out);
    assert_eq!(status, 503, "{out}");
    sim.sim.clear_faults();
    sim.sim
        .add_fault(Fault::status(Route::CbrDelete, 404).with_code("APIGW.0101"));
    let (status, _) = http_answer(
        &dispatch::handle(&app, event(http_v2("POST", "/deletions", "", Some(&body)), 5))
            .await
            .unwrap(),
    );
    assert_eq!(status, 502);
    infra.no_more_events().await;
    // The same over SQS: handed back for redelivery, no event.
    let answer = dispatch::handle(&app, event(sqs_body_event(&[body]), 5)).await.unwrap();
    assert_eq!(failures(&answer), ["m-0"]);
    infra.no_more_events().await;
}
