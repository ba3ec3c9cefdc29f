//! Bounded child processes: every command a test runs has a deadline.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A command line rendered for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run `cmd` with stdin closed, capture stdout and stderr, and kill it after `secs` seconds.
pub fn run_with_timeout(cmd: &mut Command, secs: u64) -> Result<Output> {
    run_with_input(cmd, None, secs)
}

/// Like [`run_with_timeout`], feeding `input` on stdin when given.
pub fn run_with_input(cmd: &mut Command, input: Option<&[u8]>, secs: u64) -> Result<Output> {
    let command = describe(cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        command: command.clone(),
        source,
    })?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        let data = data.to_vec();
        thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    if let Some(mut out) = child.stdout.take() {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            let _ = tx.send((true, buf));
        });
    }
    if let Some(mut err) = child.stderr.take() {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            let _ = tx.send((false, buf));
        });
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = wait_until(&mut child, deadline);
    // Readers end when every holder of the pipes is gone; a daemonized grandchild may keep them
    // open, so collecting is bounded too.
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let grace = Instant::now() + Duration::from_secs(5);
    for _ in 0..2 {
        let left = grace.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((true, b)) => stdout = b,
            Ok((false, b)) => stderr = b,
            Err(_) => break,
        }
    }
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(Error::Timeout {
            command,
            secs,
            output: format!(
                "stdout: {}\nstderr: {}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            ),
        }),
    }
}

/// Wait for `child` until `deadline`; on timeout kill it, reap it and return `None`.
pub fn wait_until(child: &mut std::process::Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Run `cmd` with a deadline and require exit status 0.
pub fn run_ok(cmd: &mut Command, secs: u64) -> Result<Output> {
    let out = run_with_timeout(cmd, secs)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(Error::Failed {
            command: describe(cmd),
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// The full path of `program` on PATH, or an error naming the package to install.
pub fn require_program(program: &str, package: &str) -> Result<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::MissingProgram {
            program: program.into(),
            package: package.into(),
        })
}

/// Stdout of an [`Output`] as a string (lossy).
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of an [`Output`] as a string (lossy).
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit code, or `128 + signal` when killed by a signal (as a shell reports it).
pub fn exit_code(status: &ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Poll `f` every 100 ms until it is true; panics with `what` after `secs`.
pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + std::time::Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// Waits (up to `secs`, polling every `poll`) until the daemon `d` is `ready`. Fails at once if
/// it has `exited`, and with its `log` in either failure.
pub fn wait_daemon_ready<D>(
    d: &mut D,
    engine: &str,
    secs: u64,
    poll: Duration,
    exited: impl Fn(&mut D) -> Option<ExitStatus>,
    ready: impl Fn(&D) -> bool,
    log: impl Fn(&D) -> String,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = exited(d) {
            return Err(Error::NotReady {
                engine: format!("{engine} (exited: {status})"),
                secs,
                log: log(d),
            });
        }
        if ready(d) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::NotReady {
                engine: engine.into(),
                secs,
                log: log(d),
            });
        }
        thread::sleep(poll);
    }
}
