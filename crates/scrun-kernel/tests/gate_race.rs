//! The exec gate against the races that defeat a seccomp CONTINUE decision (issue 4).
//!
//! Each test mounts a private overlay whose lower dir holds `good` (a copy of busybox) and
//! `evil` (the same bytes plus a 16-byte marker, so a different SHA-256), runs a gate thread
//! with `FAN_MARK_FILESYSTEM` on it that takes a read lease, hashes the event fd and denies
//! the evil hash, and execs `<file>` as busybox `tail -c 16 /proc/self/exe`: the process prints
//! the last 16 bytes of the file the kernel *actually* runs, so the evil content announces
//! itself with the marker whatever path or name led to it.
#![cfg(target_os = "linux")]

use std::ffi::{CString, c_void};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use scrun_kernel::gate::{ExecGate, HeldLease, ignore_lease_break_signal};
use sha2::{Digest, Sha256};

const MARKER: &[u8; 16] = b"SCRUN-BAD-MARKER";
const BUSYBOX: &str = "/bin/busybox";

// ---------------------------------------------------------------- overlay

/// `lower/{good,evil}`, `upper`, `work`, `merged`; unmounted (MNT_DETACH) on drop, panic or not.
struct Overlay {
    dir: tempfile::TempDir,
    merged: PathBuf,
    good_bytes: Vec<u8>,
    evil_bytes: Vec<u8>,
}

impl Overlay {
    fn new() -> Overlay {
        let dir = tempfile::tempdir().unwrap();
        let good_bytes = std::fs::read(BUSYBOX).unwrap();
        let mut evil_bytes = good_bytes.clone();
        evil_bytes.extend_from_slice(MARKER);
        for d in ["lower", "upper", "work", "merged", "bind"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        write_exec(&dir.path().join("lower/good"), &good_bytes);
        write_exec(&dir.path().join("lower/evil"), &evil_bytes);
        let merged = dir.path().join("merged");
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            dir.path().join("lower").display(),
            dir.path().join("upper").display(),
            dir.path().join("work").display()
        );
        nix::mount::mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(opts.as_str()),
        )
        .expect("mount -t overlay (needs root)");
        Overlay {
            dir,
            merged,
            good_bytes,
            evil_bytes,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.merged.join(name)
    }

    fn good_tail(&self) -> &[u8] {
        &self.good_bytes[self.good_bytes.len() - 16..]
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.merged, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn write_exec(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

// ---------------------------------------------------------------- gate thread

#[derive(Debug, Default)]
struct Stats {
    allowed: AtomicUsize,
    denied_hash: AtomicUsize,
    denied_lease_busy: AtomicUsize,
    /// (pid, path) of every event.
    seen: Mutex<Vec<(i32, Option<PathBuf>)>>,
}

/// Runs the gate policy "deny the evil SHA-256, allow the rest" until dropped.
struct GateThread {
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    handle: Option<JoinHandle<()>>,
}

fn sha256_of(file: &File) -> io::Result<Vec<u8>> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut off = 0u64;
    loop {
        let n = file.read_at(&mut buf, off)?;
        if n == 0 {
            return Ok(h.finalize().to_vec());
        }
        h.update(&buf[..n]);
        off += n as u64;
    }
}

impl GateThread {
    fn start(ovl: &Overlay) -> GateThread {
        ignore_lease_break_signal().unwrap();
        let gate = ExecGate::new().expect("fanotify_init (needs CAP_SYS_ADMIN)");
        gate.mark_filesystem(&ovl.merged).unwrap();
        let bad = Sha256::digest(&ovl.evil_bytes).to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let (stop2, stats2) = (Arc::clone(&stop), Arc::clone(&stats));
        let handle = std::thread::spawn(move || {
            // As scrun's worker does: an allowed event, and so its file's lease, is kept for a
            // while after the answer, until the exec is well past the kernel's denial of writers.
            let mut held = std::collections::VecDeque::new();
            while !stop2.load(Ordering::Relaxed) {
                let now = std::time::Instant::now();
                while held.front().is_some_and(|(t, _, _)| *t <= now) {
                    held.pop_front();
                }
                if !gate.wait(50).unwrap() {
                    continue;
                }
                for ev in gate.read_events().unwrap() {
                    let Some(file) = ev.file() else { continue };
                    stats2.seen.lock().unwrap().push((ev.pid, ev.path()));
                    let lease = match HeldLease::take(file) {
                        Ok(l) => l,
                        Err(e) => {
                            assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "{e}");
                            stats2.denied_lease_busy.fetch_add(1, Ordering::Relaxed);
                            gate.respond(&ev, false).unwrap();
                            continue;
                        }
                    };
                    let allow = sha256_of(file).map(|h| h != bad).unwrap_or(false);
                    // Counted before the answer: the exec'ing test reads the counters as soon as
                    // its exec returns.
                    let counter = if allow {
                        &stats2.allowed
                    } else {
                        &stats2.denied_hash
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    gate.respond(&ev, allow).unwrap();
                    if allow {
                        let hold =
                            std::time::Instant::now() + std::time::Duration::from_millis(100);
                        held.push_back((hold, ev, lease));
                    }
                }
            }
        });
        GateThread {
            stop,
            stats,
            handle: Some(handle),
        }
    }

    fn denied(&self) -> usize {
        self.stats.denied_hash.load(Ordering::Relaxed)
            + self.stats.denied_lease_busy.load(Ordering::Relaxed)
    }
}

impl Drop for GateThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let res = h.join();
            if !std::thread::panicking() {
                res.expect("gate thread panicked");
            }
        }
    }
}

