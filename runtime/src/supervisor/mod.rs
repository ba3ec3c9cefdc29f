//! The per-container exec supervisor: a keeper and a worker.
//!
//! `create` starts one supervisor per container, forked from itself (or, from the memfd-sealed
//! fallback, executed as `scrun supervise <dir>`) and shown as `scrun supervise <dir>` either way,
//! fully detached: its own session, stdio on /dev/null, no inherited fds (a child holding the
//! caller's pipes would keep `docker run` from ever seeing EOF).
//!
//! - The **keeper** listens on the container's `listenerPath` socket, receives the seccomp listener
//!   fd of the init (from libcontainer) and of every exec'd process (from scrun's tenant executor),
//!   holds every one of them, and forwards a copy to the worker. It does nothing per exec, so it has
//!   little that can fail. If the worker dies, the keeper starts a new one and hands it every live
//!   listener again: while no worker runs, trapped execs wait (fail closed), they are never allowed
//!   unchecked and the container need not be recreated. If the keeper itself dies, the kernel fails
//!   every trapped exec with ENOSYS (also fail closed); `scrun state` shows either loss.
//! - The **worker** (forked by the keeper) answers each listener's notifications on its own thread — the thread
//!   that received a notification answers it (a cross-CPU hand-off costs tens of µs per exec on this
//!   kind of VM, perf note §3).
//!
//! Both exit when the container's last listener hangs up, or on `delete`.

pub mod health;
mod loaded;
mod mounts;
mod ratelimit;
mod worker;

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use scrun_detect::policy::Config;

use crate::cli::Supervise;
use crate::scrun_dir::ScrunDir;

pub use ratelimit::RateLimitedLog;

/// The policy in force: the config file and where it came from.
pub struct Policy {
    pub path: Option<PathBuf>,
    pub config: Config,
}

impl Policy {
    pub fn mode_name(&self) -> String {
        self.config.mode.to_string()
    }
}

/// Load `SCRUN_CONFIG` or /etc/scrun/config.toml. An invalid file is an error, never a silent
/// fallback to audit mode; a missing default file means the defaults.
pub fn load_policy() -> Result<Policy> {
    let path = Config::path_from_env();
    let config = Config::load_default().context("invalid scrun configuration")?;
    let path = path.exists().then_some(path);
    Ok(Policy { path, config })
}

/// Start the container's supervisor without waiting for it: the listener socket is bound here,
/// by the caller, and handed to the keeper, so the container's init can connect to it at once
/// (the connection waits in the backlog) while the supervisor starts in parallel with the rest
/// of `create`. [`Starting::wait`] then says whether it came up (or why it could not).
pub fn start(sdir: &ScrunDir) -> Result<Starting> {
    let socket = scrun_kernel::listener::ListenerSocket::bind(&sdir.socket())
        .with_context(|| format!("cannot listen on {}", sdir.socket().display()))?;
    start_keeper(sdir, std::os::fd::AsFd::as_fd(socket.as_listener()))
}

/// A supervisor process on its way up.
pub struct Starting {
    pid: u32,
    ready: fs::File,
    sdir: ScrunDir,
}

/// The keeper's worker: a forked copy of the keeper (no second exec of the runtime, ~1.3 ms of
/// CPU less per container), in its own process group, reaped by the keeper.
struct WorkerProc {
    pid: nix::unistd::Pid,
}

