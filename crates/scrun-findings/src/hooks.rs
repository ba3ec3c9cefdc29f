//! Response hooks: programs run on findings, outside the sandboxed supervisor worker.
//!
//! The worker may not run programs (its seccomp filter kills it on `execve`), so it writes
//! the findings some hook wants, one JSON line each, into a non-blocking pipe with
//! [`PipeSink`]. An unsandboxed runner process reads the other end with [`run_hook_loop`] and
//! runs the matching hooks one at a time, each with the finding on stdin, a few `SCRUN_*`
//! variables and a timeout.

use std::fs::File as FsFile;
use std::io::{self, BufRead, ErrorKind, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::category::Category;
use crate::model::{Finding, Severity};
use crate::props;
use crate::ratelimit::{RateLimit, WARN_INTERVAL};
use crate::sink::{MAX_LINE, Sink, SinkError, encode_line};

/// The `PATH` hooks run with (their environment is cleared first).
pub const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The pipe size [`PipeSink::new`] asks for (best effort): room for a burst of findings.
const PIPE_SIZE: i32 = 1 << 20;

/// A response hook: which program runs on which findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSpec {
    /// Absolute path of the executable.
    pub path: PathBuf,
    /// Categories it runs on: exact SCC strings, slugs or CTD API names; empty means all.
    pub categories: Vec<String>,
    /// Runs only on findings at least this severe.
    pub min_severity: Option<Severity>,
    /// Killed (with its process group) after this long.
    pub timeout: Duration,
}

