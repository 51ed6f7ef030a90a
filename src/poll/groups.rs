//! Checks read in bulk (docs/DESIGN.md, "Rules that keep it reliable"): a pass counts its tasks
//! by (service, region, project), and the tasks of a group worth it are checked against the
//! group's in-flight listings, read once per pass and again when older than the check interval
//! (a long pass must not make a listing stale by more than one interval). What a pass learned
//! of each group (its tasks, its listing's rows) sizes the next pass's choice from its first
//! batch on.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::Poller;
use super::pass::PassState;
use crate::backups::{Group, InFlight, Reader, choose_reader};
use crate::task::PendingTask;

/// One group in one pass: its tasks so far, and its latest listing.
#[derive(Default)]
struct GroupInPass {
    tasks: usize,
    listing: Arc<tokio::sync::Mutex<Option<Listed>>>,
}

/// A listing as read: what it showed (`None`: it failed; single reads this pass).
struct Listed {
    shown: Option<Arc<InFlight>>,
}

/// The groups of one pass.
#[derive(Default)]
pub(super) struct PassGroups {
    groups: Mutex<HashMap<Group, GroupInPass>>,
}

impl PassGroups {
    /// Counts a task this pass checks.
    pub(super) fn count(&self, task: &PendingTask) {
        self.groups.lock().unwrap().entry(group_of(task)).or_default().tasks += 1;
    }

    fn get(&self, group: &Group) -> (usize, Arc<tokio::sync::Mutex<Option<Listed>>>) {
        let mut groups = self.groups.lock().unwrap();
        let g = groups.entry(group.clone()).or_default();
        (g.tasks, g.listing.clone())
    }
}

/// What the last pass of this invocation saw of each group: its tasks and listing rows.
#[derive(Default)]
pub(super) struct GroupMemory(Mutex<HashMap<Group, (usize, usize)>>);

impl GroupMemory {
    fn get(&self, group: &Group) -> (usize, usize) {
        self.0.lock().unwrap().get(group).copied().unwrap_or_default()
    }

    /// Keeps what a finished pass saw (a group without a listing keeps its last rows).
    pub(super) fn remember(&self, pass: &PassGroups) {
        let groups = pass.groups.lock().unwrap();
        let mut memory = self.0.lock().unwrap();
        for (group, g) in groups.iter() {
            let rows = match g.listing.try_lock().ok().and_then(|l| l.as_ref()?.shown.clone()) {
                Some(shown) => shown.rows,
                None => memory.get(group).map_or(0, |m| m.1),
            };
            memory.insert(group.clone(), (g.tasks, rows));
        }
    }
}

/// A task's group (its region already named: poll fills the default's name in).
pub(super) fn group_of(task: &PendingTask) -> Group {
    Group {
        service: task.service,
        region: task.region.clone().unwrap_or_default(),
        project_id: task.project_id.clone(),
    }
}

impl Poller {
    /// The in-flight listings of the task's group when the group is read in bulk (the choice
    /// is [`choose_reader`]'s); `None`: the task is read on its own.
    pub(super) async fn in_flight(
        &self,
        pass: &PassState,
        task: &PendingTask,
        deadline: Instant,
    ) -> Option<Arc<InFlight>> {
        let group = group_of(task);
        let (tasks, listing) = pass.groups.get(&group);
        let (last_tasks, last_rows) = self.groups.get(&group);
        if choose_reader(group.service, tasks.max(last_tasks), last_rows) != Reader::Bulk {
            return None;
        }
        // One listing at a time per group: the other tasks of the group wait for it.
        let mut listed = listing.lock().await;
        if let Some(l) = listed.as_ref() {
            return l.shown.clone();
        }
        let shown = {
            let _slot = self.cloud_slots.acquire(Some(&group.region)).await;
            self.backups.list_in_flight(&group, deadline).await
        };
        let shown = match shown {
            Ok(s) => {
                self.calls.fetch_add(s.calls, Ordering::Relaxed);
                Some(Arc::new(s))
            }
            Err(e) => {
                // Counted as one call; the group's tasks are read one by one instead.
                self.calls.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(project_id = %group.project_id, region = %group.region, error = %e, "in-flight listing failed; its tasks are read one by one");
                None
            }
        };
        *listed = Some(Listed { shown: shown.clone() });
        shown
    }
}
