//! How CSBS items' states are read for the poll decision: one list call per check for the
//! task's checkpoint (docs/DESIGN.md, "CSBS behaviour").

use std::collections::HashMap;

use super::models::{CheckpointItem, status};
use crate::target::TargetState;
use crate::task::PendingTask;

/// The state of one item (`None`: not listed, so gone).
pub fn item_state(item: Option<&CheckpointItem>) -> TargetState {
    let Some(item) = item else {
        return TargetState::Gone;
    };
    if item.deletion_failed() {
        return TargetState::Failed(
            item.fail_reason()
                .unwrap_or_else(|| "CSBS reported the deletion as failed".into()),
        );
    }
    let s = item.status().to_string();
    match item.status() {
        status::DELETED => TargetState::Gone,
        // `error` without `fail_op: delete` is a failed backup, which is deletable.
        status::AVAILABLE | status::ERROR => TargetState::Idle(s),
        status::DELETING => TargetState::Running(s),
        status::WAITING_DELETE => TargetState::Queued(s),
        _ => TargetState::Busy(s),
    }
}

/// The states of a task's targets from what CSBS listed for its checkpoint: its items (an
/// item not listed is gone; refused ones are not waited for, their DELETE will not run), or
/// every listed item when the task deletes the whole checkpoint.
pub fn target_states(task: &PendingTask, items: &[CheckpointItem]) -> Vec<(String, TargetState)> {
    match &task.checkpoint_items {
        Some(ids) => {
            let by_id: HashMap<&str, &CheckpointItem> = items.iter().map(|i| (i.id.as_str(), i)).collect();
            ids.iter()
                .filter(|id| !task.is_refused(id))
                .map(|id| (id.clone(), item_state(by_id.get(id.as_str()).copied())))
                .collect()
        }
        None => items.iter().map(|i| (i.id.clone(), item_state(Some(i)))).collect(),
    }
}

/// An item `i` in `status` whose last failed operation is `fail_op` (reason `boom`): the
/// tables of src/csbs/state.rs and src/poll/tests.rs.
#[cfg(test)]
pub(crate) fn test_item(status: &str, fail_op: &str) -> CheckpointItem {
    CheckpointItem {
        id: "i".into(),
        status: Some(status.into()),
        extend_info: Some(crate::csbs::models::ExtendInfo {
            fail_op: Some(fail_op.into()),
            fail_reason: Some("boom".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: &str, fail_op: &str) -> CheckpointItem {
        test_item(status, fail_op)
    }

    #[test]
    fn item_states_follow_the_design_table() {
        let cases = [
            ("deleted", "", TargetState::Gone),
            ("error", "delete", TargetState::Failed("boom".into())),
            ("deleting", "", TargetState::Running("deleting".into())),
            ("waiting_delete", "", TargetState::Queued("waiting_delete".into())),
            ("available", "", TargetState::Idle("available".into())),
            ("error", "backup", TargetState::Idle("error".into())),
            ("protecting", "", TargetState::Busy("protecting".into())),
        ];
        for (status, fail_op, want) in cases {
            assert_eq!(item_state(Some(&item(status, fail_op))), want, "{status}/{fail_op}");
        }
        assert_eq!(item_state(None), TargetState::Gone);
    }
}
