//! Huawei Cloud API Gateway request signing, `SDK-HMAC-SHA256` (the algorithm of the official
//! Go/Python v3 SDK signers). No crate implements it, so it lives here, tested against the
//! published vectors. The same code verifies signatures in the simulator.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// `X-Sdk-Date` layout: `20060102T150405Z`.
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
pub const EMPTY_BODY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Everything but RFC 3986 unreserved characters is escaped, with upper-case hex.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn escape(s: &str) -> String {
    utf8_percent_encode(s, ESCAPE).to_string()
}

fn unescape(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Canonical URI: each path segment decoded then escaped, always ending in `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut uri = path
        .split('/')
        .map(|seg| escape(&unescape(seg)))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// Canonical query: pairs decoded, escaped, sorted by key then value, joined with `&`.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            // `+` in a form-encoded query means space.
            (
                escape(&unescape(&k.replace('+', " "))),
                escape(&unescape(&v.replace('+', " "))),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The parts of a request that are signed.
#[derive(Debug, Clone)]
pub struct SignInput<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    /// The headers to sign, in any order and case; names containing `_` are skipped (as the
    /// official signers do).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl SignInput<'_> {
    fn signed(&self) -> Vec<(String, String)> {
        let mut hs: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(n, _)| !n.contains('_'))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        hs.sort();
        hs
    }

    /// Lower-cased signed header names, sorted, joined with `;`.
    pub fn signed_headers(&self) -> String {
        self.signed().into_iter().map(|(n, _)| n).collect::<Vec<_>>().join(";")
    }

    fn payload_hash(&self, hs: &[(String, String)]) -> String {
        hs.iter()
            .find(|(n, _)| n == "x-sdk-content-sha256")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| hex::encode(Sha256::digest(self.body)))
    }

    pub fn canonical_request(&self) -> String {
        let hs = self.signed();
        let mut canonical_headers = String::new();
        for (n, v) in &hs {
            canonical_headers.push_str(&format!("{n}:{v}\n"));
        }
        let names = hs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method.to_ascii_uppercase(),
            canonical_uri(self.path),
            canonical_query(self.raw_query),
            canonical_headers,
            names,
            self.payload_hash(&hs)
        )
    }

    /// `SDK-HMAC-SHA256\n<date>\n<hex sha256(canonical request)>`; `date` is the X-Sdk-Date.
    pub fn string_to_sign(&self, date: &str) -> String {
        let hash = hex::encode(Sha256::digest(self.canonical_request().as_bytes()));
        format!("{ALGORITHM}\n{date}\n{hash}")
    }

    /// Lower-hex HMAC-SHA256 of the string to sign, keyed with the SK as is.
    pub fn signature(&self, sk: &str, date: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(sk.as_bytes()).expect("HMAC takes any key");
        mac.update(self.string_to_sign(date).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The `Authorization` header value.
    pub fn authorization(&self, ak: &str, sk: &str, date: &str) -> String {
        format!(
            "{ALGORITHM} Access={ak}, SignedHeaders={}, Signature={}",
            self.signed_headers(),
            self.signature(sk, date)
        )
    }
}

/// A parsed `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub access: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses an authorization header; `None` when it is not an `SDK-HMAC-SHA256 Access=` header.
pub fn parse_authorization(value: &str) -> Option<ParsedAuthorization> {
    let rest = value.strip_prefix(ALGORITHM)?.trim_start();
    let (mut access, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Access" => access = Some(v.to_string()),
            "SignedHeaders" => signed = Some(v.split(';').map(str::to_string).collect()),
            "Signature" => signature = Some(v.to_string()),
            _ => {}
        }
    }
    Some(ParsedAuthorization {
        access: access?,
        signed_headers: signed?,
        signature: signature?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    // GO-V3 signer_test.go, docs/csbs-api.md §3b.
    #[test]
    fn go_sdk_get_vector() {
        let headers = h(&[("X-Sdk-Date", "20060102T150405Z"), ("TEST_UNDERSCORE", "x")]);
        let input = SignInput {
            method: "GET",
            path: "/path",
            raw_query: "limit=1",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            input.canonical_request(),
            format!("GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\n{EMPTY_BODY_SHA256}")
        );
        assert_eq!(
            input.authorization("AccessKey", "SecretKey", "20060102T150405Z"),
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
    }

    #[test]
    fn go_sdk_post_vector() {
        let headers = h(&[("X-Sdk-Date", "20060102T150405Z")]);
        let input = SignInput {
            method: "POST",
            path: "/path",
            raw_query: "key=value",
            headers: &headers,
            body: b"{\"Name\":\"test\",\"Id\":1}\n",
        };
        assert_eq!(
            input.signature("SecretKey", "20060102T150405Z"),
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
    }

    #[test]
    fn go_sdk_query_canonicalisation_vector() {
        let raw = "limit=1&enable=true&test=%E4%B8%80%20(%26%3D%3F!%23%25.*)&path=/tmp/123&multi=3&multi=1&multi=2";
        assert_eq!(
            canonical_query(raw),
            "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
        );
    }

    const P: &str = "0123456789abcdef0123456789abcdef";
    const CSBS_DELETE_PATH: &str = "/v1/0123456789abcdef0123456789abcdef/providers/fc4d5750-22e7-4798-8a46-f48f62c4c1da/checkpoints/2eefe592-8424-4778-8d0d-962c8a5dd6a4";

    #[test]
    fn csbs_delete_vector() {
        let headers = h(&[
            ("Host", "csbs.eu-de.otc.t-systems.com"),
            ("X-Sdk-Date", "20240101T000000Z"),
            ("X-Project-Id", P),
        ]);
        let input = SignInput {
            method: "DELETE",
            path: CSBS_DELETE_PATH,
            raw_query: "checkpoint_items=7b99acfd-18c3-4f26-9d39-b4ebd2ea3e12",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            input.canonical_request(),
            format!(
                "DELETE\n{CSBS_DELETE_PATH}/\ncheckpoint_items=7b99acfd-18c3-4f26-9d39-b4ebd2ea3e12\nhost:csbs.eu-de.otc.t-systems.com\nx-project-id:{P}\nx-sdk-date:20240101T000000Z\n\nhost;x-project-id;x-sdk-date\n{EMPTY_BODY_SHA256}"
            )
        );
        assert!(
            input
                .string_to_sign("20240101T000000Z")
                .ends_with("288b798e8df4cc3341806e22241cae8477d39dfc401324aad0e2196849f59382")
        );
        assert_eq!(
            input.authorization("AKEXAMPLE", "SKEXAMPLE", "20240101T000000Z"),
            "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=host;x-project-id;x-sdk-date, Signature=11679a9751b05a24ebfb2c21b42f92a8b8f6d7221c6cbb85648ff28aac515997"
        );
    }

    #[test]
    fn csbs_delete_vector_with_content_type() {
        let headers = h(&[
            ("Host", "csbs.eu-de.otc.t-systems.com"),
            ("X-Sdk-Date", "20240101T000000Z"),
            ("X-Project-Id", P),
            ("Content-Type", "application/json"),
        ]);
        let input = SignInput {
            method: "DELETE",
            path: CSBS_DELETE_PATH,
            raw_query: "checkpoint_items=7b99acfd-18c3-4f26-9d39-b4ebd2ea3e12",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            input.authorization("AKEXAMPLE", "SKEXAMPLE", "20240101T000000Z"),
            "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=1ec0573f1e4771e5d3209051a399b5904ca4f7cafac4ae3ad4036067ced1dcaa"
        );
    }

    #[test]
    fn csbs_list_vector() {
        let headers = h(&[
            ("Host", "csbs.eu-de.otc.t-systems.com"),
            ("X-Sdk-Date", "20240101T000000Z"),
            ("X-Project-Id", P),
        ]);
        let raw = "status=deleting&limit=10&checkpoint_id=2eefe592-8424-4778-8d0d-962c8a5dd6a4";
        assert_eq!(
            canonical_query(raw),
            "checkpoint_id=2eefe592-8424-4778-8d0d-962c8a5dd6a4&limit=10&status=deleting"
        );
        let input = SignInput {
            method: "GET",
            path: &format!("/v1/{P}/checkpoint_items"),
            raw_query: raw,
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            input.signature("SKEXAMPLE", "20240101T000000Z"),
            "abcfdd78a3c5ff964bfba590c6d5ed6a9203b347b39cc4e6eed490d02bf558c9"
        );
    }

    // docs/csbs-api.md §8, checked against huaweicloudsdkcore 3.1.219.
    #[test]
    fn python_sdk_vectors() {
        let (ak, sk, date) = (
            "AKTESTAKTESTAKTEST00",
            "SKtestSKtestSKtestSKtestSKtestSKtest0000",
            "20260101T000000Z",
        );
        let headers = h(&[("Host", "csbs.example.com"), ("X-Sdk-Date", date)]);
        let input = SignInput {
            method: "DELETE",
            path: "/v1/PROJ/providers/PROV/checkpoints/CKPT",
            raw_query: "checkpoint_items=ITEM",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            input.canonical_request(),
            format!(
                "DELETE\n/v1/PROJ/providers/PROV/checkpoints/CKPT/\ncheckpoint_items=ITEM\nhost:csbs.example.com\nx-sdk-date:{date}\n\nhost;x-sdk-date\n{EMPTY_BODY_SHA256}"
            )
        );
        assert!(
            input
                .string_to_sign(date)
                .ends_with("3f92f53ad7c8da9f3d77d527f4d9d4f241fa25855c26b1e39e2433a5128adcfc")
        );
        assert_eq!(
            input.authorization(ak, sk, date),
            "SDK-HMAC-SHA256 Access=AKTESTAKTESTAKTEST00, SignedHeaders=host;x-sdk-date, Signature=026314e749e9ee6a69744094f5554085ea34743df0296a7e359eb0da7f0b8b8d"
        );

        let headers = h(&[
            ("Host", "csbs.example.com"),
            ("X-Sdk-Date", date),
            ("X-Project-Id", "PROJ"),
            ("Content-Type", "application/json"),
            ("User-Agent", "huaweicloud-usdk-python/3.0"),
        ]);
        let input = SignInput {
            headers: &headers,
            ..input
        };
        assert_eq!(
            input.signed_headers(),
            "content-type;host;user-agent;x-project-id;x-sdk-date"
        );
        assert_eq!(
            input.signature(sk, date),
            "8186ee52fad8109908159162efe3ad457438bbab8dc23499d17651b08cc53c86"
        );

        let headers = h(&[
            ("Host", "csbs.example.com"),
            ("X-Sdk-Date", date),
            ("Content-Type", "application/json"),
        ]);
        let body = br#"{"protect":{"resource_id":"r1"}}"#;
        let raw = "b=x%2Fy&a=hello%20world&a=abc&c=";
        assert_eq!(canonical_query(raw), "a=abc&a=hello%20world&b=x%2Fy&c=");
        assert_eq!(
            hex::encode(Sha256::digest(body)),
            "f9006f6d0a408905c0091927e0ddc74fa0afeb3843f05a66d1ce042eab3b03b9"
        );
        let input = SignInput {
            method: "POST",
            path: "/v1/PROJ/providers/PROV/checkpoints",
            raw_query: raw,
            headers: &headers,
            body,
        };
        assert!(
            input
                .string_to_sign(date)
                .ends_with("c894fe7624df250723a2280ec99edf4d7d036a395a2a3a02819b4ee30392b1d0")
        );
    }

    #[test]
    fn parses_its_own_authorization_header() {
        let parsed =
            parse_authorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=abc").unwrap();
        assert_eq!(parsed.access, "AK");
        assert_eq!(parsed.signed_headers, vec!["host", "x-sdk-date"]);
        assert_eq!(parsed.signature, "abc");
        assert!(parse_authorization("Bearer x").is_none());
        assert!(parse_authorization("SDK-HMAC-SHA256 Access=AK").is_none());
    }
}
