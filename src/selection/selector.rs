//! The selection request contract (docs/DESIGN.md, "Selection requests"): parsing and
//! validation, before anything is listed. Every refusal names its field as `select.<name>`; a
//! filter that is unknown, of the wrong type, out of range or foreign to the service is refused,
//! never ignored — a typo must not widen a deletion.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::codes::ErrorCode;
use crate::ids::validate_id;
use crate::request::{
    RequestError, context_field, id_list, printable_ascii, strip_field, timeout_field, unknown_field,
};
use crate::service::Service;

/// `request_id` of a selection: short enough that `<request_id>/<target id>` (a target's
/// request id) stays within the 128 characters of an ordinary request.
pub const MAX_SELECTION_REQUEST_ID_LEN: usize = 60;
pub const DEFAULT_MAX_BACKUPS: u32 = 1000;
pub const MAX_MAX_BACKUPS: u32 = 10_000;
pub const MAX_OLDER_THAN_DAYS: u64 = 3650;
pub const MAX_KEEP_LAST: u64 = 1000;
pub const MAX_CHECKPOINT_IDS: usize = 100;
pub const MAX_NAME_PREFIX_LEN: usize = 64;

const TOP_FIELDS: [&str; 6] = [
    "select",
    "dry_run",
    "request_id",
    "timeout_seconds",
    "context",
    "reference_time",
];

/// Every filter a `select` object may hold.
pub const SELECT_FIELDS: [&str; 15] = [
    "service",
    "project_id",
    "resource_id",
    "vault_id",
    "checkpoint_ids",
    "older_than_days",
    "created_before",
    "status",
    "name_prefix",
    "keep_last",
    "max_backups",
    "all_in_project",
    "region",
    "image_type",
    "with_replicas",
];

/// Filters that narrow a selection; one of them, or `all_in_project: true`, is required.
const NARROWING: [&str; 5] = [
    "resource_id",
    "vault_id",
    "checkpoint_ids",
    "older_than_days",
    "created_before",
];

/// Statuses a selection may delete. In-progress statuses (`waiting_delete`, `deleting`,
/// `protecting`, `restoring`) are refused: their backups are busy or already going.
pub const SELECTABLE_STATUSES: [&str; 2] = ["available", "error"];

/// The validated `select` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selector {
    pub service: Service,
    pub project_id: String,
    pub resource_id: Option<String>,
    /// CBR only.
    pub vault_id: Option<String>,
    /// CSBS checkpoints or CBR restore points; sorted, de-duplicated.
    pub checkpoint_ids: Option<Vec<String>>,
    pub older_than_days: Option<u64>,
    pub created_before: Option<DateTime<Utc>>,
    pub status: String,
    pub name_prefix: Option<String>,
    pub keep_last: Option<u64>,
    pub max_backups: u32,
    pub all_in_project: bool,
    /// The region listed (`None`: the default). The new fields below are left out of the
    /// selection id's key when unset, so every earlier selection id stays as it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// CBR only: `replication` plans the replicas this region received, and nothing else;
    /// `None` (or `backup`) plans the region's own backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_type: Option<String>,
    /// CBR only: each target is deleted with its replicas.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub with_replicas: bool,
}

/// A validated selection request.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionRequest {
    pub select: Selector,
    pub dry_run: bool,
    pub request_id: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub context: Option<Map<String, Value>>,
    /// The time age filters count from, when the sender fixes it (an EventBridge Scheduler
    /// input carries `<aws.scheduler.scheduled-time>`); otherwise the receipt time.
    pub reference_time: Option<DateTime<Utc>>,
}

fn select_err(field: &str, message: impl Into<String>) -> RequestError {
    RequestError::field(&format!("select.{field}"), message)
}

/// An RFC 3339 time with its offset (`2026-01-31T00:00:00Z`); anything else is refused.
fn rfc3339_field(
    v: &Value,
    field: &str,
    err: impl Fn(&str, String) -> RequestError,
) -> Result<DateTime<Utc>, RequestError> {
    let s = v.as_str().ok_or_else(|| {
        err(
            field,
            "must be an RFC 3339 time string such as 2026-01-31T00:00:00Z".into(),
        )
    })?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| err(field, format!("{s:?} is not an RFC 3339 time with an offset ({e})")))
}

