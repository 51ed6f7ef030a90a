//! Checks that scale with the backlog (docs/DESIGN.md, "Rules that keep it reliable": "Checks
//! read in bulk"): a 5,000-task backlog of one project read from the in-flight listings, pass
//! by pass counted; the same cloud throttling at 20 calls/s, where the pace adapts; and
//! listings that lie (malformed, repeated, short) never make a task look gone.

use std::sync::Arc;
use std::time::Duration;

use csbs_deleter::adapters::memory::{MemoryLedger, MemoryQueue, MemorySink};
use csbs_deleter::backups::listing_calls;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::outcome::Outcome;
use csbs_deleter::poll::{PollSettings, PollSummary, Poller};
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::request::DeletionRequest;
use csbs_deleter::service::Service;
use csbs_deleter::sim::{self, DEMO_PROJECT as P, Fault, ItemSeed, Route, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{SubmitSettings, Submitter};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;

struct World {
    sim: RunningSim,
    queue: Arc<MemoryQueue>,
    sink: Arc<MemorySink>,
    submitter: Arc<Submitter>,
    poller: Poller,
}

/// A simulator deleting `running` at a time, `delete` each; the functions on one transport
/// whose pace starts at `ceiling` calls/s.
async fn world(running: usize, delete: Duration, ceiling: f64) -> World {
    let sim = Simulator::start(SimConfig {
        delete_duration: (delete, delete),
        max_running_deletions: running,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut cc = ClientConfig::new(sim.base_url(), sim.base_url(), sim::demo_aksk()).with_cbr(sim.base_url());
    cc.retry.min_delay = Duration::from_millis(50);
    cc.retry.max_delay = Duration::from_millis(400);
    cc.retry.max_attempts = 10;
    cc.pace.ceiling = ceiling;
    let csbs = CsbsClient::new(cc).unwrap();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(300)));
    let sink = Arc::new(MemorySink::new());
    let ledger = Arc::new(MemoryLedger::new());
    let submitter = Arc::new(Submitter::new(
        csbs.clone(),
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        ledger.clone(),
        SubmitSettings::default(),
    ));
    let settings = PollSettings {
        window: Duration::from_secs(120),
        interval: Duration::from_secs(1),
        ..PollSettings::default()
    };
    let poller = Poller::new(
        csbs,
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        ledger,
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
    Instant::now() + Duration::from_secs(120)
}

/// `n` one-target tasks of one project: CSBS items of 50 checkpoints (the shape a selection
/// fans out), or CBR backups.
fn requests(w: &World, service: Service, n: usize) -> Vec<Value> {
    (0..50)
        .flat_map(|c| {
            let ids: Vec<String> = (0..n / 50).map(|i| format!("t-{c}-{i}")).collect();
            let seeds: Vec<ItemSeed> = ids.iter().map(ItemSeed::ok).collect();
            let ckpt = format!("ck-{c}");
            match service {
                Service::Csbs => w.sim.sim.seed(P, &ckpt, &seeds),
                Service::Cbr => w.sim.sim.seed_cbr(P, &ckpt, &seeds),
            }
            ids.into_iter()
                .map(|id| match service {
                    Service::Csbs => json!({"project_id": P, "checkpoint_id": ckpt, "checkpoint_items": [id]}),
                    Service::Cbr => json!({"service": "cbr", "project_id": P, "backup_id": id}),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Submits every request, 16 at a time; each is accepted.
async fn submit_all(w: &World, requests: Vec<Value>) {
    let done: Vec<bool> = futures::stream::iter(requests)
        .map(|r| {
            let submitter = w.submitter.clone();
            async move {
                let req = DeletionRequest::from_value(&r).unwrap();
                submitter.submit(&req, soon()).await.is_ok()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(done.iter().all(|ok| *ok), "every DELETE accepted");
}

/// Passes until the queue is empty, each counted; between two the poller waits as `run` does.
async fn passes(w: &World, deadline: Instant) -> Vec<PollSummary> {
    let mut out = Vec::new();
    while !w.queue.is_empty() && Instant::now() < deadline {
        out.push(w.poller.pass(deadline).await);
        // Unfinished tasks were re-timed to the next one-second boundary.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    out
}

fn outcomes(w: &World) -> Vec<Outcome> {
    w.sink
        .events()
        .iter()
        .filter(|e| e.outcome != Outcome::Submitted)
        .map(|e| e.outcome)
        .collect()
}

/// Passes until one checks something (an empty one costs no call), as `Poller::run` would
/// run them.
async fn first_checking_pass(w: &World) -> PollSummary {
    loop {
        let p = w.poller.pass(soon()).await;
        if p.checked > 0 {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}

async fn backlog_of_5000_is_read_from_listings(service: Service) {
    // The service's pace: five deletions at a time, a second each.
    let w = world(5, Duration::from_secs(1), 100_000.0).await;
    let reqs = requests(&w, service, 5000);
    submit_all(&w, reqs).await;
    // Three passes while the backlog waits: the full listing (CSBS: 5 pages of waiting_delete
    // and one of deleting; CBR: 6 pages of both) in the first, the deleting listing (a page)
    // in each, and one read per target that left it (those that finished). Without bulk reads
    // each pass costs a call per task it checks.
    let listings = listing_calls(service, 5000) as u64;
    let mut counted = vec![first_checking_pass(&w).await];
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        counted.push(first_checking_pass(&w).await);
    }
    for p in &counted {
        // A pass sees the tasks due by its start (a pass longer than the interval, as in a
        // debug build, leaves the last-checked ones for the next one).
        assert!(p.checked > 0, "{service:?}: {counted:?}");
        assert!(p.cloud_calls <= listings + 3 + p.completed, "{service:?}: {counted:?}");
    }
    assert!(
        counted[0].checked == 5000,
        "the first pass checks the whole backlog: {counted:?}"
    );
    let checks: u64 = counted.iter().map(|p| p.checked).sum();
    assert!(checks >= 6000, "the backlog is checked again: {counted:?}");
    // Then the service speeds up: every remaining deletion runs at once, and the rest of the
    // backlog ends, each task confirmed gone by its own read.
    w.sim.sim.set_max_running(10_000);
    let rest = passes(&w, soon()).await;
    let done = outcomes(&w);
    assert_eq!(done.len(), 5000, "one terminal event per task: {rest:?}");
    assert!(done.iter().all(|o| *o == Outcome::Completed), "every task Completed");
    for p in rest.iter().filter(|p| p.checked > 0) {
        assert!(p.cloud_calls <= 3 * listings + p.completed + 10, "{service:?}: {p:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csbs_backlog_of_5000_is_read_from_listings() {
    backlog_of_5000_is_read_from_listings(Service::Csbs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cbr_backlog_of_5000_is_read_from_listings() {
    backlog_of_5000_is_read_from_listings(Service::Cbr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_20_calls_per_second_throttle_the_pace_adapts() {
    // The pace starts at the default ceiling (100 calls/s): five times what the gateway takes.
    let w = world(5, Duration::from_millis(300), 100.0).await;
    w.sim.sim.set_throttle(Some(20.0));
    let reqs = requests(&w, Service::Csbs, 200);
    // Submit and poll at once, on one transport: the DELETE fan-out and the checks share the
    // region's pace.
    let submit = submit_all(&w, reqs);
    let end = soon();
    let poll = async {
        let mut total = PollSummary::default();
        while outcomes(&w).len() < 200 && Instant::now() < end {
            let run = w.poller.run(Instant::now() + Duration::from_secs(30)).await;
            if run.checked == 0 {
                // Nothing was pending yet: the next invocation comes with the next tick of
                // the schedule (the queue is in memory, so an empty pass never waits).
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            total.add(&run);
        }
        total
    };
    let ((), total) = tokio::join!(submit, poll);
    let done = outcomes(&w);
    assert_eq!(done.len(), 200, "{total:?}");
    assert!(
        done.iter().all(|o| *o == Outcome::Completed),
        "no task failed or timed out"
    );
    let calls = w.sim.sim.calls();
    let start = calls[0].at + Duration::from_secs(1);
    let later: Vec<_> = calls.iter().filter(|c| c.at >= start).collect();
    let throttled = later.iter().filter(|c| c.throttled).count();
    assert!(
        throttled * 20 < later.len(),
        "after the first second {throttled} of {} calls were throttled",
        later.len()
    );
    assert!(calls.iter().any(|c| c.throttled), "the gateway did throttle");
}

#[tokio::test]
async fn a_listing_that_lies_never_makes_a_task_look_gone() {
    let w = world(5, Duration::from_secs(3600), 100_000.0).await;
    let reqs = requests(&w, Service::Cbr, 50);
    submit_all(&w, reqs).await;
    let in_flight = "status=waiting_delete";
    // A full page of strangers (and one of the tasks, truly waiting), answered again for
    // every offset: the listing repeats a page.
    let rows: Vec<Value> = (0..999)
        .map(|i| json!({"id": format!("stranger-{i}"), "status": "waiting_delete"}))
        .chain([json!({"id": "t-49-0", "status": "waiting_delete"})])
        .collect();
    let repeated = json!({"backups": rows, "count": 5000}).to_string();
    let faults = [
        // A page that is not CBR's.
        Fault::status(Route::CbrList, 200).with_raw_body("{\"backups\": 7}"),
        // An empty page: the listing "stops early".
        Fault::status(Route::CbrList, 200).with_raw_body("{\"backups\": [], \"count\": 0}"),
        Fault::status(Route::CbrList, 200).with_raw_body(repeated),
    ];
    for fault in faults {
        w.sim.sim.clear_faults();
        w.sim.sim.add_fault(fault.on_path(in_flight));
        let before = w.sim.sim.stats().cbr_get;
        // Every task checked under this fault (a slow pass may leave some for the next one).
        let mut seen = PollSummary::default();
        while seen.checked < 50 {
            seen.add(&first_checking_pass(&w).await);
        }
        assert_eq!(seen.completed + seen.failed + seen.timed_out, 0, "{seen:?}");
        assert!(outcomes(&w).is_empty(), "no task reported done");
        // Each task the listings did not show was read on its own and found still there (the
        // deleting listing, which the fault leaves alone, shows the five running ones in a
        // later pass; the repeated page shows one waiting task).
        let reads = w.sim.sim.stats().cbr_get - before;
        assert!(
            reads + 6 * seen.passes >= seen.checked && reads <= seen.checked,
            "{reads} reads: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}
