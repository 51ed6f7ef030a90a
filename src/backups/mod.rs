//! The one place that dispatches on the service (docs/DESIGN.md, "Layout"): a task's DELETE,
//! the reading of its targets' states, a selection's listing and the service's deletion queue
//! go to CSBS or CBR from here, so the workflows never branch on the service and a new
//! service (or region) touches this module, its contract parsers and its own client folder.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use futures::StreamExt;
use tokio::time::Instant;

use crate::cbr::{BackupFilter, CbrClient};
use crate::cloud::{ClientConfig, CloudError, DeleteOutcome, Transport};
use crate::codes::ErrorCode;
use crate::csbs::models::CheckpointItem;
use crate::csbs::{CsbsClient, ListFilter};
use crate::ports::pending::MAX_BATCH;
use crate::query::LiveQuery;
use crate::request::RequestError;
use crate::selection::selector::Selector;
use crate::service::Service;
use crate::target::TargetState;
use crate::task::PendingTask;

/// Page size of the selection listings (both services' documented maximum): planning 10,000
/// backups takes 11 list calls.
pub const LIST_PAGE: u32 = 1000;

mod candidate;
mod in_flight;
mod slots;
mod sources;

pub use candidate::Candidate;
use candidate::usable_id;
pub use in_flight::{Freshness, Group, InFlight, Listed, Reader, Refresh, choose_reader, listing_calls, refresh};
pub use slots::Slots;

/// Both services' clients on one transport, in every region it serves. Cheap to clone.
#[derive(Clone)]
pub struct Backups {
    transport: Transport,
    csbs: CsbsClient,
    cbr: CbrClient,
}

impl From<CsbsClient> for Backups {
    /// The CBR client rides on the CSBS client's transport: one token cache, one pool.
    fn from(csbs: CsbsClient) -> Self {
        Backups::on(csbs.transport().clone())
    }
}

/// Each target's id and state.
pub type States = Vec<(String, TargetState)>;

impl Backups {
    pub fn on(transport: Transport) -> Self {
        Backups {
            csbs: CsbsClient::on(transport.clone()),
            cbr: CbrClient::new(transport.clone()),
            transport,
        }
    }

    /// The regions and services this deployment can call.
    pub fn regions(&self) -> &ClientConfig {
        self.transport.config()
    }

    /// A request's or selection's `region` read against the served ones: `None` for the
    /// default region (named or not: the same task), the name for another served one, and
    /// `unknown_region` for any other (docs/DESIGN.md, "Regions").
    pub fn read_region(&self, field: &str, region: Option<&str>) -> Result<Option<String>, RequestError> {
        let config = self.regions();
        match region {
            None => Ok(None),
            Some(r) if r == config.default_region => Ok(None),
            Some(r) if config.regions.contains_key(r) => Ok(Some(r.to_string())),
            Some(r) => {
                let served: Vec<&str> = std::iter::once(config.default_region.as_str())
                    .chain(config.regions.keys().map(String::as_str))
                    .collect();
                Err(RequestError {
                    code: ErrorCode::UnknownRegion,
                    field: Some(field.into()),
                    message: format!("{field}: {r} is not a region this stack serves ({})", served.join(", ")),
                })
            }
        }
    }

    /// The name of `region` as events and the ledger carry it (`None`: the default's).
    pub fn region_name(&self, region: Option<&str>) -> String {
        region.unwrap_or(&self.regions().default_region).to_string()
    }

    /// The CBR client of `region` (`None`: the default region).
    fn cbr_at(&self, region: Option<&str>) -> CbrClient {
        CbrClient::new(self.transport.in_region(region))
    }

    /// The CSBS client of `region` (`None`: the default region).
    fn csbs_at(&self, region: Option<&str>) -> CsbsClient {
        CsbsClient::on(self.transport.in_region(region))
    }

    pub fn csbs(&self) -> &CsbsClient {
        &self.csbs
    }

    pub fn cbr(&self) -> &CbrClient {
        &self.cbr
    }

