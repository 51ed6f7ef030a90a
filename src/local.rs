//! The local run: the whole workflow on embedded defaults, with no AWS account. The simulator
//! runs in-process with demo backups; requests go through the real submit entry point as SQS
//! and HTTP payloads; poll ticks run on an accelerated clock; each event is printed as it is
//! emitted. With `serve`, an HTTP API on 127.0.0.1 bridges real requests into the same handler
//! as API Gateway HTTP API (v2) payloads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::adapters::memory::MemoryQueue;
use crate::adapters::memory::MemorySink;
use crate::cloud::ClientConfig;
use crate::csbs::CsbsClient;
use crate::lambda::dispatch;
use crate::outcome::{Outcome, OutcomeEvent};
use crate::poll::{PollSettings, PollSummary, Poller};
use crate::ports::sink::EventSink;
use crate::secret::Secret;
use crate::sim::{DEMO_PROJECT, RunningSim, SimConfig, Simulator};
use crate::submit::{SubmitSettings, Submitter};
use crate::webhook::{self, WebhookPolicy};
use crate::wiring::SubmitApp;

/// The webhook secret of the local run and the README examples. Never use it elsewhere.
pub const LOCAL_WEBHOOK_SECRET: &str = "csbs-deleter-test-webhook-secret";

/// The accelerated poll window (Lambda: 50 s of each minute).
const POLL_WINDOW: Duration = Duration::from_secs(5);

/// The server of the retention demo's backups.
const RETENTION_SERVER: &str = "ecs-retention-demo";

#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Shortest and longest simulated deletion (CSBS: up to 30 minutes; here seconds).
    pub delete_duration: (Duration, Duration),
    /// Accelerated poll interval.
    pub poll_interval: Duration,
    /// Keep serving the HTTP API on this port of 127.0.0.1 after the demo (0 = any).
    pub serve: Option<u16>,
    /// Draw progress bars (on a terminal).
    pub progress: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            delete_duration: (Duration::from_millis(1500), Duration::from_secs(6)),
            poll_interval: Duration::from_secs(1),
            serve: None,
            progress: true,
        }
    }
}

/// What the local run saw.
#[derive(Debug, Default)]
pub struct LocalSummary {
    pub by_outcome: BTreeMap<&'static str, usize>,
    pub poll: PollSummary,
    pub elapsed: Duration,
}

struct Local {
    sim: RunningSim,
    sink: Arc<MemorySink>,
    queue: Arc<MemoryQueue>,
    /// Where selections fan out to; drained into submit between poll ticks, as the SQS event
    /// source mapping would.
    intake: Arc<MemoryQueue>,
    app: Arc<SubmitApp>,
    poller: Arc<Poller>,
    /// The decision ledger submit and poll share (in memory here, DynamoDB when deployed).
    ledger: Arc<crate::adapters::memory::MemoryLedger>,
}

async fn build(opts: &LocalOptions) -> std::io::Result<Local> {
    let sim = Simulator::start(SimConfig {
        delete_duration: opts.delete_duration,
        ..SimConfig::default()
    })
    .await?;
    sim.sim.seed_demo();
    // A server with four manual backups, 5 to 60 days old, for the retention rule.
    let retention: Vec<crate::sim::ItemSeed> = [5i64, 40, 50, 60]
        .iter()
        .enumerate()
        .map(|(i, days)| crate::sim::ItemSeed {
            resource_id: Some(RETENTION_SERVER.into()),
            created_at: Some(
                (chrono::Utc::now() - chrono::Duration::days(*days))
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string(),
            ),
            name: Some(format!("manual-{days}d")),
            ..crate::sim::ItemSeed::ok(format!("5e1ec700-0000-4000-8000-{i:012}"))
        })
        .collect();
    sim.sim
        .seed(DEMO_PROJECT, "5e1ec700-cccc-4000-8000-000000000000", &retention);
    let creds = crate::sim::demo_password();
    let csbs = CsbsClient::new(ClientConfig::new(sim.base_url(), sim.base_url(), creds).with_cbr(sim.base_url()))
        .map_err(std::io::Error::other)?;
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(120)));
    let intake = Arc::new(MemoryQueue::new(Duration::from_secs(120)));
    let sink = Arc::new(MemorySink::new());
    let ledger = Arc::new(crate::adapters::memory::MemoryLedger::new());
    let settings = SubmitSettings {
        // Accelerated, like the poll interval.
        expand: crate::select::ExpandSettings {
            step_delay_secs: 1,
            ..Default::default()
        },
        ..SubmitSettings::default()
    };
    let submitter = Submitter::new(
        csbs.clone(),
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        ledger.clone(),
        settings,
    )
    .with_intake(intake.clone());
    let app = Arc::new(SubmitApp::new(
        submitter,
        WebhookPolicy::Secret(Secret::new(LOCAL_WEBHOOK_SECRET)),
    ));
    let settings = PollSettings {
        window: POLL_WINDOW,
        interval: opts.poll_interval,
        ..Default::default()
    };
    let poller = Arc::new(Poller::new(
        csbs,
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        ledger.clone(),
        settings,
    ));
    Ok(Local {
        sim,
        sink,
        queue,
        intake,
        app,
        poller,
        ledger,
    })
}

