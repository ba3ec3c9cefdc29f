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
    if tracing_subscriber::registry()
        .with(RuncLayer { sink: sink.clone() }.with_filter(filter))
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