impl HookSpec {
    /// A hook on every finding with a 10 s timeout.
    pub fn new(path: impl Into<PathBuf>) -> HookSpec {
        HookSpec {
            path: path.into(),
            categories: Vec::new(),
            min_severity: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// True if this hook runs on `finding`.
    pub fn matches(&self, finding: &Finding) -> bool {
        let category_ok = self.categories.is_empty()
            || self
                .categories
                .iter()
                .any(|want| category_matches(want, &finding.category));
        let severity_ok = self.min_severity.is_none_or(|min| finding.severity >= min);
        category_ok && severity_ok
    }
}

fn category_matches(want: &str, got: &str) -> bool {
    want == got || want.parse::<Category>().is_ok_and(|c| c.as_str() == got)
}

#[derive(Debug)]
struct PipeState {
    file: FsFile,
    /// The unwritten end of a line the pipe took only part of.
    partial: Vec<u8>,
}

/// Writes findings as JSON lines to a non-blocking pipe; a full pipe drops the finding.
///
/// A line the pipe takes only part of is finished before any other line is written, so the
/// reader never sees two lines mixed; findings that arrive meanwhile are dropped.
#[derive(Debug)]
pub struct PipeSink {
    state: Mutex<PipeState>,
    hooks: Option<Vec<HookSpec>>,
    written: AtomicU64,
    dropped: AtomicU64,
    warn: RateLimit,
}

impl PipeSink {
    /// Takes the write end of a pipe, makes it `O_NONBLOCK` and asks for a 1 MiB pipe buffer
    /// (best effort).
    pub fn new(fd: OwnedFd) -> Result<PipeSink, SinkError> {
        let raw = fd.as_raw_fd();
        let flags =
            fcntl(raw, FcntlArg::F_GETFL).map_err(|source| SinkError::Pipe { cause: source })?;
        let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
        fcntl(raw, FcntlArg::F_SETFL(flags)).map_err(|source| SinkError::Pipe { cause: source })?;
        // Not a pipe, or over /proc/sys/fs/pipe-max-size: keep the default size.
        let _ = fcntl(raw, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
        Ok(PipeSink {
            state: Mutex::new(PipeState {
                file: FsFile::from(fd),
                partial: Vec::new(),
            }),
            hooks: None,
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            warn: RateLimit::new(WARN_INTERVAL),
        })
    }

    /// Writes only the findings at least one of `hooks` runs on (none if `hooks` is empty).
    pub fn for_hooks(mut self, hooks: &[HookSpec]) -> PipeSink {
        self.hooks = Some(hooks.to_vec());
        self
    }

    /// Findings written (at least started) into the pipe.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Findings dropped because the pipe was full or its reader gone.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn drop_one(&self, why: &io::Error) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if self.warn.allow() {
            tracing::warn!(
                dropped,
                written = self.written(),
                "hook pipe: dropping findings: {why} (this warning is shown at most once per {}s)",
                WARN_INTERVAL.as_secs()
            );
        }
    }
}

/// Writes as much of `buf` as the non-blocking fd takes now.
fn write_some(file: &mut FsFile, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.write(&buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock && done > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl Sink for PipeSink {
    /// Never blocks. Dropped findings are counted and warned about at most every 10 s; only a
    /// finding that cannot be serialized is an error.
    fn emit(&self, finding: &Finding) -> Result<(), SinkError> {
        if let Some(hooks) = &self.hooks {
            if !hooks.iter().any(|h| h.matches(finding)) {
                return Ok(());
            }
        }
        let line = encode_line(finding, MAX_LINE)?;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *st;
        if !st.partial.is_empty() {
            match write_some(&mut st.file, &st.partial) {
                Ok(n) => {
                    st.partial.drain(..n);
                }
                Err(e) => {
                    self.drop_one(&e);
                    return Ok(());
                }
            }
            if !st.partial.is_empty() {
                self.drop_one(&io::Error::from(ErrorKind::WouldBlock));
                return Ok(());
            }
        }
        match write_some(&mut st.file, &line) {
            Ok(n) if n == line.len() => {
                self.written.fetch_add(1, Ordering::Relaxed);
            }
            Ok(0) => self.drop_one(&io::Error::from(ErrorKind::WouldBlock)),
            Ok(n) => {
                st.partial.extend_from_slice(&line[n..]);
                self.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.drop_one(&e),
        }
        Ok(())
    }
}

/// What [`run_hook_loop`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HookStats {
    /// Findings read.
    pub findings: u64,
    /// Lines that were not a finding (or longer than [`MAX_LINE`]).
    pub skipped: u64,
    /// Hook runs started.
    pub runs: u64,
    /// Runs that could not start, exited non-zero or died of a signal (timeouts included).
    pub failed: u64,
    /// Runs killed at their timeout.
    pub timed_out: u64,
}

/// Reads JSON-line findings from `input` until end of file and runs every hook that
/// [matches](HookSpec::matches) each, one at a time, waiting for each (at most its timeout).
///
/// Each run gets the finding line on stdin, stdout to `/dev/null`, the runner's stderr, `/` as
/// working directory, its own process group (killed with `SIGKILL` at the timeout) and an
/// environment of only `PATH` ([`HOOK_PATH`]), `env`, and `SCRUN_FINDING_ID`,
/// `SCRUN_CATEGORY`, `SCRUN_SEVERITY`, `SCRUN_CONTAINER_ID`, `SCRUN_BINARY_PATH`,
/// `SCRUN_BINARY_SHA256`, `SCRUN_LIBRARY_PATH` and `SCRUN_LIBRARY_SHA256` (empty when the
/// finding has no such value; the library ones are set on library findings). Values come from the
/// container: hooks must quote them. The runner should ignore `SIGPIPE` (Rust binaries do).
pub fn run_hook_loop(
    mut input: impl BufRead,
    hooks: &[HookSpec],
    env: &[(String, String)],
) -> HookStats {
    let mut stats = HookStats::default();
    let fail_warn = RateLimit::new(WARN_INTERVAL);
    let mut line = Vec::new();
    loop {
        match read_bounded_line(&mut input, &mut line, MAX_LINE + 1) {
            Ok(Line::Eof) => break,
            Ok(Line::TooLong) => stats.skipped += 1,
            Ok(Line::Complete) => {
                let Ok(finding) = serde_json::from_slice::<Finding>(&line) else {
                    stats.skipped += 1;
                    continue;
                };
                stats.findings += 1;
                for hook in hooks.iter().filter(|h| h.matches(&finding)) {
                    stats.runs += 1;
                    let outcome = run_one(hook, &line, &finding, env);
                    if let Some(why) = outcome.failure() {
                        stats.failed += 1;
                        if matches!(outcome, Outcome::TimedOut) {
                            stats.timed_out += 1;
                        }
                        if fail_warn.allow() {
                            tracing::warn!(
                                hook = %hook.path.display(),
                                finding = finding.id(),
                                failed = stats.failed,
                                runs = stats.runs,
                                "response hook failed: {why} (shown at most once per {}s)",
                                WARN_INTERVAL.as_secs()
                            );
                        } else {
                            tracing::debug!(hook = %hook.path.display(), finding = finding.id(), "response hook failed: {why}");
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!("response hook runner: cannot read findings, stopping: {e}");
                break;
            }
        }
    }
    stats
}

enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Reads one `\n`-terminated line into `buf` (without the newline), keeping at most `max`
/// bytes; a longer line is consumed and reported as [`Line::TooLong`].
fn read_bounded_line(input: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let avail = match input.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::Eof,
                (true, true) => Line::TooLong,
                (true, false) => Line::Complete,
            });
        }
        any = true;
        let (chunk, used, end) = match avail.iter().position(|b| *b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        input.consume(used);
        if end {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

enum Outcome {
    Exited(ExitStatus),
    TimedOut,
    SpawnFailed(io::Error),
    WaitFailed(io::Error),
}

impl Outcome {
    fn failure(&self) -> Option<String> {
        match self {
            Outcome::Exited(s) if s.success() => None,
            Outcome::Exited(s) => Some(format!("exited with {s}")),
            Outcome::TimedOut => Some("killed at its timeout".to_owned()),
            Outcome::SpawnFailed(e) => Some(format!(
                "cannot run it: {e}; check that it exists and is executable"
            )),
            Outcome::WaitFailed(e) => Some(format!("cannot wait for it: {e}")),
        }
    }
}

/// The `SCRUN_*` variables describing `f` (NULs, which no environment can hold, removed).
pub fn finding_env(f: &Finding) -> Vec<(&'static str, String)> {
    let binary = f.processes.first().and_then(|p| p.binary.as_ref());
    let library = f.processes.first().and_then(|p| p.libraries.first());
    let clean = |s: &str| s.replace('\0', "");
    vec![
        ("SCRUN_FINDING_ID", clean(f.id())),
        ("SCRUN_CATEGORY", clean(&f.category)),
        ("SCRUN_SEVERITY", f.severity.as_str().to_owned()),
        (
            "SCRUN_CONTAINER_ID",
            clean(f.prop_str(props::CONTAINER_ID).unwrap_or_default()),
        ),
        (
            "SCRUN_BINARY_PATH",
            clean(binary.map(|b| b.path.as_str()).unwrap_or_default()),
        ),
        (
            "SCRUN_BINARY_SHA256",
            clean(binary.map(|b| b.sha256.as_str()).unwrap_or_default()),
        ),
        // A library finding: the file mapped executable (empty otherwise).
        (
            "SCRUN_LIBRARY_PATH",
            clean(library.map(|b| b.path.as_str()).unwrap_or_default()),
        ),
        (
            "SCRUN_LIBRARY_SHA256",
            clean(library.map(|b| b.sha256.as_str()).unwrap_or_default()),
        ),
    ]
}

fn run_one(hook: &HookSpec, line: &[u8], finding: &Finding, env: &[(String, String)]) -> Outcome {
    let mut cmd = Command::new(&hook.path);
    cmd.env_clear()
        .env("PATH", HOOK_PATH)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .envs(finding_env(finding))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::SpawnFailed(e),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let mut body = line.to_vec();
        body.push(b'\n');
        // A hook that never reads stdin must not stall the runner: the write happens on a
        // thread that ends when the hook exits or is killed (EPIPE).
        let spawned = thread::Builder::new()
            .name("scrun-hook-stdin".into())
            .spawn(move || {
                let _ = stdin.write_all(&body);
            });
        if spawned.is_err() {
            kill_group(&mut child);
            return Outcome::WaitFailed(io::Error::other("cannot start the stdin writer"));
        }
    }
    wait_bounded(&mut child, hook.timeout)
}

fn wait_bounded(child: &mut Child, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(2);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Outcome::Exited(status),
            Ok(None) => {}
            Err(e) => {
                kill_group(child);
                return Outcome::WaitFailed(e);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill_group(child);
            return Outcome::TimedOut;
        }
        thread::sleep(nap.min(left));
        nap = (nap * 2).min(Duration::from_millis(50));
    }
}

/// SIGKILLs the child's process group (it leads one) and reaps the child.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn categories_match_by_exact_string_slug_or_api_name() {
        let f = Finding::new(Category::AddedBinaryExecuted, Utc::now());
        let mut h = HookSpec::new("/x");
        assert!(h.matches(&f));
        h.categories = vec!["fileless-memfd".into()];
        assert!(!h.matches(&f));
        for want in [
            "added-binary",
            "Execution: Added Binary Executed",
            "ADDED_BINARY_EXECUTED",
        ] {
            h.categories = vec!["fileless-memfd".into(), want.into()];
            assert!(h.matches(&f), "{want}");
        }
        let mut other = f.clone();
        other.category = "Custom: Thing".into();
        h.categories = vec!["Custom: Thing".into()];
        assert!(h.matches(&other));
        assert!(!h.matches(&f));
    }

    #[test]
    fn min_severity_is_inclusive() {
        let low = Finding::new(Category::AddedBinaryExecuted, Utc::now());
        let high = Finding::new(Category::FilelessMemfd, Utc::now());
        let crit = Finding::new(Category::AddedMaliciousBinaryExecuted, Utc::now());
        let mut h = HookSpec::new("/x");
        h.min_severity = Some(Severity::High);
        assert!(!h.matches(&low));
        assert!(h.matches(&high));
        assert!(h.matches(&crit));
    }

    #[test]
    fn bounded_lines() {
        let mut input = io::BufReader::with_capacity(4, &b"abc\n0123456789\nxy"[..]);
        let mut buf = Vec::new();
        assert!(matches!(
            read_bounded_line(&mut input, &mut buf, 5),
            Ok(Line::Complete)
        ));
        assert_eq!(buf, b"abc");
        assert!(matches!(
            read_bounded_line(&mut input, &mut buf, 5),
            Ok(Line::TooLong)
        ));
        assert!(matches!(
            read_bounded_line(&mut input, &mut buf, 5),
            Ok(Line::Complete)
        ));
        assert_eq!(buf, b"xy");
        assert!(matches!(
            read_bounded_line(&mut input, &mut buf, 5),
            Ok(Line::Eof)
        ));
    }
}
