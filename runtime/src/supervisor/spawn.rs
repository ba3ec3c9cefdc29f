//! Starting and stopping the supervisor's processes: the keeper (forked from `create`, or
//! executed as `scrun supervise DIR`), its worker (forked from the keeper), the response hook
//! runner, and the readiness pipe each of them answers on. What each process then runs is passed
//! in (`keeper::main`, `worker::main`), so this module depends on neither.

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::health;
use crate::scrun_dir::ScrunDir;

/// The keeper's life, run in the forked keeper: `(dir, readiness fd, listener socket fd)`.
pub type KeeperMain = fn(&ScrunDir, RawFd, Option<RawFd>) -> Result<()>;
/// The worker's life, run in the forked worker: `(dir, readiness pipe)` -> exit code.
pub type WorkerMain = fn(&ScrunDir, fs::File) -> i32;

/// A supervisor process on its way up.
pub struct Starting {
    pid: u32,
    ready: fs::File,
    sdir: ScrunDir,
}

/// The keeper's worker: a forked copy of the keeper (no second exec of the runtime, ~1.3 ms of
/// CPU less per container), in its own process group, reaped by the keeper.
pub struct WorkerProc {
    pid: nix::unistd::Pid,
}

impl WorkerProc {
    /// Forks the worker from the (single-threaded) keeper and waits for its readiness line.
    pub fn start(sdir: &ScrunDir, worker_main: WorkerMain) -> Result<WorkerProc> {
        // `ps` tells the worker from its keeper (`scrun state` and `delete` still recognise both
        // by "supervise DIR").
        let mut name = keeper_cmdline(sdir).to_vec();
        name.push(std::ffi::OsStr::new("(worker)"));
        let (pid, mut file) = fork_supervisor("worker", &name, |ready| {
            let _ =
                nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0));
            close_inherited_fds(&[ready.as_raw_fd()]);
            worker_main(sdir, ready)
        })?;
        let worker = WorkerProc {
            pid: nix::unistd::Pid::from_raw(pid),
        };
        if let Err(e) = read_ready(&mut file, pid.unsigned_abs(), sdir) {
            worker.kill_and_reap();
            return Err(e);
        }
        Ok(worker)
    }

    /// `Some(description)` once it has exited.
    pub fn exited(&self) -> Option<String> {
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => Some(format!("exit status: {c}")),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("signal: {sig}")),
            Ok(_) => None,
            Err(e) => Some(format!("waitpid: {e}")),
        }
    }

    pub fn kill_and_reap(&self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// The binary the supervisor processes run from: scrun's own file on the host, as it was invoked.
/// Not `/proc/self/exe`: in `create` that is the sealed binary (CVE-2019-5736): a detached
/// read-only overlay that a long-lived process would keep alive, or with the fallback a memfd copy
/// that would pin ~9 MiB of unshared memory per container. The supervisor never runs inside the
/// container, so it needs neither.
fn supervisor_binary(sdir: &ScrunDir) -> std::path::PathBuf {
    sdir.load_meta()
        .ok()
        .map(|m| m.scrun_bin)
        .filter(|p| p.is_absolute() && p.is_file())
        .unwrap_or_else(|| std::path::PathBuf::from("/proc/self/exe"))
}

/// Start the keeper with `listen` (the bound listener socket). The keeper is forked from this
/// process when it can be (no second exec of scrun: ~1.2 ms of CPU and the wait for the exec
/// less per container), else `scrun supervise DIR` is executed.
pub fn start_keeper(
    sdir: &ScrunDir,
    listen: std::os::fd::BorrowedFd<'_>,
    keeper_main: KeeperMain,
) -> Result<Starting> {
    if keeper_can_fork(sdir) {
        match fork_keeper(sdir, listen, keeper_main) {
            Ok(s) => return Ok(s),
            Err(e) => tracing::debug!(error = %e, "cannot fork the keeper; executing it"),
        }
    }
    exec_keeper(sdir, listen)
}

/// Forking keeps the running binary alive as long as the keeper: fine for the read-only overlay
/// mount `create` runs from, not for the memfd copy it falls back to (~6 MiB per container).
/// And the forked keeper must be able to show `scrun supervise DIR` in the place of the CLI's
/// arguments (`scrun state` and `delete` recognise it by that).
fn keeper_can_fork(sdir: &ScrunDir) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let from_memfd = fs::read_link("/proc/self/exe")
        .map(|p| p.as_os_str().as_bytes().starts_with(b"/memfd:"))
        .unwrap_or(true);
    let fits = scrun_kernel::process::cmdline_capacity()
        .is_ok_and(|n| n >= keeper_cmdline(sdir).iter().map(|a| a.len() + 1).sum());
    !from_memfd && fits
}

/// What a forked keeper shows as its command line.
fn keeper_cmdline(sdir: &ScrunDir) -> [&std::ffi::OsStr; 3] {
    [
        std::ffi::OsStr::new("scrun"),
        std::ffi::OsStr::new("supervise"),
        sdir.path.as_os_str(),
    ]
}

