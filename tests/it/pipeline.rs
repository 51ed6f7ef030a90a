//! Poll as a pipeline and batched AWS calls (issue "batched pipelines"), with the in-memory
//! queue (real visibility semantics, injected receive latency) and bus against the simulator:
//! progress under a slow queue whose default visibility is shorter than the drain, invocations
//! killed at random points, duplicates spread over batches, and the number of AWS requests.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::chaos::Chaos;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::outcome::Outcome;
use csbs_deleter::poll::{PollSettings, PollSummary, Poller};
use csbs_deleter::ports::pending::PendingQueue;
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::request::DeletionRequest;
use csbs_deleter::sim::{self, DEMO_PROJECT as P, ItemSeed, Route, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{Record, SubmitSettings, Submitter};
use csbs_deleter::task::PendingTask;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::time::Instant;

async fn sim(delete_ms: (u64, u64)) -> RunningSim {
    Simulator::start(SimConfig {
        delete_duration: (Duration::from_millis(delete_ms.0), Duration::from_millis(delete_ms.1)),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn csbs(sim: &RunningSim) -> CsbsClient {
    let mut cc = ClientConfig::new(sim.base_url(), sim.base_url(), sim::demo_aksk());
    cc.retry.min_delay = Duration::from_millis(5);
    cc.retry.max_delay = Duration::from_millis(20);
    CsbsClient::new(cc).unwrap()
}

/// Seeds `n` checkpoints `<prefix>-<i>`, one available backup each.
fn seed_checkpoints(sim: &RunningSim, prefix: &str, n: usize) {
    for i in 0..n {
        let c = format!("{prefix}-{i}");
        sim.sim.seed(P, &c, &[ItemSeed::ok(format!("{c}-a"))]);
    }
}

/// A submitter over the given in-memory queue and bus.
fn submitter(client: CsbsClient, queue: &Arc<MemoryQueue>, sink: &Arc<MemorySink>) -> Submitter {
    Submitter::new(
        client,
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        SubmitSettings::default(),
    )
}

/// The deployed settings: a 50 s window, a check every 10 s, 16 CSBS calls at a time.
fn deployed() -> PollSettings {
    PollSettings::default()
}

/// A pending task for a checkpoint, as submit records it.
fn task(checkpoint: &str) -> PendingTask {
    let req = DeletionRequest::from_value(&json!({"project_id": P, "checkpoint_id": checkpoint})).unwrap();
    PendingTask::new(&req, chrono::Utc::now(), 1800)
}

/// What Lambda gives a 60 s poll invocation (less the function's own margin).
fn invocation() -> Instant {
    Instant::now() + Duration::from_millis(58_500)
}

fn distinct_terminal(sink: &MemorySink) -> HashMap<String, HashSet<(String, Outcome)>> {
    let mut by_task: HashMap<String, HashSet<(String, Outcome)>> = HashMap::new();
    for e in sink.events().into_iter().filter(|e| e.outcome != Outcome::Submitted) {
        by_task
            .entry(e.task_id.clone())
            .or_default()
            .insert((e.event_id, e.outcome));
    }
    by_task
}

/// 1,000 finished deletions behind a queue that takes 0.4 s per ReceiveMessage (as moto does
/// with 1,000 messages) and whose default visibility (30 s) is shorter than receiving them all
/// one batch after another (40 s): every task ends Completed within two 60 s invocations, and
/// no message reappears to be checked twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_behind_a_slow_queue_finish_within_two_invocations() {
    let sim = sim((0, 0)).await;
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)).with_receive_latency(Duration::from_millis(400)));
    let sink = Arc::new(MemorySink::new());
    let tasks: Vec<PendingTask> = (0..1000).map(|i| task(&format!("gone-{i}"))).collect();
    for chunk in tasks.chunks(10) {
        queue.send_batch(chunk, invocation()).await.unwrap();
    }
    let poller = Poller::new(
        csbs(&sim),
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        deployed(),
    );
    let mut total = PollSummary::default();
    let mut invocations = 0;
    while !queue.is_empty() && invocations < 2 {
        total.add(&poller.run(invocation()).await);
        invocations += 1;
    }
    assert_eq!(total.completed, 1000, "{total:?} after {invocations} invocations");
    assert!(queue.is_empty());
    let events = distinct_terminal(&sink);
    assert_eq!(events.len(), 1000);
    assert!(events.values().all(|e| e.len() == 1));
    let per_task = sim.sim.stats().csbs_calls() as f64 / 1000.0;
    assert!(per_task <= 1.05, "{per_task} CSBS calls per task");
    assert_eq!(total.checked, 1000, "each task checked once");
}

