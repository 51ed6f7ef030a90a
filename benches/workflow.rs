//! In-process benchmarks of the workflows against the CSBS simulator over loopback, with the
//! in-memory queue and bus adapters (moto is for correctness, not speed: one ReceiveMessage on
//! a queue of 1,000 messages takes about 0.4 s there). Run by `scripts/bench.sh`, which writes
//! BENCHMARKS.md; by hand: `cargo bench --bench workflow -- submit|edges|ledger|poll1k|poll10k|cbr|selection|throughput|delay|operate|regions|bulk`.
//! Each part prints one JSON line (`throughput` one per case), stating its queue, bus,
//! credentials and injected latencies.

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::outcome::{Outcome, OutcomeEvent};
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::pending::PendingQueue;
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::request::DeletionRequest;
use csbs_deleter::sim::{self, Fault, ItemSeed, Route, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{Record, SubmitSettings, Submitter};
use csbs_deleter::task::PendingTask;
use serde_json::json;
use tokio::time::Instant;

#[path = "workflow/bulk.rs"]
mod bulk;
#[path = "workflow/regions.rs"]
mod regions;

struct World {
    sim: RunningSim,
    queue: Arc<MemoryQueue>,
    sink: Arc<MemorySink>,
    csbs: CsbsClient,
}

async fn world(delete: (Duration, Duration)) -> World {
    let sim = Simulator::start(SimConfig {
        delete_duration: delete,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let creds = sim::demo_aksk();
    let csbs =
        CsbsClient::new(ClientConfig::new(sim.base_url(), sim.base_url(), creds).with_cbr(sim.base_url())).unwrap();
    World {
        sim,
        queue: Arc::new(MemoryQueue::new(Duration::from_secs(300))),
        sink: Arc::new(MemorySink::new()),
        csbs,
    }
}

fn submitter(w: &World) -> Submitter {
    Submitter::new(
        w.csbs.clone(),
        w.queue.clone(),
        w.sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        SubmitSettings::default(),
    )
}

fn poller(w: &World, settings: PollSettings) -> Poller {
    Poller::new(
        w.csbs.clone(),
        w.queue.clone(),
        w.sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        settings,
    )
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Once the simulator has finished the `n` deletions behind the pending tasks: one poll pass
/// with 20 ms injected on every `route` call, from fresh counters; its seconds. Every task must
/// end Completed and leave the queue.
async fn one_finished_pass(w: &World, n: usize, route: Route) -> f64 {
    while w.sim.sim.finished().len() < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    w.sim.sim.add_fault(Fault::latency(route, 20));
    w.sim.sim.reset_stats();
    let p = poller(
        w,
        PollSettings {
            window: Duration::ZERO,
            ..PollSettings::default()
        },
    );
    let started = StdInstant::now();
    let summary = p.run(Instant::now() + Duration::from_secs(600)).await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.completed as usize, n);
    assert!(w.queue.is_empty());
    secs
}

/// Request bodies as the benchmarks parse them: two items and a context each.
fn request_bodies(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            json!({"project_id": sim::DEMO_PROJECT, "checkpoint_id": format!("c0ffee00-0000-4000-8000-{i:012}"),
                   "checkpoint_items": [format!("item-{i}-b"), format!("item-{i}-a")], "request_id": format!("req-{i}"),
                   "context": {"ticket": i}})
            .to_string()
        })
        .collect()
}

/// Per-record CPU cost without any network: parse + validate + task id + pending body + event
/// (the fastest of three rounds: the others are the machine's noise).
fn record_overhead() -> f64 {
    let bodies = request_bodies(20_000);
    let round = || {
        let started = StdInstant::now();
        let mut bytes = 0usize;
        for b in &bodies {
            let req = DeletionRequest::from_sqs_body(b).unwrap();
            let task = PendingTask::new(&req, chrono::Utc::now(), 1800);
            bytes += serde_json::to_string(&task).unwrap().len();
            let event = OutcomeEvent::for_task(&task, Outcome::Submitted, chrono::Utc::now(), None, None);
            bytes += serde_json::to_string(&event).unwrap().len();
        }
        std::hint::black_box(bytes);
        started.elapsed().as_secs_f64() * 1e6 / bodies.len() as f64
    };
    (0..3).map(|_| round()).fold(f64::MAX, f64::min)
}

/// The cost of the promises at the edges (docs/DESIGN.md, "HTTP API"): per request, the strict
/// parse (repeated keys refused) against serde_json's own, and the v2 signature check; and the
/// logins a burst of 50 calls makes after one token revocation.
async fn edges_bench() -> serde_json::Value {
    use csbs_deleter::secret::Secret;
    use csbs_deleter::webhook::{self, Signed, WebhookPolicy};
    let bodies = request_bodies(20_000);
    let secret = Secret::new("bench-webhook-secret-0123456789");
    let policy = WebhookPolicy::Secret(secret.clone());
    let now = chrono::Utc::now().timestamp();
    let query = webhook::canonical_raw_query("");
    fn post(b: &str) -> Signed<'_> {
        Signed {
            method: "POST",
            path: "/deletions",
            query: "",
            body: b.as_bytes(),
        }
    }
    let headers: Vec<String> = bodies.iter().map(|b| webhook::sign(&secret, now, &post(b))).collect();
    let per_body = |f: &dyn Fn(usize, &str)| {
        let started = StdInstant::now();
        for (i, b) in bodies.iter().enumerate() {
            f(i, b);
        }
        started.elapsed().as_secs_f64() * 1e6 / bodies.len() as f64
    };
    let loose = |_: usize, b: &str| {
        let v: serde_json::Value = serde_json::from_str(b).unwrap();
        std::hint::black_box(DeletionRequest::from_value(&v).unwrap());
    };
    let strict = |_: usize, b: &str| {
        let v = csbs_deleter::request::parse_json(b.as_bytes(), "the body").unwrap();
        std::hint::black_box(DeletionRequest::from_value(&v).unwrap());
    };
    let verify = |i: usize, b: &str| {
        let req = Signed {
            query: &query,
            ..post(b)
        };
        webhook::verify(&policy, Some(&headers[i]), &req, now).unwrap();
    };
    // Seven rounds, the three measured in turn; the fastest round of each (a CPU-bound figure:
    // the others are the machine's noise).
    let (mut loose_us, mut strict_us, mut verify_us) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..7 {
        loose_us = loose_us.min(per_body(&loose));
        strict_us = strict_us.min(per_body(&strict));
        verify_us = verify_us.min(per_body(&verify));
    }
    // One revocation under a burst of 50 calls in flight, password credentials.
    let s = Simulator::start(SimConfig::default()).await.unwrap();
    s.sim.seed(sim::DEMO_PROJECT, "ckpt", &[ItemSeed::ok("item")]);
    let c = CsbsClient::new(ClientConfig::new(s.base_url(), s.base_url(), sim::demo_password())).unwrap();
    c.get_item(sim::DEMO_PROJECT, "item", far()).await.unwrap();
    let before = s.sim.stats().token;
    s.sim.expire_tokens();
    let calls = (0..50).map(|_| c.get_item(sim::DEMO_PROJECT, "item", far()));
    let ok = futures::future::join_all(calls)
        .await
        .iter()
        .filter(|r| r.is_ok())
        .count();
    json!({"part": "edges", "loose_parse_us": loose_us, "strict_parse_us": strict_us, "verify_v2_us": verify_us,
           "added_us": strict_us - loose_us + verify_us, "record_overhead_us": record_overhead(),
           "burst_calls": 50, "burst_ok": ok, "burst_token_requests": s.sim.stats().token - before,
           "conditions": "20,000 request bodies of two items and a context, one core; the burst: csbs-sim over loopback, password credentials, 50 GETs in flight after every token was revoked"})
}

