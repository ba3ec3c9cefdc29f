//! runc-shaped logs. containerd's shim reads the last `{"level":"error","msg":…}` line of
//! `--log`; podman reads the whole `oci-log` file as one JSON object. So: logrus field names and
//! values (`level` lower-case, `msg`, `time`), the file opened with O_APPEND, and at the default level
//! nothing but the one final error line.
//!
//! The supervisor processes (keeper, worker, hook runner) outlive `create`, and containerd reads
//! the caller's `--log` for the error of the command it ran: they never write there. They log into
//! the container's own [`ContainerLog`] (`supervisor.log` beside its state, `scrun logs ID`), in
//! the `--log-format` the container was created with, library crates' events included, every
//! line rate-limited per call site and the file bounded in size ([`to_container_log`]).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use scrun_findings::ratelimit::RateLimiter;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Registry, reload};

/// runc's `--log-format`. Kept in the container's state (`Json` for state files from before it
/// was: the supervisor log was always JSON then).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    #[default]
    Json,
}

/// Where log lines go: the `--log` file (appended) or stderr.
#[derive(Clone)]
pub struct LogSink {
    file: Option<Arc<Mutex<File>>>,
    format: Format,
}

impl LogSink {
    pub fn open(path: Option<&Path>, format: Format) -> io::Result<Self> {
        let file = match path {
            Some(p) if p != Path::new("/dev/stderr") => Some(Arc::new(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o644)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(p)?,
            ))),
            _ => None,
        };
        Ok(Self { file, format })
    }

    /// Lines to stderr (a process with no `--log` file).
    fn to_stderr_in(format: Format) -> Self {
        Self { file: None, format }
    }

    pub fn to_stderr(&self) -> bool {
        self.file.is_none()
    }

    /// Write one record as a single line with a single write.
    pub fn write_record(&self, level: &str, msg: &str) {
        let line = render(self.format, level, msg, &now_rfc3339());
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = io::stderr().lock().write_all(line.as_bytes());
            }
        }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// One runc/logrus-shaped line, newline included.
pub fn render(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        Format::Json => {
            let v = serde_json::json!({"level": level, "msg": msg, "time": time});
            format!("{v}\n")
        }
        Format::Text => {
            let msg = serde_json::to_string(msg).unwrap_or_default();
            format!("time=\"{time}\" level={level} msg={msg}\n")
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

struct MsgVisitor(String);

impl Visit for MsgVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
            if self.0.starts_with('"') {
                self.0 = self.0.trim_matches('"').to_string();
            }
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

struct RuncLayer {
    sink: LogSink,
}

impl<S: Subscriber> Layer<S> for RuncLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = level_name(meta.level());
        let message = || {
            let mut v = MsgVisitor(String::new());
            event.record(&mut v);
            v.0.trim().to_string()
        };
        match CONTAINER_LOG.get() {
            Some(log) => {
                let site = (
                    meta.file().unwrap_or(meta.target()),
                    meta.line().unwrap_or(0),
                );
                log.write_with(level, site, message);
            }
            None => self.sink.write_record(level, &message()),
        }
    }
}

/// The sink the global subscriber writes to (set by [`init`]).
static INSTALLED: OnceLock<LogSink> = OnceLock::new();
/// The global subscriber's filter, replaced in the supervisor processes ([`to_container_log`]).
static FILTER: OnceLock<reload::Handle<Targets, Registry>> = OnceLock::new();
/// Where the global subscriber writes in a supervisor process.
static CONTAINER_LOG: OnceLock<ContainerLog> = OnceLock::new();

/// In a supervisor forked from the CLI: nothing from now on goes to the caller's `--log` file.
/// The descriptor the subscriber wrote to stays open (now on /dev/null, and kept by
/// `close_inherited_fds` through [`log_fds`]) so that no file opened later can take its number
/// and receive log lines. With no `--log` file the lines went to stderr, which the caller points
/// at /dev/null itself.
fn discard_after_fork() {
    let Some(fd) = sink_fd() else { return };
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
    }
}

/// The descriptor of the `--log` file the subscriber writes to, if any.
fn sink_fd() -> Option<RawFd> {
    let file = INSTALLED.get()?.file.as_ref()?;
    Some(file.lock().ok()?.as_raw_fd())
}

/// The descriptors the global subscriber writes to (the `--log` file, now on /dev/null, and the
/// container log): a forked process that closes the descriptors it inherited must keep these.
pub fn log_fds() -> Vec<RawFd> {
    let container = CONTAINER_LOG.get().and_then(ContainerLog::raw_fd);
    sink_fd().into_iter().chain(container).collect()
}

/// What the supervisor processes log: scrun's and its library crates' events from info up.
fn container_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::OFF)
        .with_target("scrun", LevelFilter::INFO)
        .with_target("scrun_kernel", LevelFilter::INFO)
        .with_target("scrun_detect", LevelFilter::INFO)
        .with_target("scrun_findings", LevelFilter::INFO)
}

