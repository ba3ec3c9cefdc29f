//! A sink that POSTs each finding as JSON to an `http://` endpoint from a background thread.
//!
//! `emit` never waits on the network: it serializes the finding and hands it to a bounded
//! queue; a full queue drops the finding and counts it. One thread drains the queue, one
//! request per finding (`HTTP/1.1`, `Connection: close`), with connect/read/write timeouts and
//! exponential backoff on connection errors, 429 and 5xx answers. There is no TLS: point it at
//! an `http://` endpoint or a local relay that adds TLS.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::model::Finding;
use crate::ratelimit::{RateLimit, WARN_INTERVAL};
use crate::sink::{MAX_LINE, Sink, SinkError, encode_line};

/// How long dropping a [`WebhookSink`] waits for queued findings to be delivered.
pub const FLUSH_ON_DROP: Duration = Duration::from_secs(2);

/// The longest pause between two attempts, whatever the backoff says.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How much of the response is read to find the status line.
const MAX_STATUS_LINE: usize = 1024;

/// Delivery settings of a [`WebhookSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookOptions {
    /// Bound on connecting, and on each request (write and status line read).
    pub timeout: Duration,
    /// Extra attempts after the first fails with a connection error, 429 or 5xx.
    pub retries: u32,
    /// Pause before the first retry; doubled for each further retry (at most 30 s).
    pub backoff: Duration,
    /// Findings waiting for delivery; more are dropped (at least 1).
    pub queue: usize,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            timeout: Duration::from_secs(2),
            retries: 3,
            backoff: Duration::from_millis(250),
            queue: 1024,
        }
    }
}

/// A parsed `http://host[:port][/path]` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address as written (IPv6 without brackets).
    pub host: String,
    /// Port (80 when not written).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl Endpoint {
    /// Parses an `http://` URL. `https://`, credentials and non-ASCII are refused.
    pub fn parse(url: &str) -> Result<Endpoint, SinkError> {
        let bad = |message: &str| SinkError::Endpoint {
            url: redact(url),
            message: message.to_owned(),
        };
        let lower = url.chars().take(8).collect::<String>().to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(bad(
                "https is not supported (no TLS in the supervisor); use an http endpoint or a local relay",
            ));
        }
        if !lower.starts_with("http://") {
            return Err(bad("only http://host[:port]/path URLs are supported"));
        }
        if !url.is_ascii() || url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(bad(
                "the URL has spaces, control or non-ASCII characters; percent-encode them",
            ));
        }
        let rest = &url[7..];
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
            };
            (h, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the URL has no host"));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// `host:port` as the `Host` header wants it.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The URL without path and query (which may carry a token), for messages and logs.
fn redact(url: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let auth = &after[..end];
            let auth = auth.rsplit('@').next().unwrap_or(auth);
            format!("{}{auth}", &url[..i + 3])
        }
        None => "<not a URL>".to_owned(),
    }
}

#[derive(Debug)]
struct Shared {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    pending: Mutex<u64>,
    idle: Condvar,
    /// Set when the sink is dropped: nothing is attempted after it.
    deadline: Mutex<Option<Instant>>,
    warn: RateLimit,
    target: String,
}

impl Shared {
    fn begin_one(&self) {
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }

    fn finish_one(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        *p = p.saturating_sub(1);
        if *p == 0 {
            self.idle.notify_all();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `want`, cut to what is left before the drop deadline; `None` once it has passed.
    fn bounded(&self, want: Duration) -> Option<Duration> {
        match self.deadline() {
            None => Some(want),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| want.min(left))
            }
        }
    }

    fn warn(&self, what: &str) {
        if self.warn.allow() {
            tracing::warn!(
                webhook = %self.target,
                delivered = self.delivered.load(Ordering::Relaxed),
                failed = self.failed.load(Ordering::Relaxed),
                dropped = self.dropped.load(Ordering::Relaxed),
                "webhook {what} (this warning is shown at most once per {}s)",
                WARN_INTERVAL.as_secs()
            );
        }
    }
}

