//! seccomp user-notification listener: wait, receive, re-check and answer.
//!
//! The raw `ioctl`s live in the private `ioctl` module below; everything public
//! is safe and total.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386` (`EM_386 | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64` (`EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
/// x32 syscalls arrive with `AUDIT_ARCH_X86_64` and this bit set in `nr`.
const X32_SYSCALL_BIT: i32 = 0x4000_0000;
/// `AT_FDCWD` as the kernel sees it in the low 32 bits of the dirfd argument.
const AT_FDCWD: i32 = libc::AT_FDCWD;
/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (include/uapi/linux/seccomp.h).
const SYNC_WAKE_UP: u64 = 1;

/// Errors of the notify listener.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The target died or its syscall was interrupted; an interrupted exec is re-issued and
    /// notified again under a new id, so drop this one and keep serving.
    #[error(
        "seccomp notification is gone (target exited or was interrupted); wait for the next one"
    )]
    Gone,
    /// `respond_errno` was asked for an errno the kernel would not treat as a failure.
    #[error("refusing to answer notification {id} with errno {errno}: it must be in 1..=4095")]
    InvalidErrno { id: u64, errno: i32 },
    /// The listener fd is not a seccomp listener or was closed (`POLLNVAL`, `EBADF`, `EINVAL`).
    #[error(
        "seccomp listener fd {fd} is invalid: {cause}; check that it came from SECCOMP_FILTER_FLAG_NEW_LISTENER"
    )]
    BadListener { fd: i32, cause: io::Error },
    /// Any other failure of poll or of a notify ioctl.
    #[error("seccomp {op} on listener fd {fd} failed: {cause}")]
    Io {
        op: &'static str,
        fd: i32,
        cause: io::Error,
    },
}

/// What `Listener::wait` saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// A notification is pending; `recv` will not block.
    Ready,
    /// No task uses the filter any more: close the listener.
    Hangup,
    /// Nothing happened within the timeout.
    Timeout,
}

/// One trapped syscall, copied out of `struct seccomp_notif`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Cookie for `id_valid` and the responses.
    pub id: u64,
    /// Thread id of the target in the listener's pid namespace (0 if not visible there).
    pub pid: u32,
    /// Syscall number as seen by the filter (x32 calls carry bit 30).
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the calling convention.
    pub arch: u32,
    /// Instruction pointer at the syscall.
    pub ip: u64,
    /// Raw syscall arguments.
    pub args: [u64; 6],
}

/// A trapped syscall that changes how a task sees the file system (see `view::Taint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewChange {
    /// `unshare`/`clone` (with `CLONE_NEWNS`, as the filter traps them), `clone3`, `setns`: the
    /// task (or its child) may end up in another mount namespace.
    Namespace,
    /// `chroot`, `pivot_root`: another root, possibly in the same namespace.
    Root,
}

/// Which exec syscall was trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecKind {
    /// `execve(path, argv, envp)`.
    Execve,
    /// `execveat(dirfd, path, argv, envp, flags)`.
    Execveat,
}

/// The decoded arguments of an exec syscall. Pointers are addresses in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecCall {
    pub kind: ExecKind,
    /// `None` means `AT_FDCWD` (always `None` for `execve`).
    pub dirfd: Option<i32>,
    pub path_ptr: u64,
    pub argv_ptr: u64,
    pub envp_ptr: u64,
    /// `execveat` flags (`AT_EMPTY_PATH`, `AT_SYMLINK_NOFOLLOW`); 0 for `execve`.
    pub flags: i32,
    /// argv/envp are arrays of 4-byte pointers (i386 or x32 caller).
    pub compat32: bool,
}

impl ExecCall {
    /// `AT_EMPTY_PATH` is set.
    pub fn empty_path(&self) -> bool {
        self.flags & libc::AT_EMPTY_PATH != 0
    }

    /// `AT_SYMLINK_NOFOLLOW` is set.
    pub fn nofollow(&self) -> bool {
        self.flags & libc::AT_SYMLINK_NOFOLLOW != 0
    }
}