fn fork_keeper(
    sdir: &ScrunDir,
    listen: std::os::fd::BorrowedFd<'_>,
    keeper_main: KeeperMain,
) -> Result<Starting> {
    use std::os::fd::IntoRawFd;
    let (pid, ready) = fork_supervisor("keeper", &keeper_cmdline(sdir), |ready| {
        // Detach from the caller as an exec'd `scrun supervise` would be: no blocked signals,
        // stdio on /dev/null, no log lines into the caller's --log file.
        let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
        let _ = redirect_stdio_to_null();
        let Ok(listen) = nix::unistd::dup(listen.as_raw_fd()) else {
            return 1;
        };
        match keeper_main(sdir, ready.into_raw_fd(), Some(listen)) {
            Ok(()) => 0,
            Err(_) => 1,
        }
    })?;
    Ok(Starting {
        pid: pid.unsigned_abs(),
        ready,
        sdir: sdir.clone(),
    })
}

/// Forks a supervisor process (the keeper from `create`, the worker from the keeper; no second
/// exec of scrun) with a readiness pipe: the child shows `cmdline` in `ps`, runs `body` with the
/// pipe's write end and exits with its code; a panic ends the child (code 101, as an uncaught
/// panic would) instead of unwinding into the stack frames it was forked with. Returns the
/// child's pid and the read end.
fn fork_supervisor(
    what: &str,
    cmdline: &[&std::ffi::OsStr],
    body: impl FnOnce(fs::File) -> i32,
) -> Result<(i32, fs::File)> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    match scrun_kernel::process::fork_single_threaded()
        .with_context(|| format!("cannot fork the {what}"))?
    {
        scrun_kernel::process::Forked::Child => {
            drop(rd);
            let _ = scrun_kernel::process::set_cmdline(cmdline);
            let ready = fs::File::from(wr);
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(ready)))
                .unwrap_or(101);
            #[allow(clippy::exit)] // a forked child must never return into its parent's frames
            std::process::exit(code);
        }
        scrun_kernel::process::Forked::Parent { pid } => {
            drop(wr);
            Ok((pid, fs::File::from(rd)))
        }
    }
}

fn redirect_stdio_to_null() -> std::io::Result<()> {
    let null = fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..=2 {
        nix::unistd::dup2(null.as_raw_fd(), fd)?;
    }
    Ok(())
}

/// Execute `scrun supervise DIR` with `listen` as an inherited descriptor.
fn exec_keeper(sdir: &ScrunDir, listen: std::os::fd::BorrowedFd<'_>) -> Result<Starting> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    // dup() gives a descriptor without O_CLOEXEC: the one the supervisor inherits.
    let child_wr = nix::unistd::dup(wr.as_raw_fd()).context("dup")?;
    let child_wr = OwnedFdGuard(child_wr);
    drop(wr);
    let child_listen = OwnedFdGuard(nix::unistd::dup(listen.as_raw_fd()).context("dup")?);
    let mut cmd = supervise_command(sdir);
    cmd.arg("--ready-fd")
        .arg(child_wr.0.to_string())
        .arg("--listen-fd")
        .arg(child_listen.0.to_string())
        .stdin(Stdio::null())
        .process_group(0);
    let child = cmd.spawn().context("cannot run scrun supervise")?;
    drop(child_wr);
    drop(child_listen);
    Ok(Starting {
        pid: child.id(),
        ready: fs::File::from(rd),
        sdir: sdir.clone(),
    })
}

impl Starting {
    /// Waits (up to 10 s) for the readiness line: `Ok` once the supervisor runs, else what it
    /// said went wrong.
    pub fn wait(self) -> Result<()> {
        let Starting {
            pid,
            ready: mut file,
            sdir,
        } = self;
        read_ready(&mut file, pid, &sdir)
    }
}

fn read_ready(file: &mut fs::File, pid: u32, sdir: &ScrunDir) -> Result<()> {
    let mut msg = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    loop {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&*file),
            nix::poll::PollFlags::POLLIN,
        )];
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            bail!(
                "the supervisor (pid {}) did not become ready within 10 s; see {}",
                pid,
                sdir.supervisor_log().display()
            );
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => msg.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the supervisor's readiness"),
        }
        if msg.ends_with('\n') {
            break;
        }
    }
    match msg.trim() {
        "ok" => Ok(()),
        "" => bail!(
            "the supervisor exited before it was ready; see {}",
            sdir.supervisor_log().display()
        ),
        err => bail!("{err}"),
    }
}

struct OwnedFdGuard(RawFd);
impl Drop for OwnedFdGuard {
    fn drop(&mut self) {
        let _ = nix::unistd::close(self.0);
    }
}

