//! Operating it like AWS (docs/DESIGN.md, "HTTP API", "Operating it"): IAM-authenticated HTTP
//! (`HTTP_AUTH=iam`), one X-Ray trace id from a submit to every event of its deletion, and the
//! metrics each invocation publishes — on real payload shapes, the simulator over loopback and
//! the in-memory queue and bus (the wiring of the deployed functions on moto, where set).

use std::sync::Arc;
use std::time::Duration;

use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::lambda::{dispatch, poll};
use csbs_deleter::metrics::{self, CountingSink};
use csbs_deleter::outcome::Outcome;
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::service::Service;
use csbs_deleter::sim::{self, SimConfig, Simulator};
use csbs_deleter::submit::{SubmitSettings, Submitter};
use csbs_deleter::webhook::WebhookPolicy;
use csbs_deleter::wiring::{self, PollApp, SubmitApp};
use serde_json::{Value, json};

use crate::common::{context, event, fixture, http_answer};

const TRACE_HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const TRACE_ID: &str = "1-5759e988-bd862e3fe1be46a994272793";

struct World {
    _sim: sim::RunningSim,
    queue: Arc<MemoryQueue>,
    bus: Arc<MemorySink>,
    counted: Arc<CountingSink>,
    csbs: CsbsClient,
}

