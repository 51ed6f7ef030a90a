//! `status --watch`: a task's or a selection's progress read from the decision ledger (through
//! the HTTP API's `GET /deletions/{task_id}` and `GET /selections/{selection_id}`) until the
//! outcome. One line per change on stderr (a bar for a selection), the final answer on stdout;
//! exit code 1 when anything failed, timed out or was rejected.

use std::time::Duration;

use serde_json::Value;

use super::{Auth, EXIT_FAILED, Failure, http};

/// Answers that are not yet the outcome are read again after `every`.
pub async fn task(base: &str, auth: &Auth, task_id: &str, every: Duration) -> Result<String, Failure> {
    let mut last = String::new();
    loop {
        let body = http(base, auth, "GET", &format!("/deletions/{task_id}"), "", None).await?;
        let record: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let state = record["state"].as_str().unwrap_or("unknown").to_string();
        if state != last {
            eprintln!("{} {task_id} {state}", now());
            last = state.clone();
        }
        if state != "submitted" {
            return finish(body, state == "completed");
        }
        tokio::time::sleep(every).await;
    }
}

pub async fn selection(base: &str, auth: &Auth, selection_id: &str, every: Duration) -> Result<String, Failure> {
    let mut last = String::new();
    loop {
        let body = http(base, auth, "GET", &format!("/selections/{selection_id}"), "", None).await?;
        let progress: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let line = bar(&progress);
        if line != last {
            eprintln!("{} {selection_id} {line}", now());
            last = line;
        }
        if progress["done"].as_bool() == Some(true) {
            let t = &progress["tasks"];
            let bad = ["failed", "timed_out", "rejected"]
                .iter()
                .any(|k| t[*k].as_u64().unwrap_or(0) > 0);
            return finish(body, !bad && progress["state"] != "rejected");
        }
        tokio::time::sleep(every).await;
    }
}

fn finish(body: String, ok: bool) -> Result<String, Failure> {
    if ok {
        Ok(body)
    } else {
        Err(Failure {
            code: EXIT_FAILED,
            message: super::one_line(&body),
        })
    }
}

fn now() -> String {
    chrono::Utc::now().format("%H:%M:%S").to_string()
}

/// `[########------------] 12/30 · planned 30 · submitted 4 · completed 7 · failed 1 · timed
/// out 0 · rejected 0`: the bar counts decided targets of the planned ones.
pub fn bar(progress: &Value) -> String {
    const WIDTH: u64 = 20;
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let t = &progress["tasks"];
    let planned = n(&progress["planned"]["to_delete"]);
    let decided: u64 = ["completed", "failed", "timed_out", "rejected"]
        .iter()
        .map(|k| n(&t[*k]))
        .sum();
    let filled = (decided * WIDTH).checked_div(planned).unwrap_or(WIDTH).min(WIDTH);
    format!(
        "[{}{}] {decided}/{planned} · planned {planned} · submitted {} · completed {} · failed {} · timed out {} · rejected {}",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize),
        n(&t["submitted"]),
        n(&t["completed"]),
        n(&t["failed"]),
        n(&t["timed_out"]),
        n(&t["rejected"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bar_counts_decided_targets_of_the_planned_ones() {
        let cases = [
            (
                json!({"planned": {"to_delete": 30}, "tasks": {"submitted": 4, "completed": 7, "failed": 1}}),
                "[#####---------------] 8/30",
            ),
            (
                json!({"planned": {"to_delete": 2}, "tasks": {"completed": 2}}),
                "[####################] 2/2",
            ),
            (
                json!({"planned": {"to_delete": 0}, "tasks": {}}),
                "[####################] 0/0",
            ),
            (
                json!({"planned": null, "tasks": {"submitted": 1}}),
                "[####################] 0/0",
            ),
        ];
        for (progress, want) in cases {
            let b = bar(&progress);
            assert!(b.starts_with(want), "{b}");
        }
        assert!(bar(&json!({"planned": {"to_delete": 3}, "tasks": {"timed_out": 1}})).contains("timed out 1"));
    }
}