    /// The DELETE of one of the task's targets: a CSBS checkpoint item (`None`: the whole
    /// checkpoint) or a CBR backup. `None` when the task's service has no such target (a CBR
    /// task is only ever deleted backup by backup).
    pub async fn delete(
        &self,
        task: &PendingTask,
        target: Option<&str>,
        deadline: Instant,
    ) -> Option<Result<DeleteOutcome, CloudError>> {
        Some(match (task.service, target) {
            (Service::Cbr, Some(backup)) => {
                // A replica is deleted in its own region and project.
                let at = task.place_of(backup);
                self.cbr_at(at.region)
                    .delete_backup(at.project_id, backup, deadline)
                    .await
            }
            (Service::Cbr, None) => return None,
            (Service::Csbs, item) => {
                self.csbs_at(task.region.as_deref())
                    .delete_checkpoint(&task.project_id, task.provider(), task.checkpoint(), item, deadline)
                    .await
            }
        })
    }

    /// What the service says of each of the task's targets now: from `shown` (the in-flight
    /// listings of the task's group) where they show a target, else by its own read. CSBS: one
    /// list call for the checkpoint unless every item was shown; CBR: one GET per backup not
    /// shown (and not refused). Each call holds one of `slots` and is counted in `calls` (a
    /// failed call counts as one).
    pub async fn read_states(
        &self,
        task: &PendingTask,
        shown: Option<&InFlight>,
        deadline: Instant,
        slots: &Slots,
        calls: &AtomicU64,
    ) -> Result<States, CloudError> {
        match task.service {
            Service::Csbs => {
                if let Some(states) = shown.and_then(|s| csbs_shown(task, s)) {
                    return Ok(states);
                }
                let _slot = slots.acquire(task.region.as_deref()).await;
                calls.fetch_add(1, Ordering::Relaxed);
                let filter = ListFilter::for_checkpoint(task.checkpoint());
                let items = self
                    .csbs_at(task.region.as_deref())
                    .list_items(&task.project_id, &filter, deadline)
                    .await?;
                Ok(crate::csbs::state::target_states(task, &items))
            }
            Service::Cbr => self.read_cbr_states(task, shown, deadline, slots, calls).await,
        }
    }

    async fn read_cbr_states(
        &self,
        task: &PendingTask,
        shown: Option<&InFlight>,
        deadline: Instant,
        slots: &Slots,
        calls: &AtomicU64,
    ) -> Result<States, CloudError> {
        // The sources and their replicas, each read where it lives; the listing is of the
        // task's own region and project, so it can show only the sources.
        let ids: Vec<String> = task
            .targets()
            .into_iter()
            .flatten()
            .filter(|id| !task.is_refused(id))
            .map(str::to_string)
            .collect();
        let read = futures::stream::iter(ids)
            .map(|id| async move {
                let at = task.place_of(&id);
                let home = at.region == task.region.as_deref() && at.project_id == task.project_id;
                if let Some(state) = shown.filter(|_| home).and_then(|s| s.state_of(&id)) {
                    return Ok((id, state.clone()));
                }
                let _slot = slots.acquire(at.region).await;
                let r = crate::cbr::state::read_backup(
                    &self.cbr_at(at.region),
                    at.project_id,
                    &id,
                    task.submitted_at,
                    deadline,
                )
                .await;
                calls.fetch_add(r.as_ref().map_or(1, |read| read.calls), Ordering::Relaxed);
                r.map(|read| (id, read.state))
            })
            .buffer_unordered(MAX_BATCH)
            .collect::<Vec<_>>()
            .await;
        let mut states: States = read.into_iter().collect::<Result<_, _>>()?;
        // In the task's order, so the verdict does not depend on which answer came first.
        states.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(states)
    }

    /// The live state of targets no task is known for (`GET /deletions/status`), read as the
    /// poller reads them: each target's id, state and the status the service wrote.
    pub async fn live_states(
        &self,
        region: Option<&str>,
        project_id: &str,
        query: &LiveQuery,
        deadline: Instant,
    ) -> Result<Vec<LiveRow>, CloudError> {
        let (csbs, cbr) = (self.csbs_at(region), self.cbr_at(region));
        match query {
            LiveQuery::Checkpoint { checkpoint_id, items } => {
                let filter = ListFilter::for_checkpoint(checkpoint_id);
                let listed = csbs.list_items(project_id, &filter, deadline).await?;
                let row = |id: &str, found: Option<&CheckpointItem>| LiveRow {
                    id: id.to_string(),
                    state: crate::csbs::state::item_state(found),
                    status: found.and_then(|i| i.status.clone()),
                };
                Ok(if items.is_empty() {
                    listed.iter().map(|i| row(&i.id, Some(i))).collect()
                } else {
                    items
                        .iter()
                        .map(|id| row(id, listed.iter().find(|i| &i.id == id)))
                        .collect()
                })
            }
            LiveQuery::Backups(ids) => {
                // No task here: a failed delete task of the last day (the longest deadline)
                // counts.
                let since = Utc::now() - chrono::Duration::days(1) + crate::cbr::state::CLOCK_SKEW;
                let cbr = &cbr;
                let reads = futures::future::join_all(ids.iter().map(|id| async move {
                    let read = crate::cbr::state::read_backup(cbr, project_id, id, since, deadline).await?;
                    Ok(LiveRow {
                        id: id.clone(),
                        state: read.state,
                        status: read.status,
                    })
                }))
                .await;
                reads.into_iter().collect()
            }
        }
    }

