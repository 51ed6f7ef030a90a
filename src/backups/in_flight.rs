//! Checks read in bulk (docs/DESIGN.md, "Rules that keep it reliable"): the deletions one
//! project has in flight, from listings filtered by the in-flight statuses, so that a thousand
//! waiting tasks cost a page, not a thousand calls. A listing only ever shows a target as
//! still in flight; it never proves one gone (offset or marker paging over a set that changes
//! can skip rows, a page can be malformed, repeated or short): a target the listing does not
//! show is read on its own.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::cbr::BackupFilter;
use crate::cloud::CloudError;
use crate::csbs::ListFilter;
use crate::csbs::models::{CheckpointItem, status};
use crate::service::Service;
use crate::target::TargetState;

/// Rows per page of an in-flight listing (both services' maximum).
pub const PAGE: usize = super::LIST_PAGE as usize;

/// The tasks whose targets one set of listings can show: one service, region and project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group {
    pub service: Service,
    /// The region's name.
    pub region: String,
    pub project_id: String,
}

/// How a group's tasks are read in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The group's in-flight listings, then single reads of what they do not show.
    Bulk,
    /// A read (CSBS: a list by checkpoint; CBR: a GET per backup) per task.
    OneByOne,
}

/// The calls the in-flight listings of a group are expected to take when they last showed
/// `rows` rows: a page per thousand rows, plus the short last page, per listing (CSBS's
/// `status` takes one value: `waiting_delete` and `deleting` are listed apart; CBR's repeats).
pub fn listing_calls(service: Service, rows: usize) -> usize {
    let listings = match service {
        Service::Csbs => 2,
        Service::Cbr => 1,
    };
    rows / PAGE + listings
}

/// Bulk when the listings cost fewer calls than reading each of the group's `tasks` (known so
/// far in this pass, or in the last one) on its own — at least one call each; one by one
/// otherwise, where a single read also tells gone from failed without a second call.
pub fn choose_reader(service: Service, tasks: usize, expected_rows: usize) -> Reader {
    if tasks > listing_calls(service, expected_rows) {
        Reader::Bulk
    } else {
        Reader::OneByOne
    }
}

/// What a group's in-flight listings showed: each in-flight target's state, and the calls
/// the listings took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InFlight {
    shown: HashMap<String, TargetState>,
    /// Rows the listings returned (in flight or not): the next pass's expected size.
    pub rows: usize,
    pub calls: u64,
}

impl InFlight {
    /// The state of `id` when a listing showed it in flight; `None`: read it on its own.
    pub fn state_of(&self, id: &str) -> Option<&TargetState> {
        self.shown.get(id)
    }

    /// Keeps a CSBS item when it is in flight (the filter is checked again, whatever the
    /// service did with it), with the state the single read would give it.
    pub(super) fn add_csbs(&mut self, item: &CheckpointItem) {
        self.rows += 1;
        if in_flight(item.status()) && !item.deletion_failed() {
            self.shown
                .insert(item.id.clone(), crate::csbs::state::item_state(Some(item)));
        }
    }

    /// Keeps a top-level CBR backup of this project when it is in flight.
    pub(super) fn add_cbr(&mut self, backup: &crate::cbr::models::Backup) {
        self.rows += 1;
        if in_flight(backup.status()) && backup.is_top_level() {
            self.shown
                .insert(backup.id.clone(), crate::cbr::state::backup_state(Some(backup)));
        }
    }
}