/// DynamoDB on-demand list prices (us-east-1, since November 2024): per million write and read
/// request units. Change them here to price another region.
const USD_PER_MILLION_WRU: f64 = 0.625;
const USD_PER_MILLION_RRU: f64 = 0.125;

/// The size DynamoDB bills an item at: attribute names plus values.
fn item_bytes(item: &csbs_deleter::ports::ledger::Item) -> usize {
    use csbs_deleter::ports::ledger::Attr;
    item.iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    Attr::S(s) | Attr::N(s) => s.len(),
                }
        })
        .sum()
}

/// What the decision ledger costs (docs/DESIGN.md, "Decisions"): 1,000 requests through
/// submit and two pollers, with copies — 20 % of the requests delivered twice, every pending
/// message duplicated — counted in ledger writes and reads, SQS and EventBridge requests, and
/// priced; then 10,000 pending tasks at 100 ms cloud latency with the ledger in the path.
async fn ledger_bench() -> serde_json::Value {
    use csbs_deleter::adapters::memory::MemoryLedger;
    let w = world((Duration::from_millis(10), Duration::from_millis(40))).await;
    let ledger = Arc::new(MemoryLedger::new());
    let s = submitter(&w).with_ledger(ledger.clone());
    let n = 1000;
    let now = chrono::Utc::now();
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let c = format!("ledger-{i}");
            w.sim.sim.seed(sim::DEMO_PROJECT, &c, &[ItemSeed::ok(format!("{c}-a"))]);
            Record {
                message_id: format!("m{i}"),
                body: json!({"project_id": sim::DEMO_PROJECT, "checkpoint_id": c}).to_string(),
                sent_at: Some(now),
            }
        })
        .collect();
    let q0 = w.queue.calls().total();
    let puts0 = w.sink.puts();
    for chunk in records.chunks(10) {
        s.submit_batch(chunk, far()).await;
    }
    let submit_aws = (w.queue.calls().total() - q0 + w.sink.puts() - puts0) as f64 / n as f64;
    // Copies: a fifth of the requests again (SQS at-least-once), every pending message twice.
    for chunk in records.iter().step_by(5).cloned().collect::<Vec<_>>().chunks(10) {
        s.submit_batch(chunk, far()).await;
    }
    for body in w.queue.bodies() {
        w.queue.push_raw(body);
    }
    let after_submit = ledger.calls();
    let p = || {
        poller(
            &w,
            PollSettings {
                window: Duration::from_secs(30),
                interval: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .with_ledger(ledger.clone())
    };
    let (a, b) = (p(), p());
    let q1 = w.queue.calls().total();
    let puts1 = w.sink.puts();
    let (ra, rb) = tokio::join!(a.run(far()), b.run(far()));
    let checks = ra.checked + rb.checked;
    let poll_aws = (w.queue.calls().total() - q1 + w.sink.puts() - puts1) as f64 / checks.max(1) as f64;
    let calls = ledger.calls();
    let items = ledger.items();
    let decided_bytes = items.iter().map(item_bytes).sum::<usize>() as f64 / items.len().max(1) as f64;
    let submitted_bytes = {
        let req = DeletionRequest::from_sqs_body(&records[0].body).unwrap();
        item_bytes(&csbs_deleter::ports::ledger::Record::submitted(&PendingTask::new(&req, now, 1800)).to_item()) as f64
    };
    // Every write is billed by the item's size (1 KB units), also one whose condition failed;
    // a consistent read by 4 KB units.
    let wru = |bytes: f64| (bytes / 1024.0).ceil().max(1.0);
    let submit_writes = after_submit.writes as f64;
    let poll_writes = (calls.writes - after_submit.writes) as f64;
    let wrus = submit_writes * wru(submitted_bytes) + poll_writes * wru(decided_bytes);
    let rrus = calls.reads as f64 * (decided_bytes / 4096.0).ceil().max(1.0);
    let per_1000 = |units: f64, price: f64| units / n as f64 * 1000.0 * price / 1e6;
    let drain = throughput_case(10_000, 100).await;
    json!({"part": "ledger", "tasks": n, "decided": items.iter().filter(|i| i.get("state") != Some(&csbs_deleter::ports::ledger::Attr::S("submitted".into()))).count(),
           "writes": calls.writes, "reads": calls.reads, "conflicts": calls.conflicts,
           "written_per_task": (calls.writes - calls.conflicts) as f64 / n as f64,
           "writes_per_task": calls.writes as f64 / n as f64, "reads_per_conflict": calls.reads as f64 / calls.conflicts.max(1) as f64,
           "submitted_item_bytes": submitted_bytes, "decided_item_bytes": decided_bytes,
           "usd_per_1000_tasks": per_1000(wrus, USD_PER_MILLION_WRU) + per_1000(rrus, USD_PER_MILLION_RRU),
           "usd_per_million_wru": USD_PER_MILLION_WRU, "usd_per_million_rru": USD_PER_MILLION_RRU,
           "submit_aws_requests_per_request": submit_aws, "poll_aws_requests_per_check": poll_aws, "checks": checks,
           "drain_10k_100ms_invocations": drain["invocations"], "drain_10k_100ms_completed": drain["completed"],
           "drain_10k_100ms_aws_requests_per_check": drain["aws_requests_per_check"],
           "conditions": "in-memory queue, bus and ledger (its calls counted as DynamoDB would bill them), AK/SK, csbs-sim deletions of 10-40 ms; 1,000 CSBS requests in SQS batches of 10, a fifth delivered twice, every pending message duplicated, two pollers at once"})
}

async fn submit_bench() -> serde_json::Value {
    let overhead_us = record_overhead();
    // Full submit path over loopback, no injected latency: records per second.
    let w = world((Duration::from_secs(600), Duration::from_secs(600))).await;
    let s = submitter(&w);
    let n = 2000;
    for i in 0..n {
        w.sim.sim.seed(
            sim::DEMO_PROJECT,
            &format!("fast-{i}"),
            &[ItemSeed::ok(format!("fast-{i}-item"))],
        );
    }
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            message_id: format!("m{i}"),
            body: json!({"project_id": sim::DEMO_PROJECT, "checkpoint_id": format!("fast-{i}")}).to_string(),
            sent_at: None,
        })
        .collect();
    let started = StdInstant::now();
    for chunk in records.chunks(10) {
        assert!(s.submit_batch(chunk, far()).await.is_empty());
    }
    let loopback_us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    // AWS requests (SendMessageBatch + PutEvents) per submitted request, in batches of 10.
    let aws_per_request = (w.queue.calls().total() + w.sink.puts()) as f64 / n as f64;

    // Batch of 10 vs one request, with 200 ms injected CSBS latency.
    let w = world((Duration::from_secs(600), Duration::from_secs(600))).await;
    w.sim.sim.add_fault(Fault::latency(Route::Delete, 200));
    for i in 0..11 {
        w.sim.sim.seed(
            sim::DEMO_PROJECT,
            &format!("slow-{i}"),
            &[ItemSeed::ok(format!("slow-{i}-item"))],
        );
    }
    let s = submitter(&w);
    let rec = |i: usize| Record {
        message_id: format!("s{i}"),
        body: json!({"project_id": sim::DEMO_PROJECT, "checkpoint_id": format!("slow-{i}")}).to_string(),
        sent_at: None,
    };
    let started = StdInstant::now();
    assert!(s.submit_batch(&[rec(10)], far()).await.is_empty());
    let one_ms = started.elapsed().as_secs_f64() * 1e3;
    let batch: Vec<Record> = (0..10).map(rec).collect();
    let started = StdInstant::now();
    assert!(s.submit_batch(&batch, far()).await.is_empty());
    let ten_ms = started.elapsed().as_secs_f64() * 1e3;
    json!({"part": "submit", "record_overhead_us": overhead_us, "loopback_record_us": loopback_us,
           "one_request_ms": one_ms, "batch_of_10_ms": ten_ms, "batch_ratio": ten_ms / one_ms,
           "aws_requests_per_request": aws_per_request,
           "conditions": "in-memory queue and bus, AK/SK, csbs-sim over loopback; 200 ms injected on DELETE for the batch figures"})
}

