//! Real seccomp user-notify, end to end: a forked child installs a raw BPF filter
//! (x86_64 execve/execveat -> USER_NOTIF) with SECCOMP_FILTER_FLAG_NEW_LISTENER, hands the
//! listener to us over the OCI listener protocol, then tries `/bin/false` (execve),
//! `false` relative to an `/bin` dirfd (execveat) and `/bin/true`. We read each path with
//! `memory`, resolve it with `resolve`, deny `false` with EPERM and let `true` run.
#![cfg(target_arch = "x86_64")]

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use scrun_kernel::listener::{pick_seccomp_fd, receive_process_state, send_process_state};
use scrun_kernel::memory::{read_cstring, read_string_array};
use scrun_kernel::notify::{AUDIT_ARCH_X86_64, ExecKind, Listener, Readiness};
use scrun_kernel::resolve::{RootDir, resolve_exec};

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// `arch == x86_64 && nr in {execve, execveat} -> USER_NOTIF`, else ALLOW.
fn exec_notify_program() -> Vec<libc::sock_filter> {
    vec![
        stmt(BPF_LD_W_ABS, 4),                                // 0: A = arch
        jump(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, 0, 3),         // 1: not x86_64 -> 5
        stmt(BPF_LD_W_ABS, 0),                                // 2: A = nr
        jump(BPF_JMP_JEQ_K, libc::SYS_execve as u32, 2, 0),   // 3: -> 6
        jump(BPF_JMP_JEQ_K, libc::SYS_execveat as u32, 1, 0), // 4: -> 6
        stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW),             // 5
        stmt(BPF_RET_K, libc::SECCOMP_RET_USER_NOTIF),        // 6
    ]
}

fn report(pipe: i32, code: i32) {
    let b = code.to_ne_bytes();
    // SAFETY: writes 4 bytes from a local array to a pipe fd we own.
    unsafe { libc::write(pipe, b.as_ptr().cast(), b.len()) };
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Runs in the forked child; never returns.
fn child(sock: &UnixStream, pipe: i32, prog: &[libc::sock_filter], json: &[u8]) -> ! {
    let false_path = c"/bin/false";
    let true_path = c"/bin/true";
    let argv_false = [
        c"false-argv0".as_ptr(),
        c"--flag".as_ptr(),
        std::ptr::null(),
    ];
    let argv_true = [c"true".as_ptr(), std::ptr::null()];
    let envp = [c"SCRUN_TEST=1".as_ptr(), std::ptr::null()];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: prctl/seccomp take integer arguments and a pointer to `fprog`, which points
    // at `prog` (valid for the call); the kernel copies the program.
    let listener = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if listener < 0 {
        report(pipe, -errno());
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(90) };
    }
    // SAFETY: seccomp just returned this new fd; nothing else owns it.
    let listener = unsafe { OwnedFd::from_raw_fd(listener as i32) };
    if send_process_state(sock, json, listener.as_fd()).is_err() {
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(91) };
    }
    drop(listener);
    // The supervisor reads the state until EOF, and we are about to block in execve.
    let _ = sock.shutdown(std::net::Shutdown::Both);
    // SAFETY: all pointers are NUL-terminated strings / NULL-terminated arrays that live
    // on this stack frame for the duration of the calls.
    unsafe {
        libc::execve(false_path.as_ptr(), argv_false.as_ptr(), envp.as_ptr());
        report(pipe, errno());
        let bin = libc::open(c"/bin".as_ptr(), libc::O_PATH | libc::O_DIRECTORY);
        libc::syscall(
            libc::SYS_execveat,
            bin,
            c"false".as_ptr(),
            argv_false.as_ptr(),
            envp.as_ptr(),
            0,
        );
        report(pipe, errno());
        libc::execve(true_path.as_ptr(), argv_true.as_ptr(), envp.as_ptr());
        report(pipe, errno());
        libc::_exit(92);
    }
}

#[derive(Debug)]
struct Seen {
    kind: ExecKind,
    path: Vec<u8>,
    argv0: Vec<u8>,
    resolved: PathBuf,
}

