//! Selections through the Lambda handlers, against the simulator and moto: a selection on the
//! SQS intake fans out to a real intake queue, whose messages go back through the handler as
//! the event source mapping would deliver them, until every target ends in its own event; and
//! the HTTP answers (dry run 200 with the plan, real run 202 with the counts).

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use aws_sdk_sqs::types::QueueAttributeName;
use csbs_deleter::lambda::{dispatch, poll};
use csbs_deleter::sim::{DEMO_PROJECT as P, ItemSeed, Route};
use csbs_deleter::wiring;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

async fn intake_queue(infra: &Infra) -> String {
    let name = format!("intake-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    create_queue(&infra.sqs, &name, QueueAttributeName::MaximumMessageSize, "1048576").await
}

/// The visible intake messages (up to ten) as one SQS event of the fixture's shape, taken off
/// the queue; `None` when none is visible.
async fn intake_event(infra: &Infra, url: &str) -> Option<Value> {
    let bodies = take(&infra.sqs, url).await;
    (!bodies.is_empty()).then(|| sqs_body_event(&bodies))
}

fn seeds(prefix: &str, n: usize, age_days: i64) -> Vec<ItemSeed> {
    (0..n)
        .map(|i| ItemSeed {
            resource_id: Some("srv-1".into()),
            created_at: Some(
                (chrono::Utc::now() - chrono::Duration::days(age_days + i as i64))
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string(),
            ),
            ..ItemSeed::ok(format!("{prefix}-{i:02}"))
        })
        .collect()
}

#[tokio::test]
async fn a_queued_selection_fans_out_and_every_target_ends_in_its_own_event() {
    require_moto!();
    let sim = sim().await;
    sim.sim
        .set_delete_duration(Duration::from_millis(50), Duration::from_millis(100));
    sim.sim.seed(P, "cp-old", &seeds("old", 12, 40));
    sim.sim.seed(P, "cp-new", &seeds("new", 2, 1));
    let infra = Infra::new(&aksk_json()).await;
    let intake = intake_queue(&infra).await;
    let config = infra.config(
        &sim,
        &[
            ("INTAKE_QUEUE_URL", intake.as_str()),
            ("FANOUT_STEP_SECONDS", "0"),
            ("POLL_INTERVAL_SECONDS", "1"),
            ("POLL_WINDOW_SECONDS", "3"),
        ],
    );
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let selection = json!({"select": {"project_id": P, "older_than_days": 30, "keep_last": 3},
                           "request_id": "nightly", "context": {"ticket": "OPS-7"}});
    // Sent now: the selection's reference time is its SentTimestamp.
    let mut ev = sqs_body_event(&[selection]);
    ev["Records"][0]["attributes"]["SentTimestamp"] = json!(chrono::Utc::now().timestamp_millis().to_string());
    let answer = dispatch::handle(&app, event(ev, 20)).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    let planned = infra.events(1, WAIT).await.remove(0);
    assert_eq!(planned["_detail_type"], "Checkpoint Deletion Planned");
    assert_eq!(planned["outcome"], "planned");
    assert_eq!(planned["dry_run"], false);
    assert_eq!(
        planned["counts"]["to_delete"], 11,
        "the newest three of the server are kept: two new, one old"
    );
    assert_eq!(planned["target_ids"].as_array().unwrap().len(), 11);
    assert_eq!(planned["truncated"], false);
    let selection_id = planned["selection_id"].as_str().unwrap().to_string();
    assert_eq!(planned["task_id"], selection_id.as_str());
    // The intake queue now holds the targets and a follow-up: feed them back until drained.
    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let mut events = Vec::new();
    let mut rounds = 0;
    while events.iter().filter(|e: &&Value| e["outcome"] == "completed").count() < 11 {
        rounds += 1;
        assert!(rounds < 30, "{events:#?}");
        while let Some(ev) = intake_event(&infra, &intake).await {
            let answer = dispatch::handle(&app, event(ev, 20)).await.unwrap();
            assert_eq!(answer["batchItemFailures"], json!([]));
        }
        poll::handle(&poll_app, event(fixture("schedule-v2.json"), 15))
            .await
            .unwrap();
        events.extend(infra.drain_events().await);
    }
    let completed: Vec<&Value> = events.iter().filter(|e| e["outcome"] == "completed").collect();
    let ids: HashSet<&str> = completed.iter().map(|e| e["task_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 11, "one task per target");
    for e in &completed {
        assert_eq!(e["selection_id"], selection_id.as_str());
        let item = e["checkpoint_items"][0].as_str().unwrap();
        assert_eq!(e["request_id"], format!("nightly/{item}"));
        assert_eq!(e["context"]["ticket"], "OPS-7");
        assert!(
            item.starts_with("old-") && item != "old-00",
            "the newest old one is kept: {item}"
        );
    }
    assert_eq!(sim.sim.item_status(P, "old-00").as_deref(), Some("available"));
    assert_eq!(sim.sim.item_status(P, "new-00").as_deref(), Some("available"));
    assert_eq!(infra.pending_count().await, 0);
}

/// Dry runs answer 200 with the plan; real runs 202 with the counts; refusals 400 naming the
/// field; fan-out steps are never taken over HTTP.
#[tokio::test]
async fn selections_over_http() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed(P, "cp-old", &seeds("old", 4, 40));
    sim.sim.seed_cbr(P, "rp-old", &seeds("bk", 3, 40));
    let infra = Infra::new(&aksk_json()).await;
    let intake = intake_queue(&infra).await;
    let config = infra.config(&sim, &[("INTAKE_QUEUE_URL", intake.as_str())]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let post = |body: Value| {
        let mut ev = fixture("http-api-v2.json");
        ev["body"] = json!(body.to_string());
        resign(&mut ev, WEBHOOK_SECRET);
        ev
    };
    let call = |ev: Value| {
        let app = &app;
        async move {
            let r = dispatch::handle(app, event(ev, 20)).await.unwrap();
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            (r["statusCode"].as_u64().unwrap(), body)
        }
    };
    let (status, body) = call(post(
        json!({"select": {"service": "cbr", "project_id": P, "older_than_days": 30, "keep_last": 1}, "dry_run": true}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "planned");
    assert_eq!(body["counts"]["to_delete"], 2);
    let rows = body["plan"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let kept: Vec<&Value> = rows.iter().filter(|r| r["action"] == "keep").collect();
    assert_eq!(
        (kept.len(), kept[0]["id"].as_str(), kept[0]["reason"].as_str()),
        (1, Some("bk-00"), Some("keep_last"))
    );
    for r in rows {
        for k in ["id", "resource_id", "created_at", "status", "action", "reason"] {
            assert!(r.get(k).is_some(), "{k} in {r}");
        }
    }
    assert_eq!(body["truncated"], false);
    assert_eq!(
        sim.sim.calls().iter().filter(|c| c.route == Route::CbrDelete).count(),
        0
    );
    let (status, body) = call(post(json!({"select": {"project_id": P, "older_than_days": 30}}))).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["counts"]["to_delete"], 4);
    assert_eq!(body["sent"], 4);
    assert!(body["selection_id"].as_str().unwrap().starts_with("sel_"));
    assert!(body.get("plan").is_none(), "a real run answers counts, not rows");
    let (status, body) = call(post(json!({"select": {"project_id": P, "older_then_days": 30}}))).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("select.older_then_days")),
        "{body}"
    );
    let (status, body) = call(post(
        json!({"select": {"project_id": P, "all_in_project": true, "max_backups": 2}}),
    ))
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("selection_too_large")),
        "{body}"
    );
    let (status, _) = call(post(json!({"fan_out": {"selection_id": "sel_x", "project_id": P, "request_prefix": "x", "targets": ["cp-old/old-00"]}}))).await;
    assert_eq!(status, 400);
    // Planned (dry run), Planned (real), Rejected (too large); nothing for the 400s before.
    let events = infra.events(3, WAIT).await;
    let outcomes: Vec<&str> = events.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "planned").count(), 2, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == "rejected").count(), 1);
    infra.no_more_events().await;
}
