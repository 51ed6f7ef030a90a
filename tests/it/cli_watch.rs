//! The CLI watching a deletion and a selection to their outcomes (`status --task … --watch`,
//! `status --selection … --watch`), from the decision ledger through the HTTP API served on
//! loopback, while the workflow runs beside it (the intake drained into submit, poll passes);
//! and `--iam`: the request the CLI sends carries a SigV4 signature, never the webhook's.

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use csbs_deleter::adapters::memory::MemoryLedger;
use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::pending::PendingQueue;
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::secret::Secret;
use csbs_deleter::sim::{self, DEMO_PROJECT as P, ItemSeed, SimConfig, Simulator};
use csbs_deleter::submit::{Record, SubmitSettings, Submitter};
use csbs_deleter::webhook::WebhookPolicy;
use serde_json::{Value, json};
use tokio::time::Instant;

const SECRET: &str = "cli-watch-secret-0123456789";

/// The built CLI (`crate::cli::cli`), off the runtime's threads: the API it calls is served here.
async fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        crate::cli::cli(&args, &env)
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The workflow beside the API: the intake queue drained into submit (a selection's fan-out
/// steps and targets), and poll passes, until `stop`.
async fn run_workflow(submitter: Arc<Submitter>, intake: Arc<MemoryQueue>, poller: Arc<Poller>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let got = intake.receive(10, Some(60), deadline).await.unwrap_or_default();
        if !got.is_empty() {
            let records: Vec<Record> = got
                .iter()
                .map(|m| Record {
                    message_id: m.receipt.clone(),
                    body: m.body.clone(),
                    sent_at: None,
                })
                .collect();
            let failed = submitter.submit_batch(&records, deadline).await;
            let done: Vec<String> = got
                .iter()
                .filter(|m| !failed.contains(&m.receipt))
                .map(|m| m.receipt.clone())
                .collect();
            intake.delete(&done, deadline).await.unwrap();
        }
        poller.pass(deadline).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_a_task_and_a_selection_to_their_outcomes() {
    let sim = Simulator::start(SimConfig {
        delete_duration: (Duration::from_millis(50), Duration::from_millis(150)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.sim.seed(
        P,
        "cp-watch",
        &[ItemSeed::ok("w-1"), ItemSeed::ok("w-2"), ItemSeed::ok("w-3")],
    );
    sim.sim.seed(P, "cp-fail", &[ItemSeed::failing("f-1")]);
    let csbs = CsbsClient::new(ClientConfig::new(sim.base_url(), sim.base_url(), sim::demo_aksk())).unwrap();
    let (queue, intake) = (
        Arc::new(MemoryQueue::new(Duration::from_secs(5))),
        Arc::new(MemoryQueue::new(Duration::from_secs(5))),
    );
    let ledger = Arc::new(MemoryLedger::new());
    let sink = Arc::new(MemorySink::new()) as Arc<dyn EventSink>;
    let settings = SubmitSettings {
        expand: csbs_deleter::select::ExpandSettings {
            step_delay_secs: 0,
            ..Default::default()
        },
        ..SubmitSettings::default()
    };
    let submitter = || {
        Submitter::new(
            csbs.clone(),
            queue.clone(),
            sink.clone(),
            ledger.clone(),
            settings.clone(),
        )
        .with_intake(intake.clone())
    };
    let app = csbs_deleter::wiring::SubmitApp::new(submitter(), WebhookPolicy::Secret(Secret::new(SECRET)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let router = csbs_deleter::local::http_api(Arc::new(app));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let poller = Poller::new(
        csbs.clone(),
        queue.clone(),
        sink.clone(),
        ledger.clone(),
        PollSettings {
            window: Duration::ZERO,
            interval: Duration::from_secs(1),
            ..Default::default()
        },
    );
    let stop = Arc::new(AtomicBool::new(false));
    let workflow = tokio::spawn(run_workflow(
        Arc::new(submitter()),
        intake.clone(),
        Arc::new(poller),
        stop.clone(),
    ));
    let env = [("WEBHOOK_SECRET", SECRET)];

    // A selection: planned, fanned out through the intake queue, each target deleted.
    let selection = json!({"select": {"project_id": P, "checkpoint_ids": ["cp-watch"]}}).to_string();
    let out = cli(&["submit", "--url", &api, &selection], &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let answer: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let selection_id = answer["selection_id"].as_str().expect("a selection id").to_string();
    let out = cli(
        &[
            "status",
            "--url",
            &api,
            "--selection",
            &selection_id,
            "--watch",
            "--every",
            "1",
        ],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let progress: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(progress["done"], true, "{progress}");
    assert_eq!(progress["planned"]["to_delete"], 3, "{progress}");
    assert_eq!(progress["tasks"]["completed"], 3, "{progress}");
    assert_eq!(progress["state"], "planned");
    let lines = text(&out.stderr);
    assert!(
        lines.contains("[####################] 3/3"),
        "the bar ends full: {lines}"
    );
    assert!(lines.lines().all(|l| l.contains(&selection_id)), "{lines}");

    // One deletion that fails: the watch ends with the outcome and exit code 1.
    let failing = json!({"project_id": P, "checkpoint_id": "cp-fail", "checkpoint_items": ["f-1"]}).to_string();
    let out = cli(&["submit", "--url", &api, &failing], &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let task_id = serde_json::from_str::<Value>(&text(&out.stdout)).unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = cli(
        &["status", "--url", &api, "--task", &task_id, "--watch", "--every", "1"],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "a failed deletion: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{task_id} submitted")) && stderr.contains(&format!("{task_id} failed")),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"state\":\"failed\""),
        "the outcome is printed: {stderr}"
    );

    // Unknown selection: refused input; --watch without --task or --selection: refused.
    let unknown = format!("sel_{}", "0".repeat(32));
    let out = cli(&["status", "--url", &api, "--selection", &unknown], &env).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown_selection"), "{}", text(&out.stderr));
    let out = cli(
        &[
            "status",
            "--url",
            &api,
            "--project-id",
            P,
            "--checkpoint-id",
            "cp-watch",
            "--watch",
        ],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    stop.store(true, Ordering::Relaxed);
    workflow.await.unwrap();
}

/// `--iam`: SigV4 from the standard credential chain (here the environment), scoped to the
/// API's region and service; no X-Signature-256 and no secret on the wire. (scripts/test.sh
/// also checks such a request against botocore's signer: tests/py/check_cli_sigv4.py.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_requests_are_signed_with_sigv4() {
    let seen: Arc<std::sync::Mutex<Vec<(http::HeaderMap, String)>>> = Arc::default();
    let captured = seen.clone();
    let router = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let captured = captured.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            captured
                .lock()
                .unwrap()
                .push((parts.headers, String::from_utf8_lossy(&body).into_owned()));
            (http::StatusCode::ACCEPTED, "{\"status\":\"submitted\"}")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let request = json!({"project_id": P, "checkpoint_id": "c"}).to_string();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDCLITEST0000000000"),
        ("AWS_SECRET_ACCESS_KEY", "cli-secret-key-never-on-the-wire"),
        ("AWS_SESSION_TOKEN", "cli-session-token"),
        ("AWS_REGION", "eu-central-1"),
        ("WEBHOOK_SECRET", SECRET),
    ];
    let out = cli(&["submit", "--url", &api, "--iam", &request], &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = cli(
        &[
            "status",
            "--url",
            &api,
            "--iam",
            "--task",
            &format!("tsk_{}", "a".repeat(32)),
        ],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    for (headers, body) in sent.iter() {
        let auth = headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDCLITEST0000000000/")
                && auth.contains("/eu-central-1/execute-api/aws4_request"),
            "{auth}"
        );
        assert!(headers.contains_key("x-amz-date"));
        assert_eq!(headers["x-amz-security-token"], "cli-session-token");
        assert!(
            !headers.contains_key("x-signature-256"),
            "SigV4 replaces the webhook signature"
        );
        let all = format!("{headers:?}{body}");
        assert!(!all.contains("cli-secret-key-never-on-the-wire"));
    }
    assert_eq!(sent[0].1, request, "the body as given");
    // Without credentials: refused input, nothing sent.
    let no_credentials = [("AWS_REGION", "eu-central-1"), ("AWS_EC2_METADATA_DISABLED", "true")];
    let out = cli(&["submit", "--url", &api, "--iam", &request], &no_credentials).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--iam"), "{}", text(&out.stderr));
    assert_eq!(seen.lock().unwrap().len(), 2);
}
