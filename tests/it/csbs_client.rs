//! The CSBS client against the simulator over loopback: every path the workflow relies on.

use std::time::Duration;

use csbs_deleter::cloud::{ClientConfig, CloudError, Credentials, DeleteOutcome, ErrorClass, RetryPolicy};
use csbs_deleter::csbs::{CsbsClient, DEFAULT_PROVIDER_ID, ListFilter};
use csbs_deleter::secret::Secret;
use csbs_deleter::sim::{self, Fault, ItemSeed, Route, RunningSim, SimConfig, Simulator};
use tokio::time::Instant;

const P: &str = sim::DEMO_PROJECT;

fn password() -> Credentials {
    sim::demo_password()
}

fn aksk(sk: &str) -> Credentials {
    Credentials::AkSk {
        ak: sim::DEMO_AK.into(),
        sk: Secret::new(sk),
        security_token: None,
    }
}

fn client(s: &RunningSim, creds: Credentials) -> CsbsClient {
    let mut c = ClientConfig::new(s.base_url(), s.base_url(), creds);
    c.retry = RetryPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_attempts: 6,
    };
    c.request_timeout = Duration::from_secs(5);
    CsbsClient::new(c).unwrap()
}

fn soon(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

async fn sim_with(items: &[ItemSeed]) -> RunningSim {
    let s = Simulator::start(SimConfig {
        delete_duration: (Duration::from_secs(30), Duration::from_secs(30)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    s.sim.seed(P, "ckpt-1", items);
    s
}

#[tokio::test]
async fn delete_accepted_then_already_deleting_then_gone() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    s.sim
        .set_delete_duration(Duration::from_millis(100), Duration::from_millis(100));
    for creds in [password(), aksk(sim::DEMO_SK)] {
        let c = client(&s, creds);
        let _ = c.get_item(P, "item-1", soon(5)).await.unwrap();
    }
    let c = client(&s, aksk(sim::DEMO_SK));
    let out = c
        .delete_checkpoint(P, DEFAULT_PROVIDER_ID, "ckpt-1", Some("item-1"), soon(5))
        .await
        .unwrap();
    assert_eq!(out, DeleteOutcome::Accepted);
    assert_eq!(s.sim.item_status(P, "item-1").as_deref(), Some("deleting"));
    // A redelivery hits CSBS.2003 "item in executing": not an error.
    let out = c
        .delete_checkpoint(P, DEFAULT_PROVIDER_ID, "ckpt-1", Some("item-1"), soon(5))
        .await
        .unwrap();
    assert_eq!(out, DeleteOutcome::AlreadyDeleting);
    // Wait for the simulated deletion by observing the item, not by a fixed sleep.
    let gone = async {
        while c.get_item(P, "item-1", soon(5)).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("deleted within 5 s");
    let out = c
        .delete_checkpoint(P, DEFAULT_PROVIDER_ID, "ckpt-1", None, soon(5))
        .await
        .unwrap();
    assert_eq!(out, DeleteOutcome::AlreadyGone);
}

#[tokio::test]
async fn wrong_provider_is_permanent() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    let c = client(&s, password());
    let e = c
        .delete_checkpoint(P, "not-the-csbs-provider", "ckpt-1", None, soon(5))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert_eq!(e.code(), "CSBS.9001");
    assert_eq!(s.sim.stats().delete, 1, "a permanent error is never retried");
}

#[tokio::test]
async fn forbidden_is_permanent_and_not_retried() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    s.sim.add_fault(Fault::status(Route::Delete, 403).times(1));
    let c = client(&s, password());
    let e = c
        .delete_checkpoint(P, DEFAULT_PROVIDER_ID, "ckpt-1", None, soon(5))
        .await
        .unwrap_err();
    assert_eq!((e.class(), e.http_status()), (ErrorClass::Permanent, Some(403)));
    assert_eq!(s.sim.stats().delete, 1);
}

#[tokio::test]
async fn expired_token_triggers_one_new_login_and_a_replay() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    let c = client(&s, password());
    assert!(c.get_item(P, "item-1", soon(5)).await.unwrap().is_some());
    assert!(c.get_item(P, "item-1", soon(5)).await.unwrap().is_some());
    assert_eq!(s.sim.stats().token, 1, "the token is cached");
    s.sim.expire_tokens();
    assert!(c.get_item(P, "item-1", soon(5)).await.unwrap().is_some());
    let st = s.sim.stats();
    assert_eq!((st.token, st.get, st.rejected_auth), (2, 4, 1));
}

/// A revocation while 50 calls are in flight: every one of them gets a 401, and they share one
/// new login (IAM rate-limits token requests; a storm would turn one revocation into
/// throttling).
#[tokio::test]
async fn one_revocation_costs_one_login_however_many_calls_are_in_flight() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    let c = client(&s, password());
    assert!(c.get_item(P, "item-1", soon(5)).await.unwrap().is_some());
    assert_eq!(s.sim.stats().token, 1);
    s.sim.expire_tokens();
    // The token route answers slowly, so every call has its 401 before the new token exists.
    s.sim.add_fault(Fault::latency(Route::Token, 200));
    let calls = (0..50).map(|_| c.get_item(P, "item-1", soon(10)));
    for r in futures::future::join_all(calls).await {
        assert!(r.unwrap().is_some());
    }
    let st = s.sim.stats();
    assert_eq!(st.token, 2, "one login for the revocation");
    assert_eq!(st.rejected_auth, 50, "every call in flight was refused once");
    assert_eq!(st.get, 101);
    // A second revocation: again one login.
    s.sim.expire_tokens();
    let calls = (0..50).map(|_| c.get_item(P, "item-1", soon(10)));
    assert!(futures::future::join_all(calls).await.iter().all(Result::is_ok));
    assert_eq!(s.sim.stats().token, 3);
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_before_expiry() {
    let s = Simulator::start(SimConfig {
        token_lifetime: Duration::from_secs(200),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    s.sim.seed(P, "c", &[ItemSeed::ok("i")]);
    let c = client(&s, password());
    c.get_item(P, "i", soon(5)).await.unwrap();
    c.get_item(P, "i", soon(5)).await.unwrap();
    // 200 s is inside the 5-minute refresh margin: every call logs in again, none is refused.
    assert_eq!((s.sim.stats().token, s.sim.stats().rejected_auth), (2, 0));
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_that_never_quotes_it() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    let creds = Credentials::Password {
        username: sim::DEMO_USER.into(),
        password: Secret::new("wrong-pass-XYZ"),
        domain_name: sim::DEMO_DOMAIN.into(),
    };
    let e = client(&s, creds).get_item(P, "item-1", soon(5)).await.unwrap_err();
    assert!(matches!(e, CloudError::Auth(_)), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(!format!("{e} {e:?}").contains("wrong-pass-XYZ"));
}

#[tokio::test]
async fn wrong_sk_is_refused_with_401_and_never_echoed() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    let e = client(&s, aksk("not-the-secret-key"))
        .get_item(P, "item-1", soon(5))
        .await
        .unwrap_err();
    assert_eq!((e.http_status(), e.code().as_str()), (Some(401), "APIGW.0301"));
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(!format!("{e} {e:?}").contains("not-the-secret-key"));
    assert!(
        !format!("{e}").contains(sim::DEMO_AK),
        "the gateway echoes the AK; the client redacts it"
    );
    assert_eq!(
        s.sim.stats().get,
        1,
        "no blind retries of a 401 (the AK would be locked)"
    );
}

#[tokio::test]
async fn burst_of_503_is_retried_to_success() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    s.sim.add_fault(Fault::status(Route::Delete, 503).times(3));
    let c = client(&s, password());
    let out = c
        .delete_checkpoint(P, DEFAULT_PROVIDER_ID, "ckpt-1", None, soon(5))
        .await
        .unwrap();
    assert_eq!(out, DeleteOutcome::Accepted);
    assert_eq!(s.sim.stats().delete, 4);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    s.sim.add_fault(Fault {
        retry_after: Some(1),
        ..Fault::status(Route::Get, 429).times(1)
    });
    let c = client(&s, password());
    assert!(c.get_item(P, "item-1", soon(5)).await.unwrap().is_some());
    // Measured on the simulator's clock: when the two GETs arrived.
    let gets: Vec<_> = s.sim.calls().into_iter().filter(|c| c.route == Route::Get).collect();
    assert_eq!(gets.len(), 2, "one 429, one retry");
    let gap = gets[1].at - gets[0].at;
    assert!(gap >= Duration::from_secs(1), "the retry came {gap:?} after the 429");
}

#[tokio::test]
async fn persistent_503_becomes_a_transient_error_within_the_deadline() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    s.sim.add_fault(Fault::status(Route::Delete, 503));
    let c = client(&s, password());
    let deadline = Instant::now() + Duration::from_millis(800);
    let e = c
        .delete_checkpoint(P, DEFAULT_PROVIDER_ID, "ckpt-1", None, deadline)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(Instant::now() <= deadline + Duration::from_millis(100));
    assert!(s.sim.stats().delete >= 2, "it was retried");
}

#[tokio::test]
async fn hang_times_out_within_the_deadline() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    s.sim.add_fault(Fault::hang(Route::Get));
    let c = client(&s, password());
    let deadline = Instant::now() + Duration::from_millis(500);
    let e = c.get_item(P, "item-1", deadline).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(matches!(e, CloudError::Timeout | CloudError::DeadlineExceeded), "{e:?}");
    assert!(Instant::now() <= deadline + Duration::from_millis(100));
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let s = sim_with(&[]).await;
    let c = client(&s, password());
    drop(s);
    tokio::task::yield_now().await;
    let e = c
        .get_item(P, "x", Instant::now() + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn list_follows_pages_and_count_matches() {
    let items: Vec<ItemSeed> = (0..25).map(|i| ItemSeed::ok(format!("item-{i:02}"))).collect();
    let s = sim_with(&items).await;
    s.sim.seed(P, "other", &[ItemSeed::ok("x-1")]);
    let c = client(&s, aksk(sim::DEMO_SK));
    let filter = ListFilter {
        limit: Some(10),
        ..ListFilter::for_checkpoint("ckpt-1")
    };
    // Newest first, the service's default sort (docs/csbs-api.md): the last seeded first.
    let page = c.list_page(P, &filter, soon(5)).await.unwrap();
    assert_eq!((page.items.len(), page.next_marker.as_deref()), (10, Some("item-15")));
    let all = c.list_items(P, &filter, soon(5)).await.unwrap();
    let ids: Vec<_> = all.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids, (0..25).rev().map(|i| format!("item-{i:02}")).collect::<Vec<_>>());
    assert_eq!(s.sim.stats().list, 4, "three full pages and one empty");
    assert_eq!(
        c.count(P, &ListFilter::for_checkpoint("ckpt-1"), soon(5))
            .await
            .unwrap(),
        25
    );
    assert_eq!(c.count(P, &ListFilter::default(), soon(5)).await.unwrap(), 26);
}

#[tokio::test]
async fn five_deletions_run_and_the_rest_wait() {
    let items: Vec<ItemSeed> = (0..7).map(|i| ItemSeed::ok(format!("item-{i}"))).collect();
    let s = sim_with(&items).await;
    let c = client(&s, password());
    for i in 0..7 {
        let out = c
            .delete_checkpoint(P, DEFAULT_PROVIDER_ID, "ckpt-1", Some(&format!("item-{i}")), soon(5))
            .await
            .unwrap();
        assert_eq!(out, DeleteOutcome::Accepted);
    }
    let count = |st: &str| {
        let f = ListFilter {
            status: Some(st.into()),
            ..ListFilter::for_checkpoint("ckpt-1")
        };
        let c = c.clone();
        async move { c.count(P, &f, soon(5)).await.unwrap() }
    };
    assert_eq!(count("deleting").await, 5);
    assert_eq!(count("waiting_delete").await, 2);
}

#[tokio::test]
async fn failed_deletion_shows_error_with_fail_op_delete() {
    let s = sim_with(&[ItemSeed::failing("bad-1")]).await;
    s.sim
        .set_delete_duration(Duration::from_millis(50), Duration::from_millis(50));
    let c = client(&s, password());
    c.delete_checkpoint(P, DEFAULT_PROVIDER_ID, "ckpt-1", None, soon(5))
        .await
        .unwrap();
    let failed = async {
        loop {
            let item = c
                .get_item(P, "bad-1", soon(5))
                .await
                .unwrap()
                .expect("a failed item stays");
            if item.deletion_failed() {
                return item;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let item = tokio::time::timeout(Duration::from_secs(5), failed).await.unwrap();
    assert_eq!(item.status(), "error");
    assert!(item.fail_reason().unwrap().contains("Simulated failure"));
}

#[tokio::test]
async fn bad_ids_are_refused_before_any_request() {
    let s = sim_with(&[ItemSeed::ok("item-1")]).await;
    let c = client(&s, password());
    for bad in ["a/b", "a?b", "..", "", "x%2F", "../../v3/auth/tokens"] {
        let e = c
            .delete_checkpoint(P, DEFAULT_PROVIDER_ID, bad, None, soon(5))
            .await
            .unwrap_err();
        assert!(matches!(e, CloudError::InvalidInput(_)), "{bad:?}: {e:?}");
        assert_eq!(e.class(), ErrorClass::Permanent);
        let e = c
            .delete_checkpoint(P, DEFAULT_PROVIDER_ID, "ckpt-1", Some(bad), soon(5))
            .await
            .unwrap_err();
        assert!(matches!(e, CloudError::InvalidInput(_)));
        assert!(c.get_item(bad, "item-1", soon(5)).await.is_err());
        assert!(c.get_item(P, bad, soon(5)).await.is_err());
    }
    let st = s.sim.stats();
    assert_eq!((st.token, st.csbs_calls()), (0, 0), "nothing reached the server");
}
