//! The table tests of the poll decisions and the pass bookkeeping.

use super::pass::{Claim, Disposition, PassState};
use super::*;
use crate::outcome::{Outcome, OutcomeEvent};
use crate::target::TargetState;
use crate::task::PendingTask;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use crate::csbs::models::CheckpointItem;

/// The verdict on what CSBS listed.
fn csbs_verdict(task: &PendingTask, items: &[CheckpointItem], now: DateTime<Utc>) -> Check {
    verdict(task, &crate::csbs::state::target_states(task, items), now)
}

fn cbr_task(backups: &[&str]) -> PendingTask {
    let req = crate::request::DeletionRequest::from_value(
        &serde_json::json!({"service": "cbr", "project_id": "p", "backup_ids": backups}),
    )
    .unwrap();
    PendingTask::new(&req, Utc::now(), 1800)
}

fn item(status: &str, fail_op: &str) -> CheckpointItem {
    crate::csbs::state::test_item(status, fail_op)
}

fn listed(id: &str, status: &str, fail_op: &str) -> CheckpointItem {
    CheckpointItem {
        id: id.into(),
        ..item(status, fail_op)
    }
}

fn task_of(items: Option<&[&str]>, refused: &[&str]) -> PendingTask {
    let mut v = serde_json::json!({"project_id": "p", "checkpoint_id": "c"});
    if let Some(items) = items {
        v["checkpoint_items"] = serde_json::json!(items);
    }
    let req = crate::request::DeletionRequest::from_value(&v).unwrap();
    let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut t = PendingTask::new(&req, t0, 1800);
    t.refused_items = refused
        .iter()
        .map(|id| crate::task::RefusedItem {
            item_id: id.to_string(),
            code: "CSBS.9006".into(),
            message: "refused".into(),
            http_status: Some(400),
        })
        .collect();
    t
}

fn terminal(c: Check) -> OutcomeEvent {
    match c {
        Check::Terminal(e) => *e,
        Check::Pending { reissue } => panic!("pending, reissue {reissue:?}"),
    }
}

fn pending(c: Check) -> Vec<Option<String>> {
    match c {
        Check::Pending { reissue } => reissue,
        Check::Terminal(e) => panic!("terminal {:?}: {:?}", e.outcome, e.error),
    }
}

#[test]
fn verdict_completed_failed_timed_out_pending() {
    let t = task_of(Some(&["a", "b"]), &[]);
    let before = t.deadline - chrono::Duration::seconds(1);
    // Both absent (or listed as deleted): Completed.
    let e = terminal(csbs_verdict(&t, &[listed("b", "deleted", "")], before));
    assert_eq!(
        (e.outcome, e.last_status.as_deref()),
        (Outcome::Completed, Some("absent"))
    );
    assert!(e.error.is_none());
    // One failed, the other gone: Failed, naming the item and reason.
    let e = terminal(csbs_verdict(&t, &[listed("a", "error", "delete")], before));
    assert_eq!((e.outcome, e.last_status.as_deref()), (Outcome::Failed, Some("error")));
    let err = e.error.unwrap();
    assert_eq!(err.code, "deletion_failed");
    assert_eq!(err.message, "a: boom");
    // One failed, the other still running: wait for it.
    let listed_now = [listed("a", "error", "delete"), listed("b", "deleting", "")];
    assert_eq!(
        pending(csbs_verdict(&t, &listed_now, before)),
        Vec::<Option<String>>::new()
    );
    // Running at the deadline: Timed Out with the last status, naming the failure too.
    let e = terminal(csbs_verdict(&t, &listed_now, t.deadline));
    assert_eq!(
        (e.outcome, e.last_status.as_deref()),
        (Outcome::TimedOut, Some("deleting"))
    );
    assert!(e.error.unwrap().message.contains("besides: a: boom"));
    // Still available: the DELETE is issued again for that item only.
    let listed_now = [listed("a", "available", ""), listed("b", "waiting_delete", "")];
    assert_eq!(
        pending(csbs_verdict(&t, &listed_now, before)),
        vec![Some("a".to_string())]
    );
    let e = terminal(csbs_verdict(&t, &listed_now, t.deadline + chrono::Duration::seconds(5)));
    assert_eq!(e.outcome, Outcome::TimedOut);
    // An item of another task in the same checkpoint does not matter.
    let e = terminal(csbs_verdict(&t, &[listed("z", "deleting", "")], before));
    assert_eq!(e.outcome, Outcome::Completed);
}