// ---------------------------------------------------------------- exec outcomes

#[derive(Debug, Default)]
struct Tally {
    good: usize,
    bad: usize,
    eperm: usize,
    etxtbsy: usize,
    other: Vec<String>,
}

impl Tally {
    fn add_output(&mut self, ovl: &Overlay, stdout: &[u8]) {
        if stdout == MARKER {
            self.bad += 1;
        } else if stdout == ovl.good_tail() {
            self.good += 1;
        } else {
            self.other.push(format!("stdout {stdout:?}"));
        }
    }

    fn add_errno(&mut self, errno: i32) {
        match errno {
            libc::EPERM => self.eperm += 1,
            libc::ETXTBSY => self.etxtbsy += 1,
            e => self.other.push(io::Error::from_raw_os_error(e).to_string()),
        }
    }
}

/// `<path>` run as `tail -c 16 /proc/self/exe` (busybox picks the applet from argv[0]).
fn tail_cmd(path: &Path) -> Command {
    let mut c = Command::new(path);
    c.arg0("tail").args(["-c", "16", "/proc/self/exe"]);
    c
}

fn run_tail(ovl: &Overlay, mut cmd: Command, tally: &mut Tally) {
    match cmd.output() {
        Ok(out) => tally.add_output(ovl, &out.stdout),
        Err(e) => tally.add_errno(e.raw_os_error().unwrap_or(0)),
    }
}

const ITERATIONS: usize = 200;

// ---------------------------------------------------------------- tests

#[test]
fn denied_exec_fails_with_eperm_and_allowed_exec_runs() {
    let ovl = Overlay::new();
    let gate = GateThread::start(&ovl);

    let err = tail_cmd(&ovl.path("evil")).output().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");

    let out = tail_cmd(&ovl.path("good")).output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, ovl.good_tail());

    // An fd-based exec of the evil file (execveat AT_EMPTY_PATH through /proc/self/fd) is
    // gated too (T11).
    let f = File::open(ovl.path("evil")).unwrap();
    let via_fd = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
    let mut cmd = tail_cmd(&via_fd);
    // SAFETY: the closure only calls fcntl(2), which is async-signal-safe.
    unsafe {
        let fd = f.as_raw_fd();
        cmd.pre_exec(move || {
            // Keep the fd open across exec so /proc/self/fd/N resolves in the child.
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let err = cmd.output().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");

    let seen = gate.stats.seen.lock().unwrap().clone();
    let paths: Vec<PathBuf> = seen.iter().filter_map(|(_, p)| p.clone()).collect();
    assert!(paths.contains(&ovl.path("evil")), "{seen:?}");
    assert!(paths.contains(&ovl.path("good")), "{seen:?}");
    assert!(seen.iter().all(|(pid, _)| *pid > 0), "{seen:?}");
    assert_eq!(gate.stats.denied_hash.load(Ordering::Relaxed), 2);
    assert_eq!(gate.stats.allowed.load(Ordering::Relaxed), 1);
}

#[test]
fn execs_from_another_mount_namespace_and_a_bind_mount_are_gated() {
    let ovl = Overlay::new();
    let gate = GateThread::start(&ovl);
    let bind = ovl.dir.path().join("bind");
    let merged = CString::new(ovl.merged.as_os_str().as_bytes()).unwrap();
    let bind_c = CString::new(bind.as_os_str().as_bytes()).unwrap();

    // In a fresh mount namespace (private propagation, like a container), bind-mount the
    // overlay elsewhere and exec through the bind: a mount mark would see nothing (T7a).
    let run_in_ns = |name: &str| {
        let mut cmd = tail_cmd(&bind.join(name));
        let (merged, bind_c) = (merged.clone(), bind_c.clone());
        // SAFETY: the closure calls only unshare(2) and mount(2) (async-signal-safe) with
        // NUL-terminated strings prepared before fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::unshare(libc::CLONE_NEWNS) < 0
                    || libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) < 0
                    || libc::mount(
                        merged.as_ptr(),
                        bind_c.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ) < 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.output()
    };

    let err = run_in_ns("evil").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    let out = run_in_ns("good").unwrap();
    assert_eq!(out.stdout, ovl.good_tail());

    let seen = gate.stats.seen.lock().unwrap().clone();
    // The path is d_path from the gate's root: the bind mount, not the overlay mount point.
    assert!(
        seen.iter()
            .any(|(_, p)| p.as_deref() == Some(&bind.join("evil"))),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(_, p)| p.as_deref() == Some(&bind.join("good"))),
        "{seen:?}"
    );
    // Nothing was left mounted in our namespace.
    assert!(std::fs::read_dir(&bind).unwrap().next().is_none());
}

