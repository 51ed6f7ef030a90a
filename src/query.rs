//! The query parameters of the HTTP routes (docs/DESIGN.md, "HTTP API"): one parameter may
//! repeat or be a comma list, every other one is named, and an unknown one is refused, never
//! ignored (it could be a mistyped filter).

use serde_json::{Map, Value};

use crate::codes::ErrorCode;
use crate::ids::validate_id;
use crate::request::RequestError;
use crate::service::Service;

/// The decoded `key=value` pairs, in order.
pub fn query_pairs(raw_query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect()
}

/// `list_key` (`checkpoint_items`, `backup_id`) may repeat or be a comma list; any other
/// parameter outside `allowed` is refused.
pub fn parse_query(
    raw_query: &str,
    list_key: &str,
    allowed: &[&str],
) -> Result<(Map<String, Value>, Vec<String>), RequestError> {
    let mut single = Map::new();
    let mut items = Vec::new();
    for (k, v) in query_pairs(raw_query) {
        if k == list_key {
            items.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string));
        } else if allowed.contains(&k.as_str()) {
            single.insert(k, Value::String(v));
        } else {
            return Err(RequestError {
                code: ErrorCode::UnknownParameter,
                field: Some(k.clone()),
                message: format!("unknown query parameter {k}"),
            });
        }
    }
    Ok((single, items))
}

/// What `GET /deletions/status` asks about: a CSBS checkpoint's items (all of them when none
/// is named) or CBR backups.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveQuery {
    Checkpoint { checkpoint_id: String, items: Vec<String> },
    Backups(Vec<String>),
}

/// Why a status query is refused.
#[derive(Debug)]
pub enum QueryError {
    /// A value that does not validate (400 `invalid_request`).
    Invalid(String),
    /// A parameter the route does not take.
    Request(RequestError),
}

impl From<RequestError> for QueryError {
    fn from(e: RequestError) -> Self {
        QueryError::Request(e)
    }
}

/// The place and targets of a live status query, every id validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTarget {
    pub project_id: String,
    /// As named (`None`: the default region); the workflow reads it against the served ones.
    pub region: Option<String>,
    pub query: LiveQuery,
}

/// The project, region and targets of a live status query, every id validated.
pub fn live_query(raw_query: &str) -> Result<LiveTarget, QueryError> {
    let service = query_pairs(raw_query)
        .into_iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v);
    let service = match service.as_deref() {
        None => Service::Csbs,
        Some(s) => Service::parse(s).ok_or_else(|| QueryError::Invalid("service: must be csbs or cbr".into()))?,
    };
    let (list_key, allowed): (&str, &[&str]) = match service {
        Service::Csbs => (
            "checkpoint_items",
            &["service", "project_id", "checkpoint_id", "region"],
        ),
        Service::Cbr => ("backup_id", &["service", "project_id", "region"]),
    };
    let (q, ids) = parse_query(raw_query, list_key, allowed)?;
    let get = |k: &'static str| -> Result<String, QueryError> {
        let v = q.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        validate_id(k, &v).map_err(|e| QueryError::Invalid(e.to_string()))?;
        Ok(v)
    };
    let project_id = get("project_id")?;
    let region = crate::request::region_field(q.get("region"), "region").map_err(|e| QueryError::Invalid(e.message))?;
    let query = match service {
        Service::Csbs => LiveQuery::Checkpoint {
            checkpoint_id: get("checkpoint_id")?,
            items: ids,
        },
        Service::Cbr if ids.is_empty() || ids.len() > crate::request::MAX_BACKUP_IDS => {
            return Err(QueryError::Invalid(
                "backup_id: give 1 to 100 backup IDs (repeat the parameter or separate them with commas)".into(),
            ));
        }
        Service::Cbr => LiveQuery::Backups(ids),
    };
    let (key, ids) = match &query {
        LiveQuery::Checkpoint { items, .. } => ("checkpoint_items", items),
        LiveQuery::Backups(ids) => ("backup_id", ids),
    };
    for id in ids {
        validate_id(key, id).map_err(|e| QueryError::Invalid(e.to_string()))?;
    }
    Ok(LiveTarget {
        project_id,
        region,
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_repeat_or_split_and_unknown_parameters_are_refused() {
        let (single, items) =
            parse_query("project_id=p&backup_id=a,b&backup_id=c", "backup_id", &["project_id"]).unwrap();
        assert_eq!(
            (single["project_id"].as_str(), items),
            (Some("p"), vec!["a".to_string(), "b".into(), "c".into()])
        );
        let e = parse_query("projectid=p", "backup_id", &["project_id"]).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("unknown_parameter", Some("projectid"))
        );
        assert!(parse_query("", "", &[]).unwrap().1.is_empty());
    }

    #[test]
    fn live_queries_validate_every_id_before_any_call() {
        let t = live_query("project_id=p1&checkpoint_id=c1&checkpoint_items=a,b").unwrap();
        assert_eq!(
            (t.project_id.as_str(), t.region, t.query),
            (
                "p1",
                None,
                LiveQuery::Checkpoint {
                    checkpoint_id: "c1".into(),
                    items: vec!["a".into(), "b".into()]
                }
            )
        );
        let t = live_query("service=cbr&project_id=p1&backup_id=b1&backup_id=b2&region=eu-nl").unwrap();
        assert_eq!(t.query, LiveQuery::Backups(vec!["b1".into(), "b2".into()]));
        assert_eq!(t.region.as_deref(), Some("eu-nl"));
        for bad in [
            "service=csbx&project_id=p1&checkpoint_id=c1",
            "project_id=p1",
            "project_id=p1&checkpoint_id=c1&checkpoint_items=a/b",
            "service=cbr&project_id=p1",
            "service=cbr&project_id=p1&backup_id=..",
            "service=cbr&project_id=p1&backup_id=b&region=EU%2Fnl",
            "project_id=p1&checkpoint_id=c1&region=",
        ] {
            assert!(matches!(live_query(bad), Err(QueryError::Invalid(_))), "{bad}");
        }
        assert!(matches!(
            live_query("service=cbr&project_id=p1&backup_id=b&checkpoint_id=c"),
            Err(QueryError::Request(_))
        ));
    }
}
