//! The caller's view of the file system: the root an exec is resolved in.
//!
//! The kernel resolves an exec's path from the calling task's own root (its chroot, in its own
//! mount namespace) and its cwd, so scrun must too. Opening `/proc/<pid>/root` for every exec
//! costs 62-81 µs (perf note §3: creating and flushing a short-lived task's procfs dentries), so
//! [`Views`] keeps the container's root open and reuses it while that is provably the caller's.
//! What proves it is a [`Taint`] the supervisor keeps per container, from the syscalls the
//! container's filter traps before they run:
//!
//! - [`Taint::None`]: no task of the container has been let through a syscall that can give it
//!   another mount namespace (`unshare`/`clone` with `CLONE_NEWNS`, `clone3`, `setns`) or another
//!   root (`chroot`, `pivot_root`): every caller's view is the container's, with no check at all;
//! - [`Taint::Namespaces`]: one of the namespace syscalls ran, so the caller's **mount namespace**
//!   is compared per exec through a pidfd (`pidfd_open` + `ioctl(PIDFD_GET_MNT_NAMESPACE)` +
//!   `fstat`, no procfs, about 20 µs on a short-lived task); any other namespace is resolved
//!   through its own `/proc/<pid>/root`;
//! - [`Taint::Root`]: a root change inside a namespace cannot be seen that way, so from then on
//!   every exec of the container is resolved in its caller's `/proc/<pid>/root`.
//!
//! Where a profile allows one of those syscalls under argument conditions scrun cannot merge
//! with, the container starts tainted (the `create` rewrite says which).
//!
//! Roots opened per exec are cached by their identity (device, inode, mount id), which keeps
//! the per-root path cache useful across the execs of one chroot.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use crate::resolve::{PathCache, ResolveError, RootDir};
use crate::sys::cvt;

/// `PIDFD_GET_MNT_NAMESPACE` = `_IO(PIDFS_IOCTL_MAGIC = 0xFF, 3)` (linux/pidfd.h, 6.11+).
pub const PIDFD_GET_MNT_NAMESPACE: libc::c_ulong = 0xFF03;
/// `PIDFD_THREAD` = `O_EXCL` (linux/pidfd.h, 6.9+).
const PIDFD_THREAD: libc::c_int = libc::O_EXCL;

/// What the container's tasks have done to their view of the file system so far (see the module
/// documentation). Ordered: a stronger taint includes the weaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Taint {
    /// No task changed its mount namespace or root: the container root is everyone's.
    None,
    /// A task may be in another mount namespace: compare per exec.
    Namespaces,
    /// A task may have another root: resolve every exec in its caller's own root.
    Root,
}

impl Taint {
    /// As kept in an atomic byte.
    pub const fn bits(self) -> u8 {
        match self {
            Taint::None => 0,
            Taint::Namespaces => 1,
            Taint::Root => 2,
        }
    }

    /// From [`Taint::bits`] (or several `fetch_or`ed together: the strongest wins).
    pub const fn from_bits(bits: u8) -> Taint {
        if bits & 2 != 0 {
            Taint::Root
        } else if bits & 1 != 0 {
            Taint::Namespaces
        } else {
            Taint::None
        }
    }
}

/// A mount namespace, by its nsfs inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MntNs {
    dev: u64,
    ino: u64,
}

/// The mount namespace of host pid `pid`, without touching `/proc/<pid>`.
pub fn mnt_ns_of(pid: u32) -> io::Result<MntNs> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // A notification names a thread: PIDFD_THREAD (6.9+) lets a non-leader thread be named;
    // older kernels refuse the flag (EINVAL), and then only a thread-group leader can be.
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let rc = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, PIDFD_THREAD) }).or_else(
        // SAFETY: as above, without flags.
        |_| cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) }),
    )?;
    // SAFETY: pidfd_open just returned this descriptor; nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(rc as i32) };
    // SAFETY: this ioctl takes no argument and returns a new nsfs descriptor or -1.
    let ns = cvt(unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_MNT_NAMESPACE, 0) })?;
    // SAFETY: the ioctl just returned this descriptor; nothing else owns it.
    let ns = unsafe { File::from_raw_fd(ns) };
    let m = ns.metadata()?;
    Ok(MntNs {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// Identity of a root directory: the same dentry on the same mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootId {
    dev: u64,
    ino: u64,
    mnt_id: u64,
}

fn statx_ino_mnt(fd: BorrowedFd<'_>) -> io::Result<libc::statx> {
    // SAFETY: an all-zero statx is a valid output buffer.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is a live descriptor, the path is an empty NUL-terminated string and `stx` a
    // live buffer of the right type; the kernel writes into it or returns -1.
    cvt(unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_INO | libc::STATX_MNT_ID,
            &mut stx,
        )
    })?;
    Ok(stx)
}

