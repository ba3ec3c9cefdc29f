//! The keeper: holds every seccomp listener of the container (and the exec gate), hands a copy
//! of each to the worker, and restarts the worker when it dies. Nothing per exec.

use std::fs;
use std::io::Write;
use std::os::fd::RawFd;
use std::time::Duration;

use anyhow::{Context, Result};

use super::health;
use super::intake::{self, Message};
use super::mounts;
use super::spawn::{WorkerProc, close_inherited_fds};
use super::worker;
use crate::logging::ContainerLog;
use crate::scrun_dir::ScrunDir;

/// The keeper's life: detach (own session, no inherited descriptors but `ready` and `listen`),
/// set up, say ready on `ready` (or why not), serve.
pub fn main(sdir: &ScrunDir, ready: RawFd, listen: Option<RawFd>) -> Result<()> {
    let _ = nix::unistd::setsid();
    // From here on, this process and its worker log into the container's log, never into the
    // caller's --log file.
    let log_format = sdir.load_meta().map(|m| m.log_format).unwrap_or_default();
    crate::logging::to_container_log(&sdir.supervisor_log(), log_format);
    close_inherited_fds(&[ready, listen.unwrap_or(-1)]);
    let mut ready_pipe = (ready >= 0)
        .then(|| {
            scrun_kernel::signal::own_inherited_fd(ready)
                .ok()
                .map(fs::File::from)
        })
        .flatten();
    let keeper = match keeper_setup(sdir, listen, log_format) {
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
    /// A gate-only supervised container (`delegation.rs`): its seccomp listeners go to its own
    /// agent, so the keeper learns that the container is gone from its init's exit instead.
    init: Option<InitWatch>,
    restarts: u32,
    log: ContainerLog,
}

/// The init of a gate-only supervised container, once `create` has recorded it.
enum InitWatch {
    Waiting,
    Open(scrun_kernel::process::PidFd),
}

impl InitWatch {
    /// True once the recorded init has exited (or was gone before it could be watched).
    fn gone(&mut self, sdir: &ScrunDir) -> bool {
        if let InitWatch::Waiting = self {
            let Some((pid, start)) = crate::init_record::read(sdir) else {
                return false;
            };
            match scrun_kernel::process::PidFd::open(pid) {
                // The descriptor pins the process: it is the init if it started when the init did.
                Ok(fd) if crate::init_record::stat_of(pid).is_some_and(|(_, s)| s == start) => {
                    *self = InitWatch::Open(fd)
                }
                _ => return true,
            }
        }
        match self {
            InitWatch::Open(fd) => fd.wait_exit(Duration::ZERO).unwrap_or(true),
            InitWatch::Waiting => false,
        }
    }
}

/// The exec gate binds an enforce-mode verdict to the file the kernel actually opens (fanotify
/// `FAN_OPEN_EXEC_PERM` on the container's own overlay superblock). Audit mode gets a watcher
/// instead (`FAN_OPEN_EXEC`, nothing waits on it) that notices a file swapped after the
/// decision. Neither for a rootfs that is not an overlay (a filesystem mark there would see the
/// host's execs too).
fn open_gate(sdir: &ScrunDir) -> Result<Option<scrun_kernel::gate::ExecGate>> {
    let meta = sdir.load_meta()?;
    let overlay = matches!(meta.layers, scrun_detect::layers::Rootfs::Overlay(_));
    let _ = fs::write(sdir.guard_file(), guard_summary(sdir, &meta, overlay));
    if !overlay {
        return Ok(None);
    }
    let gate = if meta.mode == scrun_detect::policy::Mode::Enforce {
        scrun_kernel::gate::ExecGate::new()
    } else {
        scrun_kernel::gate::ExecGate::watcher()
    }
    .context("fanotify_init for the exec gate")?;
    gate.mark_filesystem(&meta.rootfs)
        .with_context(|| format!("cannot mark {} for the exec gate", meta.rootfs.display()))?;
    Ok(Some(gate))
}

/// What guards the container's execs, for `scrun state` (the keeper adds the mounts it marks).
fn guard_summary(sdir: &ScrunDir, meta: &crate::scrun_dir::Meta, overlay: bool) -> String {
    let enforce = meta.mode == scrun_detect::policy::Mode::Enforce;
    let gate = match (overlay, enforce) {
        (false, _) => "no fanotify gate (rootfs is not an overlay): decided on the resolved path",
        (true, true) => {
            "fanotify FAN_OPEN_EXEC_PERM on the rootfs overlay superblock; mounts made later \
             marked when an exec first reaches them"
        }
        (true, false) => "fanotify exec watcher on the rootfs overlay superblock",
    };
    if crate::delegation::agent(sdir).is_some() {
        return format!("the container's own seccomp agent holds the listener; {gate}");
    }
    let pidfd = scrun_kernel::view::mnt_ns_of(std::process::id()).is_ok();
    let view = match (super::initial_taint(meta), pidfd) {
        (scrun_kernel::view::Taint::Root, _) => {
            "caller's root: every exec resolved in its caller's /proc/<pid>/root (chroot not trappable)"
        }
        (scrun_kernel::view::Taint::Namespaces, true) => {
            "caller's root and mount namespace: pidfd namespace check per exec (namespace syscalls \
             not trappable), chroot/pivot_root trapped"
        }
        (scrun_kernel::view::Taint::None, _) => {
            "caller's root and mount namespace: unshare/clone(CLONE_NEWNS)/clone3/setns and \
             chroot/pivot_root trapped, each exec's namespace checked once one ran"
        }
        (scrun_kernel::view::Taint::Namespaces, false) => {
            "caller's root (per exec: no pidfd namespace ioctl on this kernel)"
        }
    };
    format!(
        "seccomp user-notify in the {view}; {gate}; {}",
        mappings_summary(meta)
    )
}

/// Mapping supervision as `scrun state` shows it: the mode and what the profile let scrun trap.
fn mappings_summary(meta: &crate::scrun_dir::Meta) -> String {
    use scrun_detect::policy::Mappings;
    let trapped = &meta.mappings_trapped;
    if meta.mappings == Mappings::Off {
        return "executable file mappings: off (no mapping rule installed)".into();
    }
    if !trapped.iter().any(|n| n == "mmap") {
        return format!(
            "executable file mappings: {} configured, but the profile lets scrun trap no mmap",
            meta.mappings
        );
    }
    let mut s = format!(
        "executable file mappings: {} (trapped: {})",
        meta.mappings,
        trapped.join(", ")
    );
    if !meta.mappings_untrapped.is_empty() {
        s.push_str(&format!(
            "; the profile's own argument rules: {}",
            meta.mappings_untrapped.join(", ")
        ));
    }
    s
}

fn keeper_setup(
    sdir: &ScrunDir,
    listen_fd: Option<RawFd>,
    log_format: crate::logging::Format,
) -> Result<Keeper> {
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
    let worker = WorkerProc::start(sdir, worker::main)?;
    fs::write(sdir.supervisor_pid(), std::process::id().to_string())?;
    health::mark(sdir, "running");
    let keeper = Keeper {
        sdir: sdir.clone(),
        socket,
        worker,
        held: Vec::new(),
        gate,
        init_seen: false,
        init: crate::delegation::agent(sdir).map(|_| InitWatch::Waiting),
        restarts: 0,
        log: ContainerLog::open(&sdir.supervisor_log(), log_format),
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
                    intake::WATCHER_MESSAGE
                } else {
                    intake::GATE_MESSAGE
                },
                g.as_fd(),
            ) {
                self.log
                    .error(format_args!("cannot hand the exec gate to the worker: {e}"));
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
        let (state, fd) = match intake::receive(&stream, &self.log) {
            Some(Message::Listener { state, fd, init }) => {
                if init {
                    self.gate_other_mounts(&state);
                }
                self.init_seen |= init;
                (state, fd)
            }
            // Only the keeper sends the gate, and only to the worker.
            Some(Message::Gate { .. }) => {
                self.log.warn(format_args!(
                    "listener message without a seccomp fd: an exec gate on the container's socket"
                ));
                return;
            }
            None => return,
        };
        let h = Held { state, fd };
        if let Err(e) = self.forward(&h) {
            // The restart path hands it over again; until then the execs wait.
            self.log
                .warn(format_args!("cannot hand a listener to the worker: {e}"));
        }
        self.held.push(h);
    }

    /// Enforce mode: the init's other exec-capable mounts go under the gate before its first
    /// exec is answered (its listener is handed to the worker after this); `scrun state` says
    /// what was marked.
    fn gate_other_mounts(&self, state: &[u8]) {
        let Some(gate) = &self.gate else { return };
        if !gate.is_gate() {
            return;
        }
        let Some(pid) = intake::pid_of(state) else {
            return;
        };
        let summary = mounts::gate_mounts(gate, pid, &self.log);
        let path = self.sdir.guard_file();
        let guard = fs::read_to_string(&path).unwrap_or_default();
        let _ = fs::write(&path, format!("{}; {summary}", guard.trim()));
    }

    fn restart_worker(&mut self, why: &str) {
        self.restarts += 1;
        self.log.error(format_args!(
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
        crate::metrics::COUNTERS.restart();
        if let Some((path, _)) = super::metrics_file(&self.sdir) {
            let _ = crate::metrics::write_snapshot(&path);
        }
        // The dead worker's leases went with it: its ignored inodes must meet the gate again.
        if let Some(g) = &self.gate {
            if let Err(e) = g.flush_inode_marks() {
                self.log.error(format_args!(
                    "cannot flush the exec gate's inode marks: {e}"
                ));
            }
        }
        loop {
            match WorkerProc::start(&self.sdir, worker::main) {
                Ok(w) => {
                    self.worker = w;
                    break;
                }
                Err(e) => {
                    self.log
                        .error(format_args!("cannot restart the worker: {e:#}"));
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        self.forward_gate();
        for h in &self.held {
            if let Err(e) = self.forward(h) {
                self.log.error(format_args!(
                    "cannot hand a listener to the new worker: {e}"
                ));
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
            if let Some(init) = self.init.as_mut() {
                self.init_seen = self.init_seen || init.gone(&self.sdir);
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
