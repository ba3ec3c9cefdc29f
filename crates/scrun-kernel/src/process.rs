//! Forking the supervisor's worker from its keeper (no second exec of the runtime).

use std::io;

/// Which side of a [`fork_single_threaded`] this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    Child,
    Parent { pid: i32 },
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
