//! EventBridge adapter: `PutEvents`, with per-entry failures reported back.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use tokio::time::Instant;

use crate::outcome::OutcomeEvent;
use crate::ports::sink::{EventSink, SinkError};

pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    source: String,
}

impl EventBridgeSink {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>, source: impl Into<String>) -> Self {
        EventBridgeSink {
            client,
            bus_name: bus_name.into(),
            source: source.into(),
        }
    }
}

#[async_trait]
impl EventSink for EventBridgeSink {
    async fn put(&self, events: &[OutcomeEvent], deadline: Instant) -> Result<Vec<Result<(), String>>, SinkError> {
        let entries = events
            .iter()
            .map(|e| {
                let detail = serde_json::to_string(e).map_err(|err| SinkError::Call(err.to_string()))?;
                Ok(PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(&self.source)
                    .detail_type(e.outcome.detail_type())
                    .detail(detail)
                    .build())
            })
            .collect::<Result<Vec<_>, SinkError>>()?;
        let call = self.client.put_events().set_entries(Some(entries)).send();
        let out = tokio::time::timeout_at(deadline, call)
            .await
            .map_err(|_| SinkError::DeadlineExceeded)?
            .map_err(|e| SinkError::Call(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string()))?;
        let results = out.entries();
        Ok((0..events.len())
            .map(|i| match results.get(i) {
                Some(r) if r.error_code().is_none() && r.event_id().is_some() => Ok(()),
                Some(r) => Err(format!(
                    "{}: {}",
                    r.error_code().unwrap_or("Unknown"),
                    r.error_message().unwrap_or("")
                )),
                None => Err("no result for this entry".into()),
            })
            .collect())
    }
}
