//! The poll workflow with the in-memory queue and bus (ports and adapters) against the CSBS
//! simulator: crashes between steps, partial PutEvents failures, duplicates, unreadable
//! messages, and a thousand pending tasks in one invocation.

use std::sync::Arc;
use std::time::Duration;

use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::outcome::Outcome;
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::pending::PendingQueue;
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::request::DeletionRequest;
use csbs_deleter::sim::{self, DEMO_PROJECT as P, Fault, ItemSeed, Route, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{SubmitSettings, Submitter};
use csbs_deleter::task::PendingTask;
use serde_json::json;
use tokio::time::Instant;

struct World {
    sim: RunningSim,
    queue: Arc<MemoryQueue>,
    sink: Arc<MemorySink>,
    submitter: Submitter,
    poller: Poller,
}

async fn world(delete_ms: u64, window: Duration) -> World {
    let sim = Simulator::start(SimConfig {
        delete_duration: (Duration::from_millis(delete_ms), Duration::from_millis(delete_ms)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let creds = sim::demo_aksk();
    let mut cc = ClientConfig::new(sim.base_url(), sim.base_url(), creds);
    cc.retry.min_delay = Duration::from_millis(5);
    cc.retry.max_delay = Duration::from_millis(20);
    // These tests are of the workflow, not of the pace (tests/it/bulk.rs): no rate bound.
    cc.pace.ceiling = 100_000.0;
    let csbs = CsbsClient::new(cc).unwrap();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(300)));
    let sink = Arc::new(MemorySink::new());
    let submitter = Submitter::new(
        csbs.clone(),
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        SubmitSettings::default(),
    );
    let settings = PollSettings {
        window,
        interval: Duration::from_secs(1),
        ..PollSettings::default()
    };
    let poller = Poller::new(
        csbs,
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        settings,
    );
    World {
        sim,
        queue,
        sink,
        submitter,
        poller,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

async fn submit(w: &World, checkpoint: &str) -> PendingTask {
    let req = DeletionRequest::from_value(&json!({"project_id": P, "checkpoint_id": checkpoint})).unwrap();
    w.submitter.submit(&req, soon()).await.unwrap().task().clone()
}

fn terminal(w: &World) -> Vec<csbs_deleter::outcome::OutcomeEvent> {
    w.sink
        .events()
        .into_iter()
        .filter(|e| e.outcome != Outcome::Submitted)
        .collect()
}

/// Waits until the simulator has finished every deletion (observed, not slept for).
async fn until_deleted(w: &World, n: usize) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while w.sim.sim.finished().len() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the simulator finished the deletions");
}

#[tokio::test]
async fn crash_after_receive_then_crash_after_emit_same_event_id() {
    let w = world(0, Duration::ZERO).await;
    w.sim.sim.seed(P, "c1", &[ItemSeed::ok("i1")]);
    let task = submit(&w, "c1").await;
    until_deleted(&w, 1).await;
    // An invocation received the message and died: it is invisible until its timeout passes.
    let taken = w.queue.receive(10, None, soon()).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(w.poller.run(soon()).await.checked, 0);
    w.queue.expire_visibility();
    // The next invocation emits, then dies before deleting.
    w.queue.fail_deletes(true);
    let s = w.poller.run(soon()).await;
    assert_eq!(s.completed, 1);
    assert_eq!(w.queue.len(), 1, "kept: the delete did not happen");
    // The one after that finishes the job with the same event id.
    w.queue.fail_deletes(false);
    w.queue.expire_visibility();
    assert_eq!(w.poller.run(soon()).await.completed, 1);
    assert!(w.queue.is_empty());
    let events = terminal(&w);
    assert_eq!(events.len(), 2, "delivered twice (at least once)...");
    assert_eq!(events[0].event_id, events[1].event_id, "...but one distinct event");
    assert_eq!(events[0].task_id, task.task_id);
}

#[tokio::test]
async fn put_events_partial_failure_keeps_the_message() {
    let w = world(0, Duration::ZERO).await;
    w.sim.sim.seed(P, "a", &[ItemSeed::ok("ia")]);
    w.sim.sim.seed(P, "b", &[ItemSeed::ok("ib")]);
    submit(&w, "a").await;
    submit(&w, "b").await;
    until_deleted(&w, 2).await;
    w.sink.refuse_next_entries(1);
    let s = w.poller.pass(soon()).await;
    // emit_all retries refused entries: a single refusal is absorbed within the pass.
    assert_eq!((s.completed, s.unemitted), (2, 0));
    assert!(w.queue.is_empty());
    // A bus that keeps refusing: the message stays and comes back.
    w.sim.sim.seed(P, "c", &[ItemSeed::ok("ic")]);
    submit(&w, "c").await;
    until_deleted(&w, 3).await;
    w.sink.refuse_next_entries(100);
    let s = w.poller.pass(soon()).await;
    assert_eq!((s.completed, s.unemitted), (0, 1));
    assert_eq!(w.queue.len(), 1);
    w.sink.refuse_next_entries(0);
    w.queue.expire_visibility();
    assert_eq!(w.poller.pass(soon()).await.completed, 1);
    assert!(w.queue.is_empty());
    let ids: std::collections::HashSet<_> = terminal(&w).into_iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn duplicated_pending_messages_make_one_event() {
    let w = world(0, Duration::ZERO).await;
    w.sim.sim.seed(P, "d", &[ItemSeed::ok("id")]);
    let task = submit(&w, "d").await;
    for _ in 0..3 {
        w.queue.send(&task, soon()).await.unwrap();
    }
    until_deleted(&w, 1).await;
    let s = w.poller.pass(soon()).await;
    assert_eq!((s.checked, s.completed, s.cloud_calls), (1, 1, 1), "{s:?}");
    assert!(w.queue.is_empty(), "every copy was deleted");
    assert_eq!(terminal(&w).len(), 1);
}

#[tokio::test]
async fn unreadable_pending_message_becomes_a_failed_event() {
    let w = world(0, Duration::ZERO).await;
    w.queue.push_raw("{\"task_id\": 42");
    let s = w.poller.pass(soon()).await;
    assert_eq!((s.unreadable, s.checked), (1, 0));
    let e = &terminal(&w)[0];
    assert_eq!(e.outcome, Outcome::Failed);
    assert_eq!(e.error.as_ref().unwrap().code, "unreadable_pending_task");
    assert!(w.queue.is_empty(), "acknowledged once reported: it cannot loop");
}

#[tokio::test]
async fn available_after_a_check_reissues_the_delete() {
    let w = world(60_000, Duration::ZERO).await;
    w.sim.sim.seed(P, "lost", &[ItemSeed::ok("lost-1")]);
    // A pending task whose DELETE CSBS never acted upon.
    let req = DeletionRequest::from_value(&json!({"project_id": P, "checkpoint_id": "lost"})).unwrap();
    w.queue
        .send(&PendingTask::new(&req, chrono::Utc::now(), 600), soon())
        .await
        .unwrap();
    let s = w.poller.pass(soon()).await;
    assert_eq!(
        (s.still_pending, s.cloud_calls),
        (1, 2),
        "one check and one re-issued DELETE"
    );
    assert_eq!(w.sim.sim.item_status(P, "lost-1").as_deref(), Some("deleting"));
}

#[tokio::test]
async fn unfinished_tasks_are_rechecked_within_the_window() {
    let w = world(1500, Duration::from_secs(20)).await;
    w.sim.sim.seed(P, "slow", &[ItemSeed::ok("slow-1")]);
    submit(&w, "slow").await;
    let started = Instant::now();
    let s = w.poller.run(started + Duration::from_secs(25)).await;
    assert_eq!(s.completed, 1);
    assert!(s.passes >= 2, "{s:?}");
    // Reported within about one pass period of CSBS finishing (1 s interval + alignment slack),
    // not at a later tick.
    let finished = w.sim.sim.finished()[0].finished_at.unwrap();
    assert!(Instant::now().duration_since(finished) < Duration::from_secs(5));
}

#[tokio::test]
async fn thousand_pending_tasks_in_one_invocation() {
    let w = world(0, Duration::from_secs(20)).await;
    for i in 0..1000 {
        w.sim
            .sim
            .seed(P, &format!("k-{i}"), &[ItemSeed::ok(format!("k-{i}-item"))]);
    }
    for i in 0..1000 {
        w.queue
            .send(
                &PendingTask::new(
                    &DeletionRequest::from_value(&json!({"project_id": P, "checkpoint_id": format!("k-{i}")})).unwrap(),
                    chrono::Utc::now(),
                    600,
                ),
                soon(),
            )
            .await
            .unwrap();
    }
    // Let CSBS work: issue the deletions as submit would have.
    let client_calls_before = w.sim.sim.stats().csbs_calls();
    let s = w.poller.run(soon()).await;
    // The first pass re-issues the DELETEs (items were `available`), the next ones complete.
    assert_eq!(s.completed, 1000, "{s:?}");
    assert!(w.queue.is_empty());
    assert_eq!(terminal(&w).len(), 1000);
    assert!(
        w.sim.sim.stats().csbs_calls() - client_calls_before <= 3000,
        "{:?}",
        w.sim.sim.stats()
    );
}

#[tokio::test]
async fn csbs_outage_never_loses_a_task() {
    let w = world(0, Duration::ZERO).await;
    for i in 0..5 {
        w.sim
            .sim
            .seed(P, &format!("o-{i}"), &[ItemSeed::ok(format!("o-{i}-i"))]);
        submit(&w, &format!("o-{i}")).await;
    }
    until_deleted(&w, 5).await;
    w.sim.sim.add_fault(Fault::status(Route::Any, 503));
    let s = w.poller.pass(Instant::now() + Duration::from_secs(5)).await;
    assert_eq!((s.still_pending, s.completed), (5, 0));
    assert_eq!(w.queue.len(), 5);
    w.sim.sim.clear_faults();
    w.queue.expire_visibility();
    assert_eq!(w.poller.pass(soon()).await.completed, 5);
    assert!(w.queue.is_empty());
}
