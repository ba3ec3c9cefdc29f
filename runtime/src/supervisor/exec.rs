//! One notification -> one exec event: read the exec's path and argv from the target's memory
//! (bounded, `process_vm_readv`), re-check the notification id, resolve the target inside the
//! container's root, let [`super::decide`] decide, and say what to answer — all on the listener's
//! thread.

use scrun_detect::attribution::{self, Runner};
use scrun_detect::engine::Verdict;
use scrun_detect::event::Strings;
use scrun_detect::policy::Mode;
use scrun_kernel::memory::{self, MemError};
use scrun_kernel::notify::Listener;
use scrun_kernel::resolve::{self, RootDir};

use super::Shared;
use super::decide::{Via, decide};

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

/// Per listener thread: what was learnt about recently exec'd files, keyed so that a changed
/// file is never mistaken for the one seen (see `resolve::PathCache`).
pub struct ThreadCache {
    paths: resolve::PathCache,
    shebangs: scrun_detect::bounded::Bounded<scrun_detect::FileKey, Option<String>>,
}

impl Default for ThreadCache {
    fn default() -> Self {
        ThreadCache {
            paths: resolve::PathCache::default(),
            shebangs: scrun_detect::bounded::Bounded::new(4096),
        }
    }
}

impl ThreadCache {
    fn shebang(&mut self, key: &scrun_detect::FileKey, r: &resolve::Resolved) -> Option<String> {
        if let Some(v) = self.shebangs.get(key) {
            return v;
        }
        let v = shebang_of(r.readable().ok()?);
        self.shebangs.insert(*key, v.clone());
        v
    }
}

pub enum Answer {
    Continue,
    Errno(i32),
    None,
}

fn mem_errno(e: &MemError) -> Option<i32> {
    match e {
        MemError::Gone { .. } => None,
        MemError::TooLong { .. } => Some(libc::ENAMETOOLONG),
        _ => Some(libc::EFAULT),
    }
}

/// [`handle_exec`], counted and timed for the node metrics (atomic increments only).
pub fn handle(
    shared: &Shared,
    listener: &Listener,
    root: &mut Option<RootDir>,
    cache: &mut ThreadCache,
    notif: &scrun_kernel::notify::Notification,
) -> Answer {
    let t0 = std::time::Instant::now();
    let answer = handle_exec(shared, listener, root, cache, notif);
    let outcome = match answer {
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
    root: &mut Option<RootDir>,
    cache: &mut ThreadCache,
    notif: &scrun_kernel::notify::Notification,
) -> Answer {
    let ctx = &shared.engine;
    let enforce = ctx.mode == Mode::Enforce;
    let Some(call) = notif.exec_call() else {
        return Answer::Continue;
    };
    let pid = notif.pid;
    // The kernel itself would fail an exec whose path cannot be read: answer as it would.
    let path = match memory::read_cstring(pid, call.path_ptr, PATH_MAX) {
        Ok(p) => p,
        Err(e) => return mem_errno(&e).map_or(Answer::None, Answer::Errno),
    };
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
    if root.is_none() {
        match RootDir::open_for_pid(pid) {
            Ok(r) => *root = Some(r),
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
        }
    }
    let root_dir = root.as_ref().expect("set above");
    let resolved = match resolve::resolve_exec_cached(
        root_dir,
        pid,
        call.dirfd,
        &path,
        call.empty_path(),
        call.nofollow(),
        &mut cache.paths,
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
    let syscall = if matches!(call.kind, scrun_kernel::notify::ExecKind::Execve) {
        "execve"
    } else {
        "execveat"
    };
    // A `#!` script: the kernel runs the interpreter without another notification. The answer
    // is a property of the content, so it is kept per (dev, ino, size, mtime, ctime).
    let file_key = scrun_detect::FileKey::from_metadata(&resolved.meta);
    let shebang = cache.shebang(&file_key, &resolved);
    let via = Via {
        interpreter: shebang,
        rules: true,
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
    // `ld.so ./bin` and `sh ./script`: what really runs is an argument; decide on it too.
    if let Some((target, via)) = indirect_target(root_dir, pid, &resolved, &path, &mut argv) {
        let d = decide(
            ctx,
            &shared.log,
            pid,
            &path,
            &mut argv,
            Some(&mut env),
            syscall,
            &target,
            Via { rules: true, ..via },
        );
        if d.verdict == Verdict::Block {
            verdict = Verdict::Block;
        }
    }
    if verdict == Verdict::Allow {
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

/// The interpreter of a `#!` script (one pread of the file's head).
pub fn shebang_of(file: &std::fs::File) -> Option<String> {
    let head = resolve::read_head(file, 256).ok()?;
    attribution::shebang_interpreter(&head)
}

/// The file that really runs when the exec target is the dynamic loader (`ld.so ./bin`) or a
/// shell given a script (`sh ./script.sh`), resolved in the container's root.
fn indirect_target(
    root: &RootDir,
    pid: u32,
    resolved: &resolve::Resolved,
    requested: &[u8],
    argv: &mut LazyStrings<'_>,
) -> Option<(resolve::Resolved, Via)> {
    let (target, runner) =
        attribution::indirect_target(&resolved.path, requested, argv, |candidate| {
            let target = resolve::resolve_exec(root, pid, None, candidate, false, false).ok()?;
            target.meta.is_file().then_some(target)
        })?;
    let runner_path = Some(resolved.path.display().to_string());
    let via = match runner {
        Runner::Loader => Via {
            loader: runner_path,
            ..Via::default()
        },
        Runner::Shell => Via {
            interpreter: runner_path,
            ..Via::default()
        },
    };
    Some((target, via))
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
