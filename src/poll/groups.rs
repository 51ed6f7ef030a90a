//! Checks read in bulk (docs/DESIGN.md, "Rules that keep it reliable"; the listings and the
//! pure choices are src/backups/in_flight.rs): a pass counts its tasks by (service, region,
//! project), and the tasks of a group worth it are checked against the group's in-flight
//! listings. The poller keeps each group's listings across passes (and warm invocations): the
//! full listing lasts about an interval per page, the deleting one is read again once per pass
//! and whenever it is older than the interval, so a target that ends is seen as soon as a
//! single read would have seen it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::Poller;
use super::pass::PassState;
use crate::backups::{Freshness, Group, InFlight, Reader, Refresh, choose_reader, refresh};
use crate::task::PendingTask;

/// One group's listings as the poller last read them.
#[derive(Default)]
struct Listings {
    view: Option<Arc<InFlight>>,
    full_at: Option<Instant>,
    latest_at: Option<Instant>,
    /// The pass that last read a listing of the group (or saw one fail).
    read_in_pass: Option<u64>,
    /// A listing failed in this pass: its tasks are read one by one until the next pass.
    failed_in_pass: Option<u64>,
}

/// One group: its tasks in the current and the last pass, its listings, and the checks since
/// the full listing of targets it did not know.
#[derive(Default)]
struct GroupState {
    tasks: Mutex<TaskCounts>,
    listings: Mutex<Listings>,
    /// Held by the one task reading the group's listings.
    reading: tokio::sync::Mutex<()>,
    unknown_since_full: AtomicUsize,
}

#[derive(Default, Clone, Copy)]
struct TaskCounts {
    pass: u64,
    this_pass: usize,
    last_pass: usize,
}

/// Every group the poller has seen.
#[derive(Default)]
pub(super) struct Groups(Mutex<HashMap<Group, Arc<GroupState>>>);

impl Groups {
    fn state(&self, group: &Group) -> Arc<GroupState> {
        self.0.lock().unwrap().entry(group.clone()).or_default().clone()
    }

    /// Counts a task pass `pass` checks, when the listings can show its targets.
    pub(super) fn count(&self, pass: u64, task: &PendingTask) {
        if !listable(task) {
            return;
        }
        let state = self.state(&group_of(task));
        let mut t = state.tasks.lock().unwrap();
        if t.pass != pass {
            // The first of this pass: the last pass's count is what it saw in all.
            *t = TaskCounts {
                pass,
                this_pass: 0,
                last_pass: if t.pass + 1 == pass { t.this_pass } else { 0 },
            };
        }
        t.this_pass += 1;
    }
}

