//! Webhook authentication (docs/DESIGN.md, "HTTP API"): `X-Signature-256:
//! t=<unix seconds>,v2=<hex HMAC-SHA256(secret, "<t>\n<METHOD>\n<path>\n<query>\n<body>")>`,
//! a ±300 s window, and a constant-time comparison. A v2 signature authorizes one method on
//! one path with one canonical query and one body: a header captured from one request cannot
//! be replayed on another route, backup or query. The older `v1=<hex HMAC(secret,
//! "<t>.<body>")>` still authorizes `POST /deletions` with a non-empty body (the body names the
//! whole request), and nothing else.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;
use thiserror::Error;

use crate::codes::ErrorCode;
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
    /// `HTTP_AUTH=iam`: API Gateway or the function URL checked the caller's SigV4 signature;
    /// the caller's identity in the request context authorizes, and nothing else does.
    Iam,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    #[error("HTTP requests are refused: no webhook secret is configured")]
    UnsignedRefused,
    #[error("the X-Signature-256 header is missing")]
    Missing,
    #[error("the X-Signature-256 header is not t=<unix seconds>,v2=<hex>")]
    Malformed,
    #[error("the X-Signature-256 header repeats t, v1 or v2: give each at most once")]
    Repeated,
    #[error(
        "a v1 signature authorizes POST /deletions with a body only: sign this request with v2 (method, path, query and body)"
    )]
    V1NotAllowed,
    #[error("the signature timestamp is more than {WINDOW_SECONDS} s away from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
    #[error("this API authenticates callers with AWS SigV4 (HTTP_AUTH=iam): the request carries no IAM identity")]
    IamIdentityMissing,
}

impl WebhookError {
    pub fn code(&self) -> ErrorCode {
        match self {
            WebhookError::UnsignedRefused => ErrorCode::UnsignedHttpRefused,
            WebhookError::Missing => ErrorCode::SignatureMissing,
            WebhookError::Malformed => ErrorCode::SignatureMalformed,
            WebhookError::Repeated => ErrorCode::BadSignature,
            WebhookError::V1NotAllowed => ErrorCode::SignatureV1NotAllowed,
            WebhookError::Stale => ErrorCode::SignatureExpired,
            WebhookError::Mismatch => ErrorCode::SignatureInvalid,
            WebhookError::IamIdentityMissing => ErrorCode::IamIdentityMissing,
        }
    }
}

/// What a v2 signature covers. `path` is the route's path without a stage prefix and without
/// a trailing `/`; `query` is the canonical query ([`canonical_query`]); `body` is the raw
/// body after base64 decoding.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
}

impl Signed<'_> {
    /// The one request a v1 signature may authorize.
    fn v1_allowed(&self) -> bool {
        self.method.eq_ignore_ascii_case("POST") && self.path == "/deletions" && !self.body.is_empty()
    }
}

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The canonical query of decoded `(key, value)` pairs: sorted by key and then value,
/// each RFC 3986-encoded, joined by `&` — the same string whatever order or encoding the
/// origin (REST v1's multi-value map, ALB's still-encoded values, a v2 raw query) used.
pub fn canonical_query<I, K, V>(pairs: I) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut pairs: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, UNRESERVED),
                utf8_percent_encode(v, UNRESERVED)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical form of a raw query string (`a=1&b=x%20y`), as a client computes it.
pub fn canonical_raw_query(raw: &str) -> String {
    canonical_query(url::form_urlencoded::parse(raw.trim_start_matches('?').as_bytes()))
}

fn mac_v2(secret: &Secret, t: &str, req: &Signed<'_>) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    for part in [t, req.method, req.path, req.query] {
        m.update(part.as_bytes());
        m.update(b"\n");
    }
    m.update(req.body);
    m
}

fn mac_v1(secret: &Secret, t: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    m.update(t.as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The v2 header value for `req` at `t` (for clients, the CLI, the local run and tests).
pub fn sign(secret: &Secret, t: i64, req: &Signed<'_>) -> String {
    let mac = mac_v2(secret, &t.to_string(), req).finalize().into_bytes();
    format!("t={t},v2={}", hex::encode(mac))
}

/// The legacy v1 header value for a `POST /deletions` body.
pub fn sign_v1(secret: &Secret, t: i64, body: &[u8]) -> String {
    let mac = mac_v1(secret, &t.to_string(), body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(mac))
}

/// The parts of a header: each of `t`, `v1`, `v2` at most once.
struct Parts<'a> {
    t: &'a str,
    v1: Option<&'a str>,
    v2: Option<&'a str>,
}

fn parts(header: &str) -> Result<Parts<'_>, WebhookError> {
    let (mut t, mut v1, mut v2) = (None, None, None);
    for part in header.split(',') {
        let slot = match part.trim().split_once('=') {
            Some(("t", v)) => (&mut t, v),
            Some(("v1", v)) => (&mut v1, v),
            Some(("v2", v)) => (&mut v2, v),
            _ => continue,
        };
        if slot.0.replace(slot.1).is_some() {
            return Err(WebhookError::Repeated);
        }
    }
    Ok(Parts {
        t: t.ok_or(WebhookError::Malformed)?,
        v1,
        v2,
    })
}