/// Invocations killed at random points — mid-receive, mid-check, mid-PutEvents, between an
/// accepted event and the delete — lose and duplicate nothing: every task ends in exactly one
/// distinct terminal event. After each kill the stranded messages are made visible, as their
/// visibility would run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_invocations_lose_and_duplicate_nothing() {
    let seed: u64 = std::env::var("PIPELINE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("pipeline seed: {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let sim = sim((100, 1500)).await;
    let queue = Arc::new(
        MemoryQueue::new(Duration::from_secs(30))
            .with_receive_latency(Duration::from_millis(20))
            .with_chaos(Chaos::new((0, 30), 0.0, seed)),
    );
    let sink = Arc::new(MemorySink::new().with_chaos(Chaos::new((0, 40), 0.0, seed ^ 7)));
    let client = csbs(&sim);
    let submitter = submitter(client.clone(), &queue, &sink);
    let mut expected = HashSet::new();
    for i in 0..120 {
        let c = format!("kill-{i}");
        if i % 3 > 0 {
            sim.sim.seed(P, &c, &[ItemSeed::ok(format!("{c}-a"))]);
        }
        let req = DeletionRequest::from_value(&json!({"project_id": P, "checkpoint_id": c})).unwrap();
        let accepted = submitter.submit(&req, invocation()).await.unwrap();
        expected.insert(accepted.task().task_id.clone());
    }
    let poller = Poller::new(
        client,
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        PollSettings {
            window: Duration::from_secs(2),
            interval: Duration::from_secs(1),
            ..PollSettings::default()
        },
    );
    let (mut kills, mut rounds) = (0, 0);
    while !queue.is_empty() {
        rounds += 1;
        assert!(rounds < 200, "seed {seed}: not finished, {} left", queue.len());
        let cut = Duration::from_millis(rng.random_range(20..1500));
        if tokio::time::timeout(cut, poller.run(invocation())).await.is_err() {
            kills += 1;
        }
        queue.expire_visibility();
    }
    let events = distinct_terminal(&sink);
    for id in &expected {
        let seen = events.get(id).cloned().unwrap_or_default();
        assert_eq!(seen.len(), 1, "seed {seed}: {id}: {seen:?}");
        assert_eq!(seen.iter().next().unwrap().1, Outcome::Completed);
    }
    assert_eq!(
        events.len(),
        expected.len(),
        "seed {seed}: no event for an unknown task"
    );
    assert!(kills > 0, "seed {seed}: some invocations were killed");
    println!(
        "pipeline: {} tasks, {rounds} invocations, {kills} killed",
        expected.len()
    );
}

/// Copies of one task received in different batches of one pass share one check and one event.
#[tokio::test]
async fn duplicates_in_different_batches_share_one_check() {
    let sim = sim((0, 0)).await;
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    let sink = Arc::new(MemorySink::new());
    let dup = task("dup");
    queue.send(&dup, invocation()).await.unwrap();
    for i in 0..25 {
        queue.send(&task(&format!("other-{i}")), invocation()).await.unwrap();
        if i % 12 == 11 {
            queue.send(&dup, invocation()).await.unwrap();
        }
    }
    let poller = Poller::new(
        csbs(&sim),
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        deployed(),
    );
    let s = poller.run(invocation()).await;
    assert_eq!((s.checked, s.completed), (26, 26), "{s:?}");
    assert!(queue.is_empty(), "every copy deleted");
    let checks = sim
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.route == Route::List && c.target.contains("checkpoint_id=dup"))
        .count();
    assert_eq!(checks, 1, "one check for three copies");
    let dup_events: Vec<_> = sink.events().into_iter().filter(|e| e.task_id == dup.task_id).collect();
    assert_eq!(dup_events.len(), 1);
}

