//! The exec gate: fanotify `FAN_OPEN_EXEC_PERM` decides on the file the kernel actually opened
//! for exec (no pathname TOCTOU), and a read lease freezes its content while it is hashed.
//!
//! Typical loop (one gate thread):
//! `ExecGate::wait` -> `read_events` -> for each event: `HeldLease::take(file)` (EAGAIN: a
//! writer has it open, deny in enforce mode) -> hash via `pread` -> `respond` -> keep the event
//! (and so the lease) until the exec is past the kernel's `deny_write_access`.
//!
//! Fail closed: a [`GateEvent`] that is dropped without an answer answers `FAN_DENY` itself, and
//! every event holds the group descriptor (an `Arc`) so the answer can still be written after the
//! [`ExecGate`] itself is gone. Closing the group with events read but unanswered would *allow*
//! them (detection.md T12), which this ownership rules out inside the process; process death is
//! not covered here.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::sys::cvt;

/// Size of `struct fanotify_event_metadata` (`FAN_EVENT_METADATA_LEN`).
const METADATA_LEN: usize = 24;
/// Bytes read per `read(2)`: room for 170 events; more wait for the next call.
const READ_BUF: usize = 4096;
/// Every permission event: each one needs exactly one response.
const PERM_EVENTS: u64 = libc::FAN_OPEN_PERM | libc::FAN_ACCESS_PERM | libc::FAN_OPEN_EXEC_PERM;

/// Gate failures that carry no errno of their own; they travel inside an `io::Error`
/// (`io::Error::get_ref` + `downcast_ref` recovers them).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The kernel speaks a metadata layout this code does not know.
    #[error(
        "fanotify event metadata version {got}, expected {expected}; the events of this read were denied, update scrun for this kernel"
    )]
    Version { got: u8, expected: u8 },
    /// A record claimed a length that does not fit the buffer.
    #[error(
        "malformed fanotify record at offset {offset} (event_len {len}, {remaining} bytes left); the events of this read were denied"
    )]
    Malformed {
        offset: usize,
        len: usize,
        remaining: usize,
    },
    /// `respond` was called twice for one event.
    #[error("fanotify event fd {fd} was already answered; answer each event once")]
    AlreadyAnswered { fd: i32 },
    /// `respond` was called on the wrong gate, or on an event that takes no answer.
    #[error(
        "fanotify event fd {fd} does not belong to this gate or takes no answer (overflow / not a permission event)"
    )]
    NotPending { fd: i32 },
}

fn gate_err(e: GateError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// A fanotify group of class `FAN_CLASS_CONTENT` that receives `FAN_OPEN_EXEC_PERM`.
///
/// Needs `CAP_SYS_ADMIN`. The queue is unlimited: a bounded one *allows* permission events it
/// cannot queue.
#[derive(Debug)]
pub struct ExecGate {
    fd: Arc<OwnedFd>,
    /// The event marks ask for: `FAN_OPEN_EXEC_PERM` (a gate) or `FAN_OPEN_EXEC` (a watcher).
    mask: u64,
}

/// One event read from the gate. A permission event is answered through
/// [`ExecGate::respond`]; if it never is, dropping it answers `FAN_DENY`.
pub struct GateEvent {
    /// The file being exec'd, opened `O_RDONLY|O_LARGEFILE|O_CLOEXEC` by the kernel; `None` for
    /// a queue-overflow record. Private because the descriptor *number* names the pending
    /// event: closing it before the answer could let the answer reach a later event that got
    /// the same number.
    file: Option<File>,
    /// Process id of the opener in the gate's pid namespace (0 if it is not visible there).
    pub pid: i32,
    /// `FAN_*` bits of the event (`FAN_OPEN_EXEC_PERM`, or `FAN_Q_OVERFLOW`).
    pub mask: u64,
    /// The group that awaits the answer; `None` when none is due.
    group: Option<Arc<OwnedFd>>,
    answered: AtomicBool,
}

/// One parsed `fanotify_event_metadata` record (the descriptor is not yet owned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    mask: u64,
    fd: i32,
    pid: i32,
}

