//! The exec gate (enforce mode: fanotify `FAN_OPEN_EXEC_PERM`) and watcher (audit mode:
//! `FAN_OPEN_EXEC`): decide on the file the kernel really opened when it is not the one the
//! seccomp path decided on, and the lease-break thread that puts written files back under it.

use scrun_detect::engine::{Decision, Verdict};
use scrun_detect::event::Known;
use scrun_kernel::resolve;

use super::Shared;
use super::decide::{Via, decide};

/// The lease-break thread: a writer's open of a vetted file waits until this has put the file
/// back under the gate. It has a thread of its own so that a gate thread busy hashing a big file
/// cannot keep a writer waiting into the kernel's lease-break timeout (after which the kernel
/// drops the lease by itself, with the ignore mark still in place).
pub fn serve_lease_breaks(shared: &Shared, breaks: &scrun_kernel::gate::LeaseBreaks) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    loop {
        let mut fds = [PollFd::new(breaks.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                shared.log.error(format_args!("lease-break wait: {e}"));
                return;
            }
        }
        if breaks.drain() {
            shared.vetted.on_lease_break();
        }
    }
}

/// The exec gate: every file the kernel opens for exec on the container's overlay stops here
/// (enforce mode). A file the seccomp path already decided for the same pid and identical
/// (dev, ino, size, mtime, ctime) is let through without hashing; anything else — a path swapped by
/// another thread after the decision, a file renamed over or rewritten, the ELF interpreter — is
/// decided on the opened file itself. A read lease is held from the decision until well after the
/// answer: the kernel raises the event before it denies writers to the file, so a writer that
/// slipped in right after the answer could still change what runs. Rather than polling
/// `/proc/<pid>` until the exec is past that point (which costs every exec a procfs walk), the
/// allowed event — its file, and so its lease — is kept open for `LEASE_HOLD` by a releaser
/// thread; a writer meanwhile waits, then finds the running binary busy (ETXTBSY).
pub fn serve_gate(shared: &Shared, gate: &scrun_kernel::gate::ExecGate) {
    if let Err(e) = scrun_kernel::gate::ignore_lease_break_signal() {
        shared
            .log
            .error(format_args!("cannot ignore SIGIO for read leases: {e}"));
    }
    let (held_tx, held_rx) =
        std::sync::mpsc::channel::<(std::time::Instant, scrun_kernel::gate::GateEvent)>();
    std::thread::spawn(move || {
        // Events arrive in deadline order: drop each (closing its file ends its lease) on time.
        for (deadline, ev) in held_rx {
            let now = std::time::Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
            drop(ev);
        }
    });
    loop {
        match gate.wait(-1) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                shared.log.error(format_args!("exec gate wait: {e}"));
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        }
        let events = match gate.read_events() {
            Ok(ev) => ev,
            Err(e) => {
                shared.log.error(format_args!("exec gate read: {e}"));
                continue;
            }
        };
        for ev in events {
            if !ev.is_overflow() {
                crate::metrics::COUNTERS.gate_event();
            }
            if ev.needs_response() {
                if gate_decide(shared, gate, &ev) {
                    let _ = held_tx.send((std::time::Instant::now() + LEASE_HOLD, ev));
                }
            } else if ev.is_overflow() {
                shared.log.error(format_args!("exec gate queue overflow"));
            } else {
                watch_check(shared, &ev);
            }
        }
    }
}

/// The in-container path of a gate event's file: fanotify reports it relative to the opener's
/// root (or under the rootfs when opened from the host), with " (deleted)" once renamed over.
fn gate_event_path(shared: &Shared, ev: &scrun_kernel::gate::GateEvent) -> std::path::PathBuf {
    container_path(ev.path().unwrap_or_default(), &shared.engine.rootfs)
}

/// [`gate_event_path`] of a path as fanotify reported it.
fn container_path(path: std::path::PathBuf, rootfs: &std::path::Path) -> std::path::PathBuf {
    let path = match path.to_str().and_then(|p| p.strip_suffix(" (deleted)")) {
        Some(p) => std::path::PathBuf::from(p),
        None => path,
    };
    match path.strip_prefix(rootfs) {
        Ok(p) => std::path::Path::new("/").join(p),
        Err(_) => path,
    }
}

