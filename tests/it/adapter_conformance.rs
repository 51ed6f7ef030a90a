//! One conformance suite for the ports, run against both adapters: the in-memory queue and bus
//! (which the unit, pipeline and soak tests and the benchmarks rely on) and the SQS and
//! EventBridge adapters on moto. Where the workflow depends on a behaviour — visibility set at
//! receive, re-timing, receive counts, deletes, per-entry answers of batch calls — both must
//! behave alike, or the in-memory results would prove nothing about the deployed functions.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use aws_sdk_sqs::types::QueueAttributeName;
use csbs_deleter::adapters::eventbridge::EventBridgeSink;
use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::adapters::sqs::SqsQueue;
use csbs_deleter::outcome::{EventError, OutcomeEvent};
use csbs_deleter::ports::pending::{PendingQueue, Received};
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::request::DeletionRequest;
use csbs_deleter::task::PendingTask;
use serde_json::json;
use tokio::time::Instant;

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

fn task(checkpoint: &str) -> PendingTask {
    let req = DeletionRequest::from_value(&json!({"project_id": "p", "checkpoint_id": checkpoint})).unwrap();
    PendingTask::new(&req, chrono::Utc::now(), 1800)
}

/// The queue's default visibility is long (120 s, as deployed): everything below that depends
/// on a shorter one must come from the visibility the caller sets.
async fn sqs_queue() -> Arc<dyn PendingQueue> {
    let aws = aws().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let name = format!("conformance-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "120")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    Arc::new(SqsQueue::new(sqs, url, 0))
}

fn memory_queue() -> Arc<dyn PendingQueue> {
    Arc::new(MemoryQueue::new(Duration::from_secs(120)))
}

/// Receives until `n` messages came back or `within` passed (SQS answers may be partial).
async fn receive_n(q: &dyn PendingQueue, n: usize, visibility: Option<u32>, within: Duration) -> Vec<Received> {
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < n && started.elapsed() < within {
        got.extend(q.receive(10, visibility, soon()).await.unwrap());
    }
    got
}

async fn queue_conformance(q: Arc<dyn PendingQueue>, which: &str) {
    // SendMessageBatch: one answer per entry, in order; bodies arrive intact.
    let tasks: Vec<PendingTask> = (0..10).map(|i| task(&format!("c{i}"))).collect();
    let answers = q.send_batch(&tasks, soon()).await.unwrap();
    assert_eq!(answers.len(), 10, "{which}");
    assert!(answers.iter().all(Result::is_ok), "{which}: {answers:?}");
    let got = receive_n(q.as_ref(), 10, Some(60), Duration::from_secs(5)).await;
    assert_eq!(got.len(), 10, "{which}: every message received");
    let mut bodies: Vec<PendingTask> = got.iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect();
    bodies.sort_by(|a, b| a.checkpoint_id.cmp(&b.checkpoint_id));
    assert_eq!(bodies, tasks, "{which}: bodies intact");
    assert!(got.iter().all(|m| m.receive_count == 1), "{which}: first receive");

    // Received messages are hidden for the visibility given at receive.
    assert!(
        q.receive(10, Some(60), soon()).await.unwrap().is_empty(),
        "{which}: hidden after receive"
    );

    // Re-timing to 0 makes one visible again: received anew, counted, with a new receipt.
    let first = &got[0];
    let refused = q.set_visibility(&[(first.receipt.clone(), 0)], soon()).await.unwrap();
    assert!(refused.is_empty(), "{which}: {refused:?}");
    let again = receive_n(q.as_ref(), 1, Some(60), Duration::from_secs(5)).await;
    assert_eq!(again.len(), 1, "{which}: visible again after re-timing");
    assert_eq!(again[0].message_id, first.message_id);
    assert_eq!(again[0].receive_count, 2, "{which}: the receive count grows");
    assert_ne!(
        again[0].receipt, first.receipt,
        "{which}: a new receipt on every receive"
    );

    // A short visibility set at receive runs out by itself, whatever the queue's default.
    let refused = q
        .set_visibility(&[(again[0].receipt.clone(), 0)], soon())
        .await
        .unwrap();
    assert!(refused.is_empty());
    let short = receive_n(q.as_ref(), 1, Some(1), Duration::from_secs(5)).await;
    assert_eq!(short.len(), 1, "{which}");
    assert!(
        q.receive(10, Some(1), soon()).await.unwrap().is_empty(),
        "{which}: hidden for 1 s"
    );
    let back = receive_n(q.as_ref(), 1, Some(60), Duration::from_secs(10)).await;
    assert_eq!(back.len(), 1, "{which}: back once its 1 s visibility ran out");
    assert_eq!(back[0].message_id, first.message_id);

    // DeleteMessageBatch with current receipts: nothing refused, and the messages are gone.
    let mut receipts: Vec<String> = got[1..].iter().map(|m| m.receipt.clone()).collect();
    receipts.push(back[0].receipt.clone());
    let failed = q.delete(&receipts, soon()).await.unwrap();
    assert!(failed.is_empty(), "{which}: {failed:?}");
    for m in &got[1..] {
        // Re-timing a deleted message is refused entry by entry (or ignored), never an error.
        let _ = q.set_visibility(&[(m.receipt.clone(), 0)], soon()).await.unwrap();
    }
    assert!(
        receive_n(q.as_ref(), 1, Some(60), Duration::from_secs(2))
            .await
            .is_empty(),
        "{which}: empty after the deletes"
    );
    // Empty batches are no calls at all.
    assert!(q.send_batch(&[], soon()).await.unwrap().is_empty());
    assert!(q.delete(&[], soon()).await.unwrap().is_empty());
}

#[tokio::test]
async fn memory_queue_conforms() {
    queue_conformance(memory_queue(), "memory").await;
}

#[tokio::test]
async fn sqs_queue_on_moto_conforms() {
    require_moto!();
    queue_conformance(sqs_queue().await, "sqs").await;
}

fn event(n: usize) -> OutcomeEvent {
    OutcomeEvent::rejected_raw(
        format!("tsk_conformance_{n}"),
        Default::default(),
        chrono::Utc::now(),
        EventError {
            code: "c".into(),
            message: "m".into(),
            http_status: None,
        },
    )
}

async fn sink_conformance(sink: Arc<dyn EventSink>, which: &str) {
    let events: Vec<OutcomeEvent> = (0..10).map(event).collect();
    let answers = sink.put(&events, soon()).await.unwrap();
    assert_eq!(answers.len(), 10, "{which}: one answer per entry");
    assert!(answers.iter().all(Result::is_ok), "{which}: {answers:?}");
    assert!(
        sink.put(&events[..1], soon()).await.unwrap()[0].is_ok(),
        "{which}: a repeat is accepted (consumers dedupe)"
    );
}

#[tokio::test]
async fn memory_sink_conforms() {
    sink_conformance(Arc::new(MemorySink::new()), "memory").await;
}

#[tokio::test]
async fn eventbridge_sink_on_moto_conforms() {
    require_moto!();
    let infra = Infra::new(&aksk_json()).await;
    let sink = EventBridgeSink::new(
        aws_sdk_eventbridge::Client::new(&infra.aws),
        &infra.bus_name,
        EVENT_SOURCE,
    );
    sink_conformance(Arc::new(sink), "eventbridge").await;
    // And what was put arrives, as the consumers' rule would see it.
    let got = infra.events(11, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 11);
    assert_eq!(got[0]["_detail_type"], "Checkpoint Deletion Rejected");
}
