//! Reads a real child's memory: strings ending exactly at a page followed by a PROT_NONE
//! guard page, strings running into the guard page, and a 100 000-item argv.

use scrun_kernel::memory::{MemError, read_cstring, read_ptr_array, read_string_array};

struct Child(libc::pid_t, std::cell::Cell<bool>);

impl Child {
    /// Forks a child that only sleeps; its memory is a copy of ours at fork time.
    fn spawn() -> Child {
        // SAFETY: the child calls only async-signal-safe functions (pause, _exit) and
        // touches no lock or allocator state, so forking a multi-threaded test is sound.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            loop {
                // SAFETY: pause has no preconditions; the parent kills us with SIGKILL.
                unsafe { libc::pause() };
            }
        }
        Child(pid, std::cell::Cell::new(false))
    }

    fn pid(&self) -> u32 {
        self.0 as u32
    }

    fn kill_and_reap(&self) {
        if self.1.replace(true) {
            return;
        }
        // SAFETY: signalling and reaping our own child pid; no memory is involved.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

fn page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Maps one read-write page followed by one PROT_NONE page; returns the base.
fn map_guarded(extra_flags: i32) -> *mut u8 {
    let p = page();
    // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 * p,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    // SAFETY: the second page lies inside the mapping we just created and nothing refers to it.
    let rc = unsafe { libc::mprotect(base.cast::<u8>().add(p).cast(), p, libc::PROT_NONE) };
    assert_eq!(rc, 0);
    base.cast()
}

/// Writes `bytes` so that the last one is the last byte before the guard page.
fn put_at_page_end(base: *mut u8, bytes: &[u8]) -> u64 {
    let p = page();
    // SAFETY: base..base+p is our read-write page and bytes.len() <= p.
    unsafe {
        let dst = base.add(p - bytes.len());
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
        dst as u64
    }
}

#[test]
fn strings_at_the_guard_page() {
    let a = map_guarded(0);
    let ends_at_boundary = put_at_page_end(a, b"/usr/bin/boundary\0");
    let b = map_guarded(0);
    let no_nul = put_at_page_end(b, b"runs-into-the-guard");
    let long = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0".to_vec();

    let child = Child::spawn();
    // Change our copy after fork: the reads must see the child's memory, not ours.
    put_at_page_end(a, b"/tampered/in/parent\0");
    let pid = child.pid();

    let s = read_cstring(pid, ends_at_boundary, 4096).expect("string ending at the page end");
    assert_eq!(s, b"/usr/bin/boundary");
    // An exact bound: 17 bytes + NUL fits in 18, not in 17.
    assert_eq!(
        read_cstring(pid, ends_at_boundary, 18).expect("fits"),
        b"/usr/bin/boundary"
    );
    assert!(matches!(
        read_cstring(pid, ends_at_boundary, 17),
        Err(MemError::TooLong { .. })
    ));

    match read_cstring(pid, no_nul, 4096) {
        Err(MemError::Fault { addr, .. }) => assert_eq!(addr, b as u64 + page() as u64),
        other => panic!("expected a fault at the guard page, got {other:?}"),
    }
    assert!(matches!(
        read_cstring(pid, b as u64 + page() as u64, 10),
        Err(MemError::Fault { .. })
    ));
    assert!(matches!(
        read_cstring(pid, 0, 10),
        Err(MemError::Fault { .. })
    ));
    assert!(matches!(
        read_cstring(pid, long.as_ptr() as u64, 20),
        Err(MemError::TooLong { max_len: 20, .. })
    ));

    child.kill_and_reap();
    assert!(matches!(
        read_cstring(pid, ends_at_boundary, 4096),
        Err(MemError::Gone { .. })
    ));
}

#[test]
fn argv_of_100_000_items() {
    const N: usize = 100_000;
    let strings: Vec<Vec<u8>> = (0..N).map(|i| format!("arg{i}\0").into_bytes()).collect();
    let mut ptrs: Vec<u64> = strings.iter().map(|s| s.as_ptr() as u64).collect();
    ptrs.push(0);
    let total: usize = strings.iter().map(Vec::len).sum();

    let child = Child::spawn();
    let pid = child.pid();
    let addr = ptrs.as_ptr() as u64;

    let (got, truncated) = read_ptr_array(pid, addr, N, false).expect("pointer array");
    assert_eq!((got.len(), truncated), (N, false));
    assert_eq!(got, ptrs[..N]);
    let (got, truncated) = read_ptr_array(pid, addr, 1000, false).expect("bounded");
    assert_eq!((got.len(), truncated), (1000, true));

    let all = read_string_array(pid, addr, false, N + 1, total).expect("argv");
    assert!(!all.truncated);
    assert_eq!(all.items.len(), N);
    assert_eq!(all.items[0], b"arg0");
    assert_eq!(all.items[N - 1], format!("arg{}", N - 1).into_bytes());

    // One byte short of the total: the last string is dropped and truncation reported.
    let short = read_string_array(pid, addr, false, N, total - 1).expect("argv, byte bound");
    assert!(short.truncated);
    assert_eq!(short.items.len(), N - 1);

    // argv == NULL is an empty list, like Linux.
    let empty = read_string_array(pid, 0, false, 10, 100).expect("NULL argv");
    assert_eq!((empty.items.len(), empty.truncated), (0, false));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn compat32_pointer_arrays() {
    // MAP_32BIT puts the strings and the 4-byte pointer array below 4 GiB, as for i386.
    let base = map_guarded(libc::MAP_32BIT);
    let strs: [&[u8]; 3] = [b"/bin/sh\0", b"-c\0", b"echo hi\0"];
    let mut off = 0usize;
    let mut ptrs32: Vec<u32> = Vec::new();
    for s in strs {
        // SAFETY: offsets stay within the first (read-write) page of the mapping.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), base.add(off), s.len()) };
        ptrs32.push(u32::try_from(base as u64 + off as u64).expect("below 4 GiB"));
        off += s.len();
    }
    ptrs32.push(0);
    let bytes: Vec<u8> = ptrs32.iter().flat_map(|p| p.to_ne_bytes()).collect();
    // Place the array so that its NULL terminator is the last 4 bytes before the guard page.
    let arr = put_at_page_end(base, &bytes);

    let child = Child::spawn();
    let got = read_string_array(child.pid(), arr, true, 10, 4096).expect("compat argv");
    assert_eq!(
        got.items,
        vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"echo hi".to_vec()]
    );
    assert!(!got.truncated);
}
