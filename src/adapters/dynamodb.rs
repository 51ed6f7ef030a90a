//! The DynamoDB ledger (docs/DESIGN.md, "Decisions"): partition key `task_id` (S), TTL on
//! `expires_at` (N). `begin` is a PutItem with `attribute_not_exists(task_id)`; `decide` an
//! UpdateItem with `attribute_not_exists(task_id) OR state = submitted` (so submit needs
//! PutItem, GetItem and UpdateItem, poll GetItem and UpdateItem); a failed condition costs one
//! consistent GetItem; a selection's progress is a Query of the `by_selection` index. Every call
//! is bounded by the invocation's deadline.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::time::Instant;

use crate::ports::ledger::{Attr, Begun, Decided, Item, Ledger, LedgerError, Record, SELECTION_INDEX, State};

/// Every attribute a record may have besides its key (an update removes the ones a new
/// record lacks).
const FIELDS: [&str; 13] = [
    "state",
    "service",
    "region",
    "project_id",
    "request_id",
    "selection_id",
    "submitted_at",
    "deadline",
    "decided_at",
    "event_id",
    "event",
    "expires_at",
    "replicas",
];

pub struct DynamoLedger {
    client: Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoLedger {
            client,
            table: table.into(),
        }
    }

    async fn read(&self, task_id: &str, deadline: Instant) -> Result<Option<Record>, LedgerError> {
        let call = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("task_id", AttributeValue::S(task_id.into()))
            .consistent_read(true)
            .send();
        let out = bounded(deadline, call).await?.map_err(unavailable)?;
        out.item()
            .map(|i| Record::from_item(&from_dynamo(task_id, i)?))
            .transpose()
    }

    /// The record whose existence failed a write's condition: one consistent read.
    async fn standing(&self, task_id: &str, deadline: Instant) -> Result<Box<Record>, LedgerError> {
        match self.read(task_id, deadline).await? {
            Some(r) => Ok(Box::new(r)),
            // Expired by its TTL between the two calls: try again later.
            None => Err(LedgerError::Unavailable(
                "the record vanished between write and read".into(),
            )),
        }
    }
}

#[async_trait]
impl Ledger for DynamoLedger {
    async fn begin(&self, record: &Record, deadline: Instant) -> Result<Begun, LedgerError> {
        let call = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_dynamo(&record.to_item())))
            .condition_expression("attribute_not_exists(task_id)")
            .send();
        match bounded(deadline, call).await? {
            Ok(_) => Ok(Begun::New),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Begun::Existing(self.standing(&record.task_id, deadline).await?))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn decide(&self, record: &Record, deadline: Instant) -> Result<Decided, LedgerError> {
        debug_assert!(record.state.is_terminal());
        let item = record.to_item();
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut names = HashMap::new();
        let mut values = to_dynamo(&item);
        values.remove("task_id");
        let mut values: HashMap<String, AttributeValue> =
            values.into_iter().map(|(k, v)| (format!(":{k}"), v)).collect();
        for f in FIELDS {
            // Every name aliased: `state`, `region` and others are DynamoDB reserved words.
            names.insert(format!("#{f}"), f.to_string());
            if item.contains_key(f) {
                set.push(format!("#{f} = :{f}"));
            } else {
                remove.push(format!("#{f}"));
            }
        }
        values.insert(":submitted".into(), AttributeValue::S(State::Submitted.as_str().into()));
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let call = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("task_id", AttributeValue::S(record.task_id.clone()))
            .update_expression(update)
            .condition_expression("attribute_not_exists(task_id) OR #state = :submitted")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send();
        match bounded(deadline, call).await? {
            Ok(_) => Ok(Decided::Won),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Decided::Lost(self.standing(&record.task_id, deadline).await?))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, task_id: &str, deadline: Instant) -> Result<Option<Record>, LedgerError> {
        self.read(task_id, deadline).await
    }

    /// A Query of the `by_selection` index (it projects `state`), every page.
    async fn by_selection(&self, selection_id: &str, deadline: Instant) -> Result<Vec<(String, State)>, LedgerError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let call = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(SELECTION_INDEX)
                .key_condition_expression("#sel = :sel")
                .projection_expression("#task, #state")
                .expression_attribute_names("#sel", "selection_id")
                .expression_attribute_names("#task", "task_id")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":sel", AttributeValue::S(selection_id.into()))
                .set_exclusive_start_key(start.take())
                .send();
            let page = bounded(deadline, call).await?.map_err(unavailable)?;
            for item in page.items() {
                let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                let task_id = text("task_id").ok_or_else(|| LedgerError::Corrupt {
                    task_id: "?".into(),
                    reason: "an index entry without task_id".into(),
                })?;
                if task_id == selection_id {
                    continue;
                }
                let state = text("state")
                    .as_deref()
                    .and_then(State::parse)
                    .ok_or_else(|| LedgerError::Corrupt {
                        task_id: task_id.clone(),
                        reason: "unknown state".into(),
                    })?;
                out.push((task_id, state));
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

async fn bounded<F: std::future::Future>(deadline: Instant, call: F) -> Result<F::Output, LedgerError> {
    tokio::time::timeout_at(deadline, call)
        .await
        .map_err(|_| LedgerError::Unavailable("the time left for this call ran out".into()))
}

fn unavailable<E, R>(e: SdkError<E, R>) -> LedgerError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    LedgerError::Unavailable(DisplayErrorContext(&e).to_string())
}

fn to_dynamo(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter()
        .map(|(k, v)| {
            let v = match v {
                Attr::S(s) => AttributeValue::S(s.clone()),
                Attr::N(n) => AttributeValue::N(n.clone()),
            };
            (k.clone(), v)
        })
        .collect()
}

/// A stored item in this module's terms; an attribute of another type (a list, a map, a
/// binary) makes the record unreadable.
fn from_dynamo(task_id: &str, item: &HashMap<String, AttributeValue>) -> Result<Item, LedgerError> {
    item.iter()
        .map(|(k, v)| match v {
            AttributeValue::S(s) => Ok((k.clone(), Attr::S(s.clone()))),
            AttributeValue::N(n) => Ok((k.clone(), Attr::N(n.clone()))),
            _ => Err(LedgerError::Corrupt {
                task_id: task_id.into(),
                reason: format!("{k} is neither a string nor a number"),
            }),
        })
        .collect()
}
