//! The CLI's calls to the HTTP API: authenticated by the webhook signature or SigV4, answered
//! as the exit codes say (docs/DESIGN.md, "HTTP API and signatures").

use std::time::Duration;

use chrono::Utc;

use super::sigv4::IamSigner;
use super::{Failure, refused, unavailable, webhook_secret};
use crate::secret::Secret;

/// How the CLI authenticates to the HTTP API: the webhook signature (`WEBHOOK_SECRET`), or
/// SigV4 (`--iam`: an API deployed with `HttpAuth=iam`).
pub(crate) enum Auth {
    Signature(Secret),
    Iam(IamSigner),
}

impl Auth {
    pub(crate) async fn for_url(iam: bool, base: &str) -> Result<Auth, Failure> {
        if iam {
            let url = url::Url::parse(base).map_err(|e| refused(format!("--url: {e}")))?;
            Ok(Auth::Iam(IamSigner::for_url(&url).await?))
        } else {
            Ok(Auth::Signature(webhook_secret()?))
        }
    }
}

/// One authenticated call to the HTTP API: 2xx → the body; 4xx → refused; 5xx, no answer →
/// unavailable.
pub(crate) async fn http(
    base: &str,
    auth: &Auth,
    method: &str,
    path: &str,
    query: &str,
    body: Option<&str>,
) -> Result<String, Failure> {
    let mut url = url::Url::parse(base).map_err(|e| refused(format!("--url: {e}")))?;
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_query((!query.is_empty()).then_some(query));
    let bytes = body.unwrap_or("").as_bytes().to_vec();
    let mut req = http::Request::builder()
        .method(method)
        .uri(url.as_str())
        .body(bytes)
        .map_err(|e| refused(format!("--url: {e}")))?;
    if body.is_some() {
        req.headers_mut()
            .insert("content-type", http::HeaderValue::from_static("application/json"));
    }
    match auth {
        Auth::Signature(secret) => {
            let signature = sign(secret, Utc::now().timestamp(), method, path, query, req.body());
            let value = http::HeaderValue::from_str(&signature).map_err(|e| refused(e.to_string()))?;
            req.headers_mut().insert(crate::webhook::HEADER, value);
        }
        Auth::Iam(signer) => signer.sign(&mut req, std::time::SystemTime::now())?,
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| unavailable(e.to_string()))?;
    let req = reqwest::Request::try_from(req).map_err(|e| refused(format!("--url: {e}")))?;
    let resp = client
        .execute(req)
        .await
        .map_err(|e| unavailable(format!("the HTTP API did not answer: {e}")))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if status.is_success() {
        Ok(text)
    } else if status.is_client_error() {
        Err(refused(format!("HTTP {}: {}", status.as_u16(), one_line(&text))))
    } else {
        Err(unavailable(format!("HTTP {}: {}", status.as_u16(), one_line(&text))))
    }
}

/// The v2 `X-Signature-256` of one request; `query` as sent, signed in canonical form.
pub(crate) fn sign(secret: &Secret, t: i64, method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let query = crate::webhook::canonical_raw_query(query);
    let signed = crate::webhook::Signed {
        method: &method.to_ascii_uppercase(),
        path: path.trim_end_matches('/'),
        query: &query,
        body,
    };
    crate::webhook::sign(secret, t, &signed)
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