impl WorkerProc {
    /// Forks the worker from the (single-threaded) keeper and waits for its readiness line.
    fn start(sdir: &ScrunDir) -> Result<WorkerProc> {
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
    fn exited(&self) -> Option<String> {
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => Some(format!("exit status: {c}")),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("signal: {sig}")),
            Ok(_) => None,
            Err(e) => Some(format!("waitpid: {e}")),
        }
    }

    fn kill_and_reap(&self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// The worker's life, in the forked child: set up, say ready (or why not), serve. Returns the
/// exit code.
fn worker_main(sdir: &ScrunDir, mut ready: fs::File) -> i32 {
    match worker_setup(sdir) {
        Ok((shared, socket)) => {
            let _ = ready.write_all(b"ok\n");
            drop(ready);
            match worker_loop(Arc::new(shared), socket) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }
        Err(e) => {
            let _ = writeln!(ready, "{e:#}");
            1
        }
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
fn start_keeper(sdir: &ScrunDir, listen: std::os::fd::BorrowedFd<'_>) -> Result<Starting> {
    if keeper_can_fork(sdir) {
        match fork_keeper(sdir, listen) {
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

fn fork_keeper(sdir: &ScrunDir, listen: std::os::fd::BorrowedFd<'_>) -> Result<Starting> {
    use std::os::fd::IntoRawFd;
    let (pid, ready) = fork_supervisor("keeper", &keeper_cmdline(sdir), |ready| {
        // Detach from the caller as an exec'd `scrun supervise` would be: no blocked signals,
        // stdio on /dev/null, no log lines into the caller's --log file.
        let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
        let _ = redirect_stdio_to_null();
        crate::logging::discard_after_fork();
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
    let mut cmd = Command::new(supervisor_binary(sdir));
    cmd.arg("supervise")
        .arg(&sdir.path)
        .arg("--ready-fd")
        .arg(child_wr.0.to_string())
        .arg("--listen-fd")
        .arg(child_listen.0.to_string());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
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
/// [`crate::logging::discard_after_fork`]): `close_range`, not one `close` per descriptor.
fn close_inherited_fds(keep: &[RawFd]) {
    let mut keep = keep.to_vec();
    keep.extend(crate::logging::sink_fd());
    let _ = scrun_kernel::sandbox::close_inherited_fds(&keep);
}

/// Start the response hook runner (`scrun supervise DIR --hook-runner`): an unconfined process
/// that reads findings as JSON lines on its stdin and runs the configured hooks, so the confined
/// worker never executes anything. Returns the pipe's write end.
pub fn spawn_hook_runner(sdir: &ScrunDir) -> std::io::Result<std::os::fd::OwnedFd> {
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    let mut cmd = Command::new(supervisor_binary(sdir));
    cmd.arg("supervise")
        .arg(&sdir.path)
        .arg("--hook-runner")
        .stdin(Stdio::from(rd))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    for var in ["SCRUN_CONFIG", "SCRUN_RUN_DIR"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.spawn()?;
    Ok(wr)
}

/// The hook runner's loop: until the worker closes the pipe.
fn run_hook_runner(sdir: &ScrunDir) -> Result<()> {
    let meta = sdir.load_meta()?;
    let config = config_of(&meta)?;
    let specs: Vec<_> = config.findings.hooks.iter().map(|h| h.spec()).collect();
    let env = vec![
        ("SCRUN_ROOT".to_string(), meta.root.display().to_string()),
        (
            "SCRUN_ROOTFS".to_string(),
            meta.rootfs.display().to_string(),
        ),
        (
            "SCRUN_BIN".to_string(),
            meta.scrun_bin.display().to_string(),
        ),
    ];
    let stats = scrun_findings::hooks::run_hook_loop(std::io::stdin().lock(), &specs, &env);
    let log = RateLimitedLog::open(&sdir.supervisor_log());
    log.warn(&format!("response hooks done: {stats:?}"));
    Ok(())
}

/// The configuration `create` validated for this container (its path is in the metadata).
fn config_of(meta: &crate::scrun_dir::Meta) -> Result<Config> {
    match &meta.config_path {
        Some(p) => {
            Config::load(p).with_context(|| format!("invalid scrun configuration {}", p.display()))
        }
        None => Ok(Config::default()),
    }
}

/// Shared by every listener thread of one supervisor.
pub struct Shared {
    /// What the seccomp path let through, per pid: the exec gate skips re-deciding the same file.
    pub allowed: worker::Decided,
    /// Allowed files whose execs the exec gate / watcher skips (ignore mark + read lease).
    pub vetted: worker::Vetted,
    /// Lease-break notices for `vetted` (SIGIO on a signalfd, blocked before any thread starts).
    pub lease_breaks: Option<scrun_kernel::gate::LeaseBreaks>,
    pub sdir: ScrunDir,
    pub engine: worker::Context,
    pub log: RateLimitedLog,
    pub active: AtomicUsize,
    pub init_seen: std::sync::atomic::AtomicBool,
    /// A `chroot`/`pivot_root` was let through in this container (or could not be trapped):
    /// no exec may be resolved in an assumed root any more (scrun-kernel `view`).
    pub views_tainted: std::sync::atomic::AtomicBool,
    /// Decisions that must hash a big file run here, off the notification threads.
    pub pool: scrun_detect::hashpool::HashPool,
}

pub fn run(a: Supervise) -> Result<()> {
    if a.hook_runner {
        return run_hook_runner(&ScrunDir {
            path: a.dir.clone(),
        });
    }
    keeper_main(
        &ScrunDir {
            path: a.dir.clone(),
        },
        a.ready_fd.unwrap_or(-1),
        a.listen_fd,
    )
}

/// The keeper's life: detach (own session, no inherited descriptors but `ready` and `listen`),
/// set up, say ready on `ready` (or why not), serve.
fn keeper_main(sdir: &ScrunDir, ready: RawFd, listen: Option<RawFd>) -> Result<()> {
    let _ = nix::unistd::setsid();
    close_inherited_fds(&[ready, listen.unwrap_or(-1)]);
    let mut ready_pipe = (ready >= 0)
        .then(|| {
            scrun_kernel::signal::own_inherited_fd(ready)
                .ok()
                .map(fs::File::from)
        })
        .flatten();
    let keeper = match keeper_setup(sdir, listen) {
        Ok(k) => k,
        Err(e) => {
            if let Some(p) = ready_pipe.as_mut() {
                let _ = writeln!(p, "{e:#}");
            }
            return Err(e);
        }
    };
    if let Some(mut p) = ready_pipe.take() {
        let _ = p.write_all(b"ok\n");
    }
    keeper.run()
}

fn worker_setup(sdir: &ScrunDir) -> Result<(Shared, scrun_kernel::listener::ListenerSocket)> {
    let shared = setup(sdir)?;
    let socket = scrun_kernel::listener::ListenerSocket::bind(&sdir.worker_socket())
        .with_context(|| format!("cannot listen on {}", sdir.worker_socket().display()))?;
    fs::write(sdir.worker_pid(), std::process::id().to_string())?;
    confine_worker().context("cannot confine the exec supervision worker")?;
    Ok((shared, socket))
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
fn confine_worker() -> Result<()> {
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

fn worker_loop(shared: Arc<Shared>, socket: scrun_kernel::listener::ListenerSocket) -> Result<()> {
    if shared.lease_breaks.is_some() {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            if let Some(b) = &shared.lease_breaks {
                worker::serve_lease_breaks(&shared, b);
            }
        });
    }
    loop {
        let stream = match socket.accept() {
            Ok(s) => s,
            Err(e) => {
                shared
                    .log
                    .warn(&format!("accept on {}: {e}", socket.path().display()));
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        shared.active.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            worker::serve_connection(&shared, stream);
            let left = shared.active.fetch_sub(1, Ordering::SeqCst) - 1;
            if left == 0 && shared.init_seen.load(Ordering::SeqCst) {
                let _ = fs::remove_file(shared.sdir.worker_socket());
                #[allow(clippy::exit)]
                // the accept loop blocks the main thread; this is the end of the process
                std::process::exit(0);
            }
        });
    }
}

/// One listener the keeper holds: the process state it came with and the fd.
struct Held {
    state: Vec<u8>,
    fd: std::os::fd::OwnedFd,
}

struct Keeper {
    sdir: ScrunDir,
    socket: scrun_kernel::listener::ListenerSocket,
    worker: WorkerProc,
    held: Vec<Held>,
    /// The exec gate (enforce mode on an overlay rootfs): created and marked here, so it
    /// outlives any worker; every worker gets the group fd.
    gate: Option<scrun_kernel::gate::ExecGate>,
    init_seen: bool,
    restarts: u32,
    log: RateLimitedLog,
}

/// The exec gate binds an enforce-mode verdict to the file the kernel actually opens (fanotify
/// `FAN_OPEN_EXEC_PERM` on the container's own overlay superblock). Audit mode gets a watcher
/// instead (`FAN_OPEN_EXEC`, nothing waits on it) that notices a file swapped after the
/// decision. Neither for a rootfs that is not an overlay (a filesystem mark there would see the
/// host's execs too).
fn open_gate(sdir: &ScrunDir) -> Result<Option<scrun_kernel::gate::ExecGate>> {
    let meta = sdir.load_meta()?;
    let view = if meta.view_untrapped {
        "every exec resolved in its caller's /proc/<pid>/root (chroot not trappable)"
    } else if scrun_kernel::view::mnt_ns_of(std::process::id()).is_ok() {
        "caller's root and mount namespace (pidfd namespace check, chroot/pivot_root trapped)"
    } else {
        "caller's root (per exec: no pidfd namespace ioctl on this kernel)"
    };
    let overlay = matches!(meta.layers, scrun_detect::layers::Rootfs::Overlay(_));
    let gate = match (overlay, meta.mode.as_str()) {
        (false, _) => "no fanotify gate (rootfs is not an overlay): decided on the resolved path",
        (true, "enforce") => {
            "fanotify FAN_OPEN_EXEC_PERM on the rootfs overlay superblock; mounts made later \
             decided on the resolved path"
        }
        (true, _) => "fanotify exec watcher on the rootfs overlay superblock",
    };
    let _ = fs::write(
        sdir.path.join("guard"),
        format!("seccomp user-notify in the {view}; {gate}"),
    );
    if !overlay {
        return Ok(None);
    }
    let gate = if meta.mode == "enforce" {
        scrun_kernel::gate::ExecGate::new()
    } else {
        scrun_kernel::gate::ExecGate::watcher()
    }
    .context("fanotify_init for the exec gate")?;
    gate.mark_filesystem(&meta.rootfs)
        .with_context(|| format!("cannot mark {} for the exec gate", meta.rootfs.display()))?;
    Ok(Some(gate))
}

fn keeper_setup(sdir: &ScrunDir, listen_fd: Option<RawFd>) -> Result<Keeper> {
    // The socket `create` bound and handed over (connections made meanwhile wait in its
    // backlog), or a fresh one.
    let socket = match listen_fd {
        Some(fd) => scrun_kernel::listener::ListenerSocket::from_listener(
            std::os::unix::net::UnixListener::from(
                scrun_kernel::signal::own_inherited_fd(fd)
                    .context("the inherited listener socket")?,
            ),
            &sdir.socket(),
        ),
        None => scrun_kernel::listener::ListenerSocket::bind(&sdir.socket())
            .with_context(|| format!("cannot listen on {}", sdir.socket().display()))?,
    };
    let gate = open_gate(sdir)?;
    // The worker validates the configuration and feeds; its failure is create's failure.
    let worker = WorkerProc::start(sdir)?;
    fs::write(sdir.supervisor_pid(), std::process::id().to_string())?;
    health::mark(sdir, "running");
    let keeper = Keeper {
        sdir: sdir.clone(),
        socket,
        worker,
        held: Vec::new(),
        gate,
        init_seen: false,
        restarts: 0,
        log: RateLimitedLog::open(&sdir.supervisor_log()),
    };
    keeper.forward_gate();
    Ok(keeper)
}

impl Keeper {
    fn forward_gate(&self) {
        use std::os::fd::AsFd;
        if let Some(g) = &self.gate {
            if let Err(e) = scrun_kernel::listener::send_process_state_to(
                &self.sdir.worker_socket(),
                if g.is_watcher() {
                    worker::WATCHER_MESSAGE
                } else {
                    worker::GATE_MESSAGE
                },
                g.as_fd(),
            ) {
                self.log
                    .error(&format!("cannot hand the exec gate to the worker: {e}"));
            }
        }
    }

    fn forward(&self, h: &Held) -> std::io::Result<()> {
        use std::os::fd::AsFd;
        scrun_kernel::listener::send_process_state_to(
            &self.sdir.worker_socket(),
            &h.state,
            h.fd.as_fd(),
        )
    }

    fn accept_one(&mut self) {
        let Ok(stream) = self.socket.accept() else {
            return;
        };
        let (state, fds) = match scrun_kernel::listener::receive_process_state(&stream, 64 * 1024) {
            Ok(v) => v,
            Err(e) => {
                self.log.warn(&format!("bad listener message: {e}"));
                return;
            }
        };
        let fd = match scrun_kernel::listener::pick_seccomp_fd(&state, fds) {
            Ok(fd) => fd,
            Err(e) => {
                self.log
                    .warn(&format!("listener message without a seccomp fd: {e}"));
                return;
            }
        };
        if worker::is_init_state(&state) {
            self.init_seen = true;
            self.gate_other_mounts(&state);
        }
        let h = Held { state, fd };
        if let Err(e) = self.forward(&h) {
            // The restart path hands it over again; until then the execs wait.
            self.log
                .warn(&format!("cannot hand a listener to the worker: {e}"));
        }
        self.held.push(h);
    }

    /// Enforce mode: the init's other exec-capable mounts go under the gate before its first
    /// exec is answered (see `mounts`); `scrun state` says what was marked.
    fn gate_other_mounts(&self, state: &[u8]) {
        let Some(gate) = &self.gate else { return };
        if !gate.is_gate() {
            return;
        }
        let pid = serde_json::from_slice::<serde_json::Value>(state)
            .ok()
            .and_then(|v| v.pointer("/pid").and_then(serde_json::Value::as_i64));
        let Some(pid) = pid else { return };
        let summary = mounts::gate_mounts(gate, pid, &self.log);
        let path = self.sdir.path.join("guard");
        let guard = fs::read_to_string(&path).unwrap_or_default();
        let _ = fs::write(&path, format!("{}; {summary}", guard.trim()));
    }

    fn restart_worker(&mut self, why: &str) {
        self.restarts += 1;
        self.log.error(&format!(
            "exec supervision worker {why}; restarting it (restart {})",
            self.restarts
        ));
        health::mark(
            &self.sdir,
            &format!(
                "running; worker restarted {} time(s), last: {why}",
                self.restarts
            ),
        );
        // The dead worker's leases went with it: its ignored inodes must meet the gate again.
        if let Some(g) = &self.gate {
            if let Err(e) = g.flush_inode_marks() {
                self.log
                    .error(&format!("cannot flush the exec gate's inode marks: {e}"));
            }
        }
        loop {
            match WorkerProc::start(&self.sdir) {
                Ok(w) => {
                    self.worker = w;
                    break;
                }
                Err(e) => {
                    self.log.error(&format!("cannot restart the worker: {e:#}"));
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        self.forward_gate();
        for h in &self.held {
            if let Err(e) = self.forward(h) {
                self.log
                    .error(&format!("cannot hand a listener to the new worker: {e}"));
            }
        }
    }

    fn run(mut self) -> Result<()> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        loop {
            let (sock_ready, hung): (bool, Vec<usize>) = {
                let mut fds = vec![PollFd::new(
                    self.socket.as_listener().as_fd(),
                    PollFlags::POLLIN,
                )];
                // Events 0: poll reports only POLLHUP (no task uses the filter any more).
                fds.extend(
                    self.held
                        .iter()
                        .map(|h| PollFd::new(h.fd.as_fd(), PollFlags::empty())),
                );
                let _ = poll(&mut fds, PollTimeout::from(200u16));
                let ready = fds[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLIN));
                let hung = fds[1..]
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| {
                        f.revents()
                            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
                    })
                    .map(|(i, _)| i)
                    .collect();
                (ready, hung)
            };
            for i in hung.into_iter().rev() {
                self.held.remove(i);
            }
            if sock_ready {
                self.accept_one();
            }
            if !(self.init_seen && self.held.is_empty()) {
                if let Some(status) = self.worker.exited() {
                    self.restart_worker(&format!("exited ({status})"));
                }
            }
            if self.init_seen && self.held.is_empty() {
                health::mark(&self.sdir, "exited: the container's last process is gone");
                self.worker.kill_and_reap();
                let _ = fs::remove_file(self.sdir.socket());
                return Ok(());
            }
        }
    }
}

fn setup(sdir: &ScrunDir) -> Result<Shared> {
    // First, before any thread exists (the webhook and listener threads inherit the mask).
    // SIGIO stays ignored as well: were a notice ever taken by a thread that does not block it,
    // it would be lost, not fatal.
    if let Err(e) = scrun_kernel::gate::ignore_lease_break_signal() {
        tracing::warn!(error = %e, "cannot ignore SIGIO");
    }
    let lease_breaks = scrun_kernel::gate::LeaseBreaks::new()
        .map_err(|e| {
            tracing::warn!(error = %e, "no lease-break notices: every exec goes through the exec gate");
        })
        .ok();
    let meta = sdir.load_meta()?;
    let config = config_of(&meta)?;
    let log = RateLimitedLog::open(&sdir.supervisor_log());
    let engine =
        worker::Context::new(&meta, config, sdir).context("cannot set up exec supervision")?;
    Ok(Shared {
        allowed: worker::Decided::default(),
        vetted: worker::Vetted::new(
            if lease_breaks.is_some() {
                meta.rootfs_dev
            } else {
                u64::MAX // without notices, a lease could never be given back: vet nothing
            },
            scrun_kernel::limits::raise_nofile(65_536).unwrap_or(1024),
        ),
        lease_breaks,
        sdir: sdir.clone(),
        engine,
        log,
        active: AtomicUsize::new(0),
        views_tainted: std::sync::atomic::AtomicBool::new(meta.view_untrapped),
        pool: scrun_detect::hashpool::HashPool::new(2, 1024).on_start(|| {
            // Background hashing yields the CPU to the container and to answering execs.
            let _ = scrun_kernel::process::lowest_thread_priority();
        }),
        init_seen: std::sync::atomic::AtomicBool::new(false),
    })
}

fn shebang_of(file: &std::fs::File) -> Option<String> {
    worker::shebang_interpreter(file)
}

/// Enforce mode: decide on the entrypoint before the container exists, so a blocked entrypoint
/// fails `create` with a readable error (Docker shows it as `OCI runtime create failed: …`)
/// instead of an init that dies silently after `start`. The trapped exec stays the enforcement
/// point; this is the same decision, taken early, on the rootfs as `create` sees it.
pub fn precheck_entrypoint(sdir: &ScrunDir, spec: &serde_json::Value) -> Result<()> {
    let meta = sdir.load_meta()?;
    if meta.mode != "enforce" {
        return Ok(());
    }
    let Some(arg0) = spec.pointer("/process/args/0").and_then(|a| a.as_str()) else {
        return Ok(());
    };
    let config = config_of(&meta)?;
    let ctx =
        worker::Context::new(&meta, config, sdir).context("cannot set up exec supervision")?;
    let candidates: Vec<String> = if arg0.contains('/') {
        let cwd = spec
            .pointer("/process/cwd")
            .and_then(|c| c.as_str())
            .unwrap_or("/");
        vec![if arg0.starts_with('/') {
            arg0.to_string()
        } else {
            format!("{}/{arg0}", cwd.trim_end_matches('/'))
        }]
    } else {
        let path = spec
            .pointer("/process/env")
            .and_then(|e| e.as_array())
            .and_then(|e| {
                e.iter()
                    .filter_map(|v| v.as_str())
                    .find_map(|v| v.strip_prefix("PATH="))
            })
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .to_string();
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| format!("{}/{arg0}", d.trim_end_matches('/')))
            .collect()
    };
    let root = scrun_kernel::resolve::RootDir::open_path(&meta.rootfs)
        .with_context(|| format!("cannot open rootfs {}", meta.rootfs.display()))?;
    let log = RateLimitedLog::open(&sdir.supervisor_log());
    for cand in candidates {
        let Ok(resolved) = scrun_kernel::resolve::resolve_exec(
            &root,
            std::process::id(),
            None,
            cand.as_bytes(),
            false,
            false,
        ) else {
            continue;
        };
        if !resolved.meta.is_file() {
            continue;
        }
        let args: Vec<Vec<u8>> = spec
            .pointer("/process/args")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str())
                    .map(|s| s.as_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        let d = worker::decide(
            &ctx,
            &log,
            0,
            cand.as_bytes(),
            &mut worker::LazyStrings::known(args),
            None,
            "execve",
            &resolved,
            worker::Via {
                interpreter: shebang_of(&resolved.file),
                ..worker::Via::default()
            },
        );
        if d.verdict == scrun_detect::engine::Verdict::Block {
            let what = d
                .category
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| "policy".into());
            let sha = d.digest.as_ref().map(|x| x.hex()).unwrap_or_default();
            let feed = d
                .intel
                .as_ref()
                .map(|i| format!(", feed {}", i.feed))
                .unwrap_or_default();
            bail!(
                "scrun blocked the entrypoint {}: {what} (sha256 {sha}{feed}); the exec is not permitted in enforce mode, see `scrun findings`",
                resolved.path.display()
            );
        }
        return Ok(());
    }
    Ok(())
}
