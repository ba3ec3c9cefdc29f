//! The one listener intake: what the keeper (on the container's socket) and the worker (on its
//! own socket, from the keeper) receive — the OCI container process state with the seccomp
//! listener fd (libcontainer's format), or, for the worker only, the keeper's exec gate.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use crate::logging::ContainerLog;

/// The keeper's message that carries the exec gate's fanotify group instead of a listener.
pub const GATE_MESSAGE: &[u8] = br#"{"scrunGate":true,"fds":["gateFd"]}"#;
/// The same for audit mode's watcher (a notification-class group).
pub const WATCHER_MESSAGE: &[u8] = br#"{"scrunGate":true,"watcher":true,"fds":["gateFd"]}"#;

/// Bound of one message's JSON.
const MAX_STATE: usize = 64 * 1024;

/// One message received.
pub enum Message {
    /// A process's seccomp listener.
    Listener {
        /// The container process state it came with (kept to forward it again).
        state: Vec<u8>,
        fd: OwnedFd,
        /// The container's init (libcontainer sends its state with status "creating").
        init: bool,
    },
    /// The exec gate (`watcher`: audit mode's notification-only group).
    Gate { fd: OwnedFd, watcher: bool },
}

/// Reads one message from `stream`; a bad one is logged and yields `None`.
pub fn receive(stream: &UnixStream, log: &ContainerLog) -> Option<Message> {
    let (state, fds) = match scrun_kernel::listener::receive_process_state(stream, MAX_STATE) {
        Ok(v) => v,
        Err(e) => {
            log.warn(format_args!("bad listener message: {e}"));
            return None;
        }
    };
    if state == GATE_MESSAGE || state == WATCHER_MESSAGE {
        let fd = fds.into_iter().next()?;
        return Some(Message::Gate {
            fd,
            watcher: state == WATCHER_MESSAGE,
        });
    }
    let fd = match scrun_kernel::listener::pick_seccomp_fd(&state, fds) {
        Ok(fd) => fd,
        Err(e) => {
            log.warn(format_args!("listener message without a seccomp fd: {e}"));
            return None;
        }
    };
    let init = is_init_state(&state);
    Some(Message::Listener { state, fd, init })
}

/// The pid a listener message names (the container process it came from).
pub fn pid_of(state: &[u8]) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(state)
        .ok()?
        .pointer("/pid")?
        .as_i64()
}

/// Whether a listener message is the container init's (libcontainer sends status "creating").
fn is_init_state(state: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(state)
        .ok()
        .and_then(|v| {
            v.pointer("/state/status")
                .and_then(|s| s.as_str())
                .map(|s| s == "creating")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    /// Sends `json` with a descriptor over a socket pair and receives it through the intake.
    fn through(json: &[u8]) -> (Option<Message>, String) {
        let dir = tempfile::tempdir().unwrap();
        let log = ContainerLog::open(&dir.path().join("log"), crate::logging::Format::Json);
        let (a, b) = UnixStream::pair().unwrap();
        let fd = std::fs::File::open("/dev/null").unwrap();
        scrun_kernel::listener::send_process_state(&a, json, fd.as_fd()).unwrap();
        drop(a);
        let m = receive(&b, &log);
        let text = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        (m, text)
    }

    #[test]
    fn an_init_listener_a_later_one_a_gate_and_a_bad_message() {
        let init =
            br#"{"ociVersion":"1","fds":["seccompFd"],"pid":1,"state":{"status":"creating"}}"#;
        match through(init).0 {
            Some(Message::Listener {
                init: true, state, ..
            }) => {
                assert_eq!(state, init);
                assert_eq!(pid_of(&state), Some(1));
            }
            _ => panic!("not the init's listener"),
        }
        let exec = br#"{"fds":["seccompFd"],"pid":9,"state":{"status":"running"}}"#;
        assert!(matches!(
            through(exec).0,
            Some(Message::Listener { init: false, .. })
        ));
        assert!(matches!(
            through(WATCHER_MESSAGE).0,
            Some(Message::Gate { watcher: true, .. })
        ));
        assert!(matches!(
            through(GATE_MESSAGE).0,
            Some(Message::Gate { watcher: false, .. })
        ));
        let (m, log) = through(br#"{"fds":["other"]}"#);
        assert!(m.is_none());
        assert!(log.contains("without a seccomp fd"), "{log}");
    }
}