fn integer(v: &Value, field: &str, lo: u64, hi: u64) -> Result<u64, RequestError> {
    match v.as_u64() {
        Some(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(select_err(field, format!("must be an integer from {lo} to {hi}"))),
    }
}

impl SelectionRequest {
    /// Whether a request object is a selection (it has `select`).
    pub fn is_selection(value: &Value) -> bool {
        value.get("select").is_some()
    }

    pub fn from_value(value: &Value) -> Result<Self, RequestError> {
        let obj = value.as_object().ok_or_else(|| RequestError {
            code: ErrorCode::InvalidRequest,
            field: None,
            message: "the request must be a JSON object".into(),
        })?;
        if let Some(k) = obj.keys().find(|k| !TOP_FIELDS.contains(&k.as_str())) {
            return Err(unknown_field("", k, &TOP_FIELDS));
        }
        let select = Selector::from_value(obj.get("select").unwrap_or(&Value::Null))?;
        let dry_run = match obj.get("dry_run") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(RequestError::field("dry_run", "must be true or false")),
        };
        let request_id = match obj.get("request_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if printable_ascii(s, MAX_SELECTION_REQUEST_ID_LEN) => Some(s.clone()),
            Some(_) => {
                return Err(RequestError::field(
                    "request_id",
                    format!(
                        "must be 1–{MAX_SELECTION_REQUEST_ID_LEN} printable ASCII characters in a selection (each target's request_id is <request_id>/<target id>)"
                    ),
                ));
            }
        };
        let timeout_seconds = timeout_field(obj.get("timeout_seconds"))?;
        let context = context_field(obj.get("context"))?;
        let reference_time = match obj.get("reference_time") {
            None | Some(Value::Null) => None,
            Some(v) => Some(rfc3339_field(v, "reference_time", RequestError::field)?),
        };
        Ok(SelectionRequest {
            select,
            dry_run,
            request_id,
            timeout_seconds,
            context,
            reference_time,
        })
    }

    /// The selection id: derived from `select`, `dry_run` and the reference time, so a
    /// redelivered message plans the same targets under the same id, and a nightly schedule
    /// makes a new selection every night.
    pub fn selection_id(&self, reference: DateTime<Utc>) -> String {
        let key = serde_json::json!({
            "select": self.select,
            "dry_run": self.dry_run,
            "reference_time": reference.to_rfc3339_opts(SecondsFormat::Millis, true),
        });
        let digest = Sha256::digest(format!("csbs-selection/v1\n{key}").as_bytes());
        format!("sel_{}", &hex::encode(digest)[..32])
    }

    /// The prefix of every target's `request_id`: the caller's request id, or the selection id.
    pub fn request_prefix(&self, selection_id: &str) -> String {
        self.request_id.clone().unwrap_or_else(|| selection_id.to_string())
    }
}