/// One poll invocation over `n` pending tasks whose deletions are done, with 20 ms CSBS latency.
async fn poll_bench(n: usize) -> serde_json::Value {
    let w = world((Duration::ZERO, Duration::ZERO)).await;
    let now = chrono::Utc::now();
    for i in 0..n {
        let c = format!("p-{i}");
        w.sim
            .sim
            .seed(sim::DEMO_PROJECT, &c, &[ItemSeed::ok(format!("{c}-item"))]);
        let req = DeletionRequest::from_value(&json!({"project_id": sim::DEMO_PROJECT, "checkpoint_id": c})).unwrap();
        // Submitted and deleted by CSBS already: the tick has to find them gone.
        w.csbs
            .delete_checkpoint(
                sim::DEMO_PROJECT,
                req.provider_id.as_deref().unwrap_or_default(),
                &c,
                None,
                far(),
            )
            .await
            .unwrap();
        w.queue.send(&PendingTask::new(&req, now, 1800), far()).await.unwrap();
    }
    let secs = one_finished_pass(&w, n, Route::List).await;
    let calls = w.sim.sim.stats().csbs_calls();
    json!({"part": format!("poll{}", n), "tasks": n, "seconds": secs, "cloud_calls": calls,
           "calls_per_task": calls as f64 / n as f64, "concurrency": PollSettings::default().cloud_concurrency,
           "peak_rss_mb": peak_rss_mb(),
           "conditions": "in-memory queue (no receive latency) and bus, AK/SK, 20 ms injected on every list call"})
}

