//! Checks read in bulk (docs/DESIGN.md, "Rules that keep it reliable"): the deletions one
//! project has in flight, from listings filtered by the in-flight statuses, so that a thousand
//! waiting tasks cost a page, not a thousand calls.
//!
//! Two listings, because at most five deletions of a user run at a time and only those can
//! end: the *full* one (`waiting_delete` and `deleting`: CSBS's `status` takes one value, so two
//! listings; CBR's repeats, so one) is the expensive one, pages of waiting rows; the
//! *deleting* one is a page of five. The deleting listing is read every check interval; the
//! full one about once per interval per page of it ([`refresh`]), so it costs about one call
//! per interval however long the backlog.
//!
//! A listing only ever shows a target as still in flight; it never proves one gone (offset or
//! marker paging over a set that changes can skip rows, a page can be malformed, repeated or
//! short). A target the listings do not show, or one that was seen `deleting` and is no longer
//! in the latest deleting listing, is read on its own.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
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

/// The calls the full in-flight listing of a group is expected to take when it last showed
/// `rows` rows: a page per thousand rows, plus the short last page, per listing (CSBS's
/// `status` takes one value: `waiting_delete` and `deleting` are listed apart; CBR's repeats).
pub fn listing_calls(service: Service, rows: usize) -> usize {
    let listings = match service {
        Service::Csbs => 2,
        Service::Cbr => 1,
    };
    rows / PAGE + listings
}

/// Bulk when the listings the group needs now (`refresh`: the full one, the deleting one, or
/// none while the last are fresh) cost fewer calls than reading each of the group's `tasks`
/// (known so far in this pass, or in the last one) on its own — at least one call each; one
/// by one otherwise, where a single read also tells gone from failed without a second call.
pub fn choose_reader(service: Service, tasks: usize, expected_rows: usize, refresh: Refresh) -> Reader {
    let cost = match refresh {
        Refresh::Full => listing_calls(service, expected_rows),
        // Five deletions run at a time: a page.
        Refresh::Deleting => 1,
        Refresh::Keep => 0,
    };
    if tasks > cost { Reader::Bulk } else { Reader::OneByOne }
}

/// Which listings a group's next check reads first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Both in-flight statuses, every page.
    Full,
    /// `deleting` only: the five that can end.
    Deleting,
    /// What was read is fresh enough.
    Keep,
}

/// What [`refresh`] weighs for a group, at the moment one of its tasks is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Freshness {
    pub service: Service,
    /// The check interval (`POLL_INTERVAL_SECONDS`).
    pub interval: Duration,
    /// Age of the last full listing (`None`: none yet, or it failed).
    pub full_age: Option<Duration>,
    /// Rows the last full listing showed.
    pub rows: usize,
    /// Age of the newest listing (full or deleting).
    pub latest_age: Duration,
    /// Whether a listing of the group was read in this pass.
    pub read_this_pass: bool,
    /// Checks since the full listing of targets it could not answer (submitted after it, or
    /// skipped by its paging): each costs a call of its own until the next full listing.
    pub unknown_since_full: usize,
}

/// The full listing again when there is none, when the checks it cannot answer have cost more
/// than it would, or when it is older than one interval per page (about one call per interval:
/// a target that went from waiting to gone between two deleting listings is seen within that);
/// else the deleting listing once per pass and whenever it is older than the interval (a pass
/// longer than the interval does not check against a stale one); else nothing.
pub fn refresh(f: &Freshness) -> Refresh {
    let Some(full_age) = f.full_age else {
        return Refresh::Full;
    };
    let pages = (f.rows / PAGE + 1) as u32;
    if f.unknown_since_full > listing_calls(f.service, f.rows) || full_age >= f.interval * pages {
        return Refresh::Full;
    }
    if !f.read_this_pass || f.latest_age >= f.interval {
        Refresh::Deleting
    } else {
        Refresh::Keep
    }
}

/// What one refresh read, by status; rows and calls counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listed {
    /// When the first page was asked for.
    pub started: DateTime<Utc>,
    waiting: HashMap<String, TargetState>,
    deleting: HashMap<String, TargetState>,
    /// Rows the listings returned (in flight or not).
    pub rows: usize,
    pub calls: u64,
}