impl Notification {
    /// Decodes the view-changing syscalls the container filter traps besides exec; `None` for
    /// any other syscall or architecture.
    pub fn view_change(&self) -> Option<ViewChange> {
        let nr = match self.arch {
            // x32 numbers these like x86_64, with the x32 bit.
            AUDIT_ARCH_X86_64 => self.nr & !X32_SYSCALL_BIT,
            _ => self.nr,
        };
        use ViewChange::{Namespace, Root};
        Some(match (self.arch, nr) {
            (AUDIT_ARCH_X86_64, 161 | 155) | (AUDIT_ARCH_I386, 61 | 217) => Root,
            (AUDIT_ARCH_AARCH64, 51 | 41) => Root,
            (AUDIT_ARCH_X86_64, 272 | 56 | 435 | 308) => Namespace,
            (AUDIT_ARCH_I386, 310 | 120 | 435 | 346) => Namespace,
            (AUDIT_ARCH_AARCH64, 97 | 220 | 435 | 268) => Namespace,
            _ => return None,
        })
    }

    /// Decodes `execve`/`execveat` for x86_64 (and x32), i386 and aarch64; `None` for any
    /// other syscall or architecture.
    pub fn exec_call(&self) -> Option<ExecCall> {
        let (kind, compat32) = match (self.arch, self.nr) {
            (AUDIT_ARCH_X86_64, 59) => (ExecKind::Execve, false),
            (AUDIT_ARCH_X86_64, 322) => (ExecKind::Execveat, false),
            (AUDIT_ARCH_X86_64, nr) if nr == X32_SYSCALL_BIT | 520 => (ExecKind::Execve, true),
            (AUDIT_ARCH_X86_64, nr) if nr == X32_SYSCALL_BIT | 545 => (ExecKind::Execveat, true),
            (AUDIT_ARCH_I386, 11) => (ExecKind::Execve, true),
            (AUDIT_ARCH_I386, 358) => (ExecKind::Execveat, true),
            (AUDIT_ARCH_AARCH64, 221) => (ExecKind::Execve, false),
            (AUDIT_ARCH_AARCH64, 281) => (ExecKind::Execveat, false),
            _ => return None,
        };
        // Compat callers pass 32-bit pointers; the kernel zero-extends them (compat_ptr).
        let ptr = |v: u64| if compat32 { v & 0xFFFF_FFFF } else { v };
        // An int argument lives in the low 32 bits; the kernel truncates, so do we.
        let int = |v: u64| v as u32 as i32;
        Some(match kind {
            ExecKind::Execve => ExecCall {
                kind,
                dirfd: None,
                path_ptr: ptr(self.args[0]),
                argv_ptr: ptr(self.args[1]),
                envp_ptr: ptr(self.args[2]),
                flags: 0,
                compat32,
            },
            ExecKind::Execveat => {
                let dirfd = int(self.args[0]);
                ExecCall {
                    kind,
                    dirfd: (dirfd != AT_FDCWD).then_some(dirfd),
                    path_ptr: ptr(self.args[1]),
                    argv_ptr: ptr(self.args[2]),
                    envp_ptr: ptr(self.args[3]),
                    flags: int(self.args[4]),
                    compat32,
                }
            }
        })
    }
}

/// `PROT_EXEC` (the same bit on every architecture scrun supports).
pub const PROT_EXEC: u64 = 0x4;
/// `MAP_ANONYMOUS` on x86 and aarch64.
pub const MAP_ANONYMOUS: u64 = 0x20;
/// `READ_IMPLIES_EXEC` (linux/personality.h): every `PROT_READ` mapping becomes executable.
pub const READ_IMPLIES_EXEC: u64 = 0x0040_0000;
/// `personality(0xffffffff)` only queries the persona.
pub const PERSONALITY_QUERY: u64 = 0xffff_ffff;

/// Which mapping syscall was trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// `mmap(addr, len, prot, flags, fd, off)` (`mmap2` for i386).
    Mmap,
    /// `mprotect(addr, len, prot)`.
    Mprotect,
    /// `pkey_mprotect(addr, len, prot, pkey)`.
    PkeyMprotect,
    /// `personality(persona)`.
    Personality,
}