/// The id of the mount `fd` was opened through (`statx` `STATX_MNT_ID`, as in mountinfo).
pub fn mount_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    statx_ino_mnt(fd).map(|s| s.stx_mnt_id)
}

fn root_id(fd: impl AsFd) -> io::Result<RootId> {
    let stx = statx_ino_mnt(fd.as_fd())?;
    Ok(RootId {
        dev: libc::makedev(stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
        mnt_id: stx.stx_mnt_id,
    })
}

/// The root one exec is resolved in.
pub struct View<'a> {
    pub root: &'a RootDir,
    pub paths: &'a mut PathCache,
    /// The container's own root (the caller did not change its view): the path resolved is
    /// also the container path.
    pub is_base: bool,
    /// The container's root, to place what was resolved in `root` in the container.
    pub base: &'a RootDir,
}

impl View<'_> {
    /// Where a file resolved in this view is in the container, and the path its caller saw when
    /// that differs (a chroot, another mount namespace).
    pub fn in_container(
        &self,
        mut file: crate::resolve::Resolved,
    ) -> (crate::resolve::Resolved, Option<std::path::PathBuf>) {
        if self.is_base {
            return (file, None);
        }
        let seen = file.path.clone();
        if let Some(p) = self.base.path_of(&file.file) {
            file.path = p;
        }
        let caller = (seen != file.path).then_some(seen);
        (file, caller)
    }
}

/// The container's root as the first exec of a listener found it.
struct Base {
    root: RootDir,
    /// Its mount namespace (compared once a namespace syscall ran).
    ns: Option<MntNs>,
    /// Its identity (compared with a caller's own root once a root changed).
    id: Option<RootId>,
    paths: PathCache,
}

impl Base {
    fn new(root: RootDir, ns: Option<MntNs>) -> Base {
        let id = root_id(root.as_fd()).ok();
        Base {
            root,
            ns,
            id,
            paths: PathCache::default(),
        }
    }
}

/// Per listener thread: the container root and the other roots callers were seen in.
#[derive(Default)]
pub struct Views {
    base: Option<Base>,
    others: std::collections::HashMap<RootId, (RootDir, PathCache)>,
}

/// How the caller's view was decided (for tests and measurements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// No task of the container changed its view: the container root, unchecked.
    Base,
    /// Same mount namespace as the container root (checked), no root change in the container.
    SameNamespace,
    /// Resolved in the caller's own `/proc/<pid>/root`.
    Own,
}

enum Which {
    Base,
    Other(RootId),
}

impl Views {
    /// At most this many other roots (one descriptor each).
    const MAX_OTHERS: usize = 64;

    /// The view of `pid` for one exec, given what the container's tasks have done so far. The
    /// first call takes `pid`'s root as the container's: the first exec a listener sees comes
    /// from the container's init or from a process the runtime joined to the container's
    /// namespaces and root (and a later call compares every caller's namespace with it, or its
    /// root, as `taint` requires).
    pub fn view(&mut self, pid: u32, taint: Taint) -> Result<(View<'_>, How), ResolveError> {
        let (which, how) = self.pick(pid, taint)?;
        let base = self.base.as_mut().expect("pick sets the base");
        let (base_root, base_paths) = (&base.root, &mut base.paths);
        Ok(match which {
            Which::Base => (
                View {
                    root: base_root,
                    paths: base_paths,
                    is_base: true,
                    base: base_root,
                },
                how,
            ),
            Which::Other(id) => {
                let (root, paths) = self.others.get_mut(&id).expect("pick inserted it");
                (
                    View {
                        root,
                        paths,
                        is_base: false,
                        base: base_root,
                    },
                    how,
                )
            }
        })
    }

    fn pick(&mut self, pid: u32, taint: Taint) -> Result<(Which, How), ResolveError> {
        if self.base.is_none() {
            let root = RootDir::open_for_pid(pid)?;
            self.base = Some(Base::new(root, mnt_ns_of(pid).ok()));
            if taint != Taint::Root {
                return Ok((Which::Base, How::Base));
            }
        }
        match taint {
            Taint::None => return Ok((Which::Base, How::Base)),
            Taint::Namespaces => {
                let base_ns = self.base.as_ref().and_then(|b| b.ns);
                if let (Some(base), Ok(ns)) = (base_ns, mnt_ns_of(pid)) {
                    if base == ns {
                        return Ok((Which::Base, How::SameNamespace));
                    }
                }
            }
            Taint::Root => {}
        }
        let root = RootDir::open_for_pid(pid)?;
        let id = root_id(root.as_fd()).map_err(|cause| ResolveError::Open {
            what: format!("/proc/{pid}/root"),
            cause,
        })?;
        if self.base.as_ref().and_then(|b| b.id) == Some(id) {
            return Ok((Which::Base, How::Own));
        }
        if !self.others.contains_key(&id) && self.others.len() >= Self::MAX_OTHERS {
            self.others.clear();
        }
        self.others
            .entry(id)
            .or_insert_with(|| (root, PathCache::default()));
        Ok((Which::Other(id), How::Own))
    }

