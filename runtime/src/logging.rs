//! runc-shaped logs. containerd's shim reads the last `{"level":"error","msg":…}` line of
//! `--log`; podman reads the whole `oci-log` file as one JSON object. So: logrus field names and
//! values (`level` lower-case, `msg`, `time`), the file opened with O_APPEND, and at the default level
//! nothing but the one final error line.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
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
        let mut v = MsgVisitor(String::new());
        event.record(&mut v);
        self.sink
            .write_record(level_name(event.metadata().level()), v.0.trim());
    }
}

/// The sink the global subscriber writes to (set by [`init`]).
static INSTALLED: OnceLock<LogSink> = OnceLock::new();

/// In a supervisor forked from the CLI: every log line from now on goes to /dev/null. The
/// descriptor the subscriber writes to stays open (now on /dev/null, and kept by
/// `close_inherited_fds` through [`sink_fd`]) so that no file opened later can take its number and
/// receive log lines. With no `--log` file the lines went to stderr, which the caller points at
/// /dev/null itself.
pub fn discard_after_fork() {
    let Some(fd) = sink_fd() else { return };
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
    }
}

/// The descriptor of the `--log` file the subscriber writes to, if any: a forked process that
/// closes the descriptors it inherited must keep this one (see [`discard_after_fork`]).
pub fn sink_fd() -> Option<RawFd> {
    let file = INSTALLED.get()?.file.as_ref()?;
    Some(file.lock().ok()?.as_raw_fd())
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
    let build_errors = Targets::new().with_target("libcontainer", LevelFilter::ERROR);
    if tracing_subscriber::registry()
        .with(RuncLayer { sink: sink.clone() }.with_filter(filter))
        .with(BuildErrorLayer.with_filter(build_errors))
        .try_init()
        .is_ok()
    {
        let _ = INSTALLED.set(sink.clone());
    }
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