/// In a supervisor process (the keeper, forked from `create` or executed; the hook runner):
/// from now on the global subscriber writes into the container log at `path`, in `format`,
/// library crates' events included, never into the caller's `--log` file again. The worker,
/// forked from the keeper, inherits this.
pub fn to_container_log(path: &Path, format: Format) {
    discard_after_fork();
    let _ = CONTAINER_LOG.set(ContainerLog::open(path, format));
    match FILTER.get() {
        Some(handle) => {
            let _ = handle.reload(container_filter());
        }
        None => install(&LogSink::to_stderr_in(format), container_filter()),
    }
}

fn install(sink: &LogSink, filter: Targets) {
    let (filter, handle) = reload::Layer::new(filter);
    if tracing_subscriber::registry()
        .with(RuncLayer { sink: sink.clone() }.with_filter(filter))
        .with(
            BuildErrorLayer
                .with_filter(Targets::new().with_target("libcontainer", LevelFilter::ERROR)),
        )
        .try_init()
        .is_ok()
    {
        let _ = INSTALLED.set(sink.clone());
        let _ = FILTER.set(handle);
    }
}

/// libcontainer's error events during a container build, from scrun and from every process forked
/// for the container (see [`record_build_errors`]).
static BUILD_ERRORS: OnceLock<File> = OnceLock::new();

/// Record libcontainer's error events from now on in an unlinked file in `dir` (close-on-exec, so
/// it never reaches the container's process). A container's init reports why it failed only as a
/// log line in its own process (its parent then sees the failure as a closed channel), so this is
/// how the CLI learns the cause: see [`build_errors`]. libcontainer only marks inherited
/// descriptors close-on-exec in the init, so the file stays valid there until the exec. Call it
/// after forking the supervisor, which must not inherit it.
pub fn record_build_errors(dir: &Path) -> io::Result<()> {
    if BUILD_ERRORS.get().is_some() {
        return Ok(());
    }
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .mode(0o600)
        .open(dir)?;
    let _ = BUILD_ERRORS.set(file);
    Ok(())
}

/// The error lines recorded by processes other than this one (the container's intermediate and
/// init processes), oldest first.
pub fn build_errors() -> Vec<String> {
    use std::os::unix::fs::FileExt;
    let Some(file) = BUILD_ERRORS.get() else {
        return Vec::new();
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match file.read_at(&mut chunk, buf.len() as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 1 << 20 {
            break;
        }
    }
    let me = std::process::id().to_string();
    String::from_utf8_lossy(&buf)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(pid, _)| *pid != me)
        .map(|(_, msg)| msg.replace("\\n", "\n"))
        .collect()
}

struct BuildErrorLayer;

impl<S: Subscriber> Layer<S> for BuildErrorLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(mut file) = BUILD_ERRORS.get() else {
            return;
        };
        let mut v = MsgVisitor(String::new());
        event.record(&mut v);
        let line = format!(
            "{}\t{}\n",
            std::process::id(),
            v.0.trim().replace('\n', "\\n")
        );
        let _ = file.write_all(line.as_bytes());
    }
}

/// Install the global subscriber. Without `--debug` only scrun's own warnings are logged
/// (libcontainer's error lines would repeat the final error, and podman wants one object).
pub fn init(sink: &LogSink, debug: bool) {
    let filter = if debug {
        Targets::new().with_default(LevelFilter::DEBUG)
    } else {
        Targets::new()
            .with_default(LevelFilter::OFF)
            .with_target("scrun", LevelFilter::WARN)
    };
    install(sink, filter);
}

/// Bound of a container log; past it the file is moved to `<name>.1` (replacing the previous
/// one) and a new one begun, so a container's logs take at most twice this.
pub const CONTAINER_LOG_MAX_BYTES: u64 = 1024 * 1024;
/// Per call site: this many lines at once, then one per [`CONTAINER_LOG_EVERY`].
const CONTAINER_LOG_BURST: u32 = 20;
const CONTAINER_LOG_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// A log file of a container's supervisor processes: every line a container can trigger goes
/// through a token bucket of its call site, so an exec storm cannot fill the disk nor one noisy
/// site silence the others; how many lines a site dropped is said with its next line. The
/// message is formatted only when the line is written.
pub struct ContainerLog {
    path: PathBuf,
    format: Format,
    max_bytes: u64,
    file: Mutex<Option<File>>,
    limiter: RateLimiter<(&'static str, u32)>,
}

impl ContainerLog {
    pub fn open(path: &Path, format: Format) -> Self {
        Self::with_bound(path, format, CONTAINER_LOG_MAX_BYTES)
    }

    fn with_bound(path: &Path, format: Format, max_bytes: u64) -> Self {
        ContainerLog {
            path: path.to_path_buf(),
            format,
            max_bytes,
            file: Mutex::new(open_append(path).ok()),
            limiter: RateLimiter::new(CONTAINER_LOG_BURST, CONTAINER_LOG_EVERY),
        }
    }

