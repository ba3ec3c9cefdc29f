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
//!
//! One job per file; a file uses only the files below it, never one that uses it back:
//! - `mod.rs`: the shared types ([`Shared`], [`Policy`]) and the entry points;
//! - `keeper.rs`: the keeper; `worker.rs`: the worker's accept loop and per-listener loop;
//! - `answer.rs`: sending an answer, deciding a big file on the hash pool, containing a panic;
//! - `exec.rs`: one seccomp notification -> one exec event (path and argv from the target's
//!   memory, resolved in the caller's own root and mount namespace) -> one answer;
//! - `loaded.rs`: every other file the kernel loads for that exec (`#!` interpreters, the ELF
//!   interpreter, what a loader or shell is asked to run);
//! - `mapping.rs`: one mapping notification (a file mapped executable by `mmap`/`mprotect`,
//!   `personality(READ_IMPLIES_EXEC)`) -> the file decided as a library -> one answer;
//! - `gate.rs`: the exec gate / watcher events and the lease-break thread;
//! - `decide.rs`: the engine context and the decision (+ finding) on one resolved file;
//! - `rules.rs`: the exec rules on one trapped exec (lazy argv/env/parent/fd reads, ancestry);
//! - `vetted.rs`: what the gate need not decide again; `precheck.rs`: the entrypoint precheck;
//! - `mounts.rs`: the container's other exec-capable mounts, put under the exec gate at start;
//! - `spawn.rs`: forking / executing the keeper, the worker and the hook runner, readiness,
//!   confinement, `stop`.

mod answer;
mod decide;
mod exec;
mod gate;
pub mod health;
mod intake;
mod keeper;
mod loaded;
mod mapping;
mod mounts;
mod precheck;
mod rules;
mod spawn;
#[cfg(test)]
mod testutil;
mod vetted;
mod worker;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};

use anyhow::{Context, Result};
use scrun_detect::policy::Config;

use crate::cli::Supervise;
use crate::logging::ContainerLog;
use crate::scrun_dir::ScrunDir;

pub use precheck::precheck_entrypoint;
pub use spawn::{Starting, stop};

/// The policy in force: the config file and where it came from.
pub struct Policy {
    pub path: Option<PathBuf>,
    pub config: Config,
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
    spawn::start_keeper(sdir, socket.as_listener().as_fd(), keeper::main)
}

/// Shared by every listener thread of one supervisor.
pub struct Shared {
    /// What the seccomp path let through, per pid: the exec gate skips re-deciding the same file.
    pub allowed: vetted::Decided,
    /// Allowed files whose execs the exec gate / watcher skips (ignore mark + read lease).
    pub vetted: vetted::Vetted,
    /// Superblocks and mounts made after start that an exec reached, marked on the gate.
    pub reached: mounts::Reached,
    /// Lease-break notices for `vetted` (SIGIO on a signalfd, blocked before any thread starts).
    pub lease_breaks: Option<scrun_kernel::gate::LeaseBreaks>,
    pub sdir: ScrunDir,
    pub engine: decide::Context,
    pub log: ContainerLog,
    pub active: AtomicUsize,
    pub init_seen: AtomicBool,
    /// What the container's tasks may have done to their view (scrun-kernel `view::Taint`, as
    /// bits): set before a trapped `unshare`/`clone`/`clone3`/`setns` or `chroot`/`pivot_root`
    /// runs, or from the start where the profile did not let them be trapped.
    pub views_tainted: AtomicU8,
    /// Decisions that must hash a big file run here, off the notification threads.
    pub pool: scrun_detect::hashpool::HashPool,
}

/// The lowest-weight cgroup the hash pool's threads join (made before the worker confines itself;
/// `None` where there is no cgroup v1 `cpu` hierarchy).
static BACKGROUND: std::sync::OnceLock<Option<scrun_kernel::process::BackgroundGroup>> =
    std::sync::OnceLock::new();

