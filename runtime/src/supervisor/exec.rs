//! One notification -> one exec event: read the exec's path and argv from the target's memory
//! (bounded, `process_vm_readv`), re-check the notification id, resolve the target in the
//! caller's own view (its root, in its mount namespace: scrun-kernel `view`), let
//! [`super::decide`] decide on it and on every other file the exec loads ([`super::loaded`]),
//! and say what to answer — on the listener's thread, or on the hash pool for a big file the
//! caches do not know.

use std::sync::atomic::Ordering;

use scrun_detect::engine::Verdict;
use scrun_detect::event::Strings;
use scrun_detect::policy::Mode;
use scrun_kernel::memory::{self, MemError};
use scrun_kernel::notify::Listener;
use scrun_kernel::resolve;
use scrun_kernel::view::{Taint, Views};

use super::Shared;
use super::decide::{Via, decide, target_of};
use super::loaded::{self, ThreadCache};

const PATH_MAX: usize = 4096;
const MAX_ARGS: usize = 4096;
const MAX_ARG_BYTES: usize = 128 * 1024;
const MAX_ENV: usize = 1024;
const MAX_ENV_BYTES: usize = 64 * 1024;

/// A string array of the exec (argv or envp), read from the target's memory on first use (and
/// the notification then re-checked, as for the path): only a finding or a `ld.so`/`sh`
/// indirection needs them, so most execs never read them.
pub struct LazyStrings<'a> {
    /// (listener, notification id, pid, array pointer, 32-bit task, max items, max bytes);
    /// `None`: there is nothing to read (an exec gate event).
    from: Option<(&'a Listener, u64, u32, u64, bool, usize, usize)>,
    value: Option<(Vec<Vec<u8>>, bool)>,
}

impl<'a> LazyStrings<'a> {
    fn of(
        listener: &'a Listener,
        notif: &scrun_kernel::notify::Notification,
        ptr: u64,
        compat32: bool,
        (max_items, max_bytes): (usize, usize),
    ) -> Self {
        LazyStrings {
            from: Some((
                listener, notif.id, notif.pid, ptr, compat32, max_items, max_bytes,
            )),
            value: None,
        }
    }
}

impl Strings for LazyStrings<'_> {
    fn get(&mut self) -> (&[Vec<u8>], bool) {
        if self.value.is_none() {
            let read = self
                .from
                .and_then(|(listener, id, pid, ptr, compat32, n, bytes)| {
                    let a = memory::read_string_array(pid, ptr, compat32, n, bytes).ok()?;
                    listener.id_valid(id).then_some((a.items, a.truncated))
                });
            self.value = Some(read.unwrap_or_default());
        }
        let (items, truncated) = self.value.as_ref().expect("set above");
        (items, *truncated)
    }
}

pub enum Answer {
    Continue,
    Errno(i32),
    None,
    /// Decide on the hash pool (see `answer::defer`).
    Defer,
}

/// Files up to this size are hashed on the notification thread (a few ms at most in a release
/// build; a static busybox is 2 MB); bigger ones the caches do not know are decided on the hash
/// pool. Not lower: the pool's threads run `SCHED_IDLE`, so a container that keeps every CPU
/// busy (race.rs's rewriting helper) would wait seconds for each exec of a fresh binary.
pub const INLINE_HASH_MAX: u64 = 16 << 20;

fn mem_errno(e: &MemError) -> Option<i32> {
    match e {
        MemError::Gone { .. } => None,
        MemError::TooLong { .. } => Some(libc::ENAMETOOLONG),
        _ => Some(libc::EFAULT),
    }
}

/// [`handle_exec`], counted and timed for the node metrics (atomic increments only). An exec
/// sent to the hash pool is counted there, when it is decided. `may_defer`: a big file may be
/// sent to the hash pool (false on the pool itself).
pub fn handle(
    shared: &Shared,
    listener: &Listener,
    views: &mut Views,
    cache: &mut ThreadCache,
    notif: &scrun_kernel::notify::Notification,
    call: &scrun_kernel::notify::ExecCall,
    may_defer: bool,
) -> Answer {
    let t0 = std::time::Instant::now();
    let answer = handle_exec(shared, listener, views, cache, notif, call, may_defer);
    let outcome = match answer {
        Answer::Defer => return answer,
        Answer::Continue => crate::metrics::Outcome::Allowed,
        Answer::Errno(libc::EPERM) => crate::metrics::Outcome::Blocked,
        Answer::Errno(_) | Answer::None => crate::metrics::Outcome::Error,
    };
    crate::metrics::COUNTERS.exec(outcome, t0.elapsed());
    answer
}

