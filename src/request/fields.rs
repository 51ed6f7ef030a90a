//! The fields of a request, each parsed strictly: a value of the wrong type, shape or size is
//! refused with the field's name, never coerced or ignored (docs/DESIGN.md, "Requests").

use serde_json::{Map, Value};

use super::{
    CBR_ONLY, CSBS_ONLY, MAX_BACKUP_IDS, MAX_CHECKPOINT_ITEMS, MAX_CONTEXT_BYTES, MAX_REQUEST_ID_LEN,
    MAX_TIMEOUT_SECONDS, RequestError,
};
use crate::codes::ErrorCode;
use crate::ids::validate_id;
use crate::service::Service;

/// `timeout_seconds`: an integer 1–86400, or absent.
pub(crate) fn timeout_field(value: Option<&Value>) -> Result<Option<u64>, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(t) if (1..=MAX_TIMEOUT_SECONDS).contains(&t) => Ok(Some(t)),
            _ => Err(RequestError::field(
                "timeout_seconds",
                format!("must be an integer from 1 to {MAX_TIMEOUT_SECONDS}"),
            )),
        },
    }
}

/// `context`: a JSON object of at most [`MAX_CONTEXT_BYTES`] in compact form, or absent.
pub(crate) fn context_field(value: Option<&Value>) -> Result<Option<Map<String, Value>>, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            let size = serde_json::to_vec(m).map(|v| v.len()).unwrap_or(usize::MAX);
            if size > MAX_CONTEXT_BYTES {
                return Err(RequestError {
                    code: ErrorCode::ContextTooLarge,
                    field: Some("context".into()),
                    message: format!("context: {size} bytes in compact JSON, at most {MAX_CONTEXT_BYTES} allowed"),
                });
            }
            Ok(Some(m.clone()))
        }
        Some(_) => Err(RequestError::field("context", "must be a JSON object")),
    }
}

/// A list of IDs (`max` at most), sorted and de-duplicated; `None` when absent.
pub(crate) fn id_list(
    value: Option<&Value>,
    field: &'static str,
    max: usize,
) -> Result<Option<Vec<String>>, RequestError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) if a.is_empty() || a.len() > max => {
            return Err(RequestError::field(field, format!("must list 1 to {max} IDs")));
        }
        Some(Value::Array(a)) => a,
        Some(_) => return Err(RequestError::field(field, "must be a list of strings")),
    };
    let mut ids = Vec::with_capacity(list.len());
    for v in list {
        let s = v
            .as_str()
            .ok_or_else(|| RequestError::field(field, "must hold strings only"))?;
        validate_id(field, s).map_err(|e| RequestError::field(field, strip_field(&e.to_string(), field)))?;
        ids.push(s.to_string());
    }
    ids.sort();
    ids.dedup();
    Ok(Some(ids))
}

pub(crate) fn strip_field(msg: &str, field: &str) -> String {
    msg.strip_prefix(field)
        .map(|s| s.trim_start().to_string())
        .unwrap_or_else(|| msg.to_string())
}

pub(super) fn valid_request_id(s: &str) -> bool {
    printable_ascii(s, MAX_REQUEST_ID_LEN)
}

