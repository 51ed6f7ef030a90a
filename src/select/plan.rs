//! The plan of a selection: a pure function of the selector, the listed backups and the
//! reference time (docs/DESIGN.md, "Selection requests"). The listing is filtered again here,
//! whatever the service was asked: a service that ignored a query filter must not widen a
//! deletion.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crate::backups::Candidate;
use crate::selection::Counts;
use crate::selection::selector::Selector;
use crate::service::Service;

/// What the plan does with a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Delete,
    Keep,
}

/// Why, in a word a table can show.
pub mod reason {
    /// Every filter matched.
    pub const MATCHED: &str = "matched";
    /// Among the newest `keep_last` of its resource.
    pub const KEEP_LAST: &str = "keep_last";
    /// Not old enough for `older_than_days` / `created_before`.
    pub const TOO_RECENT: &str = "too_recent";
    /// The backup's creation time is missing or unreadable: neither its age nor its rank
    /// among its resource's backups can be known, so no rule deletes it.
    pub const NO_CREATION_TIME: &str = "no_creation_time";
    /// `keep_last` is set and the backup names no resource: its newest cannot be known.
    pub const NO_RESOURCE: &str = "no_resource";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    #[serde(flatten)]
    pub backup: Candidate,
    pub action: Action,
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Oldest first (then by id): the order targets are sent in.
    pub rows: Vec<PlanRow>,
    pub counts: Counts,
}

impl Plan {
    pub fn targets(&self) -> impl Iterator<Item = &Candidate> {
        self.rows
            .iter()
            .filter(|r| r.action == Action::Delete)
            .map(|r| &r.backup)
    }
}

/// More backups matched than `max_backups` allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub count: usize,
    pub max: u32,
}

/// Whether a listed backup is within the selection's scope. Every filter is applied here even
/// when the listing was asked to apply it.
fn in_scope(s: &Selector, b: &Candidate) -> bool {
    let eq = |want: &Option<String>, have: &Option<String>| want.as_ref().is_none_or(|w| have.as_ref() == Some(w));
    b.status == s.status
        && eq(&s.resource_id, &b.resource_id)
        && eq(&s.vault_id, &b.vault_id)
        && s.checkpoint_ids
            .as_ref()
            .is_none_or(|ids| b.checkpoint_id.as_ref().is_some_and(|c| ids.contains(c)))
        && s.name_prefix
            .as_ref()
            .is_none_or(|p| b.name.as_deref().is_some_and(|n| n.starts_with(p.as_str())))
}