#[test]
fn cbr_verdict_reports_the_least_advanced_backup() {
    let t = cbr_task(&["b1", "b2", "b3"]);
    let before = t.deadline - chrono::Duration::seconds(1);
    let st = |s: &[TargetState]| -> Vec<(String, TargetState)> {
        ["b1", "b2", "b3"]
            .iter()
            .map(|i| i.to_string())
            .zip(s.iter().cloned())
            .collect()
    };
    let running = TargetState::Running("deleting".into());
    let queued = TargetState::Queued("waiting_delete".into());
    let idle = TargetState::Idle("available".into());
    let all_gone = st(&[TargetState::Gone, TargetState::Gone, TargetState::Gone]);
    let e = terminal(verdict(&t, &all_gone, before));
    assert_eq!(
        (e.outcome, e.service),
        (Outcome::Completed, crate::service::Service::Cbr)
    );
    // Queued before running: the event says the deletion is still waiting its turn.
    let e = terminal(verdict(
        &t,
        &st(&[running.clone(), queued.clone(), TargetState::Gone]),
        t.deadline,
    ));
    assert_eq!(
        (e.outcome, e.last_status.as_deref()),
        (Outcome::TimedOut, Some("waiting_delete"))
    );
    let e = terminal(verdict(
        &t,
        &st(&[running.clone(), queued.clone(), idle.clone()]),
        t.deadline,
    ));
    assert_eq!(e.last_status.as_deref(), Some("available"));
    // Only the idle backup gets its DELETE again.
    assert_eq!(
        pending(verdict(&t, &st(&[running, queued, idle]), before)),
        vec![Some("b3".to_string())]
    );
    let busy = TargetState::Busy("protecting".into());
    assert_eq!(
        pending(verdict(
            &t,
            &st(&[busy.clone(), TargetState::Gone, TargetState::Gone]),
            before
        )),
        Vec::<Option<String>>::new()
    );
    let failed = TargetState::Failed("CBR delete task t1 failed: BackupService.9910: Unknown error.".into());
    let e = terminal(verdict(
        &t,
        &st(&[failed, TargetState::Gone, TargetState::Gone]),
        before,
    ));
    assert_eq!((e.outcome, e.last_status.as_deref()), (Outcome::Failed, Some("error")));
    assert_eq!(
        e.error.unwrap().message,
        "b1: CBR delete task t1 failed: BackupService.9910: Unknown error."
    );
}

#[test]
fn cbr_refusals_name_cbr() {
    let mut t = cbr_task(&["b1", "b2"]);
    t.refused_items.push(crate::task::RefusedItem {
        item_id: "b2".into(),
        code: "BackupService.6204".into(),
        message: "used to create an image".into(),
        http_status: Some(400),
    });
    let e = terminal(verdict(&t, &[("b1".into(), TargetState::Gone)], Utc::now()));
    assert_eq!(e.outcome, Outcome::Failed);
    assert!(
        e.error
            .unwrap()
            .message
            .starts_with("b2: CBR refused the DELETE (BackupService.6204, HTTP 400)")
    );
}

#[tokio::test]
async fn a_pass_over_an_empty_queue_is_one_pass_and_no_check() {
    // No message, so no CSBS call: the client's endpoint is never reached.
    let url = url::Url::parse("http://127.0.0.1:9").unwrap();
    let creds = crate::cloud::Credentials::AkSk {
        ak: "AK".into(),
        sk: crate::secret::Secret::new("SK"),
        security_token: None,
    };
    let csbs = CsbsClient::new(crate::cloud::ClientConfig::new(url.clone(), url, creds)).unwrap();
    let queue = Arc::new(crate::adapters::memory::MemoryQueue::new(Duration::from_secs(30)));
    let sink = Arc::new(crate::adapters::memory::MemorySink::new());
    let poller = Poller::new(
        csbs,
        queue.clone(),
        sink.clone(),
        std::sync::Arc::new(crate::adapters::memory::MemoryLedger::new()),
        PollSettings::default(),
    );
    let s = poller.pass(Instant::now() + Duration::from_secs(30)).await;
    assert_eq!((s.passes, s.checked, s.cloud_calls), (1, 0, 0));
    let receives = queue.calls().receive as usize;
    assert!(
        (1..=poller.lanes()).contains(&receives),
        "one empty receive per lane at most: {receives}"
    );
    assert_eq!(sink.puts(), 0);
}

