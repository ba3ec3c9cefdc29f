//! The harness error type.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Why a harness step failed. Tests usually `expect()` these: the message is the diagnosis.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A prerequisite program is not installed.
    #[error("{program} not found on PATH: install {package} (see .ci/run)")]
    MissingProgram { program: String, package: String },
    /// The scrun binary under test does not exist.
    #[error(
        "scrun binary not found at {path}: build it with `cargo build -p scrun` or set SCRUN_BIN to its path"
    )]
    MissingScrun { path: PathBuf },
    /// A child process could not be started.
    #[error("failed to start {command}: {source}; check that the program exists and is executable")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    /// A child process ran past its deadline and was killed.
    #[error("{command} did not finish within {secs} s and was killed; output so far:\n{output}")]
    Timeout {
        command: String,
        secs: u64,
        output: String,
    },
    /// A child process exited unsuccessfully where success was required.
    #[error("{command} failed ({status}):\nstdout: {stdout}\nstderr: {stderr}")]
    Failed {
        command: String,
        status: ExitStatus,
        stdout: String,
        stderr: String,
    },
    /// An engine did not become ready in time.
    #[error("{engine} did not become ready within {secs} s; its log:\n{log}")]
    NotReady {
        engine: String,
        secs: u64,
        log: String,
    },
    /// A file or directory operation failed.
    #[error("{op} {path} failed: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A configuration snippet could not be parsed or has the wrong shape.
    #[error("bad config {path}: {reason}; fix the snippet")]
    Config { path: PathBuf, reason: String },
    /// A CRI call failed.
    #[error("CRI {call} failed: {reason}; see the containerd log")]
    Cri { call: &'static str, reason: String },
}

/// Result alias for the harness.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { op, path, source }
}

/// Writes `contents` to `path` (a test's config, feed or fixture), the error naming the file.
pub fn write_file(path: &std::path::Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents).map_err(io("write", path))
}

/// A test binary's one shared environment (a private engine and what its tests need), set up by
/// the first test that asks for it; a failed setup fails every such test with `cannot {what}`
/// and the reason.
pub fn shared_env<T: Sync>(
    cell: &'static std::sync::OnceLock<std::result::Result<T, String>>,
    what: &str,
    setup: impl FnOnce() -> Result<T>,
) -> &'static T {
    cell.get_or_init(|| setup().map_err(|e| e.to_string()))
        .as_ref()
        .unwrap_or_else(|e| panic!("cannot {what}: {e}"))
}