fn context(secs: u64) -> Context {
    let mut c = Context::default();
    c.request_id = uuid::Uuid::new_v4().to_string();
    c.deadline = (std::time::SystemTime::now() + Duration::from_secs(secs))
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    c
}

/// An API Gateway HTTP API (v2) payload, signed with the local secret.
pub fn http_v2_event(
    method: &str,
    path: &str,
    raw_query: &str,
    body: Option<&str>,
    signature: Option<String>,
) -> Value {
    let mut headers =
        json!({"content-type": "application/json", "host": "127.0.0.1", "user-agent": "csbs-deleter-local"});
    if let Some(s) = signature {
        headers["x-signature-256"] = json!(s);
    }
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local"},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": false
    });
    if let Some(b) = body {
        ev["body"] = json!(b);
    }
    ev
}

fn signed_post(body: &Value) -> Value {
    signed_http("POST", "/deletions", "", Some(&body.to_string()))
}

/// An HTTP API v2 payload signed as a client signs it (v2: method, path, canonical query, body).
fn signed_http(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    let canonical = webhook::canonical_raw_query(query);
    let signed = webhook::Signed {
        method,
        path,
        query: &canonical,
        body: body.unwrap_or("").as_bytes(),
    };
    let sig = webhook::sign(
        &Secret::new(LOCAL_WEBHOOK_SECRET),
        chrono::Utc::now().timestamp(),
        &signed,
    );
    http_v2_event(method, path, query, body, Some(sig))
}

fn sqs_event(bodies: &[Value]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            json!({
                "messageId": format!("local-{i}"), "receiptHandle": format!("rh-{i}"), "body": b.to_string(),
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-central-1:000000000000:csbs-deleter-intake", "awsRegion": "eu-central-1"
            })
        })
        .collect();
    json!({"Records": records})
}

fn describe(e: &OutcomeEvent) -> String {
    if let Some(p) = &e.plan {
        return format!(
            "event  {:<36} {:<10} selection: {} to delete, {} kept{}",
            e.outcome.detail_type(),
            e.task_id,
            p.counts.to_delete,
            p.counts.kept,
            if p.dry_run { " (dry run)" } else { "" }
        );
    }
    let what = match (&e.checkpoint_items, &e.backup_ids) {
        (Some(items), _) => format!("{} ({} items)", e.checkpoint_id.as_deref().unwrap_or("?"), items.len()),
        (None, Some(b)) => format!(
            "cbr {}({} backups)",
            e.checkpoint_id.as_deref().map(|c| format!("{c} ")).unwrap_or_default(),
            b.len()
        ),
        (None, None) => e.checkpoint_id.clone().unwrap_or_else(|| "?".into()),
    };
    let extra = match (&e.error, e.elapsed_seconds) {
        (Some(err), _) => format!(" — {}: {}", err.code, err.message),
        (None, Some(s)) if e.outcome != Outcome::Submitted => format!(" after {s:.1} s"),
        _ => String::new(),
    };
    format!("event  {:<36} {:<10} {what}{extra}", e.outcome.detail_type(), e.task_id)
}

