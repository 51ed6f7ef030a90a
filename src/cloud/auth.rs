//! How requests to CSBS are authenticated: an IAM project-scoped token (password login, cached
//! per project until shortly before it expires) or AK/SK request signing.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::secret::Secret;

/// A token is replaced this long before IAM says it expires.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// CSBS credentials, from Secrets Manager or the environment.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    AkSk {
        ak: String,
        sk: Secret,
        security_token: Option<Secret>,
    },
    Password {
        username: String,
        password: Secret,
        domain_name: String,
    },
}

impl Credentials {
    /// Parses the secret's JSON: `{"ak","sk","security_token"?}` or
    /// `{"username","password","domain_name"}`. The error never quotes the input.
    pub fn from_json(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            ak: Option<String>,
            sk: Option<String>,
            security_token: Option<String>,
            username: Option<String>,
            password: Option<String>,
            domain_name: Option<String>,
        }
        let raw: Raw = serde_json::from_str(text).map_err(|e| {
            format!(
                "not a JSON object with ak/sk or username/password/domain_name (at line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        match raw {
            Raw {
                ak: Some(ak),
                sk: Some(sk),
                security_token,
                username: None,
                password: None,
                domain_name: None,
            } if !ak.is_empty() && !sk.is_empty() => Ok(Credentials::AkSk {
                ak,
                sk: Secret::new(sk),
                security_token: security_token.filter(|t| !t.is_empty()).map(Secret::new),
            }),
            Raw {
                username: Some(u),
                password: Some(p),
                domain_name: Some(d),
                ak: None,
                sk: None,
                security_token: None,
            } if !u.is_empty() && !p.is_empty() && !d.is_empty() => Ok(Credentials::Password {
                username: u,
                password: Secret::new(p),
                domain_name: d,
            }),
            _ => Err("expected either non-empty ak and sk, or non-empty username, password and domain_name".into()),
        }
    }

    /// Every secret string in these credentials, for redaction checks.
    pub fn secret_values(&self) -> Vec<String> {
        match self {
            Credentials::AkSk { sk, security_token, .. } => {
                let mut v = vec![sk.expose().to_string()];
                v.extend(security_token.iter().map(|t| t.expose().to_string()));
                v
            }
            Credentials::Password { password, .. } => vec![password.expose().to_string()],
        }
    }
}

#[derive(Clone)]
pub struct CachedToken {
    pub token: Secret,
    pub refresh_at: DateTime<Utc>,
    /// Which login of this cache produced it: a call that failed with serial N asks for a
    /// token newer than N, and a concurrent call may already have fetched one.
    pub serial: u64,
}

/// Token cache: one entry per project. Held across a fetch so that a burst of concurrent calls
/// produces one login, not one per call — also after a revocation, when every call in flight
/// gets a 401 at once (docs/DESIGN.md, "Rules that keep it reliable").
#[derive(Default)]
pub struct TokenCache {
    pub(crate) tokens: Mutex<HashMap<String, CachedToken>>,
    /// Logins so far; each new token takes the next serial.
    pub(crate) logins: std::sync::atomic::AtomicU64,
}

/// The password-auth request body for a project-scoped token.
pub fn token_request_body(username: &str, password: &Secret, domain_name: &str, project_id: &str) -> serde_json::Value {
    json!({
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": username,
                        "password": password.expose(),
                        "domain": { "name": domain_name }
                    }
                }
            },
            "scope": { "project": { "id": project_id } }
        }
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TokenEnvelope {
    pub token: TokenBody,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TokenBody {
    pub expires_at: Option<String>,
}

/// When a token with this `expires_at` should be replaced; unparseable → in one hour.
pub fn refresh_time(expires_at: Option<&str>, now: DateTime<Utc>) -> DateTime<Utc> {
    let margin = chrono::Duration::from_std(TOKEN_REFRESH_MARGIN).expect("small duration");
    expires_at
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc) - margin)
        .unwrap_or(now + chrono::Duration::hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_credential_shapes() {
        let c = Credentials::from_json(r#"{"ak":"A","sk":"S"}"#).unwrap();
        assert!(matches!(c, Credentials::AkSk { ref ak, security_token: None, .. } if ak == "A"));
        let c = Credentials::from_json(r#"{"ak":"A","sk":"S","security_token":"T"}"#).unwrap();
        assert_eq!(c.secret_values(), vec!["S", "T"]);
        let c = Credentials::from_json(r#"{"username":"u","password":"p","domain_name":"d"}"#).unwrap();
        assert!(matches!(c, Credentials::Password { .. }));
    }

    #[test]
    fn refuses_mixed_or_partial_credentials_without_echoing_them() {
        for bad in [
            r#"{"ak":"A"}"#,
            r#"{"ak":"A","sk":"S","password":"p"}"#,
            r#"{"sk":"topsecret""#,
            r#"{"ak":"","sk":"S"}"#,
        ] {
            let e = Credentials::from_json(bad).unwrap_err();
            assert!(!e.contains("topsecret") && !e.contains("\"S\""), "{e}");
        }
    }

    #[test]
    fn refresh_five_minutes_early() {
        let now = Utc::now();
        let t = refresh_time(Some("2030-01-01T00:00:00.000000Z"), now);
        assert_eq!(t.to_rfc3339(), "2029-12-31T23:55:00+00:00");
        assert!(refresh_time(Some("garbage"), now) > now);
    }
}