// -- (1) path-buffer flip ------------------------------------------------------------------

/// What the CLONE_VM child needs; everything is prepared before clone(2).
struct ChildArgs {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    out_fd: i32,
}

/// Runs on its own stack in a child that shares our memory (CLONE_VM|CLONE_VFORK, like
/// posix_spawn): the path string it hands to execve is being flipped by another thread.
extern "C" fn exec_child(arg: *mut c_void) -> libc::c_int {
    // SAFETY: `arg` points to the ChildArgs the parent keeps alive until clone returns; the
    // parent thread is suspended (CLONE_VFORK) until this child execs or exits. Only
    // async-signal-safe calls are made; errno is the parent thread's, which is suspended.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        libc::dup2(a.out_fd, 1);
        libc::execve(a.path, a.argv, a.envp);
        libc::_exit(100 + *libc::__errno_location())
    }
}

#[test]
fn flipping_the_path_buffer_never_runs_the_denied_content() {
    let ovl = Overlay::new();
    let gate = GateThread::start(&ovl);

    let good = ovl.path("good");
    let evil = ovl.path("evil");
    let good_b = good.as_os_str().as_bytes();
    let evil_b = evil.as_os_str().as_bytes();
    assert_eq!(good_b.len(), evil_b.len());
    // Lay the path out in u32 words so that its last 4 bytes (the name) are exactly one word:
    // the flipper swaps the name with one atomic store, so the kernel never reads a torn name.
    let name_at = good_b.len() - 4;
    let lead = (4 - name_at % 4) % 4;
    let mut bytes = vec![0u8; lead];
    bytes.extend_from_slice(good_b);
    bytes.extend_from_slice(&[0; 4]); // NUL terminator plus padding
    let words: Arc<Vec<AtomicU32>> = Arc::new(
        bytes
            .chunks_exact(4)
            .map(|c| AtomicU32::new(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
    );
    let name_word = (lead + name_at) / 4;
    let word_of =
        |b: &[u8]| u32::from_ne_bytes([b[name_at], b[name_at + 1], b[name_at + 2], b[name_at + 3]]);
    let names = [word_of(good_b), word_of(evil_b)];
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (words, stop) = (Arc::clone(&words), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut flips = 0usize;
            while !stop.load(Ordering::Relaxed) {
                words[name_word].store(names[flips % 2], Ordering::Relaxed);
                flips += 1;
            }
            flips
        })
    };
    // SAFETY: `lead < 4` bytes into the word buffer, which lives (Arc) until the loop ends;
    // AtomicU32 has the layout of u32, so the bytes from there on are the NUL-terminated path.
    let path_ptr: *const libc::c_char = unsafe { words.as_ptr().cast::<u8>().add(lead).cast() };

    let argv_c: Vec<CString> = ["tail", "-c", "16", "/proc/self/exe"]
        .iter()
        .map(|s| CString::new(*s).unwrap())
        .collect();
    let mut argv: Vec<*const libc::c_char> = argv_c.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let mut stack = vec![0u8; 256 * 1024];

    let mut tally = Tally::default();
    for _ in 0..ITERATIONS {
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two descriptors into a live local array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: pipe2 just created both descriptors; each is owned once here.
        let (mut rd, wr) = unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let args = ChildArgs {
            path: path_ptr,
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            out_fd: wr.as_raw_fd(),
        };
        // SAFETY: the child runs `exec_child` on `stack` (top aligned down to 16 bytes), which
        // outlives it because CLONE_VFORK suspends us until it execs or exits; `args`, `argv`,
        // `envp` and the path words live across the call.
        let pid = unsafe {
            let top = stack.as_mut_ptr().add(stack.len());
            let top = top.sub(top as usize % 16);
            libc::clone(
                exec_child,
                top.cast(),
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                std::ptr::from_ref(&args).cast_mut().cast(),
            )
        };
        assert!(pid > 0, "clone: {}", io::Error::last_os_error());
        drop(wr);
        let mut out = Vec::new();
        rd.read_to_end(&mut out).unwrap();
        let mut status = 0;
        // SAFETY: waits for our own child, writing its status into a local.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        let code = libc::WEXITSTATUS(status);
        if libc::WIFEXITED(status) && code > 100 {
            tally.add_errno(code - 100);
        } else {
            tally.add_output(&ovl, &out);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();

    eprintln!(
        "path flip: {ITERATIONS} execs, {flips} flips: {tally:?}, gate allowed {} denied {}",
        gate.stats.allowed.load(Ordering::Relaxed),
        gate.denied()
    );
    assert_eq!(tally.bad, 0, "the evil content ran: {tally:?}");
    assert!(
        tally.good > 0 && tally.eperm > 0,
        "race not exercised: {tally:?}"
    );
    // A torn read of the name (the kernel copies the string in 8-byte words) gives ENOENT.
    assert!(
        tally.other.iter().all(|o| o.contains("No such file")),
        "{tally:?}"
    );
}

// -- (2) rename swap -------------------------------------------------------------------------

#[test]
fn swapping_names_under_the_exec_never_runs_the_denied_content() {
    let ovl = Overlay::new();
    let gate = GateThread::start(&ovl);
    let good = CString::new(ovl.path("good").as_os_str().as_bytes()).unwrap();
    let evil = CString::new(ovl.path("evil").as_os_str().as_bytes()).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut swaps = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: both paths are NUL-terminated CStrings owned by this closure.
                let rc = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        good.as_ptr(),
                        libc::AT_FDCWD,
                        evil.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(rc, 0, "renameat2: {}", io::Error::last_os_error());
                swaps += 1;
                // Pacing only (nothing is timed): an unpaced loop starves path lookups.
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            swaps
        })
    };

    let mut tally = Tally::default();
    for _ in 0..ITERATIONS {
        run_tail(&ovl, tail_cmd(&ovl.path("good")), &mut tally);
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();

    eprintln!(
        "rename swap: {ITERATIONS} execs, {swaps} swaps: {tally:?}, gate allowed {} denied {}",
        gate.stats.allowed.load(Ordering::Relaxed),
        gate.denied()
    );
    assert_eq!(tally.bad, 0, "the evil content ran: {tally:?}");
    assert!(
        tally.good > 0 && tally.eperm > 0,
        "race not exercised: {tally:?}"
    );
    assert!(tally.other.is_empty(), "{tally:?}");
}