/// The decoded arguments of a mapping syscall (the filter traps `mmap` of a file with
/// `PROT_EXEC`, `mprotect`/`pkey_mprotect` with `PROT_EXEC`, and `personality` with
/// `READ_IMPLIES_EXEC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapCall {
    pub kind: MapKind,
    /// Start address (the persona for `personality`).
    pub addr: u64,
    /// Length in bytes (0 for `personality`).
    pub len: u64,
    /// `PROT_*` bits (0 for `personality`).
    pub prot: u64,
    /// `MAP_*` flags (`mmap` only).
    pub flags: u64,
    /// The mapped file's descriptor in the target (`mmap` only).
    pub fd: Option<i32>,
}

impl MapCall {
    /// The call asks for executable memory backed by a file (an `mmap` of a descriptor with
    /// `PROT_EXEC`): the file must be decided. The filter only traps such calls, but decoding
    /// does not trust that.
    pub fn maps_file_exec(&self) -> bool {
        self.kind == MapKind::Mmap && self.prot & PROT_EXEC != 0 && self.flags & MAP_ANONYMOUS == 0
    }

    /// An `mprotect`/`pkey_mprotect` that adds `PROT_EXEC` to a range: whether the range is
    /// backed by a file is for the supervisor to find out.
    pub fn protects_exec(&self) -> bool {
        matches!(self.kind, MapKind::Mprotect | MapKind::PkeyMprotect) && self.prot & PROT_EXEC != 0
    }

    /// A `personality` call that sets `READ_IMPLIES_EXEC` (not the query `0xffffffff`): from
    /// then on `PROT_READ` mappings are executable without `PROT_EXEC` in the call.
    pub fn sets_read_implies_exec(&self) -> bool {
        self.kind == MapKind::Personality
            && self.addr != PERSONALITY_QUERY
            && self.addr & READ_IMPLIES_EXEC != 0
    }
}

impl Notification {
    /// Decodes `mmap`/`mmap2`, `mprotect`, `pkey_mprotect` and `personality` for x86_64 (and
    /// x32), i386 and aarch64; `None` for any other syscall or architecture. i386's old `mmap`
    /// (90) passes its arguments in memory, where the filter's conditions cannot see them (it
    /// notifies only when stray registers match): it is decoded as an `mmap` with nothing to
    /// decide (no descriptor, no protection), so that it is let through, never mistaken for
    /// another trapped call.
    pub fn map_call(&self) -> Option<MapCall> {
        if (self.arch, self.nr) == (AUDIT_ARCH_I386, 90) {
            return Some(MapCall {
                kind: MapKind::Mmap,
                addr: 0,
                len: 0,
                prot: 0,
                flags: 0,
                fd: None,
            });
        }
        let (kind, compat32) = match (self.arch, self.nr) {
            (AUDIT_ARCH_X86_64, nr) => match (nr & !X32_SYSCALL_BIT, nr & X32_SYSCALL_BIT != 0) {
                (9, x32) => (MapKind::Mmap, x32),
                (10, x32) => (MapKind::Mprotect, x32),
                (329, x32) => (MapKind::PkeyMprotect, x32),
                (135, x32) => (MapKind::Personality, x32),
                _ => return None,
            },
            (AUDIT_ARCH_I386, 192) => (MapKind::Mmap, true),
            (AUDIT_ARCH_I386, 125) => (MapKind::Mprotect, true),
            (AUDIT_ARCH_I386, 380) => (MapKind::PkeyMprotect, true),
            (AUDIT_ARCH_I386, 136) => (MapKind::Personality, true),
            (AUDIT_ARCH_AARCH64, 222) => (MapKind::Mmap, false),
            (AUDIT_ARCH_AARCH64, 226) => (MapKind::Mprotect, false),
            (AUDIT_ARCH_AARCH64, 288) => (MapKind::PkeyMprotect, false),
            (AUDIT_ARCH_AARCH64, 92) => (MapKind::Personality, false),
            _ => return None,
        };
        // Compat callers pass 32-bit values; the kernel zero-extends them.
        let word = |v: u64| if compat32 { v & 0xFFFF_FFFF } else { v };
        let a = self.args;
        Some(match kind {
            MapKind::Personality => MapCall {
                kind,
                // personality takes an unsigned int.
                addr: a[0] & 0xFFFF_FFFF,
                len: 0,
                prot: 0,
                flags: 0,
                fd: None,
            },
            MapKind::Mmap => MapCall {
                kind,
                addr: word(a[0]),
                len: word(a[1]),
                prot: word(a[2]),
                flags: word(a[3]),
                // An int argument: the kernel truncates to the low 32 bits.
                fd: Some(a[4] as u32 as i32),
            },
            MapKind::Mprotect | MapKind::PkeyMprotect => MapCall {
                kind,
                addr: word(a[0]),
                len: word(a[1]),
                prot: word(a[2]),
                flags: 0,
                fd: None,
            },
        })
    }
}

