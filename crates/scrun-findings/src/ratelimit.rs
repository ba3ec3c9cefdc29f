//! A once-per-interval gate for warnings a container can trigger at will.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a sink may warn about drops and failures.
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Lets one event through per interval.
#[derive(Debug)]
pub(crate) struct RateLimit {
    interval: Duration,
    last: Mutex<Option<Instant>>,
}

impl RateLimit {
    pub(crate) fn new(interval: Duration) -> RateLimit {
        RateLimit {
            interval,
            last: Mutex::new(None),
        }
    }

    /// True at most once per interval.
    pub(crate) fn allow(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < self.interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
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
}
