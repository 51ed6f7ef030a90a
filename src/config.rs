//! Configuration from the environment (docs/DESIGN.md, "Configuration"), validated before the first
//! event: an invalid value fails start-up with a message naming the variable, never its value
//! when the variable holds a secret.

use std::collections::BTreeMap;
use std::time::Duration;

use thiserror::Error;
use url::Url;

use crate::cloud::{Credentials, PaceSettings};
use crate::ids::validate_id;
use crate::region::{DEFAULT_REGION_NAME, RegionEndpoints, endpoint_url, parse_regions, valid_region_name};
use crate::secret::Secret;

#[derive(Debug, Error, PartialEq)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn err(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

/// Where the CSBS credentials come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialsSource {
    SecretArn(String),
    Inline(Credentials),
}

/// Where the webhook secret comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    Arn(String),
    Inline(Secret),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `None` only when `CBR_ENDPOINT` is set: a CBR-only deployment.
    pub csbs_endpoint: Option<Url>,
    pub cbr_endpoint: Option<Url>,
    pub iam_endpoint: Option<Url>,
    pub credentials: CredentialsSource,
    pub pending_queue_url: Option<String>,
    pub event_bus_name: String,
    pub event_source: String,
    pub deletion_timeout_seconds: u64,
    pub allowed_project_ids: Vec<String>,
    pub webhook_secret: Option<SecretSource>,
    pub allow_unsigned_http: bool,
    pub poll_window: Duration,
    pub poll_interval: Duration,
    pub cloud_concurrency: usize,
    /// Each region's call rate bounds (`CLOUD_RATE_FLOOR`, default 1, and `CLOUD_RATE_CEILING`,
    /// default 100, calls/s; src/cloud/pace.rs).
    pub pace: PaceSettings,
    /// ReceiveMessage wait on the pending queue (`PENDING_RECEIVE_WAIT_SECONDS`, default 1).
    pub pending_receive_wait_seconds: i32,
    /// Where a selection sends its targets and follow-up steps (`INTAKE_QUEUE_URL`); without
    /// it only dry runs are possible.
    pub intake_queue_url: Option<String>,
    /// The delay between fan-out steps (`FANOUT_STEP_SECONDS`, default 30, at most 900).
    pub fanout_step_seconds: u32,
    /// The decision ledger's DynamoDB table (`LEDGER_TABLE_NAME`), required by submit and poll.
    pub ledger_table_name: Option<String>,
    /// How HTTP callers are authenticated (`HTTP_AUTH`: `signature`, the default, or `iam`).
    pub http_auth: HttpAuth,
    /// `DEFAULT_REGION`: the name of the region the single-endpoint variables configure.
    pub default_region: String,
    /// `REGIONS`: every other region and its endpoints (docs/DESIGN.md, "Regions").
    pub regions: BTreeMap<String, RegionEndpoints>,
}

/// `HTTP_AUTH` (docs/DESIGN.md, "HTTP API").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpAuth {
    /// The `X-Signature-256` webhook signature, checked by the function.
    #[default]
    Signature,
    /// AWS_IAM at API Gateway / the function URL: the caller's SigV4 identity, present in the
    /// request context, replaces the signature.
    Iam,
}

/// The variables, blank ones as unset.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// CSBS, CBR and IAM endpoints: at least one of the services'.
/// The CSBS, CBR and IAM endpoints, each when set.
type Endpoints = (Option<Url>, Option<Url>, Option<Url>);

fn endpoints(get: Lookup) -> Result<Endpoints, ConfigError> {
    let endpoint = |k: &'static str| get(k).map(|v| parse_endpoint(k, &v)).transpose();
    let (csbs, cbr, iam) = (
        endpoint("CSBS_ENDPOINT")?,
        endpoint("CBR_ENDPOINT")?,
        endpoint("IAM_ENDPOINT")?,
    );
    if csbs.is_none() && cbr.is_none() {
        return Err(err(
            "CSBS_ENDPOINT",
            "is required (or CBR_ENDPOINT, for a deployment that deletes CBR backups only)",
        ));
    }
    Ok((csbs, cbr, iam))
}

