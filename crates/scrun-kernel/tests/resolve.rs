//! Resolution inside a temp "container root" with nested, absolute, relative, escaping and
//! looping symlinks, resolved for this very process.

use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use scrun_kernel::resolve::{
    PathCache, ResolveError, RootDir, read_head, resolve_exec, resolve_exec_cached,
};

fn me() -> u32 {
    std::process::id()
}

fn exe(path: &Path, body: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, body).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    root: RootDir,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = tmp.path().to_path_buf();
    exe(&r.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n");
    exe(&r.join("usr/lib/x/prog"), b"\x7fELF-not-really");
    exe(&r.join("bin/true"), b"true");
    symlink("/usr/bin/tool", r.join("bin/abs")).expect("symlink");
    symlink("../usr/bin/tool", r.join("bin/rel")).expect("symlink");
    symlink("../../../../../../../usr/bin/tool", r.join("bin/escape")).expect("symlink");
    symlink("/../../../etc/passwd", r.join("bin/passwd")).expect("symlink");
    symlink("usr/lib", r.join("lib")).expect("symlink");
    symlink("/lib/x/../x/", r.join("xdir")).expect("symlink");
    symlink("loop2", r.join("bin/loop1")).expect("symlink");
    symlink("loop1", r.join("bin/loop2")).expect("symlink");
    symlink("", r.join("bin/empty")).ok();
    // A chain: c0 -> c1 -> ... -> c40 -> /usr/bin/tool (41 links from c0, 40 from c1).
    for i in 0..=40 {
        let target = if i == 40 {
            "/usr/bin/tool".to_string()
        } else {
            format!("c{}", i + 1)
        };
        symlink(target, r.join(format!("bin/c{i}"))).expect("symlink");
    }
    nix::unistd::mkfifo(
        &r.join("bin/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .expect("mkfifo");
    let root = RootDir::open_path(&r).expect("open root");
    Fixture {
        _tmp: tmp,
        dir: r,
        root,
    }
}

fn ok(f: &Fixture, path: &str) -> PathBuf {
    match resolve_exec(&f.root, me(), None, path.as_bytes(), false, false) {
        Ok(r) => {
            assert!(!r.memfd);
            assert!(r.meta.is_file());
            r.path
        }
        Err(e) => panic!("{path}: {e}"),
    }
}

fn errno(f: &Fixture, path: &str) -> i32 {
    match resolve_exec(&f.root, me(), None, path.as_bytes(), false, false) {
        Ok(r) => panic!("{path} resolved to {} but should fail", r.path.display()),
        Err(e) => e.errno(),
    }
}

#[test]
fn symlinks_stay_inside_the_root() {
    let f = fixture();
    assert_eq!(ok(&f, "/bin/true"), Path::new("/bin/true"));
    assert_eq!(ok(&f, "/bin/abs"), Path::new("/usr/bin/tool"));
    assert_eq!(ok(&f, "/bin/rel"), Path::new("/usr/bin/tool"));
    assert_eq!(ok(&f, "/bin/escape"), Path::new("/usr/bin/tool"));
    assert_eq!(
        ok(&f, "/../../../../usr/bin/tool"),
        Path::new("/usr/bin/tool")
    );
    assert_eq!(
        ok(&f, "//usr/./bin/../bin/tool"),
        Path::new("/usr/bin/tool")
    );
    assert_eq!(ok(&f, "/lib/x/prog"), Path::new("/usr/lib/x/prog"));
    assert_eq!(ok(&f, "/xdir/prog"), Path::new("/usr/lib/x/prog"));
    assert_eq!(ok(&f, "/bin/c1"), Path::new("/usr/bin/tool"));
    // The host has /etc/passwd; the root does not.
    assert!(Path::new("/etc/passwd").exists());
    assert_eq!(errno(&f, "/bin/passwd"), libc::ENOENT);
    assert_eq!(errno(&f, "/../../etc/passwd"), libc::ENOENT);
}

#[test]
fn kernel_errnos() {
    let f = fixture();
    assert_eq!(errno(&f, "/bin/loop1"), libc::ELOOP);
    assert_eq!(errno(&f, "/bin/c0"), libc::ELOOP);
    assert_eq!(errno(&f, "/nope"), libc::ENOENT);
    assert_eq!(errno(&f, "/bin/true/x"), libc::ENOTDIR);
    assert_eq!(errno(&f, "/bin/true/"), libc::ENOTDIR);
    assert_eq!(errno(&f, "/usr/bin"), libc::EACCES);
    assert_eq!(errno(&f, "/usr/bin/"), libc::EACCES);
    assert_eq!(errno(&f, "/usr/bin/.."), libc::EACCES);
    assert_eq!(errno(&f, "/"), libc::EACCES);
    assert_eq!(errno(&f, "/bin/fifo"), libc::EACCES);
    assert_eq!(
        errno(&f, &format!("/bin/{}", "n".repeat(300))),
        libc::ENAMETOOLONG
    );
    assert_eq!(errno(&f, &"/a".repeat(2100)), libc::ENAMETOOLONG);
    if fs::symlink_metadata(f.dir.join("bin/empty")).is_ok() {
        assert_eq!(errno(&f, "/bin/empty"), libc::ENOENT);
    }
    // execveat(AT_SYMLINK_NOFOLLOW) on a final symlink.
    let e = resolve_exec(&f.root, me(), None, b"/bin/abs", false, true).expect_err("nofollow");
    assert!(matches!(e, ResolveError::Loop { .. }));
    assert_eq!(e.errno(), libc::ELOOP);
    // ...but symlinks in the middle are still followed.
    let r =
        resolve_exec(&f.root, me(), None, b"/lib/x/prog", false, true).expect("nofollow, dir link");
    assert_eq!(r.path, Path::new("/usr/lib/x/prog"));
    // An empty path without AT_EMPTY_PATH.
    assert_eq!(errno(&f, ""), libc::ENOENT);
}

#[test]
fn relative_to_a_dirfd() {
    let f = fixture();
    let usr = fs::File::open(f.dir.join("usr")).expect("open usr");
    let fd = Some(usr.as_raw_fd());
    let res = |p: &str| resolve_exec(&f.root, me(), fd, p.as_bytes(), false, false);
    assert_eq!(
        res("bin/tool").expect("bin/tool").path,
        Path::new("/usr/bin/tool")
    );
    // '..' above the start directory opens its ancestors from the root.
    assert_eq!(
        res("../bin/true").expect("../bin/true").path,
        Path::new("/bin/true")
    );
    assert_eq!(
        res("../../../../bin/true").expect("clamped").path,
        Path::new("/bin/true")
    );
    assert_eq!(
        res("lib/x/../../bin/tool").expect("nested").path,
        Path::new("/usr/bin/tool")
    );
    // A bad dirfd is EBADF, like the kernel.
    let e = resolve_exec(&f.root, me(), Some(987_654), b"x", false, false).expect_err("bad fd");
    assert_eq!(e.errno(), libc::EBADF);
    // A dirfd that is not a directory is ENOTDIR.
    let file = fs::File::open(f.dir.join("bin/true")).expect("open file");
    let e = resolve_exec(&f.root, me(), Some(file.as_raw_fd()), b"x", false, false)
        .expect_err("not dir");
    assert_eq!(e.errno(), libc::ENOTDIR);
    // AT_EMPTY_PATH on a regular file: the fd itself.
    let r =
        resolve_exec(&f.root, me(), Some(file.as_raw_fd()), b"", true, false).expect("fd itself");
    assert_eq!(r.path, Path::new("/bin/true"));
    assert_eq!(read_head(&r.file, 2).expect("head"), b"tr");
    assert_eq!(read_head(&r.file, 100).expect("short file"), b"true");
}

#[test]
fn cwd_outside_the_root_is_detached() {
    // The test's cwd (the crate dir) is not under the temp root: names below it resolve,
    // climbing above it is refused.
    let f = fixture();
    let cwd = std::env::current_dir().expect("cwd");
    let r =
        resolve_exec(&f.root, me(), None, b"src/../Cargo.toml", false, false).expect("below cwd");
    assert_eq!(r.path, cwd.join("Cargo.toml"));
    let e =
        resolve_exec(&f.root, me(), None, b"../Cargo.toml", false, false).expect_err("above cwd");
    assert!(matches!(e, ResolveError::Detached { .. }));
}

#[test]
fn host_root_proc_self_and_memfd() {
    let root = RootDir::open_path(Path::new("/")).expect("host root");
    // A relative path from the real cwd, with the host root: a normal in-root path.
    let cwd = std::env::current_dir().expect("cwd");
    let r = resolve_exec(&root, me(), None, b"Cargo.toml", false, false).expect("cwd-relative");
    assert_eq!(r.path, cwd.join("Cargo.toml"));

    // /proc/self/exe maps to /proc/<pid>/exe: the test binary.
    let r =
        resolve_exec(&root, me(), None, b"/proc/self/exe", false, false).expect("proc self exe");
    assert_eq!(r.path, std::env::current_exe().expect("current exe"));
    assert!(!r.memfd);
    let r = resolve_exec(
        &root,
        me(),
        None,
        b"/proc/thread-self/../../exe",
        false,
        false,
    )
    .expect("thread-self");
    assert_eq!(r.path, std::env::current_exe().expect("current exe"));

    // A memfd, by AT_EMPTY_PATH and by /proc/self/fd/N.
    let name = CString::new("payload").expect("name");
    let mfd = nix::sys::memfd::memfd_create(&name, nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
        .expect("memfd");
    nix::unistd::write(&mfd, b"\x7fELFpayload").expect("write memfd");
    let raw = mfd.as_raw_fd();
    let r = resolve_exec(&root, me(), Some(raw), b"", true, false).expect("memfd by fd");
    assert!(r.memfd);
    assert_eq!(r.path, Path::new("/memfd:payload (deleted)"));
    assert_eq!(read_head(&r.file, 4).expect("head"), b"\x7fELF");
    let by_path = format!("/proc/self/fd/{raw}");
    let r =
        resolve_exec(&root, me(), None, by_path.as_bytes(), false, false).expect("memfd by path");
    assert!(r.memfd);
    assert_eq!(r.path, Path::new("/memfd:payload (deleted)"));

    // A regular file named like a memfd is not one.
    let tmp = tempfile::tempdir().expect("tempdir");
    exe(&tmp.path().join("memfd:x (deleted)"), b"x");
    let fake = fs::File::open(tmp.path().join("memfd:x (deleted)")).expect("open fake");
    let r = resolve_exec(&root, me(), Some(fake.as_raw_fd()), b"", true, false).expect("fake");
    assert!(!r.memfd);
}

#[test]
fn root_of_a_live_pid() {
    let root = RootDir::open_for_pid(me()).expect("own root");
    let r = resolve_exec(&root, me(), None, b"/proc/self/exe", false, false).expect("exe");
    assert_eq!(r.path, std::env::current_exe().expect("current exe"));
    assert!(RootDir::open_for_pid(u32::MAX).is_err());
}

#[test]
fn cached_resolution_is_path_only_and_reopens_for_reading_once() {
    let f = fixture();
    let mut cache = PathCache::default();
    let resolve = |cache: &mut PathCache| {
        resolve_exec_cached(&f.root, me(), None, b"/bin/abs", false, false, cache).expect("resolve")
    };
    let first = resolve(&mut cache);
    let again = resolve(&mut cache);
    for r in [&first, &again] {
        assert!(r.path_only);
        assert_eq!(r.path, Path::new("/usr/bin/tool"));
    }
    // The O_PATH descriptor cannot be read; readable() reopens the same inode, once.
    let a = again.readable().expect("reopen");
    let b = again.readable().expect("reopen");
    assert_eq!(a.as_raw_fd(), b.as_raw_fd());
    assert_ne!(a.as_raw_fd(), again.file.as_raw_fd());
    assert_eq!(read_head(a, 9).unwrap(), b"#!/bin/sh");
}

#[test]
fn an_open_file_is_named_from_the_root_and_read_through_a_reopen() {
    use scrun_kernel::resolve::{is_memory_file, resolve_open};
    use std::io::{Read, Seek, SeekFrom};
    let fx = fixture();
    let mut f = fs::File::open(fx.dir.join("usr/bin/tool")).expect("open");
    f.seek(SeekFrom::Start(3)).expect("seek");
    let shared = f.try_clone().expect("dup");
    let r = resolve_open(&fx.root, shared).expect("resolve_open");
    assert_eq!(r.path, Path::new("/usr/bin/tool"));
    assert!(!r.memfd && !is_memory_file(&r.file, &r.meta));
    let head = read_head(r.readable().expect("reopen"), 9).expect("read");
    assert_eq!(head, b"#!/bin/sh");
    // The descriptor's offset (shared with whoever holds it) did not move.
    let mut rest = String::new();
    f.read_to_string(&mut rest).expect("read");
    assert!(rest.starts_with("bin/sh"), "{rest}");

    let memfd = nix::sys::memfd::memfd_create(c"lib", nix::sys::memfd::MemFdCreateFlag::empty())
        .expect("memfd_create");
    let r = resolve_open(&fx.root, fs::File::from(memfd)).expect("resolve_open memfd");
    assert!(
        r.memfd && is_memory_file(&r.file, &r.meta),
        "{}",
        r.path.display()
    );
    // A deleted file on a tmpfs is memory too.
    let shm = tempfile::tempfile_in("/dev/shm").expect("tmpfile in /dev/shm");
    let meta = shm.metadata().expect("fstat");
    assert!(is_memory_file(&shm, &meta));
}