impl Listed {
    /// Keeps a CSBS item when it is in flight (the filter is checked again, whatever the
    /// service did with it), with the state the single read would give it.
    fn add_csbs(&mut self, item: &CheckpointItem) {
        self.rows += 1;
        if !item.deletion_failed() {
            self.add(&item.id, item.status(), crate::csbs::state::item_state(Some(item)));
        }
    }

    /// Keeps a top-level CBR backup of this project when it is in flight.
    fn add_cbr(&mut self, backup: &crate::cbr::models::Backup) {
        self.rows += 1;
        if backup.is_top_level() {
            self.add(
                &backup.id,
                backup.status(),
                crate::cbr::state::backup_state(Some(backup)),
            );
        }
    }

    fn add(&mut self, id: &str, st: &str, state: TargetState) {
        let rows = match st {
            status::WAITING_DELETE => &mut self.waiting,
            status::DELETING => &mut self.deleting,
            _ => return,
        };
        rows.insert(id.to_string(), state);
    }
}

/// What a group's listings show now: the waiting rows of the last full listing, the latest
/// deleting rows, and the targets seen deleting since the full listing that the latest
/// deleting listing no longer shows (they ended, one way or the other: read them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InFlight {
    waiting: Arc<HashMap<String, TargetState>>,
    deleting: HashMap<String, TargetState>,
    left_deleting: HashSet<String>,
    /// Rows the last full listing showed: the next choice's expected size.
    pub rows: usize,
    /// When the full listing began: a target submitted since may be missing from it.
    pub full_started: DateTime<Utc>,
}

impl InFlight {
    /// The view of a full listing.
    pub fn full(listed: Listed) -> Self {
        InFlight {
            waiting: Arc::new(listed.waiting),
            deleting: listed.deleting,
            left_deleting: HashSet::new(),
            rows: listed.rows,
            full_started: listed.started,
        }
    }

    /// This view after a deleting listing: its rows replace the deleting ones, and what was
    /// deleting and is no longer is remembered as having left.
    pub fn after_deleting(&self, listed: Listed) -> Self {
        let mut left = self.left_deleting.clone();
        left.extend(self.deleting.keys().cloned());
        left.retain(|id| !listed.deleting.contains_key(id));
        InFlight {
            waiting: self.waiting.clone(),
            deleting: listed.deleting,
            left_deleting: left,
            rows: self.rows,
            full_started: self.full_started,
        }
    }

    /// The state of `id` when the listings show it in flight; `None`: read it on its own.
    pub fn state_of(&self, id: &str) -> Option<&TargetState> {
        if let Some(s) = self.deleting.get(id) {
            return Some(s);
        }
        if self.left_deleting.contains(id) {
            return None;
        }
        self.waiting.get(id)
    }

    /// Whether a check of `id`, submitted at `submitted_at`, is one the next full listing
    /// would save: the target was submitted after the full listing began and no listing showed
    /// it since. (One submitted before it that no listing shows has ended, or was skipped by
    /// the paging: a new full listing would not show it either.)
    pub fn is_new(&self, id: &str, submitted_at: DateTime<Utc>) -> bool {
        submitted_at >= self.full_started
            && !(self.deleting.contains_key(id) || self.left_deleting.contains(id) || self.waiting.contains_key(id))
    }
}