/// Stop the supervisor of a deleted container (it also exits on its own when the container's
/// last process is gone) and wait, up to 2 s, until the worker is gone: it holds files of the
/// container's rootfs open (read leases of vetted files), and engines unmount and reuse the
/// rootfs right after `delete`. The keeper is not waited for: it holds no file of the rootfs, and
/// closing its fanotify group waits for an SRCU grace period (~10 ms here) in the kernel.
pub fn stop(sdir: &ScrunDir) {
    use nix::sys::signal::{Signal, kill};
    let keeper = health::live_pid(sdir, &sdir.supervisor_pid());
    let worker = || health::live_pid(sdir, &sdir.worker_pid());
    for pid in [keeper, worker()].into_iter().flatten() {
        let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
    }
    // Wait for the worker's exit itself (a pidfd wakes us when its files are closed), not in
    // sleep steps: `run` and `delete` end here.
    let Some(pid) = worker() else { return };
    // No descriptor: the process is already gone.
    let Ok(fd) = scrun_kernel::process::PidFd::open(pid) else {
        return;
    };
    // The pid is pinned now; make sure it still is our worker before waiting or killing.
    if worker() == Some(pid) && !fd.wait_exit(Duration::from_secs(2)).unwrap_or(false) {
        let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Closes every inherited descriptor above stderr but `keep` (and the log sink's, see
/// [`crate::logging::log_fds`]): `close_range`, not one `close` per descriptor.
pub fn close_inherited_fds(keep: &[RawFd]) {
    let mut keep = keep.to_vec();
    keep.extend(crate::logging::log_fds());
    let _ = scrun_kernel::sandbox::close_inherited_fds(&keep);
}

/// Start the response hook runner (`scrun supervise DIR --hook-runner`): an unconfined process
/// that reads findings as JSON lines on its stdin and runs the configured hooks, so the confined
/// worker never executes anything. Returns the pipe's write end.
pub fn spawn_hook_runner(sdir: &ScrunDir) -> std::io::Result<std::os::fd::OwnedFd> {
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    supervise_command(sdir)
        .arg("--hook-runner")
        .stdin(Stdio::from(rd))
        .spawn()?;
    Ok(wr)
}

/// `scrun supervise DIR` (the keeper when it cannot be forked, the hook runner): scrun's own
/// binary, stdout and stderr on /dev/null (its log is the container's), a clean environment
/// but for PATH and scrun's own variables. The caller adds its arguments and stdin.
fn supervise_command(sdir: &ScrunDir) -> Command {
    let mut cmd = Command::new(supervisor_binary(sdir));
    cmd.arg("supervise")
        .arg(&sdir.path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    for var in ["SCRUN_CONFIG", "SCRUN_RUN_DIR", "RUST_BACKTRACE"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd
}

/// Capabilities the worker keeps: read any process's memory (`process_vm_readv`), open any file
/// of a container to hash it, open `/proc/<pid>` entries, and take read leases.
const WORKER_CAPS: &[caps::Capability] = &[
    caps::Capability::CAP_SYS_PTRACE,
    caps::Capability::CAP_DAC_OVERRIDE,
    caps::Capability::CAP_DAC_READ_SEARCH,
    caps::Capability::CAP_FOWNER,
    caps::Capability::CAP_LEASE,
    caps::Capability::CAP_SYS_ADMIN,
];

/// The worker reads hostile memory and paths all day: it drops every capability it does not use
/// and installs its own seccomp allowlist (scrun-kernel's sandbox: unlisted syscalls fail with
/// ENOSYS; exec, ptrace, mount, setns, unshare and the like kill it, and the keeper restarts it).
pub fn confine_worker() -> Result<()> {
    use caps::CapSet;
    let keep: caps::CapsHashSet = WORKER_CAPS.iter().copied().collect();
    for cap in caps::all() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("dropping {cap} from the bounding set"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).context("clearing ambient capabilities")?;
    caps::clear(None, CapSet::Inheritable).context("clearing inheritable capabilities")?;
    caps::set(None, CapSet::Effective, &keep).context("setting effective capabilities")?;
    caps::set(None, CapSet::Permitted, &keep).context("setting permitted capabilities")?;
    let filter = scrun_kernel::sandbox::supervisor_filter()?;
    scrun_kernel::sandbox::apply_to_all_threads(&filter)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supervise_command_names_the_container_and_nothing_of_the_callers_environment() {
        let sdir = ScrunDir {
            path: "/run/scrun.d/abc".into(),
        };
        let cmd = supervise_command(&sdir);
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["supervise", "/run/scrun.d/abc"]);
        let envs: Vec<_> = cmd.get_envs().filter_map(|(k, v)| v.map(|_| k)).collect();
        assert!(envs.contains(&std::ffi::OsStr::new("PATH")), "{envs:?}");
        assert!(
            envs.iter().all(|k| k
                .to_str()
                .is_some_and(|k| k == "PATH" || k.starts_with("SCRUN_") || k == "RUST_BACKTRACE")),
            "{envs:?}"
        );
    }
}
