//! The state of one deletion target (a CSBS item, a CBR backup) as the poll decision sees it.
//! Each service reads it its own way (`csbs::state`, `cbr::state`); the decision
//! (`poll::verdict`) is the same for both.

/// What one check found for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetState {
    /// Absent: deleted.
    Gone,
    /// The deletion failed for good, with the reason.
    Failed(String),
    /// Being deleted (raw status, e.g. `deleting`).
    Running(String),
    /// Waiting its turn in the service's deletion queue (`waiting_delete`).
    Queued(String),
    /// Busy with something else (`protecting`, `restoring`, …): a DELETE would be refused as
    /// busy, so none is re-issued; it is waited for.
    Busy(String),
    /// Present and not being deleted (`available`, or `error` without a failed deletion): the
    /// DELETE must be issued again.
    Idle(String),
}

impl TargetState {
    /// The raw status of an unfinished target; `None` when it is finished.
    pub fn unfinished_status(&self) -> Option<&str> {
        match self {
            TargetState::Running(s) | TargetState::Queued(s) | TargetState::Busy(s) | TargetState::Idle(s) => Some(s),
            TargetState::Gone | TargetState::Failed(_) => None,
        }
    }

    /// How far an unfinished target is: 0 not started, 1 queued, 2 running. `last_status`
    /// reports the least advanced target (docs/DESIGN.md, "CBR targets").
    pub fn progress(&self) -> u8 {
        match self {
            TargetState::Idle(_) | TargetState::Busy(_) => 0,
            TargetState::Queued(_) => 1,
            TargetState::Running(_) => 2,
            TargetState::Gone | TargetState::Failed(_) => 3,
        }
    }

    /// The state word of the status route: `present|deleting|queued|gone|failed`.
    pub fn route_state(&self) -> &'static str {
        match self {
            TargetState::Gone => "gone",
            TargetState::Failed(_) => "failed",
            TargetState::Running(_) => "deleting",
            TargetState::Queued(_) => "queued",
            TargetState::Busy(_) | TargetState::Idle(_) => "present",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_orders_not_started_before_queued_before_running() {
        let s = |st: &str| st.to_string();
        let order = [
            TargetState::Idle(s("available")),
            TargetState::Queued(s("waiting_delete")),
            TargetState::Running(s("deleting")),
            TargetState::Gone,
        ];
        assert!(order.windows(2).all(|w| w[0].progress() < w[1].progress()));
        assert_eq!(TargetState::Busy(s("protecting")).progress(), 0);
        assert_eq!(TargetState::Failed(s("x")).unfinished_status(), None);
        assert_eq!(
            TargetState::Queued(s("waiting_delete")).unfinished_status(),
            Some("waiting_delete")
        );
        assert_eq!(
            [
                TargetState::Gone,
                TargetState::Failed(s("x")),
                TargetState::Running(s("d")),
                TargetState::Queued(s("w")),
                TargetState::Idle(s("a"))
            ]
            .map(|t| t.route_state()),
            ["gone", "failed", "deleting", "queued", "present"]
        );
    }
}