/// The credentials: a secret's ARN, or AK/SK, or a password login; never two of them.
fn credentials_source(get: Lookup) -> Result<CredentialsSource, ConfigError> {
    let env_aksk = get("CSBS_AK").is_some() || get("CSBS_SK").is_some();
    let env_password = get("CSBS_USERNAME").is_some() || get("CSBS_PASSWORD").is_some();
    Ok(match (get("CSBS_CREDENTIALS_SECRET_ARN"), env_aksk, env_password) {
        (Some(arn), false, false) => CredentialsSource::SecretArn(arn),
        (Some(_), _, _) => {
            return Err(err(
                "CSBS_CREDENTIALS_SECRET_ARN",
                "set either the secret ARN or CSBS_AK/CSBS_SK or CSBS_USERNAME/CSBS_PASSWORD, not both",
            ));
        }
        (None, true, true) => {
            return Err(err(
                "CSBS_AK",
                "set either CSBS_AK/CSBS_SK or CSBS_USERNAME/CSBS_PASSWORD/CSBS_DOMAIN_NAME, not both",
            ));
        }
        (None, true, false) => CredentialsSource::Inline(Credentials::AkSk {
            ak: get("CSBS_AK").ok_or_else(|| err("CSBS_AK", "is required with CSBS_SK"))?,
            sk: Secret::new(get("CSBS_SK").ok_or_else(|| err("CSBS_SK", "is required with CSBS_AK"))?),
            security_token: get("CSBS_SECURITY_TOKEN").map(Secret::new),
        }),
        (None, false, true) => CredentialsSource::Inline(Credentials::Password {
            username: get("CSBS_USERNAME").ok_or_else(|| err("CSBS_USERNAME", "is required with CSBS_PASSWORD"))?,
            password: Secret::new(
                get("CSBS_PASSWORD").ok_or_else(|| err("CSBS_PASSWORD", "is required with CSBS_USERNAME"))?,
            ),
            domain_name: get("CSBS_DOMAIN_NAME")
                .ok_or_else(|| err("CSBS_DOMAIN_NAME", "is required for password login"))?,
        }),
        (None, false, false) => {
            return Err(err(
                "CSBS_CREDENTIALS_SECRET_ARN",
                "no CSBS credentials: set the secret ARN, or CSBS_AK/CSBS_SK, or CSBS_USERNAME/CSBS_PASSWORD/CSBS_DOMAIN_NAME",
            ));
        }
    })
}

/// `ALLOWED_PROJECT_IDS`: a comma list of valid ids (empty: every project).
fn allowed_project_ids(get: Lookup) -> Result<Vec<String>, ConfigError> {
    let allowed_project_ids: Vec<String> = get("ALLOWED_PROJECT_IDS")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for p in &allowed_project_ids {
        validate_id("ALLOWED_PROJECT_IDS", p).map_err(|e| err("ALLOWED_PROJECT_IDS", e.to_string()))?;
    }
    Ok(allowed_project_ids)
}

/// The webhook secret: its secret's ARN or the value itself, at least 16 characters.
fn webhook_secret(get: Lookup) -> Result<Option<SecretSource>, ConfigError> {
    Ok(match (get("WEBHOOK_SECRET_ARN"), get("WEBHOOK_SECRET")) {
        (Some(_), Some(_)) => {
            return Err(err(
                "WEBHOOK_SECRET",
                "set WEBHOOK_SECRET_ARN or WEBHOOK_SECRET, not both",
            ));
        }
        (Some(arn), None) => Some(SecretSource::Arn(arn)),
        (None, Some(s)) if s.len() < 16 => {
            return Err(err("WEBHOOK_SECRET", "must be at least 16 characters"));
        }
        (None, Some(s)) => Some(SecretSource::Inline(Secret::new(s))),
        (None, None) => None,
    })
}

fn parse_http_auth(value: Option<String>) -> Result<HttpAuth, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("signature") => Ok(HttpAuth::Signature),
        Some("iam") => Ok(HttpAuth::Iam),
        Some(other) => Err(ConfigError {
            variable: "HTTP_AUTH",
            message: format!("must be signature or iam, not {other:?}"),
        }),
    }
}

