//! The transport of the Huawei APIs: every call a CSBS or CBR client makes goes through
//! [`Transport::call`], authenticated, retried with backoff for transient answers, timed for the
//! metrics and never running past the caller's deadline (docs/DESIGN.md, "Reliability").

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use reqwest::{Method, StatusCode};
use tokio::time::Instant;
use url::Url;

use super::auth::{Credentials, TokenCache};
use super::error::{CloudError, api_error, parse_retry_after};
use super::latency::{CallLatencies, Latencies};
use super::pace::Pace;
pub use super::settings::{ClientConfig, RetryPolicy};
use super::signer::{DATE_FORMAT, SignInput};
use crate::secret::Secret;
use crate::service::Service;

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) config: ClientConfig,
    pub(super) tokens: TokenCache,
    /// Every HTTP call's time, for the functions' metrics (crate::metrics).
    pub(super) latencies: CallLatencies,
    /// Every region's call rate (src/cloud/pace.rs).
    pub(super) pace: Pace,
}

/// The one transport of the Huawei APIs (CSBS and CBR alike): credentials, the token cache (a
/// token is scoped to the project, not the service), AK/SK signing, retries with backoff, the
/// caller's deadline and one connection pool. Cheap to clone: every clone shares all of it.
#[derive(Clone)]
pub struct Transport {
    pub(super) inner: Arc<Inner>,
    /// The region this handle calls (`None`: the default one); every clone of one transport
    /// shares its pool and token cache, whatever its region.
    pub(super) region: Option<Arc<str>>,
}

struct Answer {
    body: bytes::Bytes,
}

impl Transport {
    pub fn new(config: ClientConfig) -> Result<Self, CloudError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("csbs-deleter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CloudError::Connection(e.to_string()))?;
        Ok(Transport {
            inner: Arc::new(Inner {
                http,
                tokens: TokenCache::default(),
                latencies: CallLatencies::default(),
                pace: Pace::new(config.pace),
                config,
            }),
            region: None,
        })
    }

    /// The same transport calling `region` (`None` or the default region's name: the default).
    pub fn in_region(&self, region: Option<&str>) -> Transport {
        let region = region.filter(|r| *r != self.inner.config.default_region);
        Transport {
            inner: self.inner.clone(),
            region: region.map(Arc::from),
        }
    }

    /// The settings (the regions this transport can call).
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The times of the HTTP calls made since the last call (each attempt, IAM included).
    pub fn take_latencies(&self) -> Latencies {
        self.inner.latencies.take()
    }

    /// The name of the region this handle calls.
    pub fn region_name(&self) -> &str {
        self.region.as_deref().unwrap_or(&self.inner.config.default_region)
    }

    /// The current call rate of this handle's region (calls/s).
    pub fn rate(&self) -> f64 {
        self.inner.pace.rate(self.region_name())
    }

    pub fn credentials(&self) -> &Credentials {
        &self.inner.config.credentials
    }

    /// Sends one call with retries for transient answers, bounded by `deadline`. CBR shares
    /// this transport with CSBS: the same credentials, token cache (a token is scoped to the
    /// project, not the service), signing and connection pool.
    pub async fn call(&self, request: Request<'_>, deadline: Instant) -> Result<bytes::Bytes, CloudError> {
        let base = self.inner.config.endpoint(self.region.as_deref(), request.service)?;
        let call = Call {
            base,
            request: &request,
            deadline,
        };
        self.call_at(&call)
            .await
            .map(|a| a.body)
            .map_err(|e| e.from_service(request.service))
    }