/// Whether in-flight listings can show the task's targets: not a CSBS task that deletes a
/// whole checkpoint (its items are known only by listing the checkpoint, which its single read
/// does anyway).
fn listable(task: &PendingTask) -> bool {
    task.targets().iter().any(Option::is_some)
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
    /// is [`choose_reader`]'s, the listings' freshness [`refresh`]'s); `None`: the task is read
    /// on its own. One task refreshes a group's listings at a time and checks against what it
    /// read; the group's other tasks wait for the group's first refresh in a pass, and check
    /// against the listings before it during a later one (a listing never proves a target
    /// gone, so an older one only delays a check by an interval).
    pub(super) async fn in_flight(
        &self,
        pass: &PassState,
        task: &PendingTask,
        deadline: Instant,
    ) -> Option<Arc<InFlight>> {
        if !listable(task) {
            return None;
        }
        let group = group_of(task);
        let state = self.groups.state(&group);
        // The listings of an earlier pass tell nothing a task's last check did not: the group's
        // first refresh in a pass is waited for; later ones (a long pass) are not.
        let (wanted, view, read_this_pass) = self.wanted(&group, &state, pass.number)?;
        let view = if wanted == Refresh::Keep {
            view
        } else if view.is_some() && read_this_pass {
            match state.reading.try_lock() {
                Ok(_reading) => self.refreshed(&group, &state, pass.number, deadline).await,
                Err(_) => view,
            }
        } else {
            let _reading = state.reading.lock().await;
            self.refreshed(&group, &state, pass.number, deadline).await
        }?;
        // Only the task's own targets in the group's project count: a whole checkpoint or a
        // replica elsewhere is never in these listings, and a full one would not save its call
        // (src/backups/in_flight.rs, `is_new`).
        let home = |id: &&str| {
            let at = task.place_of(id);
            at.project_id == task.project_id && at.region == task.region.as_deref()
        };
        let unknown = task
            .targets()
            .into_iter()
            .flatten()
            .filter(|id| !task.is_refused(id) && home(id) && view.is_new(id, task.submitted_at))
            .count();
        state.unknown_since_full.fetch_add(unknown, Ordering::Relaxed);
        Some(view)
    }

    /// What [`refresh`] wants for the group now, its current view, and whether that view was
    /// read in this pass; `None`: one by one.
    fn wanted(&self, group: &Group, state: &GroupState, pass: u64) -> Option<(Refresh, Option<Arc<InFlight>>, bool)> {
        let tasks = {
            let t = state.tasks.lock().unwrap();
            t.this_pass.max(t.last_pass)
        };
        let l = state.listings.lock().unwrap();
        if l.failed_in_pass == Some(pass) {
            return None;
        }
        let rows = l.view.as_ref().map_or(0, |v| v.rows);
        let read_this_pass = l.read_in_pass == Some(pass);
        let now = Instant::now();
        let age = |at: Option<Instant>| at.map(|t| now.saturating_duration_since(t));
        let wanted = refresh(&Freshness {
            service: group.service,
            interval: self.settings.interval,
            full_age: age(l.full_at).filter(|_| l.view.is_some()),
            rows,
            latest_age: age(l.latest_at).unwrap_or_default(),
            read_this_pass,
            unknown_since_full: state.unknown_since_full.load(Ordering::Relaxed),
        });
        if choose_reader(group.service, tasks, rows, wanted) != Reader::Bulk {
            return None;
        }
        Some((wanted, l.view.clone(), read_this_pass))
    }

    /// Reads the listings [`refresh`] wants (asked again: another task may have just read
    /// them) while holding the group's `reading` lock; the view after it.
    async fn refreshed(
        &self,
        group: &Group,
        state: &GroupState,
        pass: u64,
        deadline: Instant,
    ) -> Option<Arc<InFlight>> {
        let (scope, view, _) = self.wanted(group, state, pass)?;
        if scope == Refresh::Keep {
            return view;
        }
        let listed = {
            let _slot = self.cloud_slots.acquire(Some(&group.region)).await;
            self.backups.list_in_flight(group, scope, deadline).await
        };
        // Ages count from the end of a read: a full listing of many pages that took longer
        // than the interval is not stale the moment it ends.
        let read_at = Instant::now();
        let mut l = state.listings.lock().unwrap();
        l.read_in_pass = Some(pass);
        match listed {
            Ok(listed) => {
                self.calls.fetch_add(listed.calls, Ordering::Relaxed);
                let next = match (&l.view, scope) {
                    (Some(view), Refresh::Deleting) => view.after_deleting(listed),
                    _ => {
                        state.unknown_since_full.store(0, Ordering::Relaxed);
                        l.full_at = Some(read_at);
                        InFlight::full(listed)
                    }
                };
                l.view = Some(Arc::new(next));
                l.latest_at = Some(read_at);
                l.view.clone()
            }
            Err(e) => {
                // Counted as one call; the group's tasks are read one by one for the rest of
                // the pass, and the next pass starts with a full listing.
                self.calls.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(project_id = %group.project_id, region = %group.region, error = %e, "in-flight listing failed; its tasks are read one by one");
                *l = Listings {
                    failed_in_pass: Some(pass),
                    read_in_pass: Some(pass),
                    ..Default::default()
                };
                None
            }
        }
    }
}
