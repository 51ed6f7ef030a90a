//! `csbs-deleter`, the operator CLI (feature `cli`; never linked into the Lambda binaries).
//! Exit codes a script can rely on: 0 ok, 2 refused input (invalid request or configuration,
//! an HTTP 4xx), 3 service unavailable (an HTTP 5xx, a network or AWS failure). Errors go to
//! stderr in one line. Secrets come from the environment only, never from flags.

use std::io::Read;
use std::time::Duration;

use chrono::Utc;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::ports::intake::{Intake, parse_value};
use crate::secret::Secret;
use crate::wiring;

mod client;
mod plan;
pub mod sigv4;
mod watch;

use client::sign;
pub(crate) use client::{Auth, http, one_line};
use plan::plan;

pub const EXIT_OK: i32 = 0;
/// `status --watch`: the deletion (or a target of the selection) failed, timed out or was
/// rejected.
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_REFUSED: i32 = 2;
pub const EXIT_UNAVAILABLE: i32 = 3;

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

pub(crate) fn refused(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_REFUSED,
        message: message.into(),
    }
}

pub(crate) fn unavailable(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_UNAVAILABLE,
        message: message.into(),
    }
}

const EXAMPLES: &str = r#"Examples:
  # What would a nightly retention delete? (CSBS_ENDPOINT, CSBS_AK / CSBS_SK from the environment)
  csbs-deleter plan '{"select": {"project_id": "0123…", "older_than_days": 30, "keep_last": 3}}'
  csbs-deleter plan --json @selection.json

  # Submit a deletion or a selection to the intake queue, or to the HTTP API (WEBHOOK_SECRET)
  csbs-deleter submit --queue-url https://sqs.eu-central-1.amazonaws.com/123456789012/intake @request.json
  csbs-deleter submit --url https://abc.execute-api.eu-central-1.amazonaws.com '{"project_id": "…", "checkpoint_id": "…"}'

  # A task's recorded outcome (the decision ledger), or the live state of a checkpoint or CBR backups
  csbs-deleter status --url https://… --task tsk_0f3c…
  csbs-deleter status --url https://… --project-id 0123… --checkpoint-id 2eef…
  csbs-deleter status --url https://… --project-id 0123… --service cbr --backup-id cbb0…

  # Watch a deletion, or a selection's progress, until the outcome (exit 1 if anything failed)
  csbs-deleter status --url https://… --task tsk_0f3c… --watch
  csbs-deleter status --url https://… --selection sel_9a1b… --watch

  # An API deployed with HttpAuth=iam: SigV4 from the standard AWS credential chain
  csbs-deleter submit --url https://abc.execute-api.eu-central-1.amazonaws.com --iam @request.json

  # The X-Signature-256 header (v2: method, path, query and body; WEBHOOK_SECRET from the environment)
  echo -n '{"project_id": "…"}' | csbs-deleter sign -
  csbs-deleter sign --method DELETE --path /v3/0123…/backups/cbb0…
  csbs-deleter sign --method GET --path /deletions/status --query 'project_id=0123…&checkpoint_id=2eef…'

Exit codes: 0 ok, 1 a watched deletion failed, timed out or was rejected, 2 refused input,
3 service unavailable."#;