/// Decides on the file a gate or watcher event opened (the seccomp path decided on another one,
/// or on none); `None` when the file cannot be duplicated.
fn decide_opened(
    shared: &Shared,
    ev: &scrun_kernel::gate::GateEvent,
    file: &std::fs::File,
    meta: std::fs::Metadata,
    via: Via,
) -> Option<Decision> {
    let resolved =
        resolve::Resolved::opened(file.try_clone().ok()?, gate_event_path(shared, ev), meta);
    let syscall = via.decided_by.unwrap_or("exec-gate");
    Some(decide(
        &shared.engine,
        &shared.log,
        u32::try_from(ev.pid).unwrap_or(0),
        resolved.path.as_os_str().as_encoded_bytes(),
        &mut Known::default(),
        None,
        syscall,
        &resolved,
        via,
    ))
}

/// Audit mode's watcher: the exec already happened (nothing waits for this); if the file the
/// kernel opened is not the one the seccomp path allowed for that pid, decide on what really ran
/// and say so in the finding.
fn watch_check(shared: &Shared, ev: &scrun_kernel::gate::GateEvent) {
    let Some(file) = ev.file() else { return };
    let Ok(meta) = file.metadata() else { return };
    let key = scrun_detect::FileKey::from_metadata(&meta);
    let changed = match shared.allowed.take(ev.pid) {
        Some(decided) if decided == key => {
            shared.vetted.vet(file, &key);
            return;
        }
        Some(_) => {
            shared.log.warn(format_args!(
                "pid {}: the file exec'd is not the one decided on",
                ev.pid
            ));
            true
        }
        // An ELF interpreter, or an exec the seccomp path did not see: decided here (once:
        // an allowed file is then vetted and raises no more events until written).
        None => false,
    };
    let decision = decide_opened(
        shared,
        ev,
        file,
        meta,
        Via {
            decided_by: Some("exec-watch"),
            changed_after_decision: changed,
            ..Via::default()
        },
    );
    if decision.is_some_and(|d| d.verdict == Verdict::Allow) {
        shared.vetted.vet(file, &key);
    }
}

/// How long an allowed exec's file stays leased after the answer (see [`serve_gate`]).
const LEASE_HOLD: std::time::Duration = std::time::Duration::from_millis(100);

/// Decides one gate event and answers it; true when allowed with its lease still held (the caller
/// keeps the event, and so the lease, for [`LEASE_HOLD`]).
fn gate_decide(
    shared: &Shared,
    gate: &scrun_kernel::gate::ExecGate,
    ev: &scrun_kernel::gate::GateEvent,
) -> bool {
    let respond = |allow: bool| {
        if let Err(e) = gate.respond(ev, allow) {
            shared
                .log
                .error(format_args!("exec gate answer for pid {}: {e}", ev.pid));
        }
    };
    let Some(file) = ev.file() else {
        respond(false);
        return false;
    };
    let Ok(meta) = file.metadata() else {
        respond(false);
        return false;
    };
    // Freeze the content: a writer now blocks, and an exec of a file open for write is denied.
    // The lease lasts until the event's file is closed too: after LEASE_HOLD when allowed (or
    // for as long as `vetted` keeps it), at once when denied.
    let _lease = match scrun_kernel::gate::HeldLease::take(file) {
        Ok(l) => l,
        Err(e) => {
            shared.log.warn(format_args!(
                "exec of a file open for writing denied (pid {}): {e}",
                ev.pid
            ));
            respond(false);
            return false;
        }
    };
    let key = scrun_detect::FileKey::from_metadata(&meta);
    let seen = shared.allowed.take(ev.pid) == Some(key);
    let allow = seen
        || decide_opened(
            shared,
            ev,
            file,
            meta,
            Via {
                decided_by: Some("exec-gate"),
                ..Via::default()
            },
        )
        .is_some_and(|d| d.verdict == Verdict::Allow);
    if allow {
        // Vetted before the answer: the lease it keeps outlives the event's LEASE_HOLD.
        shared.vetted.vet(file, &key);
    }
    respond(allow);
    allow
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    #[test]
    fn a_gate_event_path_is_told_in_the_container() {
        let rootfs = Path::new("/var/lib/c/rootfs");
        let at = |p: &str| container_path(PathBuf::from(p), rootfs);
        // Opened from the host: under the rootfs.
        assert_eq!(at("/var/lib/c/rootfs/bin/sh"), Path::new("/bin/sh"));
        // Opened in the container: relative to the opener's root already.
        assert_eq!(at("/bin/sh"), Path::new("/bin/sh"));
        // Renamed over since.
        assert_eq!(at("/var/lib/c/rootfs/tmp/x (deleted)"), Path::new("/tmp/x"));
        assert_eq!(at("/tmp/x (deleted)"), Path::new("/tmp/x"));
        // Only whole components of the rootfs are stripped.
        assert_eq!(
            at("/var/lib/c/rootfs2/bin/sh"),
            Path::new("/var/lib/c/rootfs2/bin/sh")
        );
    }
}
