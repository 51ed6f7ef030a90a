//! The errors of the Huawei transport, naming the service that answered, and their classes
//! for the workflows (docs/DESIGN.md, "CSBS behaviour" and "CBR behaviour").

use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::codes::ErrorCode;
use crate::ids::IdError;
use crate::service::Service;

/// `400 CSBS.2003 item in executing`: the backup is already being deleted (or backed up). CBR
/// answers with the same code (docs/DESIGN.md, "CBR behaviour").
pub const ALREADY_EXECUTING: &str = "CSBS.2003";

/// What a failed call means for the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 404 with the service's own not-found code: the resource does not exist (any more).
    NotFound,
    /// Any other 404: the endpoint, region or path is wrong. Never "gone": retried like a
    /// transient failure (so SQS dead-letters it and the alarm fires), 502 over HTTP.
    Misconfigured,
    /// 400 CSBS.2003: a deletion of it is already running.
    AlreadyDeleting,
    /// Refused for good: 400, 403, bad input. Never retried.
    Permanent,
    /// Worth another try later: 401 after re-auth, 429, 5xx, timeouts, connection errors.
    Transient,
}

#[derive(Debug, Error)]
pub enum CloudError {
    #[error("{} answered HTTP {status} {code}: {message}", service.display_name())]
    Api {
        service: Service,
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The endpoint of the service this task needs is not configured.
    #[error("{0} is not set: this deployment is not configured for that service")]
    NotConfigured(String),
    #[error("the request timed out")]
    Timeout,
    #[error("could not connect: {0}")]
    Connection(String),
    #[error("the time left for this call ran out")]
    DeadlineExceeded,
    #[error("invalid input: {0}")]
    InvalidInput(#[from] IdError),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl CloudError {
    pub fn class(&self) -> ErrorClass {
        match self {
            CloudError::Api {
                service, status, code, ..
            } => match *status {
                // Only a 404 carrying the service's own not-found code means gone; a 404 from the API
                // gateway (`APIGW.0101`: no such API in this region or under this path) or one
                // without a JSON error body says nothing about the backup.
                404 if service.not_found_codes().contains(&code.as_str()) => ErrorClass::NotFound,
                404 => ErrorClass::Misconfigured,
                400 if code == ALREADY_EXECUTING => ErrorClass::AlreadyDeleting,
                401 | 408 | 429 => ErrorClass::Transient,
                s if s >= 500 => ErrorClass::Transient,
                _ => ErrorClass::Permanent,
            },
            CloudError::InvalidInput(_) => ErrorClass::Permanent,
            CloudError::NotConfigured(_) => ErrorClass::Misconfigured,
            CloudError::Timeout
            | CloudError::Connection(_)
            | CloudError::DeadlineExceeded
            | CloudError::Auth(_)
            | CloudError::Decode(_) => ErrorClass::Transient,
        }
    }

    /// Whether the client may retry the call by itself (a 401 is handled by re-authentication,
    /// not by blind retries: the AK would be locked after five failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            CloudError::Api { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            CloudError::Timeout | CloudError::Connection(_) | CloudError::Decode(_) => true,
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CloudError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the failure is on our side of the service (credentials or endpoint), which an
    /// HTTP caller sees as 502 rather than 503.
    pub fn is_bad_gateway(&self) -> bool {
        self.http_status() == Some(401)
            || matches!(self, CloudError::Auth(_))
            || self.class() == ErrorClass::Misconfigured
    }

    /// HTTP status of the service's answer, if there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            CloudError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A short machine-readable code: the service's or the gateway's, or a name for local failures.
    pub fn code(&self) -> String {
        match self {
            CloudError::Api { code, .. } => code.clone(),
            CloudError::Timeout => ErrorCode::Timeout.into(),
            CloudError::Connection(_) => ErrorCode::ConnectionError.into(),
            CloudError::DeadlineExceeded => ErrorCode::DeadlineExceeded.into(),
            CloudError::InvalidInput(_) => ErrorCode::InvalidInput.into(),
            CloudError::NotConfigured(_) => ErrorCode::ServiceNotConfigured.into(),
            CloudError::Auth(_) => ErrorCode::AuthenticationFailed.into(),
            CloudError::Decode(_) => ErrorCode::BadResponse.into(),
        }
    }
}

/// Both error shapes seen: the CSBS `{"error_code","error_msg"}` and the generic
/// `{"error":{"code","message"}}` of some gateways.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    error_code: Option<serde_json::Value>,
    error_msg: Option<String>,
    error: Option<NestedError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NestedError {
    code: Option<serde_json::Value>,
    message: Option<String>,
}

fn code_string(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Builds an API error from a non-success answer.
pub fn api_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> CloudError {
    // Only an object is an error body (serde would map an array onto the fields in order).
    let parsed: ErrorBody = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .filter(serde_json::Value::is_object)
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let nested = parsed.error.unwrap_or_default();
    let code = parsed
        .error_code
        .or(nested.code)
        .map(code_string)
        .filter(|c| !c.is_empty() && c != "null")
        .unwrap_or_else(|| format!("HTTP.{status}"));
    let message = parsed.error_msg.or(nested.message).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        text.chars().take(200).collect()
    });
    CloudError::Api {
        service: Service::Csbs,
        status,
        code,
        message,
        retry_after,
    }
}

impl CloudError {
    /// The same error, naming `service` as the one that answered.
    pub fn from_service(mut self, service: Service) -> Self {
        if let CloudError::Api { service: s, .. } = &mut self {
            *s = service;
        }
        self
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare on APIs; it is ignored).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(300.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_csbs_gateway_and_nested_bodies() {
        let e = api_error(
            404,
            br#"{"error_code":"CSBS.3001","error_msg":"Checkpoint_item (x) is not found."}"#,
            None,
        );
        assert_eq!(e.class(), ErrorClass::NotFound);
        assert_eq!(e.code(), "CSBS.3001");
        let e = api_error(401, br#"{"error_msg":"Incorrect IAM authentication information: decrypt token fail","error_code":"APIGW.0301","request_id":"r"}"#, None);
        assert_eq!(e.code(), "APIGW.0301");
        assert_eq!(e.class(), ErrorClass::Transient);
        let e = api_error(403, br#"{"error":{"code":"X.1","message":"nope"}}"#, None);
        assert_eq!((e.code().as_str(), e.class()), ("X.1", ErrorClass::Permanent));
        let e = api_error(400, br#"[""]"#, None);
        assert_eq!(e.code(), "HTTP.400", "an array is not an error body");
        let e = api_error(400, br#"{"error_code":""}"#, None);
        assert_eq!(e.code(), "HTTP.400");
        let e = api_error(502, b"<html>bad gateway</html>", None);
        assert_eq!((e.code().as_str(), e.class()), ("HTTP.502", ErrorClass::Transient));
        assert!(e.to_string().contains("bad gateway"));
    }

    #[test]
    fn classifies_per_design_table() {
        let c = |s, code: &str| api_error(s, format!(r#"{{"error_code":"{code}"}}"#).as_bytes(), None);
        assert_eq!(c(400, "CSBS.2003").class(), ErrorClass::AlreadyDeleting);
        assert_eq!(c(400, "CSBS.9001").class(), ErrorClass::Permanent);
        assert_eq!(c(400, "CSBS.8007").class(), ErrorClass::Permanent);
        assert_eq!(c(403, "CSBS.9009").class(), ErrorClass::Permanent);
        for s in [429, 500, 502, 503, 504] {
            assert_eq!(c(s, "x").class(), ErrorClass::Transient);
            assert!(c(s, "x").is_retryable());
        }
        assert!(!c(401, "APIGW.0301").is_retryable());
        assert!(!c(400, "CSBS.9001").is_retryable());
    }

    #[test]
    fn only_the_services_own_404_means_gone() {
        let gone = api_error(404, br#"{"error_code":"CSBS.3001","error_msg":"not found"}"#, None);
        assert_eq!(gone.class(), ErrorClass::NotFound);
        let cbr = api_error(
            404,
            br#"{"error_code":"BackupService.6200","error_msg":"not found"}"#,
            None,
        );
        // Each service's own code: CBR's means gone from CBR, not from CSBS.
        assert_eq!(cbr.class(), ErrorClass::Misconfigured);
        let cbr = cbr.from_service(Service::Cbr);
        assert_eq!(cbr.class(), ErrorClass::NotFound);
        let csbs_code_from_cbr = api_error(404, br#"{"error_code":"CSBS.3001"}"#, None).from_service(Service::Cbr);
        assert_eq!(csbs_code_from_cbr.class(), ErrorClass::NotFound);
        for body in [
            &br#"{"error_code":"APIGW.0101","error_msg":"The API does not exist or has not been published in the environment","request_id":"r"}"#[..],
            b"<html><body>404 Not Found</body></html>",
            b"",
            br#"{"error_code":"CSBS.3000","error_msg":"plan not found"}"#,
            br#"{"error":{"code":"CSBS.3001x","message":"x"}}"#,
        ] {
            let e = api_error(404, body, None);
            assert_eq!(e.class(), ErrorClass::Misconfigured, "{e}");
            assert!(e.is_bad_gateway() && !e.is_retryable(), "{e}");
        }
        assert!(!gone.is_bad_gateway());
        // A 400 with the not-found code is not a 404: classified by its status.
        let e = api_error(400, br#"{"error_code":"CSBS.3001"}"#, None);
        assert_eq!(e.class(), ErrorClass::Permanent);
        assert!(api_error(401, b"{}", None).is_bad_gateway());
        assert!(!api_error(503, b"{}", None).is_bad_gateway());
    }

    #[test]
    fn local_failures_retry_except_the_deadline_and_auth() {
        for e in [
            CloudError::Timeout,
            CloudError::Connection("refused".into()),
            CloudError::Decode("not JSON".into()),
        ] {
            assert!(e.is_retryable(), "{e}");
            assert_eq!(e.class(), ErrorClass::Transient);
            assert_eq!(e.retry_after(), None);
        }
        for e in [
            CloudError::DeadlineExceeded,
            CloudError::Auth("refused".into()),
            CloudError::InvalidInput(crate::ids::validate_id("x", "").unwrap_err()),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
        // The server's Retry-After travels with the error.
        let e = api_error(429, b"{}", Some(Duration::from_secs(3)));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(api_error(503, b"{}", None).retry_after(), None);
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(None), None);
        assert_eq!(parse_retry_after(Some(" 1.5 ")), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after(Some("999")), Some(Duration::from_secs(300)), "capped");
        // Never negative or infinite: both would be a panic in Duration.
        for bad in ["-1", "inf", "-inf", "NaN"] {
            assert_eq!(parse_retry_after(Some(bad)), None, "{bad}");
        }
    }
}
