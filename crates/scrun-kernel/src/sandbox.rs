//! The supervisor's own seccomp sandbox (built with `seccompiler`, Firecracker-style) and
//! small process-hygiene helpers for daemonizing.
//!
//! Two BPF programs are installed, both with TSYNC:
//! - **allowlist**: what a supervisor thread needs (std, threads, file and socket IO,
//!   notify ioctls, `process_vm_readv`, ...). Anything else fails with **`ENOSYS`**, the
//!   answer libc and std treat as "not supported here" and fall back from (`clone3` ->
//!   `clone`, `statx` -> `fstat`, `close_range` -> loop). A missing entry therefore
//!   degrades one call instead of killing the supervisor, whose death would fail every
//!   trapped exec of the container with ENOSYS until it is replaced.
//! - **denylist**: `execve`, `execveat`, `ptrace`, `mount`, `setns`, `unshare`, ... are
//!   **`KILL_PROCESS`**: no legitimate supervisor path calls them, so a call means the
//!   supervisor was subverted, and dying loudly (audit log, keeper restart) beats carrying on.
//!
//! `clone` is allowed only with `CLONE_THREAD` (threads, not processes); `ioctl` only with the
//! seccomp notify requests and `FIONBIO`; `prctl` only `PR_SET_NAME`/`PR_GET_NAME`.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Errors of the sandbox helpers.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("building the supervisor seccomp filter failed: {0}")]
    Build(seccompiler::BackendError),
    #[error(
        "installing the supervisor seccomp filter failed: {0}; it needs Linux >= 3.17 with seccomp and TSYNC, and no other thread with a diverging filter"
    )]
    Apply(seccompiler::Error),
    #[error(
        "this architecture ({0}) has no supervisor filter; only x86_64 and aarch64 are supported"
    )]
    Arch(&'static str),
}

// The cause is in the message: a `From` instead of `#[from]`, which would also make it the
// `source()` and print it twice in an error chain.
impl From<seccompiler::BackendError> for SandboxError {
    fn from(e: seccompiler::BackendError) -> Self {
        SandboxError::Build(e)
    }
}

impl From<seccompiler::Error> for SandboxError {
    fn from(e: seccompiler::Error) -> Self {
        SandboxError::Apply(e)
    }
}

/// The two programs of the supervisor sandbox (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorFilter {
    /// Listed syscalls allowed, everything else `ENOSYS`.
    pub allow: BpfProgram,
    /// Dangerous syscalls kill the process, everything else passes to `allow`.
    pub deny: BpfProgram,
}

fn target() -> Result<TargetArch, SandboxError> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|_| SandboxError::Arch(std::env::consts::ARCH))
}

fn cond(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    val: u64,
) -> Result<SeccompCondition, SandboxError> {
    Ok(SeccompCondition::new(arg, len, op, val)?)
}

/// One rule per allowed value of argument `arg` (compared on its low 32 bits).
fn one_of(arg: u8, values: &[u64]) -> Result<Vec<SeccompRule>, SandboxError> {
    values
        .iter()
        .map(|&v| {
            Ok(SeccompRule::new(vec![cond(
                arg,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                v,
            )?])?)
        })
        .collect()
}

fn allowed_unconditionally() -> Vec<i64> {
    let mut v = vec![
        // memory and threads
        libc::SYS_brk,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_mprotect,
        libc::SYS_madvise,
        libc::SYS_futex,
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_membarrier,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_gettid,
        libc::SYS_getpid,
        libc::SYS_getppid,
        libc::SYS_tgkill,
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
        libc::SYS_uname,
        // signals
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_signalfd4,
        libc::SYS_rt_sigreturn,
        // A stopped and continued thread (SIGSTOP, a debugger attaching) resumes an
        // interrupted sleep through it.
        libc::SYS_restart_syscall,
        libc::SYS_sigaltstack,
        // time and randomness
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        libc::SYS_getrandom,
        // waiting
        libc::SYS_ppoll,
        libc::SYS_epoll_create1,
        libc::SYS_epoll_ctl,
        libc::SYS_epoll_pwait,
        libc::SYS_eventfd2,
        libc::SYS_pipe2,
        // files
        libc::SYS_openat,
        libc::SYS_openat2,
        libc::SYS_close,
        libc::SYS_close_range,
        libc::SYS_read,
        libc::SYS_readv,
        libc::SYS_pread64,
        libc::SYS_preadv,
        libc::SYS_write,
        libc::SYS_writev,
        libc::SYS_pwrite64,
        libc::SYS_lseek,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_statx,
        libc::SYS_statfs,
        libc::SYS_fstatfs,
        libc::SYS_readlinkat,
        // overlayfs provenance reads trusted.overlay.* xattrs (origin, opaque)
        libc::SYS_getxattr,
        libc::SYS_lgetxattr,
        libc::SYS_fgetxattr,
        libc::SYS_listxattr,
        libc::SYS_llistxattr,
        libc::SYS_flistxattr,
        libc::SYS_getdents64,
        libc::SYS_getcwd,
        libc::SYS_fcntl,
        libc::SYS_flock,
        libc::SYS_fsync,
        libc::SYS_fdatasync,
        libc::SYS_ftruncate,
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_renameat,
        libc::SYS_renameat2,
        libc::SYS_unlinkat,
        libc::SYS_mkdirat,
        libc::SYS_dup,
        libc::SYS_dup3,
        libc::SYS_umask,
        // sockets (listener, sinks, webhooks)
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_connect,
        libc::SYS_accept4,
        libc::SYS_recvmsg,
        libc::SYS_sendmsg,
        libc::SYS_recvfrom,
        libc::SYS_sendto,
        libc::SYS_setsockopt,
        libc::SYS_getsockopt,
        libc::SYS_getsockname,
        libc::SYS_getpeername,
        libc::SYS_shutdown,
        // the supervisor's job
        libc::SYS_process_vm_readv,
        libc::SYS_pidfd_open,
        // Hash threads lower their own priority (process::lowest_thread_priority).
        libc::SYS_setpriority,
        libc::SYS_sched_setscheduler,
        libc::SYS_pidfd_getfd,
        libc::SYS_fanotify_mark,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        libc::SYS_arch_prctl,
        libc::SYS_poll,
        libc::SYS_epoll_wait,
        libc::SYS_open,
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_readlink,
        libc::SYS_rename,
        libc::SYS_unlink,
        libc::SYS_mkdir,
        libc::SYS_accept,
        libc::SYS_dup2,
        libc::SYS_pipe,
        libc::SYS_chmod,
    ]);
    v
}

