//! The transport's IAM side: project-scoped tokens for password credentials, cached and
//! renewed once per revocation, and the redaction of credentials from error messages.

use chrono::Utc;
use tokio::time::Instant;

use super::auth::{CachedToken, Credentials, TokenEnvelope, refresh_time, token_request_body};
use super::error::{CloudError, ErrorClass, api_error};
use super::transport::Transport;
use crate::secret::Secret;

impl Transport {
    /// A project-scoped token from the cache, or a new one from IAM. `stale` is the serial of
    /// a token the service refused: the cached one is used only when it is newer (a
    /// concurrent call logged in already), so one revocation costs one login.
    pub(super) async fn token(
        &self,
        project_id: &str,
        deadline: Instant,
        stale: Option<u64>,
    ) -> Result<CachedToken, CloudError> {
        let Credentials::Password {
            username,
            password,
            domain_name,
        } = &self.inner.config.credentials
        else {
            unreachable!("token() is only called with password credentials");
        };
        let iam = self.inner.config.iam(self.region.as_deref());
        // Keyed by IAM endpoint and project: project ids are regional, and a region with its
        // own IAM issues its own tokens (docs/DESIGN.md, "Regions").
        let key = format!("{iam} {project_id}");
        let mut cache = self.inner.tokens.tokens.lock().await;
        let usable = |t: &&CachedToken| t.refresh_at > Utc::now() && stale.is_none_or(|s| t.serial > s);
        if let Some(t) = cache.get(&key).filter(usable) {
            return Ok(t.clone());
        }
        let mut url = iam.clone();
        url.set_path("/v3/auth/tokens");
        let body = token_request_body(username, password, domain_name, project_id);
        let req = self
            .inner
            .http
            .post(url)
            .header("Content-Type", "application/json;charset=utf8")
            .json(&body);
        let answer = self.send(req, deadline).await?;
        if !answer.status.is_success() {
            let e = api_error(answer.status.as_u16(), &answer.body, answer.retry_after);
            return Err(match e.class() {
                ErrorClass::Transient if e.is_retryable() => e,
                _ => CloudError::Auth(format!("IAM refused the login for project {project_id}: {e}")),
            });
        }
        let token = answer
            .subject_token
            .ok_or_else(|| CloudError::Auth("IAM answered without X-Subject-Token".into()))?;
        let env: TokenEnvelope = serde_json::from_slice(&answer.body).unwrap_or_default();
        let cached = CachedToken {
            token: Secret::new(token),
            refresh_at: refresh_time(env.token.expires_at.as_deref(), Utc::now()),
            serial: self
                .inner
                .tokens
                .logins
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1,
        };
        cache.insert(key, cached.clone());
        Ok(cached)
    }

    /// Removes any credential that an error message might quote (the gateway echoes the AK).
    pub(super) fn redact(&self, mut e: CloudError) -> CloudError {
        let mut secrets = self.inner.config.credentials.secret_values();
        if let Credentials::AkSk { ak, .. } = &self.inner.config.credentials {
            secrets.push(ak.clone());
        }
        if let CloudError::Api { message, .. } = &mut e {
            for s in secrets.iter().filter(|s| !s.is_empty()) {
                *message = message.replace(s.as_str(), "***");
            }
        }
        e
    }
}