    async fn call_at(&self, call: &Call<'_>) -> Result<Answer, CloudError> {
        let deadline = call.deadline;
        let policy = &self.inner.config.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_attempts.saturating_sub(1))
            .with_jitter();
        let attempt = || self.call_once_reauth(call);
        let retried = attempt
            .retry(backoff)
            .when(CloudError::is_retryable)
            .adjust(|e, delay| retry_wait(e.retry_after(), delay, Instant::now(), deadline))
            .notify(|e, wait| tracing::debug!(error = %e, ?wait, "retrying the call"));
        match tokio::time::timeout_at(deadline, retried).await {
            Ok(result) => result,
            Err(_) => Err(CloudError::DeadlineExceeded),
        }
    }

    /// One attempt; with token auth a 401 triggers one replay with a newer token: the one a
    /// concurrent call already fetched, or else one new login.
    async fn call_once_reauth(&self, call: &Call<'_>) -> Result<Answer, CloudError> {
        let (project_id, deadline) = (call.request.project_id, call.deadline);
        let Credentials::Password { .. } = &self.inner.config.credentials else {
            return self.call_once(call, None).await;
        };
        let first = self.token(project_id, deadline, None).await?;
        match self.call_once(call, Some(&first.token)).await {
            Err(CloudError::Api { status: 401, .. }) => {
                tracing::info!(project_id, "the service refused the token; replaying with a newer one");
                let newer = self.token(project_id, deadline, Some(first.serial)).await?;
                self.call_once(call, Some(&newer.token)).await
            }
            other => other,
        }
    }

    /// One request; `token` with password credentials, AK/SK signing otherwise.
    async fn call_once(&self, call: &Call<'_>, token: Option<&Secret>) -> Result<Answer, CloudError> {
        let Call {
            base,
            request,
            deadline,
        } = *call;
        let Request {
            project_id,
            path,
            query,
            ..
        } = *request;
        let method = request.method.clone();
        let mut url = base.clone();
        url.set_path(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut req = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header("Accept", "application/json");
        match &self.inner.config.credentials {
            Credentials::Password { .. } => {
                let token = token.expect("a token for password credentials");
                req = req.header("X-Auth-Token", token.expose());
            }
            Credentials::AkSk { ak, sk, security_token } => {
                let date = Utc::now().format(DATE_FORMAT).to_string();
                let mut headers = vec![
                    ("Host".to_string(), host_header(&url)),
                    ("X-Sdk-Date".to_string(), date.clone()),
                    ("X-Project-Id".to_string(), project_id.to_string()),
                ];
                if let Some(t) = security_token {
                    headers.push(("X-Security-Token".to_string(), t.expose().to_string()));
                }
                let input = SignInput {
                    method: method.as_str(),
                    path: url.path(),
                    raw_query: url.query().unwrap_or(""),
                    headers: &headers,
                    body: b"",
                };
                let auth = input.authorization(ak, sk.expose(), &date);
                for (n, v) in &headers {
                    req = req.header(n.as_str(), v.as_str());
                }
                req = req.header("Authorization", auth);
            }
        }
        let answer = self.paced_send(req, deadline).await?;
        if answer.status.is_success() {
            Ok(answer.into())
        } else {
            Err(self.redact(api_error(answer.status.as_u16(), &answer.body, answer.retry_after)))
        }
    }

    /// [`send`](Self::send) at the region's pace: each attempt takes its turn and reports
    /// whether it was throttled (src/cloud/pace.rs).
    async fn paced_send(&self, req: reqwest::RequestBuilder, deadline: Instant) -> Result<RawAnswer, CloudError> {
        let region = self.region_name();
        let Some(sent) = self.inner.pace.turn(region, deadline).await else {
            return Err(CloudError::DeadlineExceeded);
        };
        let answer = self.send(req, deadline).await;
        let throttled = matches!(&answer, Ok(a) if a.status == StatusCode::TOO_MANY_REQUESTS);
        self.inner.pace.answered(region, sent, throttled);
        answer
    }

    pub(super) async fn send(&self, req: reqwest::RequestBuilder, deadline: Instant) -> Result<RawAnswer, CloudError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CloudError::DeadlineExceeded);
        }
        let req = req.timeout(left.min(self.inner.config.request_timeout));
        let started = Instant::now();
        let sent = req.send().await;
        self.inner.latencies.record(started.elapsed());
        let resp = sent.map_err(map_reqwest)?;
        let status = resp.status();
        let retry_after = parse_retry_after(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()));
        let subject_token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.map_err(map_reqwest)?;
        Ok(RawAnswer {
            status,
            body,
            retry_after,
            subject_token,
        })
    }
}