fn denied() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_ptrace,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_setns,
        libc::SYS_unshare,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_open_by_handle_at,
        libc::SYS_userfaultfd,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_fsopen,
        libc::SYS_fsmount,
        libc::SYS_fsconfig,
        libc::SYS_setuid,
        libc::SYS_setgid,
        libc::SYS_setresuid,
        libc::SYS_setresgid,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([libc::SYS_iopl, libc::SYS_ioperm, libc::SYS_kexec_file_load]);
    v
}

/// Builds the supervisor sandbox for this architecture.
pub fn supervisor_filter() -> Result<SupervisorFilter, SandboxError> {
    let arch = target()?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = allowed_unconditionally()
        .into_iter()
        .map(|nr| (nr, Vec::new()))
        .collect();
    rules.insert(
        libc::SYS_ioctl,
        one_of(
            1,
            &[
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                libc::SECCOMP_IOCTL_NOTIF_ADDFD,
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                libc::FIONBIO,
                // The caller's mount namespace for each exec (crate::view).
                crate::view::PIDFD_GET_MNT_NAMESPACE,
                // The file-backed areas of an mprotect range (crate::maps).
                crate::maps::PROCMAP_QUERY,
            ],
        )?,
    );
    rules.insert(
        libc::SYS_prctl,
        one_of(0, &[libc::PR_SET_NAME as u64, libc::PR_GET_NAME as u64])?,
    );
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![SeccompRule::new(vec![cond(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::MaskedEq(thread),
            thread,
        )?])?],
    );
    let allow = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::ENOSYS as u32),
        SeccompAction::Allow,
        arch,
    )?;
    let deny = SeccompFilter::new(
        denied().into_iter().map(|nr| (nr, Vec::new())).collect(),
        SeccompAction::Allow,
        SeccompAction::KillProcess,
        arch,
    )?;
    Ok(SupervisorFilter {
        allow: BpfProgram::try_from(allow)?,
        deny: BpfProgram::try_from(deny)?,
    })
}

/// Installs both programs on every thread of the process (TSYNC). seccompiler sets
/// `PR_SET_NO_NEW_PRIVS` first, which is what a supervisor wants.
pub fn apply_to_all_threads(filter: &SupervisorFilter) -> Result<(), SandboxError> {
    seccompiler::apply_filter_all_threads(&filter.deny)?;
    seccompiler::apply_filter_all_threads(&filter.allow)?;
    Ok(())
}

/// Closes every fd above 2 except those in `keep` (`close_range`, or a `/proc/self/fd`
/// walk when that is unavailable). Call it first thing in a new daemon, before anything
/// opens files: an `OwnedFd`/`File` the process still holds outside `keep` would be left
/// dangling. stdio is never closed here (point it at /dev/null instead).
pub fn close_inherited_fds(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 3u32;
    let mut ranges = Vec::new();
    for &k in &keep {
        if k > first {
            ranges.push((first, k - 1));
        }
        first = k + 1;
    }
    ranges.push((first, u32::MAX));
    for &(lo, hi) in &ranges {
        match close_range(lo, hi) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
                return close_by_walking(&keep);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn close_range(lo: u32, hi: u32) -> io::Result<()> {
    // SAFETY: close_range has no memory-safety preconditions: it only closes descriptor
    // numbers in [lo, hi]. I/O-safety (no live OwnedFd in that range) is the documented
    // contract of close_inherited_fds, which callers use before opening anything.
    let rc = unsafe { libc::close_range(lo, hi, 0) };
    crate::sys::cvt(rc).map(drop)
}

fn close_by_walking(keep: &[u32]) -> io::Result<()> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&fd| fd > 2 && u32::try_from(fd).is_ok_and(|u| keep.binary_search(&u).is_err()))
        .collect();
    // The ReadDir (and its fd, which is in `fds`) is closed by now; EBADF for it is expected.
    for fd in fds {
        // SAFETY: as in close_range: closing a number has no memory-safety precondition,
        // and the caller guarantees no live owner exists outside `keep`.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Starts a new session (`setsid`) so the supervisor has no controlling terminal and does
/// not get the caller's job-control signals. Fails with EPERM for a process group leader
/// (fork first).
pub fn detach_session() -> io::Result<u32> {
    let sid = nix::unistd::setsid()?;
    Ok(sid.as_raw() as u32)
}
