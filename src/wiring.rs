//! The composition root (docs/DESIGN.md, "Layout"): builds the workflows from configuration: AWS
//! clients, the Huawei transport and its two service clients, once per container. The Lambda
//! binaries, the CLI and the local run all build through it.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::adapters::dynamodb::DynamoLedger;
use crate::adapters::eventbridge::EventBridgeSink;
use crate::adapters::sqs::SqsQueue;
use crate::cloud::ClientConfig;
use crate::config::{Config, ConfigError, HttpAuth};
use crate::csbs::CsbsClient;
use crate::metrics::CountingSink;
use crate::poll::{PollSettings, Poller};
use crate::ports::ledger::Ledger;
use crate::secrets::{ResolvedSecrets, resolve};
use crate::select::ExpandSettings;
use crate::service::Service;
use crate::submit::{SubmitSettings, Submitter};
use crate::webhook::WebhookPolicy;

/// What the submit function needs.
pub struct SubmitApp {
    pub submitter: Submitter,
    pub webhook: WebhookPolicy,
    /// What the bus accepted, counted for the invocation's metrics (crate::metrics); none in
    /// tests that do not read them.
    pub metrics: Option<Arc<CountingSink>>,
}

impl SubmitApp {
    pub fn new(submitter: Submitter, webhook: WebhookPolicy) -> Self {
        SubmitApp {
            submitter,
            webhook,
            metrics: None,
        }
    }
}

/// What the poll function needs.
pub struct PollApp {
    pub poller: Poller,
    /// As [`SubmitApp::metrics`].
    pub metrics: Option<Arc<CountingSink>>,
}

impl PollApp {
    pub fn new(poller: Poller) -> Self {
        PollApp { poller, metrics: None }
    }
}

/// How a [`Deferred`] app is built (again after a failure).
type Builder<T> = Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<T, ConfigError>> + Send + Sync>;

/// An app built in the background from the process's start: the runtime asks for its first
/// event meanwhile, and each invocation waits for the app. The configuration is checked before
/// (a bad variable still fails the init phase); what takes round trips — the AWS configuration,
/// the secrets from Secrets Manager — overlaps the runtime's start (BENCHMARKS.md, "Cold start").
/// A failed build fails the invocation that waits for it and is tried again by the next one, so
/// a transient Secrets Manager error costs one invocation, not a crash loop of the init phase.
pub struct Deferred<T> {
    cell: Arc<tokio::sync::OnceCell<T>>,
    build: Builder<T>,
}

impl<T: Send + Sync + 'static> Deferred<T> {
    /// Starts building at once (on the tokio runtime).
    pub fn start<F, Fut>(build: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<T, ConfigError>> + Send + 'static,
    {
        let build: Builder<T> = Arc::new(move || Box::pin(build()));
        let cell = Arc::new(tokio::sync::OnceCell::new());
        let (first, again) = (cell.clone(), build.clone());
        tokio::spawn(async move {
            if let Err(e) = first.get_or_try_init(|| again()).await {
                tracing::error!(variable = e.variable, error = %e, "the function could not be set up; the next invocation tries again");
            }
        });
        Deferred { cell, build }
    }

    /// The app, once built (building it again if the last try failed).
    pub async fn get(&self) -> Result<&T, ConfigError> {
        self.cell.get_or_try_init(|| (self.build)()).await
    }
}

/// The AWS configuration from the environment (honours `AWS_ENDPOINT_URL`, `AWS_REGION`).
/// The HTTPS client is given explicitly: rustls with ring, the one TLS stack of the binaries
/// (the SDK's default client would link aws-lc-rs as a second crypto provider).
pub async fn aws_from_env() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_http_client())
        .load()
        .await
}

/// The HTTP(S) client of every AWS SDK client (tests use it too, against moto on http://).
pub fn aws_http_client() -> aws_sdk_sqs::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

pub fn csbs_client(config: &Config, secrets: &ResolvedSecrets) -> Result<CsbsClient, ConfigError> {
    // With AK/SK signing IAM is never called; any endpoint will do as its placeholder.
    let iam = config
        .iam_endpoint
        .clone()
        .or_else(|| config.csbs_endpoint.clone())
        .or_else(|| config.cbr_endpoint.clone())
        .expect("config requires CSBS_ENDPOINT or CBR_ENDPOINT");
    let endpoints = [
        (Service::Csbs, &config.csbs_endpoint),
        (Service::Cbr, &config.cbr_endpoint),
    ]
    .into_iter()
    .filter_map(|(s, url)| Some((s, url.clone()?)))
    .collect();
    let client = ClientConfig {
        endpoints,
        pace: config.pace,
        ..ClientConfig::new(iam.clone(), iam, secrets.credentials.clone())
    }
    .with_regions(&config.default_region, config.regions.clone());
    CsbsClient::new(client).map_err(|e| ConfigError {
        variable: "CSBS_ENDPOINT",
        message: e.to_string(),
    })
}

