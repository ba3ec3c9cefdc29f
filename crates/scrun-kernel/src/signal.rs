//! Raw signals by number (real-time ones included, which `nix::sys::signal::Signal` cannot name)
//! and taking ownership of a descriptor inherited by number.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// `kill(pid, signo)` for any signal number 1..=64.
pub fn send(pid: i32, signo: i32) -> io::Result<()> {
    if pid <= 0 {
        // kill(0|-1|-pgid) would reach whole process groups: never what a caller of this means.
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; pid > 0 restricts it to
    // exactly one process.
    let rc = unsafe { libc::kill(pid, signo) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Own a descriptor that this process inherited by number (e.g. `--ready-fd 5`), so it is closed
/// exactly once. Fails if the number is not an open descriptor.
pub fn own_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_GETFD) only queries the descriptor table.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the descriptor is open (checked above) and, by this function's contract, was handed
    // to this process to own: no other OwnedFd/File in the process refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_zero_probes_and_bad_pids_are_refused() {
        assert!(send(std::process::id() as i32, 0).is_ok());
        assert!(send(0, 0).is_err());
        assert!(send(-1, 0).is_err());
        assert!(own_inherited_fd(-1).is_err());
        assert!(own_inherited_fd(987_654).is_err());
    }
}
