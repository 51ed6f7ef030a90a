//! How a CBR backup's state is read for the poll decision (docs/DESIGN.md, "CBR targets"): one
//! GET per backup per check; for a backup in `error`, one extra call for its delete task.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::client::CbrClient;
use super::models::{Backup, OperationLog, log_status, status};
use crate::cloud::CloudError;
use crate::target::TargetState;

/// Delete tasks that began this long before the submission still count as ours: clocks of
/// AWS and the cloud differ, and the DELETE may have been sent a little before `submitted_at`
/// (the record's `SentTimestamp`) was taken.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// The state of a backup that is not in `error` (`None`: it does not exist).
pub fn backup_state(backup: Option<&Backup>) -> TargetState {
    let Some(b) = backup else {
        return TargetState::Gone;
    };
    let s = b.status().to_string();
    match b.status() {
        status::DELETING => TargetState::Running(s),
        status::WAITING_DELETE => TargetState::Queued(s),
        status::AVAILABLE | status::ERROR => TargetState::Idle(s),
        // protecting, restoring, their waiting forms, and anything undocumented: a DELETE
        // would be refused as busy; wait (the deadline bounds it).
        _ => TargetState::Busy(if s.is_empty() { "unknown".into() } else { s }),
    }
}

/// The state of a backup in `error`, from its delete tasks: Failed when the newest delete
/// task of this backup that began since the submission says `failed` or `timeout`; otherwise
/// the backup is treated like `available` (backups in `error` are deletable), so the DELETE is
/// re-issued. A failed task older than the submission (an earlier attempt) does not count.
pub fn error_state(backup_id: &str, logs: &[OperationLog], submitted_at: DateTime<Utc>) -> TargetState {
    let since = submitted_at - CLOCK_SKEW;
    let newest = logs
        .iter()
        .filter(|l| l.operation_type.as_deref().is_none_or(|t| t == "delete"))
        .filter(|l| l.deleted_backup_id().as_deref() == Some(backup_id))
        .filter_map(|l| Some((l.began()?, l)))
        .filter(|(t, _)| *t >= since)
        .max_by_key(|(t, _)| *t)
        .map(|(_, l)| l);
    match newest.and_then(|l| l.status.as_deref().map(|s| (s, l))) {
        Some((s @ (log_status::FAILED | log_status::TIMEOUT), l)) => TargetState::Failed(
            l.reason()
                .map(|r| format!("CBR delete task {} {s}: {r}", l.id))
                .unwrap_or_else(|| format!("CBR delete task {} {s}", l.id)),
        ),
        _ => TargetState::Idle(status::ERROR.into()),
    }
}

/// One backup as read: its state for the decision, the status CBR wrote, and the calls it took.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupRead {
    pub state: TargetState,
    pub status: Option<String>,
    pub calls: u64,
}

/// Reads one backup: a GET, and for a backup in `error` its delete tasks since `submitted_at`.
pub async fn read_backup(
    client: &CbrClient,
    project_id: &str,
    backup_id: &str,
    submitted_at: DateTime<Utc>,
    deadline: Instant,
) -> Result<BackupRead, CloudError> {
    let backup = client.get_backup(project_id, backup_id, deadline).await?;
    match backup {
        Some(b) if b.status() == status::ERROR => {
            let logs = client
                .delete_logs(
                    project_id,
                    b.resource_id.as_deref(),
                    submitted_at - CLOCK_SKEW,
                    deadline,
                )
                .await?;
            Ok(BackupRead {
                state: error_state(backup_id, &logs, submitted_at),
                status: b.status,
                calls: 2,
            })
        }
        other => Ok(BackupRead {
            state: backup_state(other.as_ref()),
            status: other.and_then(|b| b.status),
            calls: 1,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backup(status: &str) -> Backup {
        Backup {
            id: "b1".into(),
            status: Some(status.into()),
            ..Default::default()
        }
    }

    fn log(backup_id: &str, status: &str, started: &str) -> OperationLog {
        serde_json::from_value(json!({
            "id": format!("task-{status}-{started}"), "operation_type": "delete", "status": status,
            "started_at": started,
            "error_info": {"code": "BackupService.9910", "message": "Unknown error."},
            "extra_info": {"delete": {"backup_id": backup_id, "backup_name": "n"}}
        }))
        .unwrap()
    }

    #[test]
    fn statuses_map_to_states() {
        assert_eq!(backup_state(None), TargetState::Gone);
        assert_eq!(
            backup_state(Some(&backup("deleting"))),
            TargetState::Running("deleting".into())
        );
        assert_eq!(
            backup_state(Some(&backup("waiting_delete"))),
            TargetState::Queued("waiting_delete".into())
        );
        assert_eq!(
            backup_state(Some(&backup("available"))),
            TargetState::Idle("available".into())
        );
        for busy in [
            "protecting",
            "restoring",
            "waiting_protect",
            "waiting_restore",
            "frozen",
        ] {
            assert_eq!(
                backup_state(Some(&backup(busy))),
                TargetState::Busy(busy.into()),
                "{busy}"
            );
        }
        assert_eq!(
            backup_state(Some(&Backup::default())),
            TargetState::Busy("unknown".into())
        );
    }

    #[test]
    fn error_is_failed_only_with_a_matching_failed_delete_task_since_submission() {
        let submitted: DateTime<Utc> = "2026-01-01T10:00:00Z".parse().unwrap();
        let idle = TargetState::Idle("error".into());
        assert_eq!(error_state("b1", &[], submitted), idle, "no task: like available");
        let failed = [log("b1", "failed", "2026-01-01T10:00:05Z")];
        match error_state("b1", &failed, submitted) {
            TargetState::Failed(r) => assert!(
                r.contains("BackupService.9910: Unknown error.") && r.contains("failed"),
                "{r}"
            ),
            other => panic!("{other:?}"),
        }
        let timeout = [log("b1", "timeout", "2026-01-01T10:00:05.000+00:00")];
        assert!(matches!(error_state("b1", &timeout, submitted), TargetState::Failed(_)));
        // Another backup's task, an earlier attempt, a task still running: not ours / not failed.
        assert_eq!(
            error_state("b1", &[log("b2", "failed", "2026-01-01T10:00:05Z")], submitted),
            idle
        );
        assert_eq!(
            error_state("b1", &[log("b1", "failed", "2026-01-01T09:50:00Z")], submitted),
            idle
        );
        assert_eq!(
            error_state("b1", &[log("b1", "running", "2026-01-01T10:00:05Z")], submitted),
            idle
        );
        // Within the clock skew it counts; the newest task decides (a retry that succeeded).
        assert!(matches!(
            error_state("b1", &[log("b1", "failed", "2026-01-01T09:59:30Z")], submitted),
            TargetState::Failed(_)
        ));
        let retried = [
            log("b1", "failed", "2026-01-01T10:00:05Z"),
            log("b1", "success", "2026-01-01T10:01:00"),
        ];
        assert_eq!(error_state("b1", &retried, submitted), idle);
        // A task without a readable time cannot be placed after the submission.
        assert_eq!(error_state("b1", &[log("b1", "failed", "soon")], submitted), idle);
    }
}
