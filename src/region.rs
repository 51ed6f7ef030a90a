//! The regions one stack serves (docs/DESIGN.md, "Regions (one stack for every region)"): their
//! names, the `REGIONS` table of endpoints, and how a request's `region` is read against it.
//! Pure: the configuration reads the variables, the transport routes calls by it.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use crate::service::Service;

/// The default region's name when `DEFAULT_REGION` is not set.
pub const DEFAULT_REGION_NAME: &str = "default";

/// Longest region name (Huawei's longest is `la-south-2`-like, 10–16 characters).
pub const MAX_REGION_LEN: usize = 32;

/// A region name: 1–32 of lowercase letters, digits and `-`, starting with a letter or digit.
/// It names an entry of `REGIONS`, never a URL part, but is held to a narrow charset anyway: it
/// appears in task ids, events and log lines.
pub fn valid_region_name(name: &str) -> bool {
    (1..=MAX_REGION_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

/// The endpoints of one region: any subset of the services, and its own IAM (absent: the
/// cloud's global `IAM_ENDPOINT`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegionEndpoints {
    pub services: BTreeMap<Service, Url>,
    pub iam: Option<Url>,
}

/// Why a `REGIONS` value was refused: the region (or `REGIONS` itself) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionsError {
    /// `REGIONS` for the value as a whole, else `REGIONS.<region>[.<key>]`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for RegionsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// `REGIONS`: a JSON object of region name → `{"csbs"?, "cbr"?, "iam"?}` endpoints, each
/// `https://host[:port]` (or `http://127.0.0.1[:port]`, a local simulator). A region that
/// names the default region, names no service, or has a key that is not one of those three is
/// refused: a stack must not start with a table that would send a deletion elsewhere than
/// the operator meant.
pub fn parse_regions(value: &str, default_region: &str) -> Result<BTreeMap<String, RegionEndpoints>, RegionsError> {
    let whole = |message: String| RegionsError {
        path: "REGIONS".into(),
        message,
    };
    let parsed = crate::json::from_slice(value.as_bytes()).map_err(|e| whole(format!("not valid JSON: {e}")))?;
    let Value::Object(map) = parsed else {
        return Err(whole("must be a JSON object of region name → endpoints".into()));
    };
    let mut out = BTreeMap::new();
    for (name, entry) in map {
        let at = |key: Option<&str>, message: String| RegionsError {
            path: match key {
                Some(k) => format!("REGIONS.{name}.{k}"),
                None => format!("REGIONS.{name}"),
            },
            message,
        };
        if !valid_region_name(&name) {
            return Err(at(
                None,
                format!("a region name is 1 to {MAX_REGION_LEN} of a-z, 0-9 and '-'"),
            ));
        }
        if name == default_region {
            return Err(at(
                None,
                "is the default region (DEFAULT_REGION), configured by CSBS_ENDPOINT, CBR_ENDPOINT and IAM_ENDPOINT"
                    .into(),
            ));
        }
        let Value::Object(keys) = entry else {
            return Err(at(None, "must be an object such as {\"cbr\": \"https://…\"}".into()));
        };
        let mut region = RegionEndpoints::default();
        for (key, url) in keys {
            let url = url
                .as_str()
                .ok_or_else(|| at(Some(&key), "must be a string".into()))
                .and_then(|u| region_endpoint(u).map_err(|m| at(Some(&key), m)))?;
            match (key.as_str(), Service::parse(&key)) {
                (_, Some(service)) => {
                    region.services.insert(service, url);
                }
                ("iam", None) => region.iam = Some(url),
                _ => return Err(at(Some(&key), "unknown key; expected csbs, cbr or iam".into())),
            }
        }
        if region.services.is_empty() {
            return Err(at(None, "names no service (csbs or cbr)".into()));
        }
        out.insert(name, region);
    }
    Ok(out)
}

/// An endpoint of `REGIONS`: `https://host[:port]`, or `http://127.0.0.1[:port]` for tests.
fn region_endpoint(value: &str) -> Result<Url, String> {
    let url = endpoint_url(value)?;
    let loopback = url.scheme() == "http" && url.host_str() == Some("127.0.0.1");
    if url.scheme() != "https" && !loopback {
        return Err("must be https (http only for 127.0.0.1, a local simulator)".into());
    }
    Ok(url)
}

/// `scheme://host[:port]`, a trailing `/` tolerated (every endpoint variable).
pub fn endpoint_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|e| format!("not a URL ({e}); expected scheme://host[:port]"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be https (or http for a local simulator)".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("a host is required".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("give only scheme://host[:port]; the client adds /v1/{project_id}/… and /v3/auth/tokens".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in ["eu-de", "eu-west-101", "default", "cn-north-4", "a"] {
            assert!(valid_region_name(ok), "{ok}");
        }
        let long = "a".repeat(33);
        for bad in ["", "EU-DE", "eu_de", "eu de", "-eu", "eu/de", "eu.de", long.as_str()] {
            assert!(!valid_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_table_of_two_regions() {
        let r = parse_regions(
            r#"{"eu-nl": {"cbr": "https://cbr.eu-nl.otc.t-systems.com", "csbs": "https://csbs.eu-nl.otc.t-systems.com/"},
                "sim": {"cbr": "http://127.0.0.1:9000", "iam": "http://127.0.0.1:9000"}}"#,
            "eu-de",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r["eu-nl"].services.len(), 2);
        assert_eq!(r["eu-nl"].iam, None);
        assert_eq!(r["sim"].iam.as_ref().unwrap().as_str(), "http://127.0.0.1:9000/");
        assert_eq!(parse_regions("{}", "eu-de").unwrap().len(), 0);
    }

    #[test]
    fn bad_tables_name_the_region() {
        for (value, path) in [
            ("[]", "REGIONS"),
            ("not json", "REGIONS"),
            (r#"{"a": 1, "a": 2}"#, "REGIONS"),
            (r#"{"EU": {"cbr": "https://x"}}"#, "REGIONS.EU"),
            (r#"{"eu-de": {"cbr": "https://x"}}"#, "REGIONS.eu-de"),
            (r#"{"eu-nl": {}}"#, "REGIONS.eu-nl"),
            (r#"{"eu-nl": "https://x"}"#, "REGIONS.eu-nl"),
            (r#"{"eu-nl": {"iam": "https://x"}}"#, "REGIONS.eu-nl"),
            (r#"{"eu-nl": {"cbrr": "https://x"}}"#, "REGIONS.eu-nl.cbrr"),
            (r#"{"eu-nl": {"cbr": "http://cbr.example.com"}}"#, "REGIONS.eu-nl.cbr"),
            (r#"{"eu-nl": {"cbr": "http://localhost:9000"}}"#, "REGIONS.eu-nl.cbr"),
            (r#"{"eu-nl": {"cbr": "https://x/v3/p"}}"#, "REGIONS.eu-nl.cbr"),
            (r#"{"eu-nl": {"cbr": "ftp://x"}}"#, "REGIONS.eu-nl.cbr"),
            (r#"{"eu-nl": {"cbr": 7}}"#, "REGIONS.eu-nl.cbr"),
        ] {
            let e = parse_regions(value, "eu-de").unwrap_err();
            assert_eq!(e.path, path, "{value}: {e}");
        }
    }
}