/// Runs the demo; returns what happened.
pub async fn run(opts: LocalOptions) -> Result<LocalSummary, Box<dyn std::error::Error + Send + Sync>> {
    let started = Instant::now();
    let local = build(&opts).await?;
    let bars = MultiProgress::new();
    if !opts.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    // Above the progress bars on a terminal, plain lines otherwise.
    let say = |line: String| {
        if opts.progress {
            let _ = bars.println(line);
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "csbs-sim (in-process) on {} with demo project {DEMO_PROJECT}",
        local.sim.base_url()
    ));

    // Print every event as it is emitted.
    let mut rx = local.sink.subscribe();
    let printer_bars = bars.clone();
    let progress = opts.progress;
    let printer = tokio::spawn(async move {
        while let Ok(e) = rx.recv().await {
            let line = describe(&e);
            if progress {
                printer_bars.println(line).ok();
            } else {
                println!("{line}");
            }
        }
    });

    let ckpt = |n: u32| format!("c0ffee00-0000-4000-8000-{n:012}");
    // SQS-shaped: a batch with a plain request, an EventBridge envelope, a duplicate and an invalid one.
    let sqs_bodies = vec![
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(0), "request_id": "sqs-0", "context": {"ticket": "OPS-1"}}),
        json!({"version": "0", "id": "e1", "detail-type": "Delete Backup", "source": "com.example", "account": "000000000000",
               "time": "2026-01-01T00:00:00Z", "region": "eu-central-1", "resources": [],
               "detail": {"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(1), "request_id": "sqs-eb-1"}}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(0), "request_id": "sqs-0", "context": {"ticket": "OPS-1"}}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": "../../etc/passwd"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(6), "request_id": "sqs-failing"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(2)}),
        // CBR beside CSBS: every backup of a restore point (listed at submit time).
        json!({"service": "cbr", "project_id": DEMO_PROJECT, "checkpoint_id": crate::sim::demo_restore_point(0), "request_id": "sqs-cbr-rp0"}),
    ];
    say("submit ← SQS batch of 7 (one duplicate, one invalid, one CBR restore point)".into());
    let answer = dispatch::handle(&local.app, LambdaEvent::new(sqs_event(&sqs_bodies), context(30))).await?;
    say(format!("submit → batchItemFailures: {}", answer["batchItemFailures"]));
    // HTTP-shaped: signed webhook calls.
    for body in [
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(3), "checkpoint_items": [
            "be1a0000-0003-4000-8000-000000000000", "be1a0000-0003-4000-8000-000000000001", "be1a0000-0003-4000-8000-000000000002"]}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(4), "request_id": "http-4"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(5), "request_id": "http-5"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": ckpt(7), "request_id": "http-7"}),
        json!({"project_id": DEMO_PROJECT, "checkpoint_id": "c0ffee00-dead-4000-8000-000000000000", "request_id": "gone"}),
        json!({"service": "cbr", "project_id": DEMO_PROJECT, "backup_ids": ["cbb00000-0001-4000-8000-000000000000", "cbb00000-0002-4000-8000-000000000000"], "request_id": "http-cbr"}),
    ] {
        let answer = dispatch::handle(&local.app, LambdaEvent::new(signed_post(&body), context(30))).await?;
        say(format!(
            "submit ← HTTP POST /deletions → {} {}",
            answer["statusCode"],
            answer["body"].as_str().unwrap_or("")
        ));
    }

    // Delete by rule: "older than 30 days, keep the last 2 of the server" — a dry run over HTTP
    // first, then the real selection from SQS, which fans out through the intake queue.
    let select =
        json!({"project_id": DEMO_PROJECT, "resource_id": RETENTION_SERVER, "older_than_days": 30, "keep_last": 2});
    let answer = dispatch::handle(
        &local.app,
        LambdaEvent::new(signed_post(&json!({"select": select, "dry_run": true})), context(30)),
    )
    .await?;
    let plan: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("{}")).unwrap_or_default();
    say(format!(
        "submit ← HTTP POST /deletions (dry-run selection) → {} counts {} ({})",
        answer["statusCode"],
        plan["counts"],
        plan["plan"]
            .as_array()
            .map(|rows| rows
                .iter()
                .map(|r| format!(
                    "{} {}: {}",
                    r["name"].as_str().unwrap_or("?"),
                    r["action"].as_str().unwrap_or("?"),
                    r["reason"].as_str().unwrap_or("?")
                ))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    ));
    let answer = dispatch::handle(
        &local.app,
        LambdaEvent::new(
            sqs_event(&[json!({"select": select, "request_id": "retention"})]),
            context(30),
        ),
    )
    .await?;
    say(format!(
        "submit ← SQS selection (the same rule, for real) → batchItemFailures: {}; {} message(s) on the intake queue (targets, or a follow-up while the service is busy)",
        answer["batchItemFailures"],
        local.intake.len()
    ));
    drain_intake(&local).await?;

    // Progress per pending task: share of its backups gone, from the simulator's state.
    let tasks: Vec<(String, Vec<String>)> = local
        .queue
        .bodies()
        .iter()
        .filter_map(|b| serde_json::from_str::<crate::task::PendingTask>(b).ok())
        .map(|t| {
            (
                t.task_id.clone(),
                t.checkpoint_items
                    .clone()
                    .or_else(|| t.backup_ids.clone())
                    .unwrap_or_else(|| demo_items(&local.sim, t.checkpoint())),
            )
        })
        .collect();
    let style = ProgressStyle::with_template("{prefix:>38} [{bar:30}] {pos}/{len} {msg}")
        .expect("valid template")
        .progress_chars("=> ");
    let task_bars: Vec<(ProgressBar, Vec<String>)> = tasks
        .iter()
        .map(|(id, items)| {
            let pb = bars.add(ProgressBar::new(items.len() as u64));
            pb.set_style(style.clone());
            pb.set_prefix(id.clone());
            (pb, items.clone())
        })
        .collect();

    let mut poll_total = PollSummary::default();
    let mut tick = 0;
    // The schedule: one tick per accelerated "minute" (the poll window plus a pause).
    let tick_period = POLL_WINDOW + opts.poll_interval;
    while (!local.queue.is_empty() || !local.intake.is_empty()) && tick < 60 {
        tick += 1;
        drain_intake(&local).await?;
        let tick_start = Instant::now();
        let run = local
            .poller
            .run(tick_start + POLL_WINDOW + crate::poll::RECEIVE_RESERVE + Duration::from_secs(1));
        tokio::pin!(run);
        let summary = loop {
            tokio::select! {
                s = &mut run => break s,
                _ = tokio::time::sleep(Duration::from_millis(200)) => refresh(&local.sim, &task_bars),
            }
        };
        refresh(&local.sim, &task_bars);
        say(format!(
            "poll tick {tick}: checked {} completed {} failed {} timed out {} still pending {} (CSBS calls {})",
            summary.checked,
            summary.completed,
            summary.failed,
            summary.timed_out,
            summary.still_pending,
            summary.cloud_calls
        ));
        poll_total.add(&summary);
        if !local.queue.is_empty() || !local.intake.is_empty() {
            tokio::time::sleep_until(tick_start + tick_period).await;
        }
    }
    for (pb, _) in &task_bars {
        pb.finish();
    }

    let mut summary = LocalSummary {
        poll: poll_total,
        elapsed: started.elapsed(),
        ..Default::default()
    };
    for e in local.sink.events() {
        *summary.by_outcome.entry(e.outcome.as_str()).or_default() += 1;
    }
    if let Some(line) = show_a_record(&local).await? {
        say(line);
    }
    // Let the printer catch up before the summary.
    tokio::task::yield_now().await;
    if let Some(port) = opts.serve {
        serve(&local, port).await?;
    }
    printer.abort();
    Ok(summary)
}