/// Operate csbs-deleter: plan selections, submit requests, read states, sign webhooks.
#[derive(Parser, Debug)]
#[command(name = "csbs-deleter", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Dry-run a selection against CSBS / CBR directly, with local credentials (the
    /// configuration variables of docs/DESIGN.md); nothing is deleted or sent.
    Plan {
        /// The selection request: JSON text, @file, or - for stdin.
        request: String,
        /// Print the plan as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Submit a deletion request or a selection to the intake queue or the HTTP API.
    Submit {
        /// The request: JSON text, @file, or - for stdin.
        request: String,
        /// The intake queue's URL (AWS credentials and region from the environment).
        #[arg(long, conflicts_with = "url", required_unless_present = "url")]
        queue_url: Option<String>,
        /// The HTTP API's base URL; the body is signed with WEBHOOK_SECRET.
        #[arg(long)]
        url: Option<String>,
        /// Sign with AWS SigV4 (an API deployed with HttpAuth=iam), credentials from the
        /// standard AWS chain, instead of WEBHOOK_SECRET.
        #[arg(long, requires = "url")]
        iam: bool,
    },
    /// The live state of a checkpoint's backups, or of CBR backups (the status route).
    Status {
        /// The HTTP API's base URL; the query is signed with WEBHOOK_SECRET.
        #[arg(long)]
        url: String,
        /// Sign with AWS SigV4 (HttpAuth=iam) instead of WEBHOOK_SECRET.
        #[arg(long)]
        iam: bool,
        /// A task's record in the decision ledger (`GET /deletions/{task_id}`: no call to
        /// CSBS or CBR), instead of the live state of backups.
        #[arg(long, conflicts_with_all = ["project_id", "checkpoint_id", "items", "backup_ids", "selection"])]
        task: Option<String>,
        /// A selection's progress from the decision ledger (`GET /selections/{selection_id}`).
        #[arg(long, conflicts_with_all = ["project_id", "checkpoint_id", "items", "backup_ids"])]
        selection: Option<String>,
        /// With --task or --selection: show progress until the outcome (exit 1 when anything
        /// failed, timed out or was rejected).
        #[arg(long)]
        watch: bool,
        /// Seconds between reads while watching.
        #[arg(long, default_value_t = 5)]
        every: u64,
        #[arg(long, required_unless_present_any = ["task", "selection"])]
        project_id: Option<String>,
        /// `csbs` (default) or `cbr`.
        #[arg(long, default_value = "csbs")]
        service: String,
        #[arg(long)]
        checkpoint_id: Option<String>,
        /// CSBS: one item of the checkpoint (repeatable).
        #[arg(long = "item")]
        items: Vec<String>,
        /// CBR: a backup (repeatable).
        #[arg(long = "backup-id")]
        backup_ids: Vec<String>,
    },
    /// Print the X-Signature-256 header (v2) for one request (WEBHOOK_SECRET from the environment).
    Sign {
        /// The body: text, @file, or - for stdin (signed byte for byte); none for a DELETE or GET.
        body: Option<String>,
        /// The request's method.
        #[arg(long, default_value = "POST")]
        method: String,
        /// The route's path, without a stage prefix (`/deletions`, `/v3/{project}/backups/{id}`).
        #[arg(long, default_value = "/deletions")]
        path: String,
        /// The query string as sent, without `?` (it is signed in canonical form).
        #[arg(long, default_value = "")]
        query: String,
        /// Unix time to sign at (default: now).
        #[arg(long)]
        time: Option<i64>,
    },
}

/// Text, `@file` or `-` (stdin).
fn read_arg(arg: &str) -> Result<String, Failure> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| refused(format!("cannot read stdin: {e}")))?;
        Ok(s)
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| refused(format!("cannot read {path}: {e}")))
    } else {
        Ok(arg.to_string())
    }
}

fn parse_request(text: &str) -> Result<(Value, Intake), Failure> {
    let v = crate::request::parse_json(text.as_bytes(), "the request")
        .map_err(|e| refused(format!("refused ({}): {}", e.code, e.message)))?;
    let intake = parse_value(&v).map_err(|e| refused(format!("refused ({}): {}", e.code, e.message)))?;
    Ok((v, intake))
}

fn webhook_secret() -> Result<Secret, Failure> {
    match std::env::var("WEBHOOK_SECRET") {
        Ok(s) if !s.is_empty() => Ok(Secret::new(s)),
        _ => Err(refused(
            "WEBHOOK_SECRET is not set: the HTTP API takes signed requests only",
        )),
    }
}

/// Runs a command; `Ok` holds what to print on stdout.
pub async fn run(cli: Cli) -> Result<String, Failure> {
    match cli.command {
        Command::Plan { request, json } => plan(&read_arg(&request)?, json).await,
        Command::Submit {
            request,
            queue_url,
            url,
            iam,
        } => submit(&read_arg(&request)?, queue_url, url, iam).await,
        Command::Status {
            url,
            iam,
            task,
            selection,
            watch,
            every,
            project_id,
            service,
            checkpoint_id,
            items,
            backup_ids,
        } => match (task, selection) {
            (Some(task), _) => follow(&url, iam, Followed::Task(&task), watch.then_some(every)).await,
            (None, Some(s)) => follow(&url, iam, Followed::Selection(&s), watch.then_some(every)).await,
            (None, None) if watch => Err(refused("--watch follows a --task or a --selection")),
            (None, None) => {
                let checkpoint = checkpoint_id.as_deref();
                live_status(
                    &url,
                    iam,
                    &service,
                    project_id.as_deref(),
                    checkpoint,
                    &items,
                    &backup_ids,
                )
                .await
            }
        },
        Command::Sign {
            body,
            method,
            path,
            query,
            time,
        } => {
            let body = body.as_deref().map(read_arg).transpose()?.unwrap_or_default();
            let t = time.unwrap_or_else(|| Utc::now().timestamp());
            Ok(sign(&webhook_secret()?, t, &method, &path, &query, body.as_bytes()))
        }
    }
}

