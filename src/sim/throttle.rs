//! The API gateway's throttling, per project (the gateway counts per user; each simulated
//! project stands for one): a token bucket of one second's calls refilled at the configured
//! rate; a call that finds it empty is answered 429 `APIGW.0308` with the gateway's body
//! (docs/csbs-api.md; FlexibleEngine #527, OTC #1755 show it in the field).

use std::collections::HashMap;

use tokio::time::Instant;

/// The buckets of every project under one rate (`None`: no throttling).
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    rate: Option<f64>,
    buckets: HashMap<String, (f64, Instant)>,
}

impl Throttle {
    pub(crate) fn set_rate(&mut self, rate: Option<f64>) {
        self.rate = rate.filter(|r| *r > 0.0);
        self.buckets.clear();
    }

    /// Whether a call of `project` at `now` is refused.
    pub(crate) fn refuses(&mut self, project: &str, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return false;
        };
        let burst = rate.max(1.0);
        let (tokens, last) = self.buckets.entry(project.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            false
        } else {
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_project_gets_one_seconds_burst_then_the_rate() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        assert!(!t.refuses("p", t0), "no rate: never throttled");
        t.set_rate(Some(20.0));
        let refused = (0..25).filter(|_| t.refuses("p", t0)).count();
        assert_eq!(refused, 5);
        // Another project has its own bucket; 100 ms later two more calls pass.
        assert!(!t.refuses("q", t0));
        let later = t0 + Duration::from_millis(100);
        assert!(!t.refuses("p", later) && !t.refuses("p", later) && t.refuses("p", later));
    }
}
