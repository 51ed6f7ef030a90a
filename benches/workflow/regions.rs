//! Regions and replicas (issue "every region and its replicas"): three simulators on loopback
//! (the default region `eu-de` and two more), the in-memory queue, bus and ledger, AK/SK.
//! - poll: one pass over tasks of a source and two replicas, whose deletions are done, 20 ms on
//!   every CBR GET — cloud calls per target per check;
//! - submit: a batch of 10 `with_replicas` requests (each a source and two replicas) against
//!   one, 200 ms on every GET and DELETE — round trips;
//! - selection: planning 10,000 backups in each of two regions, 20 ms on every list call — list
//!   calls per region.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use csbs_deleter::adapters::memory::{MemoryLedger, MemoryQueue, MemorySink};
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::region::RegionEndpoints;
use csbs_deleter::selection::SelectionRequest;
use csbs_deleter::service::Service;
use csbs_deleter::sim::{self, Fault, ItemSeed, Route, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{Record, SubmitSettings, Submitter};
use serde_json::{Value, json};
use tokio::time::Instant;

const OTHER: [&str; 2] = ["eu-nl", "eu-ch2"];
const P: &str = sim::DEMO_PROJECT;

struct Regions {
    /// The default region's simulator, then one per [`OTHER`] region.
    sims: Vec<RunningSim>,
    csbs: CsbsClient,
}

async fn regions(delete: Duration) -> Regions {
    let mut sims = Vec::new();
    for _ in 0..3 {
        sims.push(
            Simulator::start(SimConfig {
                delete_duration: (delete, delete),
                ..SimConfig::default()
            })
            .await
            .unwrap(),
        );
    }
    let table = OTHER
        .iter()
        .zip(&sims[1..])
        .map(|(name, s)| {
            let e = RegionEndpoints {
                services: BTreeMap::from([(Service::Cbr, s.base_url())]),
                iam: None,
            };
            (name.to_string(), e)
        })
        .collect();
    let home = sims[0].base_url();
    let cc = ClientConfig::new(home.clone(), home.clone(), sim::demo_aksk())
        .with_cbr(home)
        .with_regions("eu-de", table);
    Regions {
        csbs: CsbsClient::new(cc).unwrap(),
        sims,
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

/// Source `id` in the default region with a replica in each other region.
fn seed_replicated(r: &Regions, id: &str) {
    let mut source = ItemSeed::ok(id);
    for (k, name) in OTHER.iter().enumerate() {
        let replica = format!("{id}-{name}");
        source
            .replication_records
            .push(json!({"id": format!("rec-{replica}"), "status": "success",
            "destination_region": name, "destination_project_id": P, "destination_backup_id": replica}));
        let seed = ItemSeed {
            replica: true,
            ..ItemSeed::ok(replica)
        };
        r.sims[k + 1].sim.seed_cbr(P, &format!("rp-{id}"), &[seed]);
    }
    r.sims[0].sim.seed_cbr(P, &format!("rp-{id}"), &[source]);
}

fn submitter(r: &Regions, queue: Arc<MemoryQueue>, sink: Arc<MemorySink>) -> Submitter {
    Submitter::new(
        r.csbs.clone(),
        queue,
        sink as Arc<dyn EventSink>,
        Arc::new(MemoryLedger::new()),
        SubmitSettings::default(),
    )
}

fn request(id: &str) -> Record {
    Record {
        message_id: id.to_string(),
        body: json!({"service": "cbr", "project_id": P, "backup_id": id, "with_replicas": true}).to_string(),
        sent_at: None,
    }
}

fn cbr_calls(r: &Regions) -> u64 {
    r.sims.iter().map(|s| s.sim.stats().cbr_calls()).sum()
}

/// Tasks of three targets each, their deletions done: one pass, cloud calls per target.
async fn poll_part(n: usize) -> Value {
    let r = regions(Duration::ZERO).await;
    let (queue, sink) = (
        Arc::new(MemoryQueue::new(Duration::from_secs(300))),
        Arc::new(MemorySink::new()),
    );
    let s = submitter(&r, queue.clone(), sink.clone());
    let ids: Vec<String> = (0..n).map(|i| format!("src-{i:04}")).collect();
    for id in &ids {
        seed_replicated(&r, id);
    }
    let records: Vec<Record> = ids.iter().map(|i| request(i)).collect();
    for batch in records.chunks(10) {
        assert!(s.submit_batch(batch, far()).await.is_empty());
    }
    while r.sims.iter().map(|s| s.sim.finished().len()).sum::<usize>() < 3 * n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for s in &r.sims {
        s.sim.add_fault(Fault::latency(Route::CbrGet, 20));
        s.sim.reset_stats();
    }
    let poller = Poller::new(
        r.csbs.clone(),
        queue.clone(),
        sink as Arc<dyn EventSink>,
        Arc::new(MemoryLedger::new()),
        PollSettings {
            window: Duration::ZERO,
            ..PollSettings::default()
        },
    );
    let started = StdInstant::now();
    let summary = poller.run(far()).await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.completed as usize, n);
    let calls = cbr_calls(&r);
    json!({"tasks": n, "targets": 3 * n, "cloud_calls": calls, "calls_per_target": calls as f64 / (3 * n) as f64, "pass_seconds": secs})
}

/// A batch of 10 `with_replicas` requests against one, 200 ms on every GET and DELETE.
async fn submit_part() -> Value {
    let r = regions(Duration::from_secs(600)).await;
    for s in &r.sims {
        s.sim.add_fault(Fault::latency(Route::CbrGet, 200));
        s.sim.add_fault(Fault::latency(Route::CbrDelete, 200));
    }
    for i in 0..11 {
        seed_replicated(&r, &format!("slow-{i:02}"));
    }
    let s = submitter(
        &r,
        Arc::new(MemoryQueue::new(Duration::from_secs(300))),
        Arc::new(MemorySink::new()),
    );
    let started = StdInstant::now();
    assert!(s.submit_batch(&[request("slow-10")], far()).await.is_empty());
    let one_ms = started.elapsed().as_secs_f64() * 1e3;
    let batch: Vec<Record> = (0..10).map(|i| request(&format!("slow-{i:02}"))).collect();
    let started = StdInstant::now();
    assert!(s.submit_batch(&batch, far()).await.is_empty());
    let ten_ms = started.elapsed().as_secs_f64() * 1e3;
    let deletes: u64 = r.sims.iter().map(|s| s.sim.stats().cbr_delete).sum();
    assert_eq!(deletes, 33, "a source and two replicas per request");
    json!({"one_ms": one_ms, "batch_of_10_ms": ten_ms, "round_trips_one": one_ms / 200.0, "round_trips_batch": ten_ms / 200.0, "deletes": deletes})
}

/// 10,000 backups in each of two regions, 20 ms on every list call: list calls per region.
async fn selection_part() -> Value {
    let r = regions(Duration::from_secs(3600)).await;
    let created = (chrono::Utc::now() - chrono::Duration::days(40))
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    for (k, s) in r.sims[..2].iter().enumerate() {
        for c in 0..20 {
            let seeds: Vec<ItemSeed> = (c * 500..(c + 1) * 500)
                .map(|i| ItemSeed {
                    resource_id: Some(format!("srv-{}", i % 500)),
                    created_at: Some(created.clone()),
                    ..ItemSeed::ok(format!("bk{k}-{i:05}"))
                })
                .collect();
            s.sim.seed_cbr(P, &format!("rp-{c:02}"), &seeds);
        }
        s.sim.add_fault(Fault::latency(Route::CbrList, 20));
        s.sim.reset_stats();
    }
    let s = submitter(
        &r,
        Arc::new(MemoryQueue::new(Duration::from_secs(300))),
        Arc::new(MemorySink::new()),
    );
    let mut out = Vec::new();
    for (k, region) in [(0, "eu-de"), (1, "eu-nl")] {
        let req = SelectionRequest::from_value(&json!({"select": {"service": "cbr", "project_id": P, "region": region,
            "older_than_days": 30, "keep_last": 2, "max_backups": 10000}}))
        .unwrap();
        let started = StdInstant::now();
        let plan = s
            .expander()
            .plan_only(&req, chrono::Utc::now(), far())
            .await
            .unwrap()
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        out.push(
            json!({"region": region, "backups": 10_000, "to_delete": plan.counts.to_delete,
                        "list_calls": r.sims[k].sim.stats().cbr_list, "seconds": secs}),
        );
    }
    json!(out)
}

pub async fn regions_bench() -> Value {
    json!({"part": "regions", "poll": poll_part(300).await, "submit": submit_part().await, "selection": selection_part().await,
           "conditions": "three csbs-sim regions over loopback (eu-de the default, eu-nl, eu-ch2), in-memory queue, bus and ledger, AK/SK; poll: 300 tasks of a source and two replicas, deletions done, 20 ms on every CBR GET, one pass; submit: 200 ms on every CBR GET and DELETE; selection: 10,000 backups per region, 20 ms on every list call"})
}
