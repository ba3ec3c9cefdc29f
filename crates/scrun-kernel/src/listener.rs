//! The OCI `listenerPath` protocol (runtime-spec config-linux.md "seccomp" and
//! "containerprocessstate"): the runtime connects to a unix `SOCK_STREAM` socket and sends
//! one container process state (JSON) with the listener fd(s) as `SCM_RIGHTS`, then closes.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixAddr, bind, listen, recvmsg, sendmsg, socket,
};
use nix::sys::stat::{Mode, fchmod};

/// Size of the first `recvmsg` buffer.
pub const FIRST_READ: usize = 64 * 1024;
/// Most fds accepted with one state message.
pub const MAX_FDS: usize = 16;
/// The name of the seccomp listener in the state's `fds` list.
pub const SECCOMP_FD_NAME: &str = "seccompFd";

/// Errors of the listener protocol.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("receiving the container process state failed: {0}")]
    Io(io::Error),
    #[error("the peer closed the connection without sending a container process state")]
    Empty,
    #[error("the container process state exceeds {max} bytes; raise the limit or check the sender")]
    TooLarge { max: usize },
    #[error(
        "control data was truncated (more than {MAX_FDS} fds sent?); the fds that did arrive were closed"
    )]
    ControlTruncated,
    #[error("container process state is not valid JSON: {0}")]
    BadJson(serde_json::Error),
    #[error("container process state has no \"seccompFd\" in its \"fds\" list")]
    NoSeccompFd,
    #[error("\"seccompFd\" is fd #{index} in the state but only {received} fds arrived")]
    MissingFd { index: usize, received: usize },
}

// The cause is in the message: a `From` instead of `#[from]`, which would also make it the
// `source()` and print it twice in an error chain.
impl From<io::Error> for ListenerError {
    fn from(e: io::Error) -> Self {
        ListenerError::Io(e)
    }
}

impl From<serde_json::Error> for ListenerError {
    fn from(e: serde_json::Error) -> Self {
        ListenerError::BadJson(e)
    }
}

/// The supervisor's listening socket.
#[derive(Debug)]
pub struct ListenerSocket {
    inner: UnixListener,
    path: PathBuf,
}

impl ListenerSocket {
    /// Binds a unix `SOCK_STREAM` socket at `path` with mode 0600. A stale *socket* file is
    /// removed first; any other kind of file there is an error (`AlreadyExists`).
    pub fn bind(path: &Path) -> io::Result<Self> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket; remove it", path.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        // Linux creates the socket file with the socket inode's mode (minus umask), so
        // setting it before bind leaves no window in which others could connect.
        fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(0o600))?;
        let addr = UnixAddr::new(path)?;
        bind(fd.as_raw_fd(), &addr)?;
        listen(&fd, Backlog::new(128).unwrap_or(Backlog::MAXCONN))?;
        Ok(ListenerSocket {
            inner: UnixListener::from(fd),
            path: path.to_path_buf(),
        })
    }

    /// A socket bound (at `path`) by another process and inherited.
    pub fn from_listener(inner: UnixListener, path: &Path) -> Self {
        ListenerSocket {
            inner,
            path: path.to_path_buf(),
        }
    }

    pub fn accept(&self) -> io::Result<UnixStream> {
        self.inner.accept().map(|(s, _)| s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn as_listener(&self) -> &UnixListener {
        &self.inner
    }
}

impl AsFd for ListenerSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// Takes ownership of fds the kernel just installed for us via `SCM_RIGHTS`.
fn own_received(fds: Vec<RawFd>) -> Vec<OwnedFd> {
    fds.into_iter()
        // SAFETY: each number was installed into our fd table by this recvmsg's SCM_RIGHTS
        // message (MSG_CMSG_CLOEXEC); nothing else in the process knows or owns it, so
        // wrapping it once into an OwnedFd gives it exactly one owner.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect()
}

/// Receives one container process state: one `recvmsg` (64 KiB, up to 16 fds,
/// `MSG_CMSG_CLOEXEC`), then reads to EOF, at most `max_bytes` in all. Returns the JSON
/// bytes and the fds in order. Set a read timeout on `stream` if the peer is not trusted
/// to close the connection.
pub fn receive_process_state(
    stream: &UnixStream,
    max_bytes: usize,
) -> Result<(Vec<u8>, Vec<OwnedFd>), ListenerError> {
    let mut buf = vec![0u8; FIRST_READ.min(max_bytes.saturating_add(1)).max(1)];
    let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
    let (n, fds, truncated) = loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut fds = Vec::new();
                for c in msg.cmsgs().map_err(io::Error::from)? {
                    if let ControlMessageOwned::ScmRights(r) = c {
                        fds.extend(r);
                    }
                }
                let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
                break (msg.bytes, own_received(fds), truncated);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e).into()),
        }
    };
    if truncated {
        return Err(ListenerError::ControlTruncated);
    }
    if n == 0 && fds.is_empty() {
        return Err(ListenerError::Empty);
    }
    buf.truncate(n);
    if buf.len() > max_bytes {
        return Err(ListenerError::TooLarge { max: max_bytes });
    }
    let limit = (max_bytes - buf.len()) as u64;
    let mut rest = Vec::new();
    stream.take(limit + 1).read_to_end(&mut rest)?;
    if rest.len() as u64 > limit {
        return Err(ListenerError::TooLarge { max: max_bytes });
    }
    buf.extend_from_slice(&rest);
    Ok((buf, fds))
}

