//! Delete by rule (issue "delete by rule"), in process: the simulator over loopback, the
//! in-memory queues (SQS semantics, delays) and bus. Selection semantics on both services, dry
//! runs that send nothing, the fan-out under redelivery and a crash mid-expansion, a
//! 10,000-backup plan, and the service's pace at the issue's scale (time-compressed).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::outcome::{Outcome, OutcomeEvent};
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::pending::PendingQueue;
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::select::ExpandSettings;
use csbs_deleter::selection::{FanOut, SelectionRequest};
use csbs_deleter::sim::{self, DEMO_PROJECT as P, ItemSeed, Route, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{Record, SubmitSettings, Submitter};
use serde_json::{Value, json};
use tokio::time::Instant;

async fn sim(delete: Duration) -> RunningSim {
    Simulator::start(SimConfig {
        delete_duration: (delete, delete),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn csbs(sim: &RunningSim) -> CsbsClient {
    let mut cc = ClientConfig::new(sim.base_url(), sim.base_url(), sim::demo_aksk()).with_cbr(sim.base_url());
    cc.retry.min_delay = Duration::from_millis(5);
    cc.retry.max_delay = Duration::from_millis(20);
    CsbsClient::new(cc).unwrap()
}

const NOW: &str = "2026-12-01T02:00:00Z";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW).unwrap().with_timezone(&Utc)
}

fn days_ago(d: i64) -> String {
    (now() - chrono::Duration::days(d))
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

fn seed(id: &str, resource: &str, age_days: i64) -> ItemSeed {
    ItemSeed {
        resource_id: Some(resource.into()),
        created_at: Some(days_ago(age_days)),
        name: Some(format!("manual-{id}")),
        ..ItemSeed::ok(id)
    }
}

/// Two servers: `srv-a` with backups 10, 20, …, 60 days old, `srv-b` with 5 and 90 days old, and
/// one `error` backup of srv-b 100 days old. On CSBS they sit in two checkpoints.
/// `prefix` keeps the ids of two fleets in one simulator apart.
fn seed_fleet_as(sim: &RunningSim, cbr: bool, prefix: &str) {
    let a: Vec<ItemSeed> = (1..=6)
        .map(|i| seed(&format!("{prefix}a{}", i * 10), "srv-a", i * 10))
        .collect();
    let mut b = vec![
        seed(&format!("{prefix}b5"), "srv-b", 5),
        seed(&format!("{prefix}b90"), "srv-b", 90),
    ];
    b.push(ItemSeed {
        status: Some("error".into()),
        ..seed(&format!("{prefix}b100"), "srv-b", 100)
    });
    if cbr {
        sim.sim.seed_cbr(P, "rp-a", &a);
        sim.sim.seed_cbr(P, "rp-b", &b);
    } else {
        sim.sim.seed(P, "cp-a", &a);
        sim.sim.seed(P, "cp-b", &b);
    }
}

fn seed_fleet(sim: &RunningSim, cbr: bool) {
    seed_fleet_as(sim, cbr, "");
}

struct World {
    sim: RunningSim,
    intake: Arc<MemoryQueue>,
    pending: Arc<MemoryQueue>,
    sink: Arc<MemorySink>,
    submitter: Submitter,
    poller: Poller,
}

impl World {
    async fn new(delete: Duration, step_delay_secs: u32) -> World {
        let sim = sim(delete).await;
        let intake = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
        let pending = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
        let sink = Arc::new(MemorySink::new());
        let settings = SubmitSettings {
            expand: ExpandSettings {
                step_delay_secs,
                ..ExpandSettings::default()
            },
            ..SubmitSettings::default()
        };
        let submitter = Submitter::new(
            csbs(&sim),
            pending.clone(),
            sink.clone() as Arc<dyn EventSink>,
            std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
            settings,
        )
        .with_intake(intake.clone());
        let poller = Poller::new(
            csbs(&sim),
            pending.clone(),
            sink.clone() as Arc<dyn EventSink>,
            std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
            PollSettings {
                window: Duration::ZERO,
                interval: Duration::from_secs(1),
                ..PollSettings::default()
            },
        );
        World {
            sim,
            intake,
            pending,
            sink,
            submitter,
            poller,
        }
    }

    /// One SQS record of a selection, sent at `NOW` (its reference time).
    fn record(body: &Value) -> Record {
        Record {
            message_id: uuid::Uuid::new_v4().to_string(),
            body: body.to_string(),
            sent_at: Some(now()),
        }
    }

    /// Takes the visible intake messages to submit (as the event source mapping would),
    /// deletes the ones submit took; returns how many it handled.
    async fn submit_intake(&self) -> usize {
        let got = self.intake.receive(10, Some(30), soon()).await.unwrap();
        if got.is_empty() {
            return 0;
        }
        let records: Vec<Record> = got
            .iter()
            .map(|m| Record {
                message_id: m.message_id.clone(),
                body: m.body.clone(),
                sent_at: None,
            })
            .collect();
        let failed = self.submitter.submit_batch(&records, soon()).await;
        let done: Vec<String> = got
            .iter()
            .filter(|m| !failed.contains(&m.message_id))
            .map(|m| m.receipt.clone())
            .collect();
        self.intake.delete(&done, soon()).await.unwrap();
        let retry: Vec<(String, u32)> = got
            .iter()
            .filter(|m| failed.contains(&m.message_id))
            .map(|m| (m.receipt.clone(), 0))
            .collect();
        self.intake.set_visibility(&retry, soon()).await.unwrap();
        got.len()
    }

    /// Runs submit and poll until `targets` tasks have a terminal event and both queues are
    /// empty — duplicates too have run their course (or `limit` passes).
    async fn drive(&self, targets: usize, limit: Duration) {
        let started = Instant::now();
        while terminal(&self.sink).len() < targets || !self.intake.is_empty() || !self.pending.is_empty() {
            assert!(
                started.elapsed() < limit,
                "{} of {targets} targets finished; {} intake messages left",
                terminal(&self.sink).len(),
                self.intake.len()
            );
            let handled = self.submit_intake().await;
            self.poller.run(soon()).await;
            if handled == 0 {
                // Deletions take simulated time; nothing to await but the clock.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

/// Terminal events of the targets (not the selection's own), by task: distinct event ids.
fn terminal(sink: &MemorySink) -> HashMap<String, HashSet<(String, Outcome)>> {
    let mut by_task: HashMap<String, HashSet<(String, Outcome)>> = HashMap::new();
    for e in sink
        .events()
        .into_iter()
        .filter(|e| !matches!(e.outcome, Outcome::Submitted | Outcome::Planned))
        .filter(|e| !e.task_id.starts_with("sel_"))
    {
        by_task
            .entry(e.task_id.clone())
            .or_default()
            .insert((e.event_id, e.outcome));
    }
    by_task
}

fn planned(sink: &MemorySink) -> Vec<OutcomeEvent> {
    sink.events()
        .into_iter()
        .filter(|e| e.outcome == Outcome::Planned)
        .collect()
}

fn deletes(sim: &RunningSim) -> usize {
    sim.sim
        .calls()
        .iter()
        .filter(|c| matches!(c.route, Route::Delete | Route::CbrDelete))
        .count()
}

fn target_ids(e: &OutcomeEvent) -> Vec<String> {
    e.plan.as_ref().unwrap().target_ids.clone()
}

async fn plan_ids(w: &World, select: Value) -> Vec<String> {
    let req = SelectionRequest::from_value(&json!({ "select": select })).unwrap();
    let plan = w
        .submitter
        .expander()
        .plan_only(&req, now(), soon())
        .await
        .unwrap()
        .unwrap();
    plan.targets().map(|b| b.id.clone()).collect()
}

#[tokio::test]
async fn selection_semantics_on_both_services() {
    for (service, cbr) in [("csbs", false), ("cbr", true)] {
        let w = World::new(Duration::ZERO, 0).await;
        seed_fleet(&w.sim, cbr);
        let s = |extra: Value| {
            let mut v = json!({"service": service, "project_id": P});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            v
        };
        // Age boundary: 30 days old exactly is not older than 30 days.
        assert_eq!(
            plan_ids(&w, s(json!({"older_than_days": 30}))).await,
            ["b90", "a60", "a50", "a40"],
            "{service}: oldest first"
        );
        // keep_last per resource: srv-a keeps a10, a20; srv-b keeps b5, b90 (only two available).
        assert_eq!(
            plan_ids(&w, s(json!({"older_than_days": 1, "keep_last": 2}))).await,
            ["a60", "a50", "a40", "a30"],
            "{service}"
        );
        assert_eq!(
            plan_ids(&w, s(json!({"resource_id": "srv-b"}))).await,
            ["b90", "b5"],
            "{service}"
        );
        assert_eq!(
            plan_ids(&w, s(json!({"resource_id": "srv-b", "status": "error"}))).await,
            ["b100"],
            "{service}: status filter"
        );
        assert_eq!(
            plan_ids(&w, s(json!({"all_in_project": true, "name_prefix": "manual-a1"}))).await,
            ["a10"],
            "{service}: name prefix"
        );
        let checkpoint = if cbr { "rp-b" } else { "cp-b" };
        assert_eq!(
            plan_ids(&w, s(json!({"checkpoint_ids": [checkpoint]}))).await,
            ["b90", "b5"],
            "{service}: checkpoints"
        );
        assert!(plan_ids(&w, s(json!({"older_than_days": 3650}))).await.is_empty());
        assert!(
            plan_ids(&w, s(json!({"resource_id": "no-such-server"})))
                .await
                .is_empty()
        );
        assert_eq!(deletes(&w.sim), 0, "planning deletes nothing");
    }
}

#[tokio::test]
async fn a_dry_run_plans_and_sends_nothing() {
    for cbr in [false, true] {
        let w = World::new(Duration::ZERO, 0).await;
        seed_fleet(&w.sim, cbr);
        let body = json!({"select": {"service": if cbr {"cbr"} else {"csbs"}, "project_id": P,
                                     "older_than_days": 30, "keep_last": 1},
                          "dry_run": true, "request_id": "try-it", "context": {"ticket": "OPS-1"}});
        let failed = w.submitter.submit_batch(&[World::record(&body)], soon()).await;
        assert!(failed.is_empty());
        let events = planned(&w.sink);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        let detail = e.plan.as_ref().unwrap();
        assert!(detail.dry_run);
        assert_eq!(target_ids(e), ["b90", "a60", "a50", "a40"]);
        assert_eq!((detail.counts.to_delete, detail.counts.kept), (4, 4));
        assert_eq!(e.selection_id.as_deref(), Some(e.task_id.as_str()));
        assert_eq!(e.request_id.as_deref(), Some("try-it"));
        assert_eq!(e.context.as_ref().unwrap()["ticket"], "OPS-1");
        assert_eq!(
            e.submitted_at.as_deref(),
            Some("2026-12-01T02:00:00Z"),
            "the reference time"
        );
        assert!(w.intake.is_empty(), "a dry run sends no target");
        assert_eq!(deletes(&w.sim), 0, "and no DELETE reaches the service");
    }
}

#[tokio::test]
async fn every_target_ends_in_its_own_terminal_event() {
    let w = World::new(Duration::from_millis(30), 0).await;
    seed_fleet(&w.sim, false);
    seed_fleet_as(&w.sim, true, "r-");
    for service in ["csbs", "cbr"] {
        let body = json!({"select": {"service": service, "project_id": P, "older_than_days": 30},
                          "timeout_seconds": 600, "context": {"run": service}});
        assert!(
            w.submitter
                .submit_batch(&[World::record(&body)], soon())
                .await
                .is_empty()
        );
    }
    w.drive(8, Duration::from_secs(60)).await;
    let events = w.sink.events();
    let done: Vec<&OutcomeEvent> = events.iter().filter(|e| e.outcome == Outcome::Completed).collect();
    assert_eq!(done.len(), 8, "{done:#?}");
    let plans = planned(&w.sink);
    assert_eq!(plans.len(), 2);
    for e in &done {
        let sel = plans
            .iter()
            .find(|p| Some(&p.task_id) == e.selection_id.as_ref())
            .expect("carries selection_id");
        let target = e
            .checkpoint_items
            .as_ref()
            .or(e.backup_ids.as_ref())
            .map(|v| v[0].clone())
            .unwrap();
        assert!(target_ids(sel).contains(&target));
        assert_eq!(
            e.request_id.as_deref(),
            Some(format!("{}/{target}", sel.task_id).as_str())
        );
        assert_eq!(e.context.as_ref().unwrap()["run"], json!(e.service.as_str()));
        assert_eq!((e.submitted_at.is_some(), e.deadline.is_some()), (true, true));
        if e.service.as_str() == "csbs" {
            assert_eq!(
                e.checkpoint_items.as_ref().unwrap().len(),
                1,
                "one item, never a bare checkpoint"
            );
        }
    }
    assert_eq!(
        w.sim.sim.item_status(P, "a20").as_deref(),
        Some("available"),
        "too recent: kept"
    );
    assert_eq!(w.sim.sim.item_status(P, "a40"), None, "deleted");
    assert!(w.intake.is_empty());
}

/// A selection delivered three times (same `SentTimestamp`) and a fan-out whose follow-up is
/// refused once (a crash between the targets and the follow-up): the same tasks, each with
/// exactly one distinct terminal event, and nothing left behind.
#[tokio::test]
async fn redelivery_and_a_crash_mid_expansion_make_the_same_tasks() {
    let w = World::new(Duration::from_millis(20), 0).await;
    let items: Vec<ItemSeed> = (0..25)
        .map(|i| seed(&format!("old-{i:02}"), "srv-z", 100 + i))
        .collect();
    w.sim.sim.seed(P, "cp-z", &items);
    let body = json!({"select": {"project_id": P, "resource_id": "srv-z"}});
    let record = World::record(&body);
    // The first step sends ten targets, then its follow-up is refused on every try: the record
    // fails, as if the invocation had crashed between the two.
    w.intake.refuse_sends_after(10, 3);
    let failed = w.submitter.submit_batch(std::slice::from_ref(&record), soon()).await;
    assert_eq!(
        failed,
        std::slice::from_ref(&record.message_id),
        "handed back for redelivery"
    );
    assert_eq!(w.intake.len(), 10, "the ten targets went out before the crash");
    // Redelivered twice, as SQS may.
    for _ in 0..2 {
        assert!(
            w.submitter
                .submit_batch(std::slice::from_ref(&record), soon())
                .await
                .is_empty()
        );
    }
    w.drive(25, Duration::from_secs(60)).await;
    let by_task = terminal(&w.sink);
    assert_eq!(by_task.len(), 25, "one task per target");
    assert!(
        by_task
            .values()
            .all(|e| e.len() == 1 && e.iter().all(|(_, o)| *o == Outcome::Completed))
    );
    let ids: HashSet<String> = planned(&w.sink).iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids.len(), 1, "one Planned event id however often it is planned");
    assert!(w.intake.is_empty() && w.pending.is_empty());
    assert!(w.sim.sim.statuses().keys().all(|id| !id.starts_with("old-")));
}

/// A refused entry is sent again within the step: no redelivery, nothing sent twice.
#[tokio::test]
async fn refused_entries_are_sent_again_within_the_step() {
    let w = World::new(Duration::ZERO, 0).await;
    let items: Vec<ItemSeed> = (0..12).map(|i| seed(&format!("re-{i:02}"), "srv-r", 100)).collect();
    w.sim.sim.seed(P, "cp-r", &items);
    w.intake.refuse_sends_after(3, 2);
    let body = json!({"select": {"project_id": P, "resource_id": "srv-r"}});
    assert!(
        w.submitter
            .submit_batch(&[World::record(&body)], soon())
            .await
            .is_empty()
    );
    let bodies: Vec<Value> = w
        .intake
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let targets: HashSet<&str> = bodies.iter().filter_map(|b| b["request_id"].as_str()).collect();
    assert_eq!(
        (bodies.len(), targets.len()),
        (11, 10),
        "ten distinct targets and one follow-up, once each"
    );
    assert_eq!(
        w.intake.calls().send,
        3,
        "the targets, their two refused entries again, the follow-up"
    );
}

#[tokio::test]
async fn too_large_a_selection_is_rejected_with_the_count() {
    let w = World::new(Duration::ZERO, 0).await;
    seed_fleet(&w.sim, false);
    let body = json!({"select": {"project_id": P, "all_in_project": true, "max_backups": 3}});
    assert!(
        w.submitter
            .submit_batch(&[World::record(&body)], soon())
            .await
            .is_empty()
    );
    let events = w.sink.events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.outcome, Outcome::Rejected);
    let err = e.error.as_ref().unwrap();
    assert_eq!(err.code, "selection_too_large");
    assert!(
        err.message.contains("matches 8 backups") && err.message.contains("select.max_backups"),
        "{}",
        err.message
    );
    assert!(e.selection_id.is_some());
    assert!(w.intake.is_empty());
    assert_eq!(deletes(&w.sim), 0);
}

#[tokio::test]
async fn bad_selectors_are_rejected_before_anything_is_listed() {
    let w = World::new(Duration::ZERO, 0).await;
    seed_fleet(&w.sim, false);
    let cases = [
        (json!({"select": {"project_id": P}}), "select.all_in_project"),
        (
            json!({"select": {"project_id": P, "older_than": 30}}),
            "select.older_than",
        ),
        (
            json!({"select": {"project_id": P, "older_than_days": "30"}}),
            "select.older_than_days",
        ),
        (
            json!({"select": {"project_id": P, "created_before": "last week"}}),
            "select.created_before",
        ),
        (json!({"select": {"project_id": P, "vault_id": "v"}}), "select.vault_id"),
        (
            json!({"select": {"project_id": P, "resource_id": "srv-a"}, "dry-run": true}),
            "dry-run",
        ),
    ];
    for (body, field) in &cases {
        assert!(
            w.submitter
                .submit_batch(&[World::record(body)], soon())
                .await
                .is_empty()
        );
        let e = w.sink.events().pop().unwrap();
        assert_eq!(e.outcome, Outcome::Rejected);
        let msg = &e.error.as_ref().unwrap().message;
        assert!(msg.contains(field), "{field}: {msg}");
        assert_eq!(
            e.project_id.as_deref(),
            Some(P),
            "the Rejected event echoes the selection's project"
        );
    }
    assert_eq!(w.sink.events().len(), cases.len());
    let listed = w
        .sim
        .sim
        .calls()
        .iter()
        .filter(|c| matches!(c.route, Route::List | Route::CbrList))
        .count();
    assert_eq!(listed, 0, "refused before anything is listed");
}

#[tokio::test]
async fn the_stacks_own_events_are_dropped_not_looped() {
    let w = World::new(Duration::ZERO, 0).await;
    seed_fleet(&w.sim, false);
    let looped = json!({"version": "0", "id": "1", "detail-type": "Checkpoint Deletion Planned",
                        "source": "csbs.checkpoint-deletion", "account": "123456789012",
                        "time": NOW, "region": "eu-west-1", "resources": [],
                        "detail": {"select": {"project_id": P, "all_in_project": true}}});
    assert!(
        w.submitter
            .submit_batch(&[World::record(&looped)], soon())
            .await
            .is_empty()
    );
    assert!(w.sink.events().is_empty(), "no event: it would loop as well");
    assert!(w.intake.is_empty());
    assert_eq!(w.sim.sim.stats().csbs_calls(), 0);
}

/// A plan of 10,000 backups: 11 list calls, and a fan-out that sends each target exactly once,
/// ten per SendMessageBatch, through 999 follow-up messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_backup_plan_fans_out_every_target_once() {
    let w = World::new(Duration::from_secs(3600), 0).await;
    let items: Vec<ItemSeed> = (0..10_000)
        .map(|i| seed(&format!("it-{i:05}"), &format!("srv-{}", i % 100), 40))
        .collect();
    for (n, chunk) in items.chunks(500).enumerate() {
        w.sim.sim.seed(P, &format!("cp-{n:02}"), chunk);
    }
    w.sim.sim.reset_stats();
    let body = json!({"select": {"project_id": P, "older_than_days": 30, "max_backups": 10000}});
    let started = Instant::now();
    assert!(
        w.submitter
            .submit_batch(&[World::record(&body)], soon())
            .await
            .is_empty()
    );
    let stats = w.sim.sim.stats();
    assert_eq!(stats.list, 11, "⌈10,000 / 1,000⌉ + 1 list calls");
    let plan = &planned(&w.sink)[0];
    assert_eq!(plan.plan.as_ref().unwrap().counts.to_delete, 10_000);
    // Take the target requests off the intake queue without submitting them (the service never
    // starts them, so every step may send a full batch), feeding the follow-ups back.
    let mut targets = Vec::new();
    let mut follow_ups = 0;
    let mut largest = 0;
    loop {
        let got = w.intake.receive(10, Some(30), soon()).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in &got {
            let v: Value = serde_json::from_str(&m.body).unwrap();
            if FanOut::is_fan_out(&v) {
                follow_ups += 1;
                largest = largest.max(m.body.len());
                let fan = FanOut::from_value(&v).unwrap();
                w.submitter.expander().step(&fan, soon()).await.unwrap();
            } else {
                targets.push(v["request_id"].as_str().unwrap().to_string());
            }
        }
        let receipts: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
        w.intake.delete(&receipts, soon()).await.unwrap();
    }
    let distinct: HashSet<&String> = targets.iter().collect();
    assert_eq!((targets.len(), distinct.len()), (10_000, 10_000), "each target once");
    assert_eq!(follow_ups, 999);
    assert!(
        largest < 1024 * 1024,
        "a follow-up fits an SQS message: {largest} bytes"
    );
    let sends = w.intake.calls().send;
    assert_eq!(sends, 1000 + 999, "1,000 SendMessageBatch of targets, 999 follow-ups");
    eprintln!("10,000-backup plan and fan-out: {:?}", started.elapsed());
}

/// The issue's case, time-compressed 100×: 200 backups that take 0.6 s each (60 s), five at a
/// time (24 s in all, 40 minutes at scale), at an 18 s timeout (30 minutes) with a fan-out
/// step every second (100 s). Sent at once, the last 50 would time out; paced, all 200 end
/// Completed, and the service's queue never holds more than 15.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_fan_out_fits_the_service_queue_and_never_times_out() {
    let w = World::new(Duration::from_millis(600), 1).await;
    let items: Vec<ItemSeed> = (0..200).map(|i| seed(&format!("q-{i:03}"), "srv-q", 40)).collect();
    w.sim.sim.seed(P, "cp-q", &items);
    let body = json!({"select": {"project_id": P, "resource_id": "srv-q", "max_backups": 200},
                      "timeout_seconds": 18});
    assert!(
        w.submitter
            .submit_batch(&[World::record(&body)], soon())
            .await
            .is_empty()
    );
    let started = Instant::now();
    let mut most_waiting = 0;
    while terminal(&w.sink).len() < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} finished",
            terminal(&w.sink).len()
        );
        let waiting = w.sim.sim.statuses().values().filter(|s| *s == "waiting_delete").count();
        most_waiting = most_waiting.max(waiting);
        let handled = w.submit_intake().await;
        w.poller.run(soon()).await;
        if handled == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let outcomes: Vec<Outcome> = terminal(&w.sink)
        .into_values()
        .flat_map(|e| e.into_iter().map(|(_, o)| o))
        .collect();
    let timed_out = outcomes.iter().filter(|o| **o == Outcome::TimedOut).count();
    assert_eq!(
        (outcomes.len(), timed_out),
        (200, 0),
        "every target Completed, none Timed Out"
    );
    assert!(outcomes.iter().all(|o| *o == Outcome::Completed));
    assert!(
        most_waiting <= 15,
        "at most {most_waiting} waited in the service's queue"
    );
    let longest = w
        .sink
        .events()
        .iter()
        .filter(|e| e.outcome == Outcome::Completed)
        .filter_map(|e| e.elapsed_seconds)
        .fold(0.0, f64::max);
    eprintln!(
        "200 paced targets in {:?}; longest task {longest} s; most waiting {most_waiting}",
        started.elapsed()
    );
    assert!(longest < 18.0);
}