impl super::Backups {
    /// A group's in-flight listings, page by page: the full one (CSBS: `waiting_delete`, then
    /// `deleting`; CBR: both in one) or the deleting one alone.
    pub async fn list_in_flight(&self, group: &Group, scope: Refresh, deadline: Instant) -> Result<Listed, CloudError> {
        let statuses: &[&str] = match scope {
            Refresh::Deleting => &[status::DELETING],
            _ => &[status::WAITING_DELETE, status::DELETING],
        };
        let mut listed = Listed {
            started: Utc::now(),
            ..Default::default()
        };
        let region = Some(group.region.as_str());
        let project = group.project_id.as_str();
        match group.service {
            Service::Csbs => {
                let csbs = self.csbs_at(region);
                for st in statuses {
                    let filter = ListFilter {
                        status: Some(st.to_string()),
                        limit: Some(super::LIST_PAGE),
                        ..Default::default()
                    };
                    csbs.for_each_page(project, &filter, deadline, |page| {
                        listed.calls += 1;
                        page.iter().for_each(|i| listed.add_csbs(i));
                    })
                    .await?;
                }
            }
            Service::Cbr => {
                let filter = BackupFilter {
                    status: Some(statuses[0].into()),
                    more_statuses: statuses[1..].iter().map(|s| s.to_string()).collect(),
                    limit: Some(super::LIST_PAGE),
                    ..Default::default()
                };
                self.cbr_at(region)
                    .for_each_backup_page(project, &filter, deadline, |page| {
                        listed.calls += 1;
                        page.iter().for_each(|b| listed.add_cbr(b));
                    })
                    .await?;
            }
        }
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_only_when_the_listings_cost_less_than_the_single_reads() {
        use Reader::*;
        use Refresh::*;
        use Service::*;
        // (service, tasks, rows the listings showed last, listings needed now, reader)
        let cases = [
            (Csbs, 0, 0, Full, OneByOne),
            (Csbs, 1, 0, Full, OneByOne),
            (Csbs, 2, 0, Full, OneByOne),
            (Csbs, 3, 0, Full, Bulk),
            (Cbr, 1, 0, Full, OneByOne),
            (Cbr, 2, 0, Full, Bulk),
            // 10,000 rows: 10 full pages and a short one (CSBS: and the deleting listing).
            (Csbs, 12, 10_000, Full, OneByOne),
            (Csbs, 13, 10_000, Full, Bulk),
            (Cbr, 11, 10_000, Full, OneByOne),
            (Cbr, 12, 10_000, Full, Bulk),
            (Cbr, 10_000, 10_000, Full, Bulk),
            // A small group in a project with a big deletion queue: one by one is cheaper...
            (Cbr, 5, 50_000, Full, OneByOne),
            // ...unless its full listing is still fresh: then only the deleting page is read,
            (Cbr, 5, 50_000, Deleting, Bulk),
            (Csbs, 1, 50_000, Deleting, OneByOne),
            (Csbs, 2, 50_000, Deleting, Bulk),
            // or nothing at all.
            (Csbs, 1, 50_000, Keep, Bulk),
            (Csbs, 0, 50_000, Keep, OneByOne),
        ];
        for (service, tasks, rows, refresh, want) in cases {
            assert_eq!(
                choose_reader(service, tasks, rows, refresh),
                want,
                "{service:?} {tasks} {rows} {refresh:?}"
            );
        }
    }

    #[test]
    fn refresh_table() {
        use Refresh::*;
        let s = Duration::from_secs;
        let base = Freshness {
            service: Service::Csbs,
            interval: s(10),
            full_age: Some(s(5)),
            rows: 10_000,
            latest_age: s(5),
            read_this_pass: true,
            unknown_since_full: 0,
        };
        let cases = [
            ("fresh, read this pass", base, Keep),
            ("no full listing yet", Freshness { full_age: None, ..base }, Full),
            (
                "a new pass",
                Freshness {
                    read_this_pass: false,
                    ..base
                },
                Deleting,
            ),
            (
                "a long pass: older than the interval",
                Freshness {
                    latest_age: s(10),
                    ..base
                },
                Deleting,
            ),
            // 10,000 rows: 11 pages, so the full listing lasts 11 intervals.
            (
                "full listing 100 s old",
                Freshness {
                    full_age: Some(s(100)),
                    read_this_pass: false,
                    ..base
                },
                Deleting,
            ),
            (
                "full listing 110 s old",
                Freshness {
                    full_age: Some(s(110)),
                    ..base
                },
                Full,
            ),
            // One page: the full listing every interval, like the deleting one.
            (
                "small group",
                Freshness {
                    rows: 40,
                    full_age: Some(s(10)),
                    read_this_pass: false,
                    ..base
                },
                Full,
            ),
            (
                "small group, fresh",
                Freshness {
                    rows: 40,
                    full_age: Some(s(9)),
                    read_this_pass: false,
                    ..base
                },
                Deleting,
            ),
            // CSBS 10,000 rows cost 12 calls: the 13th unknown target makes the full cheaper.
            (
                "12 unknown",
                Freshness {
                    unknown_since_full: 12,
                    ..base
                },
                Keep,
            ),
            (
                "13 unknown",
                Freshness {
                    unknown_since_full: 13,
                    ..base
                },
                Full,
            ),
            (
                "12 unknown, CBR",
                Freshness {
                    service: Service::Cbr,
                    unknown_since_full: 12,
                    ..base
                },
                Full,
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(refresh(&f), want, "{name}");
        }
    }

    fn item(id: &str, st: &str, fail_op: &str) -> CheckpointItem {
        CheckpointItem {
            id: id.into(),
            ..crate::csbs::state::test_item(st, fail_op)
        }
    }

    #[test]
    fn only_in_flight_rows_are_shown() {
        let mut listed = Listed::default();
        listed.add_csbs(&item("w", "waiting_delete", ""));
        listed.add_csbs(&item("d", "deleting", ""));
        // The service ignored the filter: rows not in flight are not taken as shown.
        listed.add_csbs(&item("a", "available", ""));
        listed.add_csbs(&item("f", "error", "delete"));
        let backup = |id: &str, st: &str, parent: Option<&str>| crate::cbr::models::Backup {
            id: id.into(),
            status: Some(st.into()),
            parent_id: parent.map(str::to_string),
            ..Default::default()
        };
        listed.add_cbr(&backup("cw", "waiting_delete", None));
        listed.add_cbr(&backup("child", "deleting", Some("cw")));
        listed.add_cbr(&backup("ce", "error", None));
        assert_eq!(listed.rows, 7);
        let shown = InFlight::full(listed);
        assert_eq!(shown.state_of("w"), Some(&TargetState::Queued("waiting_delete".into())));
        assert_eq!(shown.state_of("d"), Some(&TargetState::Running("deleting".into())));
        assert_eq!(
            shown.state_of("cw"),
            Some(&TargetState::Queued("waiting_delete".into()))
        );
        let (before, after) = (shown.full_started - chrono::Duration::seconds(1), shown.full_started);
        for absent in ["a", "f", "child", "ce", "never-listed"] {
            assert_eq!(shown.state_of(absent), None, "{absent}");
            // Submitted after the listing began: new to it; before: ended (or skipped).
            assert!(shown.is_new(absent, after) && !shown.is_new(absent, before), "{absent}");
        }
        assert!(!shown.is_new("w", after));
    }

    #[test]
    fn a_target_that_left_the_deleting_listing_is_read_even_when_the_full_one_showed_it_waiting() {
        let listed = |rows: &[(&str, &str)]| {
            let mut l = Listed::default();
            rows.iter().for_each(|(id, st)| l.add_csbs(&item(id, st, "")));
            l
        };
        let queued = |s: &str| Some(TargetState::Queued(s.into()));
        let running = Some(TargetState::Running("deleting".into()));
        let full = InFlight::full(listed(&[
            ("a", "waiting_delete"),
            ("b", "waiting_delete"),
            ("c", "deleting"),
        ]));
        // a starts deleting, c ends.
        let second = full.after_deleting(listed(&[("a", "deleting")]));
        // a ends too; b is still waiting as far as the full listing knows.
        let third = second.after_deleting(listed(&[]));
        // (view, id, state shown, new to the listings when submitted after the full one)
        let cases = [
            (&full, "a", queued("waiting_delete"), false),
            (&full, "c", running.clone(), false),
            (&second, "a", running.clone(), false),
            (&second, "b", queued("waiting_delete"), false),
            (&second, "c", None, false),
            (&third, "a", None, false),
            (&third, "b", queued("waiting_delete"), false),
            (&third, "c", None, false),
            (&third, "new", None, true),
        ];
        for (view, id, want, new) in cases {
            assert_eq!(view.state_of(id).cloned(), want, "{id}");
            assert_eq!(view.is_new(id, third.full_started), new, "{id}");
        }
        // The full listing's rows carry through.
        assert_eq!(third.rows, 3);
    }
}
