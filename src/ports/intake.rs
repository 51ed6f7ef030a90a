//! The intake queue port: where a selection sends its targets and follow-up steps
//! (docs/DESIGN.md, "Selection requests"). The same adapters as the pending queue
//! (src/adapters/sqs.rs, src/adapters/memory/queue.rs), with raw bodies and delays.

use async_trait::async_trait;
use tokio::time::Instant;

use crate::ports::pending::{EntryResult, QueueError};

/// SendMessageBatch takes at most ten messages.
pub const MAX_BATCH: usize = crate::ports::pending::MAX_BATCH;

/// One message for the intake queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub body: String,
    /// SQS `DelaySeconds` (0–900).
    pub delay_seconds: u32,
}

#[async_trait]
pub trait IntakeQueue: Send + Sync {
    /// Sends up to ten messages in one call; one result per message, in order.
    async fn send_messages(&self, messages: &[Outgoing], deadline: Instant) -> Result<Vec<EntryResult>, QueueError>;
}

/// What arrives at the intake, after its EventBridge / SNS envelopes.
#[derive(Debug, Clone)]
pub enum Intake {
    Delete(crate::request::DeletionRequest),
    Select(crate::selection::SelectionRequest),
    Step(crate::selection::FanOut),
}

/// Why an intake message is not taken.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// Invalid input: a Rejected event (over HTTP: a 4xx).
    Invalid(crate::request::RequestError),
    /// An EventBridge event of this very stack (its `EVENT_SOURCE`): a rule forwards the
    /// outcome events back to the intake. Dropped without an event, which would loop too.
    OwnEvent,
}

/// Parses an SQS body: a deletion request, a selection or a fan-out step, possibly inside an
/// EventBridge event (`detail`) or an SNS notification (`Message`).
pub fn parse_sqs_body(body: &str, own_source: &str) -> Result<Intake, Refusal> {
    use crate::request::{parse_json, unwrap_envelopes};
    let value = parse_json(body.as_bytes(), "the message body").map_err(Refusal::Invalid)?;
    if from_source(&value, own_source) {
        return Err(Refusal::OwnEvent);
    }
    parse_value(&unwrap_envelopes(value).map_err(Refusal::Invalid)?).map_err(Refusal::Invalid)
}

/// A request object: a selection (`select`), a fan-out step (`fan_out`) or a deletion.
pub fn parse_value(value: &serde_json::Value) -> Result<Intake, crate::request::RequestError> {
    use crate::selection::{FanOut, SelectionRequest};
    if SelectionRequest::is_selection(value) {
        SelectionRequest::from_value(value).map(Intake::Select)
    } else if FanOut::is_fan_out(value) {
        FanOut::from_value(value).map(Intake::Step)
    } else {
        crate::request::DeletionRequest::from_value(value).map(Intake::Delete)
    }
}

/// Whether the body is an EventBridge event from `source`, directly or inside SNS.
fn from_source(value: &serde_json::Value, source: &str) -> bool {
    use serde_json::Value;
    let is_own = |v: &Value| v.get("detail-type").is_some() && v.get("source").and_then(Value::as_str) == Some(source);
    if is_own(value) {
        return true;
    }
    value.get("Type").and_then(Value::as_str) == Some("Notification")
        && value
            .get("Message")
            .and_then(Value::as_str)
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .is_some_and(|inner| is_own(&inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_and_own_events() {
        let own = "csbs.checkpoint-deletion";
        let del = json!({"project_id": "p", "checkpoint_id": "c"}).to_string();
        assert!(matches!(parse_sqs_body(&del, own), Ok(Intake::Delete(_))));
        let sel = json!({"select": {"project_id": "p", "older_than_days": 3}});
        assert!(matches!(parse_sqs_body(&sel.to_string(), own), Ok(Intake::Select(_))));
        let scheduled = json!({"detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": sel});
        assert!(matches!(
            parse_sqs_body(&scheduled.to_string(), own),
            Ok(Intake::Select(_))
        ));
        let looped = json!({"detail-type": "Checkpoint Deletion Completed", "source": own, "detail": {"project_id": "p", "checkpoint_id": "c"}});
        assert!(matches!(
            parse_sqs_body(&looped.to_string(), own),
            Err(Refusal::OwnEvent)
        ));
        let via_sns = json!({"Type": "Notification", "Message": looped.to_string()});
        assert!(matches!(
            parse_sqs_body(&via_sns.to_string(), own),
            Err(Refusal::OwnEvent)
        ));
        let bad = json!({"select": {"project_id": "p", "older_than_dayz": 3}}).to_string();
        match parse_sqs_body(&bad, own) {
            Err(Refusal::Invalid(e)) => assert_eq!(e.field.as_deref(), Some("select.older_than_dayz")),
            other => panic!("{other:?}"),
        }
    }
}