impl super::Backups {
    /// The group's in-flight listings, page by page (CSBS: `waiting_delete`, then `deleting`;
    /// CBR: both in one). An error leaves the whole group to single reads.
    pub async fn list_in_flight(&self, group: &Group, deadline: Instant) -> Result<InFlight, CloudError> {
        let mut shown = InFlight::default();
        let region = Some(group.region.as_str());
        let project = group.project_id.as_str();
        match group.service {
            Service::Csbs => {
                let csbs = self.csbs_at(region);
                for st in [status::WAITING_DELETE, status::DELETING] {
                    let filter = ListFilter {
                        status: Some(st.into()),
                        limit: Some(super::LIST_PAGE),
                        ..Default::default()
                    };
                    csbs.for_each_page(project, &filter, deadline, |page| {
                        shown.calls += 1;
                        page.iter().for_each(|i| shown.add_csbs(i));
                    })
                    .await?;
                }
            }
            Service::Cbr => {
                let filter = BackupFilter {
                    status: Some(status::WAITING_DELETE.into()),
                    more_statuses: vec![status::DELETING.into()],
                    limit: Some(super::LIST_PAGE),
                    ..Default::default()
                };
                self.cbr_at(region)
                    .for_each_backup_page(project, &filter, deadline, |page| {
                        shown.calls += 1;
                        page.iter().for_each(|b| shown.add_cbr(b));
                    })
                    .await?;
            }
        }
        Ok(shown)
    }
}

/// `waiting_delete` or `deleting`: the statuses the listings filter by.
pub fn in_flight(s: &str) -> bool {
    s == status::WAITING_DELETE || s == status::DELETING
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_only_when_the_listings_cost_less_than_the_single_reads() {
        use Reader::*;
        use Service::*;
        // (service, tasks, rows the listings showed last, reader)
        let cases = [
            (Csbs, 0, 0, OneByOne),
            (Csbs, 1, 0, OneByOne),
            (Csbs, 2, 0, OneByOne),
            (Csbs, 3, 0, Bulk),
            (Cbr, 1, 0, OneByOne),
            (Cbr, 2, 0, Bulk),
            // 10,000 rows: 10 full pages and a short one (CSBS: and the deleting listing).
            (Csbs, 12, 10_000, OneByOne),
            (Csbs, 13, 10_000, Bulk),
            (Cbr, 11, 10_000, OneByOne),
            (Cbr, 12, 10_000, Bulk),
            (Cbr, 10_000, 10_000, Bulk),
            // A small group in a project with a big deletion queue: one by one is cheaper.
            (Cbr, 5, 50_000, OneByOne),
        ];
        for (service, tasks, rows, want) in cases {
            assert_eq!(choose_reader(service, tasks, rows), want, "{service:?} {tasks} {rows}");
        }
    }

    #[test]
    fn only_in_flight_rows_are_shown() {
        let mut shown = InFlight::default();
        let item = |id: &str, st: &str, fail_op: &str| CheckpointItem {
            id: id.into(),
            ..crate::csbs::state::test_item(st, fail_op)
        };
        shown.add_csbs(&item("w", "waiting_delete", ""));
        shown.add_csbs(&item("d", "deleting", ""));
        // The service ignored the filter: rows not in flight are not taken as shown.
        shown.add_csbs(&item("a", "available", ""));
        shown.add_csbs(&item("f", "error", "delete"));
        let backup = |id: &str, st: &str, parent: Option<&str>| crate::cbr::models::Backup {
            id: id.into(),
            status: Some(st.into()),
            parent_id: parent.map(str::to_string),
            ..Default::default()
        };
        shown.add_cbr(&backup("cw", "waiting_delete", None));
        shown.add_cbr(&backup("child", "deleting", Some("cw")));
        shown.add_cbr(&backup("ce", "error", None));
        assert_eq!(shown.rows, 7);
        assert_eq!(shown.state_of("w"), Some(&TargetState::Queued("waiting_delete".into())));
        assert_eq!(shown.state_of("d"), Some(&TargetState::Running("deleting".into())));
        assert_eq!(
            shown.state_of("cw"),
            Some(&TargetState::Queued("waiting_delete".into()))
        );
        for absent in ["a", "f", "child", "ce", "never-listed"] {
            assert_eq!(shown.state_of(absent), None, "{absent}");
        }
    }
}
