//! Credentials never appear in logs, events, HTTP answers or errors, on success and failure
//! paths alike; JSON log lines carry the record's span fields.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use csbs_deleter::lambda::{dispatch, poll};
use csbs_deleter::sim::{self, DEMO_PROJECT as P, Fault, ItemSeed, Route};
use csbs_deleter::wiring;
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} leaks {s:?}");
    }
}

#[tokio::test]
async fn no_credential_in_logs_events_or_answers() {
    require_moto!();
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = sim().await;
    sim.sim
        .set_delete_duration(Duration::from_millis(10), Duration::from_millis(10));
    sim.sim.seed(P, "c1", &[ItemSeed::ok("i1")]);
    sim.sim.seed(P, "c2", &[ItemSeed::ok("i2")]);
    let mut secrets = vec![sim::DEMO_SK, sim::DEMO_PASSWORD, WEBHOOK_SECRET, "MIIsim"];
    let mut answers = String::new();

    // AK/SK, the happy path and a failing path (wrong SK: the gateway quotes the AK back).
    let infra = Infra::new(&aksk_json()).await;
    let config = infra.config(&sim, &[("POLL_WINDOW_SECONDS", "0")]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    let mut sqs = fixture("sqs.json");
    sqs["Records"][0]["body"] = json!(json!({"project_id": P, "checkpoint_id": "c1"}).to_string());
    answers += &dispatch::handle(&app, event(sqs, 20)).await.unwrap().to_string();
    let mut ev = fixture("http-api-v2.json");
    ev["body"] = json!(json!({"project_id": P, "checkpoint_id": "c2"}).to_string());
    resign(&mut ev, WEBHOOK_SECRET);
    answers += &dispatch::handle(&app, event(ev, 20)).await.unwrap().to_string();
    // Selections: a dry run over HTTP (its plan in the answer) and one from SQS.
    let mut ev = fixture("http-api-v2.json");
    ev["body"] = json!(json!({"select": {"project_id": P, "all_in_project": true}, "dry_run": true}).to_string());
    resign(&mut ev, WEBHOOK_SECRET);
    answers += &dispatch::handle(&app, event(ev, 20)).await.unwrap().to_string();
    answers += &dispatch::handle(&app, event(fixture("sqs-selection.json"), 20))
        .await
        .unwrap()
        .to_string();
    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    answers += &poll::handle(&poll_app, event(fixture("schedule-v2.json"), 20))
        .await
        .unwrap()
        .to_string();
    let events = infra.events(2, Duration::from_secs(20)).await;

    let wrong_sk = "WRONG-sk-that-must-not-leak-123";
    secrets.push(wrong_sk);
    let bad = Infra::new(&json!({"ak": sim::DEMO_AK, "sk": wrong_sk}).to_string()).await;
    let app = wiring::submit_app(&bad.config(&sim, &[]), &bad.aws).await.unwrap();
    let mut ev = fixture("http-api-v2.json");
    resign(&mut ev, WEBHOOK_SECRET);
    answers += &dispatch::handle(&app, event(ev, 5)).await.unwrap().to_string();

    // Password login, with a token expiry and a 503 burst in between.
    let infra2 = Infra::new(&password_json()).await;
    let app = wiring::submit_app(&infra2.config(&sim, &[]), &infra2.aws)
        .await
        .unwrap();
    sim.sim.seed(P, "c3", &[ItemSeed::ok("i3")]);
    sim.sim.expire_tokens();
    sim.sim.add_fault(Fault::status(Route::Delete, 503).times(2));
    let mut sqs = fixture("sqs.json");
    sqs["Records"][0]["body"] = json!(json!({"project_id": P, "checkpoint_id": "c3"}).to_string());
    answers += &dispatch::handle(&app, event(sqs, 20)).await.unwrap().to_string();
    let wrong_pw =
        json!({"username": sim::DEMO_USER, "password": "WRONG-password-never-logged", "domain_name": sim::DEMO_DOMAIN});
    secrets.push("WRONG-password-never-logged");
    let bad2 = Infra::new(&wrong_pw.to_string()).await;
    let app = wiring::submit_app(&bad2.config(&sim, &[]), &bad2.aws).await.unwrap();
    let mut ev = fixture("http-api-v2.json");
    resign(&mut ev, WEBHOOK_SECRET);
    answers += &dispatch::handle(&app, event(ev, 5)).await.unwrap().to_string();

    let text = logs.text();
    assert!(text.len() > 1000, "logs were captured");
    assert_clean("logs", &text, &secrets);
    assert_clean("answers", &answers, &secrets);
    assert_clean("events", &serde_json::to_string(&events).unwrap(), &secrets);
    assert!(
        !answers.contains(sim::DEMO_AK),
        "the AK quoted by the gateway is redacted in answers"
    );

    // A record's log lines carry its span: message id, task id, project, checkpoint.
    let line = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["span"]["name"] == "record"
                && v["fields"]["message"] == "event emitted"
                && v["span"]["checkpoint_id"] == "c1"
        })
        .expect("a record-level log line");
    for f in ["message_id", "task_id", "project_id", "checkpoint_id"] {
        assert!(line["span"][f].is_string(), "{f} missing: {line}");
    }
    assert_eq!(line["span"]["project_id"], P);
}
