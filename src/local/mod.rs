//! The local run: the whole workflow on embedded defaults, with no AWS account. The simulator
//! runs in-process with demo backups; requests go through the real submit entry point as SQS
//! and HTTP payloads; poll ticks run on an accelerated clock; each event is printed as it is
//! emitted. With `serve`, an HTTP API on 127.0.0.1 bridges real requests into the same handler
//! as API Gateway HTTP API (v2) payloads.

mod console;
mod payloads;
mod script;
mod serve;
mod world;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tokio::time::Instant;

pub use payloads::http_v2_event;
pub use serve::http_api;

use crate::adapters::memory::{MemoryLedger, MemoryQueue, MemorySink};
use crate::lambda::dispatch;
use crate::poll::{PollSummary, Poller};
use crate::sim::{DEMO_PROJECT, RunningSim};
use crate::wiring::SubmitApp;
use console::Console;
use payloads::{context, signed_http, sqs_event};

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
    /// The second region's simulator (the replica's).
    replica_region: RunningSim,
    sink: Arc<MemorySink>,
    queue: Arc<MemoryQueue>,
    /// Where selections fan out to; drained into submit between poll ticks, as the SQS event
    /// source mapping would.
    intake: Arc<MemoryQueue>,
    app: Arc<SubmitApp>,
    poller: Arc<Poller>,
    /// The decision ledger submit and poll share (in memory here, DynamoDB when deployed).
    ledger: Arc<MemoryLedger>,
}

/// Runs the demo; returns what happened.
pub async fn run(opts: LocalOptions) -> Result<LocalSummary, Box<dyn std::error::Error + Send + Sync>> {
    let started = Instant::now();
    let local = world::build(&opts).await?;
    let console = Console::new(opts.progress);
    console.say(format!(
        "csbs-sim (in-process) on {} with demo project {DEMO_PROJECT} (region {}); a second region {} on {}",
        local.sim.base_url(),
        world::HOME_REGION,
        world::REPLICA_REGION,
        local.replica_region.base_url()
    ));
    let printer = console.print_events(&local.sink);
    script::submit_requests(&local, &console).await?;
    script::select_by_rule(&local, &console).await?;
    drain_intake(&local).await?;
    let task_bars = console.task_bars(&local);
    let poll = poll_until_done(&local, &console, &task_bars, opts.poll_interval).await?;
    for (pb, _) in &task_bars {
        pb.finish();
    }
    let mut summary = LocalSummary {
        poll,
        elapsed: started.elapsed(),
        ..Default::default()
    };
    for e in local.sink.events() {
        *summary.by_outcome.entry(e.outcome.as_str()).or_default() += 1;
    }
    if let Some(line) = show_a_record(&local).await? {
        console.say(line);
    }
    // Let the printer catch up before the summary.
    tokio::task::yield_now().await;
    if let Some(port) = opts.serve {
        serve::serve(&local, port).await?;
    }
    printer.abort();
    Ok(summary)
}

/// The schedule: one poll tick per accelerated "minute" (the poll window plus a pause), the
/// intake drained before each, until nothing is pending (at most 60 ticks).
async fn poll_until_done(
    local: &Local,
    console: &Console,
    task_bars: &[(indicatif::ProgressBar, Vec<String>)],
    poll_interval: Duration,
) -> Result<PollSummary, Box<dyn std::error::Error + Send + Sync>> {
    let mut poll_total = PollSummary::default();
    let mut tick = 0;
    // The schedule: one tick per accelerated "minute" (the poll window plus a pause).
    let tick_period = POLL_WINDOW + poll_interval;
    while (!local.queue.is_empty() || !local.intake.is_empty()) && tick < 60 {
        tick += 1;
        drain_intake(local).await?;
        let tick_start = Instant::now();
        let run = local
            .poller
            .run(tick_start + POLL_WINDOW + crate::poll::RECEIVE_RESERVE + Duration::from_secs(1));
        tokio::pin!(run);
        let summary = loop {
            tokio::select! {
                s = &mut run => break s,
                _ = tokio::time::sleep(Duration::from_millis(200)) => console::refresh(&local.sim, task_bars),
            }
        };
        console::refresh(&local.sim, task_bars);
        console.say(format!(
            "poll tick {tick}: checked {} completed {} failed {} timed out {} still pending {} (cloud calls {})",
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
    Ok(poll_total)
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