impl ExecGate {
    /// `fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_UNLIMITED_QUEUE,
    /// O_RDONLY | O_LARGEFILE | O_CLOEXEC)`.
    pub fn new() -> io::Result<ExecGate> {
        let flags = libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC | libc::FAN_UNLIMITED_QUEUE;
        let event_flags = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint;
        // SAFETY: fanotify_init takes two integer flag words and touches no memory of ours.
        let fd = cvt(unsafe { libc::fanotify_init(flags, event_flags) })?;
        // SAFETY: fanotify_init just returned this descriptor; nothing else in the process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(ExecGate {
            fd: Arc::new(fd),
            mask: libc::FAN_OPEN_EXEC_PERM,
        })
    }

    /// True for a gate (`FAN_OPEN_EXEC_PERM`: execs wait for its answer), false for a watcher.
    pub fn is_gate(&self) -> bool {
        self.mask & libc::FAN_OPEN_EXEC_PERM != 0
    }

    /// A watcher rather than a gate: `FAN_CLASS_NOTIF` with `FAN_OPEN_EXEC`. Execs never wait
    /// for it; each event still carries the opened file, so what ran can be compared with what
    /// was decided (audit mode). Its events need no answer.
    pub fn watcher() -> io::Result<ExecGate> {
        let flags = libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_UNLIMITED_QUEUE;
        let event_flags = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint;
        // SAFETY: fanotify_init takes two integer flag words and touches no memory of ours.
        let fd = cvt(unsafe { libc::fanotify_init(flags, event_flags) })?;
        // SAFETY: fanotify_init just returned this descriptor; nothing else in the process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(ExecGate {
            fd: Arc::new(fd),
            mask: libc::FAN_OPEN_EXEC,
        })
    }

    /// Gates every exec on the filesystem (superblock) that holds `path`, whatever mount or
    /// mount namespace it is reached through (`FAN_MARK_FILESYSTEM`; detection.md T7b/T7c).
    /// Give it a container's own overlay mount, not a shared host filesystem.
    pub fn mark_filesystem(&self, path: &Path) -> io::Result<()> {
        self.mark(
            libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
            libc::AT_FDCWD,
            path,
        )
    }

    /// Gates every exec through the one mount found at `path` relative to `dirfd`
    /// (`FAN_MARK_MOUNT`), e.g. a volume inside a container's mount namespace reached as
    /// `/proc/<pid>/root/<dest>`. An empty `path` marks the mount of `dirfd` itself. Bind mounts
    /// and mount-namespace copies of that mount are *not* covered (T7a).
    pub fn mark_mount_at(&self, dirfd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
        self.mark(
            libc::FAN_MARK_ADD | libc::FAN_MARK_MOUNT,
            dirfd.as_raw_fd(),
            path,
        )
    }

    /// [`ExecGate::mark_filesystem`] for the superblock `fd` (any descriptor, `O_PATH` too) is on.
    pub fn mark_filesystem_of(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.mark(
            libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
            fd.as_raw_fd(),
            Path::new(""),
        )
    }

    fn mark(&self, flags: libc::c_uint, dirfd: i32, path: &Path) -> io::Result<()> {
        let cpath = if path.as_os_str().is_empty() {
            None
        } else {
            Some(
                CString::new(path.as_os_str().as_bytes())
                    .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
            )
        };
        let ptr = cpath.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: `ptr` is null (mark dirfd itself) or a NUL-terminated string owned by `cpath`,
        // alive for the whole call; the kernel only reads it. The group fd is owned by `self`.
        let rc = unsafe { libc::fanotify_mark(self.fd.as_raw_fd(), flags, self.mask, dirfd, ptr) };
        cvt(rc).map(drop)
    }

    /// Stops (`ignore = true`) or resumes events for the one inode `file` is open on, through an
    /// inode mark's ignored mask (`FAN_MARK_IGNORED_MASK`, without `FAN_MARK_IGNORED_SURV_MODIFY`:
    /// the kernel clears it by itself when the file is written). The inode's events from the
    /// filesystem mark are suppressed as well. Callers pair it with a [`HeldLease`] on the same
    /// file, so that a writer (which would also change the file through a shared mapping, where
    /// no modify event clears the mask) first has to wait for [`ExecGate::ignore_inode`]`(false)`.
    pub fn ignore_inode(&self, file: &File, ignore: bool) -> io::Result<()> {
        let op = if ignore {
            libc::FAN_MARK_ADD
        } else {
            libc::FAN_MARK_REMOVE
        };
        // SAFETY: a null pathname makes the kernel mark the object `file` (a live, borrowed
        // descriptor) is open on; no memory of ours is read or written.
        let rc = unsafe {
            libc::fanotify_mark(
                self.fd.as_raw_fd(),
                op | libc::FAN_MARK_IGNORED_MASK,
                self.mask,
                file.as_raw_fd(),
                std::ptr::null(),
            )
        };
        cvt(rc).map(drop)
    }

    /// Removes every inode mark of the group (so every ignored mask), keeping the filesystem
    /// and mount marks: a worker that held the matching leases is gone.
    pub fn flush_inode_marks(&self) -> io::Result<()> {
        // SAFETY: FAN_MARK_FLUSH ignores mask, dirfd and pathname (null); the group fd is ours.
        let rc = unsafe {
            libc::fanotify_mark(
                self.fd.as_raw_fd(),
                libc::FAN_MARK_FLUSH,
                0,
                libc::AT_FDCWD,
                std::ptr::null(),
            )
        };
        cvt(rc).map(drop)
    }

    /// Waits up to `timeout_ms` (negative: forever) for events. `Ok(false)` on timeout or when
    /// a signal interrupted the wait.
    pub fn wait(&self, timeout_ms: i32) -> io::Result<bool> {
        let timeout = if timeout_ms < 0 {
            PollTimeout::NONE
        } else {
            PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX)
        };
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => Ok(false),
            Ok(_) => {
                let rev = fds[0].revents().unwrap_or(PollFlags::empty());
                if rev.intersects(PollFlags::POLLNVAL | PollFlags::POLLERR) {
                    Err(io::Error::from_raw_os_error(libc::EBADF))
                } else {
                    Ok(rev.contains(PollFlags::POLLIN))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the pending events (blocks until there is at least one). On `Err` every event of
    /// that read has already been answered `FAN_DENY`; a failed read is denied by the kernel.
    pub fn read_events(&self) -> io::Result<Vec<GateEvent>> {
        let mut buf = [0u8; READ_BUF];
        let n = loop {
            // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, a live local array.
            let rc = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            match cvt(rc) {
                Ok(n) => break n as usize,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let (records, error) = parse_records(&buf[..n.min(buf.len())]);
        let events: Vec<GateEvent> = records.into_iter().map(|r| self.own(r)).collect();
        match error {
            // Dropping `events` denies each of them.
            Some(e) => Err(gate_err(e)),
            None => Ok(events),
        }
    }

    fn own(&self, r: Record) -> GateEvent {
        let file = (r.fd >= 0).then(|| {
            // SAFETY: read(2) on the group just installed this descriptor in our table for this
            // one event; no File/OwnedFd in the process refers to it yet, so it is owned once.
            unsafe { File::from_raw_fd(r.fd) }
        });
        let due = file.is_some() && r.mask & PERM_EVENTS != 0;
        GateEvent {
            file,
            pid: r.pid,
            mask: r.mask,
            group: due.then(|| Arc::clone(&self.fd)),
            answered: AtomicBool::new(false),
        }
    }

    /// Answers a permission event: `FAN_ALLOW` lets the exec go on, `FAN_DENY` fails it with
    /// `EPERM`. Only these two values are ever written (an invalid answer leaves the exec hung,
    /// T12). Errors if the event was answered already or is not pending on this gate; if the
    /// write itself fails, the event stays unanswered and its drop denies it.
    pub fn respond(&self, ev: &GateEvent, allow: bool) -> io::Result<()> {
        match &ev.group {
            Some(g) if Arc::ptr_eq(g, &self.fd) => ev.answer(allow),
            _ => Err(gate_err(GateError::NotPending { fd: ev.raw_fd() })),
        }
    }
}

impl From<OwnedFd> for ExecGate {
    /// A gate from a fanotify group descriptor received from another process (the supervisor's
    /// keeper creates and marks the group and hands it to each worker it starts).
    fn from(fd: OwnedFd) -> ExecGate {
        // The filesystem marks were made by the sender; the mask matters for inode marks.
        ExecGate {
            fd: Arc::new(fd),
            mask: libc::FAN_OPEN_EXEC_PERM,
        }
    }
}

impl ExecGate {
    /// A watcher ([`ExecGate::watcher`]) from a descriptor received from another process.
    pub fn watcher_from(fd: OwnedFd) -> ExecGate {
        ExecGate {
            fd: Arc::new(fd),
            mask: libc::FAN_OPEN_EXEC,
        }
    }

    /// A watcher rather than a gate (its events take no answer).
    pub fn is_watcher(&self) -> bool {
        self.mask == libc::FAN_OPEN_EXEC
    }
}

impl AsFd for ExecGate {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl GateEvent {
    /// The file being exec'd (`None` for a queue-overflow record).
    pub fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// The file's path as the opener's root sees it (for a container after `pivot_root`, its
    /// in-container path; T7c), read from `/proc/self/fd/N`. May end in ` (deleted)`.
    pub fn path(&self) -> Option<PathBuf> {
        let file = self.file.as_ref()?;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    }

    /// The kernel dropped events (`FAN_Q_OVERFLOW`). Cannot happen with the unlimited queue
    /// `ExecGate::new` asks for; treat it as a lost audit trail.
    pub fn is_overflow(&self) -> bool {
        self.mask & libc::FAN_Q_OVERFLOW != 0
    }

    /// An answer is still due for this event.
    pub fn needs_response(&self) -> bool {
        self.group.is_some() && !self.answered.load(Ordering::Acquire)
    }

    fn raw_fd(&self) -> i32 {
        self.file.as_ref().map_or(libc::FAN_NOFD, |f| f.as_raw_fd())
    }

    fn answer(&self, allow: bool) -> io::Result<()> {
        let (Some(group), Some(file)) = (&self.group, &self.file) else {
            return Err(gate_err(GateError::NotPending { fd: self.raw_fd() }));
        };
        if self
            .answered
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(gate_err(GateError::AlreadyAnswered {
                fd: file.as_raw_fd(),
            }));
        }
        let resp = libc::fanotify_response {
            fd: file.as_raw_fd(),
            response: if allow {
                libc::FAN_ALLOW
            } else {
                libc::FAN_DENY
            },
        };
        let len = std::mem::size_of::<libc::fanotify_response>();
        let res = loop {
            // SAFETY: writes `len` bytes from `resp`, a live local `fanotify_response`, to the
            // group descriptor kept open by the `Arc` we hold.
            let rc =
                unsafe { libc::write(group.as_raw_fd(), std::ptr::from_ref(&resp).cast(), len) };
            match cvt(rc) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.map(drop),
            }
        };
        if res.is_err() {
            // Not taken by the kernel: let drop try FAN_DENY.
            self.answered.store(false, Ordering::Release);
        }
        res
    }
}

impl Drop for GateEvent {
    fn drop(&mut self) {
        if self.needs_response() {
            // Fail closed. Runs before `file` closes, so the fd number still names this event.
            if let Err(e) = self.answer(false) {
                tracing::error!(fd = self.raw_fd(), pid = self.pid, error = %e,
                    "could not deny an unanswered exec permission event; the exec stays blocked until the gate closes");
            }
        }
    }
}

impl std::fmt::Debug for GateEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateEvent")
            .field("fd", &self.raw_fd())
            .field("pid", &self.pid)
            .field("mask", &format_args!("{:#x}", self.mask))
            .field("needs_response", &self.needs_response())
            .finish()
    }
}