impl Shared {
    /// The worker's state, built once before it confines itself.
    pub fn new(sdir: &ScrunDir) -> Result<Shared> {
        BACKGROUND.get_or_init(|| {
            scrun_kernel::process::BackgroundGroup::prepare()
                .map_err(|e| tracing::debug!(error = %e, "no background cgroup: SCHED_IDLE only"))
                .ok()
        });
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
        let log = ContainerLog::open(&sdir.supervisor_log(), meta.log_format);
        let engine =
            decide::Context::new(&meta, config, sdir).context("cannot set up exec supervision")?;
        Ok(Shared {
            allowed: vetted::Decided::default(),
            vetted: vetted::Vetted::new(
                if lease_breaks.is_some() {
                    meta.rootfs_dev
                } else {
                    u64::MAX // without notices, a lease could never be given back: vet nothing
                },
                scrun_kernel::limits::raise_nofile(65_536).unwrap_or(1024),
            ),
            reached: mounts::Reached::new(meta.rootfs_dev),
            lease_breaks,
            sdir: sdir.clone(),
            engine,
            log,
            active: AtomicUsize::new(0),
            init_seen: AtomicBool::new(false),
            views_tainted: AtomicU8::new(initial_taint(&meta).bits()),
            pool: scrun_detect::hashpool::HashPool::new(2, 1024).on_start(|| {
                // Background hashing yields the CPU to the container and to answering execs:
                // SCHED_IDLE within the worker's cgroup, and a group of the lowest weight
                // against the container's cgroup.
                if let Some(Some(group)) = BACKGROUND.get() {
                    if let Err(e) = group.join() {
                        tracing::warn!(error = %e, "a hash thread cannot join the background cgroup");
                    }
                }
                let _ = scrun_kernel::process::lowest_thread_priority();
            }),
        })
    }
}

pub fn run(a: Supervise) -> Result<()> {
    if a.hook_runner {
        return run_hook_runner(&ScrunDir {
            path: a.dir.clone(),
        });
    }
    keeper::main(
        &ScrunDir {
            path: a.dir.clone(),
        },
        a.ready_fd.unwrap_or(-1),
        a.listen_fd,
    )
}

/// The hook runner's loop: until the worker closes the pipe.
fn run_hook_runner(sdir: &ScrunDir) -> Result<()> {
    let meta = sdir.load_meta()?;
    crate::logging::to_container_log(&sdir.supervisor_log(), meta.log_format);
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
    let log = ContainerLog::open(&sdir.supervisor_log(), meta.log_format);
    log.warn(format_args!("response hooks done: {stats:?}"));
    Ok(())
}

/// This supervisor process's metrics snapshot file and interval (none: metrics are off). The
/// directory is made here, before the worker confines itself.
fn metrics_file(sdir: &ScrunDir) -> Option<(PathBuf, std::time::Duration)> {
    let config = config_of(&sdir.load_meta().ok()?).ok()?;
    let dir = config
        .supervisor
        .metrics_dir
        .filter(|d| !d.as_os_str().is_empty())?;
    std::fs::create_dir_all(&dir).ok()?;
    let key = sdir.path.file_name()?.to_string_lossy().into_owned();
    let every = std::time::Duration::from_secs(config.supervisor.metrics_interval_secs.max(1));
    Some((crate::metrics::snapshot_path(&dir, &key), every))
}

/// The configuration `create` validated for this container (its path is in the metadata).
/// The view taint a container starts with: none where its filter traps every syscall that can
/// change a task's mount namespace or root; a state written before the namespace traps existed
/// (`ns_trapped` absent) starts with namespaces tainted.
pub fn initial_taint(meta: &crate::scrun_dir::Meta) -> scrun_kernel::view::Taint {
    use scrun_kernel::view::Taint;
    if meta.view_untrapped {
        Taint::Root
    } else if !meta.ns_trapped {
        Taint::Namespaces
    } else {
        Taint::None
    }
}

fn config_of(meta: &crate::scrun_dir::Meta) -> Result<Config> {
    match &meta.config_path {
        Some(p) => {
            Config::load(p).with_context(|| format!("invalid scrun configuration {}", p.display()))
        }
        None => Ok(Config::default()),
    }
}