/// What operating it like AWS costs (issue #23's target: ≤ 2 %): the submit and poll paths of
/// `submit` and `poll1k`, each run plain and as the Lambda functions run them — every event
/// through the counting sink, each invocation in an X-Ray trace (so tasks and events carry the
/// trace id), its EMF lines rendered and written out — in alternating rounds of one binary,
/// so both variants see the same machine. The transport's call timing is on in both (it is
/// not switchable): its cost is measured on its own, per call.
async fn operate_bench() -> serde_json::Value {
    const SUBMIT_PAIRS: usize = 10;
    const POLL_PAIRS: usize = 5;
    use csbs_deleter::cloud::CallLatencies;
    use csbs_deleter::metrics::{CountingSink, emf_lines};
    use std::io::Write;
    const TRACE: &str = "1-5759e988-bd862e3fe1be46a994272793";
    let mut devnull = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
    let mut publishing = Duration::ZERO;
    let mut publishes = 0u32;
    let mut publish = |counted: &CountingSink, csbs: &CsbsClient| {
        let started = StdInstant::now();
        for line in emf_lines("bench", 0, &counted.take(), &csbs.take_latencies()) {
            writeln!(devnull, "{line}").unwrap();
        }
        publishing += started.elapsed();
        publishes += 1;
    };
    // Submit: rounds of 500 requests in batches of 10, loopback, no injected latency; pairs of
    // rounds (which variant goes first alternates), after one warm-up round.
    let (mut plain_submit, mut operated_submit) = (Vec::new(), Vec::new());
    for round in 0..=SUBMIT_PAIRS * 2 {
        // Pair k is rounds 2k+1 and 2k+2; which variant goes first alternates between pairs.
        let operated = round > 0 && (((round - 1) % 2 == 1) ^ (((round - 1) / 2) % 2 == 1));
        let w = world((Duration::from_secs(600), Duration::from_secs(600))).await;
        let counted = Arc::new(CountingSink::new(w.sink.clone()));
        let sink: Arc<dyn EventSink> = if operated { counted.clone() } else { w.sink.clone() };
        let s = Submitter::new(
            w.csbs.clone(),
            w.queue.clone(),
            sink,
            std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
            SubmitSettings::default(),
        );
        let n = 500;
        for i in 0..n {
            w.sim.sim.seed(
                sim::DEMO_PROJECT,
                &format!("op-{i}"),
                &[ItemSeed::ok(format!("op-{i}-item"))],
            );
        }
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                message_id: format!("m{i}"),
                body: json!({"project_id": sim::DEMO_PROJECT, "checkpoint_id": format!("op-{i}")}).to_string(),
                sent_at: None,
            })
            .collect();
        w.csbs.take_latencies();
        let started = StdInstant::now();
        for chunk in records.chunks(10) {
            if operated {
                let done = csbs_deleter::trace::scope(Some(TRACE.into()), s.submit_batch(chunk, far())).await;
                assert!(done.is_empty());
                publish(&counted, &w.csbs);
            } else {
                assert!(s.submit_batch(chunk, far()).await.is_empty());
            }
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        if round == 0 {
            continue; // warm-up
        }
        if operated {
            assert!(w.sink.events().iter().all(|e| e.trace_id.as_deref() == Some(TRACE)));
            operated_submit.push(us);
        } else {
            plain_submit.push(us);
        }
    }
    // Poll: rounds of one pass over 500 finished tasks, 20 ms on every list call.
    let (mut plain_poll, mut operated_poll) = (Vec::new(), Vec::new());
    for round in 0..=POLL_PAIRS * 2 {
        // Pair k is rounds 2k+1 and 2k+2; which variant goes first alternates between pairs.
        let operated = round > 0 && (((round - 1) % 2 == 1) ^ (((round - 1) / 2) % 2 == 1));
        let n = 500;
        let w = world((Duration::ZERO, Duration::ZERO)).await;
        let now = chrono::Utc::now();
        for i in 0..n {
            let c = format!("op-{i}");
            w.sim
                .sim
                .seed(sim::DEMO_PROJECT, &c, &[ItemSeed::ok(format!("{c}-item"))]);
            let req =
                DeletionRequest::from_value(&json!({"project_id": sim::DEMO_PROJECT, "checkpoint_id": c})).unwrap();
            let provider = req.provider_id.clone().unwrap_or_default();
            w.csbs
                .delete_checkpoint(sim::DEMO_PROJECT, &provider, &c, None, far())
                .await
                .unwrap();
            let mut task = PendingTask::new(&req, now, 1800);
            task.trace_id = operated.then(|| TRACE.to_string());
            w.queue.send(&task, far()).await.unwrap();
        }
        while w.sim.sim.finished().len() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        w.sim.sim.add_fault(Fault::latency(Route::List, 20));
        let counted = Arc::new(CountingSink::new(w.sink.clone()).with_detection_bound(Duration::from_secs(10)));
        let sink: Arc<dyn EventSink> = if operated { counted.clone() } else { w.sink.clone() };
        let settings = PollSettings {
            window: Duration::ZERO,
            ..PollSettings::default()
        };
        let p = Poller::new(
            w.csbs.clone(),
            w.queue.clone(),
            sink,
            std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
            settings,
        );
        w.csbs.take_latencies();
        let started = StdInstant::now();
        let summary = p.run(Instant::now() + Duration::from_secs(600)).await;
        if operated {
            publish(&counted, &w.csbs);
        }
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(summary.completed as usize, n);
        if round == 0 {
            continue; // warm-up
        }
        if operated {
            operated_poll.push(secs)
        } else {
            plain_poll.push(secs)
        }
    }
    let publish_us = publishing.as_secs_f64() * 1e6 / publishes.max(1) as f64;
    // The transport's timing of one call: a clock read and a locked push.
    let lat = CallLatencies::default();
    let calls = 1_000_000;
    let started = StdInstant::now();
    for _ in 0..calls {
        let t = StdInstant::now();
        lat.record(t.elapsed());
    }
    let record_ns = started.elapsed().as_secs_f64() * 1e9 / calls as f64;
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        if v.len().is_multiple_of(2) {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        } else {
            v[v.len() / 2]
        }
    };
    // The overhead is the median of the pairs' ratios: a pair runs back to back, so a drift of
    // the machine over the run cancels out.
    let overhead = |plain: &[f64], operated: &[f64]| {
        let ratios: Vec<f64> = plain.iter().zip(operated).map(|(p, o)| (o / p - 1.0) * 100.0).collect();
        median(&ratios)
    };
    let (ps, os, pp, op) = (
        median(&plain_submit),
        median(&operated_submit),
        median(&plain_poll),
        median(&operated_poll),
    );
    json!({"part": "operate", "submit_plain_us": ps, "submit_operated_us": os, "submit_overhead_pct": overhead(&plain_submit, &operated_submit),
           "poll_plain_s": pp, "poll_operated_s": op, "poll_overhead_pct": overhead(&plain_poll, &operated_poll),
           "submit_rounds_us": {"plain": plain_submit, "operated": operated_submit},
           "poll_rounds_s": {"plain": plain_poll, "operated": operated_poll},
           "call_timing_ns": record_ns, "publish_us_per_invocation": publish_us, "rounds": {"submit": plain_submit.len(), "poll": plain_poll.len()},
           "conditions": "pairs of back-to-back rounds in one binary (the order alternating, after a warm-up round), the overhead the median of the pairs' ratios: submit 500 requests in batches of 10 over loopback; poll one pass over 500 finished tasks with 20 ms on every list call"})
}

