//! The CBR v3 calls a deletion needs (docs/cbr-api.md §1–§3). Every ID is validated before it
//! enters a URL; every call is bounded by the caller's deadline and retried by the shared transport (src/cloud/transport.rs).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use reqwest::Method;
use tokio::time::Instant;

use super::error::{CbrClass, classify};
use super::models::{
    Backup, BackupEnvelope, BackupListEnvelope, OperationLog, OperationLogListEnvelope, RestorePoint,
    RestorePointEnvelope,
};
use crate::cloud::{CloudError, DeleteOutcome, ServiceTransport, Transport, decode};
use crate::ids::validate_id;
use crate::service::Service;

/// Page size of the list calls (the documented maximum).
pub const PAGE_LIMIT: u32 = 1000;

/// Filters of `GET /v3/{project_id}/backups`.
#[derive(Debug, Clone, Default)]
pub struct BackupFilter {
    pub checkpoint_id: Option<String>,
    pub vault_id: Option<String>,
    pub resource_id: Option<String>,
    pub status: Option<String>,
    /// Further `status` values: the filter repeats (docs/cbr-api.md §2b, `status=a&status=b`).
    pub more_statuses: Vec<String>,
    /// `backup` (own backups) or `replication` (replicas this region received).
    pub image_type: Option<String>,
    /// Page size (default [`PAGE_LIMIT`]).
    pub limit: Option<u32>,
}

impl BackupFilter {
    pub fn for_restore_point(checkpoint_id: &str) -> Self {
        BackupFilter {
            checkpoint_id: Some(checkpoint_id.to_string()),
            ..Default::default()
        }
    }

    fn query(&self, offset: usize) -> Result<Vec<(String, String)>, CloudError> {
        let mut q = Vec::new();
        for (name, v) in [
            ("checkpoint_id", &self.checkpoint_id),
            ("vault_id", &self.vault_id),
            ("resource_id", &self.resource_id),
            ("status", &self.status),
            ("image_type", &self.image_type),
        ] {
            if let Some(v) = v {
                validate_id(name, v)?;
                q.push((name.to_string(), v.clone()));
            }
        }
        for v in &self.more_statuses {
            validate_id("status", v)?;
            q.push(("status".into(), v.clone()));
        }
        q.push(("limit".into(), self.limit.unwrap_or(PAGE_LIMIT).to_string()));
        q.push(("offset".into(), offset.to_string()));
        Ok(q)
    }
}

/// The CBR calls. Cheap to clone; clones share the transport (and with it the CSBS client's
/// connections and tokens when both are built on one).
#[derive(Clone)]
pub struct CbrClient {
    api: ServiceTransport,
}

impl CbrClient {
    pub fn new(transport: Transport) -> Self {
        CbrClient {
            api: ServiceTransport::new(transport, Service::Cbr),
        }
    }

    /// `DELETE /v3/{project}/backups/{backup}`: 204 (or 200, 202) accepted; gone and busy
    /// answers are outcomes, not errors.
    pub async fn delete_backup(
        &self,
        project_id: &str,
        backup_id: &str,
        deadline: Instant,
    ) -> Result<DeleteOutcome, CloudError> {
        validate_id("project_id", project_id)?;
        validate_id("backup_id", backup_id)?;
        let path = format!("/v3/{project_id}/backups/{backup_id}");
        match self.api.call(Method::DELETE, project_id, &path, &[], deadline).await {
            Ok(_) => Ok(DeleteOutcome::Accepted),
            Err(e) => match classify(&e) {
                CbrClass::Gone => Ok(DeleteOutcome::AlreadyGone),
                CbrClass::Busy => Ok(DeleteOutcome::AlreadyDeleting),
                CbrClass::Other(_) => Err(e),
            },
        }
    }

