//! Fault injection for the simulator: per route, the next N answers or a rate of error answers,
//! added latency, or hanging requests.

use serde::{Deserialize, Serialize};

/// Which simulated route a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Token,
    Delete,
    Get,
    List,
    Count,
    /// CBR v3: `DELETE /v3/{p}/backups/{id}`.
    CbrDelete,
    /// CBR v3: `GET /v3/{p}/backups/{id}`.
    CbrGet,
    /// CBR v3: `GET /v3/{p}/backups`.
    CbrList,
    /// CBR v3: `GET /v3/{p}/operation-logs`.
    CbrOperationLogs,
    /// CBR v3: `GET /v3/{p}/checkpoints/{id}`.
    CbrCheckpoint,
    /// Every CSBS, CBR and IAM route.
    Any,
}

/// One fault rule. `status` answers with that HTTP status (and a matching error body);
/// `latency_ms` delays the answer; `hang` never answers. `count` limits the rule to the next N
/// matching requests; `rate` (0–1) applies it to that share of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    pub route: Option<Route>,
    pub status: Option<u16>,
    pub count: Option<u32>,
    pub rate: Option<f64>,
    pub latency_ms: Option<u64>,
    /// Extra random latency, uniform in 0..=jitter_ms.
    pub jitter_ms: Option<u64>,
    pub hang: bool,
    pub retry_after: Option<u64>,
    /// Only requests whose path (and query) contains this string.
    pub path_contains: Option<String>,
    /// The `error_code` of the answer (default: one fitting the status), e.g. `APIGW.0101` for
    /// the gateway's "no such API" 404.
    pub error_code: Option<String>,
    /// A raw, non-JSON body instead of an error object (an HTML page from a proxy).
    pub raw_body: Option<String>,
}

impl Fault {
    pub fn status(route: Route, status: u16) -> Self {
        Fault {
            route: Some(route),
            status: Some(status),
            ..Default::default()
        }
    }
    pub fn times(mut self, n: u32) -> Self {
        self.count = Some(n);
        self
    }
    pub fn rate(mut self, r: f64) -> Self {
        self.rate = Some(r);
        self
    }
    pub fn latency(route: Route, ms: u64) -> Self {
        Fault {
            route: Some(route),
            latency_ms: Some(ms),
            ..Default::default()
        }
    }
    pub fn hang(route: Route) -> Self {
        Fault {
            route: Some(route),
            hang: true,
            ..Default::default()
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.error_code = Some(code.into());
        self
    }

    pub fn with_raw_body(mut self, body: impl Into<String>) -> Self {
        self.raw_body = Some(body.into());
        self
    }

    pub fn on_path(mut self, fragment: impl Into<String>) -> Self {
        self.path_contains = Some(fragment.into());
        self
    }

    fn matches(&self, route: Route, target: &str) -> bool {
        (matches!(self.route.unwrap_or(Route::Any), Route::Any) || self.route == Some(route))
            && self.path_contains.as_deref().is_none_or(|f| target.contains(f))
    }
}

impl Route {
    pub fn is_cbr(self) -> bool {
        matches!(
            self,
            Route::CbrDelete | Route::CbrGet | Route::CbrList | Route::CbrOperationLogs | Route::CbrCheckpoint
        )
    }
}

/// What the faults decided for one request.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    pub latency_ms: u64,
    pub hang: bool,
    pub status: Option<(u16, Option<u64>)>,
    /// The answer's error code and raw body, from the rule that set `status`.
    pub error_code: Option<String>,
    pub raw_body: Option<String>,
}

/// Applies the rules to a request on `route`, consuming counted ones.
pub fn decide(faults: &mut Vec<Fault>, route: Route, target: &str, mut random: impl FnMut() -> f64) -> Decision {
    let mut d = Decision::default();
    for f in faults.iter_mut().filter(|f| f.matches(route, target)) {
        if f.count == Some(0) {
            continue;
        }
        if let Some(rate) = f.rate
            && random() >= rate
        {
            continue;
        }
        if let Some(n) = f.count.as_mut() {
            *n -= 1;
        }
        d.latency_ms += f.latency_ms.unwrap_or(0);
        if let Some(j) = f.jitter_ms.filter(|j| *j > 0) {
            d.latency_ms += (random() * j as f64) as u64;
        }
        d.hang |= f.hang;
        if d.status.is_none() && f.status.is_some() {
            d.status = f.status.map(|s| (s, f.retry_after));
            d.error_code = f.error_code.clone();
            d.raw_body = f.raw_body.clone();
        }
    }
    faults.retain(|f| f.count != Some(0));
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_run_out() {
        let mut fs = vec![Fault::status(Route::Delete, 503).times(2)];
        assert_eq!(decide(&mut fs, Route::Get, "/", || 0.0).status, None);
        assert_eq!(decide(&mut fs, Route::Delete, "/", || 0.0).status, Some((503, None)));
        assert_eq!(decide(&mut fs, Route::Delete, "/", || 0.0).status, Some((503, None)));
        assert_eq!(decide(&mut fs, Route::Delete, "/", || 0.0).status, None);
        assert!(fs.is_empty());
    }

    #[test]
    fn path_filter_targets_one_resource() {
        let mut fs = vec![Fault::status(Route::Delete, 503).on_path("ckpt-2")];
        assert_eq!(
            decide(&mut fs, Route::Delete, "/v1/p/providers/x/checkpoints/ckpt-1", || 0.0).status,
            None
        );
        assert_eq!(
            decide(&mut fs, Route::Delete, "/v1/p/providers/x/checkpoints/ckpt-2", || 0.0).status,
            Some((503, None))
        );
    }

    #[test]
    fn rates_and_latency_combine() {
        let mut fs = vec![
            Fault::status(Route::Any, 429).rate(0.5),
            Fault::latency(Route::List, 20),
        ];
        let d = decide(&mut fs, Route::List, "/", || 0.7);
        assert_eq!(
            d,
            Decision {
                latency_ms: 20,
                ..Decision::default()
            }
        );
        let d = decide(&mut fs, Route::List, "/", || 0.1);
        assert_eq!(d.status, Some((429, None)));
    }
}
