//! The deletion request contract (docs/DESIGN.md, "Deletion request"): parsing, validation with an
//! error that names the field, and unwrapping of EventBridge / SNS envelopes in SQS bodies.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use thiserror::Error;

mod fields;

pub(crate) use fields::region_field;
use fields::{
    cbr_targets, checkpoint_id_is_restore_point, checkpoint_items_field, id_field, request_id_field, service_field,
    valid_request_id, with_replicas_field,
};
pub(crate) use fields::{context_field, id_list, printable_ascii, strip_field, timeout_field, unknown_field};

use crate::codes::ErrorCode;
use crate::ids::validate_id;
use crate::service::DEFAULT_PROVIDER_ID;
use crate::service::Service;

pub const MAX_CONTEXT_BYTES: usize = 4096;
pub const MAX_TIMEOUT_SECONDS: u64 = 86_400;
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// Most backups one CBR request may name in `backup_ids`.
pub const MAX_BACKUP_IDS: usize = 100;
/// Most items one CSBS request may name in `checkpoint_items`: each is one DELETE, and every
/// event names them all (docs/DESIGN.md, "Deletion request").
pub const MAX_CHECKPOINT_ITEMS: usize = 100;

const FIELDS: [&str; 13] = [
    "service",
    "project_id",
    "checkpoint_id",
    "checkpoint_items",
    "provider_id",
    "backup_id",
    "backup_ids",
    "request_id",
    "timeout_seconds",
    "context",
    "selection_id",
    "region",
    "with_replicas",
];

/// Fields that only one service takes: given with the other, they are refused, never ignored
/// (docs/DESIGN.md, "CBR targets").
const CSBS_ONLY: [&str; 2] = ["checkpoint_items", "provider_id"];
const CBR_ONLY: [&str; 3] = ["backup_id", "backup_ids", "with_replicas"];

/// A validated deletion request. Which fields are set depends on the service, and parsing
/// guarantees it: CSBS has `provider_id` (defaulted) and `checkpoint_id`, maybe
/// `checkpoint_items`; CBR has exactly one of `backup_ids` and `checkpoint_id` (a restore point).
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionRequest {
    pub service: Service,
    pub project_id: String,
    /// CSBS only.
    pub provider_id: Option<String>,
    /// CSBS: the checkpoint. CBR: a restore point, whose backups are listed at submit time.
    pub checkpoint_id: Option<String>,
    /// CSBS only. Sorted and de-duplicated; `None` = every backup of the checkpoint.
    pub checkpoint_items: Option<Vec<String>>,
    /// CBR only: the backups to delete (from `backup_id` or `backup_ids`), sorted and
    /// de-duplicated.
    pub backup_ids: Option<Vec<String>>,
    pub request_id: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub context: Option<Map<String, Value>>,
    /// Set on the targets a selection fans out (src/selection/fanout.rs), echoed in their
    /// events; not part of the task id (the request id already is).
    pub selection_id: Option<String>,
    /// The region named by the request; `None` for the default region (submit reads a
    /// request's region against the served ones and clears the default's name, so naming
    /// it is the same task as leaving it out: docs/DESIGN.md, "Regions").
    pub region: Option<String>,
    /// CBR `backup_id`/`backup_ids` only: delete each backup's replicas too.
    pub with_replicas: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct RequestError {
    /// `invalid_json`, `duplicate_field`, `invalid_request`, `unknown_field` or
    /// `context_too_large`.
    pub code: ErrorCode,
    pub field: Option<String>,
    pub message: String,
}

impl RequestError {
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        RequestError {
            code: ErrorCode::InvalidRequest,
            field: Some(field.into()),
            message: format!("{field}: {}", message.into()),
        }
    }

    /// The HTTP status this error maps to.
    pub fn http_status(&self) -> u16 {
        if self.code == ErrorCode::ContextTooLarge {
            413
        } else {
            400
        }
    }
}

/// The well-formed string fields of a refused request, echoed in its Rejected event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EchoFields {
    pub service: Service,
    pub project_id: Option<String>,
    pub provider_id: Option<String>,
    pub checkpoint_id: Option<String>,
    pub request_id: Option<String>,
    /// A well-formed `region`; `None` when absent or malformed.
    pub region: Option<String>,
}