/// CBR (issue #11's targets): a poll tick over 1,000 pending CBR backups whose deletions are
/// done, 20 ms on every CBR GET — CBR calls per backup per check, against the CSBS tick of
/// `poll1k` under the same conditions; and a submit batch of 10 CBR requests at 200 ms per
/// DELETE against one request.
async fn cbr_bench() -> serde_json::Value {
    let n = 1_000;
    let w = world((Duration::ZERO, Duration::ZERO)).await;
    let cbr = csbs_deleter::cbr::CbrClient::new(w.csbs.transport().clone());
    let now = chrono::Utc::now();
    for i in 0..n {
        let b = format!("cbr-{i}");
        w.sim
            .sim
            .seed_cbr(sim::DEMO_PROJECT, &format!("rp-{i}"), &[ItemSeed::ok(&b)]);
        cbr.delete_backup(sim::DEMO_PROJECT, &b, far()).await.unwrap();
        let req =
            DeletionRequest::from_value(&json!({"service": "cbr", "project_id": sim::DEMO_PROJECT, "backup_id": b}))
                .unwrap();
        w.queue.send(&PendingTask::new(&req, now, 1800), far()).await.unwrap();
    }
    let poll_secs = one_finished_pass(&w, n, Route::CbrGet).await;
    let stats = w.sim.sim.stats();
    let calls = stats.cbr_calls();

    // Submit: a batch of 10 CBR requests vs one, 200 ms on every DELETE.
    let w = world((Duration::from_secs(600), Duration::from_secs(600))).await;
    w.sim.sim.add_fault(Fault::latency(Route::CbrDelete, 200));
    for i in 0..11 {
        w.sim.sim.seed_cbr(
            sim::DEMO_PROJECT,
            &format!("rp-slow-{i}"),
            &[ItemSeed::ok(format!("slow-{i}"))],
        );
    }
    let s = submitter(&w);
    let rec = |i: usize| Record {
        message_id: format!("s{i}"),
        body: json!({"service": "cbr", "project_id": sim::DEMO_PROJECT, "backup_id": format!("slow-{i}")}).to_string(),
        sent_at: None,
    };
    let started = StdInstant::now();
    assert!(s.submit_batch(&[rec(10)], far()).await.is_empty());
    let one_ms = started.elapsed().as_secs_f64() * 1e3;
    let batch: Vec<Record> = (0..10).map(rec).collect();
    let started = StdInstant::now();
    assert!(s.submit_batch(&batch, far()).await.is_empty());
    let ten_ms = started.elapsed().as_secs_f64() * 1e3;
    json!({"part": "cbr", "backups": n, "poll_seconds": poll_secs, "cbr_calls": calls,
           "cbr_gets": stats.cbr_get, "calls_per_backup": calls as f64 / n as f64,
           "submit_one_ms": one_ms, "submit_batch_of_10_ms": ten_ms, "submit_batch_ratio": ten_ms / one_ms,
           "conditions": "in-memory queue (no receive latency) and bus, AK/SK, csbs-sim over loopback; poll: 1,000 one-backup CBR tasks already deleted, 20 ms injected on every CBR GET, one pass; submit: 200 ms injected on every CBR DELETE"})
}

