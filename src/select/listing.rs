//! Lists what a selection may choose from, paged, with the narrowest query the service takes
//! (the plan filters everything again: src/selection/plan.rs). With `keep_last`, the listing
//! is never narrowed to the selected checkpoints or vault: the newest backups of a resource must
//! be seen to be kept.

use tokio::time::Instant;

use super::plan::Candidate;
use crate::cbr::{BackupFilter, CbrClient};
use crate::cloud::CloudError;
use crate::csbs::models::CheckpointItem;
use crate::csbs::{CsbsClient, ListFilter};
use crate::ids::validate_id;
use crate::selection::selector::Selector;
use crate::service::Service;

/// Page size of the selection listings (both services' documented maximum): planning 10,000
/// backups takes 11 list calls.
pub const LIST_PAGE: u32 = 1000;

/// The backups a selection may choose from.
pub async fn list_candidates(
    csbs: &CsbsClient,
    cbr: &CbrClient,
    s: &Selector,
    deadline: Instant,
) -> Result<Vec<Candidate>, CloudError> {
    // Checkpoints narrow the query only without keep_last; None = one project-wide query.
    let scopes: Vec<Option<String>> = match (&s.checkpoint_ids, s.keep_last) {
        (Some(ids), None) => ids.iter().cloned().map(Some).collect(),
        _ => vec![None],
    };
    let mut out = Vec::new();
    for checkpoint_id in scopes {
        match s.service {
            Service::Csbs => {
                let filter = ListFilter {
                    checkpoint_id,
                    status: Some(s.status.clone()),
                    resource_id: s.resource_id.clone(),
                    limit: Some(LIST_PAGE),
                    marker: None,
                };
                // Page by page: only the candidate's few fields are kept of each item.
                csbs.for_each_page(&s.project_id, &filter, deadline, |page| {
                    out.extend(page.into_iter().filter_map(from_csbs))
                })
                .await?;
            }
            Service::Cbr => {
                let filter = BackupFilter {
                    checkpoint_id,
                    vault_id: s.vault_id.clone().filter(|_| s.keep_last.is_none()),
                    resource_id: s.resource_id.clone(),
                    status: Some(s.status.clone()),
                    limit: Some(LIST_PAGE),
                };
                cbr.for_each_backup_page(&s.project_id, &filter, deadline, |page| {
                    out.extend(
                        page.into_iter()
                            // Own top-level backups only: a per-disk child goes with its
                            // parent, and a replica is never a target (docs/DESIGN.md).
                            .filter(|b| b.is_own_top_level())
                            .filter(|b| usable_id(&b.id))
                            .map(|b| {
                                Candidate::new(
                                    b.id,
                                    b.checkpoint_id,
                                    b.resource_id,
                                    b.vault_id,
                                    b.name,
                                    b.status.unwrap_or_default(),
                                    b.created_at,
                                )
                            }),
                    )
                })
                .await?;
            }
        }
    }
    Ok(out)
}

/// A listed id goes into a DELETE URL later, like every id of a request.
fn usable_id(id: &str) -> bool {
    let ok = validate_id("backup_id", id).is_ok();
    if !ok {
        tracing::warn!(backup_id = %id.escape_debug(), "a listed backup has an id that cannot be used in a URL; left out");
    }
    ok
}

fn from_csbs(i: CheckpointItem) -> Option<Candidate> {
    if !usable_id(&i.id) || !i.checkpoint_id.as_deref().is_some_and(usable_id) {
        return None;
    }
    Some(Candidate::new(
        i.id,
        i.checkpoint_id,
        i.resource_id,
        None,
        i.name,
        i.status.unwrap_or_default(),
        i.created_at,
    ))
}

/// How many backups of the project wait in the service's deletion queue (`waiting_delete`):
/// the fan-out's measure of the service's pace.
pub async fn waiting_deletions(
    csbs: &CsbsClient,
    cbr: &CbrClient,
    service: Service,
    project_id: &str,
    deadline: Instant,
) -> Result<u64, CloudError> {
    const WAITING: &str = crate::csbs::models::status::WAITING_DELETE;
    match service {
        Service::Csbs => {
            let filter = ListFilter {
                status: Some(WAITING.into()),
                ..Default::default()
            };
            csbs.count(project_id, &filter, deadline).await
        }
        Service::Cbr => {
            let filter = BackupFilter {
                status: Some(WAITING.into()),
                ..Default::default()
            };
            let listed = cbr.list_backups(project_id, &filter, deadline).await?;
            Ok(listed
                .iter()
                .filter(|b| b.is_top_level() && b.status() == WAITING)
                .count() as u64)
        }
    }
}
