//! The demo's requests: an SQS batch (a plain request, an EventBridge envelope, a duplicate, an
//! invalid one, a CBR restore point), signed HTTP calls, and a retention rule as a dry run over
//! HTTP and then for real from SQS.

use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use super::console::Console;
use super::payloads::{context, signed_post, sqs_event};
use super::{Local, RETENTION_SERVER};
use crate::lambda::dispatch;
use crate::sim::DEMO_PROJECT;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The deletion requests, by SQS and by HTTP.
pub(super) async fn submit_requests(local: &Local, console: &Console) -> Result<(), Failure> {
    let ckpt = |n: u32| format!("c0ffee00-0000-4000-8000-{n:012}");
    // SQS-shaped: a batch with a plain request, an EventBridge envelope, a duplicate and an invalid one.
    let sqs_bodies = vec![
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(0), "request_id": "sqs-0", "context": {"ticket": "OPS-1"}}),
        json!({"version": "0", "id": "e1", "detail-type": "Delete Backup", "source": "com.example", "account": "000000000000",
               "time": "2026-01-01T00:00:00Z", "region": "eu-central-1", "resources": [],
               "detail": {"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(1), "request_id": "sqs-eb-1"}}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(0), "request_id": "sqs-0", "context": {"ticket": "OPS-1"}}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": "../../etc/passwd"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(6), "request_id": "sqs-failing"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(2)}),
        // CBR beside CSBS: every backup of a restore point (listed at submit time).
        json!({"service": "cbr", "project_id": DEMO_PROJECT, "checkpoint_id": crate::sim::demo_restore_point(0), "request_id": "sqs-cbr-rp0"}),
    ];
    console.say("submit ← SQS batch of 7 (one duplicate, one invalid, one CBR restore point)".into());
    let answer = dispatch::handle(&local.app, LambdaEvent::new(sqs_event(&sqs_bodies), context(30))).await?;
    console.say(format!("submit → batchItemFailures: {}", answer["batchItemFailures"]));
    // HTTP-shaped: signed webhook calls.
    for body in [
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(3), "checkpoint_items": [
            "be1a0000-0003-4000-8000-000000000000", "be1a0000-0003-4000-8000-000000000001", "be1a0000-0003-4000-8000-000000000002"]}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(4), "request_id": "http-4"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(5), "request_id": "http-5"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(7), "request_id": "http-7"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": "c0ffee00-dead-4000-8000-000000000000", "request_id": "gone"}),
        json!({"service": "cbr", "project_id": DEMO_PROJECT, "backup_ids": ["cbb00000-0001-4000-8000-000000000000", "cbb00000-0002-4000-8000-000000000000"], "request_id": "http-cbr"}),
        // A backup with its replica in the second region: two targets, one task.
        json!({"service": "cbr", "project_id": DEMO_PROJECT, "backup_id": super::world::REPLICATED_BACKUP, "with_replicas": true, "request_id": "http-cbr-replicas"}),
    ] {
        let answer = dispatch::handle(&local.app, LambdaEvent::new(signed_post(&body), context(30))).await?;
        console.say(format!(
            "submit ← HTTP POST /deletions → {} {}",
            answer["statusCode"],
            answer["body"].as_str().unwrap_or("")
        ));
    }

    Ok(())
}

/// Delete by rule: "older than 30 days, keep the last 2 of the server".
pub(super) async fn select_by_rule(local: &Local, console: &Console) -> Result<(), Failure> {
    // A dry run over HTTP first, then the real selection from SQS, which fans out through the
    // intake queue.
    let select =
        json!({"project_id": DEMO_PROJECT, "resource_id": RETENTION_SERVER, "older_than_days": 30, "keep_last": 2});
    let answer = dispatch::handle(
        &local.app,
        LambdaEvent::new(signed_post(&json!({"select": select, "dry_run": true})), context(30)),
    )
    .await?;
    console.say(describe_plan(&answer));
    let answer = dispatch::handle(
        &local.app,
        LambdaEvent::new(
            sqs_event(&[json!({"select": select, "request_id": "retention"})]),
            context(30),
        ),
    )
    .await?;
    console.say(format!(
        "submit ← SQS selection (the same rule, for real) → batchItemFailures: {}; {} message(s) on the intake queue (targets, or a follow-up while the service is busy)",
        answer["batchItemFailures"],
        local.intake.len()
    ));
    Ok(())
}

/// The dry run's answer in a line: its counts and each row's action and reason.
fn describe_plan(answer: &Value) -> String {
    let plan: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("{}")).unwrap_or_default();
    let rows = plan["plan"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {}: {}",
                        r["name"].as_str().unwrap_or("?"),
                        r["action"].as_str().unwrap_or("?"),
                        r["reason"].as_str().unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "submit ← HTTP POST /deletions (dry-run selection) → {} counts {} ({rows})",
        answer["statusCode"], plan["counts"]
    )
}
