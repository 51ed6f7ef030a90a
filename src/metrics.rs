//! What both functions publish to CloudWatch as Embedded Metric Format log lines (docs/DESIGN.md,
//! "Operating it"): the outcomes they emitted per kind and service, the latency of every call
//! to the cloud, and for poll an upper bound of the detection delay. EMF costs no API call:
//! CloudWatch Logs turns each line into metrics; the template's dashboard and alarms read them.
//!
//! The counters are filled while an invocation runs ([`CountingSink`] sees every event the bus
//! accepted, [`CallLatencies`] every HTTP call of the Huawei transport) and taken by the Lambda
//! edge after it, so each invocation publishes its own figures once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::cloud::Latencies;
use crate::outcome::{Outcome, OutcomeEvent};
use crate::ports::sink::{EventSink, SinkError};
use crate::service::Service;

/// The metrics namespace of both functions.
pub const NAMESPACE: &str = "CsbsDeleter";

/// EMF takes at most 100 values per metric in one document.
const MAX_VALUES_PER_LINE: usize = 100;

/// Emitted outcomes of one invocation, by service and kind, and the detection-delay bounds of
/// its terminal verdicts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    pub outcomes: HashMap<(Service, Outcome), u64>,
    /// Seconds: for each Completed / Failed / Timed Out event poll emitted, the check interval
    /// in effect when it was found (a finished deletion is seen at most that late).
    pub detection_bounds: Vec<f64>,
}

/// An [`EventSink`] that counts what the bus it wraps accepted.
pub struct CountingSink {
    inner: Arc<dyn EventSink>,
    tally: Mutex<Tally>,
    /// Set for poll: its check interval, for the detection-delay bound of terminal events.
    check_interval: Option<Duration>,
}

impl CountingSink {
    pub fn new(inner: Arc<dyn EventSink>) -> Self {
        CountingSink {
            inner,
            tally: Mutex::default(),
            check_interval: None,
        }
    }

    /// Also records, for each terminal event, its detection-delay bound ([`detection_bound`])
    /// at poll's check `interval`.
    pub fn with_detection_bound(mut self, interval: Duration) -> Self {
        self.check_interval = Some(interval);
        self
    }

    /// What was counted since the last call.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().expect("tally lock"))
    }
}

#[async_trait]
impl EventSink for CountingSink {
    async fn put(&self, events: &[OutcomeEvent], deadline: Instant) -> Result<Vec<Result<(), String>>, SinkError> {
        let results = self.inner.put(events, deadline).await?;
        let mut tally = self.tally.lock().expect("tally lock");
        for (e, r) in events.iter().zip(&results) {
            if r.is_ok() {
                *tally.outcomes.entry((e.service, e.outcome)).or_default() += 1;
                if let Some(bound) = self.check_interval.and_then(|i| detection_bound(e, i)) {
                    tally.detection_bounds.push(bound);
                }
            }
        }
        Ok(results)
    }
}

/// One EMF document: `values` under `dimensions`, each metric with its unit.
fn document(timestamp_ms: i64, dimensions: &[(&str, &str)], values: &[(&str, &str, Value)]) -> String {
    let mut doc = Map::new();
    let names: Vec<&str> = dimensions.iter().map(|(n, _)| *n).collect();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": values.iter().map(|(n, unit, _)| json!({"Name": n, "Unit": unit})).collect::<Vec<_>>(),
            }]
        }),
    );
    for (n, v) in dimensions {
        doc.insert((*n).into(), json!(v));
    }
    for (n, _, v) in values {
        doc.insert((*n).into(), v.clone());
    }
    Value::Object(doc).to_string()
}

/// The metric name of an outcome count.
pub fn outcome_metric(outcome: Outcome) -> &'static str {
    outcome.as_str()
}

/// The EMF lines of one invocation: outcomes per service (every kind, zeros included, so a
/// dashboard's sums have no gaps), cloud-call latency in chunks of 100 values, detection-delay
/// bounds likewise. Nothing when nothing happened.
pub fn emf_lines(function: &str, timestamp_ms: i64, tally: &Tally, latencies: &Latencies) -> Vec<String> {
    const KINDS: [Outcome; 6] = [
        Outcome::Submitted,
        Outcome::Completed,
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::Rejected,
        Outcome::Planned,
    ];
    let mut lines = Vec::new();
    for service in Service::ALL {
        if !tally.outcomes.keys().any(|(s, _)| *s == service) {
            continue;
        }
        let values: Vec<(&str, &str, Value)> = KINDS
            .iter()
            .map(|k| {
                let n = tally.outcomes.get(&(service, *k)).copied().unwrap_or(0);
                (outcome_metric(*k), "Count", json!(n))
            })
            .collect();
        lines.push(document(
            timestamp_ms,
            &[("FunctionName", function), ("Service", service.as_str())],
            &values,
        ));
    }
    for chunk in latencies.samples_ms.chunks(MAX_VALUES_PER_LINE) {
        let values = [("cloud_call_ms", "Milliseconds", json!(chunk))];
        lines.push(document(timestamp_ms, &[("FunctionName", function)], &values));
    }
    for chunk in tally.detection_bounds.chunks(MAX_VALUES_PER_LINE) {
        let values = [("detection_delay_bound_seconds", "Seconds", json!(chunk))];
        lines.push(document(timestamp_ms, &[("FunctionName", function)], &values));
    }
    lines
}

