//! The CSBS v1 client: the calls a deletion needs, sent through the shared Huawei transport
//! ([`crate::cloud::Transport`]).

use reqwest::Method;
use tokio::time::Instant;
use url::Url;

use super::models::{CheckpointItem, CountEnvelope, ItemEnvelope, ListEnvelope};
use crate::cloud::{
    ClientConfig, CloudError, DeleteOutcome, ErrorClass, Latencies, ServiceTransport, Transport, decode,
};
use crate::ids::validate_id;
use crate::service::Service;

/// Filters of the list / count calls.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub checkpoint_id: Option<String>,
    pub status: Option<String>,
    /// The protected server (a selection's `resource_id`).
    pub resource_id: Option<String>,
    /// Page size; CSBS defaults to 1000.
    pub limit: Option<u32>,
    pub marker: Option<String>,
}

impl ListFilter {
    pub fn for_checkpoint(checkpoint_id: &str) -> Self {
        ListFilter {
            checkpoint_id: Some(checkpoint_id.to_string()),
            ..Default::default()
        }
    }

    fn query(&self, paging: bool) -> Result<Vec<(String, String)>, CloudError> {
        let mut q = Vec::new();
        if let Some(c) = &self.checkpoint_id {
            validate_id("checkpoint_id", c)?;
            q.push(("checkpoint_id".into(), c.clone()));
        }
        if let Some(s) = &self.status {
            validate_id("status", s)?;
            q.push(("status".into(), s.clone()));
        }
        if let Some(r) = &self.resource_id {
            validate_id("resource_id", r)?;
            q.push(("resource_id".into(), r.clone()));
        }
        if paging {
            if let Some(l) = self.limit {
                q.push(("limit".into(), l.to_string()));
            }
            if let Some(m) = &self.marker {
                validate_id("marker", m)?;
                q.push(("marker".into(), m.clone()));
            }
        }
        Ok(q)
    }
}

/// One page of a list call.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<CheckpointItem>,
    /// Marker for the next page, when there may be one.
    pub next_marker: Option<String>,
}

/// The CSBS calls. Cheap to clone: clones share the transport.
#[derive(Clone)]
pub struct CsbsClient {
    api: ServiceTransport,
}

impl CsbsClient {
    /// A CSBS client on its own transport (one per configuration; see [`CsbsClient::on`]).
    pub fn new(config: ClientConfig) -> Result<Self, CloudError> {
        Ok(CsbsClient::on(Transport::new(config)?))
    }

    /// A CSBS client on `transport` (shared with the CBR client: one token cache and pool).
    pub fn on(transport: Transport) -> Self {
        CsbsClient {
            api: ServiceTransport::new(transport, Service::Csbs),
        }
    }

    pub fn transport(&self) -> &Transport {
        self.api.transport()
    }

    /// The times of the HTTP calls made since the last call (the whole transport's).
    pub fn take_latencies(&self) -> Latencies {
        self.api.transport().take_latencies()
    }

    /// `DELETE /v1/{project}/providers/{provider}/checkpoints/{checkpoint}[?checkpoint_items={item}]`.
    pub async fn delete_checkpoint(
        &self,
        project_id: &str,
        provider_id: &str,
        checkpoint_id: &str,
        item_id: Option<&str>,
        deadline: Instant,
    ) -> Result<DeleteOutcome, CloudError> {
        validate_id("project_id", project_id)?;
        validate_id("provider_id", provider_id)?;
        validate_id("checkpoint_id", checkpoint_id)?;
        let mut query = Vec::new();
        if let Some(item) = item_id {
            validate_id("checkpoint_items", item)?;
            query.push(("checkpoint_items".to_string(), item.to_string()));
        }
        let path = format!("/v1/{project_id}/providers/{provider_id}/checkpoints/{checkpoint_id}");
        match self.api.call(Method::DELETE, project_id, &path, &query, deadline).await {
            Ok(_) => Ok(DeleteOutcome::Accepted),
            Err(e) => match e.class() {
                ErrorClass::NotFound => Ok(DeleteOutcome::AlreadyGone),
                ErrorClass::AlreadyDeleting => Ok(DeleteOutcome::AlreadyDeleting),
                _ => Err(e),
            },
        }
    }

