//! The loopback interface of a container's new network namespace. runc brings `lo` up in every
//! network namespace it creates (its "loopback" network strategy); libcontainer 0.7 does not, so
//! without this a container without another network (Docker's `--network none`, a plain bundle)
//! cannot reach 127.0.0.1, where it can under runc.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use crate::sys::cvt;

/// Sets `lo` up in the network namespace of process `pid`. The namespace is joined by a
/// short-lived thread of its own, so no other thread of the caller ever changes namespace.
pub fn loopback_up_in(pid: i32) -> io::Result<()> {
    let ns = File::open(format!("/proc/{pid}/ns/net"))?;
    std::thread::spawn(move || -> io::Result<()> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let sock = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Inet,
            nix::sys::socket::SockType::Datagram,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(io::Error::from)?;
        set_up(sock.as_raw_fd(), b"lo")
    })
    .join()
    .map_err(|_| io::Error::other("the thread that sets lo up panicked"))?
}

/// `SIOCGIFFLAGS`, then `SIOCSIFFLAGS` with `IFF_UP` added, on interface `name` (< IFNAMSIZ).
fn set_up(sock: RawFd, name: &[u8]) -> io::Result<()> {
    // SAFETY: `ifreq` is a plain C struct of integers, arrays and a union of such; all-zero bytes
    // are a valid value of it (what C callers get from memset).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads `ifr_name` (NUL-terminated: the array was zeroed and `name` is
    // shorter than it) and writes `ifr_ifru.ifru_flags` of `req`, which we own and which outlives
    // the call.
    cvt(unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the union's flags member is the one SIOCGIFFLAGS just wrote.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS only reads `req` (name and flags), valid for the whole call.
    cvt(unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_too_long_is_refused_before_any_ioctl() {
        let err = set_up(-1, b"a-name-longer-than-ifnamsiz").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    }
}
