//! The supervisor's log: every line a container can trigger goes through a token bucket, so an exec
//! storm cannot fill the disk; how many lines were dropped is said when logging resumes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

const BURST: f64 = 20.0;
const PER_SEC: f64 = 5.0;

struct Bucket {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

pub struct RateLimitedLog {
    file: Option<Mutex<File>>,
    bucket: Mutex<Bucket>,
}

impl RateLimitedLog {
    pub fn open(path: &Path) -> Self {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new);
        Self {
            file,
            bucket: Mutex::new(Bucket {
                tokens: BURST,
                last: Instant::now(),
                dropped: 0,
            }),
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let dropped = {
            let Ok(mut b) = self.bucket.lock() else {
                return;
            };
            let now = Instant::now();
            b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * PER_SEC).min(BURST);
            b.last = now;
            if b.tokens < 1.0 {
                b.dropped += 1;
                return;
            }
            b.tokens -= 1.0;
            std::mem::take(&mut b.dropped)
        };
        let Some(f) = &self.file else { return };
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut line = String::new();
        if dropped > 0 {
            line.push_str(&crate::logging::render(
                crate::logging::Format::Json,
                "warning",
                &format!("{dropped} log lines dropped by the rate limit"),
                &time,
            ));
        }
        line.push_str(&crate::logging::render(
            crate::logging::Format::Json,
            level,
            msg,
            &time,
        ));
        if let Ok(mut f) = f.lock() {
            let _ = f.write_all(line.as_bytes());
        }
    }

    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_is_cut_to_the_burst() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.log");
        let log = RateLimitedLog::open(&p);
        for i in 0..1000 {
            log.warn(&format!("line {i}"));
        }
        let n = std::fs::read_to_string(&p).unwrap().lines().count();
        assert!((20..=25).contains(&n), "{n} lines");
    }
}