fn records(n: usize, prefix: &str) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            message_id: format!("{prefix}-{i}"),
            body: json!({"project_id": P, "checkpoint_id": format!("{prefix}-{i}")}).to_string(),
            sent_at: None,
        })
        .collect()
}

/// A batch of ten requests costs one SendMessageBatch and one PutEvents (0.2 requests per
/// request); poll costs one ReceiveMessage, one PutEvents and one DeleteMessageBatch per ten
/// finished checks.
#[tokio::test]
async fn aws_requests_are_batched() {
    let sim = sim((0, 0)).await;
    seed_checkpoints(&sim, "b", 10);
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    let sink = Arc::new(MemorySink::new());
    let client = csbs(&sim);
    let submitter = submitter(client.clone(), &queue, &sink);
    let failed = submitter.submit_batch(&records(10, "b"), invocation()).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        (queue.calls().send, sink.puts()),
        (1, 1),
        "one SendMessageBatch, one PutEvents"
    );
    assert_eq!(queue.len(), 10);
    assert_eq!(sink.events().len(), 10);

    // Poll, once the deletions are done: 10 checks.
    tokio::time::timeout(Duration::from_secs(10), async {
        while sim.sim.finished().len() < 10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let before = (queue.calls(), sink.puts());
    let poller = Poller::new(
        client,
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        PollSettings {
            window: Duration::ZERO,
            ..deployed()
        },
    );
    let s = poller.run(invocation()).await;
    assert_eq!(s.completed, 10);
    let q = queue.calls();
    assert_eq!(sink.puts() - before.1, 1, "one PutEvents for ten events");
    assert_eq!(q.delete - before.0.delete, 1, "one DeleteMessageBatch for ten messages");
    // The lanes' receives: the one batch, then an empty answer per lane at most.
    let receives = q.receive - before.0.receive;
    assert!(receives <= 1 + 3, "{receives} receives");
}

/// A refused SendMessageBatch entry fails only its own record: it is reported for redelivery
/// and gets no Submitted event; the others are recorded and announced.
#[tokio::test]
async fn a_refused_batch_entry_fails_only_its_record() {
    let sim = sim((60_000, 60_000)).await;
    seed_checkpoints(&sim, "e", 3);
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    let sink = Arc::new(MemorySink::new());
    let submitter = submitter(csbs(&sim), &queue, &sink);
    let recs = records(3, "e");
    queue.refuse_next_sends(1);
    let failed = submitter.submit_batch(&recs, invocation()).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(queue.len(), 2);
    let submitted: Vec<String> = sink
        .events()
        .into_iter()
        .map(|e| e.checkpoint_id.unwrap_or_default())
        .collect();
    assert_eq!(submitted.len(), 2);
    assert!(
        !submitted.contains(&failed[0]),
        "no Submitted event for the refused record"
    );
    // Its redelivery answers CSBS.2003 (already deleting) and is recorded then.
    let again: Vec<Record> = recs.into_iter().filter(|r| r.message_id == failed[0]).collect();
    assert!(submitter.submit_batch(&again, invocation()).await.is_empty());
    assert_eq!(queue.len(), 3);
    // The bus refusing one entry: only that entry is put again (one more call, one entry).
    sim.sim.seed(P, "f-0", &[ItemSeed::ok("f-0-a")]);
    sim.sim.seed(P, "f-1", &[ItemSeed::ok("f-1-a")]);
    let (puts, events) = (sink.puts(), sink.events().len());
    sink.refuse_next_entries(1);
    let failed = submitter.submit_batch(&records(2, "f"), invocation()).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(sink.puts() - puts, 2, "the batch, then the refused entry alone");
    assert_eq!(sink.events().len() - events, 2, "each event once");
}