impl Selector {
    pub fn from_value(value: &Value) -> Result<Self, RequestError> {
        let obj = match value {
            Value::Object(o) => o,
            Value::Null => return Err(RequestError::field("select", "is required")),
            _ => return Err(RequestError::field("select", "must be a JSON object of filters")),
        };
        if let Some(k) = obj.keys().find(|k| !SELECT_FIELDS.contains(&k.as_str())) {
            return Err(unknown_field("select.", k, &SELECT_FIELDS));
        }
        // A null filter is a filter left out, as in a deletion request.
        let get = |f: &str| filter(obj, f);
        let service = select_service(obj)?;
        let id = |field: &'static str| select_id(obj, field);
        let project_id = id("project_id")?.ok_or_else(|| select_err("project_id", "is required"))?;
        let resource_id = id("resource_id")?;
        let vault_id = id("vault_id")?;
        let checkpoint_ids =
            id_list(get("checkpoint_ids"), "checkpoint_ids", MAX_CHECKPOINT_IDS).map_err(|e| RequestError {
                field: Some("select.checkpoint_ids".into()),
                message: format!("select.{}", e.message),
                ..e
            })?;
        let older_than_days = get("older_than_days")
            .map(|v| integer(v, "older_than_days", 1, MAX_OLDER_THAN_DAYS))
            .transpose()?;
        let created_before = get("created_before")
            .map(|v| rfc3339_field(v, "created_before", select_err))
            .transpose()?;
        let status = status_filter(get("status"))?;
        let name_prefix = name_prefix_filter(get("name_prefix"))?;
        let keep_last = get("keep_last")
            .map(|v| integer(v, "keep_last", 1, MAX_KEEP_LAST))
            .transpose()?;
        let max_backups = get("max_backups")
            .map(|v| integer(v, "max_backups", 1, u64::from(MAX_MAX_BACKUPS)))
            .transpose()?
            .map_or(DEFAULT_MAX_BACKUPS, |n| n as u32);
        let all_in_project = all_in_project_filter(obj)?;
        let region = crate::request::region_field(get("region"), "select.region")?;
        let (image_type, with_replicas) = replica_filters(obj, service)?;
        Ok(Selector {
            service,
            project_id,
            resource_id,
            vault_id,
            checkpoint_ids,
            older_than_days,
            created_before,
            status,
            name_prefix,
            keep_last,
            max_backups,
            all_in_project,
            region,
            image_type,
            with_replicas,
        })
    }

    /// Whether the selection plans replicas a region received (`image_type: replication`).
    pub fn plans_replicas(&self) -> bool {
        self.image_type.as_deref() == Some(REPLICATION)
    }

    /// Backups created before this are old enough for the age filters (`None`: no age filter).
    pub fn age_cutoff(&self, reference: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let by_days = self
            .older_than_days
            .map(|d| reference - chrono::Duration::days(d as i64));
        match (by_days, self.created_before) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A filter of `select`; null is left out, as in a deletion request.
fn filter<'a>(obj: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    obj.get(field).filter(|v| !v.is_null())
}

/// `select.service`: `csbs` (the default) or `cbr`; `vault_id` is CBR's only.
fn select_service(obj: &Map<String, Value>) -> Result<Service, RequestError> {
    let service = match filter(obj, "service") {
        None => Service::Csbs,
        Some(Value::String(s)) => {
            Service::parse(s).ok_or_else(|| select_err("service", "must be \"csbs\" or \"cbr\""))?
        }
        Some(_) => return Err(select_err("service", "must be a string")),
    };
    if service == Service::Csbs && filter(obj, "vault_id").is_some() {
        return Err(select_err(
            "vault_id",
            "applies to \"service\": \"cbr\" only (CSBS has no vaults), and this selection is for csbs",
        ));
    }
    Ok(service)
}

/// The `image_type` a selection of replicas names (docs/cbr-api.md, "Replicas").
pub const REPLICATION: &str = "replication";

/// `select.image_type` (`backup`, the default, or `replication`) and `select.with_replicas`:
/// CBR's only; `backup` is the default and leaves the key as if it were absent.
fn replica_filters(obj: &Map<String, Value>, service: Service) -> Result<(Option<String>, bool), RequestError> {
    for f in ["image_type", "with_replicas"] {
        if service == Service::Csbs && filter(obj, f).is_some() {
            return Err(select_err(
                f,
                "applies to \"service\": \"cbr\" only (CSBS does not replicate), and this selection is for csbs",
            ));
        }
    }
    let image_type = match filter(obj, "image_type") {
        None => None,
        Some(Value::String(s)) if s == "backup" => None,
        Some(Value::String(s)) if s == REPLICATION => Some(s.clone()),
        Some(_) => return Err(select_err("image_type", "must be \"backup\" or \"replication\"")),
    };
    let with_replicas = match filter(obj, "with_replicas") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(select_err("with_replicas", "must be true or false")),
    };
    Ok((image_type, with_replicas))
}

