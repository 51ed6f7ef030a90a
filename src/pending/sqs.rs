//! SQS adapter of the pending queue.

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
};
use tokio::time::Instant;

use super::{PendingQueue, QueueError, Received};
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

#[async_trait]
impl PendingQueue for SqsQueue {
    async fn send(&self, task: &PendingTask, deadline: Instant) -> Result<(), QueueError> {
        let body = serde_json::to_string(task).map_err(|e| QueueError::Call(e.to_string()))?;
        bounded(deadline, async {
            self.client
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .send()
                .await
                .map_err(call_err)?;
            Ok(())
        })
        .await
    }

    async fn receive(&self, max: usize, deadline: Instant) -> Result<Vec<Received>, QueueError> {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs() as i32;
        let wait = self.wait_seconds.min(left.saturating_sub(1)).max(0);
        bounded(deadline, async {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(max.clamp(1, super::MAX_BATCH) as i32)
                .wait_time_seconds(wait)
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
            Ok(out
                .failed()
                .iter()
                .filter_map(|f| f.id().parse::<usize>().ok())
                .filter_map(|i| receipts.get(i).cloned())
                .collect())
        })
        .await
    }

    async fn set_visibility(&self, entries: &[(String, u32)], deadline: Instant) -> Result<(), QueueError> {
        if entries.is_empty() {
            return Ok(());
        }
        let batch = entries
            .iter()
            .enumerate()
            .map(|(i, (r, secs))| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .visibility_timeout(*secs as i32)
                    .build()
                    .map_err(call_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        bounded(deadline, async {
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(batch))
                .send()
                .await
                .map_err(call_err)?;
            Ok(())
        })
        .await
    }
}