/// A `F_RDLCK` read lease, taken through a duplicate of the caller's descriptor: it stays for as
/// long as the value *or* any other descriptor of that open file lives (the kernel removes it
/// when the open file is closed for the last time). A writer's `open` or `truncate` of the file
/// then waits (up to `/proc/sys/fs/lease-break-time`, 45 s by default) until the lease goes, and
/// an exec allowed meanwhile fails with `ETXTBSY`. The kernel sends the holding process `SIGIO`
/// for each break: read it with [`LeaseBreaks`], or call [`ignore_lease_break_signal`], or
/// `SIGIO` kills the process. Needs ownership of the file or `CAP_LEASE`.
#[derive(Debug)]
pub struct HeldLease {
    file: File,
}

impl HeldLease {
    /// `EAGAIN` (`ErrorKind::WouldBlock`): the file is open for writing somewhere.
    pub fn take(file: &File) -> io::Result<HeldLease> {
        let file = file.try_clone()?;
        // SAFETY: fcntl(F_SETLEASE) takes a descriptor of a live File and an integer.
        cvt(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_RDLCK) })?;
        Ok(HeldLease { file })
    }

    /// The lease is being broken by a writer (or is gone): `F_GETLEASE` no longer reads
    /// `F_RDLCK` (during a break it reports the type the lease is being broken to).
    pub fn broken(&self) -> bool {
        // SAFETY: fcntl(F_GETLEASE) on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_GETLEASE) };
        rc != libc::F_RDLCK
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Lease-break notices: `SIGIO` read from a signalfd. [`LeaseBreaks::new`] blocks `SIGIO` in the
/// calling thread; call it before the process starts other threads (they inherit the mask),
/// otherwise a thread that does not block it takes the signal and the notice is lost. The
/// kernel sends one `SIGIO` per break to the lease holder's process; pending ones coalesce, so a
/// reader checks every lease it holds ([`HeldLease::broken`]).
#[derive(Debug)]
pub struct LeaseBreaks {
    fd: nix::sys::signalfd::SignalFd,
}

impl LeaseBreaks {
    /// Fails (`EBUSY`) if the process already runs other threads: one of them could take the
    /// notice.
    pub fn new() -> io::Result<LeaseBreaks> {
        use nix::sys::signal::{SigSet, Signal};
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        if std::fs::read_dir("/proc/self/task")?.count() != 1 {
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "other threads already run; lease-break notices must be set up first",
            ));
        }
        let mut set = SigSet::empty();
        set.add(Signal::SIGIO);
        set.thread_block().map_err(io::Error::from)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(io::Error::from)?;
        Ok(LeaseBreaks { fd })
    }

    /// Reads every pending notice; true if there was one.
    pub fn drain(&self) -> bool {
        let mut any = false;
        while let Ok(Some(_)) = self.fd.read_signal() {
            any = true;
        }
        any
    }
}