/// `status` of backups no task is known for: their live state from the service.
async fn live_status(
    url: &str,
    iam: bool,
    service: &str,
    project_id: Option<&str>,
    checkpoint_id: Option<&str>,
    items: &[String],
    backup_ids: &[String],
) -> Result<String, Failure> {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if service != "csbs" {
        query.push(("service", service));
    }
    query.push(("project_id", project_id.unwrap_or_default()));
    if let Some(c) = checkpoint_id {
        query.push(("checkpoint_id", c));
    }
    query.extend(items.iter().map(|i| ("checkpoint_items", i.as_str())));
    query.extend(backup_ids.iter().map(|b| ("backup_id", b.as_str())));
    let auth = Auth::for_url(iam, url).await?;
    // RFC 3986 encoding (a space is %20, never +): what SigV4 and the v2 signature sign.
    let query = crate::webhook::canonical_query(query);
    http(url, &auth, "GET", "/deletions/status", &query, None).await
}

/// `submit`: a request or a selection to the intake queue or over HTTP.
async fn submit(text: &str, queue_url: Option<String>, url: Option<String>, iam: bool) -> Result<String, Failure> {
    let (value, intake) = parse_request(text)?;
    if matches!(intake, Intake::Step(_)) {
        return Err(refused("fan_out steps are sent by the selection workflow, not by hand"));
    }
    match (queue_url, url) {
        (Some(q), _) => submit_to_queue(&q, &value).await,
        (None, Some(u)) => {
            let auth = Auth::for_url(iam, &u).await?;
            http(&u, &auth, "POST", "/deletions", "", Some(&value.to_string())).await
        }
        (None, None) => Err(refused("give --queue-url or --url")),
    }
}

/// What `status --task` / `status --selection` follows.
#[derive(Clone, Copy)]
enum Followed<'a> {
    Task(&'a str),
    Selection(&'a str),
}

/// A task's or a selection's status, once or (`every` seconds) until it is done.
async fn follow(url: &str, iam: bool, what: Followed<'_>, every: Option<u64>) -> Result<String, Failure> {
    // Ids go into a path: only an id's own characters pass.
    let (field, id) = match what {
        Followed::Task(id) => ("task", id),
        Followed::Selection(id) => ("selection", id),
    };
    crate::ids::validate_id(field, id).map_err(|e| refused(e.to_string()))?;
    let auth = Auth::for_url(iam, url).await?;
    let every = every.map(|s| Duration::from_secs(s.max(1)));
    match (what, every) {
        (Followed::Task(task), Some(every)) => watch::task(url, &auth, task, every).await,
        (Followed::Task(task), None) => http(url, &auth, "GET", &format!("/deletions/{task}"), "", None).await,
        (Followed::Selection(s), Some(every)) => watch::selection(url, &auth, s, every).await,
        (Followed::Selection(s), None) => http(url, &auth, "GET", &format!("/selections/{s}"), "", None).await,
    }
}

async fn submit_to_queue(queue_url: &str, body: &Value) -> Result<String, Failure> {
    let aws = wiring::aws_from_env().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        sqs.send_message()
            .queue_url(queue_url)
            .message_body(body.to_string())
            .send(),
    )
    .await
    .map_err(|_| unavailable("SQS did not answer within 60 s"))?
    .map_err(|e| {
        let text = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
        // A queue that does not exist or refuses us is the caller's to fix.
        if text.contains("NonExistentQueue") || text.contains("AccessDenied") || text.contains("InvalidParameter") {
            refused(format!("SQS refused the message: {text}"))
        } else {
            unavailable(format!("SQS failed: {text}"))
        }
    })?;
    Ok(json!({"message_id": out.message_id()}).to_string())
}
