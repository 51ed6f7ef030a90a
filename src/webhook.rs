//! Webhook authentication: `X-Signature-256: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<payload>")>`, a ±300 s window, and a constant-time comparison.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use crate::secret::Secret;

pub const HEADER: &str = "x-signature-256";
pub const WINDOW_SECONDS: i64 = 300;

/// How HTTP requests are authenticated.
#[derive(Debug, Clone)]
pub enum WebhookPolicy {
    /// Every request must carry a valid signature.
    Secret(Secret),
    /// No secret and `ALLOW_UNSIGNED_HTTP=true`: local use only.
    AllowUnsigned,
    /// No secret: HTTP is refused.
    Refuse,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    #[error("HTTP requests are refused: no webhook secret is configured")]
    UnsignedRefused,
    #[error("the X-Signature-256 header is missing")]
    Missing,
    #[error("the X-Signature-256 header is not t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature timestamp is more than {WINDOW_SECONDS} s away from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

impl WebhookError {
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::UnsignedRefused => "unsigned_http_refused",
            WebhookError::Missing => "signature_missing",
            WebhookError::Malformed => "signature_malformed",
            WebhookError::Stale => "signature_expired",
            WebhookError::Mismatch => "signature_invalid",
        }
    }
}

fn mac(secret: &Secret, t: &str, payload: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    m.update(t.as_bytes());
    m.update(b".");
    m.update(payload);
    m
}

/// The header value for `payload` at `t` (for clients, tests and the examples).
pub fn sign(secret: &Secret, t: i64, payload: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret, &t.to_string(), payload).finalize().into_bytes())
    )
}

/// Verifies `header` over `payload` (the body, or the raw query of a body-less request).
pub fn verify(policy: &WebhookPolicy, header: Option<&str>, payload: &[u8], now: i64) -> Result<(), WebhookError> {
    let secret = match policy {
        WebhookPolicy::AllowUnsigned => return Ok(()),
        WebhookPolicy::Refuse => return Err(WebhookError::UnsignedRefused),
        WebhookPolicy::Secret(s) => s,
    };
    let header = header.ok_or(WebhookError::Missing)?;
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (t, v1) = (t.ok_or(WebhookError::Malformed)?, v1.ok_or(WebhookError::Malformed)?);
    let ts: i64 = t.parse().map_err(|_| WebhookError::Malformed)?;
    let given = hex::decode(v1).map_err(|_| WebhookError::Malformed)?;
    // Checked: `now - ts` overflows for timestamps near i64::MIN / i64::MAX (a panic in debug
    // builds, a wrapped and possibly "fresh" difference in release builds).
    if !within_window(now, ts) {
        return Err(WebhookError::Stale);
    }
    // verify_slice compares in constant time.
    mac(secret, t, payload)
        .verify_slice(&given)
        .map_err(|_| WebhookError::Mismatch)
}

/// Whether `ts` is at most [`WINDOW_SECONDS`] away from `now`, for any two `i64`s.
fn within_window(now: i64, ts: i64) -> bool {
    now.checked_sub(ts)
        .and_then(i64::checked_abs)
        .is_some_and(|d| d <= WINDOW_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> WebhookPolicy {
        WebhookPolicy::Secret(Secret::new("test-webhook-secret-0123456789"))
    }

    #[test]
    fn accepts_own_signature_within_window() {
        let s = Secret::new("test-webhook-secret-0123456789");
        let h = sign(&s, 1_700_000_000, b"{}");
        assert_eq!(verify(&policy(), Some(&h), b"{}", 1_700_000_000 + 299), Ok(()));
        assert_eq!(verify(&policy(), Some(&h), b"{}", 1_700_000_000 - 299), Ok(()));
    }

    #[test]
    fn refuses_forged_stale_malformed_missing() {
        let s = Secret::new("test-webhook-secret-0123456789");
        let now = 1_700_000_000;
        let h = sign(&s, now, b"{}");
        assert_eq!(verify(&policy(), Some(&h), b"{ }", now), Err(WebhookError::Mismatch));
        assert_eq!(
            verify(&policy(), Some(&sign(&Secret::new("other"), now, b"{}")), b"{}", now),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(verify(&policy(), Some(&h), b"{}", now + 301), Err(WebhookError::Stale));
        assert_eq!(
            verify(&policy(), Some("v1=abc"), b"{}", now),
            Err(WebhookError::Malformed)
        );
        assert_eq!(
            verify(&policy(), Some("t=1,v1=zz"), b"{}", now),
            Err(WebhookError::Malformed)
        );
        assert_eq!(verify(&policy(), None, b"{}", now), Err(WebhookError::Missing));
        assert_eq!(
            verify(&WebhookPolicy::Refuse, Some(&h), b"{}", now),
            Err(WebhookError::UnsignedRefused)
        );
        assert_eq!(verify(&WebhookPolicy::AllowUnsigned, None, b"{}", now), Ok(()));
    }

    #[test]
    fn error_codes_are_the_documented_ones() {
        let codes: Vec<&str> = [
            WebhookError::UnsignedRefused,
            WebhookError::Missing,
            WebhookError::Malformed,
            WebhookError::Stale,
            WebhookError::Mismatch,
        ]
        .iter()
        .map(WebhookError::code)
        .collect();
        assert_eq!(
            codes,
            [
                "unsigned_http_refused",
                "signature_missing",
                "signature_malformed",
                "signature_expired",
                "signature_invalid"
            ]
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        let s = Secret::new("test-webhook-secret-0123456789");
        for (ts, now) in [
            (i64::MIN, 1_700_000_000),
            (i64::MAX, 1_700_000_000),
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
            (i64::MIN + 1, 0),
            (1_700_000_000, i64::MIN),
        ] {
            let h = sign(&s, ts, b"{}");
            assert_eq!(
                verify(&policy(), Some(&h), b"{}", now),
                Err(WebhookError::Stale),
                "{ts} at {now}"
            );
        }
        assert_eq!(
            verify(&policy(), Some("t=-9223372036854775808,v1=00"), b"{}", 1_700_000_000),
            Err(WebhookError::Stale)
        );
        // The window's edges, exactly.
        let h = sign(&s, 1_000, b"{}");
        assert_eq!(verify(&policy(), Some(&h), b"{}", 1_300), Ok(()));
        assert_eq!(verify(&policy(), Some(&h), b"{}", 700), Ok(()));
        assert_eq!(verify(&policy(), Some(&h), b"{}", 1_301), Err(WebhookError::Stale));
        assert_eq!(verify(&policy(), Some(&h), b"{}", 699), Err(WebhookError::Stale));
        // Within the window at the extremes of i64.
        let h = sign(&s, i64::MAX, b"{}");
        assert_eq!(verify(&policy(), Some(&h), b"{}", i64::MAX - 300), Ok(()));
        let h = sign(&s, i64::MIN, b"{}");
        assert_eq!(verify(&policy(), Some(&h), b"{}", i64::MIN + 300), Ok(()));
    }
}
