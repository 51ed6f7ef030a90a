//! The pace of the calls to each region (docs/DESIGN.md, "Rules that keep it reliable": "Checks
//! read in bulk"). Huawei's API gateways throttle per user and region (429, `APIGW.0308`), and a
//! stack calls as one user, so every call of the process to one region takes a turn from one
//! token bucket whose rate follows AIMD, as TCP's window and the AWS SDKs' adaptive retry mode do:
//! each answer that is not a throttle adds a little (`INCREASE_PER_SECOND` calls/s per second of
//! calls), each throttle answer cuts it (`DECREASE`), between a floor and a ceiling
//! (`CLOUD_RATE_FLOOR`, `CLOUD_RATE_CEILING`). A retried call waits its turn like any other, so a
//! throttled check is no longer retried at the pace that was throttled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The bounds of each region's rate, in calls per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceSettings {
    /// The slowest a throttled region is called.
    pub floor: f64,
    /// The rate a region starts at and never exceeds.
    pub ceiling: f64,
}

impl Default for PaceSettings {
    fn default() -> Self {
        PaceSettings {
            floor: 1.0,
            ceiling: 100.0,
        }
    }
}

/// Calls per second gained per second of answers that were not throttles: a region throttled
/// at 20 calls/s is probed again about every 4 s after a cut (docs/DESIGN.md).
pub const INCREASE_PER_SECOND: f64 = 0.5;

/// The share of the rate kept after a throttle answer.
pub const DECREASE: f64 = 0.9;

/// One region's bucket: its rate, the tokens left (negative: turns already promised to waiting
/// calls), and when the rate was last cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    pub rate: f64,
    tokens: f64,
    refilled: Instant,
    last_cut: Option<Instant>,
}

impl Rate {
    /// A region not called yet: the ceiling, with one second's burst.
    pub fn new(s: &PaceSettings, now: Instant) -> Self {
        Rate {
            rate: s.ceiling,
            tokens: burst(s.ceiling),
            refilled: now,
            last_cut: None,
        }
    }

    /// Takes the next turn: how long the call waits before it is sent.
    pub fn take(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// The answer to a call sent at `sent`. Only a throttle of a call sent after the last cut
    /// cuts again: the calls already in flight when the gateway first refused were sent at the
    /// old rate, and counting each of them would collapse the rate to the floor.
    pub fn answered(&mut self, s: &PaceSettings, sent: Instant, throttled: bool, now: Instant) {
        if !throttled {
            self.rate = (self.rate + INCREASE_PER_SECOND / self.rate).min(s.ceiling);
            return;
        }
        if self.last_cut.is_some_and(|cut| sent <= cut) {
            return;
        }
        self.refill(now);
        self.rate = (self.rate * DECREASE).max(s.floor);
        // No burst right after a throttle: the gateway's window is full.
        self.tokens = self.tokens.min(0.0);
        self.last_cut = Some(now);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(burst(self.rate));
        self.refilled = now;
    }
}

/// One second's calls, at least one.
fn burst(rate: f64) -> f64 {
    rate.max(1.0)
}

/// Every region's bucket, made at its first call; shared by every clone of a transport, so by
/// every lane, batch and workflow of the process.
#[derive(Debug, Default)]
pub struct Pace {
    settings: PaceSettings,
    rates: Mutex<HashMap<String, Rate>>,
}

impl Pace {
    pub fn new(settings: PaceSettings) -> Self {
        Pace {
            settings,
            rates: Mutex::default(),
        }
    }

    /// Waits for a turn to call `region`; `None` when the turn would come after `deadline`.
    /// A turn that is not taken is given back — refused for the deadline, or its call dropped
    /// while it waited (an invocation cut off, a batch abandoned): a call that never goes does
    /// not slow the others. Kept, every dropped wait left its turn owed, and a poll cut off
    /// again and again with dozens of checks waiting put the bucket in a debt the rate could
    /// not repay: every later call waited past its deadline (tests/it/soak.rs).
    pub async fn turn(&self, region: &str, deadline: Instant) -> Option<Instant> {
        let now = Instant::now();
        let wait = self.with(region, now, |r| r.take(now));
        let mut turn = Unused {
            pace: self,
            region,
            unused: true,
        };
        let at = now + wait;
        if at >= deadline {
            return None;
        }
        tokio::time::sleep_until(at).await;
        turn.unused = false;
        Some(at)
    }

    /// Records the answer to a call sent at `sent`.
    pub fn answered(&self, region: &str, sent: Instant, throttled: bool) {
        let now = Instant::now();
        let s = self.settings;
        let cut = self.with(region, now, |r| {
            let before = r.rate;
            r.answered(&s, sent, throttled, now);
            (r.rate < before).then_some(r.rate)
        });
        if let Some(rate) = cut {
            tracing::warn!(
                region,
                rate = format!("{rate:.1}"),
                "the cloud throttles this region; its calls are slowed (calls/s)"
            );
        }
    }

