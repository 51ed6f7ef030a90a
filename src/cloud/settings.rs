//! The transport's settings: every region's endpoints, the credentials, timeouts and the
//! retry policy (docs/DESIGN.md, "Configuration" and "Regions").

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

use super::auth::Credentials;
use super::error::CloudError;
use crate::region::{DEFAULT_REGION_NAME, RegionEndpoints};
use crate::service::Service;

/// Retry policy for transient answers.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_attempts: 6,
        }
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The endpoint of each service this deployment serves; a call to another one fails as
    /// misconfigured, naming the variable that would configure it.
    pub endpoints: BTreeMap<Service, Url>,
    pub iam_endpoint: Url,
    /// The default region's name (`DEFAULT_REGION`): `endpoints` and `iam_endpoint` are its.
    pub default_region: String,
    /// The other regions (`REGIONS`; docs/DESIGN.md, "Regions"), each with its services and
    /// maybe its own IAM.
    pub regions: BTreeMap<String, RegionEndpoints>,
    pub credentials: Credentials,
    pub connect_timeout: Duration,
    /// Upper bound of one HTTP exchange (the deadline may cut it shorter).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// The bounds of each region's call rate (`CLOUD_RATE_FLOOR`, `CLOUD_RATE_CEILING`).
    pub pace: super::pace::PaceSettings,
}

impl ClientConfig {
    pub fn new(csbs_endpoint: Url, iam_endpoint: Url, credentials: Credentials) -> Self {
        ClientConfig {
            endpoints: BTreeMap::from([(Service::Csbs, csbs_endpoint)]),
            iam_endpoint,
            default_region: DEFAULT_REGION_NAME.into(),
            regions: BTreeMap::new(),
            credentials,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            pace: Default::default(),
        }
    }

    /// The same settings with a CBR endpoint too.
    pub fn with_cbr(mut self, cbr_endpoint: Url) -> Self {
        self.endpoints.insert(Service::Cbr, cbr_endpoint);
        self
    }

    /// The same settings serving more regions besides the default one, named `default_region`.
    pub fn with_regions(mut self, default_region: &str, regions: BTreeMap<String, RegionEndpoints>) -> Self {
        self.default_region = default_region.into();
        self.regions = regions;
        self
    }

    /// Whether `region` is a name this deployment serves (the default region's included).
    pub fn serves_region(&self, region: &str) -> bool {
        region == self.default_region || self.regions.contains_key(region)
    }

    /// Whether `region` (`None`: the default) has an endpoint for `service`.
    pub fn serves(&self, region: Option<&str>, service: Service) -> bool {
        self.endpoint(region, service).is_ok()
    }

    fn other_region<'a>(&self, region: Option<&'a str>) -> Option<&'a str> {
        region.filter(|r| *r != self.default_region)
    }

    /// The endpoint of `service` in `region`, or the error naming what would configure it.
    pub(super) fn endpoint(&self, region: Option<&str>, service: Service) -> Result<&Url, CloudError> {
        match self.other_region(region) {
            None => self
                .endpoints
                .get(&service)
                .ok_or_else(|| CloudError::NotConfigured(service.endpoint_variable().into())),
            Some(r) => self
                .regions
                .get(r)
                .and_then(|e| e.services.get(&service))
                .ok_or_else(|| CloudError::NotConfigured(format!("REGIONS.{r}.{}", service.as_str()))),
        }
    }

    /// The IAM endpoint that issues tokens for `region`'s projects: its own, or the cloud's.
    pub(super) fn iam(&self, region: Option<&str>) -> &Url {
        self.other_region(region)
            .and_then(|r| self.regions.get(r))
            .and_then(|e| e.iam.as_ref())
            .unwrap_or(&self.iam_endpoint)
    }
}
