//! The one rate limiter of the project: token buckets, one per key (a log call site, a sink's
//! warning), so that a noisy key never uses up another key's budget. Used for every line a
//! container can trigger at will: the supervisor's log and the sinks' drop/failure warnings.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a sink may warn about drops and failures.
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

/// `burst` events at once per key, then one per `every`.
#[derive(Debug)]
pub struct RateLimiter<K> {
    burst: f64,
    every: Duration,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// At most `burst` events at once per key, refilled at one per `every` (`Duration::ZERO`: no
    /// limit).
    pub fn new(burst: u32, every: Duration) -> Self {
        RateLimiter {
            burst: f64::from(burst.max(1)),
            every,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(n)` when an event of `key` may go out now, `n` being how many of that key's events
    /// were held back since the last one that went out; `None` when this one is held back.
    pub fn allow(&self, key: K) -> Option<u64> {
        if self.every.is_zero() {
            return Some(0);
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            last: now,
            dropped: 0,
        });
        let refill = now.duration_since(b.last).as_secs_f64() / self.every.as_secs_f64();
        b.tokens = (b.tokens + refill).min(self.burst);
        b.last = now;
        if b.tokens < 1.0 {
            b.dropped += 1;
            return None;
        }
        b.tokens -= 1.0;
        Some(std::mem::take(&mut b.dropped))
    }
}

/// Lets one event through per interval (a [`RateLimiter`] with one key and a burst of one).
#[derive(Debug)]
pub(crate) struct RateLimit(RateLimiter<()>);

impl RateLimit {
    pub(crate) fn new(interval: Duration) -> RateLimit {
        RateLimit(RateLimiter::new(1, interval))
    }

    /// True at most once per interval.
    pub(crate) fn allow(&self) -> bool {
        self.0.allow(()).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_event_in_the_interval_is_held_back() {
        let r = RateLimit::new(Duration::from_secs(3600));
        assert!(r.allow());
        assert!(!r.allow());
        let r = RateLimit::new(Duration::ZERO);
        assert!(r.allow());
        assert!(r.allow());
    }

    #[test]
    fn a_noisy_key_does_not_silence_another() {
        let r = RateLimiter::new(20, Duration::from_secs(3600));
        let noisy = (0..1000).filter(|_| r.allow("noisy").is_some()).count();
        assert_eq!(noisy, 20);
        assert_eq!(r.allow("quiet"), Some(0));
        assert_eq!(r.allow("noisy"), None);
    }

    #[test]
    fn the_held_back_count_is_told_with_the_next_event() {
        let r = RateLimiter::new(1, Duration::from_millis(20));
        assert_eq!(r.allow(1), Some(0));
        assert_eq!(r.allow(1), None);
        assert_eq!(r.allow(1), None);
        let deadline = Instant::now() + Duration::from_secs(5);
        let told = loop {
            if let Some(n) = r.allow(1) {
                break n;
            }
            assert!(Instant::now() < deadline, "the bucket never refilled");
            std::thread::yield_now();
        };
        assert!(told >= 2, "{told}");
    }
}