#[test]
fn supervise_a_real_child() {
    let (parent_sock, child_sock) = UnixStream::pair().expect("socketpair");
    let (rd, wr) = nix::unistd::pipe().expect("pipe");
    let prog = exec_notify_program();
    let json = br#"{"ociVersion":"1.1.0","fds":["seccompFd"],"pid":0,"metadata":"t","state":{}}"#;

    // SAFETY: the child only runs `child`, which calls async-signal-safe syscalls plus
    // one sendmsg (its small allocation is fork-safe with glibc) and then execs or _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        child(&child_sock, wr.as_raw_fd(), &prog, json);
    }
    drop(wr);
    drop(child_sock);

    // A guard against a hang if the child misbehaves, not a timing assertion.
    parent_sock
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    let (state, fds) = receive_process_state(&parent_sock, 1 << 20).expect("process state");
    assert_eq!(state, json);
    let listener = Listener::new(pick_seccomp_fd(&state, fds).expect("seccompFd"));
    let root = RootDir::open_for_pid(pid as u32).expect("child root");
    let false_target = std::fs::canonicalize("/bin/false").expect("canonical false");

    let mut seen = Vec::new();
    while seen.len() < 3 {
        match listener.wait(20_000).expect("wait") {
            Readiness::Ready => {}
            Readiness::Hangup => panic!("hangup before three execs; seen: {seen:?}"),
            Readiness::Timeout => panic!("no notification within 20 s; seen so far: {seen:?}"),
        }
        let n = match listener.recv() {
            Ok(n) => n,
            Err(scrun_kernel::notify::NotifyError::Gone) => continue,
            Err(e) => panic!("recv: {e}"),
        };
        let call = n.exec_call().expect("only exec syscalls are trapped");
        let path = read_cstring(n.pid, call.path_ptr, 4096).expect("path");
        let argv = read_string_array(n.pid, call.argv_ptr, call.compat32, 64, 4096).expect("argv");
        let envp = read_string_array(n.pid, call.envp_ptr, call.compat32, 64, 4096).expect("envp");
        assert_eq!(envp.items, vec![b"SCRUN_TEST=1".to_vec()]);
        assert!(listener.id_valid(n.id), "target still waiting");
        let resolved = resolve_exec(
            &root,
            n.pid,
            call.dirfd,
            &path,
            call.empty_path(),
            call.nofollow(),
        )
        .expect("resolve");
        let deny = resolved.path == false_target;
        seen.push(Seen {
            kind: call.kind,
            path,
            argv0: argv.items.first().cloned().unwrap_or_default(),
            resolved: resolved.path,
        });
        if deny {
            listener.respond_errno(n.id, libc::EPERM).expect("deny");
        } else {
            listener.respond_continue(n.id).expect("allow");
        }
        // Answered: the id is no longer pending.
        assert!(!listener.id_valid(n.id));
    }

    let mut status = 0;
    // SAFETY: reaping our own child into a local int.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    // The only task using the filter is gone (and reaped): the listener hangs up.
    assert_eq!(
        listener.wait(20_000).expect("wait after exit"),
        Readiness::Hangup
    );
    let mut reports = Vec::new();
    std::fs::File::from(rd)
        .read_to_end(&mut reports)
        .expect("read reports");
    let codes: Vec<i32> = reports
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();

    assert_eq!(
        codes,
        vec![libc::EPERM, libc::EPERM],
        "both `false` execs were denied"
    );
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "/bin/true ran (and /bin/false never did)"
    );

    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].kind, ExecKind::Execve);
    assert_eq!(seen[0].path, b"/bin/false");
    assert_eq!(seen[0].argv0, b"false-argv0");
    assert_eq!(seen[0].resolved, false_target);
    assert_eq!(seen[1].kind, ExecKind::Execveat);
    assert_eq!(seen[1].path, b"false");
    assert_eq!(seen[1].resolved, false_target);
    assert_eq!(seen[2].path, b"/bin/true");
    assert_eq!(
        seen[2].resolved,
        std::fs::canonicalize("/bin/true").expect("canonical true")
    );
    assert!(Path::new(&seen[2].resolved).is_absolute());
}
