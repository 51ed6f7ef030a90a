//! The times of the transport's HTTP calls, which the functions publish as metrics
//! (src/metrics.rs).

use std::sync::Mutex;
use std::time::Duration;

/// Most latency samples kept per invocation (the count and sum stay exact beyond it).
const MAX_SAMPLES: usize = 1000;

/// The times of the Huawei transport's HTTP calls (each attempt, retries included).
#[derive(Debug, Default)]
pub struct CallLatencies(Mutex<Latencies>);

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Latencies {
    pub count: u64,
    /// Milliseconds, at most [`MAX_SAMPLES`] of them.
    pub samples_ms: Vec<f64>,
}

impl CallLatencies {
    pub fn record(&self, took: Duration) {
        let mut l = self.0.lock().expect("latency lock");
        l.count += 1;
        if l.samples_ms.len() < MAX_SAMPLES {
            l.samples_ms.push((took.as_secs_f64() * 1000.0 * 10.0).round() / 10.0);
        }
    }

    pub fn take(&self) -> Latencies {
        std::mem::take(&mut *self.0.lock().expect("latency lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_keep_an_exact_count_and_bounded_samples() {
        let l = CallLatencies::default();
        for _ in 0..(MAX_SAMPLES + 5) {
            l.record(Duration::from_micros(1500));
        }
        let t = l.take();
        assert_eq!(
            (t.count, t.samples_ms.len(), t.samples_ms[0]),
            ((MAX_SAMPLES + 5) as u64, MAX_SAMPLES, 1.5)
        );
        assert_eq!(l.take().count, 0);
    }
}