// -- (3) content rewrite -------------------------------------------------------------------

#[test]
fn rewriting_the_file_during_execs_never_runs_the_denied_content() {
    let ovl = Overlay::new();
    let gate = GateThread::start(&ovl);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let path = ovl.path("good");
        let contents = [ovl.evil_bytes.clone(), ovl.good_bytes.clone()];
        std::thread::spawn(move || {
            let (mut writes, mut busy) = (0usize, 0usize);
            while !stop.load(Ordering::Relaxed) {
                let open = std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&path);
                match open {
                    Ok(mut f) => {
                        f.write_all(&contents[writes % 2]).unwrap();
                        writes += 1;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => busy += 1,
                    Err(e) => panic!("open for write: {e}"),
                }
                // Pacing only: leave windows in which no writer holds the file open.
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            (writes, busy)
        })
    };

    let mut tally = Tally::default();
    let mut execs = 0;
    for _ in 0..ITERATIONS {
        run_tail(&ovl, tail_cmd(&ovl.path("good")), &mut tally);
        execs += 1;
    }
    // Denied execs are fast: all of them can fall inside one rewrite (the writer waits for the
    // lease of the first allowed exec, and meanwhile every exec is refused). Go on, up to 10 s,
    // until both outcomes were seen, so the assertions below judge the race, not the pacing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (tally.good == 0 || tally.eperm + tally.etxtbsy == 0)
        && std::time::Instant::now() < deadline
    {
        run_tail(&ovl, tail_cmd(&ovl.path("good")), &mut tally);
        execs += 1;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let (writes, busy) = writer.join().unwrap();

    eprintln!(
        "rewrite: {execs} execs, {writes} rewrites ({busy} ETXTBSY): {tally:?}, gate allowed {} denied hash {} denied lease-busy {}",
        gate.stats.allowed.load(Ordering::Relaxed),
        gate.stats.denied_hash.load(Ordering::Relaxed),
        gate.stats.denied_lease_busy.load(Ordering::Relaxed),
    );
    assert_eq!(tally.bad, 0, "the evil content ran: {tally:?}");
    assert!(tally.good > 0, "{tally:?}");
    assert!(
        tally.eperm + tally.etxtbsy > 0,
        "race not exercised: {tally:?}"
    );
    assert!(tally.other.is_empty(), "{tally:?}");
}