/// 1 to `max` printable ASCII characters (request ids and their prefixes).
pub(crate) fn printable_ascii(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// The refusal of an unknown field `<prefix><name>`, with a hint when it looks like one of
/// `known`: a misspelt field is never ignored, since it could widen a deletion.
pub(crate) fn unknown_field(prefix: &str, name: &str, known: &[&str]) -> RequestError {
    let hint = known
        .iter()
        .find(|f| similar(f, name))
        .map(|f| format!(" (did you mean {prefix}{f}?)"))
        .unwrap_or_default();
    RequestError {
        code: ErrorCode::UnknownField,
        field: Some(format!("{prefix}{name}")),
        message: format!("unknown field {prefix}{name}{hint}: refused, since a misspelt field could widen a deletion"),
    }
}

/// Same letters but one, or one letter more or less: enough to catch `checkpoint_item`.
fn similar(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    a != b && (a.starts_with(&b) || b.starts_with(&a) || a.replace('_', "") == b.replace(['_', '-'], ""))
}

/// `service`: `csbs` (the default) or `cbr`; a field of the other service is refused, never
/// ignored.
pub(crate) fn service_field(obj: &Map<String, Value>) -> Result<Service, RequestError> {
    let service = match obj.get("service") {
        None | Some(Value::Null) => Service::Csbs,
        Some(Value::String(s)) => {
            Service::parse(s).ok_or_else(|| RequestError::field("service", "must be \"csbs\" or \"cbr\""))?
        }
        Some(_) => return Err(RequestError::field("service", "must be a string")),
    };
    let (foreign, other) = match service {
        Service::Csbs => (&CBR_ONLY[..], Service::Cbr),
        Service::Cbr => (&CSBS_ONLY[..], Service::Csbs),
    };
    if let Some(f) = foreign.iter().find(|f| present(obj, f)) {
        return Err(RequestError::field(
            f,
            format!(
                "applies to \"service\": \"{}\" only, and this request is for {}",
                other.as_str(),
                service.as_str()
            ),
        ));
    }
    Ok(service)
}

fn present(obj: &Map<String, Value>, field: &str) -> bool {
    obj.get(field).is_some_and(|v| !v.is_null())
}

/// One ID field: a valid ID, absent (`None`) unless `required`.
pub(crate) fn id_field(
    obj: &Map<String, Value>,
    field: &'static str,
    required: bool,
) -> Result<Option<String>, RequestError> {
    match obj.get(field) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(RequestError::field(field, "is required")),
        Some(Value::String(s)) => {
            validate_id(field, s).map_err(|e| RequestError::field(field, strip_field(&e.to_string(), field)))?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(RequestError::field(field, "must be a string")),
    }
}

/// A CBR request's targets: exactly one of `backup_id`, `backup_ids` and `checkpoint_id` (a
/// restore point), as (restore point, backups).
pub(super) fn cbr_targets(obj: &Map<String, Value>) -> Result<(Option<String>, Option<Vec<String>>), RequestError> {
    let forms: Vec<&str> = ["backup_id", "backup_ids", "checkpoint_id"]
        .into_iter()
        .filter(|f| present(obj, f))
        .collect();
    match forms.as_slice() {
        [] => {
            return Err(RequestError::field(
                "backup_id",
                "is required with \"service\": \"cbr\" (or backup_ids, or checkpoint_id for a restore point)",
            ));
        }
        [_, second, ..] => {
            return Err(RequestError::field(
                second,
                format!(
                    "give only one of backup_id, backup_ids and checkpoint_id (this request also has {})",
                    forms[0]
                ),
            ));
        }
        _ => {}
    }
    let backup_ids = match id_field(obj, "backup_id", false)? {
        Some(one) => Some(vec![one]),
        None => id_list(obj.get("backup_ids"), "backup_ids", MAX_BACKUP_IDS)?,
    };
    Ok((id_field(obj, "checkpoint_id", false)?, backup_ids))
}

/// `checkpoint_items`: one ID or a list of 1 to 100; absent deletes the whole checkpoint.
pub(super) fn checkpoint_items_field(value: Option<&Value>) -> Result<Option<Vec<String>>, RequestError> {
    match value {
        // A single string is a list of one, validated like any list.
        Some(Value::String(s)) => id_list(
            Some(&Value::Array(vec![Value::String(s.clone())])),
            "checkpoint_items",
            1,
        ),
        Some(Value::Array(a)) if a.is_empty() => Err(RequestError::field(
            "checkpoint_items",
            "must not be empty (leave it out to delete every backup of the checkpoint)",
        )),
        other => id_list(other, "checkpoint_items", MAX_CHECKPOINT_ITEMS),
    }
}

/// `request_id`: 1–128 printable ASCII characters, or absent.
pub(super) fn request_id_field(value: Option<&Value>) -> Result<Option<String>, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if valid_request_id(s) => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(RequestError::field(
            "request_id",
            format!("must be 1–{MAX_REQUEST_ID_LEN} printable ASCII characters"),
        )),
        Some(_) => Err(RequestError::field("request_id", "must be a string")),
    }
}

/// `region`: a region name (src/region.rs), or absent. Whether this stack serves it is for
/// submit to say (`unknown_region`): the contract knows only the name's shape.
pub(crate) fn region_field(value: Option<&Value>, field: &str) -> Result<Option<String>, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if crate::region::valid_region_name(s) => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(RequestError::field(
            field,
            format!(
                "must be a region name: 1 to {} of a-z, 0-9 and '-'",
                crate::region::MAX_REGION_LEN
            ),
        )),
        Some(_) => Err(RequestError::field(field, "must be a string")),
    }
}

/// Whether a CBR request names a restore point (`checkpoint_id`) rather than backups.
pub(super) fn checkpoint_id_is_restore_point(service: Service, obj: &Map<String, Value>) -> bool {
    service == Service::Cbr && present(obj, "checkpoint_id")
}

/// `with_replicas`: a boolean; `true` only on CBR `backup_id`/`backup_ids` requests (the
/// service check has refused it on CSBS already).
pub(super) fn with_replicas_field(obj: &Map<String, Value>, restore_point: bool) -> Result<bool, RequestError> {
    match obj.get("with_replicas") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) if restore_point => Err(RequestError::field(
            "with_replicas",
            "applies to backup_id and backup_ids only (name the restore point's backups)",
        )),
        Some(Value::Bool(true)) => Ok(true),
        Some(_) => Err(RequestError::field("with_replicas", "must be true or false")),
    }
}