#[test]
fn copies_in_one_pass_share_the_first_copys_outcome() {
    let pass = PassState::default();
    assert!(matches!(pass.claim("t1", "r1"), Claim::Mine));
    assert!(matches!(pass.claim("t1", "r2"), Claim::Joined));
    assert!(matches!(pass.claim("t1", "r3"), Claim::Joined));
    assert!(
        matches!(pass.claim("t2", "r4"), Claim::Mine),
        "another task is checked on its own"
    );
    assert_eq!(pass.settle("t1", Disposition::Delete), ["r2", "r3"]);
    assert!(matches!(pass.claim("t1", "r5"), Claim::Settled(Disposition::Delete)));
    assert_eq!(pass.settle("t2", Disposition::Retime(12)), Vec::<String>::new());
    assert!(matches!(
        pass.claim("t2", "r6"),
        Claim::Settled(Disposition::Retime(12))
    ));
    pass.record_batch(Duration::from_millis(300));
    pass.record_batch(Duration::from_millis(200));
    assert_eq!(pass.slowest_batch(), Duration::from_millis(300));
}

#[test]
fn received_messages_stay_hidden_for_the_rest_of_the_invocation() {
    let now = Instant::now();
    assert_eq!(receive_visibility(now + Duration::from_millis(58_500), now), 64);
    assert_eq!(receive_visibility(now + Duration::from_secs(10), now), 15);
    assert_eq!(receive_visibility(now, now), 5, "past the deadline: the margin alone");
    assert_eq!(receive_visibility(now, now + Duration::from_secs(3)), 5);
}