    /// `GET /v1/{project}/checkpoint_items/{item}`; `None` when it does not exist.
    pub async fn get_item(
        &self,
        project_id: &str,
        item_id: &str,
        deadline: Instant,
    ) -> Result<Option<CheckpointItem>, CloudError> {
        validate_id("project_id", project_id)?;
        validate_id("checkpoint_item_id", item_id)?;
        let path = format!("/v1/{project_id}/checkpoint_items/{item_id}");
        match self.api.call(Method::GET, project_id, &path, &[], deadline).await {
            Ok(a) => {
                let env: ItemEnvelope = decode(&a)?;
                env.checkpoint_item
                    .map(Some)
                    .ok_or_else(|| CloudError::Decode("CSBS answered without a \"checkpoint_item\" object".into()))
            }
            Err(e) if e.class() == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of `GET /v1/{project}/checkpoint_items`.
    pub async fn list_page(
        &self,
        project_id: &str,
        filter: &ListFilter,
        deadline: Instant,
    ) -> Result<Page, CloudError> {
        validate_id("project_id", project_id)?;
        let path = format!("/v1/{project_id}/checkpoint_items");
        let a = self
            .api
            .call(Method::GET, project_id, &path, &filter.query(true)?, deadline)
            .await?;
        let env: ListEnvelope = decode(&a)?;
        let link_marker = env
            .checkpoint_items_links
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.rel.as_deref() == Some("next"))
            .find_map(|l| marker_from_href(l.href.as_deref()?));
        let limit = filter.limit.unwrap_or(1000) as usize;
        let next_marker = link_marker.or_else(|| {
            (env.checkpoint_items.len() >= limit)
                .then(|| env.checkpoint_items.last().map(|i| i.id.clone()))
                .flatten()
        });
        Ok(Page {
            items: env.checkpoint_items,
            next_marker,
        })
    }

    /// Every item matching `filter`, following pages.
    pub async fn list_items(
        &self,
        project_id: &str,
        filter: &ListFilter,
        deadline: Instant,
    ) -> Result<Vec<CheckpointItem>, CloudError> {
        let mut items = Vec::new();
        self.for_each_page(project_id, filter, deadline, |page| items.extend(page))
            .await?;
        Ok(items)
    }

    /// [`list_items`](Self::list_items) a page at a time, so a caller that keeps less than
    /// a whole item holds one page at most.
    pub async fn for_each_page(
        &self,
        project_id: &str,
        filter: &ListFilter,
        deadline: Instant,
        mut on_page: impl FnMut(Vec<CheckpointItem>) + Send,
    ) -> Result<(), CloudError> {
        let mut filter = filter.clone();
        loop {
            let page = self.list_page(project_id, &filter, deadline).await?;
            let got = page.items.len();
            on_page(page.items);
            match page.next_marker {
                // A marker that does not move would loop forever.
                Some(m) if got > 0 && filter.marker.as_deref() != Some(m.as_str()) => filter.marker = Some(m),
                _ => return Ok(()),
            }
        }
    }

    /// `GET /v1/{project}/checkpoint_items/count`.
    pub async fn count(&self, project_id: &str, filter: &ListFilter, deadline: Instant) -> Result<u64, CloudError> {
        validate_id("project_id", project_id)?;
        let path = format!("/v1/{project_id}/checkpoint_items/count");
        let a = self
            .api
            .call(Method::GET, project_id, &path, &filter.query(false)?, deadline)
            .await?;
        let env: CountEnvelope = decode(&a)?;
        env.count
            .map(|c| c.max(0.0) as u64)
            .ok_or_else(|| CloudError::Decode("CSBS answered without a \"count\"".into()))
    }
}

fn marker_from_href(href: &str) -> Option<String> {
    let url = Url::parse(href)
        .or_else(|_| Url::parse("http://x").and_then(|b| b.join(href)))
        .ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "marker")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_checkpoint_filter_lists_that_checkpoint_only() {
        let q = ListFilter::for_checkpoint("ckpt-1").query(true).unwrap();
        assert_eq!(q, [("checkpoint_id".to_string(), "ckpt-1".to_string())]);
        assert!(
            ListFilter::for_checkpoint("a/b").query(true).is_err(),
            "validated before any URL"
        );
    }
}