/// Authorizes one HTTP request by the configured policy. With [`WebhookPolicy::Iam`] the
/// caller's IAM identity (`iam_caller`: the user ARN API Gateway or the function URL put in the
/// request context after checking its SigV4 signature) decides, and a signature header is no
/// fallback; otherwise the signature does ([`verify`]).
pub fn authorize(
    policy: &WebhookPolicy,
    iam_caller: Option<&str>,
    header: Option<&str>,
    req: &Signed<'_>,
    now: i64,
) -> Result<(), WebhookError> {
    match policy {
        WebhookPolicy::Iam => match iam_caller {
            Some(caller) if !caller.trim().is_empty() => Ok(()),
            _ => Err(WebhookError::IamIdentityMissing),
        },
        _ => verify(policy, header, req, now),
    }
}

/// Verifies `header` for `req`. With a `v2` the `v1` is ignored (a client migrating sends both).
pub fn verify(policy: &WebhookPolicy, header: Option<&str>, req: &Signed<'_>, now: i64) -> Result<(), WebhookError> {
    let secret = match policy {
        WebhookPolicy::AllowUnsigned => return Ok(()),
        WebhookPolicy::Refuse => return Err(WebhookError::UnsignedRefused),
        WebhookPolicy::Iam => return Err(WebhookError::IamIdentityMissing),
        WebhookPolicy::Secret(s) => s,
    };
    let p = parts(header.ok_or(WebhookError::Missing)?)?;
    let ts: i64 = p.t.parse().map_err(|_| WebhookError::Malformed)?;
    let (mac, given) = match (p.v2, p.v1) {
        (Some(v2), _) => (mac_v2(secret, p.t, req), v2),
        (None, Some(v1)) if req.v1_allowed() => (mac_v1(secret, p.t, req.body), v1),
        (None, Some(_)) => return Err(WebhookError::V1NotAllowed),
        (None, None) => return Err(WebhookError::Malformed),
    };
    let given = hex::decode(given).map_err(|_| WebhookError::Malformed)?;
    // Checked: `now - ts` overflows for timestamps near i64::MIN / i64::MAX (a panic in debug
    // builds, a wrapped and possibly "fresh" difference in release builds).
    if !within_window(now, ts) {
        return Err(WebhookError::Stale);
    }
    // verify_slice compares in constant time.
    mac.verify_slice(&given).map_err(|_| WebhookError::Mismatch)
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

    const SECRET: &str = "test-webhook-secret-0123456789";

    fn policy() -> WebhookPolicy {
        WebhookPolicy::Secret(Secret::new(SECRET))
    }

    #[test]
    fn iam_policy_takes_the_caller_identity_and_nothing_else() {
        let body = br#"{"project_id":"p","checkpoint_id":"c"}"#;
        let now = 1_700_000_000;
        let signed = sign(&Secret::new(SECRET), now, &post(body));
        let caller = Some("arn:aws:iam::123456789012:user/ops");
        type Case<'a> = (&'a WebhookPolicy, Option<&'a str>, Option<&'a str>, Result<(), &'a str>);
        let cases: [Case; 7] = [
            (&WebhookPolicy::Iam, caller, None, Ok(())),
            (&WebhookPolicy::Iam, None, None, Err("iam_identity_missing")),
            // A valid signature is no fallback for a missing identity.
            (&WebhookPolicy::Iam, None, Some(&signed), Err("iam_identity_missing")),
            (
                &WebhookPolicy::Iam,
                Some("  "),
                Some(&signed),
                Err("iam_identity_missing"),
            ),
            // Under the signature policy an identity is no substitute for the signature.
            (&policy(), caller, None, Err("signature_missing")),
            (&policy(), caller, Some(&signed), Ok(())),
            (
                &WebhookPolicy::Refuse,
                caller,
                Some(&signed),
                Err("unsigned_http_refused"),
            ),
        ];
        for (i, (p, identity, header, want)) in cases.into_iter().enumerate() {
            let got = authorize(p, identity, header, &post(body), now).map_err(|e| e.code().as_str());
            assert_eq!(got, want, "case {i}");
        }
    }

    fn post(body: &[u8]) -> Signed<'_> {
        Signed {
            method: "POST",
            path: "/deletions",
            query: "",
            body,
        }
    }

    const MIRROR: Signed<'static> = Signed {
        method: "DELETE",
        path: "/v3/p1/backups/b1",
        query: "",
        body: b"",
    };

    #[test]
    fn accepts_own_signature_within_window() {
        let s = Secret::new(SECRET);
        let h = sign(&s, 1_700_000_000, &post(b"{}"));
        assert!(h.starts_with("t=1700000000,v2="), "{h}");
        assert_eq!(verify(&policy(), Some(&h), &post(b"{}"), 1_700_000_000 + 299), Ok(()));
        assert_eq!(verify(&policy(), Some(&h), &post(b"{}"), 1_700_000_000 - 299), Ok(()));
    }

    #[test]
    fn the_v2_string_is_the_documented_one() {
        // docs/DESIGN.md: HMAC(secret, "<t>\n<METHOD>\n<path>\n<query>\n<body>").
        let mut m = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        m.update(b"1700000000\nGET\n/deletions/status\ncheckpoint_id=c&project_id=p\n");
        let want = format!("t=1700000000,v2={}", hex::encode(m.finalize().into_bytes()));
        let req = Signed {
            method: "GET",
            path: "/deletions/status",
            query: "checkpoint_id=c&project_id=p",
            body: b"",
        };
        assert_eq!(sign(&Secret::new(SECRET), 1_700_000_000, &req), want);
    }

    #[test]
    fn a_signature_authorizes_one_method_path_query_and_body() {
        let s = Secret::new(SECRET);
        let now = 1_700_000_000;
        let h = sign(&s, now, &MIRROR);
        assert_eq!(verify(&policy(), Some(&h), &MIRROR, now), Ok(()));
        let replays = [
            Signed {
                path: "/v3/p1/backups/b2",
                ..MIRROR
            },
            Signed {
                path: "/v3/p2/backups/b1",
                ..MIRROR
            },
            Signed {
                method: "GET",
                ..MIRROR
            },
            Signed { query: "x=1", ..MIRROR },
            Signed { body: b"{}", ..MIRROR },
        ];
        for r in replays {
            assert_eq!(
                verify(&policy(), Some(&h), &r, now),
                Err(WebhookError::Mismatch),
                "{r:?}"
            );
        }
    }

    #[test]
    fn v1_authorizes_a_post_with_a_body_only() {
        let s = Secret::new(SECRET);
        let now = 1_700_000_000;
        let body = br#"{"project_id":"p","checkpoint_id":"c"}"#;
        let v1 = sign_v1(&s, now, body);
        assert_eq!(verify(&policy(), Some(&v1), &post(body), now), Ok(()));
        assert_eq!(
            verify(&policy(), Some(&v1), &post(b"{}"), now),
            Err(WebhookError::Mismatch)
        );
        // Over an empty payload v1 would authorize every body-less request: refused.
        let empty = sign_v1(&s, now, b"");
        for r in [
            MIRROR,
            post(b""),
            Signed {
                method: "GET",
                path: "/deletions/status",
                query: "project_id=p",
                body: b"",
            },
        ] {
            assert_eq!(
                verify(&policy(), Some(&empty), &r, now),
                Err(WebhookError::V1NotAllowed)
            );
        }
        // A migrating client sends both: the v2 decides, the v1 is ignored.
        let v2 = sign(&s, now, &post(body));
        let both = format!("{v2},v1=00");
        assert_eq!(verify(&policy(), Some(&both), &post(body), now), Ok(()));
        let bad_v2 = format!("t={now},v2=00,{}", v1.split_once(',').unwrap().1);
        assert_eq!(
            verify(&policy(), Some(&bad_v2), &post(body), now),
            Err(WebhookError::Mismatch)
        );
    }

    #[test]
    fn a_repeated_part_is_refused() {
        let s = Secret::new(SECRET);
        let now = 1_700_000_000;
        let good = sign(&s, now, &MIRROR);
        let v = good.split_once(",v2=").unwrap().1;
        for h in [
            format!("{good},v2={v}"),
            format!("{good},v2=00"),
            format!("t={now},{good}"),
            format!("{},v1=00,v1=00", sign_v1(&s, now, b"x")),
        ] {
            assert_eq!(
                verify(&policy(), Some(&h), &MIRROR, now),
                Err(WebhookError::Repeated),
                "{h}"
            );
        }
        assert_eq!(WebhookError::Repeated.code(), "bad_signature");
    }

    #[test]
    fn canonical_query_sorts_decodes_and_encodes() {
        assert_eq!(canonical_query(Vec::<(String, String)>::new()), "");
        assert_eq!(
            canonical_query([("b", "2"), ("a", "z"), ("a", "y"), ("c d", "é/&")]),
            "a=y&a=z&b=2&c%20d=%C3%A9%2F%26"
        );
        assert_eq!(
            canonical_raw_query("checkpoint_items=i2&project_id=p&checkpoint_items=i1"),
            "checkpoint_items=i1&checkpoint_items=i2&project_id=p"
        );
        assert_eq!(canonical_raw_query("a=%7e-_.&b=x%20y"), "a=~-_.&b=x%20y");
    }

    #[test]
    fn refuses_forged_stale_malformed_missing() {
        let s = Secret::new(SECRET);
        let now = 1_700_000_000;
        let h = sign(&s, now, &post(b"{}"));
        assert_eq!(
            verify(&policy(), Some(&h), &post(b"{ }"), now),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify(
                &policy(),
                Some(&sign(&Secret::new("other"), now, &post(b"{}"))),
                &post(b"{}"),
                now
            ),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify(&policy(), Some(&h), &post(b"{}"), now + 301),
            Err(WebhookError::Stale)
        );
        for bad in ["v2=abc", "t=1,v2=zz", "t=x,v2=00", "t=1", ""] {
            assert_eq!(
                verify(&policy(), Some(bad), &post(b"{}"), now),
                Err(WebhookError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(verify(&policy(), None, &post(b"{}"), now), Err(WebhookError::Missing));
        assert_eq!(
            verify(&WebhookPolicy::Refuse, Some(&h), &post(b"{}"), now),
            Err(WebhookError::UnsignedRefused)
        );
        assert_eq!(verify(&WebhookPolicy::AllowUnsigned, None, &post(b"{}"), now), Ok(()));
    }

    #[test]
    fn error_codes_are_the_documented_ones() {
        let codes: Vec<&str> = [
            WebhookError::UnsignedRefused,
            WebhookError::Missing,
            WebhookError::Malformed,
            WebhookError::Repeated,
            WebhookError::V1NotAllowed,
            WebhookError::Stale,
            WebhookError::Mismatch,
        ]
        .iter()
        .map(|e| e.code().as_str())
        .collect();
        assert_eq!(
            codes,
            [
                "unsigned_http_refused",
                "signature_missing",
                "signature_malformed",
                "bad_signature",
                "signature_v1_not_allowed",
                "signature_expired",
                "signature_invalid"
            ]
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        let s = Secret::new(SECRET);
        let req = post(b"{}");
        for (ts, now) in [
            (i64::MIN, 1_700_000_000),
            (i64::MAX, 1_700_000_000),
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
            (i64::MIN + 1, 0),
            (1_700_000_000, i64::MIN),
        ] {
            let h = sign(&s, ts, &req);
            assert_eq!(
                verify(&policy(), Some(&h), &req, now),
                Err(WebhookError::Stale),
                "{ts} at {now}"
            );
        }
        assert_eq!(
            verify(&policy(), Some("t=-9223372036854775808,v2=00"), &req, 1_700_000_000),
            Err(WebhookError::Stale)
        );
        // The window's edges, exactly.
        let h = sign(&s, 1_000, &req);
        assert_eq!(verify(&policy(), Some(&h), &req, 1_300), Ok(()));
        assert_eq!(verify(&policy(), Some(&h), &req, 700), Ok(()));
        assert_eq!(verify(&policy(), Some(&h), &req, 1_301), Err(WebhookError::Stale));
        assert_eq!(verify(&policy(), Some(&h), &req, 699), Err(WebhookError::Stale));
        // Within the window at the extremes of i64.
        let h = sign(&s, i64::MAX, &req);
        assert_eq!(verify(&policy(), Some(&h), &req, i64::MAX - 300), Ok(()));
        let h = sign(&s, i64::MIN, &req);
        assert_eq!(verify(&policy(), Some(&h), &req, i64::MIN + 300), Ok(()));
    }
}