/// One task's record in the decision ledger, read through the signed status-by-id route.
async fn show_a_record(local: &Local) -> Result<Option<String>, lambda_runtime::Error> {
    let decided = local.ledger.records();
    let Some(record) = decided.iter().find(|r| r.request_id.as_deref() == Some("http-4")) else {
        return Ok(None);
    };
    let path = format!("/deletions/{}", record.task_id);
    let answer = dispatch::handle(
        &local.app,
        LambdaEvent::new(signed_http("GET", &path, "", None), context(30)),
    )
    .await?;
    Ok(Some(format!(
        "ledger: {} records, {} decided; GET {path} → {} {}",
        decided.len(),
        decided.iter().filter(|r| r.state.is_terminal()).count(),
        answer["statusCode"],
        answer["body"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(160)
            .collect::<String>()
    )))
}

/// Submits what is visible on the intake queue (a selection's targets and follow-ups), ten
/// messages per SQS event, as the event source mapping would.
async fn drain_intake(local: &Local) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use crate::ports::pending::PendingQueue;
    loop {
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = local.intake.receive(10, Some(60), deadline).await?;
        if got.is_empty() {
            return Ok(());
        }
        let bodies: Vec<Value> = got
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap_or(Value::Null))
            .collect();
        let answer = dispatch::handle(&local.app, LambdaEvent::new(sqs_event(&bodies), context(30))).await?;
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .map(|f| f.iter().filter_map(|x| x["itemIdentifier"].as_str()).collect())
            .unwrap_or_default();
        // sqs_event numbers its records local-0, local-1, …
        let done: Vec<String> = got
            .iter()
            .enumerate()
            .filter(|(i, _)| !failed.contains(&format!("local-{i}").as_str()))
            .map(|(_, m)| m.receipt.clone())
            .collect();
        local.intake.delete(&done, deadline).await?;
        if done.len() < got.len() {
            return Ok(());
        }
    }
}

