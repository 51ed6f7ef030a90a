//! The fan-out of a selection (docs/DESIGN.md, "Selection requests"): each target becomes an
//! ordinary deletion request on the intake queue, fed at the service's pace. A step sends a
//! few targets and re-queues the rest as a delayed follow-up message (`{"fan_out": …}`), so
//! the state of a long fan-out lives in the queue, like every other state of this system.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::selector::{MAX_MAX_BACKUPS, MAX_SELECTION_REQUEST_ID_LEN};
use crate::codes::ErrorCode;
use crate::ids::validate_id;
use crate::request::{RequestError, context_field, printable_ascii, timeout_field};
use crate::service::Service;

/// CSBS runs five deletions per user at a time and queues the rest (`waiting_delete`).
pub const SERVICE_PARALLEL: u64 = 5;
/// Targets sent per step: one full `SendMessageBatch`.
pub const STEP_TARGETS: usize = 10;

/// How many targets a step sends, given how many of the project's backups wait in the
/// service's queue. Nothing while five or more wait: a target's deadline starts when submit
/// takes it, so it must not join a long queue. Otherwise a full batch: at most 14 wait behind
/// the 5 running, a few minutes at CSBS's pace, far inside the default 30-minute timeout.
pub fn pace(waiting: u64, remaining: usize) -> usize {
    if waiting < SERVICE_PARALLEL {
        remaining.min(STEP_TARGETS)
    } else {
        0
    }
}

/// One step of a fan-out: the targets still to send. The body of a follow-up message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanOut {
    pub selection_id: String,
    #[serde(default)]
    pub service: Service,
    pub project_id: String,
    /// Each target's `request_id` is `<request_prefix>/<target id>`.
    pub request_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    /// Target keys ([`target_key`]), in plan order.
    pub targets: Vec<String>,
    /// 0 for the expansion itself, then 1, 2, … (for logs).
    #[serde(default)]
    pub step: u32,
    /// The selection's region (absent: the default), carried to every target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// CBR: every target is deleted with its replicas.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_replicas: bool,
}

fn invalid(field: &str, message: impl Into<String>) -> RequestError {
    RequestError::field(&format!("fan_out.{field}"), message)
}

impl FanOut {
    /// Whether a request object is a fan-out step.
    pub fn is_fan_out(value: &Value) -> bool {
        value.get("fan_out").is_some()
    }

    /// Parses and validates `{"fan_out": …}`: a follow-up message is input like any other (it
    /// can be forged by whoever may write to the queue), so every id is checked again.
    pub fn from_value(value: &Value) -> Result<Self, RequestError> {
        let obj = value.as_object().ok_or_else(|| invalid("", "must be a JSON object"))?;
        if let Some(k) = obj.keys().find(|k| k.as_str() != "fan_out") {
            return Err(RequestError {
                code: ErrorCode::UnknownField,
                field: Some(k.clone()),
                message: format!("unknown field {k} beside fan_out"),
            });
        }
        let raw = &obj["fan_out"];
        // The same rules as in any request (src/request/).
        timeout_field(raw.get("timeout_seconds"))?;
        context_field(raw.get("context"))?;
        let f: FanOut = serde_json::from_value(raw.clone()).map_err(|e| RequestError {
            code: ErrorCode::InvalidRequest,
            field: Some("fan_out".into()),
            message: format!("fan_out: {e}"),
        })?;
        validate_id("selection_id", &f.selection_id).map_err(|e| invalid("selection_id", e.to_string()))?;
        validate_id("project_id", &f.project_id).map_err(|e| invalid("project_id", e.to_string()))?;
        if f.region
            .as_deref()
            .is_some_and(|r| !crate::region::valid_region_name(r))
        {
            return Err(invalid("region", "must be a region name"));
        }
        if !printable_ascii(&f.request_prefix, MAX_SELECTION_REQUEST_ID_LEN) {
            return Err(invalid(
                "request_prefix",
                format!("must be 1–{MAX_SELECTION_REQUEST_ID_LEN} printable ASCII characters"),
            ));
        }
        if f.targets.is_empty() || f.targets.len() > MAX_MAX_BACKUPS as usize {
            return Err(invalid("targets", format!("must list 1 to {MAX_MAX_BACKUPS} targets")));
        }
        for t in &f.targets {
            split_target(f.service, t).ok_or_else(|| invalid("targets", format!("{t:?} is not a valid target")))?;
        }
        Ok(f)
    }