#[test]
fn unknown_state_times_out_only_at_the_deadline() {
    let t = task_of(None, &[]);
    let e = crate::cloud::error::api_error(503, br#"{"error_code":"CSBS.9999"}"#, None);
    assert!(unknown_verdict(&t, t.deadline - chrono::Duration::milliseconds(1), &e).is_none());
    let ev = unknown_verdict(&t, t.deadline, &e).expect("at the deadline");
    assert_eq!((ev.outcome, ev.last_status.as_deref()), (Outcome::TimedOut, None));
    let err = ev.error.unwrap();
    assert_eq!((err.code.as_str(), err.http_status), ("CSBS.9999", Some(503)));
    assert!(unknown_verdict(&t, t.deadline + chrono::Duration::seconds(60), &e).is_some());
}

#[test]
fn verdict_whole_checkpoint() {
    let t = task_of(None, &[]);
    let before = t.deadline - chrono::Duration::seconds(1);
    assert_eq!(terminal(csbs_verdict(&t, &[], before)).outcome, Outcome::Completed);
    assert_eq!(terminal(csbs_verdict(&t, &[], t.deadline)).outcome, Outcome::Completed);
    let running = [listed("x", "deleting", ""), listed("y", "available", "")];
    assert_eq!(pending(csbs_verdict(&t, &running, before)), vec![Some("y".to_string())]);
    let e = terminal(csbs_verdict(&t, &[listed("x", "error", "delete")], before));
    assert_eq!(
        (e.outcome, e.error.unwrap().message.as_str()),
        (Outcome::Failed, "x: boom")
    );
    // A failed backup (fail_op backup, not delete) is deletable: issued again.
    assert_eq!(
        pending(csbs_verdict(&t, &[listed("x", "error", "backup")], before)),
        vec![Some("x".to_string())]
    );
}

#[test]
fn verdict_refused_items_end_failed_once_the_others_finish() {
    let t = task_of(Some(&["a", "b"]), &["b"]);
    let before = t.deadline - chrono::Duration::seconds(1);
    // The refused item is still there, available: it is neither waited for nor re-issued.
    let listed_now = [listed("a", "deleting", ""), listed("b", "available", "")];
    assert_eq!(
        pending(csbs_verdict(&t, &listed_now, before)),
        Vec::<Option<String>>::new()
    );
    // The accepted item is gone: Failed, naming the refused item and its code.
    let e = terminal(csbs_verdict(&t, &[listed("b", "available", "")], before));
    assert_eq!((e.outcome, e.last_status.as_deref()), (Outcome::Failed, Some("absent")));
    let err = e.error.unwrap();
    assert_eq!(err.code, "deletion_failed");
    assert!(
        err.message
            .starts_with("b: CSBS refused the DELETE (CSBS.9006, HTTP 400)"),
        "{}",
        err.message
    );
    // Never Completed while an item was refused.
    let e = terminal(csbs_verdict(&t, &[], before));
    assert_eq!(e.outcome, Outcome::Failed);
}

#[test]
fn boundaries_are_at_least_half_a_step_away() {
    // Exactly half a step away is far enough; closer moves to the boundary after.
    assert_eq!(until_boundary_ms(5_000, 10_000), 5_000);
    assert_eq!(until_boundary_ms(5_001, 10_000), 14_999);
    assert_eq!(until_boundary_ms(0, 10_000), 10_000);
    assert_eq!(until_boundary_ms(12_345, 10_000), 7_655);
    assert_eq!(until_boundary_ms(9_999, 10_000), 10_001);
}

#[test]
fn checks_stretch_with_age_and_stop_at_the_deadline() {
    let t0 = Utc::now();
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    let ten = Duration::from_secs(10);
    // Between half a step and one and a half steps, ending on a multiple of the step.
    for s in 0..30 {
        let now = at(s);
        let n = next_check_secs(ten, t0, at(1800), now);
        assert!((5..=15).contains(&n), "{n}");
        assert_eq!((now.timestamp() + i64::from(n)) % 10, 0);
    }
    let n = next_check_secs(ten, t0, at(1800), at(1795));
    assert!(n <= 5, "not past the deadline: {n}");
    let n = next_check_secs(ten, t0, at(86_400), at(20_000));
    assert!((100..=300).contains(&n), "stretched: {n}");
    // Receives needed for a 24-hour task stay well under SQS's 1000 limit.
    let (mut now, mut receives) = (0i64, 0);
    while now < 86_400 {
        now += i64::from(next_check_secs(ten, t0, at(86_400), at(now)));
        receives += 1;
    }
    assert!(receives < 600, "{receives}");
}

/// A source in the default region and a replica in another: the verdict waits for both, and
/// the event's `targets` carries each one's place and status; Failed names the replica.
#[test]
fn a_task_with_a_replica_ends_when_both_do_and_names_the_one_that_failed() {
    let mut t = cbr_task(&["b1"]);
    t.region = Some("eu-de".into());
    t.with_replicas = true;
    t.replicas.push(crate::task::Replica {
        region: "eu-nl".into(),
        project_id: "p2".into(),
        backup_id: "r1".into(),
        source_backup_id: "b1".into(),
    });
    let now = Utc::now();
    let s = |x: &str| x.to_string();
    let gone = (s("b1"), TargetState::Gone);
    type Case<'a> = (Vec<(String, TargetState)>, Option<Outcome>, &'a [Option<&'a str>]);
    let cases: [Case; 4] = [
        (
            vec![gone.clone(), (s("r1"), TargetState::Queued(s("waiting_delete")))],
            None,
            &[],
        ),
        (
            vec![gone.clone(), (s("r1"), TargetState::Gone)],
            Some(Outcome::Completed),
            &[Some("absent"), Some("absent")],
        ),
        (
            vec![gone.clone(), (s("r1"), TargetState::Failed(s("disk busy")))],
            Some(Outcome::Failed),
            &[Some("absent"), Some("error")],
        ),
        (
            vec![
                (s("b1"), TargetState::Running(s("deleting"))),
                (s("r1"), TargetState::Gone),
            ],
            None,
            &[],
        ),
    ];
    for (states, want, statuses) in cases {
        match (verdict(&t, &states, now), want) {
            (Check::Pending { .. }, None) => {}
            (Check::Terminal(e), Some(want)) => {
                assert_eq!(e.outcome, want);
                assert_eq!(e.region.as_deref(), Some("eu-de"));
                let rows = e.targets.as_ref().expect("a task with replicas lists its targets");
                let got: Vec<(Option<&str>, &str, &str, Option<&str>)> = rows
                    .iter()
                    .map(|r| {
                        (
                            r.region.as_deref(),
                            r.project_id.as_str(),
                            r.backup_id.as_str(),
                            r.last_status.as_deref(),
                        )
                    })
                    .collect();
                assert_eq!(
                    got,
                    vec![
                        (Some("eu-de"), "p", "b1", statuses[0]),
                        (Some("eu-nl"), "p2", "r1", statuses[1])
                    ]
                );
                if want == Outcome::Failed {
                    let m = &e.error.as_ref().unwrap().message;
                    assert!(m.contains("r1 (replica of b1 in eu-nl/p2): disk busy"), "{m}");
                }
            }
            (got, want) => panic!("{states:?}: {got:?}, wanted {want:?}"),
        }
    }
    // A task in one region has no targets list.
    let one = cbr_task(&["b1"]);
    let Check::Terminal(e) = verdict(&one, &[(s("b1"), TargetState::Gone)], now) else {
        panic!()
    };
    assert!(e.targets.is_none());
}