fn demo_items(sim: &RunningSim, checkpoint: &str) -> Vec<String> {
    let n: u32 = checkpoint.rsplit('-').next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let prefix = format!("be1a0000-{n:04}-");
    let mut items: Vec<String> = sim
        .sim
        .finished()
        .into_iter()
        .map(|f| f.item_id)
        .filter(|i| i.starts_with(&prefix))
        .collect();
    items.extend(sim.sim.statuses().into_keys().filter(|i| i.starts_with(&prefix)));
    items.sort();
    items.dedup();
    items
}

fn refresh(sim: &RunningSim, bars: &[(ProgressBar, Vec<String>)]) {
    let statuses = sim.sim.statuses();
    for (pb, items) in bars {
        let states: Vec<&str> = items
            .iter()
            .map(|i| statuses.get(i).map(String::as_str).unwrap_or("gone"))
            .collect();
        pb.set_position(states.iter().filter(|s| **s == "gone" || **s == "error").count() as u64);
        let msg = if states.contains(&"error") {
            "failed"
        } else if states.contains(&"deleting") {
            "deleting"
        } else if states.contains(&"waiting_delete") {
            "queued (5 deletions at a time)"
        } else if states.iter().all(|s| *s == "gone") {
            "gone"
        } else {
            "present"
        };
        pb.set_message(msg);
    }
}

/// Serves the HTTP API on 127.0.0.1 until Ctrl-C, polling in the background.
async fn serve(local: &Local, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let addr = listener.local_addr()?;
    let router = http_api(local.app.clone());
    let poller = local.poller.clone();
    let ticker = tokio::spawn(async move {
        loop {
            poller.run(Instant::now() + Duration::from_secs(5)).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    // Fresh backups for the user's own requests (the demo deleted the others).
    for n in 10..20u32 {
        let item = format!("be1a0000-{n:04}-4000-8000-000000000000");
        local.sim.sim.seed(
            DEMO_PROJECT,
            &format!("c0ffee00-0000-4000-8000-{n:012}"),
            &[crate::sim::ItemSeed::ok(item)],
        );
    }
    println!(
        "HTTP API on http://{addr} (webhook secret: {LOCAL_WEBHOOK_SECRET}); CSBS simulator on {}",
        local.sim.base_url()
    );
    println!("Project {DEMO_PROJECT} has fresh backups c0ffee00-0000-4000-8000-000000000010 to …019 to delete.");
    println!("Ctrl-C to stop.");
    let server = axum::serve(listener, router);
    tokio::select! {
        r = server => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    ticker.abort();
    Ok(())
}

/// The HTTP API of `app` as a real HTTP server's router: each request goes through the submit
/// handler as an API Gateway v2 payload (the local run; the CLI's tests).
pub fn http_api(app: Arc<SubmitApp>) -> axum::Router {
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let app = app.clone();
        async move { bridge(&app, req).await }
    })
}

/// One real HTTP request → an API Gateway v2 payload → the submit handler → the HTTP answer.
async fn bridge(app: &SubmitApp, req: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (http::StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let sig = parts
        .headers
        .get(webhook::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ev = http_v2_event(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        (!text.is_empty()).then_some(text.as_str()),
        sig,
    );
    match dispatch::handle(app, LambdaEvent::new(ev, context(30))).await {
        Ok(v) => {
            let status = http::StatusCode::from_u16(v["statusCode"].as_u64().unwrap_or(500) as u16)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (status, v["body"].as_str().unwrap_or("").to_string()).into_response();
            if let Some(h) = v["headers"].as_object() {
                for (k, val) in h {
                    if let (Ok(name), Some(Ok(value))) = (
                        http::HeaderName::try_from(k.as_str()),
                        val.as_str().map(http::HeaderValue::from_str),
                    ) {
                        resp.headers_mut().insert(name, value);
                    }
                }
            }
            resp
        }
        Err(e) => (http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