/// Picks the fd named `"seccompFd"` in the state's `fds` list; the other fds are closed.
pub fn pick_seccomp_fd(state_json: &[u8], fds: Vec<OwnedFd>) -> Result<OwnedFd, ListenerError> {
    let v: serde_json::Value = serde_json::from_slice(state_json)?;
    let index = v
        .get("fds")
        .and_then(|f| f.as_array())
        .and_then(|names| {
            names
                .iter()
                .position(|n| n.as_str() == Some(SECCOMP_FD_NAME))
        })
        .ok_or(ListenerError::NoSeccompFd)?;
    let received = fds.len();
    fds.into_iter()
        .nth(index)
        .ok_or(ListenerError::MissingFd { index, received })
}

/// Sends one container process state with `fd` attached to the first message (one
/// `sendmsg`; the rest, if the kernel took only part, with plain writes).
pub fn send_process_state(stream: &UnixStream, json: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let sent = loop {
        match sendmsg::<()>(
            stream.as_raw_fd(),
            &[IoSlice::new(json)],
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut s = stream;
    s.write_all(&json[sent..])
}

/// Connects to `path`, sends the state and `fd`, and closes the connection.
pub fn send_process_state_to(path: &Path, json: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
    let stream = UnixStream::connect(path)?;
    send_process_state(&stream, json, fd)?;
    stream.shutdown(std::net::Shutdown::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn socket_is_private_and_replaces_only_stale_sockets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let first = ListenerSocket::bind(&path).expect("bind");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(first);
        // The stale socket file is still there; binding again replaces it.
        let again = ListenerSocket::bind(&path).expect("rebind over stale socket");
        assert_eq!(again.path(), path);
        let file = dir.path().join("regular");
        std::fs::write(&file, b"keep me").expect("write");
        let err = ListenerSocket::bind(&file).expect_err("must not delete a regular file");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&file).expect("still there"), b"keep me");
    }

    #[test]
    fn round_trip_over_a_path_with_a_large_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.sock");
        let sock = ListenerSocket::bind(&path).expect("bind");
        // Bigger than the first recvmsg buffer, so the read-to-EOF part is exercised.
        let pad = "x".repeat(100_000);
        let json = format!(r#"{{"fds":["other","seccompFd"],"metadata":"{pad}"}}"#);
        let marker = tempfile::tempfile().expect("tempfile");
        let sender = {
            let (path, json) = (path.clone(), json.clone());
            let fd = marker.try_clone().expect("dup");
            std::thread::spawn(move || send_process_state_to(&path, json.as_bytes(), fd.as_fd()))
        };
        let stream = sock.accept().expect("accept");
        let (state, fds) = receive_process_state(&stream, 1 << 20).expect("receive");
        sender.join().expect("join").expect("send");
        assert_eq!(state, json.as_bytes());
        assert_eq!(fds.len(), 1);
        // One fd for two names: the seccompFd index (1) is missing.
        let err = pick_seccomp_fd(&state, fds).expect_err("index 1 of 1 fd");
        assert!(matches!(
            err,
            ListenerError::MissingFd {
                index: 1,
                received: 1
            }
        ));
    }

    #[test]
    fn picks_seccomp_fd_and_bounds_the_state() {
        let (a, b) = UnixStream::pair().expect("pair");
        let f1 = tempfile::tempfile().expect("tempfile");
        let json = br#"{"fds":["seccompFd"]}"#;
        send_process_state(&a, json, f1.as_fd()).expect("send");
        drop(a);
        let (state, fds) = receive_process_state(&b, 4096).expect("receive");
        let fd = pick_seccomp_fd(&state, fds).expect("pick");
        // The received fd is the same open file.
        let st1 = File::from(fd).metadata().expect("stat received");
        let st0 = f1.metadata().expect("stat original");
        assert_eq!((st1.dev(), st1.ino()), (st0.dev(), st0.ino()));

        let (a, b) = UnixStream::pair().expect("pair");
        send_process_state(&a, &[b'{'; 200], f1.as_fd()).expect("send");
        drop(a);
        assert!(matches!(
            receive_process_state(&b, 100),
            Err(ListenerError::TooLarge { max: 100 })
        ));

        assert!(matches!(
            pick_seccomp_fd(br#"{"fds":["x"]}"#, Vec::new()),
            Err(ListenerError::NoSeccompFd)
        ));
        assert!(matches!(
            pick_seccomp_fd(b"not json", Vec::new()),
            Err(ListenerError::BadJson(_))
        ));

        let (a, b) = UnixStream::pair().expect("pair");
        drop(a);
        assert!(matches!(
            receive_process_state(&b, 100),
            Err(ListenerError::Empty)
        ));
    }

    use std::fs::File;
    use std::os::unix::fs::MetadataExt;
}
