//! Two regions served by one stack (docs/DESIGN.md, "Regions"): both Lambda handlers against
//! two simulators (one per region, each with its own backups and five-at-a-time queue) and
//! moto — requests naming a region, a backup deleted with its replica in the other region, and
//! the refusals that come before any DELETE.

use std::time::Duration;

use crate::common::*;
use csbs_deleter::lambda::{dispatch, poll};
use csbs_deleter::sim::{DEMO_PROJECT as P, ItemSeed, Replicated, RunningSim};
use csbs_deleter::wiring;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
/// The second region's project (project ids are regional).
const P2: &str = "0123456789abcdef0123456789abcd02";

/// `DEFAULT_REGION=eu-de` (the first simulator) and `REGIONS` naming `eu-nl` (the second,
/// CBR only, with its own IAM).
fn two_regions(nl: &RunningSim) -> String {
    json!({"eu-nl": {"cbr": nl.base_url().as_str(), "iam": nl.base_url().as_str()}}).to_string()
}

/// A record that names a replica still being made, or one in a region this stack does not
/// serve.
fn record(status: &str, region: &str) -> Value {
    json!({"id": format!("rec-{status}-{region}"), "status": status, "destination_region": region,
           "destination_project_id": P2, "destination_backup_id": "far-away"})
}

