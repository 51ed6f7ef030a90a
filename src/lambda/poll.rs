//! The poll function's entry: any schedule input (EventBridge Scheduler passes `Input` verbatim;
//! the classic scheduled event is an envelope), one run of the poll workflow, a summary
//! returned, logged and published as CloudWatch metrics in Embedded Metric Format.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

use super::work_deadline;
use crate::poll::PollSummary;
use crate::wiring::PollApp;

pub const METRICS_NAMESPACE: &str = "CsbsDeleter";

/// One EMF log line: CloudWatch turns it into metrics without any API call.
pub fn emf_line(summary: &PollSummary, function_name: &str, timestamp_ms: i64) -> String {
    let names = [
        "checked",
        "completed",
        "failed",
        "timed_out",
        "still_pending",
        "cloud_calls",
        "unreadable",
        "unemitted",
        "ledger_errors",
    ];
    let summary_json = serde_json::to_value(summary).expect("serialisable");
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": names.iter().map(|n| json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
            }]
        },
        "FunctionName": function_name,
    });
    for n in names {
        doc[n] = summary_json[n].clone();
    }
    doc.to_string()
}

pub async fn handle(app: &PollApp, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let poller = &app.poller;
    let (payload, context) = event.into_parts();
    // The input only identifies the trigger; the pending queue is the state.
    let trigger = payload
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or("schedule input");
    let deadline = work_deadline(context.deadline);
    let budget_ms = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .as_millis() as u64;
    tracing::info!(trigger, budget_ms, "poll tick");
    let summary = poller.run(deadline).await;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "poll".into());
    println!(
        "{}",
        emf_line(&summary, &function, chrono::Utc::now().timestamp_millis())
    );
    if let Some(sink) = &app.metrics {
        super::publish_metrics(&sink.take(), &poller.csbs().take_latencies());
    }
    tracing::info!(
        checked = summary.checked,
        completed = summary.completed,
        failed = summary.failed,
        timed_out = summary.timed_out,
        still_pending = summary.still_pending,
        cloud_calls = summary.cloud_calls,
        "poll finished"
    );
    Ok(serde_json::to_value(summary)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_metric() {
        let s = PollSummary {
            checked: 3,
            completed: 2,
            still_pending: 1,
            cloud_calls: 3,
            ..Default::default()
        };
        let v: Value = serde_json::from_str(&emf_line(&s, "poll-fn", 1)).unwrap();
        let metrics = v["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap();
        for m in metrics {
            let name = m["Name"].as_str().unwrap();
            assert!(v[name].is_u64(), "{name} has a value");
        }
        assert_eq!(
            (
                v["checked"].as_u64(),
                v["completed"].as_u64(),
                v["FunctionName"].as_str()
            ),
            (Some(3), Some(2), Some("poll-fn"))
        );
    }
}