/// One ID filter of `select`, validated before it touches a URL.
fn select_id(obj: &Map<String, Value>, field: &'static str) -> Result<Option<String>, RequestError> {
    match filter(obj, field) {
        None => Ok(None),
        Some(Value::String(s)) => {
            validate_id(field, s).map_err(|e| select_err(field, strip_field(&e.to_string(), field)))?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(select_err(field, "must be a string")),
    }
}

/// `select.status`: one of the selectable statuses, `available` by default.
fn status_filter(value: Option<&Value>) -> Result<String, RequestError> {
    match value {
        None => Ok("available".to_string()),
        Some(Value::String(s)) if SELECTABLE_STATUSES.contains(&s.as_str()) => Ok(s.clone()),
        Some(_) => Err(select_err(
            "status",
            format!("must be one of {}", SELECTABLE_STATUSES.join(", ")),
        )),
    }
}

/// `select.name_prefix`: 1 to [`MAX_NAME_PREFIX_LEN`] characters, no control character.
fn name_prefix_filter(value: Option<&Value>) -> Result<Option<String>, RequestError> {
    match value {
        None => Ok(None),
        Some(Value::String(s))
            if (1..=MAX_NAME_PREFIX_LEN).contains(&s.chars().count()) && !s.chars().any(char::is_control) =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(select_err(
            "name_prefix",
            format!("must be a string of 1–{MAX_NAME_PREFIX_LEN} characters"),
        )),
    }
}

/// `select.all_in_project`: without it, a selection must narrow by at least one filter.
fn all_in_project_filter(obj: &Map<String, Value>) -> Result<bool, RequestError> {
    let all_in_project = match filter(obj, "all_in_project") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(select_err("all_in_project", "must be true or false")),
    };
    if !all_in_project && !NARROWING.iter().any(|f| filter(obj, f).is_some()) {
        return Err(select_err(
            "all_in_project",
            format!(
                "a selection needs at least one of {} (select.{}), or \"all_in_project\": true to select every backup of the project",
                NARROWING.join(", "),
                NARROWING.join(", select.")
            ),
        ));
    }
    Ok(all_in_project)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(select: Value) -> Result<SelectionRequest, RequestError> {
        SelectionRequest::from_value(&json!({ "select": select }))
    }

    fn field_of(r: Result<SelectionRequest, RequestError>) -> String {
        r.expect_err("refused").field.unwrap_or_default()
    }

    #[test]
    fn defaults_and_full_form() {
        let r = sel(json!({"project_id": "p1", "older_than_days": 30})).unwrap();
        assert_eq!(r.select.service, Service::Csbs);
        assert_eq!(r.select.status, "available");
        assert_eq!(r.select.max_backups, DEFAULT_MAX_BACKUPS);
        assert!(!r.dry_run);
        let r = SelectionRequest::from_value(&json!({
            "select": {"service": "cbr", "project_id": "p1", "vault_id": "v1", "resource_id": "r1",
                       "checkpoint_ids": ["b", "a", "a"], "older_than_days": 30,
                       "created_before": "2026-01-01T00:00:00+01:00", "status": "error",
                       "name_prefix": "nightly-", "keep_last": 3, "max_backups": 10000},
            "dry_run": true, "request_id": "nightly", "timeout_seconds": 3600,
            "context": {"k": 1}, "reference_time": "2026-12-01T02:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            r.select.checkpoint_ids.as_deref(),
            Some(&["a".to_string(), "b".to_string()][..])
        );
        assert_eq!(
            r.select.created_before.unwrap().to_rfc3339(),
            "2025-12-31T23:00:00+00:00"
        );
        assert_eq!(r.select.keep_last, Some(3));
        assert_eq!(r.select.max_backups, 10_000);
        assert!(r.dry_run);
        assert_eq!(r.reference_time.unwrap().to_rfc3339(), "2026-12-01T02:00:00+00:00");
    }

    #[test]
    fn a_selection_must_narrow_or_say_all_in_project() {
        for narrow in [
            json!({"project_id": "p"}),
            json!({"project_id": "p", "keep_last": 3, "name_prefix": "x", "status": "available"}),
            json!({"project_id": "p", "all_in_project": false}),
            json!({"project_id": "p", "older_than_days": null}),
        ] {
            assert_eq!(field_of(sel(narrow)), "select.all_in_project");
        }
        assert!(sel(json!({"project_id": "p", "all_in_project": true})).is_ok());
        for f in [
            json!({"resource_id": "r"}),
            json!({"checkpoint_ids": ["c"]}),
            json!({"older_than_days": 1}),
            json!({"created_before": "2026-01-01T00:00:00Z"}),
        ] {
            let mut v = f.clone();
            v["project_id"] = json!("p");
            assert!(sel(v).is_ok(), "{f}");
        }
        assert!(sel(json!({"project_id": "p", "service": "cbr", "vault_id": "v"})).is_ok());
    }

    #[test]
    fn regions_and_replicas_and_earlier_selection_ids() {
        let plain = sel(json!({"service": "cbr", "project_id": "p", "all_in_project": true})).unwrap();
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        // The key of a selection without the new filters is what it was before them.
        let key = serde_json::to_value(&plain.select).unwrap();
        for absent in ["region", "image_type", "with_replicas"] {
            assert!(key.get(absent).is_none(), "{absent}");
        }
        let full = sel(json!({"service": "cbr", "project_id": "p", "all_in_project": true,
            "region": "eu-nl", "image_type": "replication", "with_replicas": true}))
        .unwrap();
        assert_eq!(full.select.region.as_deref(), Some("eu-nl"));
        assert!(full.select.plans_replicas() && full.select.with_replicas);
        assert_ne!(full.selection_id(t), plain.selection_id(t));
        let backup =
            sel(json!({"service": "cbr", "project_id": "p", "all_in_project": true, "image_type": "backup"})).unwrap();
        assert_eq!(backup.selection_id(t), plain.selection_id(t), "backup is the default");
        assert!(!backup.select.plans_replicas());
    }

    #[test]
    fn bad_filters_are_refused_naming_the_field() {
        let cases = [
            (
                json!({"project_id": "p", "older_than_day": 30}),
                "select.older_than_day",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "region": "EU"}),
                "select.region",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "image_type": "replication"}),
                "select.image_type",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "with_replicas": true}),
                "select.with_replicas",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "all_in_project": true, "image_type": "replica"}),
                "select.image_type",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "all_in_project": true, "with_replicas": 1}),
                "select.with_replicas",
            ),
            (json!({"project_id": "p", "olderThanDays": 30}), "select.olderThanDays"),
            (
                json!({"project_id": "p", "older_than_days": "30"}),
                "select.older_than_days",
            ),
            (
                json!({"project_id": "p", "older_than_days": 0}),
                "select.older_than_days",
            ),
            (
                json!({"project_id": "p", "older_than_days": 3651}),
                "select.older_than_days",
            ),
            (
                json!({"project_id": "p", "older_than_days": 1.5}),
                "select.older_than_days",
            ),
            (
                json!({"project_id": "p", "older_than_days": -1}),
                "select.older_than_days",
            ),
            (
                json!({"project_id": "p", "created_before": "2026-01-01"}),
                "select.created_before",
            ),
            (
                json!({"project_id": "p", "created_before": "yesterday"}),
                "select.created_before",
            ),
            (
                json!({"project_id": "p", "created_before": 1700000000}),
                "select.created_before",
            ),
            (json!({"project_id": "p", "resource_id": "a/b"}), "select.resource_id"),
            (json!({"project_id": "p", "resource_id": 7}), "select.resource_id"),
            (json!({"project_id": "p", "vault_id": "v"}), "select.vault_id"),
            (
                json!({"project_id": "p", "checkpoint_ids": []}),
                "select.checkpoint_ids",
            ),
            (
                json!({"project_id": "p", "checkpoint_ids": "c"}),
                "select.checkpoint_ids",
            ),
            (
                json!({"project_id": "p", "checkpoint_ids": ["../x"]}),
                "select.checkpoint_ids",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "status": "deleting"}),
                "select.status",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "keep_last": 0}),
                "select.keep_last",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "keep_last": "3"}),
                "select.keep_last",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "max_backups": 10001}),
                "select.max_backups",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "max_backups": 0}),
                "select.max_backups",
            ),
            (
                json!({"project_id": "p", "all_in_project": "yes"}),
                "select.all_in_project",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "name_prefix": ""}),
                "select.name_prefix",
            ),
            (
                json!({"project_id": "p", "all_in_project": true, "service": "ebs"}),
                "select.service",
            ),
            (json!({"all_in_project": true}), "select.project_id"),
        ];
        for (select, field) in cases {
            let e = sel(select.clone()).expect_err("refused");
            assert_eq!(e.field.as_deref(), Some(field), "{select}");
            assert!(e.message.contains(field), "the message names {field}: {}", e.message);
        }
        let hint = sel(json!({"project_id": "p", "older_than_day": 30})).unwrap_err();
        assert_eq!(hint.code, "unknown_field");
        assert!(
            hint.message.contains("did you mean select.older_than_days"),
            "{}",
            hint.message
        );
    }

    #[test]
    fn bad_top_level_fields_are_refused() {
        let base = json!({"project_id": "p", "older_than_days": 3});
        let cases = [
            (json!({"select": base, "dryrun": true}), "dryrun"),
            (json!({"select": base, "dry_run": "true"}), "dry_run"),
            (json!({"select": base, "request_id": "x".repeat(61)}), "request_id"),
            (json!({"select": base, "timeout_seconds": 0}), "timeout_seconds"),
            (json!({"select": base, "context": []}), "context"),
            (
                json!({"select": base, "reference_time": "<aws.scheduler.scheduled-time>"}),
                "reference_time",
            ),
            (json!({"select": "all"}), "select"),
            (json!({"select": null}), "select"),
        ];
        for (v, field) in cases {
            let e = SelectionRequest::from_value(&v).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{v}");
        }
        let e = SelectionRequest::from_value(&json!({"select": null})).unwrap_err();
        assert_eq!(e.message, "select: is required");
        // The context's limit, at its edge: {"k":"<v>"} is 8 bytes plus the value.
        let context = |n: usize| json!({"select": base, "context": {"k": "x".repeat(n - 8)}});
        assert!(SelectionRequest::from_value(&context(crate::request::MAX_CONTEXT_BYTES)).is_ok());
        let e = SelectionRequest::from_value(&context(crate::request::MAX_CONTEXT_BYTES + 1)).unwrap_err();
        assert_eq!(e.code, "context_too_large");
    }

    #[test]
    fn selection_id_follows_select_dry_run_and_reference_time() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = sel(json!({"project_id": "p", "older_than_days": 30})).unwrap();
        let id = a.selection_id(t);
        assert!(id.starts_with("sel_") && id.len() == 36);
        assert!(validate_id("selection_id", &id).is_ok());
        assert_eq!(id, a.selection_id(t), "deterministic");
        assert_ne!(
            id,
            a.selection_id(t + chrono::Duration::days(1)),
            "a new night, a new selection"
        );
        let mut dry = a.clone();
        dry.dry_run = true;
        assert_ne!(id, dry.selection_id(t));
        let b = sel(json!({"project_id": "p", "older_than_days": 31})).unwrap();
        assert_ne!(id, b.selection_id(t));
        assert_eq!(a.request_prefix(&id), id);
    }

    #[test]
    fn the_age_cutoff_is_the_stricter_filter() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = |v: Value| sel(v).unwrap().select;
        assert_eq!(s(json!({"project_id": "p", "resource_id": "r"})).age_cutoff(t), None);
        let days = s(json!({"project_id": "p", "older_than_days": 30}))
            .age_cutoff(t)
            .unwrap();
        assert_eq!(days.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        let both = s(json!({"project_id": "p", "older_than_days": 30, "created_before": "2026-10-01T00:00:00Z"}));
        assert_eq!(both.age_cutoff(t).unwrap().to_rfc3339(), "2026-10-01T00:00:00+00:00");
    }
}
