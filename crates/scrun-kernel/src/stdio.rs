//! What a process's file descriptor is: pipe, file, terminal, character device, unix socket, or
//! an inet socket with its local and peer address (read from `/proc/<pid>/fd/<n>` and, for a
//! socket, the process's own network namespace's `/proc/<pid>/net/{tcp,tcp6,udp,udp6,unix}`).
//! No `unsafe`: one `stat` of the fd link, and table reads only for sockets.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// The kind of an open file descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    /// A pipe or FIFO.
    Pipe,
    /// A regular file or directory (or a block device).
    File,
    /// A terminal (pts, tty, console).
    Tty,
    /// Another character device (`/dev/null`, ...).
    CharDev,
    /// A unix-domain socket.
    Unix,
    /// A TCP/UDP socket with a peer (remote address not 0).
    Inet {
        /// Local address.
        local: SocketAddr,
        /// Peer address.
        peer: SocketAddr,
    },
    /// Another socket (unconnected inet, netlink, ...).
    Socket,
    /// Not open.
    Closed,
    /// Could not be read (process gone, no permission).
    Unknown,
}

/// Bytes read at most from one `/proc/<pid>/net/*` table.
const MAX_TABLE: u64 = 4 << 20;

/// What fd `fd` of `pid` is.
pub fn fd_kind(pid: u32, fd: i32) -> FdKind {
    let link = format!("/proc/{pid}/fd/{fd}");
    let meta = match std::fs::metadata(&link) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The fd is closed if the process still exists.
            return if std::fs::metadata(format!("/proc/{pid}")).is_ok() {
                FdKind::Closed
            } else {
                FdKind::Unknown
            };
        }
        Err(_) => return FdKind::Unknown,
    };
    let ft = meta.file_type();
    if ft.is_fifo() {
        FdKind::Pipe
    } else if ft.is_char_device() {
        // Unix98 pts (136-143), tty/console (4, 5).
        let major = (meta.rdev() >> 8) & 0xfff;
        if (136..=143).contains(&major) || major == 4 || major == 5 {
            FdKind::Tty
        } else {
            FdKind::CharDev
        }
    } else if ft.is_socket() {
        socket_kind(pid, meta.ino())
    } else {
        FdKind::File
    }
}

fn read_table(pid: u32, name: &str) -> Option<String> {
    let f = std::fs::File::open(format!("/proc/{pid}/net/{name}")).ok()?;
    let mut s = String::new();
    f.take(MAX_TABLE).read_to_string(&mut s).ok()?;
    Some(s)
}

fn socket_kind(pid: u32, ino: u64) -> FdKind {
    for (table, v6) in [
        ("tcp", false),
        ("tcp6", true),
        ("udp", false),
        ("udp6", true),
    ] {
        let Some(text) = read_table(pid, table) else {
            continue;
        };
        if let Some((local, peer)) = find_inet(&text, ino, v6) {
            return if peer.ip().is_unspecified() && peer.port() == 0 {
                FdKind::Socket
            } else {
                FdKind::Inet { local, peer }
            };
        }
    }
    if read_table(pid, "unix").is_some_and(|t| unix_has(&t, ino)) {
        return FdKind::Unix;
    }
    FdKind::Socket
}

/// The (local, peer) of the row of `/proc/net/{tcp,udp}[6]` text whose inode is `ino`.
pub fn find_inet(text: &str, ino: u64, v6: bool) -> Option<(SocketAddr, SocketAddr)> {
    let ino = ino.to_string();
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.get(9) != Some(&ino.as_str()) {
            return None;
        }
        Some((parse_addr(f.get(1)?, v6)?, parse_addr(f.get(2)?, v6)?))
    })
}

fn unix_has(text: &str, ino: u64) -> bool {
    let ino = ino.to_string();
    text.lines()
        .skip(1)
        .any(|l| l.split_ascii_whitespace().nth(6) == Some(ino.as_str()))
}

/// `0100007F:1F90`: the address printed as the kernel's native-endian u32 word(s) holding
/// network-order bytes (one word for IPv4, four for IPv6), then the port in hex.
fn parse_addr(s: &str, v6: bool) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = if v6 { 4 } else { 1 };
    if addr.len() != words * 8 {
        return None;
    }
    let mut b = [0u8; 16];
    for i in 0..words {
        let w = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
        b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
    }
    let ip = if v6 {
        let v6 = Ipv6Addr::from(b);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn parses_proc_net_rows() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 0200007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1\n";
        let (l, p) = find_inet(tcp, 4242, false).unwrap();
        assert_eq!(l, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(p, "127.0.0.2:54321".parse().unwrap());
        assert!(find_inet(tcp, 4243, false).is_none());
        let tcp6 = "  sl  local_address                         remote_address                        st\n   0: 00000000000000000000000001000000:1F90 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 77 1\n";
        let (l, p) = find_inet(tcp6, 77, true).unwrap();
        assert_eq!(l, "[::1]:8080".parse().unwrap());
        assert_eq!(p, "127.0.0.1:54321".parse().unwrap());
    }

    #[test]
    fn kinds_of_own_fds() {
        let me = std::process::id();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        match fd_kind(me, client.as_raw_fd()) {
            FdKind::Inet { local, peer } => {
                assert_eq!(peer, listener.local_addr().unwrap());
                assert_eq!(local, client.local_addr().unwrap());
            }
            k => panic!("connected socket read as {k:?}"),
        }
        assert_eq!(fd_kind(me, listener.as_raw_fd()), FdKind::Socket);
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        // socketpair sockets are listed in /proc/net/unix.
        assert_eq!(fd_kind(me, a.as_raw_fd()), FdKind::Unix);
        let (r, _w) = nix::unistd::pipe().unwrap();
        assert_eq!(fd_kind(me, r.as_raw_fd()), FdKind::Pipe);
        let f = tempfile::tempfile().unwrap();
        assert_eq!(fd_kind(me, f.as_raw_fd()), FdKind::File);
        let null = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(fd_kind(me, null.as_raw_fd()), FdKind::CharDev);
        assert_eq!(fd_kind(me, 100_000), FdKind::Closed);
        assert_eq!(fd_kind(u32::MAX - 1, 0), FdKind::Unknown);
    }
}
