//! Checks read in bulk and the adaptive pace (issue "checks that scale with the backlog"), on
//! the simulator over loopback with the in-memory queue, bus and ledger, AK/SK:
//! - `per_pass`: 10,000 one-target tasks of one project, for each service, five deleting at a
//!   time (20 s each), the rest waiting; passes every 10 s (the default interval) — cloud calls
//!   and tasks checked per pass, and how long after a deletion ended its event was emitted;
//! - `scale`: 100,000 tasks of 10 projects (10,000 each; each checkpoint's deletion queued by
//!   one DELETE and the tasks sent to the queue as submit sends them), two poll invocations
//!   running at once on the same queue — cloud calls in one minute, and whether every task was
//!   checked in it;
//! - `throttle`: the gateway at 20 calls/s per project, 400 CBR deletions submitted 16 at a
//!   time by a transport whose pace starts at 100 calls/s — calls answered per second and the
//!   share answered 429.

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use csbs_deleter::adapters::memory::{MemoryLedger, MemoryQueue, MemorySink};
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::outcome::Outcome;
use csbs_deleter::poll::{PollSettings, PollSummary, Poller};
use csbs_deleter::ports::pending::PendingQueue;
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::request::DeletionRequest;
use csbs_deleter::service::Service;
use csbs_deleter::sim::{self, ItemSeed, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{SubmitSettings, Submitter};
use csbs_deleter::task::PendingTask;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;

const P: &str = sim::DEMO_PROJECT;
const INTERVAL: Duration = Duration::from_secs(10);

async fn simulator(delete: Duration) -> RunningSim {
    Simulator::start(SimConfig {
        delete_duration: (delete, delete),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(900)
}

/// `n` one-target requests of `project` (CSBS items of checkpoints of 200, or CBR backups),
/// seeded in `sim`; the region is named when it is not the default.
fn requests(sim: &Simulator, service: Service, project: &str, region: Option<&str>, n: usize) -> Vec<Value> {
    (0..n.div_ceil(200))
        .flat_map(|c| {
            let ids: Vec<String> = (0..200.min(n - c * 200))
                .map(|i| format!("{project:.6}-{c}-{i}"))
                .collect();
            let seeds: Vec<ItemSeed> = ids.iter().map(ItemSeed::ok).collect();
            let ckpt = format!("ck-{c}");
            match service {
                Service::Csbs => sim.seed(project, &ckpt, &seeds),
                Service::Cbr => sim.seed_cbr(project, &ckpt, &seeds),
            }
            ids.into_iter()
                .map(|id| {
                    let mut r = match service {
                        Service::Csbs => {
                            json!({"project_id": project, "checkpoint_id": ckpt, "checkpoint_items": [id]})
                        }
                        Service::Cbr => json!({"service": "cbr", "project_id": project, "backup_id": id}),
                    };
                    if let Some(region) = region {
                        r["region"] = json!(region);
                    }
                    r
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Submits every request, 16 at a time; the count accepted.
async fn submit_all(submitter: &Submitter, requests: Vec<Value>) -> usize {
    futures::stream::iter(requests)
        .map(|r| async move {
            let req = DeletionRequest::from_value(&r).unwrap();
            submitter.submit(&req, far()).await.is_ok()
        })
        .buffer_unordered(16)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await
}

/// Sleeps until just after the next `INTERVAL` boundary, when the tasks re-timed there are
/// visible again (as `Poller::run` does between passes).
async fn next_boundary() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let step = INTERVAL.as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(step - now % step + 1100)).await;
}

fn settings() -> PollSettings {
    PollSettings {
        window: Duration::ZERO,
        interval: INTERVAL,
        ..PollSettings::default()
    }
}

async fn per_pass(service: Service) -> Value {
    let s = simulator(Duration::from_secs(20)).await;
    let cc = ClientConfig::new(s.base_url(), s.base_url(), sim::demo_aksk()).with_cbr(s.base_url());
    let csbs = CsbsClient::new(cc).unwrap();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(300)));
    let sink = Arc::new(MemorySink::new());
    let ledger = Arc::new(MemoryLedger::new());
    let submitter = Submitter::new(
        csbs.clone(),
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        ledger.clone(),
        SubmitSettings::default(),
    );
    let reqs = requests(&s.sim, service, P, None, 10_000);
    let accepted = submit_all(&submitter, reqs).await;
    eprintln!("bulk/per_pass {service:?}: {accepted} submitted");
    let poller = Poller::new(csbs, queue, sink.clone() as Arc<dyn EventSink>, ledger, settings());
    let mut passes = Vec::new();
    let mut delays = Vec::new();
    // Only deletions that end while poll runs: those that ended during the submission wait
    // for the first pass whatever the checks cost.
    let polling = Instant::now();
    let mut reported = std::collections::HashSet::new();
    for _ in 0..7 {
        next_boundary().await;
        let started = StdInstant::now();
        let p: PollSummary = poller.pass(far()).await;
        let seconds = started.elapsed().as_secs_f64();
        passes.push(
            json!({"checked": p.checked, "cloud_calls": p.cloud_calls, "completed": p.completed, "seconds": seconds}),
        );
        delays.extend(detection_delays(&s.sim, &sink, polling, &mut reported));
    }
    delays.sort_by(f64::total_cmp);
    let steady = &passes[1..];
    let max_calls = steady.iter().map(|p| p["cloud_calls"].as_u64().unwrap()).max();
    json!({"service": service.as_str(), "tasks": accepted, "passes": passes, "max_calls_per_pass_after_first": max_calls,
           "first_pass_calls": passes[0]["cloud_calls"], "delays_s": delays.len(),
           "delay_p50_s": percentile(&delays, 0.5), "delay_max_s": delays.last()})
}

/// For each deletion that ended since `since` and whose Completed event is out: seconds from
/// its end to now (just after the pass that emitted it), once each.
fn detection_delays(
    sim: &Simulator,
    sink: &MemorySink,
    since: Instant,
    reported: &mut std::collections::HashSet<String>,
) -> Vec<f64> {
    let emitted: std::collections::HashSet<String> = sink
        .events()
        .iter()
        .filter(|e| e.outcome == Outcome::Completed)
        .flat_map(|e| {
            e.checkpoint_items
                .clone()
                .unwrap_or_default()
                .into_iter()
                .chain(e.backup_ids.clone().unwrap_or_default())
        })
        .collect();
    let now = Instant::now();
    let mut out = Vec::new();
    for f in sim.finished() {
        let Some(at) = f.finished_at.filter(|at| *at >= since) else {
            continue;
        };
        if emitted.contains(&f.item_id) && reported.insert(f.item_id.clone()) {
            out.push(now.duration_since(at).as_secs_f64());
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    (!sorted.is_empty()).then(|| sorted[((sorted.len() - 1) as f64 * p).round() as usize])
}

async fn scale() -> Value {
    // One region, ten projects: one simulator (its calls are linear in its 100,000 backups,
    // which the few calls of bulk checks afford).
    let sims = vec![simulator(Duration::from_secs(1800)).await];
    let home = sims[0].base_url();
    // Each invocation has its own transport (its own Lambda container).
    let client = || CsbsClient::new(ClientConfig::new(home.clone(), home.clone(), sim::demo_aksk())).unwrap();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(300)));
    let sink = Arc::new(MemorySink::new());
    let ledger = Arc::new(MemoryLedger::new());
    // The backlog as submit leaves it, built faster than 100,000 DELETEs would be (the
    // simulator's calls are linear in its backups): each checkpoint's deletion queued by one
    // DELETE, and a pending task per item sent to the queue, as submit sends it.
    let started = StdInstant::now();
    let mut accepted = 0;
    let direct = client();
    for k in 0..10 {
        let project = format!("{k:02}{}", &P[2..]);
        let reqs = requests(&sims[0].sim, Service::Csbs, &project, None, 10_000);
        let checkpoints: std::collections::BTreeSet<String> = reqs
            .iter()
            .map(|r| r["checkpoint_id"].as_str().unwrap().to_string())
            .collect();
        for ckpt in checkpoints {
            direct
                .delete_checkpoint(&project, csbs_deleter::service::DEFAULT_PROVIDER_ID, &ckpt, None, far())
                .await
                .unwrap();
        }
        let tasks: Vec<PendingTask> = reqs
            .iter()
            .map(|r| PendingTask::new(&DeletionRequest::from_value(r).unwrap(), chrono::Utc::now(), 7200))
            .collect();
        for ten in tasks.chunks(10) {
            let sent = queue.send_batch(ten, far()).await.unwrap();
            accepted += sent.iter().filter(|r| r.is_ok()).count();
        }
        eprintln!("bulk/scale: project {k} queued ({accepted} tasks)");
    }
    let submit_s = started.elapsed().as_secs_f64();
    let poller = || {
        let settings = PollSettings {
            window: Duration::from_secs(95),
            ..settings()
        };
        Poller::new(
            client(),
            queue.clone(),
            sink.clone() as Arc<dyn EventSink>,
            ledger.clone(),
            settings,
        )
    };
    let (a, b) = (poller(), poller());
    let calls = |sims: &[RunningSim]| sims.iter().map(|s| s.sim.calls().len()).sum::<usize>();
    let (calls_before, receives_before) = (calls(&sims), queue.receive_counts());
    // Two invocations, the second 5 s after the first, as overlapping scheduled ones run.
    let deadline = Instant::now() + Duration::from_secs(100);
    // The minute begins after both invocations read their full listings (which then last 11
    // intervals: 110 s), at a pass boundary.
    let measure = async {
        tokio::time::sleep(Duration::from_secs(15)).await;
        next_boundary().await;
        let (c0, r0) = (calls(&sims), queue.receive_counts());
        tokio::time::sleep(Duration::from_secs(60)).await;
        (c0, r0, calls(&sims), queue.receive_counts())
    };
    let (sa, sb, (c0, r0, c1, r1)) = tokio::join!(
        a.run(deadline),
        async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            b.run(deadline + Duration::from_secs(5)).await
        },
        measure
    );
    let unchecked = r1.iter().zip(&r0).filter(|(after, before)| **after <= **before).count();
    let checks_in_minute: u64 = r1.iter().zip(&r0).map(|(a, b)| u64::from(a - b)).sum();
    let min_checks = r1.iter().zip(&r0).map(|(a, b)| a - b).min();
    // What the full listings cost per minute when they are read again every 110 s (two
    // invocations, ten projects, 12 calls each for 10,000 rows).
    let full = 2 * 10 * csbs_deleter::backups::listing_calls(Service::Csbs, 10_000);
    let amortized = (c1 - c0) as f64 + full as f64 * 60.0 / 110.0;
    json!({"tasks": accepted, "projects": 10, "submit_s": submit_s, "calls_in_minute": c1 - c0,
           "full_listing_calls": full, "amortized_calls_per_minute": amortized,
           "tasks_unchecked_in_minute": unchecked, "min_checks_per_task_in_minute": min_checks,
           "checks_in_minute": checks_in_minute, "checks_before_minute": r0.iter().zip(&receives_before).map(|(a, b)| u64::from(a - b)).sum::<u64>(),
           "calls_before_minute": c0 - calls_before,
           "invocation_a": {"checked": sa.checked, "passes": sa.passes, "cloud_calls": sa.cloud_calls},
           "invocation_b": {"checked": sb.checked, "passes": sb.passes, "cloud_calls": sb.cloud_calls}})
}

async fn throttle() -> Value {
    let s = simulator(Duration::from_secs(600)).await;
    s.sim.set_throttle(Some(20.0));
    let cc = ClientConfig::new(s.base_url(), s.base_url(), sim::demo_aksk()).with_cbr(s.base_url());
    let csbs = CsbsClient::new(cc).unwrap();
    let submitter = Submitter::new(
        csbs.clone(),
        Arc::new(MemoryQueue::new(Duration::from_secs(300))),
        Arc::new(MemorySink::new()) as Arc<dyn EventSink>,
        Arc::new(MemoryLedger::new()),
        SubmitSettings::default(),
    );
    let reqs = requests(&s.sim, Service::Cbr, P, None, 400);
    let started = StdInstant::now();
    let accepted = submit_all(&submitter, reqs).await;
    let seconds = started.elapsed().as_secs_f64();
    let calls = s.sim.calls();
    let after = calls[0].at + Duration::from_secs(1);
    let later: Vec<_> = calls.iter().filter(|c| c.at >= after).collect();
    let throttled_later = later.iter().filter(|c| c.throttled).count();
    let answered_later = later.len() - throttled_later;
    let span = later.last().map_or(0.0, |l| l.at.duration_since(after).as_secs_f64());
    json!({"requests": 400, "accepted": accepted, "seconds": seconds, "calls": calls.len(),
           "throttled": calls.iter().filter(|c| c.throttled).count(),
           "throttled_share_after_1s": throttled_later as f64 / later.len().max(1) as f64,
           "answered_per_s_after_1s": answered_later as f64 / span.max(1e-9),
           "final_rate": csbs.transport().rate()})
}

pub async fn bulk_bench() -> Value {
    let csbs = per_pass(Service::Csbs).await;
    let cbr = per_pass(Service::Cbr).await;
    let scale = scale().await;
    eprintln!("bulk/scale: {scale}");
    let throttle = throttle().await;
    json!({"part": "bulk", "per_pass": [csbs, cbr], "scale": scale, "throttle": throttle,
           "conditions": "csbs-sim over loopback, in-memory queue, bus and ledger, AK/SK, no injected latency; 10 s check interval"})
}