/// Newest first, ties by id. Only dated backups are ranked (see [`plan`]); an undated one
/// sorts before the dated ones so the plan lists it where a reader looks first.
fn newest_first(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    match (a.created, b.created) {
        (Some(x), Some(y)) => y.cmp(&x),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
    .then_with(|| b.id.cmp(&a.id))
}

/// Plans a selection. `listed` may hold backups outside the scope (a project-wide listing) and
/// duplicates (paging): both are dropped. `keep_last` ranks every backup of a resource with the
/// selected status — also those the other filters leave out — so "older than 30 days, keep the
/// last 3" never deletes one of the newest three.
pub fn plan(s: &Selector, listed: Vec<Candidate>, reference: DateTime<Utc>) -> Result<Plan, TooLarge> {
    let listed_count = listed.len();
    let mut seen = std::collections::HashSet::new();
    let listed: Vec<Candidate> = listed.into_iter().filter(|b| seen.insert(b.id.clone())).collect();
    let kept_by_rank = kept_by_rank(s, &listed);
    let cutoff = s.age_cutoff(reference);
    let mut rows: Vec<PlanRow> = listed
        .into_iter()
        .filter(|b| in_scope(s, b))
        .map(|b| {
            let no_resource = b.resource_id.as_deref().is_none_or(str::is_empty);
            let (action, reason) = match (cutoff, b.created) {
                // Never deleted by a rule: its age and its rank cannot be known.
                (_, None) => (Action::Keep, reason::NO_CREATION_TIME),
                _ if s.keep_last.is_some() && no_resource => (Action::Keep, reason::NO_RESOURCE),
                _ if kept_by_rank.contains(&b.id) => (Action::Keep, reason::KEEP_LAST),
                (None, Some(_)) => (Action::Delete, reason::MATCHED),
                (Some(c), Some(t)) if t < c => (Action::Delete, reason::MATCHED),
                (Some(_), Some(_)) => (Action::Keep, reason::TOO_RECENT),
            };
            PlanRow {
                backup: b,
                action,
                reason,
            }
        })
        .collect();
    rows.sort_by(|a, b| newest_first(&b.backup, &a.backup));
    let to_delete = rows.iter().filter(|r| r.action == Action::Delete).count();
    if to_delete > s.max_backups as usize {
        return Err(TooLarge {
            count: to_delete,
            max: s.max_backups,
        });
    }
    Ok(Plan {
        counts: Counts {
            listed: listed_count,
            considered: rows.len(),
            kept: rows.len() - to_delete,
            to_delete,
        },
        rows,
    })
}

/// The ids `keep_last` keeps: the newest `keep_last` of each resource, in the selector's status.
fn kept_by_rank(s: &Selector, listed: &[Candidate]) -> std::collections::HashSet<String> {
    let Some(n) = s.keep_last else {
        return Default::default();
    };
    let mut by_resource: HashMap<&str, Vec<&Candidate>> = HashMap::new();
    // A backup without a readable creation time takes no place: ranked as the newest, it
    // would push the newest dated backup out of the kept ones (docs/DESIGN.md, "Selection
    // requests"). It is kept anyway, by the plan.
    for b in listed.iter().filter(|b| b.status == s.status && b.created.is_some()) {
        if let Some(r) = b.resource_id.as_deref().filter(|r| !r.is_empty()) {
            by_resource.entry(r).or_default().push(b);
        }
    }
    by_resource
        .into_values()
        .flat_map(|mut v| {
            v.sort_by(|a, b| newest_first(a, b));
            v.into_iter().take(n as usize).map(|b| b.id.clone()).collect::<Vec<_>>()
        })
        .collect()
}

/// A planned backup as the fan-out carries it (src/selection/fanout.rs, `target_key`).
pub fn target_key(service: Service, b: &Candidate) -> String {
    crate::selection::fanout::target_key(service, b.checkpoint_id.as_deref(), &b.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selection::selector::SelectionRequest;
    use serde_json::{Value, json};

    fn selector(v: Value) -> Selector {
        SelectionRequest::from_value(&json!({ "select": v })).unwrap().select
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn backup(id: &str, resource: &str, created: &str) -> Candidate {
        Candidate::new(
            id.into(),
            Some("cp1".into()),
            Some(resource.into()),
            Some("v1".into()),
            Some(format!("manual-{id}")),
            "available".into(),
            Some(created.into()),
        )
    }

    fn ids(p: &Plan) -> Vec<&str> {
        p.targets().map(|b| b.id.as_str()).collect()
    }

    const NOW: &str = "2026-12-01T00:00:00Z";

    #[test]
    fn age_boundaries_are_strict() {
        let s = selector(json!({"project_id": "p", "older_than_days": 30}));
        let listed = vec![
            backup("exactly", "r", "2026-11-01T00:00:00Z"),
            backup("older", "r", "2026-10-31T23:59:59Z"),
            backup("newer", "r", "2026-11-01T00:00:01Z"),
            // CSBS writes times without a zone: UTC.
            backup("naive", "r", "2026-10-01T00:00:00.123456"),
        ];
        let p = plan(&s, listed, at(NOW)).unwrap();
        assert_eq!(
            ids(&p),
            ["naive", "older"],
            "oldest first; exactly 30 days is not older"
        );
        let exactly = p.rows.iter().find(|r| r.backup.id == "exactly").unwrap();
        assert_eq!((exactly.action, exactly.reason), (Action::Keep, reason::TOO_RECENT));
        let s = selector(json!({"project_id": "p", "created_before": "2026-11-01T00:00:00Z"}));
        let p = plan(&s, vec![backup("a", "r", "2026-11-01T00:00:00Z")], at(NOW)).unwrap();
        assert_eq!(p.counts.to_delete, 0);
    }

    #[test]
    fn keep_last_keeps_the_newest_per_resource_whatever_the_age() {
        let s = selector(json!({"project_id": "p", "older_than_days": 30, "keep_last": 2}));
        let listed = vec![
            backup("a1", "ra", "2026-01-01T00:00:00Z"),
            backup("a2", "ra", "2026-02-01T00:00:00Z"),
            backup("a3", "ra", "2026-03-01T00:00:00Z"),
            backup("a4", "ra", "2026-04-01T00:00:00Z"),
            backup("b1", "rb", "2026-01-01T00:00:00Z"),
            backup("b2", "rb", "2026-11-30T00:00:00Z"),
        ];
        let p = plan(&s, listed, at(NOW)).unwrap();
        assert_eq!(ids(&p), ["a1", "a2"]);
        let why = |id: &str| p.rows.iter().find(|r| r.backup.id == id).unwrap().reason;
        assert_eq!(why("a4"), reason::KEEP_LAST);
        assert_eq!(why("b1"), reason::KEEP_LAST, "the last two of rb, however old");
        assert_eq!(
            p.counts,
            Counts {
                listed: 6,
                considered: 6,
                kept: 4,
                to_delete: 2
            }
        );
    }

    #[test]
    fn keep_last_ranks_backups_the_other_filters_leave_out() {
        // The newest backup of the resource has another name: it still counts for keep_last.
        let s = selector(json!({"project_id": "p", "resource_id": "r", "name_prefix": "manual-o", "keep_last": 1}));
        let mut newest = backup("new", "r", "2026-11-01T00:00:00Z");
        newest.name = Some("auto-new".into());
        let listed = vec![
            newest,
            backup("old1", "r", "2026-01-01T00:00:00Z"),
            backup("old2", "r", "2026-02-01T00:00:00Z"),
        ];
        let p = plan(&s, listed, at(NOW)).unwrap();
        assert_eq!(ids(&p), ["old1", "old2"]);
        assert_eq!(p.counts.considered, 2, "the newest is out of scope: not a row");
    }

    #[test]
    fn unknown_time_or_resource_is_never_deleted_by_an_age_or_keep_rule() {
        let s = selector(json!({"project_id": "p", "older_than_days": 1}));
        let mut no_time = backup("t", "r", "x");
        no_time.created = None;
        let p = plan(
            &s,
            vec![no_time.clone(), backup("old", "r", "2020-01-01T00:00:00Z")],
            at(NOW),
        )
        .unwrap();
        assert_eq!(ids(&p), ["old"]);
        assert_eq!(
            p.rows.iter().find(|r| r.backup.id == "t").unwrap().reason,
            reason::NO_CREATION_TIME
        );
        let s = selector(json!({"project_id": "p", "all_in_project": true, "keep_last": 1}));
        let mut no_resource = backup("nr", "", "2020-01-01T00:00:00Z");
        no_resource.resource_id = None;
        let p = plan(&s, vec![no_resource, backup("x", "r", "2020-01-01T00:00:00Z")], at(NOW)).unwrap();
        assert_eq!(p.counts.to_delete, 0);
        // Without an age filter too: no selection deletes a backup whose time is unknown.
        let s = selector(json!({"project_id": "p", "resource_id": "r"}));
        let p = plan(&s, vec![no_time], at(NOW)).unwrap();
        assert!(ids(&p).is_empty());
        assert_eq!(p.rows[0].reason, reason::NO_CREATION_TIME);
    }

    #[test]
    fn an_undated_backup_takes_no_keep_last_place() {
        // keep_last 1 keeps the newest *dated* backup; the undated one is kept for its own
        // reason and pushes nothing out.
        let s = selector(json!({"project_id": "p", "resource_id": "r", "keep_last": 1}));
        let mut undated = backup("undated", "r", "x");
        undated.created = None;
        undated.created_at = None;
        let listed = vec![
            undated,
            backup("newest", "r", "2026-11-20T00:00:00Z"),
            backup("older", "r", "2026-10-01T00:00:00Z"),
        ];
        let p = plan(&s, listed, at(NOW)).unwrap();
        assert_eq!(ids(&p), ["older"]);
        let why = |id: &str| p.rows.iter().find(|r| r.backup.id == id).unwrap().reason;
        assert_eq!(
            (why("undated"), why("newest")),
            (reason::NO_CREATION_TIME, reason::KEEP_LAST)
        );
        assert_eq!((p.counts.kept, p.counts.to_delete), (2, 1));
    }

    #[test]
    fn every_filter_is_applied_to_the_listing_again() {
        let s = selector(
            json!({"service": "cbr", "project_id": "p", "vault_id": "v1", "resource_id": "r",
                                "checkpoint_ids": ["cp1"], "name_prefix": "manual-", "status": "available"}),
        );
        let good = backup("good", "r", "2020-01-01T00:00:00Z");
        let mut others = Vec::new();
        for f in ["vault", "resource", "checkpoint", "name", "status", "name_missing"] {
            let mut b = backup(f, "r", "2020-01-01T00:00:00Z");
            match f {
                "vault" => b.vault_id = Some("v2".into()),
                "resource" => b.resource_id = Some("r2".into()),
                "checkpoint" => b.checkpoint_id = Some("cp2".into()),
                "name" => b.name = Some("auto-1".into()),
                "status" => b.status = "error".into(),
                _ => b.name = None,
            }
            others.push(b);
        }
        others.push(good.clone());
        others.push(good);
        let p = plan(&s, others, at(NOW)).unwrap();
        assert_eq!(ids(&p), ["good"], "duplicates dropped, every mismatch left out");
        assert_eq!(p.counts.listed, 8);
    }

    #[test]
    fn status_filter_and_empty_result() {
        let s = selector(json!({"project_id": "p", "resource_id": "r", "status": "error"}));
        let mut failed = backup("f", "r", "2020-01-01T00:00:00Z");
        failed.status = "error".into();
        let p = plan(&s, vec![failed, backup("ok", "r", "2020-01-01T00:00:00Z")], at(NOW)).unwrap();
        assert_eq!(ids(&p), ["f"]);
        let p = plan(&s, Vec::new(), at(NOW)).unwrap();
        assert_eq!(p.counts, Counts::default());
    }

    #[test]
    fn max_backups_bounds_the_plan_after_keep_last() {
        let s = selector(json!({"project_id": "p", "resource_id": "r", "keep_last": 2, "max_backups": 3}));
        let listed: Vec<Candidate> = (1..=5)
            .map(|i| backup(&format!("b{i}"), "r", &format!("2026-0{i}-01T00:00:00Z")))
            .collect();
        assert_eq!(plan(&s, listed.clone(), at(NOW)).unwrap().counts.to_delete, 3);
        let mut more = listed;
        more.push(backup("b0", "r", "2025-01-01T00:00:00Z"));
        assert_eq!(plan(&s, more, at(NOW)), Err(TooLarge { count: 4, max: 3 }));
    }

    #[test]
    fn the_order_does_not_depend_on_the_listing_order() {
        let s = selector(json!({"project_id": "p", "all_in_project": true, "keep_last": 1}));
        let listed: Vec<Candidate> = (0..20)
            .map(|i| {
                backup(
                    &format!("b{i:02}"),
                    &format!("r{}", i % 3),
                    &format!("2026-01-{:02}T00:00:00Z", 1 + i % 7),
                )
            })
            .collect();
        let a = plan(&s, listed.clone(), at(NOW)).unwrap();
        let mut reversed = listed;
        reversed.reverse();
        assert_eq!(a, plan(&s, reversed, at(NOW)).unwrap());
    }

    #[test]
    fn target_keys() {
        let b = backup("item", "r", "2020-01-01T00:00:00Z");
        assert_eq!(target_key(Service::Csbs, &b), "cp1/item");
        assert_eq!(target_key(Service::Cbr, &b), "item");
    }
}
