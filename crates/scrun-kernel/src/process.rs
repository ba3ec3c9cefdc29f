//! Forking the supervisor's processes from the runtime (no second exec of the runtime), and
//! naming them for `ps`.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::{Duration, Instant};

/// Which side of a [`fork_single_threaded`] this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    Child,
    Parent { pid: i32 },
}

/// Gives the calling thread (Linux priorities are per thread) the lowest CPU priority:
/// `SCHED_IDLE` (any other task that wakes up preempts it at once), else nice 19. Background
/// work such as hashing a big file then never takes the CPU from the threads that answer execs
/// or from the container's own processes; it runs on what is left.
pub fn lowest_thread_priority() -> io::Result<()> {
    // SAFETY: an all-zero sched_param is priority 0, the only one SCHED_IDLE takes.
    let param: libc::sched_param = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `param` is a live sched_param read by the kernel.
    let idle = crate::sys::cvt(unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) });
    if idle.is_ok() {
        return Ok(());
    }
    // SAFETY: setpriority takes integers only; who = 0 is the calling thread on Linux.
    crate::sys::cvt(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) }).map(drop)
}

/// A cgroup v1 `cpu` group of the lowest weight (`cpu.shares` 2) for background threads, at the
/// root of the `cpu` hierarchy, shared by every supervisor of the node.
///
/// `SCHED_IDLE` ([`lowest_thread_priority`]) only ranks a thread against the others of its own
/// cgroup: the scheduler first picks between cgroups, so a hashing thread at `SCHED_IDLE` in the
/// supervisor's cgroup still kept a container's tasks (in their own cgroup) waiting up to a tick
/// (4 ms here: `perf sched latency`, `bench/hashstall.sh`). In a group of weight 2 it yields to
/// them. cgroup v2 places threads only in threaded subtrees: there this returns an error and
/// `SCHED_IDLE` alone applies.
pub struct BackgroundGroup {
    tasks: std::fs::File,
}

impl BackgroundGroup {
    /// Name of the group under the `cpu` hierarchy.
    pub const NAME: &'static str = "scrun-background";

    /// Makes (or finds) the group and opens its `tasks` file; call before confining the
    /// process, then [`BackgroundGroup::join`] from each background thread.
    pub fn prepare() -> io::Result<BackgroundGroup> {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
        let root = mounts
            .lines()
            .filter_map(crate::mountinfo::MountLine::parse)
            .find(|m| {
                m.fstype == "cgroup"
                    && m.root == b"/"
                    && m.super_options.split(',').any(|o| o == "cpu")
            })
            .map(|m| std::path::PathBuf::from(std::ffi::OsString::from_vec(m.mountpoint)))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cgroup v1 cpu hierarchy"))?;
        let dir = root.join(Self::NAME);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        std::fs::write(dir.join("cpu.shares"), "2")?;
        let tasks = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("tasks"))?;
        Ok(BackgroundGroup { tasks })
    }

    /// Moves the calling thread (only it) into the group.
    pub fn join(&self) -> io::Result<()> {
        use std::io::Write;
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        (&self.tasks).write_all(tid.to_string().as_bytes())
    }
}

/// `fork()`, only in a process that runs a single thread (checked in `/proc/self/task`; else
/// `EBUSY`): then no other thread can hold a lock (allocator, stdio, environment) that the child
/// would find held forever, and the child may run any code.
pub fn fork_single_threaded() -> io::Result<Forked> {
    if std::fs::read_dir("/proc/self/task")?.count() != 1 {
        return Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            "refusing to fork: the process runs more than one thread",
        ));
    }
    // SAFETY: the process has exactly one thread (checked just above, and nothing in between
    // starts one), so the child's copy of every lock is in the state this thread left it, and
    // the child may go on running ordinary Rust code.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent { pid }),
    }
}

