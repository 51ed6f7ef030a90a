//! Injected latency, yield points and refusals for the in-memory adapters (`pending::memory`,
//! `events::memory`): with them the soak test reaches the windows a real queue and bus open —
//! above all "event accepted, message not yet deleted" — and sees calls refused.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to inject into every call of an adapter. Seeded: a failing soak run prints its seed.
pub struct Chaos {
    latency_ms: (u64, u64),
    refuse_rate: f64,
    rng: Mutex<StdRng>,
}

impl Chaos {
    /// Each call waits `latency_ms` (uniform in the range) and is refused with `refuse_rate`.
    pub fn new(latency_ms: (u64, u64), refuse_rate: f64, seed: u64) -> Self {
        Chaos {
            latency_ms: (latency_ms.0, latency_ms.1.max(latency_ms.0)),
            refuse_rate: refuse_rate.clamp(0.0, 1.0),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// Waits (a yield point where a caller can be cancelled), then tells whether the call is
    /// refused.
    pub async fn before_call(&self) -> bool {
        let (wait, refuse) = {
            let mut rng = self.rng.lock().unwrap();
            let (lo, hi) = self.latency_ms;
            (rng.random_range(lo..=hi), rng.random_bool(self.refuse_rate))
        };
        tokio::task::yield_now().await;
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        refuse
    }

    /// Whether one entry of a batch call is refused (a per-entry failure).
    pub fn refuse_entry(&self) -> bool {
        self.rng.lock().unwrap().random_bool(self.refuse_rate)
    }
}
