//! The CBR client against the simulator over loopback: every answer the workflow relies on,
//! with both authentication modes, paging by offset, the operation logs and bad answers.

use std::time::Duration;

use csbs_deleter::cbr::models::status;
use csbs_deleter::cbr::state::{CLOCK_SKEW, read_backup};
use csbs_deleter::cbr::{BackupFilter, CbrClient};
use csbs_deleter::cloud::{ClientConfig, CloudError, Credentials, DeleteOutcome, ErrorClass, RetryPolicy, Transport};
use csbs_deleter::sim::{self, Fault, ItemSeed, Route, RunningSim, SimConfig, Simulator};
use csbs_deleter::target::TargetState;
use tokio::time::Instant;

const P: &str = sim::DEMO_PROJECT;

fn config(s: &RunningSim, creds: Credentials) -> ClientConfig {
    let mut c = ClientConfig::new(s.base_url(), s.base_url(), creds).with_cbr(s.base_url());
    c.retry = RetryPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_attempts: 3,
    };
    c.request_timeout = Duration::from_secs(5);
    c
}

fn client(s: &RunningSim, creds: Credentials) -> CbrClient {
    CbrClient::new(Transport::new(config(s, creds)).unwrap())
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

async fn sim_with(restore_point: &str, backups: &[ItemSeed]) -> RunningSim {
    let s = Simulator::start(SimConfig {
        delete_duration: (Duration::from_millis(100), Duration::from_millis(100)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    s.sim.seed_cbr(P, restore_point, backups);
    s
}

/// Waits (on the simulator's own clock, by its state) until `id` is gone or failed.
async fn settled(s: &RunningSim, id: &str) {
    for _ in 0..200 {
        match s.sim.item_status(P, id).as_deref() {
            None | Some("error") => return,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    panic!("{id} never finished");
}

#[tokio::test]
async fn delete_is_accepted_then_busy_then_gone_with_either_credential() {
    for creds in [sim::demo_password(), sim::demo_aksk()] {
        let s = sim_with("rp-1", &[ItemSeed::ok("bk-1")]).await;
        let c = client(&s, creds);
        assert_eq!(
            c.delete_backup(P, "bk-1", soon()).await.unwrap(),
            DeleteOutcome::Accepted
        );
        // While it is queued or running, a second DELETE is "busy" (CSBS.2003), not an error.
        assert_eq!(
            c.delete_backup(P, "bk-1", soon()).await.unwrap(),
            DeleteOutcome::AlreadyDeleting
        );
        let b = c.get_backup(P, "bk-1", soon()).await.unwrap().expect("still there");
        assert!(
            [status::DELETING, status::WAITING_DELETE].contains(&b.status()),
            "{b:?}"
        );
        settled(&s, "bk-1").await;
        assert_eq!(
            c.get_backup(P, "bk-1", soon()).await.unwrap(),
            None,
            "404 BackupService.6200 = gone"
        );
        assert_eq!(
            c.delete_backup(P, "bk-1", soon()).await.unwrap(),
            DeleteOutcome::AlreadyGone
        );
        assert_eq!(s.sim.stats().rejected_auth, 0);
    }
}

#[tokio::test]
async fn a_wrong_key_or_expired_token_is_never_gone() {
    let s = sim_with("rp-1", &[ItemSeed::ok("bk-1")]).await;
    let bad = client(
        &s,
        Credentials::AkSk {
            ak: sim::DEMO_AK.into(),
            sk: csbs_deleter::secret::Secret::new("wrong-secret-key"),
            security_token: None,
        },
    );
    let e = bad.get_backup(P, "bk-1", soon()).await.unwrap_err();
    assert_eq!((e.http_status(), e.class()), (Some(401), ErrorClass::Transient));
    assert!(e.to_string().starts_with("CBR answered HTTP 401"), "{e}");
    let e = bad.delete_backup(P, "bk-1", soon()).await.unwrap_err();
    assert_eq!(e.http_status(), Some(401));
    // A token that expired is renewed once and the call replayed.
    let c = client(&s, sim::demo_password());
    assert!(c.get_backup(P, "bk-1", soon()).await.unwrap().is_some());
    s.sim.expire_tokens();
    assert!(c.get_backup(P, "bk-1", soon()).await.unwrap().is_some());
    assert_eq!(s.sim.stats().token, 2);
}

#[tokio::test]
async fn models_read_both_time_formats_and_string_numbers_from_the_wire() {
    let ids: Vec<String> = (0..6).map(|i| format!("bk-{i}")).collect();
    let seeds: Vec<ItemSeed> = ids.iter().map(ItemSeed::ok).collect();
    let s = sim_with("rp-1", &seeds).await;
    let c = client(&s, sim::demo_aksk());
    let listed = c
        .list_backups(P, &BackupFilter::for_restore_point("rp-1"), soon())
        .await
        .unwrap();
    assert_eq!(listed.len(), 6);
    for b in &listed {
        assert_eq!(b.resource_size_gb(), Some(40.0), "{:?}", b.resource_size);
        assert_eq!(
            b.created().map(|t| t.timestamp()),
            Some(1557475152),
            "{:?}",
            b.created_at
        );
        assert_eq!(b.checkpoint_id.as_deref(), Some("rp-1"));
    }
    let formats: std::collections::HashSet<bool> = listed
        .iter()
        .map(|b| b.created_at.as_deref().unwrap().ends_with("+00:00"))
        .collect();
    assert_eq!(formats.len(), 2, "the simulator serves both formats");
}

#[tokio::test]
async fn listing_pages_by_offset_until_a_short_page() {
    let seeds: Vec<ItemSeed> = (0..7).map(|i| ItemSeed::ok(format!("bk-{i}"))).collect();
    let s = sim_with("rp-1", &seeds).await;
    s.sim.seed_cbr(P, "rp-other", &[ItemSeed::ok("other-1")]);
    let c = client(&s, sim::demo_aksk());
    let filter = BackupFilter {
        limit: Some(3),
        ..BackupFilter::for_restore_point("rp-1")
    };
    let got = c.list_backups(P, &filter, soon()).await.unwrap();
    let mut ids: Vec<String> = got.into_iter().map(|b| b.id).collect();
    ids.sort();
    assert_eq!(ids, (0..7).map(|i| format!("bk-{i}")).collect::<Vec<_>>());
    let lists: Vec<String> = s
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.route == Route::CbrList)
        .map(|c| c.target)
        .collect();
    assert_eq!(lists.len(), 3, "3 + 3 + 1: {lists:?}");
    assert!(
        lists[1].contains("offset=3") && lists[2].contains("offset=6"),
        "{lists:?}"
    );
    // A full last page costs one more (empty) call, and nothing is listed twice.
    let six = BackupFilter {
        limit: Some(7),
        ..BackupFilter::for_restore_point("rp-1")
    };
    assert_eq!(c.list_backups(P, &six, soon()).await.unwrap().len(), 7);
    // Children (per-disk backups) are listed with their parent id.
    s.sim.seed_cbr(
        P,
        "rp-server",
        &[ItemSeed {
            with_child: true,
            ..ItemSeed::ok("srv-1")
        }],
    );
    let got = c
        .list_backups(P, &BackupFilter::for_restore_point("rp-server"), soon())
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got.iter().filter(|b| b.is_top_level()).count(), 1);
}

#[tokio::test]
async fn a_service_that_ignores_the_offset_does_not_loop() {
    let seeds: Vec<ItemSeed> = (0..2).map(|i| ItemSeed::ok(format!("bk-{i}"))).collect();
    let s = sim_with("rp-1", &seeds).await;
    // Every page answers the same two backups, whatever the offset.
    let page = r#"{"backups":[{"id":"bk-0"},{"id":"bk-1"}],"count":2}"#;
    s.sim.add_fault(Fault {
        status: Some(200),
        raw_body: Some(page.into()),
        ..Fault::status(Route::CbrList, 200)
    });
    let c = client(&s, sim::demo_aksk());
    let filter = BackupFilter {
        limit: Some(2),
        ..BackupFilter::for_restore_point("rp-1")
    };
    let got = c.list_backups(P, &filter, soon()).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(s.sim.stats().cbr_list, 2, "the repeated page ends the paging");
}

#[tokio::test]
async fn a_failed_deletion_leaves_error_and_a_failed_delete_task() {
    let s = sim_with("rp-1", &[ItemSeed::failing("bk-bad"), ItemSeed::ok("bk-ok")]).await;
    let c = client(&s, sim::demo_password());
    let submitted = chrono::Utc::now();
    for b in ["bk-bad", "bk-ok"] {
        assert_eq!(c.delete_backup(P, b, soon()).await.unwrap(), DeleteOutcome::Accepted);
    }
    settled(&s, "bk-bad").await;
    settled(&s, "bk-ok").await;
    let b = c.get_backup(P, "bk-bad", soon()).await.unwrap().unwrap();
    assert_eq!(b.status(), status::ERROR);
    let logs = c
        .delete_logs(P, b.resource_id.as_deref(), submitted - CLOCK_SKEW, soon())
        .await
        .unwrap();
    let mine: Vec<_> = logs
        .iter()
        .filter(|l| l.deleted_backup_id().as_deref() == Some("bk-bad"))
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status.as_deref(), Some("failed"));
    assert!(mine[0].reason().unwrap().contains("BackupService.9910"));
    assert!(
        logs.iter()
            .any(|l| l.deleted_backup_id().as_deref() == Some("bk-ok") && l.status.as_deref() == Some("success"))
    );
    // What the poller reads: Failed with the task's reason (two calls), gone (one call).
    let read = read_backup(&c, P, "bk-bad", submitted, soon()).await.unwrap();
    let (state, calls) = (read.state, read.calls);
    assert!(
        matches!(&state, TargetState::Failed(r) if r.contains("could not be removed")),
        "{state:?}"
    );
    assert_eq!(calls, 2);
    let read = read_backup(&c, P, "bk-ok", submitted, soon()).await.unwrap();
    assert_eq!((read.state, read.calls), (TargetState::Gone, 1));
    // Asked about a submission after that failure, the old task does not count: re-issue.
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    assert_eq!(
        read_backup(&c, P, "bk-bad", later, soon()).await.unwrap().state,
        TargetState::Idle("error".into())
    );
}

#[tokio::test]
async fn busy_backups_and_refusals() {
    let s = sim_with(
        "rp-1",
        &[ItemSeed {
            status: Some("protecting".into()),
            ..ItemSeed::ok("bk-busy")
        }],
    )
    .await;
    let c = client(&s, sim::demo_aksk());
    // 400 BackupService.6203 "Performing backups": busy, not refused.
    assert_eq!(
        c.delete_backup(P, "bk-busy", soon()).await.unwrap(),
        DeleteOutcome::AlreadyDeleting
    );
    assert_eq!(
        read_backup(&c, P, "bk-busy", chrono::Utc::now(), soon())
            .await
            .unwrap()
            .state,
        TargetState::Busy("protecting".into())
    );
    for code in ["BackupService.6204", "BackupService.6220", "BackupService.6201"] {
        s.sim
            .add_fault(Fault::status(Route::CbrDelete, 400).with_code(code).times(1));
        let e = c.delete_backup(P, "bk-busy", soon()).await.unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Permanent, code.to_string()));
    }
}

#[tokio::test]
async fn bad_answers_are_errors_never_gone() {
    let s = sim_with("rp-1", &[ItemSeed::ok("bk-1")]).await;
    let c = client(&s, sim::demo_aksk());
    let cases: [(Fault, &str); 5] = [
        // A 200 without the `backup` wrapper.
        (
            Fault::status(Route::CbrGet, 200).with_raw_body(r#"{"id":"bk-1","status":"available"}"#),
            "bad_response",
        ),
        // Not JSON at all.
        (
            Fault::status(Route::CbrGet, 200).with_raw_body("<html>ok</html>"),
            "bad_response",
        ),
        // The gateway's "no such API" 404, and an HTML 404 from a proxy.
        (Fault::status(Route::CbrGet, 404).with_code("APIGW.0101"), "APIGW.0101"),
        (
            Fault::status(Route::CbrGet, 404).with_raw_body("<html>Not Found</html>"),
            "HTTP.404",
        ),
        // The 401 body a Terraform provider maps to "not found".
        (
            Fault::status(Route::CbrGet, 401)
                .with_raw_body(r#"{"unauthorized":{"code":"401","message":"Malformed request url"}}"#),
            "HTTP.401",
        ),
    ];
    for (fault, code) in cases {
        s.sim.clear_faults();
        s.sim.add_fault(fault);
        let e = c.get_backup(P, "bk-1", soon()).await.unwrap_err();
        assert_eq!(e.code(), code, "{e}");
        assert_ne!(e.class(), ErrorClass::NotFound);
        let r = read_backup(&c, P, "bk-1", chrono::Utc::now(), soon()).await;
        assert!(r.is_err(), "a check that could not read the backup: {r:?}");
    }
    s.sim.clear_faults();
    // An unknown status is waited for, not taken as gone.
    s.sim
        .add_fault(Fault::status(Route::CbrGet, 200).with_raw_body(r#"{"backup":{"id":"bk-1","status":"frozen"}}"#));
    assert_eq!(
        read_backup(&c, P, "bk-1", chrono::Utc::now(), soon())
            .await
            .unwrap()
            .state,
        TargetState::Busy("frozen".into())
    );
}

#[tokio::test]
async fn transient_answers_are_retried_within_the_deadline() {
    let s = sim_with("rp-1", &[ItemSeed::ok("bk-1")]).await;
    let c = client(&s, sim::demo_aksk());
    s.sim.add_fault(Fault::status(Route::CbrDelete, 503).times(2));
    assert_eq!(
        c.delete_backup(P, "bk-1", soon()).await.unwrap(),
        DeleteOutcome::Accepted
    );
    assert_eq!(s.sim.stats().cbr_delete, 3);
    s.sim.add_fault(Fault::hang(Route::CbrGet));
    let started = Instant::now();
    let e = c
        .get_backup(P, "bk-1", started + Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(e, CloudError::DeadlineExceeded | CloudError::Timeout), "{e}");
}

#[tokio::test]
async fn restore_points_and_configuration() {
    let s = sim_with("rp-1", &[ItemSeed::ok("bk-1")]).await;
    s.sim.seed_cbr(P, "rp-empty", &[]);
    let c = client(&s, sim::demo_aksk());
    assert!(c.get_restore_point(P, "rp-1", soon()).await.unwrap().is_some());
    assert!(c.get_restore_point(P, "rp-empty", soon()).await.unwrap().is_some());
    assert!(c.get_restore_point(P, "rp-none", soon()).await.unwrap().is_none());
    // IDs are validated before any URL is built.
    let e = c.get_backup(P, "../checkpoints/x", soon()).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent);
    let before = s.sim.stats().cbr_calls();
    assert!(c.delete_backup(P, "a?b", soon()).await.is_err());
    assert_eq!(s.sim.stats().cbr_calls(), before, "nothing was sent");
    // A deployment without CBR_ENDPOINT: a configuration error, never an event-worthy refusal.
    let no_cbr =
        CbrClient::new(Transport::new(ClientConfig::new(s.base_url(), s.base_url(), sim::demo_aksk())).unwrap());
    let e = no_cbr.get_backup(P, "bk-1", soon()).await.unwrap_err();
    assert_eq!((e.class(), e.is_bad_gateway()), (ErrorClass::Misconfigured, true));
    assert!(e.to_string().contains("CBR_ENDPOINT"), "{e}");
}

/// The simulator's operation logs filter by `status` and `resource_id`, as the service does
/// (docs/cbr-api.md): a client that asks for failed delete tasks of one server gets only those.
#[tokio::test]
async fn operation_logs_filter_by_status_and_resource() {
    let s = Simulator::start(SimConfig {
        delete_duration: (Duration::from_millis(50), Duration::from_millis(50)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let on = |id: &str, server: &str| ItemSeed {
        resource_id: Some(server.into()),
        ..ItemSeed::failing(id)
    };
    s.sim.seed_cbr(
        P,
        "rp",
        &[on("bk-a", "srv-a"), on("bk-b", "srv-b"), ItemSeed::ok("bk-ok")],
    );
    let cbr = client(&s, sim::demo_aksk());
    for b in ["bk-a", "bk-b", "bk-ok"] {
        assert_eq!(cbr.delete_backup(P, b, soon()).await.unwrap(), DeleteOutcome::Accepted);
    }
    for b in ["bk-a", "bk-b", "bk-ok"] {
        settled(&s, b).await;
    }
    // Raw queries with a token of the simulator's IAM (the client asks with its own filters).
    let c = reqwest::Client::new();
    let body = csbs_deleter::cloud::auth::token_request_body(
        sim::DEMO_USER,
        &csbs_deleter::secret::Secret::new(sim::DEMO_PASSWORD),
        sim::DEMO_DOMAIN,
        P,
    );
    let token = c
        .post(format!("{}v3/auth/tokens", s.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let logs = |query: &str| {
        let (c, s, token) = (c.clone(), &s, token.clone());
        let query = query.to_string();
        async move {
            let v: serde_json::Value = c
                .get(format!("{}v3/{P}/operation-logs?{query}", s.base_url()))
                .header("X-Auth-Token", token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let mut ids: Vec<String> = v["operation_logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    format!(
                        "{}:{}",
                        l["extra_info"]["delete"]["backup_id"].as_str().unwrap(),
                        l["status"].as_str().unwrap()
                    )
                })
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        logs("operation_type=delete").await,
        ["bk-a:failed", "bk-b:failed", "bk-ok:success"]
    );
    assert_eq!(
        logs("operation_type=delete&status=failed").await,
        ["bk-a:failed", "bk-b:failed"]
    );
    assert_eq!(
        logs("operation_type=delete&status=failed&resource_id=srv-a").await,
        ["bk-a:failed"]
    );
    assert_eq!(logs("status=success").await, ["bk-ok:success"]);
}