/// The detection-delay bound of a terminal event, from its own times: the check interval poll
/// was using for that task when it found it (`next_check_secs` of poll, evaluated at
/// `finished_at`). None for Submitted, Rejected and Planned events.
pub fn detection_bound(e: &OutcomeEvent, interval: Duration) -> Option<f64> {
    if !matches!(e.outcome, Outcome::Completed | Outcome::Failed | Outcome::TimedOut) {
        return None;
    }
    let at = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.to_utc())
    };
    let (submitted, finished) = (at(&e.submitted_at)?, at(&e.finished_at)?);
    let age = (finished - submitted).num_seconds().max(0) as u64;
    Some(crate::poll::check_step_secs(interval, age) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemorySink;
    use crate::request::DeletionRequest;
    use crate::task::PendingTask;
    use chrono::Utc;

    fn event(service: &str, outcome: Outcome, age_secs: i64) -> OutcomeEvent {
        let req = DeletionRequest::from_value(&json!({"service": service, "project_id": "p", "backup_id": "b"}))
            .or_else(|_| DeletionRequest::from_value(&json!({"project_id": "p", "checkpoint_id": "c"})))
            .unwrap();
        let now = Utc::now();
        let task = PendingTask::new(&req, now - chrono::Duration::seconds(age_secs), 86_400);
        // As the workflows make them: a Failed event names its error.
        let error = (outcome == Outcome::Failed).then(|| crate::outcome::EventError {
            code: "deletion_failed".into(),
            message: "b: failed".into(),
            http_status: None,
        });
        OutcomeEvent::for_task(&task, outcome, now, None, error)
    }

    #[tokio::test]
    async fn the_sink_counts_what_the_bus_accepted_by_service_and_kind() {
        let bus = Arc::new(MemorySink::new());
        let sink = CountingSink::new(bus.clone()).with_detection_bound(Duration::from_secs(10));
        bus.refuse_next_entries(1);
        let events = vec![
            event("csbs", Outcome::Completed, 60),
            event("csbs", Outcome::Completed, 60),
            event("cbr", Outcome::Failed, 20_000),
            event("cbr", Outcome::Submitted, 0),
        ];
        let deadline = Instant::now() + Duration::from_secs(5);
        let results = sink.put(&events, deadline).await.unwrap();
        assert!(results[0].is_err(), "the first entry refused");
        let t = sink.take();
        assert_eq!(t.outcomes.get(&(Service::Csbs, Outcome::Completed)), Some(&1));
        assert_eq!(t.outcomes.get(&(Service::Cbr, Outcome::Failed)), Some(&1));
        assert_eq!(t.outcomes.get(&(Service::Cbr, Outcome::Submitted)), Some(&1));
        assert_eq!(
            t.detection_bounds,
            vec![10.0, 200.0],
            "10 s, then 1 % of a 20,000 s age"
        );
        assert_eq!(sink.take(), Tally::default(), "taken once");
    }

    #[test]
    fn emf_lines_declare_every_value_they_carry() {
        let mut tally = Tally::default();
        tally.outcomes.insert((Service::Cbr, Outcome::Completed), 3);
        tally.detection_bounds = vec![10.0; 150];
        let lat = Latencies {
            count: 250,
            samples_ms: vec![12.5; 250],
        };
        let lines = emf_lines("fn", 1, &tally, &lat);
        assert_eq!(
            lines.len(),
            1 + 3 + 2,
            "one service, 250 samples in 3 lines, 150 bounds in 2"
        );
        for l in &lines {
            let v: Value = serde_json::from_str(l).unwrap();
            let m = &v["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(m["Namespace"], NAMESPACE);
            for d in m["Dimensions"][0].as_array().unwrap() {
                assert!(v[d.as_str().unwrap()].is_string(), "dimension {d} has a value");
            }
            for metric in m["Metrics"].as_array().unwrap() {
                let value = &v[metric["Name"].as_str().unwrap()];
                assert!(
                    value.is_number() || value.as_array().is_some_and(|a| a.len() <= 100),
                    "{metric}"
                );
            }
        }
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (
                first["Service"].as_str(),
                first["completed"].as_u64(),
                first["failed"].as_u64()
            ),
            (Some("cbr"), Some(3), Some(0))
        );
        assert!(emf_lines("fn", 1, &Tally::default(), &Latencies::default()).is_empty());
    }
}
