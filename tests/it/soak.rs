//! Soak under faults: requests through the real submit and poll code against the simulator,
//! with 10 % injected 429/5xx answers, random latency, forced token expiry, duplicated SQS
//! deliveries, an in-memory queue and bus that are slow and refuse calls and entries, and two
//! poll invocations at a time (overlapping schedule ticks), killed at random points — among
//! them after an event was accepted and before its message was deleted. Invariants: every
//! request ends in exactly one distinct terminal event, of the kind its request calls for; none
//! lost, none stuck; and the simulator's final state agrees (every backup of a Completed task
//! is gone, a Failed task's refused or failed backup is not).
//!
//! A tenth of the requests race their deadline (a 1 s timeout against deletions of 0.2–1.5 s):
//! their copies, checked at different moments, may honestly see Completed and Timed Out — the
//! decision ledger makes them all end in the first decision. After the run every request is
//! delivered once more (a late redelivery): nothing is deleted again and no new outcome
//! appears. Every task's one event is the one its ledger record holds.
//!
//! `SOAK_REQUESTS` sets the size (default 100, as in CI; `scripts/bench.sh` runs 500);
//! `SOAK_SEED` replays a run's random choices (the seed is printed first).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use csbs_deleter::adapters::memory::MemoryLedger;
use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::chaos::Chaos;
use csbs_deleter::cloud::{ClientConfig, RetryPolicy};
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::outcome::Outcome;
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::ledger::Ledger;
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::request::{DeletionRequest, task_id_of_raw};
use csbs_deleter::sim::{self, DEMO_PROJECT as P, Fault, ItemSeed, Route, SimConfig, Simulator};
use csbs_deleter::submit::{Record, SubmitSettings, Submitter};
use csbs_deleter::task::task_id;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::time::Instant;