    /// The backups a selection may choose from, paged, with the narrowest query the service
    /// takes (the plan filters everything again: src/select/plan.rs). With `keep_last`, the
    /// listing is never narrowed to the selected checkpoints or vault: the newest backups of a
    /// resource must be seen to be kept.
    pub async fn list_candidates(&self, s: &Selector, deadline: Instant) -> Result<Vec<Candidate>, CloudError> {
        // Checkpoints narrow the query only without keep_last; None = one project-wide query.
        let scopes: Vec<Option<String>> = match (&s.checkpoint_ids, s.keep_last) {
            (Some(ids), None) => ids.iter().cloned().map(Some).collect(),
            _ => vec![None],
        };
        let mut out = Vec::new();
        for checkpoint_id in scopes {
            self.list_scope(s, checkpoint_id, deadline, &mut out).await?;
        }
        Ok(out)
    }

    /// One listing of a selection's scope (the project, or one of its checkpoints), into `out`.
    async fn list_scope(
        &self,
        s: &Selector,
        checkpoint_id: Option<String>,
        deadline: Instant,
        out: &mut Vec<Candidate>,
    ) -> Result<(), CloudError> {
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
                self.csbs_at(s.region.as_deref())
                    .for_each_page(&s.project_id, &filter, deadline, |page| {
                        out.extend(page.into_iter().filter_map(Candidate::from_csbs))
                    })
                    .await
            }
            Service::Cbr => {
                let filter = BackupFilter {
                    checkpoint_id,
                    vault_id: s.vault_id.clone().filter(|_| s.keep_last.is_none()),
                    resource_id: s.resource_id.clone(),
                    status: Some(s.status.clone()),
                    more_statuses: Vec::new(),
                    image_type: s.image_type.clone(),
                    limit: Some(LIST_PAGE),
                };
                let replicas = s.plans_replicas();
                self.cbr_at(s.region.as_deref())
                    .for_each_backup_page(&s.project_id, &filter, deadline, |page| {
                        // Top-level backups only (a per-disk child goes with its parent); own
                        // ones, or only the received replicas when the selection names them:
                        // the filter is checked again, whatever the service did with it
                        // (docs/DESIGN.md, "CBR targets").
                        let chosen = page
                            .into_iter()
                            .filter(|b| b.is_top_level() && b.is_replica() == replicas && usable_id(&b.id));
                        out.extend(chosen.map(Candidate::from_cbr))
                    })
                    .await
            }
        }
    }

    /// How many backups of the project wait in the service's deletion queue (`waiting_delete`):
    /// the fan-out's measure of the service's pace.
    pub async fn waiting_deletions(
        &self,
        service: Service,
        region: Option<&str>,
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
                self.csbs_at(region).count(project_id, &filter, deadline).await
            }
            Service::Cbr => {
                let filter = BackupFilter {
                    status: Some(WAITING.into()),
                    ..Default::default()
                };
                let listed = self.cbr_at(region).list_backups(project_id, &filter, deadline).await?;
                Ok(listed
                    .iter()
                    .filter(|b| b.is_top_level() && b.status() == WAITING)
                    .count() as u64)
            }
        }
    }
}

/// A CSBS task's states when the listings showed every item it waits for (in the task's
/// order, as the single read gives them); `None` when one is not shown, or the task deletes a
/// whole checkpoint (no listing by status can show all of its items).
fn csbs_shown(task: &PendingTask, shown: &InFlight) -> Option<States> {
    task.checkpoint_items
        .as_ref()?
        .iter()
        .filter(|id| !task.is_refused(id))
        .map(|id| Some((id.clone(), shown.state_of(id)?.clone())))
        .collect()
}

/// One target's live state.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRow {
    pub id: String,
    pub state: TargetState,
    pub status: Option<String>,
}