impl DeletionRequest {
    /// Parses a JSON body of the request itself.
    pub fn from_json(body: &[u8]) -> Result<Self, RequestError> {
        Self::from_value(&parse_json(body, "the body")?)
    }

    /// Parses an SQS message body: the request, or an EventBridge event whose `detail` is the
    /// request, or an SNS notification whose `Message` is.
    pub fn from_sqs_body(body: &str) -> Result<Self, RequestError> {
        Self::from_value(&unwrap_envelopes(parse_json(body.as_bytes(), "the message body")?)?)
    }

    pub fn from_value(value: &Value) -> Result<Self, RequestError> {
        let obj = value.as_object().ok_or_else(|| RequestError {
            code: ErrorCode::InvalidRequest,
            field: None,
            message: "the request must be a JSON object".into(),
        })?;
        if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(unknown_field("", unknown, &FIELDS));
        }
        let service = service_field(obj)?;
        let project_id = id_field(obj, "project_id", true)?.expect("required");
        let (provider_id, checkpoint_id, backup_ids) = match service {
            Service::Csbs => (
                Some(id_field(obj, "provider_id", false)?.unwrap_or_else(|| DEFAULT_PROVIDER_ID.to_string())),
                id_field(obj, "checkpoint_id", true)?,
                None,
            ),
            Service::Cbr => {
                let (checkpoint_id, backup_ids) = cbr_targets(obj)?;
                (None, checkpoint_id, backup_ids)
            }
        };
        Ok(DeletionRequest {
            service,
            project_id,
            provider_id,
            checkpoint_id,
            checkpoint_items: checkpoint_items_field(obj.get("checkpoint_items"))?,
            backup_ids,
            request_id: request_id_field(obj.get("request_id"))?,
            timeout_seconds: timeout_field(obj.get("timeout_seconds"))?,
            context: context_field(obj.get("context"))?,
            selection_id: id_field(obj, "selection_id", false)?,
            region: region_field(obj.get("region"), "region")?,
            with_replicas: with_replicas_field(obj, checkpoint_id_is_restore_point(service, obj))?,
        })
    }
}

impl DeletionRequest {
    /// What the request deletes, for logs: `csbs:<checkpoint>`, `cbr:<restore point>` or
    /// `cbr:<first backup>+<n more>`.
    pub fn target_label(&self) -> String {
        match (&self.checkpoint_id, &self.backup_ids) {
            (Some(c), _) => format!("{}:{c}", self.service.as_str()),
            (None, Some(ids)) if ids.len() > 1 => format!("cbr:{}+{}", ids[0], ids.len() - 1),
            (None, Some(ids)) => format!("cbr:{}", ids.first().map(String::as_str).unwrap_or("")),
            (None, None) => String::new(),
        }
    }
}

/// Parses caller input strictly (src/json.rs): not JSON → `invalid_json`; an object that
/// repeats a key → `duplicate_field` naming it. `what` names the input in the message.
pub fn parse_json(bytes: &[u8], what: &str) -> Result<Value, RequestError> {
    crate::json::from_slice(bytes).map_err(|e| match e {
        crate::json::StrictError::Syntax(e) => RequestError {
            code: ErrorCode::InvalidJson,
            field: None,
            message: format!("{what} is not valid JSON: {e}"),
        },
        crate::json::StrictError::Duplicate { path } => RequestError {
            message: format!(
                "{path}: appears more than once in {what}; refused, since readers that keep the first and the last value would see different requests"
            ),
            code: ErrorCode::DuplicateField,
            field: Some(path),
        },
    })
}

/// Unwraps an EventBridge event (`detail`) or an SNS notification (`Message`), at most twice
/// (SNS carrying an EventBridge event).
pub(crate) fn unwrap_envelopes(mut value: Value) -> Result<Value, RequestError> {
    for _ in 0..2 {
        let Some(obj) = value.as_object() else { break };
        if obj.contains_key("detail-type") && obj.contains_key("source") {
            value = obj.get("detail").cloned().unwrap_or(Value::Null);
        } else if obj.get("Type").and_then(Value::as_str) == Some("Notification") {
            let msg = obj.get("Message").and_then(Value::as_str).unwrap_or_default();
            value = parse_json(msg.as_bytes(), "the SNS Message").map_err(|mut e| {
                if e.code == ErrorCode::InvalidJson {
                    e.field = Some("Message".into());
                }
                e
            })?;
        } else {
            break;
        }
    }
    Ok(value)
}