/// A seccomp user-notify listener fd (from `SECCOMP_FILTER_FLAG_NEW_LISTENER`).
///
/// Reads and answers are synchronised by the kernel, so `&Listener` may be shared by
/// several threads.
#[derive(Debug)]
pub struct Listener(OwnedFd);

impl Listener {
    pub fn new(fd: OwnedFd) -> Self {
        Listener(fd)
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// Gives the fd back (for handing it to a keeper process).
    pub fn into_inner(self) -> OwnedFd {
        self.0
    }

    fn raw(&self) -> i32 {
        self.0.as_raw_fd()
    }

    /// Polls for a pending notification. `timeout_ms < 0` waits forever. `EINTR` restarts
    /// the wait with the full timeout.
    pub fn wait(&self, timeout_ms: i32) -> Result<Readiness, NotifyError> {
        let timeout = PollTimeout::try_from(timeout_ms.max(-1)).unwrap_or(PollTimeout::NONE);
        loop {
            let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => return Ok(Readiness::Timeout),
                Ok(_) => {
                    let rev = fds[0].revents().unwrap_or(PollFlags::empty());
                    if rev.contains(PollFlags::POLLIN) {
                        return Ok(Readiness::Ready);
                    }
                    if rev.contains(PollFlags::POLLNVAL) {
                        return Err(NotifyError::BadListener {
                            fd: self.raw(),
                            cause: io::Error::from_raw_os_error(libc::EBADF),
                        });
                    }
                    if rev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                        return Ok(Readiness::Hangup);
                    }
                    return Ok(Readiness::Timeout);
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(self.io_err("poll", e as i32)),
            }
        }
    }

    /// Receives one notification (blocks if none is pending; call `wait` first).
    pub fn recv(&self) -> Result<Notification, NotifyError> {
        loop {
            match ioctl::recv(self.0.as_fd()) {
                Ok(n) => {
                    return Ok(Notification {
                        id: n.id,
                        pid: n.pid,
                        nr: n.data.nr,
                        arch: n.data.arch,
                        ip: n.data.instruction_pointer,
                        args: n.data.args,
                    });
                }
                Err(libc::EINTR) => continue,
                Err(errno) => return Err(self.classify("recv", errno)),
            }
        }
    }

    /// `SECCOMP_IOCTL_NOTIF_SET_FLAGS(SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)` (Linux 6.6): the
    /// kernel wakes the receiving thread on the notifying task's CPU and the task, once
    /// answered, on the answering thread's CPU. The exec'ing task is blocked anyway, so the
    /// round trip stays on one CPU instead of paying two cross-CPU wake-ups (inter-processor
    /// interrupts, expensive in a VM). Returns false on older kernels, which is harmless.
    pub fn set_sync_wakeup(&self) -> bool {
        ioctl::set_flags(self.0.as_fd(), SYNC_WAKE_UP).is_ok()
    }

    /// `SECCOMP_IOCTL_NOTIF_ID_VALID`: the target is still blocked in this notification.
    /// Call it after reading the target's memory and before trusting what was read.
    pub fn id_valid(&self, id: u64) -> bool {
        ioctl::id_valid(self.0.as_fd(), id).is_ok()
    }

    /// Lets the syscall run (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`). The kernel re-reads the
    /// path from the target's memory, so an allow is best-effort (TOCTOU); denials are exact.
    pub fn respond_continue(&self, id: u64) -> Result<(), NotifyError> {
        self.send(id, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32)
    }