    /// The rotated file beside `path`.
    pub fn rotated(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_os_string();
        name.push(".1");
        PathBuf::from(name)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.file.lock().ok()?.as_ref()?.as_raw_fd())
    }

    #[track_caller]
    pub fn warn(&self, msg: std::fmt::Arguments<'_>) {
        let at = std::panic::Location::caller();
        self.write_with("warning", (at.file(), at.line()), || msg.to_string());
    }

    #[track_caller]
    pub fn error(&self, msg: std::fmt::Arguments<'_>) {
        let at = std::panic::Location::caller();
        self.write_with("error", (at.file(), at.line()), || msg.to_string());
    }

    /// One line from call site `site`, unless its bucket is empty.
    pub fn write_with(&self, level: &str, site: (&'static str, u32), msg: impl FnOnce() -> String) {
        let Some(dropped) = self.limiter.allow(site) else {
            return;
        };
        let time = now_rfc3339();
        let mut text = String::new();
        if dropped > 0 {
            let note = format!(
                "{dropped} log lines from {}:{} dropped by the rate limit",
                site.0, site.1
            );
            text.push_str(&render(self.format, "warning", &note, &time));
        }
        text.push_str(&render(self.format, level, &msg(), &time));
        self.append(text.as_bytes());
    }

    /// Appends `text`, first moving a full file aside. The keeper and the worker share the
    /// file: one that finds its descriptor no longer on `path` (the other rotated it) only
    /// reopens `path`.
    fn append(&self, text: &[u8]) {
        use std::os::unix::fs::MetadataExt;
        let Ok(mut guard) = self.file.lock() else {
            return;
        };
        if guard.is_none() {
            *guard = open_append(&self.path).ok();
        }
        let Some(file) = guard.as_mut() else { return };
        if let Ok(m) = file.metadata() {
            if m.len() + text.len() as u64 > self.max_bytes {
                let ours = std::fs::metadata(&self.path)
                    .is_ok_and(|p| p.ino() == m.ino() && p.dev() == m.dev());
                if ours {
                    let _ = std::fs::rename(&self.path, Self::rotated(&self.path));
                }
                if let Ok(f) = open_append(&self.path) {
                    *file = f;
                }
            }
        }
        let _ = file.write_all(text);
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_is_what_containerd_decodes() {
        let line = render(Format::Json, "error", "container \"x\" does not exist", "T");
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert_eq!(v["time"], "T");
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn text_line_is_logrus_shaped() {
        let line = render(Format::Text, "error", "bad \"thing\"", "T");
        assert_eq!(line, "time=\"T\" level=error msg=\"bad \\\"thing\\\"\"\n");
    }

    #[test]
    fn a_noisy_call_site_does_not_silence_another() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("supervisor.log");
        let log = ContainerLog::open(&p, Format::Json);
        for i in 0..1000 {
            log.warn(format_args!("noisy {i}"));
        }
        log.error(format_args!("quiet"));
        let text = std::fs::read_to_string(&p).unwrap();
        let noisy = text.lines().filter(|l| l.contains("noisy")).count();
        assert_eq!(noisy, CONTAINER_LOG_BURST as usize, "{text}");
        let quiet: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(quiet["level"], "error");
        assert_eq!(quiet["msg"], "quiet");
        assert!(quiet["time"].is_string());
    }

    #[test]
    fn the_container_log_is_in_the_format_of_create() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("supervisor.log");
        ContainerLog::open(&p, Format::Text).warn(format_args!("a \"b\""));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("time=\"") && text.ends_with("level=warning msg=\"a \\\"b\\\"\"\n"),
            "{text}"
        );
    }

    #[test]
    fn the_container_log_is_bounded_and_rotated_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("supervisor.log");
        let log = ContainerLog::with_bound(&p, Format::Json, 1000);
        let other = ContainerLog::with_bound(&p, Format::Json, 1000);
        // Distinct call sites (lines), so the rate limit does not hold them back.
        for i in 0..40u32 {
            let site = ("test", i);
            log.write_with("info", site, || format!("line {i} {}", "x".repeat(40)));
            other.write_with("info", site, || format!("other {i} {}", "y".repeat(40)));
        }
        let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let rotated = ContainerLog::rotated(&p);
        assert!(len(&p) <= 1000, "{}", len(&p));
        assert!(
            len(&rotated) > 0 && len(&rotated) <= 1000,
            "{}",
            len(&rotated)
        );
        let last = std::fs::read_to_string(&p).unwrap();
        assert!(last.contains("other 39"), "{last}");
        assert!(!dir.path().join("supervisor.log.1.1").exists());
    }

    #[test]
    fn log_file_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.json");
        std::fs::write(
            &p,
            "{\"level\":\"info\",\"msg\":\"before\",\"time\":\"T\"}\n",
        )
        .unwrap();
        let sink = LogSink::open(Some(&p), Format::Json).unwrap();
        sink.write_record("error", "one");
        sink.write_record("error", "two");
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("before"));
        assert!(lines[2].contains("\"two\""));
    }
}