    pub fn to_body(&self) -> String {
        json!({ "fan_out": self }).to_string()
    }

    /// The ordinary deletion request of one target (a CSBS target always names its one item:
    /// a bare checkpoint would delete items the rule did not select).
    pub fn target_request(&self, key: &str) -> Value {
        let (checkpoint, id) = split_target(self.service, key).expect("targets are validated");
        let mut v = match (self.service, checkpoint) {
            (Service::Csbs, Some(c)) => {
                json!({"project_id": self.project_id, "checkpoint_id": c, "checkpoint_items": [id]})
            }
            _ => json!({"service": "cbr", "project_id": self.project_id, "backup_id": id}),
        };
        v["request_id"] = json!(format!("{}/{id}", self.request_prefix));
        v["selection_id"] = json!(self.selection_id);
        if let Some(t) = self.timeout_seconds {
            v["timeout_seconds"] = json!(t);
        }
        if let Some(c) = &self.context {
            v["context"] = Value::Object(c.clone());
        }
        if let Some(r) = &self.region {
            v["region"] = json!(r);
        }
        if self.with_replicas {
            v["with_replicas"] = json!(true);
        }
        v
    }

    /// The follow-up after sending `sent` targets; `None` when nothing is left.
    pub fn rest(&self, sent: usize) -> Option<FanOut> {
        (sent < self.targets.len()).then(|| FanOut {
            targets: self.targets[sent..].to_vec(),
            step: self.step + 1,
            ..self.clone()
        })
    }
}

/// `(checkpoint, id)` of a target key: CSBS `checkpoint/item`, CBR `backup`.
pub fn split_target(service: Service, key: &str) -> Option<(Option<&str>, &str)> {
    match service {
        Service::Csbs => {
            let (c, i) = key.split_once('/')?;
            (validate_id("checkpoint_id", c).is_ok() && validate_id("checkpoint_items", i).is_ok())
                .then_some((Some(c), i))
        }
        Service::Cbr => validate_id("backup_id", key).is_ok().then_some((None, key)),
    }
}

