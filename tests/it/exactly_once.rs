//! Exactly one outcome per task (docs/DESIGN.md, "Decisions"): copies of a task — SQS's
//! at-least-once duplicates, two pollers at once, late intake redeliveries, retried HTTP POSTs,
//! an invocation that dies between emitting and deleting — checked at different moments around
//! the deadline, all end in the first decision, which the ledger holds. In-memory queue, bus and
//! ledger (the ledger's conformance suite runs them against DynamoDB too), the simulator over
//! loopback.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use csbs_deleter::adapters::memory::MemoryLedger;
use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::outcome::{Outcome, OutcomeEvent};
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::ledger::{Ledger, State, decide_event};
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::request::DeletionRequest;
use csbs_deleter::sim::{self, ItemSeed, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{Accepted, SubmitSettings, Submitter};
use proptest::prelude::*;
use serde_json::json;
use tokio::time::Instant;

struct World {
    sim: RunningSim,
    queue: Arc<MemoryQueue>,
    sink: Arc<MemorySink>,
    ledger: Arc<MemoryLedger>,
    csbs: CsbsClient,
}

async fn world(delete: (Duration, Duration)) -> World {
    let sim = Simulator::start(SimConfig {
        delete_duration: delete,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut cc = ClientConfig::new(sim.base_url(), sim.base_url(), sim::demo_aksk());
    cc.retry.min_delay = Duration::from_millis(5);
    cc.retry.max_delay = Duration::from_millis(20);
    World {
        csbs: CsbsClient::new(cc).unwrap(),
        sim,
        queue: Arc::new(MemoryQueue::new(Duration::from_secs(30))),
        sink: Arc::new(MemorySink::new()),
        ledger: Arc::new(MemoryLedger::new()),
    }
}

impl World {
    fn submitter(&self) -> Submitter {
        Submitter::new(
            self.csbs.clone(),
            self.queue.clone(),
            self.sink.clone() as Arc<dyn EventSink>,
            self.ledger.clone(),
            SubmitSettings::default(),
        )
    }

    fn poller(&self, window: Duration) -> Poller {
        Poller::new(
            self.csbs.clone(),
            self.queue.clone(),
            self.sink.clone() as Arc<dyn EventSink>,
            self.ledger.clone(),
            PollSettings {
                window,
                interval: Duration::from_secs(1),
                ..Default::default()
            },
        )
    }

    /// Distinct terminal outcomes per task, from the bus.
    fn terminal(&self) -> HashMap<String, HashSet<(String, Outcome)>> {
        let mut by_task: HashMap<String, HashSet<(String, Outcome)>> = HashMap::new();
        for e in self.sink.events().into_iter().filter(|e| e.outcome.is_terminal()) {
            by_task
                .entry(e.task_id.clone())
                .or_default()
                .insert((e.event_id, e.outcome));
        }
        by_task
    }

    /// Every task ended in one distinct terminal event, and it is the ledger's decision.
    async fn assert_one_outcome_each(&self, tasks: usize) {
        let terminal = self.terminal();
        assert_eq!(terminal.len(), tasks, "every task ended");
        for (task_id, outcomes) in &terminal {
            assert_eq!(outcomes.len(), 1, "{task_id}: {outcomes:?}");
            let (event_id, outcome) = outcomes.iter().next().unwrap();
            let record = self.ledger.get(task_id, far()).await.unwrap().expect("a record");
            let recorded = record.terminal_event().expect("decided");
            assert_eq!(
                (&recorded.event_id, recorded.outcome),
                (event_id, *outcome),
                "{task_id}"
            );
            assert_eq!(State::of(*outcome), Some(record.state));
        }
    }
}

/// Until the simulator has finished the deletion of `item` (gone or failed): the state the
/// test goes on from, awaited rather than slept for.
async fn finished(w: &World, item: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    while !w.sim.sim.finished().iter().any(|f| f.item_id == item) {
        assert!(Instant::now() < until, "{item} never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn request(project: &str, timeout: u64) -> DeletionRequest {
    DeletionRequest::from_value(&json!({"project_id": project, "checkpoint_id": "ckpt", "timeout_seconds": timeout}))
        .unwrap()
}

/// The case, made deterministic: one copy is checked just after the deadline while the
/// deletion still runs (Timed Out), a second copy — SQS delivered the message twice — after it
/// finished (Completed). The second copy emits the recorded Timed Out, not its own verdict.
#[tokio::test]
async fn a_copy_checked_after_the_deletion_finished_repeats_the_first_decision() {
    let w = world((Duration::from_millis(2500), Duration::from_millis(2500))).await;
    w.sim.sim.seed(sim::DEMO_PROJECT, "ckpt", &[ItemSeed::ok("item")]);
    let s = w.submitter();
    let Accepted::Submitted(task) = s.submit(&request(sim::DEMO_PROJECT, 1), far()).await.unwrap() else {
        panic!("submitted");
    };
    // The duplicate becomes visible once the deletion has finished.
    w.queue
        .push_delayed(serde_json::to_string(&task).unwrap(), Duration::from_millis(3500));
    // Past the 1 s deadline (the deletion takes 2.5 s): the time itself is what is waited for.
    tokio::time::sleep_until(Instant::now() + Duration::from_millis(1200)).await;
    let p = w.poller(Duration::ZERO);
    let first = p.pass(far()).await;
    assert_eq!(first.timed_out, 1, "past the deadline, still deleting: {first:?}");
    // The delayed copy, checked after the backup is gone.
    finished(&w, "item").await;
    let until = Instant::now() + Duration::from_secs(10);
    while !w.queue.is_empty() && Instant::now() < until {
        if p.pass(far()).await.checked == 0 {
            // Not visible yet: its delay is SQS's DelaySeconds, not a state to await.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(w.queue.is_empty());
    let gone = w.csbs.get_item(sim::DEMO_PROJECT, "item", far()).await.unwrap();
    assert!(gone.is_none(), "the backup was gone by the second check");
    w.assert_one_outcome_each(1).await;
    assert_eq!(w.terminal()[&task.task_id].iter().next().unwrap().1, Outcome::TimedOut);

    // A late intake redelivery of the request: no DELETE, the recorded event again.
    let deletes = w.sim.sim.stats().delete;
    match s.submit(&request(sim::DEMO_PROJECT, 1), far()).await.unwrap() {
        Accepted::Decided(d) => assert_eq!(d.event.outcome, Outcome::TimedOut),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.sim.sim.stats().delete,
        deletes,
        "a decided request is not deleted again"
    );
    w.assert_one_outcome_each(1).await;
}

/// An HTTP client that retries its POST three seconds later keeps the first deadline.
#[tokio::test]
async fn a_retried_request_keeps_its_first_deadline() {
    let w = world((Duration::from_secs(60), Duration::from_secs(60))).await;
    w.sim.sim.seed(sim::DEMO_PROJECT, "ckpt", &[ItemSeed::ok("item")]);
    let s = w.submitter();
    let t0 = Utc::now();
    let first = s.submit_at(&request(sim::DEMO_PROJECT, 600), t0, far()).await.unwrap();
    let again = s
        .submit_at(
            &request(sim::DEMO_PROJECT, 600),
            t0 + chrono::Duration::seconds(3),
            far(),
        )
        .await
        .unwrap();
    let (Accepted::Submitted(a), Accepted::Submitted(b)) = (first, again) else {
        panic!("both submitted");
    };
    assert_eq!(
        (a.task_id, a.deadline, a.submitted_at),
        (b.task_id, b.deadline, b.submitted_at)
    );
    assert_eq!(w.ledger.calls().writes, 2, "one record, one refused second write");
}

/// An invocation that emits and dies before deleting: the next one sees the message again,
/// checks again and emits the same event (same id), whatever it sees now.
#[tokio::test]
async fn a_crash_between_emit_and_delete_repeats_the_same_event() {
    let w = world((Duration::from_millis(200), Duration::from_millis(200))).await;
    w.sim.sim.seed(sim::DEMO_PROJECT, "ckpt", &[ItemSeed::failing("item")]);
    let s = w.submitter();
    s.submit(&request(sim::DEMO_PROJECT, 600), far()).await.unwrap();
    finished(&w, "item").await;
    w.queue.fail_deletes(true);
    let p = w.poller(Duration::ZERO);
    assert_eq!(p.pass(far()).await.failed, 1);
    assert_eq!(w.queue.len(), 1, "the message outlived the crash");
    w.queue.fail_deletes(false);
    w.queue.expire_visibility();
    p.pass(far()).await;
    assert!(w.queue.is_empty());
    w.assert_one_outcome_each(1).await;
    let failed: Vec<OutcomeEvent> = w
        .sink
        .events()
        .into_iter()
        .filter(|e| e.outcome == Outcome::Failed)
        .collect();
    assert_eq!(failed.len(), 2, "emitted twice, one event id");
}

/// Many deletions finishing within about a second of their deadline, every pending message
/// delivered twice (the copy a little later), two pollers at once: one outcome each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_around_the_deadline_with_two_pollers_end_in_one_outcome_each() {
    let w = world((Duration::from_millis(2000), Duration::from_millis(4000))).await;
    let s = w.submitter();
    let n = 40;
    for i in 0..n {
        let project = format!("proj{i:03}");
        w.sim.sim.seed(&project, "ckpt", &[ItemSeed::ok(format!("item-{i}"))]);
        s.submit(&request(&project, 3), far()).await.unwrap();
    }
    for (i, body) in w.queue.bodies().into_iter().enumerate() {
        w.queue
            .push_delayed(body, Duration::from_millis(500 + 100 * (i as u64 % 30)));
    }
    let (a, b) = (w.poller(Duration::from_secs(8)), w.poller(Duration::from_secs(8)));
    let (sa, sb) = tokio::join!(a.run(far()), b.run(far()));
    let until = Instant::now() + Duration::from_secs(20);
    while !w.queue.is_empty() && Instant::now() < until {
        w.queue.expire_visibility();
        a.pass(far()).await;
    }
    assert!(w.queue.is_empty(), "{sa:?} {sb:?}");
    w.assert_one_outcome_each(n).await;
    let kinds: HashSet<Outcome> = w.terminal().values().flatten().map(|(_, o)| *o).collect();
    assert!(kinds.contains(&Outcome::Completed), "{kinds:?}");
}

/// The ledger failing is transient everywhere: submit hands the request back, poll keeps the
/// message and emits nothing undecided.
#[tokio::test]
async fn an_unavailable_ledger_delays_and_never_loses() {
    let w = world((Duration::from_millis(100), Duration::from_millis(100))).await;
    w.sim.sim.seed(sim::DEMO_PROJECT, "ckpt", &[ItemSeed::ok("item")]);
    let s = w.submitter();
    w.ledger.set_unavailable(true);
    assert!(matches!(
        s.submit(&request(sim::DEMO_PROJECT, 600), far()).await,
        Err(csbs_deleter::submit::SubmitError::Transient { .. })
    ));
    assert_eq!(
        (w.sim.sim.stats().delete, w.sink.events().len()),
        (0, 0),
        "no DELETE before the record"
    );
    w.ledger.set_unavailable(false);
    s.submit(&request(sim::DEMO_PROJECT, 600), far()).await.unwrap();
    finished(&w, "item").await;
    w.ledger.set_unavailable(true);
    let p = w.poller(Duration::ZERO);
    let pass = p.pass(far()).await;
    assert_eq!(
        (pass.completed, pass.ledger_errors, w.queue.len()),
        (0, 1, 1),
        "{pass:?}"
    );
    assert!(w.terminal().is_empty(), "no undecided event");
    w.ledger.set_unavailable(false);
    w.queue.expire_visibility();
    assert_eq!(p.pass(far()).await.completed, 1);
    w.assert_one_outcome_each(1).await;
}

/// A record this code cannot read fails its task loudly: the message stays, no event.
#[tokio::test]
async fn an_unreadable_record_yields_no_event() {
    let w = world((Duration::from_millis(100), Duration::from_millis(100))).await;
    w.sim.sim.seed(sim::DEMO_PROJECT, "ckpt", &[ItemSeed::ok("item")]);
    let Accepted::Submitted(task) = w
        .submitter()
        .submit(&request(sim::DEMO_PROJECT, 600), far())
        .await
        .unwrap()
    else {
        panic!("submitted");
    };
    let mut item = csbs_deleter::ports::ledger::Record::submitted(&task).to_item();
    item.insert("state".into(), csbs_deleter::ports::ledger::Attr::S("archived".into()));
    w.ledger.put_raw(item);
    finished(&w, "item").await;
    let pass = w.poller(Duration::ZERO).pass(far()).await;
    assert_eq!(
        (pass.completed, pass.ledger_errors, w.queue.len()),
        (0, 1, 1),
        "{pass:?}"
    );
    assert!(w.terminal().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Copies of one task reach their decisions in any interleaving, each with its own honest
    /// verdict: every copy emits the same event, the one decided first.
    #[test]
    fn any_interleaving_of_copies_emits_the_first_decision(
        verdicts in prop::collection::vec(prop::sample::select(vec![Outcome::Completed, Outcome::Failed, Outcome::TimedOut]), 1..8),
        order in Just((0..8).collect::<Vec<usize>>()).prop_shuffle(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let emitted: Vec<OutcomeEvent> = rt.block_on(async {
            let ledger = MemoryLedger::new();
            let req = request("p", 60);
            let task = csbs_deleter::task::PendingTask::new(&req, Utc::now(), 60);
            let mut out = Vec::new();
            for &i in order.iter().filter(|&&i| i < verdicts.len()) {
                let own = OutcomeEvent::for_task(&task, verdicts[i], Utc::now(), None, None);
                out.push(decide_event(&ledger, own, far()).await.unwrap());
            }
            out
        });
        let first = order.iter().copied().find(|&i| i < verdicts.len()).unwrap();
        for e in &emitted {
            prop_assert_eq!(e.outcome, verdicts[first]);
            prop_assert_eq!(&e.event_id, &emitted[0].event_id);
        }
    }
}