    /// `GET /v3/{project}/backups/{backup}`; `None` when it does not exist. An answer without
    /// the `backup` wrapper is an error (checked again later), never "gone".
    pub async fn get_backup(
        &self,
        project_id: &str,
        backup_id: &str,
        deadline: Instant,
    ) -> Result<Option<Backup>, CloudError> {
        validate_id("project_id", project_id)?;
        validate_id("backup_id", backup_id)?;
        let path = format!("/v3/{project_id}/backups/{backup_id}");
        match self.api.call(Method::GET, project_id, &path, &[], deadline).await {
            Ok(body) => {
                let env: BackupEnvelope = decode(&body)?;
                env.backup
                    .map(Some)
                    .ok_or_else(|| CloudError::Decode("CBR answered without a \"backup\" object".into()))
            }
            Err(e) if classify(&e) == CbrClass::Gone => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every backup matching `filter`, paged by offset until a short page (whether `count`
    /// is the total is undocumented, so it is not used). A service that ignores the offset
    /// would repeat a page: paging stops when a page brings no new backup.
    pub async fn list_backups(
        &self,
        project_id: &str,
        filter: &BackupFilter,
        deadline: Instant,
    ) -> Result<Vec<Backup>, CloudError> {
        let mut all = Vec::new();
        self.for_each_backup_page(project_id, filter, deadline, |page| all.extend(page))
            .await?;
        Ok(all)
    }

    /// [`list_backups`](Self::list_backups) a page at a time: `on_page` gets each page's new
    /// backups, so a caller that keeps less than a whole backup holds one page at most.
    pub async fn for_each_backup_page(
        &self,
        project_id: &str,
        filter: &BackupFilter,
        deadline: Instant,
        mut on_page: impl FnMut(Vec<Backup>) + Send,
    ) -> Result<(), CloudError> {
        validate_id("project_id", project_id)?;
        let path = format!("/v3/{project_id}/backups");
        let limit = filter.limit.unwrap_or(PAGE_LIMIT).max(1) as usize;
        let mut seen = HashSet::new();
        loop {
            let body = self
                .api
                .call(Method::GET, project_id, &path, &filter.query(seen.len())?, deadline)
                .await?;
            let env: BackupListEnvelope = decode(&body)?;
            let page = env
                .backups
                .ok_or_else(|| CloudError::Decode("CBR answered without a \"backups\" list".into()))?;
            let got = page.len();
            let before = seen.len();
            let fresh: Vec<Backup> = page.into_iter().filter(|b| seen.insert(b.id.clone())).collect();
            on_page(fresh);
            if got < limit || seen.len() == before {
                return Ok(());
            }
        }
    }

    /// Delete tasks of one protected resource that began at or after `since` (one page of
    /// up to 100, newest first as the service sorts them). A 404 means none (the list call
    /// documents a 404).
    pub async fn delete_logs(
        &self,
        project_id: &str,
        resource_id: Option<&str>,
        since: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Vec<OperationLog>, CloudError> {
        validate_id("project_id", project_id)?;
        let mut q = vec![
            ("operation_type".to_string(), "delete".to_string()),
            ("start_time".to_string(), since.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            ("limit".to_string(), "100".to_string()),
            ("offset".to_string(), "0".to_string()),
        ];
        if let Some(r) = resource_id {
            validate_id("resource_id", r)?;
            q.push(("resource_id".to_string(), r.to_string()));
        }
        let path = format!("/v3/{project_id}/operation-logs");
        match self.api.call(Method::GET, project_id, &path, &q, deadline).await {
            Ok(body) => {
                let env: OperationLogListEnvelope = decode(&body)?;
                env.operation_logs
                    .ok_or_else(|| CloudError::Decode("CBR answered without an \"operation_logs\" list".into()))
            }
            Err(e) if is_service_404(&e) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `GET /v3/{project}/checkpoints/{checkpoint}`; `None` when it does not exist.
    pub async fn get_restore_point(
        &self,
        project_id: &str,
        checkpoint_id: &str,
        deadline: Instant,
    ) -> Result<Option<RestorePoint>, CloudError> {
        validate_id("project_id", project_id)?;
        validate_id("checkpoint_id", checkpoint_id)?;
        let path = format!("/v3/{project_id}/checkpoints/{checkpoint_id}");
        match self.api.call(Method::GET, project_id, &path, &[], deadline).await {
            Ok(body) => {
                let env: RestorePointEnvelope = decode(&body)?;
                env.checkpoint
                    .map(Some)
                    .ok_or_else(|| CloudError::Decode("CBR answered without a \"checkpoint\" object".into()))
            }
            Err(e) if classify(&e) == CbrClass::Gone || is_service_404(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A 404 carrying one of CBR's own codes (`BackupService.*`), e.g. 6500 "Operation log does
/// not exist" or the restore point's not-found: the thing is absent. A gateway 404 is not.
fn is_service_404(e: &CloudError) -> bool {
    matches!(e, CloudError::Api { status: 404, code, .. } if code.starts_with("BackupService."))
}
