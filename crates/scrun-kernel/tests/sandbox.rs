//! The supervisor sandbox in a forked child: a normal workload (threads, file IO, unix
//! socket accept, notify-style ioctl denial) keeps working, unknown syscalls get ENOSYS,
//! fork is refused, and execve kills the process with SIGSYS.

use std::io::{Read, Write};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;

use scrun_kernel::listener::ListenerSocket;
use scrun_kernel::sandbox::{
    apply_to_all_threads, close_inherited_fds, detach_session, supervisor_filter,
};

/// Forks, runs `f` in the child and exits with its return value; returns the wait status.
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs `f` and leaves with _exit, never returning into the test
    // harness; glibc keeps malloc usable in a forked child.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = f();
        // SAFETY: _exit has no preconditions and skips the harness's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child into a local int.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

fn workload(dir: &std::path::Path) -> i32 {
    // Threads.
    let t = std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| 21 * 2)
        .map(|h| h.join());
    if !matches!(t, Ok(Ok(42))) {
        return 11;
    }
    // File IO.
    let p = dir.join("f");
    if std::fs::write(&p, b"hello").is_err() || std::fs::read(&p).ok().as_deref() != Some(b"hello")
    {
        return 12;
    }
    if std::fs::rename(&p, dir.join("g")).is_err() || std::fs::remove_file(dir.join("g")).is_err() {
        return 13;
    }
    // The caller-view check (pidfd + mount-namespace ioctl + statx of a root).
    if scrun_kernel::view::mnt_ns_of(std::process::id()).is_err() {
        return 16;
    }
    let mut views = scrun_kernel::view::Views::default();
    if views
        .view(std::process::id(), scrun_kernel::view::Taint::Root)
        .is_err()
    {
        return 17;
    }
    // A listening socket, a client thread, accept.
    let sock = dir.join("s.sock");
    let Ok(listener) = ListenerSocket::bind(&sock) else {
        return 14;
    };
    let client = std::thread::spawn(move || {
        let mut c = UnixStream::connect(&sock)?;
        c.write_all(b"ping")
    });
    let Ok(mut conn) = listener.accept() else {
        return 15;
    };
    let mut buf = [0u8; 4];
    if conn.read_exact(&mut buf).is_err() || &buf != b"ping" || !matches!(client.join(), Ok(Ok(())))
    {
        return 16;
    }
    0
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[test]
fn sandboxed_supervisor_works_and_cannot_exec() {
    let filter = supervisor_filter().expect("filter builds");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let status = in_child(move || {
        if apply_to_all_threads(&filter).is_err() {
            return 10;
        }
        let code = workload(&dir);
        if code != 0 {
            return code;
        }
        // The notify ioctls pass the filter (the kernel, not seccomp, rejects a socket).
        let (s1, _s2) = UnixStream::pair().expect("socketpair");
        let l = scrun_kernel::notify::Listener::new(s1.into());
        if !matches!(
            l.respond_continue(1),
            Err(scrun_kernel::notify::NotifyError::BadListener { .. })
        ) {
            return 21;
        }
        // process_vm_readv is allowed (read our own memory through it).
        let probe = b"probe\0";
        let me = std::process::id();
        if scrun_kernel::memory::read_cstring(me, probe.as_ptr() as u64, 16)
            .ok()
            .as_deref()
            != Some(b"probe".as_slice())
        {
            return 22;
        }
        // SAFETY: syscalls with integer arguments only.
        unsafe {
            // Not on the allowlist: ENOSYS, the process lives on.
            if libc::syscall(libc::SYS_getpriority, 0, 0) != -1 || errno() != libc::ENOSYS {
                return 17;
            }
            // ioctl with a request other than the notify ones / FIONBIO.
            if libc::ioctl(0, libc::TIOCGWINSZ, 0) != -1 || errno() != libc::ENOSYS {
                return 18;
            }
            // fork = clone without CLONE_THREAD.
            if libc::fork() != -1 || errno() != libc::ENOSYS {
                return 19;
            }
        }
        let argv = [c"true".as_ptr(), std::ptr::null()];
        // SAFETY: NUL-terminated path and NULL-terminated argv on this frame.
        unsafe { libc::execv(c"/bin/true".as_ptr(), argv.as_ptr()) };
        20
    });
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
        "expected death by SIGSYS at execve, got status {status:#x} (exit code {})",
        libc::WEXITSTATUS(status)
    );
}

#[test]
fn close_inherited_fds_keeps_only_what_is_asked() {
    let status = in_child(|| {
        let (Ok(a), Ok(b), Ok(c)) = (
            std::fs::File::open("/dev/null"),
            std::fs::File::open("/dev/null"),
            std::fs::File::open("/dev/null"),
        ) else {
            return 10;
        };
        // Give up ownership first: close_inherited_fds takes these fds away.
        let (a, b, c) = (a.into_raw_fd(), b.into_raw_fd(), c.into_raw_fd());
        if close_inherited_fds(&[b]).is_err() {
            return 11;
        }
        // SAFETY: F_GETFD only queries fd flags.
        let open = |fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
        if open(a) || open(c) {
            return 12;
        }
        if !open(b) || !open(0) || !open(1) || !open(2) {
            return 13;
        }
        0
    });
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0);
}

#[test]
fn detach_session_makes_a_session_leader() {
    let status = in_child(|| {
        let Ok(sid) = detach_session() else { return 10 };
        // SAFETY: getpid/getsid have no preconditions.
        let (pid, now) = unsafe { (libc::getpid(), libc::getsid(0)) };
        if sid != pid as u32 || now != pid {
            return 11;
        }
        // A session leader cannot start another session.
        if detach_session().is_ok() {
            return 12;
        }
        0
    });
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0);
}

/// A supervisor stopped and continued (`kill -STOP`/`-CONT`, a debugger or `strace` attaching,
/// a checkpoint) resumes its interrupted sleeps through `restart_syscall`; refused, every
/// blocked thread got ENOSYS (the metrics thread panicked, the gate reported read errors).
#[test]
fn a_stopped_and_continued_supervisor_resumes_its_sleeps() {
    let filter = supervisor_filter().expect("filter builds");
    // SAFETY: the child only sleeps and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        if apply_to_all_threads(&filter).is_err() {
            // SAFETY: _exit has no preconditions.
            unsafe { libc::_exit(10) };
        }
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 400_000_000,
        };
        // SAFETY: a valid timespec on this frame; no remaining-time output.
        let rc =
            unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts, std::ptr::null_mut()) };
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(rc) };
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut status = 0;
    // SAFETY: signalling and reaping our own child into a local int.
    unsafe {
        assert_eq!(libc::kill(pid, libc::SIGSTOP), 0);
        assert_eq!(libc::waitpid(pid, &mut status, libc::WUNTRACED), pid);
        assert!(libc::WIFSTOPPED(status), "child did not stop: {status:#x}");
        assert_eq!(libc::kill(pid, libc::SIGCONT), 0);
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the interrupted sleep failed after SIGCONT: exit code {} (38 = ENOSYS: restart_syscall refused), status {status:#x}",
        libc::WEXITSTATUS(status)
    );
}