    /// The current rate of `region` (calls/s), for metrics and tests.
    pub fn rate(&self, region: &str) -> f64 {
        self.with(region, Instant::now(), |r| r.rate)
    }

    fn with<T>(&self, region: &str, now: Instant, f: impl FnOnce(&mut Rate) -> T) -> T {
        let mut rates = self.rates.lock().expect("never poisoned");
        let rate = rates
            .entry(region.to_string())
            .or_insert_with(|| Rate::new(&self.settings, now));
        f(rate)
    }
}

/// A turn taken from a bucket, given back when dropped unused.
struct Unused<'a> {
    pace: &'a Pace,
    region: &'a str,
    unused: bool,
}

impl Drop for Unused<'_> {
    fn drop(&mut self) {
        if self.unused {
            self.pace.with(self.region, Instant::now(), |r| r.tokens += 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: PaceSettings = PaceSettings {
        floor: 2.0,
        ceiling: 20.0,
    };

    #[test]
    fn a_new_region_bursts_one_second_then_spaces_calls_at_the_rate() {
        let t0 = Instant::now();
        let mut r = Rate::new(&S, t0);
        let waits: Vec<Duration> = (0..22).map(|_| r.take(t0)).collect();
        assert!(waits[..20].iter().all(Duration::is_zero), "{waits:?}");
        assert_eq!(waits[20], Duration::from_millis(50));
        assert_eq!(waits[21], Duration::from_millis(100));
        // A second later the debt is paid and 18 tokens are back (never more than a second's).
        assert_eq!(r.take(t0 + Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(r.take(t0 + Duration::from_secs(60)), Duration::ZERO);
        assert!(r.tokens <= 20.0);
    }

    #[test]
    fn aimd_table() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // (rate before, sent, throttled, rate after)
        let cases = [
            // Not throttled: +0.5/rate per answer (0.5 calls/s per second at that rate).
            (10.0, ms(1), false, 10.05),
            (20.0, ms(1), false, 20.0),
            // Throttled: cut by a tenth, not under the floor.
            (10.0, ms(1), true, 9.0),
            (2.1, ms(1), true, 2.0),
        ];
        for (before, sent, throttled, after) in cases {
            let mut r = Rate::new(&S, t0);
            r.rate = before;
            r.answered(&S, sent, throttled, ms(2));
            assert!((r.rate - after).abs() < 1e-9, "{before} {throttled}: {}", r.rate);
        }
    }

    #[test]
    fn calls_in_flight_at_a_cut_do_not_cut_again() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut r = Rate::new(&S, t0);
        r.answered(&S, ms(0), true, ms(10));
        assert!((r.rate - 18.0).abs() < 1e-9);
        // Sent before the cut: no second cut. Sent after it: a second cut.
        r.answered(&S, ms(5), true, ms(11));
        assert!((r.rate - 18.0).abs() < 1e-9);
        r.answered(&S, ms(12), true, ms(20));
        assert!((r.rate - 16.2).abs() < 1e-9);
        // After a cut the bucket has no burst left: the next call waits its turn.
        assert!(r.take(ms(20)) > Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn regions_have_their_own_buckets_and_a_late_turn_is_refused() {
        let pace = Pace::new(PaceSettings {
            floor: 1.0,
            ceiling: 1.0,
        });
        let far = Instant::now() + Duration::from_secs(10);
        assert!(pace.turn("eu-de", far).await.is_some());
        // eu-nl is not slowed by eu-de's spent token.
        let before = Instant::now();
        assert!(pace.turn("eu-nl", far).await.is_some());
        assert_eq!(Instant::now(), before);
        // eu-de's next turn is a second away: refused with a deadline nearer than that.
        assert!(
            pace.turn("eu-de", Instant::now() + Duration::from_millis(500))
                .await
                .is_none()
        );
        pace.answered("eu-de", Instant::now(), true);
        assert_eq!(pace.rate("eu-de"), 1.0, "never under the floor");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_dropped_before_its_turn_gives_the_turn_back() {
        let pace = Pace::new(PaceSettings {
            floor: 10.0,
            ceiling: 10.0,
        });
        let far = Instant::now() + Duration::from_secs(60);
        // The second's burst is spent.
        for _ in 0..10 {
            assert!(pace.turn("eu-de", far).await.is_some());
        }
        // Fifty calls queue for turns (5 s of them) and are dropped while they wait, as the
        // checks of an invocation that is cut off.
        let waits: Vec<_> = (0..50).map(|_| Box::pin(pace.turn("eu-de", far))).collect();
        for mut w in waits {
            let polled = futures::poll!(w.as_mut());
            assert!(polled.is_pending());
        }
        // The next call waits one turn (0.1 s), not the 5 s of turns nobody used.
        let before = Instant::now();
        assert!(pace.turn("eu-de", far).await.is_some());
        assert_eq!(Instant::now() - before, Duration::from_millis(100));
    }
}