/// POSTs findings to an `http://` endpoint without ever blocking `emit`.
///
/// Dropping the sink stops taking findings and waits up to [`FLUSH_ON_DROP`] for the queue to
/// drain; findings still queued after that are counted as failed.
#[derive(Debug)]
pub struct WebhookSink {
    tx: Option<SyncSender<Vec<u8>>>,
    shared: Arc<Shared>,
    done: Mutex<Option<Receiver<()>>>,
}

impl WebhookSink {
    /// Parses `url` (`http://host[:port]/path` only), resolves the host once (the supervisor
    /// may not resolve names after it is sandboxed) and starts the delivery thread.
    pub fn new(url: &str, opts: WebhookOptions) -> Result<WebhookSink, SinkError> {
        let endpoint = Endpoint::parse(url)?;
        let addrs: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
            .to_socket_addrs()
            .map_err(|e| SinkError::Endpoint {
                url: redact(url),
                message: format!("cannot resolve {}: {e}", endpoint.host),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(SinkError::Endpoint {
                url: redact(url),
                message: format!("{} resolves to no address", endpoint.host),
            });
        }
        let opts = WebhookOptions {
            timeout: opts.timeout.max(Duration::from_millis(1)),
            queue: opts.queue.max(1),
            ..opts
        };
        let shared = Arc::new(Shared {
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            pending: Mutex::new(0),
            idle: Condvar::new(),
            deadline: Mutex::new(None),
            warn: RateLimit::new(WARN_INTERVAL),
            target: redact(url),
        });
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(opts.queue);
        let (done_tx, done_rx) = mpsc::channel();
        let worker = Delivery {
            endpoint,
            addrs,
            opts,
            shared: Arc::clone(&shared),
        };
        thread::Builder::new()
            .name("scrun-webhook".into())
            .spawn(move || worker.run(rx, done_tx))
            .map_err(|source| SinkError::Spawn {
                what: "webhook delivery thread",
                cause: source,
            })?;
        Ok(WebhookSink {
            tx: Some(tx),
            shared,
            done: Mutex::new(Some(done_rx)),
        })
    }

    /// Findings the endpoint accepted (2xx).
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    /// Findings given up on after the retries (or refused with a 3xx/4xx).
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Findings dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` until every queued finding is delivered or failed; true if so.
    pub fn flush(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let mut p = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        while *p > 0 {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            p = self
                .shared
                .idle
                .wait_timeout(p, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

impl Sink for WebhookSink {
    /// Queues the finding; a full queue drops it (counted, warned at most every 10 s). Only a
    /// finding that cannot be serialized is an error.
    fn emit(&self, finding: &Finding) -> Result<(), SinkError> {
        let mut body = encode_line(finding, MAX_LINE)?;
        body.pop(); // the newline
        let Some(tx) = &self.tx else {
            return Ok(());
        };
        self.shared.begin_one();
        match tx.try_send(body) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.finish_one();
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                self.shared.warn("queue full, dropping findings");
            }
        }
        Ok(())
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        *self
            .shared
            .deadline
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + FLUSH_ON_DROP);
        drop(self.tx.take());
        let done = self
            .done
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(done) = done {
            // The thread stops trying at the deadline; the margin covers its last step.
            let _ = done.recv_timeout(FLUSH_ON_DROP + Duration::from_millis(200));
        }
    }
}

struct Delivery {
    endpoint: Endpoint,
    addrs: Vec<SocketAddr>,
    opts: WebhookOptions,
    shared: Arc<Shared>,
}

impl Delivery {
    fn run(self, rx: Receiver<Vec<u8>>, done: Sender<()>) {
        for body in rx.iter() {
            match self.deliver(&body) {
                Ok(()) => {
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(why) => {
                    self.shared.failed.fetch_add(1, Ordering::Relaxed);
                    self.shared
                        .warn(&format!("delivery failed, giving up on a finding: {why}"));
                }
            }
            self.shared.finish_one();
        }
        let _ = done.send(());
    }

    fn deliver(&self, body: &[u8]) -> Result<(), String> {
        let mut last = String::from("not attempted: the sink was dropped");
        for attempt in 0..=self.opts.retries {
            if attempt > 0 {
                let pause = self
                    .opts
                    .backoff
                    .saturating_mul(1u32 << (attempt - 1).min(16))
                    .min(MAX_BACKOFF);
                match self.shared.bounded(pause) {
                    Some(p) if p == pause => thread::sleep(p),
                    _ => return Err(format!("{last} (out of time while flushing)")),
                }
            }
            let Some(timeout) = self.shared.bounded(self.opts.timeout) else {
                return Err(last);
            };
            match self.post(body, timeout) {
                Ok(s) if (200..300).contains(&s) => return Ok(()),
                Ok(s) if s == 429 || s >= 500 => last = format!("HTTP {s}"),
                Ok(s) => return Err(format!("HTTP {s}, not retried")),
                Err(e) => last = e.to_string(),
            }
            tracing::debug!(webhook = %self.shared.target, attempt, "webhook attempt failed: {last}");
        }
        Err(format!("{last} after {} attempts", self.opts.retries + 1))
    }

    /// One request; the status code of the answer.
    fn post(&self, body: &[u8], timeout: Duration) -> io::Result<u16> {
        let start = Instant::now();
        let mut stream = self.connect(timeout)?;
        stream.set_nodelay(true)?;
        let left = |what: &str| {
            let l = timeout.saturating_sub(start.elapsed());
            if l.is_zero() {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out {what}"),
                ))
            } else {
                Ok(l)
            }
        };
        stream.set_write_timeout(Some(left("connecting")?))?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: scrun\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.endpoint.path,
            self.endpoint.authority(),
            body.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        stream.write_all(&req)?;
        stream.flush()?;
        let mut buf = Vec::with_capacity(128);
        let mut chunk = [0u8; 256];
        while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < MAX_STATUS_LINE {
            stream.set_read_timeout(Some(left("waiting for the answer")?))?;
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        parse_status(&buf).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the answer has no HTTP/1.x status line",
            )
        })
    }

    fn connect(&self, timeout: Duration) -> io::Result<TcpStream> {
        let mut err = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in &self.addrs {
            match TcpStream::connect_timeout(addr, timeout) {
                Ok(s) => return Ok(s),
                Err(e) => err = e,
            }
        }
        Err(err)
    }
}

/// The code of an `HTTP/1.x NNN ...` status line.
fn parse_status(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..600).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_urls() {
        let e = Endpoint::parse("http://relay.local:8080/hooks/scc?t=1#x").unwrap();
        assert_eq!(e.host, "relay.local");
        assert_eq!(e.port, 8080);
        assert_eq!(e.path, "/hooks/scc?t=1");
        let e = Endpoint::parse("HTTP://127.0.0.1").unwrap();
        assert_eq!((e.port, e.path.as_str()), (80, "/"));
        let e = Endpoint::parse("http://[::1]:9/a").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 9));
        assert_eq!(e.authority(), "[::1]:9");
        assert_eq!(Endpoint::parse("http://h?q").unwrap().path, "/?q");
    }

    #[test]
    fn refuses_https_and_malformed_urls() {
        let err = Endpoint::parse("https://example.com/x").unwrap_err();
        assert!(
            err.to_string()
                .contains("use an http endpoint or a local relay"),
            "{err}"
        );
        for bad in [
            "ftp://h/",
            "http://",
            "http://h:0/",
            "http://h:99999/",
            "http://u:p@h/",
            "http://h/a b",
            "http://[::1/",
            "h:80",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_never_show_the_path_or_credentials() {
        assert_eq!(redact("http://h:1/secret?token=x"), "http://h:1");
        assert_eq!(redact("http://u:p@h/s"), "http://h");
        let err = Endpoint::parse("http://u:p@h/secret").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(!err.to_string().contains("u:p"), "{err}");
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 500\r\n"), Some(500));
        assert_eq!(parse_status(b"HTTP/2 200\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 99999\r\n"), None);
        assert_eq!(parse_status(b""), None);
        assert_eq!(parse_status(b"\xff\xfe"), None);
    }
}