struct Request {
    record: Record,
    /// `None`: the request races its deadline, Completed or Timed Out.
    expected: Option<Outcome>,
    task_id: String,
    /// Backups that must be gone at the end, and backups that must still be there (status).
    gone: Vec<String>,
    kept: Vec<(String, &'static str)>,
    /// Replicas in the second region that must be gone at the end.
    gone_replicas: Vec<String>,
}

/// The soak's second region: half of its CBR requests delete their backups `with_replicas`,
/// whose replicas live there (docs/DESIGN.md, "Regions").
const REPLICA_REGION: &str = "eu-nl";
const REPLICA_PROJECT: &str = "0123456789abcdef0123456789abcd02";

/// Seeds the replica of `source` in the second region (and the record that names it) and
/// returns the replica's id.
fn replicate(source: &mut ItemSeed, replicas: &Simulator, restore_point: &str) -> String {
    let id = format!("{}-replica", source.id);
    source.replication_records.push(json!({
        "id": format!("rec-{id}"), "status": "success", "destination_region": REPLICA_REGION,
        "destination_project_id": REPLICA_PROJECT, "destination_backup_id": id
    }));
    replicas.seed_cbr(
        REPLICA_PROJECT,
        restore_point,
        &[ItemSeed {
            replica: true,
            ..ItemSeed::ok(&id)
        }],
    );
    id
}

fn requests(n: usize, sim: &Simulator, replicas: &Simulator) -> Vec<Request> {
    let now = chrono::Utc::now();
    (0..n)
        .map(|i| {
            let c = format!("soak-{i}");
            let mut gone = Vec::new();
            let mut kept = Vec::new();
            let mut gone_replicas = Vec::new();
            // Every other ten requests are CBR ones of the same kinds.
            let cbr = (i / 10) % 2 == 1;
            let (body, expected) = match i % 10 {
                _ if cbr => {
                    let seeded = Seeded {
                        sim,
                        replicas,
                        gone: &mut gone,
                        kept: &mut kept,
                        gone_replicas: &mut gone_replicas,
                    };
                    let (body, outcome) = cbr_case(i, &c, seeded);
                    (body, Some(outcome))
                }
                5 => {
                    // Races its deadline: the deletion takes 0.2–1.5 s, the timeout is 1 s.
                    sim.seed(P, &c, &[ItemSeed::ok(format!("{c}-a"))]);
                    (
                        json!({"project_id": P, "checkpoint_id": c, "request_id": format!("r{i}"), "timeout_seconds": 1}),
                        None,
                    )
                }
                0..=4 => {
                    sim.seed(P, &c, &[ItemSeed::ok(format!("{c}-a"))]);
                    gone.push(format!("{c}-a"));
                    (
                        json!({"project_id": P, "checkpoint_id": c, "request_id": format!("r{i}")}),
                        Some(Outcome::Completed),
                    )
                }
                6 => {
                    let items: Vec<String> = (0..3).map(|k| format!("{c}-{k}")).collect();
                    sim.seed(
                        P,
                        &c,
                        &[
                            ItemSeed::ok(&items[0]),
                            ItemSeed::failing(&items[1]),
                            ItemSeed::ok(&items[2]),
                        ],
                    );
                    gone.extend([items[0].clone(), items[2].clone()]);
                    kept.push((items[1].clone(), "error"));
                    (
                        json!({"project_id": P, "checkpoint_id": c, "checkpoint_items": items}),
                        Some(Outcome::Failed),
                    )
                }
                7 => {
                    let stuck = ItemSeed {
                        id: format!("{c}-stuck"),
                        status: Some("protecting".into()),
                        ..Default::default()
                    };
                    sim.seed(P, &c, &[stuck]);
                    kept.push((format!("{c}-stuck"), "protecting"));
                    (
                        json!({"project_id": P, "checkpoint_id": c, "timeout_seconds": 3}),
                        Some(Outcome::TimedOut),
                    )
                }
                8 => (
                    json!({"project_id": P, "checkpoint_id": format!("{c}/../x")}),
                    Some(Outcome::Rejected),
                ),
                _ if i % 20 == 9 => (
                    json!({"project_id": P, "checkpoint_id": format!("{c}-never-existed")}),
                    Some(Outcome::Completed),
                ),
                _ => {
                    // One item refused for good, the other accepted: tracked, then Failed.
                    let (ok, refused) = (format!("{c}-ok"), format!("{c}-refused"));
                    sim.seed(P, &c, &[ItemSeed::ok(&ok), ItemSeed::ok(&refused)]);
                    sim.add_fault(Fault::status(Route::Delete, 400).on_path(format!("checkpoint_items={refused}")));
                    gone.push(ok.clone());
                    kept.push((refused.clone(), "available"));
                    (
                        json!({"project_id": P, "checkpoint_id": c, "checkpoint_items": [ok, refused]}),
                        Some(Outcome::Failed),
                    )
                }
            };
            let body = body.to_string();
            let task_id = match DeletionRequest::from_sqs_body(&body) {
                Ok(r) => task_id(&r),
                Err(_) => task_id_of_raw(body.as_bytes()),
            };
            let record = Record {
                message_id: format!("msg-{i}"),
                body,
                sent_at: Some(now),
            };
            Request {
                record,
                expected,
                task_id,
                gone,
                kept,
                gone_replicas,
            }
        })
        .collect()
}

/// Where a CBR case seeds its backups and what it expects of them.
struct Seeded<'a> {
    sim: &'a Simulator,
    replicas: &'a Simulator,
    gone: &'a mut Vec<String>,
    kept: &'a mut Vec<(String, &'static str)>,
    gone_replicas: &'a mut Vec<String>,
}