impl AsFd for LeaseBreaks {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Sets `SIGIO` to `SIG_IGN` for the whole process. The kernel sends `SIGIO` to a lease holder
/// when a writer breaks its lease; the default action would kill the supervisor. Anything else
/// in the process that relies on `SIGIO` (`O_ASYNC`) stops getting it.
pub fn ignore_lease_break_signal() -> io::Result<()> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety requirement arises;
    // the previous disposition is discarded, not called.
    unsafe { signal(Signal::SIGIO, SigHandler::SigIgn) }
        .map(drop)
        .map_err(io::Error::from)
}

/// Splits a read buffer into records. Stops at the first bad record and reports it along with
/// the records before it (their descriptors must still be owned, then denied).
fn parse_records(buf: &[u8]) -> (Vec<Record>, Option<GateError>) {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let rest = &buf[off..];
        if rest.len() < METADATA_LEN {
            return (
                out,
                Some(GateError::Malformed {
                    offset: off,
                    len: rest.len(),
                    remaining: rest.len(),
                }),
            );
        }
        let event_len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let vers = rest[4];
        if vers != libc::FANOTIFY_METADATA_VERSION {
            return (
                out,
                Some(GateError::Version {
                    got: vers,
                    expected: libc::FANOTIFY_METADATA_VERSION,
                }),
            );
        }
        if event_len < METADATA_LEN || event_len > rest.len() {
            return (
                out,
                Some(GateError::Malformed {
                    offset: off,
                    len: event_len,
                    remaining: rest.len(),
                }),
            );
        }
        let word = |at: usize| [rest[at], rest[at + 1], rest[at + 2], rest[at + 3]];
        let mask = u64::from_ne_bytes([
            rest[8], rest[9], rest[10], rest[11], rest[12], rest[13], rest[14], rest[15],
        ]);
        out.push(Record {
            mask,
            fd: i32::from_ne_bytes(word(16)),
            pid: i32::from_ne_bytes(word(20)),
        });
        // Info records (FAN_REPORT_* groups) follow the metadata inside event_len: skipped.
        off += event_len;
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(len: u32, vers: u8, mask: u64, fd: i32, pid: i32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.push(vers);
        v.push(0);
        v.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&fd.to_ne_bytes());
        v.extend_from_slice(&pid.to_ne_bytes());
        v
    }

    const V: u8 = libc::FANOTIFY_METADATA_VERSION;

    #[test]
    fn metadata_layout_matches_libc() {
        assert_eq!(
            std::mem::size_of::<libc::fanotify_event_metadata>(),
            METADATA_LEN
        );
    }

    #[test]
    fn parses_several_records_and_skips_info_records() {
        let mut buf = record(24, V, libc::FAN_OPEN_EXEC_PERM, 7, 100);
        let mut second = record(32, V, libc::FAN_OPEN_EXEC_PERM, 8, 101);
        second.extend_from_slice(&[0xAA; 8]); // an info record we do not read
        buf.extend_from_slice(&second);
        buf.extend_from_slice(&record(24, V, libc::FAN_Q_OVERFLOW, libc::FAN_NOFD, 0));
        let (recs, err) = parse_records(&buf);
        assert!(err.is_none());
        assert_eq!(
            recs,
            vec![
                Record {
                    mask: libc::FAN_OPEN_EXEC_PERM,
                    fd: 7,
                    pid: 100
                },
                Record {
                    mask: libc::FAN_OPEN_EXEC_PERM,
                    fd: 8,
                    pid: 101
                },
                Record {
                    mask: libc::FAN_Q_OVERFLOW,
                    fd: -1,
                    pid: 0
                },
            ]
        );
    }

    #[test]
    fn bad_records_stop_parsing_but_keep_earlier_ones() {
        let mut buf = record(24, V, libc::FAN_OPEN_EXEC_PERM, 7, 1);
        buf.extend_from_slice(&record(24, V + 1, libc::FAN_OPEN_EXEC_PERM, 8, 2));
        let (recs, err) = parse_records(&buf);
        assert_eq!(recs.len(), 1);
        assert!(matches!(err, Some(GateError::Version { got, .. }) if got == V + 1));

        for bad_len in [0u32, 23, 4096] {
            let (recs, err) = parse_records(&record(bad_len, V, 0, 3, 1));
            assert!(recs.is_empty());
            assert!(
                matches!(err, Some(GateError::Malformed { .. })),
                "{bad_len}"
            );
        }
        let (recs, err) = parse_records(&record(24, V, 0, 3, 1)[..10]);
        assert!(recs.is_empty() && matches!(err, Some(GateError::Malformed { .. })));
    }

    fn lease_file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"content").unwrap();
        (dir, path)
    }

    #[test]
    fn events_without_a_pending_answer_refuse_respond() {
        let gate = ExecGate::new().unwrap();
        let ev = gate.own(Record {
            mask: libc::FAN_Q_OVERFLOW,
            fd: libc::FAN_NOFD,
            pid: 0,
        });
        assert!(ev.is_overflow() && !ev.needs_response() && ev.path().is_none());
        let err = gate.respond(&ev, true).unwrap_err();
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<GateError>());
        assert!(matches!(inner, Some(GateError::NotPending { .. })));
    }

    /// A writer's open breaks a held lease: `broken()` says so while the writer waits, and the
    /// writer goes on once the lease is dropped.
    #[test]
    fn a_held_lease_reports_a_writer_and_lets_it_go_when_dropped() {
        ignore_lease_break_signal().unwrap();
        let (_dir, path) = lease_file();
        let file = File::open(&path).unwrap();
        let lease = HeldLease::take(&file).unwrap();
        drop(file); // the lease lives on the duplicate
        assert!(!lease.broken());
        let p = path.clone();
        let writer =
            std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(&p).map(drop));
        let start = std::time::Instant::now();
        while !lease.broken() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "the writer never broke the lease"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(
            !writer.is_finished(),
            "the writer did not wait for the lease"
        );
        drop(lease);
        writer.join().unwrap().unwrap();
        // And with a writer already there, no lease is granted.
        let w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let err = HeldLease::take(&File::open(&path).unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
        drop(w);
    }

    #[test]
    fn mark_rejects_paths_with_nul_and_missing_paths() {
        let gate = ExecGate::new().unwrap();
        let nul = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/a\0b"));
        assert_eq!(
            gate.mark_filesystem(nul).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            gate.mark_filesystem(Path::new("/nonexistent/scrun-gate"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOENT)
        );
        assert!(!gate.wait(0).unwrap());
    }
}
