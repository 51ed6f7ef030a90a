//! SQS adapter of the pending queue.

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
    SendMessageBatchRequestEntry,
};
use tokio::time::Instant;

use crate::ports::pending::{EntryResult, PendingQueue, QueueError, Received};

/// SQS's longest visibility timeout: 12 hours.
const MAX_VISIBILITY_SECS: u32 = 43_200;
use crate::task::PendingTask;

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    /// ReceiveMessage long-poll wait: a little waiting makes "empty" trustworthy on SQS, where
    /// a short poll samples only some servers.
    wait_seconds: i32,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>, wait_seconds: i32) -> Self {
        SqsQueue {
            client,
            url: url.into(),
            wait_seconds,
        }
    }
}

fn call_err<E: std::error::Error + 'static>(e: E) -> QueueError {
    QueueError::Call(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

async fn bounded<T, F: std::future::Future<Output = Result<T, QueueError>>>(
    deadline: Instant,
    f: F,
) -> Result<T, QueueError> {
    tokio::time::timeout_at(deadline, f)
        .await
        .map_err(|_| QueueError::DeadlineExceeded)?
}

impl SqsQueue {
    /// One `SendMessageBatch` of raw bodies with their delays (seconds); one result per body.
    async fn send_bodies(&self, bodies: &[(String, u32)], deadline: Instant) -> Result<Vec<EntryResult>, QueueError> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, (body, delay))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .set_delay_seconds((*delay > 0).then_some((*delay).min(MAX_DELAY_SECS) as i32))
                    .build()
                    .map_err(call_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        bounded(deadline, async {
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(call_err)?;
            let ok: Vec<usize> = out.successful().iter().filter_map(|e| e.id().parse().ok()).collect();
            Ok((0..bodies.len())
                .map(|i| {
                    if ok.contains(&i) {
                        return Ok(());
                    }
                    Err(out
                        .failed()
                        .iter()
                        .find(|f| f.id() == i.to_string())
                        .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or("")))
                        .unwrap_or_else(|| "no result for this entry".into()))
                })
                .collect())
        })
        .await
    }
}

/// SQS's longest message delay: 15 minutes.
const MAX_DELAY_SECS: u32 = 900;

#[async_trait]
impl crate::ports::intake::IntakeQueue for SqsQueue {
    async fn send_messages(
        &self,
        messages: &[crate::ports::intake::Outgoing],
        deadline: Instant,
    ) -> Result<Vec<EntryResult>, QueueError> {
        let bodies: Vec<(String, u32)> = messages.iter().map(|m| (m.body.clone(), m.delay_seconds)).collect();
        self.send_bodies(&bodies, deadline).await
    }
}

#[async_trait]
impl PendingQueue for SqsQueue {
    async fn send_batch(&self, tasks: &[PendingTask], deadline: Instant) -> Result<Vec<EntryResult>, QueueError> {
        let bodies = tasks
            .iter()
            .map(|t| {
                Ok((
                    serde_json::to_string(t).map_err(|e| QueueError::Call(e.to_string()))?,
                    0,
                ))
            })
            .collect::<Result<Vec<_>, QueueError>>()?;
        self.send_bodies(&bodies, deadline).await
    }

    async fn receive(
        &self,
        max: usize,
        visibility_secs: Option<u32>,
        deadline: Instant,
    ) -> Result<Vec<Received>, QueueError> {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs() as i32;
        let wait = self.wait_seconds.min(left.saturating_sub(1)).max(0);
        bounded(deadline, async {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(max.clamp(1, crate::ports::pending::MAX_BATCH) as i32)
                .wait_time_seconds(wait)
                .set_visibility_timeout(visibility_secs.map(|s| s.min(MAX_VISIBILITY_SECS) as i32))
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(call_err)?;
            Ok(out
                .messages()
                .iter()
                .map(|m| Received {
                    message_id: m.message_id().unwrap_or_default().to_string(),
                    receipt: m.receipt_handle().unwrap_or_default().to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receive_count: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                })
                .collect())
        })
        .await
    }

    async fn delete(&self, receipts: &[String], deadline: Instant) -> Result<Vec<String>, QueueError> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let entries = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
                    .map_err(call_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        bounded(deadline, async {
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(call_err)?;
            Ok(failed_entries(out.failed(), receipts, Clone::clone))
        })
        .await
    }

    async fn set_visibility(&self, entries: &[(String, u32)], deadline: Instant) -> Result<Vec<String>, QueueError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let batch = entries
            .iter()
            .enumerate()
            .map(|(i, (r, secs))| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .visibility_timeout((*secs).min(MAX_VISIBILITY_SECS) as i32)
                    .build()
                    .map_err(call_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        bounded(deadline, async {
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(batch))
                .send()
                .await
                .map_err(call_err)?;
            Ok(failed_entries(out.failed(), entries, |(r, _)| r.clone()))
        })
        .await
    }
}

/// The receipts of the entries a batch call refused: entry ids are the entries' indexes.
fn failed_entries<T>(
    failed: &[aws_sdk_sqs::types::BatchResultErrorEntry],
    entries: &[T],
    receipt: impl Fn(&T) -> String,
) -> Vec<String> {
    failed
        .iter()
        .filter_map(|f| f.id().parse::<usize>().ok())
        .filter_map(|i| entries.get(i).map(&receipt))
        .collect()
}