/// The CBR request of kind `i % 10`: completed (one backup, or a restore point of two with
/// per-disk children), failed (a failing backup among others), timed out (a backup busy
/// being protected), rejected (a CSBS field), a restore point that never existed, and a
/// backup refused for good beside an accepted one. Half of them (kinds 0, 2, 4, 6, 7) delete
/// their backups with their replicas in the second region.
fn cbr_case(i: usize, c: &str, out: Seeded<'_>) -> (serde_json::Value, Outcome) {
    let b = |k: &str| format!("{c}-{k}");
    // A source with its replica: the replica must be gone whatever the task's outcome, unless
    // the task timed out (the source never finished; its replica may have been left going).
    let mut replicated = |id: String, expect_gone: bool| {
        let mut seed = ItemSeed::ok(id);
        let replica = replicate(&mut seed, out.replicas, c);
        if expect_gone {
            out.gone_replicas.push(replica);
        }
        seed
    };
    match i % 10 {
        0..=5 if i.is_multiple_of(2) => {
            let seed = replicated(b("a"), true);
            out.sim.seed_cbr(P, c, &[seed]);
            out.gone.push(b("a"));
            (
                json!({"service": "cbr", "project_id": P, "backup_id": b("a"), "request_id": format!("r{i}"), "with_replicas": true}),
                Outcome::Completed,
            )
        }
        0..=5 => {
            let server = |id: String| ItemSeed {
                with_child: true,
                ..ItemSeed::ok(id)
            };
            out.sim.seed_cbr(P, c, &[server(b("s0")), server(b("s1"))]);
            out.gone.extend([b("s0"), b("s1")]);
            (
                json!({"service": "cbr", "project_id": P, "checkpoint_id": c}),
                Outcome::Completed,
            )
        }
        6 => {
            let failing = ItemSeed {
                fail_delete: true,
                ..replicated(b("1"), true)
            };
            let seeds = [replicated(b("0"), true), failing, replicated(b("2"), true)];
            out.sim.seed_cbr(P, c, &seeds);
            out.gone.extend([b("0"), b("2")]);
            out.kept.push((b("1"), "error"));
            (
                json!({"service": "cbr", "project_id": P, "backup_ids": [b("0"), b("1"), b("2")], "with_replicas": true}),
                Outcome::Failed,
            )
        }
        7 => {
            let stuck = ItemSeed {
                status: Some("protecting".into()),
                ..replicated(b("stuck"), false)
            };
            out.sim.seed_cbr(P, c, &[stuck]);
            out.kept.push((b("stuck"), "protecting"));
            (
                json!({"service": "cbr", "project_id": P, "backup_id": b("stuck"), "timeout_seconds": 3, "with_replicas": true}),
                Outcome::TimedOut,
            )
        }
        8 => (
            json!({"service": "cbr", "project_id": P, "backup_id": b("x"), "checkpoint_items": ["i"]}),
            Outcome::Rejected,
        ),
        _ if i % 20 == 19 => (
            json!({"service": "cbr", "project_id": P, "checkpoint_id": format!("{c}-never-existed")}),
            Outcome::Completed,
        ),
        _ => {
            let (ok, refused) = (b("ok"), b("refused"));
            out.sim.seed_cbr(P, c, &[ItemSeed::ok(&ok), ItemSeed::ok(&refused)]);
            out.sim.add_fault(
                Fault::status(Route::CbrDelete, 400)
                    .with_code("BackupService.6204")
                    .on_path(format!("/backups/{refused}?")),
            );
            out.gone.push(ok.clone());
            out.kept.push((refused.clone(), "available"));
            (
                json!({"service": "cbr", "project_id": P, "backup_ids": [ok, refused]}),
                Outcome::Failed,
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_ends_in_exactly_one_terminal_event() {
    let n: usize = std::env::var("SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let sim = Simulator::start(SimConfig {
        delete_duration: (Duration::from_millis(200), Duration::from_millis(1500)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.sim.add_fault(Fault::status(Route::Any, 503).rate(0.04));
    sim.sim.add_fault(Fault::status(Route::Any, 500).rate(0.03));
    sim.sim.add_fault(Fault {
        retry_after: Some(1),
        ..Fault::status(Route::Any, 429).rate(0.03)
    });
    sim.sim.add_fault(Fault {
        route: Some(Route::Any),
        jitter_ms: Some(40),
        ..Default::default()
    });
    let replicas = Simulator::start(SimConfig {
        delete_duration: (Duration::from_millis(200), Duration::from_millis(1500)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    replicas.sim.add_fault(Fault::status(Route::Any, 503).rate(0.04));
    replicas.sim.add_fault(Fault {
        retry_after: Some(1),
        ..Fault::status(Route::Any, 429).rate(0.03)
    });
    let reqs = requests(n, &sim.sim, &replicas.sim);
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!("soak seed: {seed} (SOAK_SEED={seed} replays the random choices)");
    let mut rng = StdRng::seed_from_u64(seed);

    let creds = sim::demo_password();
    let second = csbs_deleter::region::RegionEndpoints {
        services: BTreeMap::from([(csbs_deleter::service::Service::Cbr, replicas.base_url())]),
        iam: Some(replicas.base_url()),
    };
    let mut cc = ClientConfig::new(sim.base_url(), sim.base_url(), creds)
        .with_cbr(sim.base_url())
        .with_regions("eu-de", BTreeMap::from([(REPLICA_REGION.to_string(), second)]));
    cc.retry = RetryPolicy {
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(300),
        max_attempts: 4,
    };
    // The pace answers throttles, and the injected 429s (3 % of every route's calls, at any
    // rate) look like a gateway at its limit: its AIMD settles each process near 13 calls/s
    // (0.5 calls/s gained per second against a tenth lost per throttle), and 500 requests
    // then outlast any bound. The pace has its own tests (tests/it/bulk.rs, src/cloud/pace.rs);
    // here a floor of 50 calls/s (CLOUD_RATE_FLOOR) keeps the 429s what the soak means them
    // to be: transient answers to retry.
    cc.pace.floor = 50.0;
    // Each function, and each invocation of poll, has its own client (and so its own pace and
    // tokens), as deployed: separate processes (src/cloud/pace.rs is per process).
    let client = || CsbsClient::new(cc.clone()).unwrap();
    // A short visibility timeout so that work cut off mid-tick comes back quickly. The queue
    // and the bus are slow (every call waits 0–60 ms, a point where a killed invocation stops)
    // and refuse 3 % of their calls (the bus also 3 % of single entries).
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(2)).with_chaos(Chaos::new((0, 60), 0.03, seed ^ 1)));
    let sink = Arc::new(MemorySink::new().with_chaos(Chaos::new((0, 60), 0.03, seed ^ 2)));
    // One decision ledger for every submit and poll invocation, as deployed.
    let ledger = Arc::new(MemoryLedger::new());
    let submitter = Arc::new(Submitter::new(
        client(),
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        ledger.clone(),
        SubmitSettings::default(),
    ));
    let poller = || {
        Poller::new(
            client(),
            queue.clone(),
            sink.clone() as Arc<dyn EventSink>,
            ledger.clone(),
            PollSettings {
                window: Duration::from_secs(3),
                interval: Duration::from_secs(1),
                ..Default::default()
            },
        )
    };
    // Two functions' worth of pollers: overlapping schedule ticks run side by side.
    let pollers = [poller(), poller()];

    // Forced token expiry, all along.
    let expirer = {
        let sim = sim.sim.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(700)).await;
                sim.expire_tokens();
            }
        })
    };

    let started = Instant::now();
    // A bound on liveness, not a speed target (BENCHMARKS.md has the soak's time): about 40 s
    // alone, several times that when CI runs the heaviest tests beside it on two cores.
    let limit = Duration::from_secs(240 + n as u64 / 2);
    let mut intake: Vec<&Record> = reqs.iter().map(|r| &r.record).collect();
    let mut deliveries = 0usize;
    let mut polls_killed = 0usize;
    loop {
        assert!(
            started.elapsed() < limit,
            "seed {seed}: not finished after {limit:?}: {} in intake, {} pending",
            intake.len(),
            queue.len()
        );
        // Submit invocations: batches of up to ten, with duplicates and redeliveries.
        if !intake.is_empty() {
            let take = intake.len().min(10);
            let mut batch: Vec<Record> = intake.drain(..take).cloned().collect();
            if rng.random_bool(0.3) {
                let dup = batch[rng.random_range(0..batch.len())].clone();
                batch.push(dup);
            }
            deliveries += batch.len();
            let budget = Duration::from_millis(rng.random_range(500..3000));
            let failed = submitter.submit_batch(&batch, Instant::now() + budget).await;
            for r in &batch {
                let id = &r.message_id;
                if failed.contains(id) || rng.random_bool(0.1) {
                    // Reported as failed, or delivered again anyway (SQS is at-least-once).
                    let original = reqs.iter().find(|q| &q.record.message_id == id).unwrap();
                    if !intake.iter().any(|q| &q.message_id == id) {
                        intake.push(&original.record);
                    }
                }
            }
        }
        // Two poll invocations at once, each sometimes killed at a random point (its future
        // dropped): mid-check, mid-PutEvents, or between an accepted event and the delete.
        let runs = pollers.iter().map(|p| {
            let cut = Duration::from_millis(rng.random_range(200..4000));
            async move {
                tokio::time::timeout(cut, p.run(Instant::now() + Duration::from_secs(6)))
                    .await
                    .is_err()
            }
        });
        polls_killed += futures::future::join_all(runs)
            .await
            .into_iter()
            .filter(|killed| *killed)
            .count();
        if intake.is_empty() && queue.is_empty() {
            break;
        }
    }
    // A late redelivery of every request, after its decision: nothing is deleted again, and
    // a decided request's recorded event is emitted again (same id).
    let deletes = || {
        let (st, r) = (sim.sim.stats(), replicas.sim.stats());
        st.delete + st.cbr_delete + r.cbr_delete
    };
    let deletes_before = deletes();
    let all: Vec<Record> = reqs.iter().map(|r| r.record.clone()).collect();
    for batch in all.chunks(10) {
        let failed = submitter
            .submit_batch(batch, Instant::now() + Duration::from_secs(20))
            .await;
        assert!(failed.is_empty() || failed.iter().all(|f| batch.iter().any(|r| &r.message_id == f)));
    }
    let late_deletes = deletes() - deletes_before;
    assert_eq!(late_deletes, 0, "seed {seed}: a decided request was deleted again");
    // A redelivery the chaos refused may have left nothing pending: the queue stays empty.
    let p = poller();
    p.run(Instant::now() + Duration::from_secs(6)).await;
    expirer.abort();

    // Every request: exactly one distinct terminal event, the expected one.
    let mut terminal: HashMap<String, HashSet<(String, Outcome)>> = HashMap::new();
    let mut deliveries_of_terminal = 0usize;
    for e in sink.events().into_iter().filter(|e| e.outcome != Outcome::Submitted) {
        deliveries_of_terminal += 1;
        terminal
            .entry(e.task_id.clone())
            .or_default()
            .insert((e.event_id.clone(), e.outcome));
    }
    // Counted before the assertions, for the benchmark's line: tasks with two terminal kinds.
    let two_kinds = terminal
        .values()
        .filter(|seen| seen.iter().map(|(_, o)| *o).collect::<HashSet<_>>().len() > 1)
        .count();
    let mut by_outcome: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &reqs {
        let seen = terminal.remove(&r.task_id).unwrap_or_default();
        assert_eq!(
            seen.len(),
            1,
            "seed {seed}: {}: terminal events {seen:?} for {}",
            r.task_id,
            r.record.body
        );
        let (event_id, outcome) = seen.into_iter().next().unwrap();
        match r.expected {
            Some(expected) => assert_eq!(outcome, expected, "seed {seed}: {}", r.record.body),
            None => assert!(
                matches!(outcome, Outcome::Completed | Outcome::TimedOut),
                "seed {seed}: {outcome:?} for a deadline race"
            ),
        }
        // The ledger holds that decision (requests refused before any call have no record).
        if let Some(record) = ledger
            .get(&r.task_id, Instant::now() + Duration::from_secs(5))
            .await
            .unwrap()
        {
            let recorded = record.terminal_event().expect("decided");
            assert_eq!(
                (&recorded.event_id, recorded.outcome),
                (&event_id, outcome),
                "seed {seed}: {}",
                r.task_id
            );
        } else {
            assert_eq!(
                outcome,
                Outcome::Rejected,
                "seed {seed}: only a refused request has no record"
            );
        }
        *by_outcome.entry(outcome.as_str()).or_default() += 1;
        // The simulator agrees with the event.
        for id in &r.gone {
            assert_eq!(
                sim.sim.item_status(P, id),
                None,
                "seed {seed}: {id} of a {outcome:?} task is not gone"
            );
        }
        for id in &r.gone_replicas {
            assert_eq!(
                replicas.sim.item_status(REPLICA_PROJECT, id),
                None,
                "seed {seed}: replica {id} of a {outcome:?} task is not gone"
            );
        }
        for (id, status) in &r.kept {
            assert_eq!(
                sim.sim.item_status(P, id).as_deref(),
                Some(*status),
                "seed {seed}: {id}"
            );
        }
    }
    assert!(
        terminal.is_empty(),
        "seed {seed}: events for unknown tasks: {terminal:?}"
    );
    assert!(queue.is_empty(), "seed {seed}: tasks stuck in the pending queue");
    let stats = sim.sim.stats();
    let distinct: usize = by_outcome.values().sum();
    println!(
        "soak: {n} requests, {deliveries} deliveries, {deliveries_of_terminal} terminal deliveries ({} repeated), {two_kinds} tasks with two terminal kinds, {polls_killed} poll invocations killed, {:?}, {} CSBS calls, {} CBR calls, {} token logins, {:.1} s",
        deliveries_of_terminal - distinct,
        by_outcome,
        stats.csbs_calls(),
        stats.cbr_calls() + replicas.sim.stats().cbr_calls(),
        stats.token,
        started.elapsed().as_secs_f64()
    );
    assert!(polls_killed > 0, "the soak must cut some poll invocations off");
    assert!(stats.token > 1, "tokens were forced to expire");
}