    /// Fails the syscall with `errno` (1..=4095) without running it.
    pub fn respond_errno(&self, id: u64, errno: i32) -> Result<(), NotifyError> {
        // error == 0 would make the syscall "succeed" with val 0 without running it.
        if !(1..=4095).contains(&errno) {
            return Err(NotifyError::InvalidErrno { id, errno });
        }
        self.send(id, -errno, 0)
    }

    fn send(&self, id: u64, error: i32, flags: u32) -> Result<(), NotifyError> {
        let resp = libc::seccomp_notif_resp {
            id,
            val: 0,
            error,
            flags,
        };
        loop {
            match ioctl::send(self.0.as_fd(), &resp) {
                Ok(()) => return Ok(()),
                Err(libc::EINTR) => continue,
                Err(errno) => return Err(self.classify("send", errno)),
            }
        }
    }

    fn classify(&self, op: &'static str, errno: i32) -> NotifyError {
        match errno {
            libc::ENOENT => NotifyError::Gone,
            libc::EBADF | libc::EINVAL | libc::ENOTTY => NotifyError::BadListener {
                fd: self.raw(),
                cause: io::Error::from_raw_os_error(errno),
            },
            _ => self.io_err(op, errno),
        }
    }

    fn io_err(&self, op: &'static str, errno: i32) -> NotifyError {
        NotifyError::Io {
            op,
            fd: self.raw(),
            cause: io::Error::from_raw_os_error(errno),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// The three notify ioctls. Each returns the errno on failure.
mod ioctl {
    use std::os::fd::{AsRawFd, BorrowedFd};

    /// `struct seccomp_notif` plus slack, so a kernel whose struct grew cannot write
    /// past our buffer even if it ever accepted the old request number.
    #[repr(C)]
    struct RecvBuf {
        notif: libc::seccomp_notif,
        _slack: [u8; 64],
    }

    pub(super) fn recv(fd: BorrowedFd<'_>) -> Result<libc::seccomp_notif, i32> {
        // SAFETY: RecvBuf is plain old data (integers only), so the all-zero pattern is a
        // valid value; the kernel requires the struct to be zeroed before NOTIF_RECV.
        let mut buf: RecvBuf = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is a live descriptor for the duration of the call (borrowed), and the
        // request NOTIF_RECV writes at most size_of::<seccomp_notif>() bytes (encoded in the
        // request number) into `buf.notif`, which is a valid, exclusively borrowed
        // seccomp_notif followed by 64 bytes of slack.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut buf.notif as *mut libc::seccomp_notif,
            )
        };
        if rc < 0 {
            Err(nix::errno::Errno::last_raw())
        } else {
            Ok(buf.notif)
        }
    }

    pub(super) fn send(fd: BorrowedFd<'_>, resp: &libc::seccomp_notif_resp) -> Result<(), i32> {
        // SAFETY: `fd` is live (borrowed); NOTIF_SEND only reads a seccomp_notif_resp from
        // the pointer, and `resp` is a valid, initialised one that outlives the call.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                resp as *const libc::seccomp_notif_resp,
            )
        };
        if rc < 0 {
            Err(nix::errno::Errno::last_raw())
        } else {
            Ok(())
        }
    }

    pub(super) fn set_flags(fd: BorrowedFd<'_>, flags: u64) -> Result<(), i32> {
        // SAFETY: `fd` is live (borrowed); NOTIF_SET_FLAGS takes the flags by value (the
        // third argument is not a pointer), so no memory of ours is read or written.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                flags as libc::c_ulong,
            )
        };
        if rc < 0 {
            Err(nix::errno::Errno::last_raw())
        } else {
            Ok(())
        }
    }

    pub(super) fn id_valid(fd: BorrowedFd<'_>, id: u64) -> Result<(), i32> {
        // SAFETY: `fd` is live (borrowed); NOTIF_ID_VALID reads one u64 through the pointer,
        // and `id` is a local u64 that outlives the call.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &id as *const u64,
            )
        };
        if rc < 0 {
            Err(nix::errno::Errno::last_raw())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notif(arch: u32, nr: i32, args: [u64; 6]) -> Notification {
        Notification {
            id: 1,
            pid: 2,
            nr,
            arch,
            ip: 0,
            args,
        }
    }

    #[test]
    fn view_changes_are_told_apart_per_architecture() {
        let v = |arch, nr| notif(arch, nr, [0; 6]).view_change();
        assert_eq!(v(AUDIT_ARCH_X86_64, 161), Some(ViewChange::Root));
        assert_eq!(v(AUDIT_ARCH_X86_64, 155), Some(ViewChange::Root));
        assert_eq!(v(AUDIT_ARCH_X86_64, 272), Some(ViewChange::Namespace));
        assert_eq!(v(AUDIT_ARCH_X86_64, 56), Some(ViewChange::Namespace));
        assert_eq!(v(AUDIT_ARCH_X86_64, 435), Some(ViewChange::Namespace));
        assert_eq!(v(AUDIT_ARCH_X86_64, 308), Some(ViewChange::Namespace));
        assert_eq!(
            v(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 272),
            Some(ViewChange::Namespace)
        );
        assert_eq!(v(AUDIT_ARCH_I386, 61), Some(ViewChange::Root));
        assert_eq!(v(AUDIT_ARCH_I386, 120), Some(ViewChange::Namespace));
        assert_eq!(v(AUDIT_ARCH_AARCH64, 97), Some(ViewChange::Namespace));
        assert_eq!(v(AUDIT_ARCH_AARCH64, 51), Some(ViewChange::Root));
        assert_eq!(
            v(AUDIT_ARCH_X86_64, 59),
            None,
            "execve is not a view change"
        );
        assert_eq!(v(AUDIT_ARCH_I386, 56), None, "56 is not clone on i386");
    }

    #[test]
    fn decodes_x86_64_execve() {
        let c = notif(AUDIT_ARCH_X86_64, 59, [0x1000, 0x2000, 0x3000, 9, 9, 9])
            .exec_call()
            .expect("execve decodes");
        assert_eq!(c.kind, ExecKind::Execve);
        assert_eq!(
            (c.path_ptr, c.argv_ptr, c.envp_ptr),
            (0x1000, 0x2000, 0x3000)
        );
        assert_eq!((c.dirfd, c.flags, c.compat32), (None, 0, false));
    }

    #[test]
    fn decodes_execveat_dirfd_sign_extension_and_flags() {
        // AT_FDCWD passed as a 32-bit int with garbage in the upper half.
        let cwd = 0xdead_beef_0000_0000 | u64::from(libc::AT_FDCWD as u32);
        let flags = (libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) as u64;
        let c = notif(AUDIT_ARCH_X86_64, 322, [cwd, 0x10, 0x20, 0x30, flags, 0])
            .exec_call()
            .expect("execveat decodes");
        assert_eq!(c.kind, ExecKind::Execveat);
        assert_eq!(c.dirfd, None);
        assert!(c.empty_path() && c.nofollow());
        assert_eq!((c.path_ptr, c.argv_ptr, c.envp_ptr), (0x10, 0x20, 0x30));

        let c = notif(AUDIT_ARCH_AARCH64, 281, [7, 0x10, 0x20, 0x30, 0, 0])
            .exec_call()
            .expect("aarch64 execveat decodes");
        assert_eq!(c.dirfd, Some(7));
        assert!(!c.empty_path());
    }

    #[test]
    fn decodes_compat_callers_with_32_bit_pointers() {
        let c = notif(
            AUDIT_ARCH_I386,
            11,
            [0xffff_ffff_0804_8000, 0x10, 0x20, 0, 0, 0],
        )
        .exec_call()
        .expect("i386 execve decodes");
        assert!(c.compat32);
        assert_eq!(c.path_ptr, 0x0804_8000);
        let c = notif(AUDIT_ARCH_I386, 358, [3, 0x10, 0x20, 0x30, 0, 0])
            .exec_call()
            .expect("i386 execveat decodes");
        assert_eq!((c.kind, c.dirfd), (ExecKind::Execveat, Some(3)));
        let c = notif(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 520, [1, 2, 3, 0, 0, 0])
            .exec_call()
            .expect("x32 execve decodes");
        assert!(c.compat32);
    }

    #[test]
    fn rejects_other_syscalls_and_arches() {
        assert_eq!(notif(AUDIT_ARCH_X86_64, 2, [0; 6]).exec_call(), None);
        // 59 is not execve on i386 / aarch64.
        assert_eq!(notif(AUDIT_ARCH_I386, 59, [0; 6]).exec_call(), None);
        assert_eq!(notif(AUDIT_ARCH_AARCH64, 59, [0; 6]).exec_call(), None);
        assert_eq!(notif(0x4000_0028 /* ARM */, 11, [0; 6]).exec_call(), None);
    }

    #[test]
    fn decodes_mapping_calls() {
        let prot = PROT_EXEC | 1;
        let m = notif(
            AUDIT_ARCH_X86_64,
            9,
            [0, 8192, prot, 0x12, 0xdead_0000_0000_0003, 0],
        )
        .map_call()
        .expect("mmap decodes");
        assert_eq!((m.kind, m.fd, m.len), (MapKind::Mmap, Some(3), 8192));
        assert!(m.maps_file_exec() && !m.protects_exec());
        let anon = notif(AUDIT_ARCH_X86_64, 9, [0, 4096, prot, 0x22, u64::MAX, 0])
            .map_call()
            .unwrap();
        assert!(!anon.maps_file_exec());
        let p = notif(AUDIT_ARCH_X86_64, 10, [0x1000, 4096, prot, 0, 0, 0])
            .map_call()
            .unwrap();
        assert!(p.protects_exec() && !p.maps_file_exec());
        let p = notif(AUDIT_ARCH_AARCH64, 288, [0x1000, 4096, 1, 0, 0, 0])
            .map_call()
            .unwrap();
        assert_eq!(p.kind, MapKind::PkeyMprotect);
        assert!(!p.protects_exec());
        let m = notif(
            AUDIT_ARCH_I386,
            192,
            [0xffff_ffff_0000_1000, 1, prot, 2, 5, 0],
        )
        .map_call()
        .unwrap();
        assert_eq!((m.addr, m.fd), (0x1000, Some(5)));
        let x32 = notif(
            AUDIT_ARCH_X86_64,
            X32_SYSCALL_BIT | 10,
            [0, 1, prot, 0, 0, 0],
        )
        .map_call()
        .unwrap();
        assert_eq!(x32.kind, MapKind::Mprotect);
        for (persona, sets) in [
            (READ_IMPLIES_EXEC, true),
            (READ_IMPLIES_EXEC | 8, true),
            (PERSONALITY_QUERY, false),
            (8, false),
        ] {
            let c = notif(AUDIT_ARCH_X86_64, 135, [persona, 0, 0, 0, 0, 0])
                .map_call()
                .unwrap();
            assert_eq!(c.sets_read_implies_exec(), sets, "{persona:#x}");
        }
        // Not mapping calls: exec, other arches.
        assert_eq!(notif(AUDIT_ARCH_X86_64, 59, [0; 6]).map_call(), None);
        let old_mmap = notif(AUDIT_ARCH_I386, 90, [0x1000, 0, 4, 0, 3, 0])
            .map_call()
            .expect("old mmap is a mapping call");
        assert!(!old_mmap.maps_file_exec() && old_mmap.fd.is_none());
        assert_eq!(notif(0x4000_0028, 9, [0; 6]).map_call(), None);
        assert_eq!(notif(AUDIT_ARCH_X86_64, 9, [0; 6]).exec_call(), None);
    }

    #[test]
    fn respond_errno_refuses_non_failures() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let l = Listener::new(OwnedFd::from(a));
        assert!(matches!(
            l.respond_errno(5, 0),
            Err(NotifyError::InvalidErrno { id: 5, errno: 0 })
        ));
        assert!(matches!(
            l.respond_errno(5, -1),
            Err(NotifyError::InvalidErrno { .. })
        ));
        // A socket is not a listener: the ioctl fails and we say so.
        assert!(matches!(
            l.respond_errno(5, libc::EPERM),
            Err(NotifyError::BadListener { .. })
        ));
        assert!(!l.id_valid(5));
    }
}
