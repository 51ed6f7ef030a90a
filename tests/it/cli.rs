//! The operator CLI end to end: the built `csbs-deleter` binary against the simulator (plan),
//! a moto queue (submit --queue-url) and the HTTP API served by the submit handler on loopback
//! (submit --url, status, sign). Exit codes 0 / 2 / 3 and one-line errors on stderr.

use std::process::Output;
use std::sync::Arc;

use crate::common::*;
use csbs_deleter::sim::{self, DEMO_PROJECT as P, ItemSeed};
use csbs_deleter::wiring;
use serde_json::{Value, json};

pub(crate) fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_csbs-deleter"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn seeds(n: usize) -> Vec<ItemSeed> {
    (0..n)
        .map(|i| ItemSeed {
            resource_id: Some("srv-1".into()),
            created_at: Some(
                (chrono::Utc::now() - chrono::Duration::days(40 + i as i64))
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string(),
            ),
            ..ItemSeed::ok(format!("cli-{i:02}"))
        })
        .collect()
}

async fn serve_http_api(app: wiring::SubmitApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = csbs_deleter::local::http_api(Arc::new(app));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_against_the_simulator() {
    let sim = sim().await;
    sim.sim.seed(P, "cp-cli", &seeds(4));
    let base = sim.base_url().to_string();
    let env = [
        ("CSBS_ENDPOINT", base.as_str()),
        ("CSBS_AK", sim::DEMO_AK),
        ("CSBS_SK", sim::DEMO_SK),
    ];
    let selection = json!({"select": {"project_id": P, "older_than_days": 30, "keep_last": 1}}).to_string();
    let out = cli(&["plan", &selection], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("ID") && table.contains("ACTION"), "{table}");
    assert_eq!(table.matches(" delete ").count(), 3, "{table}");
    assert!(table.contains("keep_last"), "{table}");
    assert!(
        table
            .trim_end()
            .ends_with("3 to delete, 1 kept, 4 considered, 4 listed"),
        "{table}"
    );
    let out = cli(&["plan", "--json", &selection], &env);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["counts"]["to_delete"], 3);
    assert_eq!(v["plan"].as_array().unwrap().len(), 4);
    assert!(v["selection_id"].as_str().unwrap().starts_with("sel_"));
    let deletes = sim.sim.calls().iter().filter(|c| c.route == sim::Route::Delete).count();
    assert_eq!(deletes, 0, "plan deletes nothing");
    // Refused input: exit 2 with the field named, on one line.
    let out = cli(
        &[
            "plan",
            &json!({"select": {"project_id": P, "older_than_dayz": 3}}).to_string(),
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("select.older_than_dayz") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    let out = cli(&["plan", &selection], &[("CSBS_AK", "x")]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing endpoint is refused input: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("CSBS_ENDPOINT"));
    // The service unreachable: exit 3.
    let out = cli(
        &["plan", &selection],
        &[
            ("CSBS_ENDPOINT", "http://127.0.0.1:9"),
            ("CSBS_AK", sim::DEMO_AK),
            ("CSBS_SK", sim::DEMO_SK),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // Credentials never reach the output.
    for o in [stdout(&out), stderr(&out)] {
        assert!(!o.contains(sim::DEMO_SK));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_status_and_sign_against_moto_and_the_http_api() {
    require_moto!();
    let sim = sim().await;
    sim.sim.seed(P, "cp-http", &[ItemSeed::ok("http-item")]);
    let infra = Infra::new(&aksk_json()).await;
    let app = wiring::submit_app(&infra.config(&sim, &[]), &infra.aws).await.unwrap();
    let api = serve_http_api(app).await;
    let aws_env = [
        ("AWS_ENDPOINT_URL", moto_endpoint()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
    ];
    let aws_env: Vec<(&str, &str)> = aws_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // To the queue: the message arrives as sent.
    let request = json!({"project_id": P, "checkpoint_id": "cp-http", "request_id": "from-cli"}).to_string();
    let out = cli(&["submit", "--queue-url", &infra.pending_url, &request], &aws_env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(serde_json::from_str::<Value>(&stdout(&out)).unwrap()["message_id"].is_string());
    let bodies = infra.pending_bodies().await;
    assert_eq!(bodies, [serde_json::from_str::<Value>(&request).unwrap()]);
    // Invalid requests are refused before anything is sent.
    let out = cli(
        &[
            "submit",
            "--queue-url",
            &infra.pending_url,
            r#"{"project_id": "p", "checkpoint_item": ["x"]}"#,
        ],
        &aws_env,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("checkpoint_item"), "{}", stderr(&out));
    // A queue that does not exist: refused.
    let missing = format!("{}/123456789012/no-such-queue", moto_endpoint());
    let out = cli(&["submit", "--queue-url", &missing, &request], &aws_env);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // To the HTTP API, signed with WEBHOOK_SECRET.
    let http_env = [("WEBHOOK_SECRET", WEBHOOK_SECRET)];
    let out = cli(&["submit", "--url", &api, &request], &http_env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(answer["status"], "submitted");
    let out = cli(&["submit", "--url", &api, &request], &[("WEBHOOK_SECRET", "wrong")]);
    assert_eq!(out.status.code(), Some(2), "401 is refused input");
    assert!(stderr(&out).contains("HTTP 401"));
    let out = cli(&["submit", "--url", &api, &request], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("WEBHOOK_SECRET"));
    let out = cli(&["submit", "--url", "http://127.0.0.1:9", &request], &http_env);
    assert_eq!(out.status.code(), Some(3), "no answer: unavailable");
    // A dry-run selection over HTTP prints its plan.
    let dry = json!({"select": {"project_id": P, "checkpoint_ids": ["cp-http"]}, "dry_run": true}).to_string();
    let out = cli(&["submit", "--url", &api, &dry], &http_env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()["status"],
        "planned"
    );

    // The task's record in the decision ledger (GET /deletions/{task_id}), by its id.
    let task_id = answer["task_id"].as_str().unwrap();
    let out = cli(&["status", "--url", &api, "--task", task_id], &http_env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let record: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (record["task_id"].as_str(), record["state"].as_str()),
        (Some(task_id), Some("submitted"))
    );
    let unknown = format!("tsk_{}", "0".repeat(32));
    let out = cli(&["status", "--url", &api, "--task", &unknown], &http_env);
    assert_eq!(out.status.code(), Some(2), "404 is refused input");
    assert!(stderr(&out).contains("unknown_task"), "{}", stderr(&out));
    let out = cli(&["status", "--url", &api, "--task", "tsk/../x"], &http_env);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an id that could leave the path is refused before any call"
    );

    let out = cli(
        &["status", "--url", &api, "--project-id", P, "--checkpoint-id", "cp-http"],
        &http_env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let state: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(state["checkpoint_id"], "cp-http");
    let out = cli(
        &[
            "status",
            "--url",
            &api,
            "--project-id",
            "bad/id",
            "--checkpoint-id",
            "c",
        ],
        &http_env,
    );
    assert_eq!(out.status.code(), Some(2));

    // sign: the header the API verifies, computed independently here.
    let out = cli(&["sign", "--time", "1700000000", "{\"a\":1}"], &http_env);
    assert_eq!(
        stdout(&out).trim(),
        signature_v2(WEBHOOK_SECRET, 1_700_000_000, "POST", "/deletions", "", b"{\"a\":1}")
    );
    let path = "/v3/0123456789abcdef0123456789abcdef/backups/b1";
    let out = cli(
        &["sign", "--time", "1700000000", "--method", "DELETE", "--path", path],
        &http_env,
    );
    assert_eq!(
        stdout(&out).trim(),
        signature_v2(WEBHOOK_SECRET, 1_700_000_000, "DELETE", path, "", b"")
    );
    let out = cli(
        &[
            "sign",
            "--time",
            "1700000000",
            "--method",
            "GET",
            "--path",
            "/deletions/status",
            "--query",
            "project_id=p&checkpoint_id=c",
        ],
        &http_env,
    );
    assert_eq!(
        stdout(&out).trim(),
        signature_v2(
            WEBHOOK_SECRET,
            1_700_000_000,
            "GET",
            "/deletions/status",
            "checkpoint_id=c&project_id=p",
            b""
        )
    );
    let out = cli(&["sign", "x"], &[]);
    assert_eq!(out.status.code(), Some(2));
    for o in [stdout(&out), stderr(&out)] {
        assert!(!o.contains(WEBHOOK_SECRET));
    }
    let help = cli(&["--help"], &[]);
    assert!(stdout(&help).contains("Examples:") && stdout(&help).contains("Exit codes"));
}
