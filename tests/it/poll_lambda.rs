//! The poll function's handler against the simulator and moto: tasks recorded by the real
//! submit handler are checked and end in exactly one terminal event each.

use std::time::Duration;

use crate::common::*;
use csbs_deleter::lambda::{dispatch, poll};
use csbs_deleter::sim::{DEMO_PROJECT as P, Fault, ItemSeed, Route};
use csbs_deleter::wiring;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn completed_failed_and_timed_out_in_one_invocation() {
    require_moto!();
    let sim = sim().await;
    sim.sim
        .set_delete_duration(Duration::from_millis(100), Duration::from_millis(300));
    sim.sim.seed(P, "ok", &[ItemSeed::ok("ok-1"), ItemSeed::ok("ok-2")]);
    sim.sim.seed(P, "bad", &[ItemSeed::failing("bad-1")]);
    sim.sim.seed(
        P,
        "stuck",
        &[ItemSeed {
            id: "stuck-1".into(),
            status: Some("protecting".into()),
            ..Default::default()
        }],
    );
    let infra = Infra::new(&password_json()).await;
    let config = infra.config(&sim, &[("POLL_INTERVAL_SECONDS", "1"), ("POLL_WINDOW_SECONDS", "15")]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let bodies = [
        json!({"project_id": P, "checkpoint_id": "ok", "request_id": "ok"}),
        json!({"project_id": P, "checkpoint_id": "bad", "request_id": "bad"}),
        json!({"project_id": P, "checkpoint_id": "stuck", "request_id": "stuck", "timeout_seconds": 2}),
    ];
    let answer = dispatch::handle(&app, event(sqs_body_event(&bodies), 20))
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    let submitted = infra.events(3, WAIT).await;
    assert!(submitted.iter().all(|e| e["outcome"] == "submitted"));

    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let summary = poll::handle(&poll_app, event(fixture("schedule-v2.json"), 30))
        .await
        .unwrap();
    assert_eq!(
        (
            summary["completed"].as_u64(),
            summary["failed"].as_u64(),
            summary["timed_out"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{summary}"
    );
    assert_eq!(summary["still_pending"], 0);

    let events = infra.events(3, WAIT).await;
    let by = |r: &str| events.iter().find(|e| e["request_id"] == r).unwrap().clone();
    let ok = by("ok");
    assert_eq!(
        (
            ok["outcome"].as_str(),
            ok["last_status"].as_str(),
            ok["_detail_type"].as_str()
        ),
        (Some("completed"), Some("absent"), Some("Checkpoint Deletion Completed"))
    );
    let bad = by("bad");
    assert_eq!(
        (bad["outcome"].as_str(), bad["last_status"].as_str()),
        (Some("failed"), Some("error"))
    );
    assert!(bad["error"]["message"].as_str().unwrap().contains("Simulated failure"));
    let stuck = by("stuck");
    assert_eq!(
        (stuck["outcome"].as_str(), stuck["last_status"].as_str()),
        (Some("timed_out"), Some("protecting"))
    );
    assert_eq!(stuck["_detail_type"], "Checkpoint Deletion Timed Out");
    for e in &events {
        assert!(e["elapsed_seconds"].as_f64().unwrap() >= 0.0 && e["finished_at"].is_string());
        assert_eq!(
            e["task_id"],
            submitted.iter().find(|s| s["request_id"] == e["request_id"]).unwrap()["task_id"]
        );
    }
    assert_eq!(infra.pending_count().await, 0, "every finished task was forgotten");
    infra.no_more_events().await;
}

#[tokio::test]
async fn classic_scheduled_event_and_empty_queue_return_at_once() {
    require_moto!();
    let sim = sim().await;
    let infra = Infra::new(&aksk_json()).await;
    let config = infra.config(&sim, &[]);
    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let summary = poll::handle(&poll_app, event(fixture("scheduled-event.json"), 60))
        .await
        .unwrap();
    // Nothing pending: one pass and no second one waited for, whatever the 50 s window.
    assert_eq!(
        (summary["checked"].as_u64(), summary["passes"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(sim.sim.stats().csbs_calls(), 0);
}

#[tokio::test]
async fn csbs_503_during_a_tick_keeps_tasks_pending() {
    require_moto!();
    let sim = sim().await;
    sim.sim
        .set_delete_duration(Duration::from_millis(10), Duration::from_millis(10));
    sim.sim.seed(P, "c", &[ItemSeed::ok("i")]);
    let infra = Infra::new(&aksk_json()).await;
    let config = infra.config(&sim, &[("POLL_WINDOW_SECONDS", "0"), ("POLL_INTERVAL_SECONDS", "1")]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    dispatch::handle(
        &app,
        event(sqs_body_event(&[json!({"project_id": P, "checkpoint_id": "c"})]), 20),
    )
    .await
    .unwrap();
    infra.events(1, WAIT).await;
    sim.sim.add_fault(Fault::status(Route::List, 503));
    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let s = poll::handle(&poll_app, event(fixture("schedule-v2.json"), 8))
        .await
        .unwrap();
    assert_eq!(
        (
            s["checked"].as_u64(),
            s["still_pending"].as_u64(),
            s["completed"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(infra.pending_count().await, 1, "nothing lost");
    sim.sim.clear_faults();
    // The task reappears after its next-check delay (1 s); a later tick finishes it.
    let mut done = json!(null);
    for _ in 0..40 {
        done = poll::handle(&poll_app, event(fixture("schedule-v2.json"), 8))
            .await
            .unwrap();
        if done["completed"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(done["completed"], 1, "{done}");
    assert_eq!(infra.events(1, WAIT).await[0]["outcome"], "completed");
    assert_eq!(infra.pending_count().await, 0);
}
