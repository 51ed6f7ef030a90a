//! The pure decisions of poll (docs/DESIGN.md, "Outcome events"): a task's verdict from its
//! targets' states and the time, the verdict when the service could not be asked, and when a
//! task is checked next. Table tests in src/poll/tests.rs.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cloud::CloudError;
use crate::codes::ErrorCode;
use crate::outcome::{EventError, Outcome, OutcomeEvent};
use crate::target::TargetState;
use crate::task::PendingTask;

/// The verdict when CSBS could not be asked about a task: none (check again) before its
/// deadline; at or after it, Timed Out carrying the error, since waiting longer would outlive
/// the promise the deadline made.
pub fn unknown_verdict(task: &PendingTask, now: DateTime<Utc>, e: &CloudError) -> Option<OutcomeEvent> {
    if now < task.deadline {
        return None;
    }
    let error = EventError {
        code: e.code(),
        message: format!("could not check the deletion before its deadline: {e}"),
        http_status: e.http_status(),
    };
    Some(OutcomeEvent::for_task(task, Outcome::TimedOut, now, None, Some(error)))
}

/// What one check of a task decided, from what CSBS listed for its checkpoint.
#[derive(Debug)]
pub enum Check {
    Terminal(Box<OutcomeEvent>),
    /// Not finished; the DELETE is issued again for these targets (`None` = the checkpoint),
    /// which are still present and not being deleted.
    Pending {
        reissue: Vec<Option<String>>,
    },
}

/// The poll verdict, a pure function of the task, the states of its targets (read by the
/// service's own `state` module) and the time (docs/DESIGN.md, "Outcome events"): Completed
/// when every target is absent; Failed when every target is absent or failed and one failed
/// (or was refused at submit); Timed Out at the deadline with any target unfinished; otherwise
/// pending. `last_status` is the raw status of the least advanced unfinished target.
pub fn verdict(task: &PendingTask, states: &[(String, TargetState)], now: DateTime<Utc>) -> Check {
    let unfinished = states
        .iter()
        .filter(|(_, s)| s.unfinished_status().is_some())
        .min_by_key(|(_, s)| s.progress())
        .and_then(|(_, s)| s.unfinished_status())
        .map(str::to_string);
    let (failures, any_failed) = failures(task, states);
    let event = |outcome, last: &str, error| {
        Check::Terminal(Box::new(
            OutcomeEvent::for_task(task, outcome, now, Some(last.into()), error).with_states(states),
        ))
    };
    match unfinished {
        None if failures.is_empty() => event(Outcome::Completed, "absent", None),
        None => {
            let error = EventError {
                code: ErrorCode::DeletionFailed.into(),
                message: failures.join("; "),
                http_status: None,
            };
            event(
                Outcome::Failed,
                if any_failed { "error" } else { "absent" },
                Some(error),
            )
        }
        Some(last) if now >= task.deadline => {
            let mut message = format!(
                "not finished by the deadline {} (last status {last})",
                crate::task::rfc3339(task.deadline)
            );
            if !failures.is_empty() {
                message = format!("{message}; besides: {}", failures.join("; "));
            }
            let error = EventError {
                code: ErrorCode::DeletionTimedOut.into(),
                message,
                http_status: None,
            };
            event(Outcome::TimedOut, &last, Some(error))
        }
        Some(_) => Check::Pending {
            reissue: states
                .iter()
                .filter(|(_, s)| matches!(s, TargetState::Idle(_)))
                .map(|(id, _)| Some(id.clone()))
                .collect(),
        },
    }
}

/// Why a task failed, target by target: the deletions the service reported as failed, then
/// the DELETEs it refused at submit; and whether any deletion itself failed.
fn failures(task: &PendingTask, states: &[(String, TargetState)]) -> (Vec<String>, bool) {
    let failed: Vec<String> = states
        .iter()
        .filter_map(|(id, s)| match s {
            TargetState::Failed(reason) => Some(format!("{}: {reason}", describe(task, id))),
            _ => None,
        })
        .collect();
    let any_failed = !failed.is_empty();
    let service = task.service.display_name();
    let refused = task.refused_items.iter().map(|r| {
        format!(
            "{}: {service} refused the DELETE ({}, HTTP {}): {}",
            r.item_id,
            r.code,
            r.http_status.map_or("-".to_string(), |s| s.to_string()),
            r.message
        )
    });
    (failed.into_iter().chain(refused).collect(), any_failed)
}

/// A target as a failure names it: its id, and for a replica where it lives.
fn describe(task: &PendingTask, id: &str) -> String {
    match task.replicas.iter().find(|r| r.backup_id == id) {
        Some(r) => format!(
            "{id} (replica of {} in {}/{})",
            r.source_backup_id, r.region, r.project_id
        ),
        None => id.to_string(),
    }
}

/// The next check of an unfinished task: `interval`, stretched to 1 % of the task's age, never
/// past its deadline. SQS counts every receive towards the pending queue's `maxReceiveCount`
/// (at most 1000): checking a 24-hour task every 10 s would dead-letter it after 2.8 hours,
/// while with the stretch it needs about 550 receives. A 30-minute task is still checked at
/// least every 18 s.
pub fn next_check_secs(
    interval: Duration,
    submitted_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> u32 {
    let age = (now - submitted_at).num_seconds().max(0) as u64;
    let to_deadline = (deadline - now).num_seconds().max(1) as u64;
    let step_ms = check_step_secs(interval, age) * 1000;
    // Aligned to multiples of the step since the epoch: copies of one task (a redelivery checked
    // in another pass) reappear together and are collapsed in one pass, so they cannot drift
    // apart and reach different verdicts. SQS takes whole seconds: round up, so the message is
    // visible at most a second after the boundary.
    let wait_ms = until_boundary_ms(now.timestamp_millis().max(0) as u64, step_ms);
    // At most a day (deadlines are at most 24 h away); the SQS adapter caps it at SQS's 12 h.
    wait_ms.div_ceil(1000).clamp(1, to_deadline) as u32
}

/// The check period of a task `age_secs` old: `interval`, or 1 % of its age when longer (so a
/// finished deletion is seen at most that late: the functions' detection-delay metric).
pub fn check_step_secs(interval: Duration, age_secs: u64) -> u64 {
    interval.as_secs().max(age_secs / 100).max(1)
}

/// Milliseconds from `now_ms` to the next multiple of `step_ms`, at least half a step away.
pub(super) fn until_boundary_ms(now_ms: u64, step_ms: u64) -> u64 {
    let wait = step_ms - now_ms % step_ms;
    if wait * 2 < step_ms { wait + step_ms } else { wait }
}
