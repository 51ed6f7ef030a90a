//! A listed backup in the terms a selection needs, from either service's listing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cbr::models::parse_time;
use crate::csbs::models::CheckpointItem;
use crate::ids::validate_id;

/// One listed backup, in the terms a selection needs (both services).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// CSBS checkpoint item id or CBR backup id: the target id.
    pub id: String,
    /// CSBS: the checkpoint the item belongs to (needed for its DELETE). CBR: the restore point.
    pub checkpoint_id: Option<String>,
    pub resource_id: Option<String>,
    pub vault_id: Option<String>,
    pub name: Option<String>,
    pub status: String,
    /// As the service wrote it; `created` is its parsed form.
    pub created_at: Option<String>,
    #[serde(skip)]
    pub created: Option<DateTime<Utc>>,
}

impl Candidate {
    pub fn new(
        id: String,
        checkpoint_id: Option<String>,
        resource_id: Option<String>,
        vault_id: Option<String>,
        name: Option<String>,
        status: String,
        created_at: Option<String>,
    ) -> Self {
        Candidate {
            created: created_at.as_deref().and_then(parse_time),
            id,
            checkpoint_id,
            resource_id,
            vault_id,
            name,
            status,
            created_at,
        }
    }

    pub(super) fn from_cbr(b: crate::cbr::models::Backup) -> Candidate {
        let status = b.status.unwrap_or_default();
        Candidate::new(
            b.id,
            b.checkpoint_id,
            b.resource_id,
            b.vault_id,
            b.name,
            status,
            b.created_at,
        )
    }

    pub(super) fn from_csbs(i: CheckpointItem) -> Option<Candidate> {
        if !usable_id(&i.id) || !i.checkpoint_id.as_deref().is_some_and(usable_id) {
            return None;
        }
        let status = i.status.unwrap_or_default();
        Some(Candidate::new(
            i.id,
            i.checkpoint_id,
            i.resource_id,
            None,
            i.name,
            status,
            i.created_at,
        ))
    }
}

/// A listed id goes into a DELETE URL later, like every id of a request.
pub(super) fn usable_id(id: &str) -> bool {
    let ok = validate_id("backup_id", id).is_ok();
    if !ok {
        tracing::warn!(backup_id = %id.escape_debug(), "a listed backup has an id that cannot be used in a URL; left out");
    }
    ok
}