/// `DEFAULT_REGION` (default `default`) and `REGIONS` (default none), checked together: a
/// `REGIONS` entry may not be the default region.
fn regions(get: Lookup) -> Result<(String, BTreeMap<String, RegionEndpoints>), ConfigError> {
    let default_region = get("DEFAULT_REGION")
        .map(|r| r.trim().to_string())
        .unwrap_or_else(|| DEFAULT_REGION_NAME.into());
    if !valid_region_name(&default_region) {
        return Err(err(
            "DEFAULT_REGION",
            "must be a region name: 1 to 32 of a-z, 0-9 and '-'",
        ));
    }
    let regions = match get("REGIONS") {
        None => BTreeMap::new(),
        // `REGIONS: eu-nl.cbr: must be https …`: the region and key first.
        Some(v) => parse_regions(&v, &default_region).map_err(|e| match e.path.strip_prefix("REGIONS.") {
            Some(at) => err("REGIONS", format!("{at}: {}", e.message)),
            None => err("REGIONS", e.message),
        })?,
    };
    Ok((default_region, regions))
}

/// `scheme://host[:port]`, a trailing `/` tolerated.
pub fn parse_endpoint(variable: &'static str, value: &str) -> Result<Url, ConfigError> {
    endpoint_url(value).map_err(|m| err(variable, m))
}

fn parse_bool(variable: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("false") | Some("0") | Some("no") => Ok(false),
        Some("true") | Some("1") | Some("yes") => Ok(true),
        Some(_) => Err(err(variable, "must be true or false")),
    }
}

fn parse_num<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
    variable: &'static str,
    value: Option<String>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    let Some(v) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(default);
    };
    match v.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(err(variable, format!("must be an integer from {min} to {max}"))),
    }
}