/// A target as the fan-out carries it: `checkpoint/item` for CSBS (its DELETE needs both),
/// the backup id for CBR. IDs never hold `/` (src/ids.rs), so the form is unambiguous.
pub fn target_key(service: Service, checkpoint_id: Option<&str>, id: &str) -> String {
    match (service, checkpoint_id) {
        (Service::Csbs, Some(c)) => format!("{c}/{id}"),
        _ => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::DeletionRequest;

    fn fan(service: Service, targets: &[&str]) -> FanOut {
        FanOut {
            selection_id: "sel_0123".into(),
            service,
            project_id: "p1".into(),
            request_prefix: "nightly".into(),
            timeout_seconds: Some(3600),
            context: Some(serde_json::from_value(json!({"k": "v"})).unwrap()),
            targets: targets.iter().map(|s| s.to_string()).collect(),
            step: 0,
            region: None,
            with_replicas: false,
        }
    }

    #[test]
    fn pace_sends_a_batch_only_while_the_service_queue_is_short() {
        assert_eq!(pace(0, 200), 10);
        assert_eq!(pace(4, 200), 10);
        assert_eq!(pace(5, 200), 0);
        assert_eq!(pace(50, 200), 0);
        assert_eq!(pace(0, 3), 3);
        assert_eq!(pace(0, 0), 0);
    }

    /// The case in virtual time: 200 backups of 60 s each, five at a time (40 minutes
    /// in all), fanned out one step every 30 s. Each target's deadline starts when submit takes
    /// it: with the pace none waits anywhere near the default 30-minute timeout; sent all at
    /// once, the last 50 would time out.
    #[test]
    fn paced_targets_never_wait_long_enough_to_time_out() {
        fn longest_task(step_secs: u64, paced: bool) -> (u64, u64) {
            const TARGETS: usize = 200;
            const DURATION: u64 = 60;
            let mut submitted = Vec::new(); // submit time of target i
            let mut waiting: std::collections::VecDeque<usize> = Default::default();
            let mut running: Vec<(usize, u64)> = Vec::new(); // (target, ends at)
            let mut finished = vec![0u64; TARGETS];
            let mut t = 0u64;
            while finished.iter().filter(|f| **f > 0).count() < TARGETS {
                assert!(t < 24 * 3600, "the fan-out never finished: {} sent", submitted.len());
                running.retain(|&(i, end)| {
                    if end <= t {
                        finished[i] = t;
                    }
                    end > t
                });
                if t.is_multiple_of(step_secs) && submitted.len() < TARGETS {
                    let remaining = TARGETS - submitted.len();
                    let n = if paced {
                        pace(waiting.len() as u64, remaining)
                    } else {
                        remaining
                    };
                    for _ in 0..n {
                        waiting.push_back(submitted.len());
                        submitted.push(t);
                    }
                }
                while running.len() < SERVICE_PARALLEL as usize
                    && let Some(i) = waiting.pop_front()
                {
                    running.push((i, t + DURATION));
                }
                t += 1;
            }
            let longest = (0..TARGETS).map(|i| finished[i] - submitted[i]).max().unwrap();
            (longest, *finished.iter().max().unwrap())
        }
        let (longest, all_done) = longest_task(30, true);
        assert!(longest <= 300, "a paced target took {longest} s from submit to gone");
        assert!(
            all_done <= 45 * 60,
            "the service is kept busy: {all_done} s for 40 minutes of work"
        );
        let (unpaced, _) = longest_task(30, false);
        assert!(
            unpaced > 1800,
            "all at once, the last target takes {unpaced} s: it would time out"
        );
    }

    #[test]
    fn targets_become_ordinary_requests() {
        let f = fan(Service::Csbs, &["cp1/item1"]);
        let req = DeletionRequest::from_value(&f.target_request("cp1/item1")).unwrap();
        assert_eq!(req.checkpoint_id.as_deref(), Some("cp1"));
        assert_eq!(
            req.checkpoint_items,
            Some(vec!["item1".to_string()]),
            "never a bare checkpoint"
        );
        assert_eq!(req.request_id.as_deref(), Some("nightly/item1"));
        assert_eq!(req.selection_id.as_deref(), Some("sel_0123"));
        assert_eq!(req.timeout_seconds, Some(3600));
        assert_eq!(req.context.unwrap()["k"], "v");
        let f = fan(Service::Cbr, &["b1"]);
        let req = DeletionRequest::from_value(&f.target_request("b1")).unwrap();
        assert_eq!(
            (req.service, req.backup_ids),
            (Service::Cbr, Some(vec!["b1".to_string()]))
        );
    }

    #[test]
    fn a_follow_up_carries_the_rest_and_round_trips() {
        let f = fan(Service::Csbs, &["c/a", "c/b", "c/c"]);
        let rest = f.rest(2).unwrap();
        assert_eq!((rest.targets.clone(), rest.step), (vec!["c/c".to_string()], 1));
        assert!(f.rest(3).is_none());
        let back = FanOut::from_value(&serde_json::from_str(&rest.to_body()).unwrap()).unwrap();
        assert_eq!(back, rest);
    }

    #[test]
    fn forged_steps_are_refused() {
        let good = serde_json::to_value(fan(Service::Csbs, &["c/a"])).unwrap();
        let with = |k: &str, v: Value| {
            let mut g = good.clone();
            g[k] = v;
            json!({ "fan_out": g })
        };
        for (bad, why) in [
            (with("targets", json!(["../x/a"])), "path"),
            (with("targets", json!(["c/../a"])), "an item that is no id"),
            (with("targets", json!(["c d/a"])), "a checkpoint that is no id"),
            (with("targets", json!(["a"])), "csbs target without checkpoint"),
            (with("targets", json!([])), "empty"),
            (with("project_id", json!("p/1")), "project"),
            (with("selection_id", json!("")), "selection"),
            (with("request_prefix", json!("x".repeat(61))), "prefix"),
            (with("timeout_seconds", json!(0)), "timeout"),
            (with("extra", json!(1)), "unknown field"),
            (json!({"fan_out": good, "select": {}}), "beside"),
        ] {
            assert!(FanOut::from_value(&bad).is_err(), "{why}");
        }
        let mut cbr = good.clone();
        cbr["service"] = json!("cbr");
        cbr["targets"] = json!(["c/a"]);
        assert!(
            FanOut::from_value(&json!({ "fan_out": cbr })).is_err(),
            "a CBR target is one id"
        );
    }
}