async fn world(fast: bool) -> World {
    let config = if fast {
        SimConfig {
            delete_duration: (Duration::from_millis(10), Duration::from_millis(20)),
            ..SimConfig::default()
        }
    } else {
        SimConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    sim.sim.seed_demo();
    let csbs =
        CsbsClient::new(ClientConfig::new(sim.base_url(), sim.base_url(), sim::demo_aksk()).with_cbr(sim.base_url()))
            .unwrap();
    let bus = Arc::new(MemorySink::new());
    World {
        _sim: sim,
        queue: Arc::new(MemoryQueue::new(Duration::from_secs(30))),
        counted: Arc::new(CountingSink::new(bus.clone())),
        bus,
        csbs,
    }
}

impl World {
    /// Poll over the same queue and counting bus: a 15 s window of 1 s passes.
    fn poller(&self) -> Poller {
        Poller::new(
            self.csbs.clone(),
            self.queue.clone(),
            self.counted.clone() as Arc<dyn EventSink>,
            std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
            PollSettings {
                window: Duration::from_secs(15),
                interval: Duration::from_secs(1),
                ..Default::default()
            },
        )
    }

    fn app(&self, webhook: WebhookPolicy) -> SubmitApp {
        let submitter = Submitter::new(
            self.csbs.clone(),
            self.queue.clone(),
            self.counted.clone() as Arc<dyn EventSink>,
            std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
            SubmitSettings::default(),
        );
        SubmitApp::new(submitter, webhook)
    }
}

fn without_identity(mut ev: Value) -> Value {
    ev["requestContext"].as_object_mut().unwrap().remove("authorizer");
    ev
}

/// `HTTP_AUTH=iam`: the caller's identity in the request context (API Gateway and the function
/// URL checked the SigV4 signature) authorizes; without it a request is a 401, whatever
/// signature it carries; an ALB authenticates no IAM caller.
#[tokio::test]
async fn iam_http_auth_takes_the_identity_from_the_request_context() {
    let w = world(false).await;
    let app = w.app(WebhookPolicy::Iam);
    let mut rest = fixture("apigw-rest.json");
    rest["requestContext"]["identity"]["userArn"] = json!("arn:aws:iam::123456789012:user/ops");
    rest["requestContext"]["identity"]["accountId"] = json!("123456789012");
    let mut signed = fixture("http-api-v2.json");
    crate::common::resign(&mut signed, csbs_deleter::local::LOCAL_WEBHOOK_SECRET);
    let mut rest_anonymous = fixture("apigw-rest.json");
    crate::common::resign(&mut rest_anonymous, csbs_deleter::local::LOCAL_WEBHOOK_SECRET);
    let cases = [
        ("http-api-v2-iam.json", fixture("http-api-v2-iam.json"), 202),
        ("function-url-iam.json", fixture("function-url-iam.json"), 202),
        ("apigw-rest.json with identity.userArn", rest, 202),
        (
            "http-api-v2-iam.json without authorizer",
            without_identity(fixture("http-api-v2-iam.json")),
            401,
        ),
        (
            "function-url-iam.json without authorizer",
            without_identity(fixture("function-url-iam.json")),
            401,
        ),
        ("http-api-v2.json, validly signed, no identity", signed, 401),
        ("apigw-rest.json, validly signed, no identity", rest_anonymous, 401),
        ("alb.json", fixture("alb.json"), 401),
    ];
    for (name, ev, want) in cases {
        let answer = dispatch::handle(&app, event(ev, 20)).await.unwrap();
        let (status, body) = http_answer(&answer);
        assert_eq!(status, want, "{name}: {body}");
        if want == 401 {
            assert_eq!(body["error"]["code"], "iam_identity_missing", "{name}: {body}");
        }
        let text = answer.to_string();
        assert!(
            !text.contains("IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN") && !text.contains("ASIAEXAMPLEKEY"),
            "{name}: no credential of the caller in the answer"
        );
    }
    assert_eq!(
        w.queue.len(),
        3,
        "the three authorized requests became tasks, nothing else"
    );
}

/// A submit invocation's X-Ray trace id enters each task it creates and every event of those
/// tasks: Submitted at submit, the outcome from poll (which runs in a different trace).
#[tokio::test]
async fn the_trace_of_a_submit_reaches_the_task_and_every_event_of_it() {
    let w = world(true).await;
    let app = w.app(WebhookPolicy::AllowUnsigned);
    let mut ctx = context(20);
    ctx.xray_trace_id = Some(TRACE_HEADER.to_string());
    let answer = dispatch::handle(&app, lambda_runtime::LambdaEvent::new(fixture("sqs-cbr.json"), ctx))
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    let bodies = w.queue.bodies();
    assert!(!bodies.is_empty());
    for b in &bodies {
        let task: Value = serde_json::from_str(b).unwrap();
        assert_eq!(task["trace_id"], TRACE_ID, "{task}");
    }
    let mut poll_ctx = context(20);
    poll_ctx.xray_trace_id = Some("Root=1-00000000-000000000000000000000000;Sampled=1".into());
    let poller = w.poller();
    let poll_app = PollApp::new(poller);
    let summary = poll::handle(
        &poll_app,
        lambda_runtime::LambdaEvent::new(fixture("schedule-v2.json"), poll_ctx),
    )
    .await
    .unwrap();
    let decided = summary["completed"].as_u64().unwrap() + summary["failed"].as_u64().unwrap();
    assert_eq!(decided, bodies.len() as u64, "every task decided: {summary}");
    let events = w.bus.events();
    assert_eq!(
        events.len(),
        2 * bodies.len(),
        "Submitted and a terminal event of each task"
    );
    for e in &events {
        assert_eq!(e.trace_id.as_deref(), Some(TRACE_ID), "{:?} {}", e.outcome, e.task_id);
    }
    // An invocation without a trace (outside Lambda) creates tasks without one: null, not a
    // made-up id.
    let plain = world(false).await;
    let app = plain.app(WebhookPolicy::AllowUnsigned);
    dispatch::handle(&app, event(fixture("sqs-cbr.json"), 20))
        .await
        .unwrap();
    assert!(plain.bus.events().iter().all(|e| e.trace_id.is_none()));
    let task: Value = serde_json::from_str(&plain.queue.bodies()[0]).unwrap();
    assert!(task.get("trace_id").is_none(), "absent from the task body: {task}");
}

/// What an invocation emitted is what its metrics count: the counting sink sits between the
/// workflow and the bus, and the transport times every call.
#[tokio::test]
async fn metrics_count_what_the_invocation_emitted() {
    let w = world(false).await;
    let submitter = Submitter::new(
        w.csbs.clone(),
        w.queue.clone(),
        w.counted.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        SubmitSettings::default(),
    );
    let records: Vec<_> = ["0001", "0002"]
        .iter()
        .map(|n| csbs_deleter::submit::Record {
            message_id: format!("m-{n}"),
            body: json!({"service": "cbr", "project_id": sim::DEMO_PROJECT, "backup_id": format!("cbb00000-{n}-4000-8000-000000000000")}).to_string(),
            sent_at: None,
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    submitter.submit_batch(&records, deadline).await;
    let tally = w.counted.take();
    let emitted = w.bus.events();
    let count = |o: Outcome| {
        emitted
            .iter()
            .filter(|e| e.outcome == o && e.service == Service::Cbr)
            .count() as u64
    };
    for o in [Outcome::Submitted, Outcome::Rejected, Outcome::Completed] {
        assert_eq!(
            tally.outcomes.get(&(Service::Cbr, o)).copied().unwrap_or(0),
            count(o),
            "{o:?}"
        );
    }
    assert_eq!(tally.outcomes.values().sum::<u64>(), emitted.len() as u64);
    let latencies = w.csbs.take_latencies();
    assert!(
        latencies.count >= 2,
        "one DELETE per backup at least: {}",
        latencies.count
    );
    let lines = metrics::emf_lines("submit-fn", 1, &tally, &latencies);
    let docs: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cbr = docs.iter().find(|d| d["Service"] == "cbr").expect("a CBR outcome line");
    assert_eq!(cbr["submitted"].as_u64(), Some(count(Outcome::Submitted)));
    assert!(docs.iter().any(|d| {
        d["cloud_call_ms"]
            .as_array()
            .is_some_and(|a| a.len() as u64 == latencies.count)
    }));
}

/// The deployed wiring: both functions count through their bus, poll with its detection bound.
#[tokio::test]
async fn the_deployed_wiring_publishes_metrics() {
    require_moto!();
    let infra = crate::common::Infra::new(&crate::common::aksk_json()).await;
    let sim = crate::common::sim().await;
    let config = infra.config(&sim, &[]);
    let app = wiring::submit_app(&config, &infra.aws).await.unwrap();
    assert!(app.metrics.is_some(), "submit counts what it emits");
    let poll_app = wiring::poll_app(&config, &infra.aws).await.unwrap();
    assert!(poll_app.metrics.is_some(), "poll counts what it emits");
    let answer = dispatch::handle(&app, event(fixture("sqs-cbr.json"), 20))
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    assert_eq!(
        app.metrics.as_ref().unwrap().take(),
        metrics::Tally::default(),
        "the invocation published (and so took) its own figures"
    );
}

/// The functions' JSON logs (the subscriber `init_logging` installs under
/// `AWS_LAMBDA_LOG_FORMAT=JSON`): every line poll writes about a task names the task, its
/// request id and the trace it began in.
#[tokio::test(flavor = "current_thread")]
async fn every_log_line_about_a_task_names_its_trace() {
    #[derive(Clone, Default)]
    struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Capture::default();
    let writer = logs.clone();
    let _guard = tracing::subscriber::set_default(csbs_deleter::lambda::json_subscriber(
        tracing_subscriber::EnvFilter::new("debug"),
        move || writer.clone(),
    ));
    let w = world(true).await;
    let app = w.app(WebhookPolicy::AllowUnsigned);
    let mut ctx = context(20);
    ctx.xray_trace_id = Some(TRACE_HEADER.to_string());
    dispatch::handle(&app, lambda_runtime::LambdaEvent::new(fixture("sqs-cbr.json"), ctx))
        .await
        .unwrap();
    let poller = w.poller();
    poll::handle(&PollApp::new(poller), event(fixture("schedule-v2.json"), 20))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let tasks: Vec<String> = w.bus.events().iter().map(|e| e.task_id.clone()).collect();
    let about: Vec<&Value> = lines
        .iter()
        .filter(|l| tasks.iter().any(|t| l.to_string().contains(t.as_str())))
        .collect();
    assert!(
        about.len() >= tasks.len(),
        "lines about the tasks were logged: {}",
        about.len()
    );
    for l in about {
        let s = l.to_string();
        assert!(s.contains(TRACE_ID), "a line about a task without its trace id: {s}");
        assert!(
            s.contains("\"request_id\""),
            "a line about a task without its request id: {s}"
        );
    }
}