/// A process descriptor (`pidfd_open`): names one process for good, whatever happens to its pid.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    pub fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Waits up to `timeout` for the process to exit: true once it has (its memory and open files
    /// are released by then, zombie or reaped), false if it still runs at the deadline.
    pub fn wait_exit(&self, timeout: Duration) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
            let mut pfd = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, exclusively borrowed for the call.
            match unsafe { libc::poll(&mut pfd, 1, ms) } {
                n if n > 0 => return Ok(true),
                0 => return Ok(false),
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// Replaces what `/proc/self/cmdline` (and so `ps`) shows with `args`, as if the process had
/// been started with them: a forked supervisor would otherwise show the command line of the
/// `scrun create` it was forked from. The strings are written over the process's own argument
/// area (setproctitle-style, no capability needed), cut to fit and padded with NULs; returns
/// whether all of it fitted.
pub fn set_cmdline<S: AsRef<OsStr>>(args: &[S]) -> io::Result<bool> {
    let (start, end) = arg_area()?;
    let len = end.saturating_sub(start);
    if len == 0 {
        return Ok(false);
    }
    let mut buf = Vec::with_capacity(len);
    for a in args {
        buf.extend_from_slice(a.as_ref().as_bytes());
        buf.push(0);
    }
    let fitted = buf.len() <= len;
    buf.resize(len, 0);
    buf[len - 1] = 0;
    // SAFETY: [start, end) is this process's argument area as the kernel reports it: the
    // strings execve copied onto the initial stack, mapped readable and writable for the life of
    // the process, and `len` bytes long. Nothing holds a Rust reference into it; the runtime's
    // saved argv pointers are raw C strings read up to a NUL, and every byte written is either
    // part of a NUL-terminated string or a NUL (the last byte always is).
    unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), start as *mut u8, len) };
    Ok(fitted)
}

/// How many bytes [`set_cmdline`] can show (the size of the process's argument area).
pub fn cmdline_capacity() -> io::Result<usize> {
    let (start, end) = arg_area()?;
    Ok(end.saturating_sub(start))
}

/// `arg_start` and `arg_end` (fields 48 and 49 of `/proc/self/stat`).
fn arg_area() -> io::Result<(usize, usize)> {
    let stat = std::fs::read("/proc/self/stat")?;
    let field = |n| {
        crate::proc_info::stat_field(&stat, n)
            .and_then(|f| f.parse::<usize>().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/self/stat"))
    };
    Ok((field(48)?, field(49)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfd_sees_a_process_exit() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let fd = PidFd::open(child.id() as i32).unwrap();
        assert!(!fd.wait_exit(Duration::from_millis(20)).unwrap());
        let t = Instant::now();
        assert!(fd.wait_exit(Duration::from_secs(5)).unwrap());
        assert!(t.elapsed() < Duration::from_secs(2));
        child.wait().unwrap();
        assert!(PidFd::open(child.id() as i32).is_err());
    }

    #[test]
    fn ps_shows_the_new_command_line() {
        let before = std::fs::read("/proc/self/cmdline").unwrap();
        assert!(set_cmdline(&["scrun", "supervise", "/x"]).unwrap());
        let now = std::fs::read("/proc/self/cmdline").unwrap();
        assert!(now.starts_with(b"scrun\0supervise\0/x\0"), "{now:?}");
        assert!(
            now[b"scrun\0supervise\0/x\0".len()..]
                .iter()
                .all(|b| *b == 0)
        );
        // Too long: cut, still NUL-terminated, reported.
        let long = "y".repeat(before.len() + 10);
        assert!(!set_cmdline(&[long.as_str()]).unwrap());
        assert_eq!(
            std::fs::read("/proc/self/cmdline").unwrap().last(),
            Some(&0)
        );
        // Back to the original (the test harness reads its arguments again).
        let args: Vec<&OsStr> = before
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(OsStr::from_bytes)
            .collect();
        assert!(set_cmdline(&args).unwrap());
        assert_eq!(std::fs::read("/proc/self/cmdline").unwrap(), before);
    }
}