/// The wait before the next attempt, or `None` to stop. `backoff` is the backoff's own next
/// delay, `None` once its attempts are used up: then no server hint may extend the retries
/// (a service answering 429 with Retry-After forever is tried `max_attempts` times, not until
/// the deadline). A server's Retry-After replaces the delay; a wait that would end past the
/// deadline stops early.
pub fn retry_wait(
    retry_after: Option<Duration>,
    backoff: Option<Duration>,
    now: Instant,
    deadline: Instant,
) -> Option<Duration> {
    let wait = retry_after.unwrap_or(backoff?);
    (now + wait < deadline).then_some(wait)
}

/// One call as a client asks for it: the service that answers, the project it is for (its
/// token's scope and `X-Project-Id`), method, path and query.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub service: Service,
    pub project_id: &'a str,
    pub method: Method,
    pub path: &'a str,
    pub query: &'a [(String, String)],
}

/// The transport as one service's client uses it: every call goes to that service.
#[derive(Clone)]
pub struct ServiceTransport {
    transport: Transport,
    service: Service,
}

impl ServiceTransport {
    pub fn new(transport: Transport, service: Service) -> Self {
        ServiceTransport { transport, service }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// One call of this service ([`Transport::call`]).
    pub async fn call(
        &self,
        method: Method,
        project_id: &str,
        path: &str,
        query: &[(String, String)],
        deadline: Instant,
    ) -> Result<bytes::Bytes, CloudError> {
        let request = Request {
            service: self.service,
            project_id,
            method,
            path,
            query,
        };
        self.transport.call(request, deadline).await
    }
}

/// A request on its way: the endpoint it goes to and its deadline, as every attempt sends it.
struct Call<'a> {
    base: &'a Url,
    request: &'a Request<'a>,
    deadline: Instant,
}

pub(super) struct RawAnswer {
    pub(super) status: StatusCode,
    pub(super) body: bytes::Bytes,
    pub(super) retry_after: Option<Duration>,
    pub(super) subject_token: Option<String>,
}

impl From<RawAnswer> for Answer {
    fn from(r: RawAnswer) -> Self {
        Answer { body: r.body }
    }
}

fn map_reqwest(e: reqwest::Error) -> CloudError {
    if e.is_timeout() {
        CloudError::Timeout
    } else {
        // reqwest's message names the URL; it carries no credentials (they travel in headers).
        CloudError::Connection(e.to_string())
    }
}

pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CloudError> {
    serde_json::from_slice(body).map_err(|e| CloudError::Decode(e.to_string()))
}

/// `Host` as the gateway sees it: the host, plus the port when it is not the scheme's default.
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_never_outlives_the_retry_budget() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(60);
        let s = Duration::from_secs;
        // The backoff is exhausted: stop, whatever the server asks for.
        assert_eq!(retry_wait(Some(s(1)), None, now, deadline), None);
        assert_eq!(retry_wait(None, None, now, deadline), None);
        // Within the budget the server's hint replaces the backoff's delay.
        assert_eq!(retry_wait(Some(s(3)), Some(s(1)), now, deadline), Some(s(3)));
        assert_eq!(retry_wait(None, Some(s(1)), now, deadline), Some(s(1)));
        // A wait ending at or past the deadline stops early.
        assert_eq!(retry_wait(Some(s(60)), Some(s(1)), now, deadline), None);
        assert_eq!(retry_wait(None, Some(s(59)), now, deadline), Some(s(59)));
    }
}