fn current_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Delete by rule at the scale: planning 10,000 backups (CSBS and CBR) with 20 ms on
/// every list call — list calls, seconds, memory — and the fan-out of those 10,000 targets
/// through the in-memory intake queue (a service that keeps up, so every step sends a full
/// batch): SendMessageBatch calls of targets and of follow-ups.
async fn selection_bench() -> serde_json::Value {
    use csbs_deleter::select::ExpandSettings;
    use csbs_deleter::selection::{FanOut, SelectionRequest};
    let n = 10_000;
    let w = world((Duration::from_secs(3600), Duration::from_secs(3600))).await;
    let created = (chrono::Utc::now() - chrono::Duration::days(40))
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let seed = |i: usize, prefix: &str| ItemSeed {
        resource_id: Some(format!("srv-{}", i % 500)),
        created_at: Some(created.clone()),
        ..ItemSeed::ok(format!("{prefix}-{i:05}"))
    };
    for c in 0..20 {
        let csbs: Vec<ItemSeed> = (c * 500..(c + 1) * 500).map(|i| seed(i, "it")).collect();
        w.sim.sim.seed(sim::DEMO_PROJECT, &format!("cp-{c:02}"), &csbs);
        let cbr: Vec<ItemSeed> = (c * 500..(c + 1) * 500).map(|i| seed(i, "bk")).collect();
        w.sim.sim.seed_cbr(sim::DEMO_PROJECT, &format!("rp-{c:02}"), &cbr);
    }
    w.sim.sim.add_fault(Fault::latency(Route::List, 20));
    w.sim.sim.add_fault(Fault::latency(Route::CbrList, 20));
    let intake = Arc::new(MemoryQueue::new(Duration::from_secs(300)));
    let settings = SubmitSettings {
        expand: ExpandSettings {
            step_delay_secs: 0,
            ..ExpandSettings::default()
        },
        ..SubmitSettings::default()
    };
    let s = Submitter::new(
        w.csbs.clone(),
        w.queue.clone(),
        w.sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        settings,
    )
    .with_intake(intake.clone());
    let mut planning = Vec::new();
    for service in ["csbs", "cbr"] {
        let req = SelectionRequest::from_value(&json!({"select": {"service": service, "project_id": sim::DEMO_PROJECT,
                                                                 "older_than_days": 30, "keep_last": 2, "max_backups": 10000}}))
        .unwrap();
        w.sim.sim.reset_stats();
        let rss_before = current_rss_mb();
        let started = StdInstant::now();
        let plan = s
            .expander()
            .plan_only(&req, chrono::Utc::now(), far())
            .await
            .unwrap()
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        let peak = peak_rss_mb();
        let stats = w.sim.sim.stats();
        planning.push(
            json!({"service": service, "listed": plan.counts.listed, "to_delete": plan.counts.to_delete,
                             "kept": plan.counts.kept, "list_calls": stats.list + stats.cbr_list, "seconds": secs,
                             "rss_before_mb": rss_before, "peak_rss_mb": peak}),
        );
    }
    // The memory of planning on its own: the operator CLI's `plan` in a process of its own
    // (the simulator shares this one), its peak RSS sampled from /proc until it exits.
    let select = json!({"select": {"project_id": sim::DEMO_PROJECT, "older_than_days": 30, "keep_last": 2, "max_backups": 10000}});
    let base = w.sim.base_url().to_string();
    let started = StdInstant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_csbs-deleter"))
        .args(["plan", "--json", &select.to_string()])
        .env_clear()
        .env("CSBS_ENDPOINT", &base)
        .env("CSBS_AK", sim::DEMO_AK)
        .env("CSBS_SK", sim::DEMO_SK)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        out
    });
    let mut cli_peak_mb: f64 = 0.0;
    while child.try_wait().unwrap().is_none() {
        if let Some(kb) = std::fs::read_to_string(&status_path)
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
        {
            cli_peak_mb = cli_peak_mb.max(kb / 1024.0);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cli_secs = started.elapsed().as_secs_f64();
    let printed: serde_json::Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(printed["counts"]["to_delete"], 9000);
    // The fan-out: the whole selection, then every follow-up step until the intake is drained
    // of them; target requests are counted and dropped (nothing submits them).
    let rec = Record {
        message_id: "sel".into(),
        body: json!({"select": {"project_id": sim::DEMO_PROJECT, "older_than_days": 30, "max_backups": 10000}})
            .to_string(),
        sent_at: None,
    };
    let started = StdInstant::now();
    assert!(s.submit_batch(&[rec], far()).await.is_empty());
    let (mut targets, mut follow_ups) = (0usize, 0usize);
    loop {
        let got = intake.receive(10, Some(300), far()).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in &got {
            let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
            if FanOut::is_fan_out(&v) {
                follow_ups += 1;
                s.expander()
                    .step(&FanOut::from_value(&v).unwrap(), far())
                    .await
                    .unwrap();
            } else {
                targets += 1;
            }
        }
        let receipts: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
        intake.delete(&receipts, far()).await.unwrap();
    }
    let fan_secs = started.elapsed().as_secs_f64();
    assert_eq!(targets, n);
    let sends = intake.calls().send as usize;
    json!({"part": "selection", "backups": n, "planning": planning, "page_size": 1000,
           "cli_plan_seconds": cli_secs, "cli_plan_peak_rss_mb": cli_peak_mb,
           "fan_out_targets": targets, "fan_out_seconds": fan_secs, "follow_ups": follow_ups,
           "send_message_batch_calls": sends, "target_batches": sends - follow_ups,
           "conditions": "csbs-sim over loopback with 20 ms injected on every list call (CSBS and CBR), AK/SK; 10,000 backups of 500 servers in 20 checkpoints / restore points per service; planning = listing + plan (older_than_days 30, keep_last 2); fan-out through the in-memory intake queue, the service keeping up (no backup waiting), step delay 0"})
}

/// Receive latency of the in-memory queue in the throughput cases: a ReceiveMessage on SQS
/// takes some tens of milliseconds from Lambda (moto's 0.4 s for 1,000 messages is a property
/// of moto, covered by tests/it/pipeline.rs).
const RECEIVE_MS: u64 = 30;

/// Poll as deployed — 60 s invocations (58.5 s of work), the 50 s window, 16 CSBS calls at a
/// time — over `n` pending tasks whose deletions are done, with `latency_ms` on every CSBS
/// list call: tasks finished per second of invocation, invocations needed to drain, AWS
/// requests per check.
async fn throughput_case(n: usize, latency_ms: u64) -> serde_json::Value {
    let w = world((Duration::ZERO, Duration::ZERO)).await;
    let queue =
        Arc::new(MemoryQueue::new(Duration::from_secs(120)).with_receive_latency(Duration::from_millis(RECEIVE_MS)));
    let now = chrono::Utc::now();
    let tasks: Vec<PendingTask> = (0..n)
        .map(|i| {
            let req = DeletionRequest::from_value(
                &json!({"project_id": sim::DEMO_PROJECT, "checkpoint_id": format!("t-{i}")}),
            )
            .unwrap();
            PendingTask::new(&req, now, 1800)
        })
        .collect();
    for chunk in tasks.chunks(10) {
        queue.send_batch(chunk, far()).await.unwrap();
    }
    w.sim.sim.add_fault(Fault::latency(Route::List, latency_ms));
    let before = queue.calls();
    let p = Poller::new(
        w.csbs.clone(),
        queue.clone(),
        w.sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        PollSettings::default(),
    );
    let (mut invocations, mut busy, mut checked, mut completed) = (0u32, 0f64, 0u64, 0u64);
    while !queue.is_empty() && invocations < 10 {
        let started = StdInstant::now();
        let s = p.run(Instant::now() + Duration::from_millis(58_500)).await;
        busy += started.elapsed().as_secs_f64();
        invocations += 1;
        checked += s.checked;
        completed += s.completed;
    }
    let q = queue.calls();
    let aws = (q.total() - before.total()) + w.sink.puts();
    let calls = w.sim.sim.stats().csbs_calls();
    json!({"part": "throughput", "tasks": n, "csbs_latency_ms": latency_ms, "completed": completed,
           "invocations": invocations, "busy_seconds": busy, "tasks_per_second": completed as f64 / busy,
           "csbs_calls_per_task": calls as f64 / n as f64, "checks": checked,
           "aws_requests_per_check": aws as f64 / checked.max(1) as f64,
           "receive": q.receive - before.receive, "delete": q.delete - before.delete, "put_events": w.sink.puts(),
           "change_visibility": q.change_visibility - before.change_visibility,
           "conditions": format!("in-memory queue ({RECEIVE_MS} ms per receive, real visibility) and bus, AK/SK, {latency_ms} ms injected on every CSBS list call, 60 s invocations as deployed")})
}

/// 100 deletions of random duration, polled as in production (a tick every 60 s with the
/// template's window and interval): delay from CSBS finishing to the event being emitted.
async fn delay_bench() -> serde_json::Value {
    let w = world((Duration::from_secs(5), Duration::from_secs(100))).await;
    let s = submitter(&w);
    // One project per deletion: CSBS's five-at-a-time queue is not what is measured here.
    for i in 0..100 {
        let project = format!("proj{i:03}");
        w.sim.sim.seed(&project, "ckpt", &[ItemSeed::ok(format!("item-{i}"))]);
        let req = DeletionRequest::from_value(&json!({"project_id": project, "checkpoint_id": "ckpt"})).unwrap();
        s.submit(&req, far()).await.unwrap();
    }
    let mut rx = w.sink.subscribe();
    let emitted = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let recorder = {
        let emitted = emitted.clone();
        tokio::spawn(async move {
            while let Ok(e) = rx.recv().await {
                if e.outcome == Outcome::Completed {
                    emitted
                        .lock()
                        .unwrap()
                        .insert(e.project_id.clone().unwrap_or_default(), Instant::now());
                }
            }
        })
    };
    let p = poller(&w, PollSettings::default());
    let started = Instant::now();
    let mut ticks = 0;
    while !w.queue.is_empty() && ticks < 10 {
        // Lambda: the template's 75 s timeout, so the work deadline is 73.5 s after the tick;
        // the 60 s window ends the invocation's passes before the next tick.
        let tick = started + Duration::from_secs(60 * ticks);
        tokio::time::sleep_until(tick).await;
        p.run(tick + Duration::from_millis(73_500)).await;
        ticks += 1;
    }
    // Let the recorder catch up with every Completed event the bus accepted.
    let accepted = w
        .sink
        .events()
        .iter()
        .filter(|e| e.outcome == Outcome::Completed)
        .count();
    let caught_up = async {
        while emitted.lock().unwrap().len() < accepted {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), caught_up).await;
    recorder.abort();
    let emitted = emitted.lock().unwrap().clone();
    let mut delays: Vec<f64> = w
        .sim
        .sim
        .finished()
        .iter()
        .filter_map(|f| Some(emitted.get(&f.project_id)?.duration_since(f.finished_at?).as_secs_f64()))
        .collect();
    delays.sort_by(f64::total_cmp);
    json!({"part": "delay", "deletions": 100, "measured": delays.len(), "ticks": ticks,
           "p50_s": percentile(&delays, 0.5), "p95_s": percentile(&delays, 0.95), "max_s": delays.last(),
           "conditions": "in-memory queue and bus, AK/SK, csbs-sim deletions of 5-100 s, no injected latency; a tick every 60 s with the template's window and interval"})
}

fn main() {
    let parts: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for part in &parts {
        let result = rt.block_on(async {
            match part.as_str() {
                "submit" => submit_bench().await,
                "edges" => edges_bench().await,
                "ledger" => ledger_bench().await,
                "poll1k" => poll_bench(1_000).await,
                "poll10k" => poll_bench(10_000).await,
                "cbr" => cbr_bench().await,
                "selection" => selection_bench().await,
                "delay" => delay_bench().await,
                "operate" => operate_bench().await,
                "regions" => regions::regions_bench().await,
                "bulk" => bulk::bulk_bench().await,
                "throughput" => {
                    let mut cases = Vec::new();
                    for n in [1_000, 10_000] {
                        for latency in [20, 100, 300] {
                            let case = throughput_case(n, latency).await;
                            println!("{case}");
                            cases.push(case);
                        }
                    }
                    json!({"part": "throughput-done", "cases": cases.len()})
                }
                other => {
                    panic!("unknown part {other}: submit, edges, poll1k, poll10k, cbr, selection, throughput, delay, operate, regions, bulk")
                }
            }
        });
        println!("{result}");
    }
}