    /// A copy for another thread: the same container root (duplicated), no other roots.
    pub fn fork(&self) -> Views {
        Views {
            base: self.base.as_ref().and_then(|b| {
                Some(Base {
                    root: b.root.try_clone().ok()?,
                    ns: b.ns,
                    id: b.id,
                    paths: PathCache::default(),
                })
            }),
            others: std::collections::HashMap::new(),
        }
    }

    /// The container root (the first root seen), if any.
    pub fn base(&self) -> Option<&RootDir> {
        self.base.as_ref().map(|b| &b.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespace_is_found_without_procfs() {
        let me = std::process::id();
        let a = mnt_ns_of(me).expect("pidfd mount namespace (kernel >= 6.11)");
        assert_eq!(a, mnt_ns_of(me).unwrap());
        let proc_ns = std::fs::metadata("/proc/self/ns/mnt").unwrap();
        assert_eq!(a.ino, proc_ns.ino());
        // A notification can come from any thread: a non-leader thread id works too.
        let tid = std::thread::spawn(|| {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            mnt_ns_of(u32::try_from(tid).unwrap())
        })
        .join()
        .unwrap()
        .expect("a thread's mount namespace");
        assert_eq!(tid, a);
    }

    #[test]
    fn same_namespace_reuses_the_base_root_and_a_taint_resolves_per_exec() {
        let me = std::process::id();
        let mut v = Views::default();
        assert_eq!(v.view(me, Taint::None).unwrap().1, How::Base);
        assert_eq!(v.view(me, Taint::None).unwrap().1, How::Base);
        assert_eq!(v.view(me, Taint::Namespaces).unwrap().1, How::SameNamespace);
        let (view, how) = v.view(me, Taint::Root).unwrap();
        assert_eq!(how, How::Own);
        assert!(view.is_base, "our own root is the base root");
    }

    #[test]
    fn taints_combine_to_the_strongest() {
        for t in [Taint::None, Taint::Namespaces, Taint::Root] {
            assert_eq!(Taint::from_bits(t.bits()), t);
        }
        assert_eq!(
            Taint::from_bits(Taint::Namespaces.bits() | Taint::Root.bits()),
            Taint::Root
        );
    }

    #[test]
    fn a_chrooted_child_is_resolved_in_its_own_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/tool"), b"jail").unwrap();
        let mut v = Views::default();
        v.view(std::process::id(), Taint::None).unwrap();
        let sleeper = chrooted_sleeper(dir.path());
        let pid = sleeper.pid;
        let (view, how) = v.view(pid, Taint::Root).unwrap();
        assert_eq!(how, How::Own);
        assert!(!view.is_base);
        let r =
            crate::resolve::resolve_exec(view.root, pid, None, b"/bin/tool", false, false).unwrap();
        assert_eq!(r.path, std::path::Path::new("/bin/tool"));
        let content = std::fs::read(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(r.readable().unwrap())
        ))
        .unwrap();
        assert_eq!(content, b"jail");
        kill(sleeper);
    }

    /// A forked child that chroot(2)s into `dir` and waits for the pipe to close.
    struct Jailed {
        pid: u32,
        hold: OwnedFd,
    }

    fn chrooted_sleeper(dir: &std::path::Path) -> Jailed {
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only calls async-signal-safe functions (chroot, write, read, _exit)
        // on data prepared before the fork.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: see above.
            unsafe {
                let ok = u8::from(libc::chroot(c.as_ptr()) == 0);
                libc::write(ready_w.as_raw_fd(), (&raw const ok).cast(), 1);
                let mut b = 0u8;
                libc::read(r.as_raw_fd(), (&raw mut b).cast(), 1);
                libc::_exit(0);
            }
        }
        drop(r);
        drop(ready_w);
        let mut ok = [0u8];
        nix::unistd::read(ready_r.as_raw_fd(), &mut ok).unwrap();
        assert_eq!(ok[0], 1, "chroot in the child");
        Jailed {
            pid: u32::try_from(pid).unwrap(),
            hold: w,
        }
    }

    fn kill(j: Jailed) {
        drop(j.hold);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(j.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(j.pid as i32), None);
    }
}

#[cfg(test)]
mod cost {
    /// The per-exec check stays cheap (measured ~2-4 µs here; the bound is loose for CI noise).
    #[test]
    fn namespace_check_costs_microseconds() {
        let me = std::process::id();
        let n = 2000u32;
        let t = std::time::Instant::now();
        for _ in 0..n {
            super::mnt_ns_of(me).unwrap();
        }
        let per = t.elapsed() / n;
        eprintln!("mnt_ns_of: {per:?} per call");
        assert!(per < std::time::Duration::from_micros(50), "{per:?}");
    }
}