fn handle_exec(
    shared: &Shared,
    listener: &Listener,
    views: &mut Views,
    cache: &mut ThreadCache,
    notif: &scrun_kernel::notify::Notification,
    call: &scrun_kernel::notify::ExecCall,
    may_defer: bool,
) -> Answer {
    let ctx = &shared.engine;
    let enforce = ctx.mode == Mode::Enforce;
    let pid = notif.pid;
    // The kernel itself would fail an exec whose path cannot be read: answer as it would.
    let path = match memory::read_cstring(pid, call.path_ptr, PATH_MAX) {
        Ok(p) => p,
        Err(e) => return mem_errno(&e).map_or(Answer::None, Answer::Errno),
    };
    #[cfg(debug_assertions)]
    if let Some(end) = &ctx.config.supervisor.test_panic_on {
        assert!(
            !path.ends_with(end.as_bytes()),
            "test_panic_on: exec of {}",
            String::from_utf8_lossy(&path)
        );
    }
    let mut argv = LazyStrings::of(
        listener,
        notif,
        call.argv_ptr,
        call.compat32,
        (MAX_ARGS, MAX_ARG_BYTES),
    );
    // Read only if a finding shows it (`include_env`) or a rule asks for it.
    let mut env = LazyStrings::of(
        listener,
        notif,
        call.envp_ptr,
        call.compat32,
        (MAX_ENV, MAX_ENV_BYTES),
    );
    // What we read may have been from a process that has since gone or been interrupted.
    if !listener.id_valid(notif.id) {
        return Answer::None;
    }
    // The caller's own view: its root (chroot) in its own mount namespace.
    let taint = Taint::from_bits(shared.views_tainted.load(Ordering::Acquire));
    let (mut view, _) = match views.view(pid, taint) {
        Ok(v) => v,
        Err(e) => {
            shared
                .log
                .error(format_args!("cannot open the root of pid {pid}: {e}"));
            return if enforce
                && ctx.config.supervisor.on_error == scrun_detect::policy::OnError::Deny
            {
                Answer::Errno(libc::EPERM)
            } else {
                Answer::Continue
            };
        }
    };
    let resolved = match resolve::resolve_exec_cached(
        view.root,
        pid,
        call.dirfd,
        &path,
        call.empty_path(),
        call.nofollow(),
        view.paths,
    ) {
        Ok(r) => r,
        // The kernel will fail this exec the same way; enforce mode answers it itself.
        Err(e) => {
            return if enforce {
                Answer::Errno(e.errno())
            } else {
                Answer::Continue
            };
        }
    };
    let (resolved, caller_path) = view.in_container(resolved);
    let file_key = scrun_detect::FileKey::from_metadata(&resolved.meta);
    if may_defer
        && resolved.meta.len() > INLINE_HASH_MAX
        && !ctx
            .engine
            .has_verdict(&target_of(&resolved), &resolved.meta)
    {
        return Answer::Defer;
    }
    let syscall = if matches!(call.kind, scrun_kernel::notify::ExecKind::Execve) {
        "execve"
    } else {
        "execveat"
    };
    // A `#!` script: reported on the script's own decision; its interpreter is decided below.
    let shebang = cache.shebang(&file_key, &resolved);
    let via = Via {
        interpreter: shebang,
        rules: true,
        caller_path: caller_path.map(|p| p.display().to_string()),
        ..Via::default()
    };
    let mut verdict = decide(
        ctx,
        &shared.log,
        pid,
        &path,
        &mut argv,
        Some(&mut env),
        syscall,
        &resolved,
        via,
    )
    .verdict;
    // Every other file the kernel loads for this exec (each `#!` interpreter, the ELF program
    // interpreter) and what a loader or shell is asked to run (`ld.so ./bin`, `sh ./script`):
    // each decided like an exec.
    let more = loaded::chain(&mut view, cache, pid, &resolved, &path, &mut argv);
    for (file, caller_path, via) in more {
        let operand = via.loader.is_some();
        gate_reached(shared, &file);
        let d = decide(
            ctx,
            &shared.log,
            pid,
            &path,
            &mut argv,
            Some(&mut env),
            syscall,
            &file,
            Via {
                caller_path: caller_path.map(|p| p.display().to_string()),
                ..via
            },
        );
        if d.verdict == Verdict::Block {
            verdict = Verdict::Block;
        } else if operand {
            cache.note_operand(pid, scrun_detect::FileKey::from_metadata(&file.meta));
        }
    }
    if verdict == Verdict::Allow {
        gate_reached(shared, &resolved);
        super::rules::record(&ctx.engine, pid, &path, &resolved.path);
    }
    if verdict == Verdict::Allow
        && !shared
            .vetted
            .vet_with(&file_key, || resolved.readable().ok())
    {
        shared.allowed.record(pid, file_key);
    }
    match verdict {
        Verdict::Allow => Answer::Continue,
        Verdict::Block => Answer::Errno(libc::EPERM),
    }
}

/// Before an exec goes on: the superblock or mount its file is on is under the exec gate (or
/// watcher), also when it was made after start (see `mounts::Reached`). A memfd is not: its
/// superblock is the kernel's internal one, shared with every memfd of the host.
fn gate_reached(shared: &Shared, file: &resolve::Resolved) {
    let Some(gate) = shared.vetted.gate() else {
        return;
    };
    if file.memfd {
        return;
    }
    match shared.reached.gate(gate, file) {
        Ok(super::mounts::Marked::Already) => {}
        Ok(how) => shared.log.warn(format_args!(
            "exec of {} reached a mount not gated before: marked ({how:?})",
            file.path.display()
        )),
        Err(e) => shared.log.warn(format_args!(
            "cannot put the mount of {} under the exec gate: {e}",
            file.path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_path_is_answered_as_the_kernel_would() {
        // Gone: no answer (the notification is void).
        assert_eq!(mem_errno(&MemError::Gone { pid: 1 }), None);
        let too_long = MemError::TooLong {
            pid: 1,
            addr: 0x1000,
            max_len: PATH_MAX,
        };
        assert_eq!(mem_errno(&too_long), Some(libc::ENAMETOOLONG));
        let fault = MemError::Fault { pid: 1, addr: 0 };
        assert_eq!(mem_errno(&fault), Some(libc::EFAULT));
    }
}