/// What can be echoed from a refused body: its well-formed string fields, after unwrapping.
pub fn echo_fields(body: &[u8]) -> EchoFields {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return EchoFields::default();
    };
    let value = unwrap_envelopes(value).unwrap_or(Value::Null);
    // A selection names its project and service inside `select`.
    let scope = value.get("select").filter(|s| s.is_object()).unwrap_or(&value);
    let get = |f: &'static str| {
        scope
            .get(f)
            .and_then(Value::as_str)
            .filter(|s| validate_id(f, s).is_ok())
            .map(str::to_string)
    };
    EchoFields {
        service: scope
            .get("service")
            .and_then(Value::as_str)
            .and_then(Service::parse)
            .unwrap_or_default(),
        project_id: get("project_id"),
        provider_id: get("provider_id"),
        checkpoint_id: get("checkpoint_id"),
        region: value
            .get("region")
            .or_else(|| scope.get("region"))
            .and_then(Value::as_str)
            .filter(|s| crate::region::valid_region_name(s))
            .map(str::to_string),
        request_id: value
            .get("request_id")
            .and_then(Value::as_str)
            .filter(|s| valid_request_id(s))
            .map(str::to_string),
    }
}

/// Task id of a message that could not be parsed: from the SHA-256 of its raw bytes.
pub fn task_id_of_raw(body: &[u8]) -> String {
    format!("tsk_{}", &hex::encode(Sha256::digest(body))[..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<DeletionRequest, RequestError> {
        DeletionRequest::from_value(&v)
    }

    #[test]
    fn minimal_request_gets_defaults() {
        let r = parse(json!({"project_id": "p1", "checkpoint_id": "c1"})).unwrap();
        assert_eq!(r.provider_id.as_deref(), Some(DEFAULT_PROVIDER_ID));
        assert_eq!((r.service, r.backup_ids), (Service::Csbs, None));
        assert_eq!(
            (r.checkpoint_items, r.request_id, r.timeout_seconds, r.context),
            (None, None, None, None)
        );
    }

    #[test]
    fn cbr_takes_exactly_one_target_form() {
        let r = parse(json!({"service": "cbr", "project_id": "p", "backup_id": "b1"})).unwrap();
        assert_eq!(
            (r.service, r.backup_ids.clone(), r.provider_id.clone()),
            (Service::Cbr, Some(vec!["b1".to_string()]), None)
        );
        let r2 = parse(json!({"service": "cbr", "project_id": "p", "backup_ids": ["b1", "b1"]})).unwrap();
        assert_eq!(r2.backup_ids, r.backup_ids, "one backup either way");
        let r = parse(json!({"service": "cbr", "project_id": "p", "checkpoint_id": "rp"})).unwrap();
        assert_eq!((r.checkpoint_id.as_deref(), r.backup_ids), (Some("rp"), None));
        let r = parse(json!({"service": "cbr", "project_id": "p", "backup_ids": ["b2", "b1"]})).unwrap();
        assert_eq!(r.backup_ids, Some(vec!["b1".to_string(), "b2".to_string()]));
        assert_eq!(r.target_label(), "cbr:b1+1");
        let explicit = parse(json!({"service": "csbs", "project_id": "p", "checkpoint_id": "c"})).unwrap();
        assert_eq!(
            explicit,
            parse(json!({"project_id": "p", "checkpoint_id": "c"})).unwrap()
        );
    }

    #[test]
    fn cbr_refusals_name_the_field() {
        let hundred: Vec<String> = (0..100).map(|i| format!("b{i}")).collect();
        assert!(parse(json!({"service": "cbr", "project_id": "p", "backup_ids": hundred})).is_ok());
        let over: Vec<String> = (0..101).map(|i| format!("b{i}")).collect();
        let cases = [
            (json!({"service": "cbr", "project_id": "p"}), "backup_id"),
            (
                json!({"service": "cbr", "project_id": "p", "backup_id": "b", "backup_ids": ["c"]}),
                "backup_ids",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_id": "b", "checkpoint_id": "c"}),
                "checkpoint_id",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_ids": []}),
                "backup_ids",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_ids": over}),
                "backup_ids",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_ids": "b"}),
                "backup_ids",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_ids": ["ok", "a/b"]}),
                "backup_ids",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_ids": [1]}),
                "backup_ids",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_id": "../x"}),
                "backup_id",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_id": "b", "checkpoint_items": ["i"]}),
                "checkpoint_items",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_id": "b", "provider_id": "x"}),
                "provider_id",
            ),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "backup_id": "b"}),
                "backup_id",
            ),
            (
                json!({"service": "csbs", "project_id": "p", "checkpoint_id": "c", "backup_ids": ["b"]}),
                "backup_ids",
            ),
            (
                json!({"service": "CBR", "project_id": "p", "backup_id": "b"}),
                "service",
            ),
            (json!({"service": 1, "project_id": "p", "backup_id": "b"}), "service"),
            (json!({"service": "cbr", "backup_id": "b"}), "project_id"),
        ];
        for (v, field) in cases {
            let e = parse(v.clone()).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{v}: {}", e.message);
            assert!(e.message.starts_with(field), "{}", e.message);
        }
        let e = parse(json!({"service": "cbr", "project_id": "p", "backup_idz": "b"})).unwrap_err();
        assert_eq!(e.code, "unknown_field");
        assert!(e.message.contains("did you mean backup_id"), "{}", e.message);
    }

    #[test]
    fn items_single_string_or_list_sorted_and_deduplicated() {
        let r = parse(json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": "i1"})).unwrap();
        assert_eq!(r.checkpoint_items, Some(vec!["i1".to_string()]));
        let r = parse(json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": ["b", "a", "b"]})).unwrap();
        assert_eq!(r.checkpoint_items, Some(vec!["a".to_string(), "b".to_string()]));
        let e = parse(json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": []})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("checkpoint_items"));
    }

    #[test]
    fn messages_name_the_field_once_and_hint_at_typos() {
        let e = parse(json!({"project_id": "p", "checkpoint_id": "a/b"})).unwrap_err();
        assert_eq!(
            e.message,
            "checkpoint_id: may contain only letters, digits, '-' and '_'"
        );
        let e = parse(json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": [""]})).unwrap_err();
        assert_eq!(e.message, "checkpoint_items: must not be empty");
        // A single string is validated like a list of one.
        let e = parse(json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": ""})).unwrap_err();
        assert_eq!(e.message, "checkpoint_items: must not be empty");
        for typo in [
            "checkpoint_item",
            "checkpointitems",
            "checkpoint-items",
            "Checkpoint_Items_",
        ] {
            let e = parse(json!({"project_id": "p", "checkpoint_id": "c", typo: "i"})).unwrap_err();
            assert_eq!((e.code.as_str(), e.field.as_deref()), ("unknown_field", Some(typo)));
            assert!(
                e.message.contains("did you mean checkpoint_items?"),
                "{typo}: {}",
                e.message
            );
        }
        let e = parse(json!({"project_id": "p", "checkpoint_id": "c", "colour": "i"})).unwrap_err();
        assert!(
            !e.message.contains("did you mean"),
            "no hint for an unrelated name: {}",
            e.message
        );
    }

    #[test]
    fn a_body_is_an_envelope_only_with_both_keys() {
        // A request that merely carries `source` (or `detail-type`) is not unwrapped: it is refused
        // for its unknown field, never read as an EventBridge event with a missing detail.
        for key in ["source", "detail-type"] {
            let body = json!({"project_id": "p", "checkpoint_id": "c", key: "x"}).to_string();
            let e = DeletionRequest::from_sqs_body(&body).unwrap_err();
            assert_eq!(
                (e.code.as_str(), e.field.as_deref()),
                ("unknown_field", Some(key)),
                "{key}"
            );
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({"checkpoint_id": "c"}), "project_id"),
            (json!({"project_id": "p"}), "checkpoint_id"),
            (json!({"project_id": "p/../x", "checkpoint_id": "c"}), "project_id"),
            (json!({"project_id": "p", "checkpoint_id": 5}), "checkpoint_id"),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "provider_id": "a?b"}),
                "provider_id",
            ),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_items": ["ok", "../x"]}),
                "checkpoint_items",
            ),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "request_id": ""}),
                "request_id",
            ),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "request_id": "tab\there"}),
                "request_id",
            ),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "timeout_seconds": 0}),
                "timeout_seconds",
            ),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "region": "EU-DE"}),
                "region",
            ),
            (json!({"project_id": "p", "checkpoint_id": "c", "region": 1}), "region"),
            (json!({"project_id": "p", "checkpoint_id": "c", "region": ""}), "region"),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "with_replicas": true}),
                "with_replicas",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "backup_id": "b", "with_replicas": "yes"}),
                "with_replicas",
            ),
            (
                json!({"service": "cbr", "project_id": "p", "checkpoint_id": "c", "with_replicas": true}),
                "with_replicas",
            ),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "timeout_seconds": 86401}),
                "timeout_seconds",
            ),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "timeout_seconds": 1.5}),
                "timeout_seconds",
            ),
            (
                json!({"project_id": "p", "checkpoint_id": "c", "context": [1]}),
                "context",
            ),
        ];
        for (v, field) in cases {
            let e = parse(v.clone()).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{v}");
            assert!(e.message.starts_with(field), "{}", e.message);
            assert_eq!(e.http_status(), 400);
        }
    }

    #[test]
    fn unknown_fields_are_refused_with_a_hint() {
        let e = parse(json!({"project_id": "p", "checkpoint_id": "c", "checkpoint_item": "i"})).unwrap_err();
        assert_eq!(e.code, "unknown_field");
        assert!(e.message.contains("did you mean checkpoint_items?"), "{}", e.message);
    }

    #[test]
    fn context_limit_is_413() {
        let big = "x".repeat(MAX_CONTEXT_BYTES);
        let e = parse(json!({"project_id": "p", "checkpoint_id": "c", "context": {"k": big}})).unwrap_err();
        assert_eq!((e.code.as_str(), e.http_status()), ("context_too_large", 413));
        let ok = "x".repeat(MAX_CONTEXT_BYTES - 8); // {"k":"…"} adds 8 bytes
        assert!(parse(json!({"project_id": "p", "checkpoint_id": "c", "context": {"k": ok}})).is_ok());
    }

    #[test]
    fn sqs_bodies_unwrap_eventbridge_and_sns() {
        let req = json!({"project_id": "p", "checkpoint_id": "c"});
        let eb = json!({"version": "0", "id": "x", "detail-type": "Delete", "source": "me", "detail": req});
        assert_eq!(
            DeletionRequest::from_sqs_body(&eb.to_string())
                .unwrap()
                .checkpoint_id
                .as_deref(),
            Some("c")
        );
        let sns = json!({"Type": "Notification", "MessageId": "m", "Message": req.to_string()});
        assert_eq!(
            DeletionRequest::from_sqs_body(&sns.to_string()).unwrap().project_id,
            "p"
        );
        let sns_eb = json!({"Type": "Notification", "Message": eb.to_string()});
        assert!(DeletionRequest::from_sqs_body(&sns_eb.to_string()).is_ok());
        let e = DeletionRequest::from_sqs_body("not json").unwrap_err();
        assert_eq!(e.code, "invalid_json");
    }

    #[test]
    fn echo_keeps_only_well_formed_strings() {
        let echo =
            echo_fields(br#"{"project_id":"p1","checkpoint_id":"bad/id","request_id":"r-1","provider_id":7,"x":1}"#);
        assert_eq!(
            echo,
            EchoFields {
                project_id: Some("p1".into()),
                request_id: Some("r-1".into()),
                ..Default::default()
            }
        );
        assert_eq!(echo_fields(b"\xff"), EchoFields::default());
        assert_eq!(task_id_of_raw(b"abc"), task_id_of_raw(b"abc"));
        assert_ne!(task_id_of_raw(b"abc"), task_id_of_raw(b"abd"));
    }
}