pub fn webhook_policy(config: &Config, secrets: &ResolvedSecrets) -> WebhookPolicy {
    if config.http_auth == HttpAuth::Iam {
        return WebhookPolicy::Iam;
    }
    match (&secrets.webhook_secret, config.allow_unsigned_http) {
        (Some(s), _) => WebhookPolicy::Secret(s.clone()),
        (None, true) => WebhookPolicy::AllowUnsigned,
        (None, false) => WebhookPolicy::Refuse,
    }
}

pub async fn secrets(config: &Config, aws: &SdkConfig) -> Result<ResolvedSecrets, ConfigError> {
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    resolve(config, Some(&sm)).await
}

fn queue(config: &Config, sqs: &aws_sdk_sqs::Client) -> Result<SqsQueue, ConfigError> {
    Ok(SqsQueue::new(
        sqs.clone(),
        config.require_pending_queue()?,
        config.pending_receive_wait_seconds,
    ))
}

fn ledger(config: &Config, aws: &SdkConfig) -> Result<Arc<dyn Ledger>, ConfigError> {
    Ok(Arc::new(DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(aws),
        config.require_ledger_table()?,
    )))
}

/// The EventBridge bus, counted for the function's metrics.
fn sink(config: &Config, aws: &SdkConfig) -> CountingSink {
    CountingSink::new(Arc::new(EventBridgeSink::new(
        aws_sdk_eventbridge::Client::new(aws),
        &config.event_bus_name,
        &config.event_source,
    )))
}

pub async fn submit_app(config: &Config, aws: &SdkConfig) -> Result<SubmitApp, ConfigError> {
    let secrets = secrets(config, aws).await?;
    let settings = SubmitSettings {
        allowed_project_ids: config.allowed_project_ids.clone(),
        default_timeout_seconds: config.deletion_timeout_seconds,
        cloud_concurrency: config.cloud_concurrency,
        event_source: config.event_source.clone(),
        expand: ExpandSettings {
            step_delay_secs: config.fanout_step_seconds,
            ..ExpandSettings::default()
        },
        ..SubmitSettings::default()
    };
    // Each client once: the SQS client (and its connection pool) serves both queues.
    let sqs = aws_sdk_sqs::Client::new(aws);
    let metrics = Arc::new(sink(config, aws));
    let mut submitter = Submitter::new(
        csbs_client(config, &secrets)?,
        Arc::new(queue(config, &sqs)?),
        metrics.clone(),
        ledger(config, aws)?,
        settings,
    );
    if let Some(url) = &config.intake_queue_url {
        // The same adapter as the pending queue; its receive wait is never used here.
        submitter = submitter.with_intake(Arc::new(SqsQueue::new(sqs, url.clone(), 0)));
    }
    Ok(SubmitApp {
        submitter,
        webhook: webhook_policy(config, &secrets),
        metrics: Some(metrics),
    })
}

pub async fn poll_app(config: &Config, aws: &SdkConfig) -> Result<PollApp, ConfigError> {
    let metrics = Arc::new(sink(config, aws).with_detection_bound(config.poll_interval));
    let poller = poller_with(config, aws, metrics.clone()).await?;
    Ok(PollApp {
        poller,
        metrics: Some(metrics),
    })
}

pub async fn poller(config: &Config, aws: &SdkConfig) -> Result<Poller, ConfigError> {
    poller_with(config, aws, Arc::new(sink(config, aws))).await
}

async fn poller_with(config: &Config, aws: &SdkConfig, sink: Arc<CountingSink>) -> Result<Poller, ConfigError> {
    let secrets = secrets(config, aws).await?;
    let settings = PollSettings {
        window: config.poll_window,
        interval: config.poll_interval,
        cloud_concurrency: config.cloud_concurrency,
        ..PollSettings::default()
    };
    Ok(Poller::new(
        csbs_client(config, &secrets)?,
        Arc::new(queue(config, &aws_sdk_sqs::Client::new(aws))?),
        sink,
        ledger(config, aws)?,
        settings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_deferred_app_is_built_once_and_a_failed_build_is_tried_again() {
        let builds = Arc::new(AtomicUsize::new(0));
        let counted = builds.clone();
        let app = Deferred::start(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Err(ConfigError {
                        variable: "CSBS_CREDENTIALS_SECRET_ARN",
                        message: "could not read the secret".into(),
                    }),
                    _ => Ok(n),
                }
            }
        });
        // The first build fails (in the background or in this call); the next try succeeds.
        let first = match app.get().await {
            Ok(v) => *v,
            Err(e) => {
                assert_eq!(e.variable, "CSBS_CREDENTIALS_SECRET_ARN");
                *app.get().await.expect("built on the second try")
            }
        };
        assert_eq!(first, 1);
        assert_eq!(*app.get().await.unwrap(), 1, "built once, then kept");
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }
}