/// `CLOUD_RATE_FLOOR` and `CLOUD_RATE_CEILING`: whole calls per second, floor ≤ ceiling.
fn pace(get: &impl Fn(&str) -> Option<String>) -> Result<PaceSettings, ConfigError> {
    let floor: u32 = parse_num("CLOUD_RATE_FLOOR", get("CLOUD_RATE_FLOOR"), 1, 1, 10_000)?;
    let ceiling: u32 = parse_num("CLOUD_RATE_CEILING", get("CLOUD_RATE_CEILING"), 100, 1, 10_000)?;
    if floor > ceiling {
        return Err(err(
            "CLOUD_RATE_FLOOR",
            format!("must not exceed CLOUD_RATE_CEILING ({floor} > {ceiling})"),
        ));
    }
    Ok(PaceSettings {
        floor: floor.into(),
        ceiling: ceiling.into(),
    })
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let (csbs_endpoint, cbr_endpoint, iam_endpoint) = endpoints(&get)?;
        let (default_region, regions) = regions(&get)?;
        let credentials = credentials_source(&get)?;
        if matches!(credentials, CredentialsSource::Inline(Credentials::Password { .. })) && iam_endpoint.is_none() {
            return Err(err("IAM_ENDPOINT", "is required for password (token) authentication"));
        }
        let event_source = get("EVENT_SOURCE").unwrap_or_else(|| "csbs.checkpoint-deletion".into());
        if event_source.starts_with("aws.") {
            return Err(err("EVENT_SOURCE", "must not start with aws. (reserved by AWS)"));
        }
        let allowed_project_ids = allowed_project_ids(&get)?;
        let webhook_secret = webhook_secret(&get)?;
        let secs = |k: &'static str, default, min, max| {
            parse_num::<u64>(k, get(k), default, min, max).map(Duration::from_secs)
        };
        Ok(Config {
            csbs_endpoint,
            cbr_endpoint,
            iam_endpoint,
            credentials,
            pending_queue_url: get("PENDING_QUEUE_URL"),
            event_bus_name: get("EVENT_BUS_NAME").unwrap_or_else(|| "default".into()),
            event_source,
            deletion_timeout_seconds: parse_num(
                "DELETION_TIMEOUT_SECONDS",
                get("DELETION_TIMEOUT_SECONDS"),
                1800,
                1,
                86_400,
            )?,
            allowed_project_ids,
            webhook_secret,
            allow_unsigned_http: parse_bool("ALLOW_UNSIGNED_HTTP", get("ALLOW_UNSIGNED_HTTP"))?,
            poll_window: secs("POLL_WINDOW_SECONDS", 50, 0, 840)?,
            poll_interval: secs("POLL_INTERVAL_SECONDS", 10, 1, 300)?,
            // CLOUD_CONCURRENCY bounds CSBS and CBR calls alike; CSBS_CONCURRENCY, its name from before
            // CBR, stays an alias.
            cloud_concurrency: match get("CLOUD_CONCURRENCY") {
                Some(v) => parse_num("CLOUD_CONCURRENCY", Some(v), 16, 1, 256)?,
                None => parse_num("CSBS_CONCURRENCY", get("CSBS_CONCURRENCY"), 16, 1, 256)?,
            },
            pace: pace(&get)?,
            pending_receive_wait_seconds: parse_num(
                "PENDING_RECEIVE_WAIT_SECONDS",
                get("PENDING_RECEIVE_WAIT_SECONDS"),
                1,
                0,
                20,
            )?,
            intake_queue_url: get("INTAKE_QUEUE_URL").filter(|u| !u.trim().is_empty()),
            ledger_table_name: get("LEDGER_TABLE_NAME").map(|t| t.trim().to_string()),
            fanout_step_seconds: parse_num("FANOUT_STEP_SECONDS", get("FANOUT_STEP_SECONDS"), 30, 0, 900)?,
            http_auth: parse_http_auth(get("HTTP_AUTH"))?,
            default_region,
            regions,
        })
    }

    /// The pending queue URL, required by both functions.
    pub fn require_pending_queue(&self) -> Result<&str, ConfigError> {
        self.pending_queue_url
            .as_deref()
            .ok_or_else(|| err("PENDING_QUEUE_URL", "is required"))
    }

    /// The ledger table (docs/DESIGN.md, "Decisions"): without it no decision can be kept.
    pub fn require_ledger_table(&self) -> Result<&str, ConfigError> {
        self.ledger_table_name
            .as_deref()
            .ok_or_else(|| err("LEDGER_TABLE_NAME", "is required: the decision ledger's DynamoDB table"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("CSBS_ENDPOINT", "https://csbs.eu-de.otc.t-systems.com/"),
        ("CSBS_AK", "AK"),
        ("CSBS_SK", "SKVALUE"),
    ];

    #[test]
    fn defaults() {
        let c = cfg(&BASE).unwrap();
        assert_eq!(c.event_bus_name, "default");
        assert_eq!(c.event_source, "csbs.checkpoint-deletion");
        assert_eq!(c.deletion_timeout_seconds, 1800);
        assert_eq!(
            (c.poll_window.as_secs(), c.poll_interval.as_secs(), c.cloud_concurrency),
            (50, 10, 16)
        );
        assert_eq!((c.pace.floor, c.pace.ceiling), (1.0, 100.0));
        assert!(!c.allow_unsigned_http && c.webhook_secret.is_none());
    }

    #[test]
    fn regions_and_the_default_region() {
        let c = cfg(&BASE).unwrap();
        assert_eq!((c.default_region.as_str(), c.regions.len()), ("default", 0));
        let mut with = BASE.to_vec();
        with.extend([
            ("DEFAULT_REGION", "eu-de"),
            (
                "REGIONS",
                r#"{"eu-nl": {"cbr": "https://cbr.eu-nl.otc.t-systems.com"}}"#,
            ),
        ]);
        let c = cfg(&with).unwrap();
        assert_eq!(c.default_region, "eu-de");
        assert!(c.regions["eu-nl"].services.contains_key(&crate::service::Service::Cbr));
        for (k, v, names) in [
            ("DEFAULT_REGION", "EU DE", "DEFAULT_REGION"),
            ("REGIONS", r#"{"default": {"cbr": "https://x"}}"#, "REGIONS: default:"),
            (
                "REGIONS",
                r#"{"eu-nl": {"cbr": "http://cbr.example.com"}}"#,
                "REGIONS: eu-nl.cbr:",
            ),
            (
                "REGIONS",
                r#"{"eu-nl": {"cbr": "https://x", "kms": "https://y"}}"#,
                "REGIONS: eu-nl.kms:",
            ),
            ("REGIONS", "eu-nl=https://x", "REGIONS: not valid JSON"),
        ] {
            let mut bad = BASE.to_vec();
            bad.push((k, v));
            let e = cfg(&bad).unwrap_err().to_string();
            assert!(e.starts_with(names), "{v}: {e}");
        }
    }

    #[test]
    fn errors_name_the_variable_and_never_the_secret() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("CSBS_AK", "A"), ("CSBS_SK", "S")], "CSBS_ENDPOINT"),
            (vec![("CSBS_ENDPOINT", "csbs.example.com")], "CSBS_ENDPOINT"),
            (vec![("CSBS_ENDPOINT", "https://x/v1/p")], "CSBS_ENDPOINT"),
            (vec![("CSBS_ENDPOINT", "https://x")], "CSBS_CREDENTIALS_SECRET_ARN"),
            (
                vec![
                    ("CSBS_ENDPOINT", "https://x"),
                    ("CSBS_USERNAME", "u"),
                    ("CSBS_PASSWORD", "pw-s3cr3t-value"),
                    ("CSBS_DOMAIN_NAME", "d"),
                ],
                "IAM_ENDPOINT",
            ),
            (
                vec![("CSBS_ENDPOINT", "https://x"), ("CSBS_SK", "sk-s3cr3t-value")],
                "CSBS_AK",
            ),
        ];
        for (pairs, var) in cases {
            let e = cfg(&pairs).unwrap_err();
            assert_eq!(e.variable, var, "{e}");
            assert!(!e.to_string().contains("s3cr3t"));
        }
        let with = |k, v| {
            let mut p = BASE.to_vec();
            p.push((k, v));
            cfg(&p).unwrap_err()
        };
        assert_eq!(with("POLL_INTERVAL_SECONDS", "0").variable, "POLL_INTERVAL_SECONDS");
        assert_eq!(
            with("DELETION_TIMEOUT_SECONDS", "abc").variable,
            "DELETION_TIMEOUT_SECONDS"
        );
        assert_eq!(with("ALLOW_UNSIGNED_HTTP", "maybe").variable, "ALLOW_UNSIGNED_HTTP");
        let e = with("HTTP_AUTH", "IAM ");
        assert!(
            e.variable == "HTTP_AUTH" && e.message.contains("signature or iam"),
            "{e}"
        );
        assert_eq!(with("ALLOWED_PROJECT_IDS", "p1,bad/id").variable, "ALLOWED_PROJECT_IDS");
        assert_eq!(with("CSBS_CONCURRENCY", "0").variable, "CSBS_CONCURRENCY");
        assert_eq!(with("CLOUD_CONCURRENCY", "0").variable, "CLOUD_CONCURRENCY");
        assert_eq!(with("CLOUD_RATE_CEILING", "0").variable, "CLOUD_RATE_CEILING");
        assert_eq!(with("CLOUD_RATE_FLOOR", "200").variable, "CLOUD_RATE_FLOOR");
        let e = with("WEBHOOK_SECRET", "short-s3cr3t");
        assert!(e.variable == "WEBHOOK_SECRET" && !e.to_string().contains("s3cr3t"));
    }

    #[test]
    fn credential_sources() {
        let c = cfg(&[
            ("CSBS_ENDPOINT", "http://127.0.0.1:9000"),
            ("CSBS_CREDENTIALS_SECRET_ARN", "arn:aws:secretsmanager:x"),
        ])
        .unwrap();
        assert_eq!(
            c.credentials,
            CredentialsSource::SecretArn("arn:aws:secretsmanager:x".into())
        );
        let c = cfg(&[
            ("CSBS_ENDPOINT", "http://127.0.0.1:9000"),
            ("IAM_ENDPOINT", "http://127.0.0.1:9000/"),
            ("CSBS_USERNAME", "u"),
            ("CSBS_PASSWORD", "p"),
            ("CSBS_DOMAIN_NAME", "d"),
            ("ALLOWED_PROJECT_IDS", " p1 , p2 ,"),
        ])
        .unwrap();
        assert!(matches!(
            c.credentials,
            CredentialsSource::Inline(Credentials::Password { .. })
        ));
        assert_eq!(c.allowed_project_ids, vec!["p1", "p2"]);
        assert!(!format!("{c:?}").contains("\"p\""), "Debug output redacts the password");
    }
}