#[tokio::test]
async fn two_regions_through_both_handlers_with_replicas() {
    require_moto!();
    let (de, nl) = (sim().await, sim().await);
    for s in [&de, &nl] {
        s.sim
            .set_delete_duration(Duration::from_millis(100), Duration::from_millis(300));
    }
    let replica = Replicated {
        sim: &nl.sim,
        region: "eu-nl",
        project_id: P2,
        backup_id: "rep-1",
    };
    de.sim.seed_replicated(P, "rp-1", ItemSeed::ok("src-1"), &replica);
    nl.sim.seed_cbr(P2, "rp-nl", &[ItemSeed::ok("nl-1")]);
    let with_records = |id: &str, records: Vec<Value>| ItemSeed {
        replication_records: records,
        ..ItemSeed::ok(id)
    };
    de.sim.seed_cbr(
        P,
        "rp-2",
        &[
            with_records("src-far", vec![record("success", "eu-fr")]),
            with_records("src-running", vec![record("replicating", "eu-nl")]),
            with_records("src-odd", vec![json!({"id": "rec-odd", "status": "success"})]),
            with_records("src-failed-copy", vec![record("fail", "eu-nl")]),
        ],
    );
    let infra = Infra::new(&aksk_json()).await;
    let regions = two_regions(&nl);
    let config = infra.config(
        &de,
        &[
            ("DEFAULT_REGION", "eu-de"),
            ("REGIONS", &regions),
            ("POLL_INTERVAL_SECONDS", "1"),
            ("POLL_WINDOW_SECONDS", "15"),
        ],
    );
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let cbr = |extra: Value| {
        let mut v = json!({"service": "cbr", "project_id": P});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let bodies = [
        cbr(json!({"backup_id": "src-1", "with_replicas": true, "request_id": "with-replica"})),
        cbr(json!({"project_id": P2, "backup_id": "nl-1", "region": "eu-nl", "request_id": "nl"})),
        cbr(json!({"backup_id": "src-failed-copy", "with_replicas": true, "request_id": "no-replica"})),
        cbr(json!({"backup_id": "src-far", "with_replicas": true, "request_id": "unreachable"})),
        cbr(json!({"backup_id": "src-running", "with_replicas": true, "request_id": "in-progress"})),
        cbr(json!({"backup_id": "src-odd", "with_replicas": true, "request_id": "malformed"})),
        cbr(json!({"backup_id": "x", "region": "eu-fr", "request_id": "unknown-region"})),
        // eu-nl serves CBR only: a configuration error for this request, redelivered.
        json!({"project_id": P2, "checkpoint_id": "c", "region": "eu-nl", "request_id": "no-csbs"}),
    ];
    let answer = dispatch::handle(&app, event(sqs_body_event(&bodies), 20))
        .await
        .unwrap();
    assert_eq!(
        failures(&answer),
        vec!["m-7".to_string()],
        "only the CSBS request in eu-nl is redelivered"
    );
    let first = infra.events(7, WAIT).await;
    let outcome = |r: &str| by(&first, r)["outcome"].as_str().unwrap().to_string();
    for r in ["with-replica", "nl", "no-replica"] {
        assert_eq!(outcome(r), "submitted", "{r}");
    }
    for (r, code) in [
        ("unreachable", "replica_not_reachable"),
        ("in-progress", "replica_in_progress"),
        ("malformed", "replica_not_reachable"),
        ("unknown-region", "unknown_region"),
    ] {
        assert_eq!(
            (outcome(r), by(&first, r)["error"]["code"].as_str()),
            ("rejected".into(), Some(code)),
            "{r}"
        );
    }
    assert!(
        by(&first, "unreachable")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("eu-fr")
    );
    assert!(
        by(&first, "malformed")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rec-odd")
    );
    // Refused before any DELETE: the sources are untouched.
    let de_now = de.sim.statuses();
    for id in ["src-far", "src-running", "src-odd"] {
        assert_eq!(de_now.get(id).map(String::as_str), Some("available"), "{id}");
    }
    // Every event names its region; a task with replicas lists its targets.
    assert_eq!(by(&first, "nl")["region"], "eu-nl");
    assert_eq!(by(&first, "with-replica")["region"], "eu-de");
    assert!(by(&first, "nl")["targets"].is_null() && by(&first, "no-replica")["targets"].is_null());
    assert_eq!(
        by(&first, "with-replica")["targets"],
        json!([
            {"region": "eu-de", "project_id": P, "backup_id": "src-1", "last_status": null},
            {"region": "eu-nl", "project_id": P2, "backup_id": "rep-1", "last_status": null}
        ])
    );
    assert_eq!(
        by(&first, "with-replica")["backup_ids"],
        json!(["src-1"]),
        "backup_ids: the sources"
    );

    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    let summary = poll::handle(&poll_app, event(fixture("schedule-v2.json"), 30))
        .await
        .unwrap();
    assert_eq!(
        (summary["completed"].as_u64(), summary["still_pending"].as_u64()),
        (Some(3), Some(0)),
        "{summary}"
    );
    let last = infra.events(3, WAIT).await;
    let done = by(&last, "with-replica");
    assert_eq!(done["outcome"], "completed");
    assert_eq!(
        done["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["last_status"].clone())
            .collect::<Vec<_>>(),
        vec![json!("absent"), json!("absent")]
    );
    assert_eq!(by(&last, "nl")["region"], "eu-nl");
    // The replica is gone from the second region, its own backup too; the first region kept
    // what was refused.
    let nl_now = nl.sim.statuses();
    assert!(
        !nl_now.contains_key("rep-1") && !nl_now.contains_key("nl-1"),
        "{nl_now:?}"
    );
    assert!(!de.sim.statuses().contains_key("src-1"));
    infra.no_more_events().await;
}

#[tokio::test]
async fn the_http_routes_take_a_region() {
    require_moto!();
    let (de, nl) = (sim().await, sim().await);
    nl.sim.seed_cbr(P2, "rp", &[ItemSeed::ok("nl-1"), ItemSeed::ok("nl-2")]);
    de.sim.seed_cbr(P, "rp", &[ItemSeed::ok("de-1")]);
    let infra = Infra::new(&aksk_json()).await;
    let regions = two_regions(&nl);
    let config = infra.config(&de, &[("DEFAULT_REGION", "eu-de"), ("REGIONS", &regions)]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let send = |ev: Value| {
        let app = &app;
        async move { http_answer(&dispatch::handle(app, event(ev, 20)).await.unwrap()) }
    };
    // Naming the default region is the same task as naming none.
    let plain = json!({"service": "cbr", "project_id": P, "backup_id": "de-1"});
    let named = json!({"service": "cbr", "project_id": P, "backup_id": "de-1", "region": "eu-de"});
    let (s1, a1) = send(http_v2("POST", "/deletions", "", Some(&plain))).await;
    let (s2, a2) = send(http_v2("POST", "/deletions", "", Some(&named))).await;
    assert_eq!((s1, s2), (202, 202), "{a1} {a2}");
    assert_eq!(a1["task_id"], a2["task_id"]);
    // Another region is another task, in its own simulator.
    let nl_body = json!({"service": "cbr", "project_id": P2, "backup_id": "nl-1", "region": "eu-nl"});
    let (s, a) = send(http_v2("POST", "/deletions", "", Some(&nl_body))).await;
    assert_eq!(s, 202, "{a}");
    assert_ne!(nl.sim.statuses()["nl-1"], "available", "deleted in eu-nl");
    // An unknown region: 400 before any call, no event.
    let far = json!({"service": "cbr", "project_id": P, "backup_id": "de-1", "region": "eu-fr"});
    let (s, a) = send(http_v2("POST", "/deletions", "", Some(&far))).await;
    assert_eq!((s, a["error"]["code"].as_str()), (400, Some("unknown_region")), "{a}");
    // The live status of the second region's backups.
    let (s, a) = send(http_v2(
        "GET",
        "/deletions/status",
        &format!("service=cbr&project_id={P2}&backup_id=nl-1,nl-2&region=eu-nl"),
        None,
    ))
    .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["region"], "eu-nl");
    let states: Vec<&str> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert_ne!(states[0], "present", "nl-1 is being deleted: {a}");
    assert_eq!(states[1], "present");
    let (s, a) = send(http_v2(
        "GET",
        "/deletions/status",
        &format!("service=cbr&project_id={P2}&backup_id=nl-1&region=eu-fr"),
        None,
    ))
    .await;
    assert_eq!((s, a["error"]["code"].as_str()), (400, Some("unknown_region")), "{a}");
    // The task record names its region.
    let (s, a) = send(http_v2(
        "GET",
        &format!("/deletions/{}", a2["task_id"].as_str().unwrap()),
        "",
        None,
    ))
    .await;
    assert_eq!((s, a["region"].as_str()), (200, Some("eu-de")), "{a}");
}

mod selections {
    //! Selections in two regions, in process (in-memory queues, bus and ledger): a rule that
    //! deletes its targets with their replicas, and the replicas a region received as a
    //! selection's subject (`image_type: "replication"`).

    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use csbs_deleter::adapters::memory::{MemoryLedger, MemoryQueue, MemorySink};
    use csbs_deleter::cloud::ClientConfig;
    use csbs_deleter::csbs::CsbsClient;
    use csbs_deleter::outcome::Outcome;
    use csbs_deleter::poll::{PollSettings, Poller};
    use csbs_deleter::ports::pending::PendingQueue;
    use csbs_deleter::ports::sink::EventSink;
    use csbs_deleter::region::RegionEndpoints;
    use csbs_deleter::selection::SelectionRequest;
    use csbs_deleter::service::Service;
    use csbs_deleter::sim::{self, DEMO_PROJECT as P, ItemSeed, Replicated, RunningSim, SimConfig, Simulator};
    use csbs_deleter::submit::{Record, SubmitSettings, Submitter};
    use serde_json::json;
    use tokio::time::Instant;

    use super::P2;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    async fn region_sim() -> RunningSim {
        Simulator::start(SimConfig {
            delete_duration: (Duration::from_millis(30), Duration::from_millis(60)),
            ..SimConfig::default()
        })
        .await
        .unwrap()
    }

    fn client(de: &RunningSim, nl: &RunningSim) -> CsbsClient {
        let second = RegionEndpoints {
            services: BTreeMap::from([(Service::Cbr, nl.base_url())]),
            iam: None,
        };
        let mut cc = ClientConfig::new(de.base_url(), de.base_url(), sim::demo_aksk())
            .with_cbr(de.base_url())
            .with_regions("eu-de", BTreeMap::from([("eu-nl".to_string(), second)]));
        cc.retry.min_delay = Duration::from_millis(5);
        CsbsClient::new(cc).unwrap()
    }

    fn old(id: &str) -> ItemSeed {
        ItemSeed {
            created_at: Some(
                (chrono::Utc::now() - chrono::Duration::days(40))
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string(),
            ),
            ..ItemSeed::ok(id)
        }
    }

    #[tokio::test]
    async fn a_rule_deletes_its_targets_with_their_replicas_and_a_region_plans_what_it_received() {
        let (de, nl) = (region_sim().await, region_sim().await);
        for (src, rep) in [("sel-1", "sel-1-nl"), ("sel-2", "sel-2-nl")] {
            let to = Replicated {
                sim: &nl.sim,
                region: "eu-nl",
                project_id: P2,
                backup_id: rep,
            };
            de.sim.seed_replicated(P, "rp-sel", old(src), &to);
        }
        let young = ItemSeed {
            created_at: Some(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
            ..ItemSeed::ok("young")
        };
        de.sim.seed_cbr(P, "rp-young", &[young]);
        nl.sim.seed_cbr(P2, "rp-own", &[old("nl-own")]);
        let intake = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
        let pending = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
        let sink = Arc::new(MemorySink::new());
        let ledger = Arc::new(MemoryLedger::new());
        let mut settings = SubmitSettings::default();
        settings.expand.step_delay_secs = 0;
        let submitter = Submitter::new(
            client(&de, &nl),
            pending.clone(),
            sink.clone() as Arc<dyn EventSink>,
            ledger.clone(),
            settings,
        )
        .with_intake(intake.clone());
        let poller = Poller::new(
            client(&de, &nl),
            pending.clone(),
            sink.clone() as Arc<dyn EventSink>,
            ledger,
            PollSettings {
                window: Duration::ZERO,
                interval: Duration::from_secs(1),
                ..PollSettings::default()
            },
        );
        // What each region plans: own backups by default, only the received replicas with
        // `image_type: replication`.
        let plan = |select: serde_json::Value| {
            let submitter = &submitter;
            async move {
                let req = SelectionRequest::from_value(&json!({ "select": select })).unwrap();
                let plan = submitter
                    .expander()
                    .plan_only(&req, chrono::Utc::now(), soon())
                    .await
                    .unwrap()
                    .unwrap();
                plan.targets().map(|b| b.id.clone()).collect::<Vec<_>>()
            }
        };
        let nl_rule = |image_type: Option<&str>| {
            let mut s = json!({"service": "cbr", "project_id": P2, "region": "eu-nl", "all_in_project": true});
            if let Some(t) = image_type {
                s["image_type"] = json!(t);
            }
            s
        };
        let mut received = plan(nl_rule(Some("replication"))).await;
        received.sort();
        assert_eq!(received, vec!["sel-1-nl".to_string(), "sel-2-nl".into()]);
        assert_eq!(plan(nl_rule(None)).await, vec!["nl-own".to_string()]);
        // The rule in the default region, for real, with replicas.
        let rule = json!({"select": {"service": "cbr", "project_id": P, "older_than_days": 30, "with_replicas": true},
                          "request_id": "nightly"});
        let record = |body: String| Record {
            message_id: uuid::Uuid::new_v4().to_string(),
            body,
            sent_at: None,
        };
        assert!(
            submitter
                .submit_batch(&[record(rule.to_string())], soon())
                .await
                .is_empty()
        );
        let started = Instant::now();
        while !intake.is_empty() || !pending.is_empty() {
            assert!(started.elapsed() < Duration::from_secs(30), "not finished");
            let got = intake.receive(10, Some(30), soon()).await.unwrap();
            let records: Vec<Record> = got.iter().map(|m| record(m.body.clone())).collect();
            assert!(submitter.submit_batch(&records, soon()).await.is_empty());
            let receipts: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
            intake.delete(&receipts, soon()).await.unwrap();
            poller.run(soon()).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let done: Vec<_> = sink
            .events()
            .into_iter()
            .filter(|e| e.outcome == Outcome::Completed)
            .collect();
        assert_eq!(done.len(), 2, "{done:#?}");
        for e in &done {
            let targets = e.targets.as_ref().expect("each target went with its replica");
            assert_eq!(targets.len(), 2);
            assert_eq!(targets[1].region.as_deref(), Some("eu-nl"));
        }
        let (de_now, nl_now) = (de.sim.statuses(), nl.sim.statuses());
        for gone in ["sel-1", "sel-2"] {
            assert!(!de_now.contains_key(gone), "{gone}");
        }
        for gone in ["sel-1-nl", "sel-2-nl"] {
            assert!(!nl_now.contains_key(gone), "{gone}");
        }
        assert!(de_now.contains_key("young") && nl_now.contains_key("nl-own"));
    }

    /// Tokens are cached by IAM endpoint and project: the same project id in two regions with
    /// their own IAM is two logins, each region's calls carry its own token, and later calls
    /// log in no more.
    #[tokio::test]
    async fn tokens_are_cached_per_iam_endpoint_and_project() {
        let (de, nl) = (region_sim().await, region_sim().await);
        de.sim.seed_cbr(P, "rp", &[ItemSeed::ok("de-b")]);
        nl.sim.seed_cbr(P, "rp", &[ItemSeed::ok("nl-b")]);
        let second = RegionEndpoints {
            services: BTreeMap::from([(Service::Cbr, nl.base_url())]),
            iam: Some(nl.base_url()),
        };
        let cc = ClientConfig::new(de.base_url(), de.base_url(), sim::demo_password())
            .with_cbr(de.base_url())
            .with_regions("eu-de", BTreeMap::from([("eu-nl".to_string(), second)]));
        let backups = csbs_deleter::backups::Backups::from(CsbsClient::new(cc).unwrap());
        let slots = csbs_deleter::backups::Slots::new(4);
        let calls = std::sync::atomic::AtomicU64::new(0);
        for _ in 0..3 {
            for (region, id) in [(None, "de-b"), (Some("eu-nl"), "nl-b")] {
                let req = json!({"service": "cbr", "project_id": P, "backup_id": id});
                let mut task = csbs_deleter::task::PendingTask::new(
                    &csbs_deleter::request::DeletionRequest::from_value(&req).unwrap(),
                    chrono::Utc::now(),
                    60,
                );
                task.region = region.map(str::to_string);
                let states = backups.read_states(&task, None, soon(), &slots, &calls).await.unwrap();
                assert_eq!(states.len(), 1, "{region:?}");
                assert!(states[0].1.unfinished_status().is_some(), "{region:?}: {states:?}");
            }
        }
        assert_eq!((de.sim.stats().token, nl.sim.stats().token), (1, 1));
        assert_eq!((de.sim.stats().rejected_auth, nl.sim.stats().rejected_auth), (0, 0));
    }
}
