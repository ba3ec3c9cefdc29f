//! Resolve an exec target the way the kernel would, inside a container's root.
//!
//! The walk is done one component at a time with `openat(O_PATH|O_NOFOLLOW)` and
//! `readlinkat`, holding a descriptor for every directory on the way, so that:
//! - absolute symlink targets restart at the container root, `..` pops the walk and never
//!   goes above the root (no textual `..` is ever handed to the kernel), and a directory
//!   renamed during the walk cannot move us outside;
//! - the final in-container path is known (symlinks resolved);
//! - at most 40 symlinks are followed (`ELOOP`), like the kernel.
//!
//! procfs: the container's `/proc` is its own mount whose `self` and `thread-self` name the
//! *reader* (us, in another pid namespace), so `/proc/self` and `/proc/thread-self` there are
//! mapped to `/proc/<host pid>` and `/proc/<host pid>/task/<host pid>` opened from the
//! supervisor's (host) `/proc`. Other absolute symlinks on procfs (`exe`, `cwd`, `fd/N`,
//! `root`) are magic links: they are followed by the kernel itself (as exec would), and
//! their link text becomes the reported path (`/memfd:name (deleted)` for a memfd).
//!
//! Relative paths start at `/proc/<pid>/cwd` or `/proc/<pid>/fd/<dirfd>`; those opens touch
//! the target's procfs entries, which is acceptable only because relative execs are rare.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr};
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::bounded::Bounded;
use crate::file_key::FileKey;
use crate::sys::errno_of;

/// Symlinks followed per resolution before `ELOOP` (the kernel's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;
/// `PATH_MAX` including the NUL.
const PATH_MAX: usize = 4096;
/// `NAME_MAX`.
const NAME_MAX: usize = 255;
/// procfs root directory inode (`PROC_ROOT_INO`).
const PROC_ROOT_INO: u64 = 1;

/// Errors of path resolution. `errno()` is what the kernel would have answered.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A syscall on a path component failed (ENOENT, ENOTDIR, EACCES, ...).
    #[error("{op} of {component:?} while resolving {path:?} failed: {cause}")]
    Os {
        op: &'static str,
        component: String,
        path: String,
        cause: io::Error,
    },
    /// More than 40 symlinks, or a final symlink with `AT_SYMLINK_NOFOLLOW`.
    #[error(
        "too many levels of symbolic links (or a symlink with AT_SYMLINK_NOFOLLOW) resolving {path:?}"
    )]
    Loop { path: String },
    /// The target is a directory, device, fifo or socket: exec gives EACCES.
    #[error("{path:?} is not a regular file and cannot be executed")]
    NotExecutable { path: String },
    /// The path or one component is longer than the kernel accepts.
    #[error("path {path:?} or one of its components is too long")]
    NameTooLong { path: String },
    /// `..` would leave a start directory that is not under the container root.
    #[error(
        "{path:?} climbs above {base:?}, which is outside the container root; refusing to follow '..'"
    )]
    Detached { path: String, base: String },
    /// The container root (or a start directory) could not be opened.
    #[error("cannot open {what}: {cause}; is the process still alive")]
    Open { what: String, cause: io::Error },
}

impl ResolveError {
    /// The errno the kernel would have given the exec.
    pub fn errno(&self) -> i32 {
        match self {
            ResolveError::Os { cause: source, .. } | ResolveError::Open { cause: source, .. } => {
                errno_of(source)
            }
            ResolveError::Loop { .. } => libc::ELOOP,
            ResolveError::NotExecutable { .. } | ResolveError::Detached { .. } => libc::EACCES,
            ResolveError::NameTooLong { .. } => libc::ENAMETOOLONG,
        }
    }
}

/// The container's root directory, opened once per container (`O_PATH`) and reused.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    /// How the root looks in our own `readlink`s of `/proc/<pid>/{cwd,fd/N}` (`/` for a
    /// pivot_root'ed container in its own mount namespace).
    prefix: Vec<u8>,
}

impl RootDir {
    /// Opens `/proc/<pid>/root` (`O_PATH`): the root of the process's mount namespace and chroot.
    pub fn open_for_pid(pid: u32) -> Result<Self, ResolveError> {
        let link = format!("/proc/{pid}/root");
        let fd = open_path_dir(Path::new(&link)).map_err(|source| ResolveError::Open {
            what: link.clone(),
            cause: source,
        })?;
        let prefix = std::fs::read_link(&link)
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .unwrap_or_else(|_| b"/".to_vec());
        Ok(RootDir { fd, prefix })
    }

    /// Opens a directory on this host as a container root (tests, plain bundle rootfs).
    pub fn open_path(path: &Path) -> Result<Self, ResolveError> {
        let open_err = |source| ResolveError::Open {
            what: path.display().to_string(),
            cause: source,
        };
        let canonical = std::fs::canonicalize(path).map_err(open_err)?;
        let fd = open_path_dir(&canonical).map_err(open_err)?;
        Ok(RootDir {
            fd,
            prefix: canonical.as_os_str().as_bytes().to_vec(),
        })
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The same root through a duplicated descriptor (for another thread).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(RootDir {
            fd: self.fd.try_clone()?,
            prefix: self.prefix.clone(),
        })
    }

    /// Where an open file is as seen from this root: our `readlink` of it with our view of
    /// the root stripped; the link text as is when the file is not under this root (a mount
    /// only another mount namespace has, shown relative to that namespace's root).
    pub fn path_of(&self, file: &File) -> Option<PathBuf> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(file);
        let text = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
        let text = text.as_os_str().as_bytes();
        Some(match self.names_of(text) {
            Some(names) => join(names.iter().map(Vec::as_slice)),
            None => PathBuf::from(OsStr::from_bytes(text)),
        })
    }

    /// Names (from the root) of a path as our `readlink` shows it, or None if it is not
    /// under the root.
    fn names_of(&self, text: &[u8]) -> Option<Vec<Vec<u8>>> {
        let rest = if self.prefix == b"/" {
            text
        } else if text == self.prefix.as_slice() {
            b""
        } else if text.starts_with(&self.prefix) && text.get(self.prefix.len()) == Some(&b'/') {
            &text[self.prefix.len()..]
        } else {
            return None;
        };
        if !rest.starts_with(b"/") && !rest.is_empty() {
            return None;
        }
        Some(
            rest.split(|&b| b == b'/')
                .filter(|c| !c.is_empty() && *c != b".")
                .map(<[u8]>::to_vec)
                .collect(),
        )
    }
}

/// The file an exec would run.
#[derive(Debug)]
pub struct Resolved {
    /// The final file, `O_RDONLY|O_CLOEXEC`.
    pub file: File,
    /// Absolute path inside the container, symlinks resolved; for a memfd the link text
    /// `/memfd:name (deleted)`; for a start directory outside the root, the host view.
    pub path: PathBuf,
    pub meta: Metadata,
    /// The file is an anonymous memory file (memfd), not on any filesystem path.
    pub memfd: bool,
    /// `file` is an `O_PATH` descriptor (the cached fast path: no open of the file itself,
    /// which on overlayfs also opens the layer's file), or another process's open file
    /// ([`resolve_open`]); read through [`Resolved::readable`].
    pub path_only: bool,
    /// The reopen of an `O_PATH` `file` for reading, made once: the `#!` check, hashing and the
    /// read lease of a first exec all read the same file.
    reopened: std::cell::OnceCell<File>,
}

impl Resolved {
    /// A file already open for reading (e.g. the one an exec gate event carries).
    pub fn opened(file: File, path: PathBuf, meta: Metadata) -> Resolved {
        Resolved::new(file, path, meta, false, false)
    }

    fn new(file: File, path: PathBuf, meta: Metadata, memfd: bool, path_only: bool) -> Resolved {
        Resolved {
            file,
            path,
            meta,
            memfd,
            path_only,
            reopened: std::cell::OnceCell::new(),
        }
    }

    /// The file open for reading: `file` itself, or for an `O_PATH` result a reopen of that
    /// same inode through `/proc/self/fd/N` (never a new path lookup), made on first use.
    pub fn readable(&self) -> io::Result<&File> {
        if !self.path_only {
            return Ok(&self.file);
        }
        if let Some(f) = self.reopened.get() {
            return Ok(f);
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.file);
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(format!("/proc/self/fd/{fd}"))?;
        Ok(self.reopened.get_or_init(|| file))
    }
}

/// Reads up to `n` bytes from offset 0 (for `#!` checks); fewer if the file is shorter.
pub fn read_head(file: &File, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Resolves an exec target of process `pid` (host pid) inside `root`.
///
/// `call_dirfd` is the execveat dirfd (`None` = `AT_FDCWD`); `empty_path` is
/// `AT_EMPTY_PATH` (with an empty `path` the file is the dirfd itself); `nofollow` is
/// `AT_SYMLINK_NOFOLLOW` (a final symlink gives `ELOOP`).
pub fn resolve_exec(
    root: &RootDir,
    pid: u32,
    call_dirfd: Option<i32>,
    path: &[u8],
    empty_path: bool,
    nofollow: bool,
) -> Result<Resolved, ResolveError> {
    resolve_exec_inner(root, pid, call_dirfd, path, empty_path, nofollow, None)
}

/// The in-container paths of recently exec'd absolute paths, for one [`RootDir`]: the fast path
/// still opens the file every time (that open is what is decided on), but skips reading its
/// path back from `/proc/self/fd/N` when the path asked for opened a file with the same
/// [`FileKey`] (dev, ino, size, mtime, ctime) as last time. If an intermediate symlink was
/// repointed to another name of the very same file, the reported path is the earlier name.
/// Bounded (oldest first).
#[derive(Debug)]
pub struct PathCache {
    map: Bounded<Vec<u8>, (FileKey, PathBuf)>,
}

impl Default for PathCache {
    fn default() -> Self {
        PathCache {
            map: Bounded::new(Self::MAX),
        }
    }
}

impl PathCache {
    const MAX: usize = 1024;

    fn get(&self, path: &[u8], meta: &Metadata) -> Option<PathBuf> {
        let (key, inside) = self.map.peek(path)?;
        (*key == FileKey::from_metadata(meta)).then(|| inside.clone())
    }

    fn put(&mut self, path: &[u8], meta: &Metadata, inside: &Path) {
        self.map.insert(
            path.to_vec(),
            (FileKey::from_metadata(meta), inside.to_path_buf()),
        );
    }
}

/// [`resolve_exec`] with a [`PathCache`] (one per root, e.g. per listener thread).
pub fn resolve_exec_cached(
    root: &RootDir,
    pid: u32,
    call_dirfd: Option<i32>,
    path: &[u8],
    empty_path: bool,
    nofollow: bool,
    cache: &mut PathCache,
) -> Result<Resolved, ResolveError> {
    resolve_exec_inner(
        root,
        pid,
        call_dirfd,
        path,
        empty_path,
        nofollow,
        Some(cache),
    )
}

fn resolve_exec_inner(
    root: &RootDir,
    pid: u32,
    call_dirfd: Option<i32>,
    path: &[u8],
    empty_path: bool,
    nofollow: bool,
    cache: Option<&mut PathCache>,
) -> Result<Resolved, ResolveError> {
    let shown = String::from_utf8_lossy(path).into_owned();
    if path.len() >= PATH_MAX {
        return Err(ResolveError::NameTooLong { path: shown });
    }
    if path.is_empty() {
        if !empty_path {
            return Err(os_err("open", "", &shown, libc::ENOENT));
        }
        return resolve_fd_itself(root, pid, call_dirfd, &shown);
    }
    if let Some(r) = resolve_fast(root, path, nofollow, cache) {
        return Ok(r);
    }
    let mut walk = Walk {
        root,
        pid,
        stack: Vec::new(),
        floor: 0,
        links: 0,
        shown,
    };
    if path[0] != b'/' {
        let link = match call_dirfd {
            None => format!("/proc/{pid}/cwd"),
            Some(fd) => format!("/proc/{pid}/fd/{fd}"),
        };
        let fd = open_path_dir(Path::new(&link)).map_err(|e| match (call_dirfd, errno_of(&e)) {
            (Some(_), libc::ENOENT) => os_err("open dirfd", &link, &walk.shown, libc::EBADF),
            (_, errno) => os_err("open start directory", &link, &walk.shown, errno),
        })?;
        let text = std::fs::read_link(&link)
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .map_err(|e| os_err("readlink", &link, &walk.shown, errno_of(&e)))?;
        walk.set_base(&text, fd);
    }
    let mut queue = VecDeque::new();
    prepend_components(&mut queue, path);
    walk.run(queue, nofollow)
}

/// The common case in one syscall: an absolute path outside `/proc`, opened with
/// `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the container root (symlinks resolved
/// by the kernel, never above the root), its in-container path read back from
/// `/proc/self/fd/N` (relative to the container's root once our view of that root, `prefix`, is
/// stripped). Anything unusual — an error (the walk gives the exact errno), a magic link, a file
/// that is not regular, a path our view cannot place — returns `None` and the walk decides.
/// perf note §3: the component walk costs 5 opens per exec; this costs one.
fn resolve_fast(
    root: &RootDir,
    path: &[u8],
    nofollow: bool,
    cache: Option<&mut PathCache>,
) -> Option<Resolved> {
    if path.first() != Some(&b'/') || path.starts_with(b"/proc/") || path == b"/proc" {
        return None;
    }
    let cpath = CString::new(path).ok()?;
    // SAFETY: open_how is plain integers; all-zero is its documented "no options" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    // O_NONBLOCK: a FIFO must not block the open (the walk then reports EACCES for it); it
    // changes nothing for the regular files kept here.
    let nofollow = if nofollow { libc::O_NOFOLLOW } else { 0 };
    // With a cache (the per-exec path), O_PATH: the verdict is usually cached by metadata, and
    // the content is read (through `Resolved::readable`) only when it is not.
    let path_only = cache.is_some();
    let access = if path_only {
        libc::O_PATH
    } else {
        libc::O_RDONLY | libc::O_NONBLOCK
    };
    how.flags = (access | libc::O_CLOEXEC | nofollow) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `cpath` is a NUL-terminated string alive for the call, `how` a live open_how whose
    // size is passed; the kernel reads both and returns a new descriptor or -1.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            std::os::fd::AsRawFd::as_raw_fd(&root.fd),
            cpath.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if rc < 0 {
        return None;
    }
    // SAFETY: openat2 just returned this descriptor; nothing else owns it.
    let file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(rc as i32) };
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    if let Some(inside) = cache.as_ref().and_then(|c| c.get(path, &meta)) {
        return Some(Resolved::new(file, inside, meta, false, path_only));
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let seen = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let seen = seen.as_os_str().as_bytes();
    let inside: &[u8] = if root.prefix == b"/" {
        seen
    } else {
        let rest = seen.strip_prefix(root.prefix.as_slice())?;
        if !rest.is_empty() && rest[0] != b'/' {
            return None;
        }
        rest
    };
    if inside.first() != Some(&b'/') || inside.ends_with(b" (deleted)") {
        return None;
    }
    let inside = PathBuf::from(OsStr::from_bytes(inside));
    if let Some(c) = cache {
        c.put(path, &meta, &inside);
    }
    Some(Resolved::new(file, inside, meta, false, path_only))
}

/// `execveat(fd, "", AT_EMPTY_PATH)`: the file is `/proc/<pid>/fd/<fd>` itself.
fn resolve_fd_itself(
    root: &RootDir,
    pid: u32,
    call_dirfd: Option<i32>,
    shown: &str,
) -> Result<Resolved, ResolveError> {
    let link = match call_dirfd {
        // AT_FDCWD with AT_EMPTY_PATH names the cwd: a directory.
        None => {
            return Err(ResolveError::NotExecutable {
                path: format!("/proc/{pid}/cwd"),
            });
        }
        Some(fd) => format!("/proc/{pid}/fd/{fd}"),
    };
    let text = std::fs::read_link(&link).map_err(|e| match errno_of(&e) {
        libc::ENOENT => os_err("readlink", &link, shown, libc::EBADF),
        errno => os_err("readlink", &link, shown, errno),
    })?;
    let text = text.as_os_str().as_bytes().to_vec();
    let file = open_regular_by_path(Path::new(&link)).map_err(|e| match e {
        OpenFinal::NotRegular => ResolveError::NotExecutable {
            path: shown.to_string(),
        },
        OpenFinal::Os(errno) => os_err("open", &link, shown, errno),
    })?;
    finish(root, file, &text, true, shown)
}

/// Builds the result; `via_magic` means the final file was reached through a procfs
/// magic link whose text is `text`.
fn finish(
    root: &RootDir,
    file: File,
    text: &[u8],
    via_magic: bool,
    shown: &str,
) -> Result<Resolved, ResolveError> {
    let meta = file
        .metadata()
        .map_err(|e| os_err("fstat", "", shown, errno_of(&e)))?;
    let memfd = via_magic && is_memfd(&file, text);
    let path = match (memfd, root.names_of(text)) {
        (false, Some(names)) => join(names.iter().map(Vec::as_slice)),
        _ => PathBuf::from(OsStr::from_bytes(text)),
    };
    Ok(Resolved::new(file, path, meta, memfd, false))
}

/// An open file of another process (the descriptor an `mmap` names, duplicated with
/// `pidfd_getfd`, or the file of a mapped area): its path as `root` names it (our `readlink`
/// of it, as for an exec by descriptor) and its metadata. It is never read through `file`
/// itself, which may share its offset with the target: [`Resolved::readable`] reopens it.
pub fn resolve_open(root: &RootDir, file: File) -> Result<Resolved, ResolveError> {
    let fd = file.as_raw_fd();
    let link = format!("/proc/self/fd/{fd}");
    let text =
        std::fs::read_link(&link).map_err(|e| os_err("readlink", &link, "", errno_of(&e)))?;
    let mut r = finish(root, file, text.as_os_str().as_bytes(), true, "")?;
    r.path_only = true;
    Ok(r)
}

/// A file that is memory rather than a file a path names: a memfd, the shared memory behind a
/// `MAP_SHARED|MAP_ANONYMOUS` mapping, or a deleted tmpfs file (shmem or hugetlbfs, no link
/// left). Mapping such a file executable is what JITs with dual mappings do.
pub fn is_memory_file(file: &File, meta: &Metadata) -> bool {
    meta.nlink() == 0
        && matches!(
            fsys::fstatfs_type(file.as_fd()),
            Ok(t) if t == libc::TMPFS_MAGIC || t == libc::HUGETLBFS_MAGIC
        )
}

/// A memfd's link text is `/memfd:NAME (deleted)` and it lives on the internal tmpfs (or
/// hugetlbfs) mount; both must hold, so a real file named like that on overlay is not one.
fn is_memfd(file: &File, text: &[u8]) -> bool {
    text.starts_with(b"/memfd:")
        && text.ends_with(b" (deleted)")
        && matches!(
            fsys::fstatfs_type(file.as_fd()),
            Ok(t) if t == libc::TMPFS_MAGIC || t == libc::HUGETLBFS_MAGIC
        )
}

fn join<'a>(names: impl Iterator<Item = &'a [u8]>) -> PathBuf {
    let mut p = PathBuf::from("/");
    for n in names {
        p.push(OsStr::from_bytes(n));
    }
    p
}

fn os_err(op: &'static str, component: &str, path: &str, errno: i32) -> ResolveError {
    ResolveError::Os {
        op,
        component: component.to_string(),
        path: path.to_string(),
        cause: io::Error::from_raw_os_error(errno),
    }
}

/// Splits `text` into components and puts them in front of `queue`. A trailing slash
/// becomes a final "." so the last name must be a directory (ENOTDIR otherwise).
fn prepend_components(queue: &mut VecDeque<Vec<u8>>, text: &[u8]) {
    let mut comps: Vec<Vec<u8>> = text
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if text.len() > 1 && text.ends_with(b"/") {
        comps.push(b".".to_vec());
    }
    for c in comps.into_iter().rev() {
        queue.push_front(c);
    }
}

fn open_path_dir(path: &Path) -> io::Result<OwnedFd> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)
        .map(OwnedFd::from)
}

enum OpenFinal {
    NotRegular,
    Os(i32),
}

/// Opens a final file read-only after checking through `O_PATH` that it is a regular file
/// (opening a fifo or device read-only could block or have side effects).
fn open_regular_by_path(path: &Path) -> Result<File, OpenFinal> {
    let probe = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)
        .map_err(|e| OpenFinal::Os(errno_of(&e)))?;
    let st = fsys::fstat(probe.as_fd()).map_err(|e| OpenFinal::Os(errno_of(&e)))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(OpenFinal::NotRegular);
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| OpenFinal::Os(errno_of(&e)))?;
    same_inode(&file, &st)?;
    Ok(file)
}

fn same_inode(file: &File, st: &libc::stat) -> Result<(), OpenFinal> {
    let now = fsys::fstat(file.as_fd()).map_err(|e| OpenFinal::Os(errno_of(&e)))?;
    if now.st_dev != st.st_dev || now.st_ino != st.st_ino {
        // Replaced between the type check and the open: report it like a vanished file.
        return Err(OpenFinal::Os(libc::ENOENT));
    }
    Ok(())
}

struct Entry {
    name: Vec<u8>,
    /// `None` for an ancestor not opened yet (above a relative start directory).
    fd: Option<OwnedFd>,
}

struct Walk<'a> {
    root: &'a RootDir,
    pid: u32,
    stack: Vec<Entry>,
    /// Entries that `..` may not pop (1 for a start directory outside the root).
    floor: usize,
    links: u32,
    shown: String,
}

impl Walk<'_> {
    /// Makes `fd` (a directory whose path as we see it is `text`) the current position.
    fn set_base(&mut self, text: &[u8], fd: OwnedFd) {
        match self.root.names_of(text) {
            Some(names) if names.is_empty() => {
                self.stack.clear();
                self.floor = 0;
            }
            Some(names) => {
                self.stack = names
                    .into_iter()
                    .map(|name| Entry { name, fd: None })
                    .collect();
                if let Some(last) = self.stack.last_mut() {
                    last.fd = Some(fd);
                }
                self.floor = 0;
            }
            None => {
                self.stack = vec![Entry {
                    name: text.to_vec(),
                    fd: Some(fd),
                }];
                self.floor = 1;
            }
        }
    }

    /// Opens any not-yet-opened ancestors from the root down.
    fn materialize(&mut self) -> Result<(), ResolveError> {
        for i in 0..self.stack.len() {
            if self.stack[i].fd.is_some() {
                continue;
            }
            let parent = match i {
                0 => self.root.as_fd(),
                _ => self.stack[i - 1]
                    .fd
                    .as_ref()
                    .map(AsFd::as_fd)
                    .unwrap_or(self.root.as_fd()),
            };
            let name = cstr(&self.stack[i].name, &self.shown)?;
            let fd = fsys::openat(
                parent,
                &name,
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY,
            )
            .map_err(|e| {
                os_err(
                    "open ancestor",
                    &String::from_utf8_lossy(&self.stack[i].name),
                    &self.shown,
                    errno_of(&e),
                )
            })?;
            self.stack[i].fd = Some(fd);
        }
        Ok(())
    }

    fn cur(&self) -> BorrowedFd<'_> {
        match self.stack.last().and_then(|e| e.fd.as_ref()) {
            Some(fd) => fd.as_fd(),
            None => self.root.as_fd(),
        }
    }

    fn path_with(&self, last: Option<&[u8]>) -> PathBuf {
        let mut p = join(self.stack.iter().map(|e| e.name.as_slice()));
        if let Some(l) = last {
            p.push(OsStr::from_bytes(l));
        }
        p
    }

    fn comp_err(&self, op: &'static str, comp: &[u8], errno: i32) -> ResolveError {
        os_err(op, &String::from_utf8_lossy(comp), &self.shown, errno)
    }

    fn run(
        mut self,
        mut queue: VecDeque<Vec<u8>>,
        nofollow: bool,
    ) -> Result<Resolved, ResolveError> {
        while let Some(comp) = queue.pop_front() {
            let is_last = queue.is_empty();
            if comp == b"." {
                if is_last {
                    return Err(ResolveError::NotExecutable {
                        path: self.path_with(None).display().to_string(),
                    });
                }
                continue;
            }
            if comp == b".." {
                if self.stack.len() > self.floor {
                    self.stack.pop();
                    self.materialize()?;
                } else if self.floor > 0 {
                    return Err(ResolveError::Detached {
                        path: self.shown.clone(),
                        base: String::from_utf8_lossy(&self.stack[0].name).into_owned(),
                    });
                }
                if is_last {
                    return Err(ResolveError::NotExecutable {
                        path: self.path_with(None).display().to_string(),
                    });
                }
                continue;
            }
            if comp.len() > NAME_MAX {
                return Err(ResolveError::NameTooLong {
                    path: self.shown.clone(),
                });
            }
            let name = cstr(&comp, &self.shown)?;
            if (comp == b"self" || comp == b"thread-self") && self.at_proc_root() {
                // Mirror the kernel's layout so '..' behaves: self -> <pid>,
                // thread-self -> <pid>/task/<tid>.
                let pid = self.pid;
                let mut hops = vec![(b"self".to_vec(), format!("/proc/{pid}"))];
                if comp == b"thread-self" {
                    hops.push((b"task".to_vec(), format!("/proc/{pid}/task")));
                    hops.push((comp.clone(), format!("/proc/{pid}/task/{pid}")));
                }
                for (name, host) in hops {
                    let fd = open_path_dir(Path::new(&host)).map_err(|e| {
                        self.comp_err("open host procfs", host.as_bytes(), errno_of(&e))
                    })?;
                    self.stack.push(Entry { name, fd: Some(fd) });
                }
                if is_last {
                    return Err(ResolveError::NotExecutable {
                        path: self.path_with(None).display().to_string(),
                    });
                }
                continue;
            }
            if !is_last {
                match fsys::openat(
                    self.cur(),
                    &name,
                    libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY,
                ) {
                    Ok(fd) => {
                        self.stack.push(Entry {
                            name: comp,
                            fd: Some(fd),
                        });
                        continue;
                    }
                    Err(e) if errno_of(&e) == libc::ENOTDIR => {
                        // A symlink (followed below) or a non-directory (ENOTDIR).
                        match fsys::readlinkat(self.cur(), &name) {
                            Ok(text) => {
                                if let Some(res) =
                                    self.follow(&comp, &name, &text, &mut queue, false)?
                                {
                                    return Ok(res);
                                }
                                continue;
                            }
                            Err(e) if errno_of(&e) == libc::EINVAL => {
                                return Err(self.comp_err("open", &comp, libc::ENOTDIR));
                            }
                            Err(e) => return Err(self.comp_err("readlink", &comp, errno_of(&e))),
                        }
                    }
                    Err(e) => return Err(self.comp_err("open", &comp, errno_of(&e))),
                }
            }
            // Final component.
            let probe = fsys::openat(self.cur(), &name, libc::O_PATH | libc::O_NOFOLLOW)
                .map_err(|e| self.comp_err("open", &comp, errno_of(&e)))?;
            let st = fsys::fstat(probe.as_fd())
                .map_err(|e| self.comp_err("fstat", &comp, errno_of(&e)))?;
            match st.st_mode & libc::S_IFMT {
                libc::S_IFLNK => {
                    if nofollow {
                        return Err(ResolveError::Loop {
                            path: self.shown.clone(),
                        });
                    }
                    let text = fsys::readlinkat(probe.as_fd(), c"")
                        .map_err(|e| self.comp_err("readlink", &comp, errno_of(&e)))?;
                    if let Some(res) = self.follow(&comp, &name, &text, &mut queue, true)? {
                        return Ok(res);
                    }
                }
                libc::S_IFREG => {
                    let file = fsys::openat(
                        self.cur(),
                        &name,
                        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
                    )
                    .map(File::from)
                    .map_err(|e| self.comp_err("open", &comp, errno_of(&e)))?;
                    same_inode(&file, &st)
                        .map_err(|_| self.comp_err("open", &comp, libc::ENOENT))?;
                    let path = self.path_with(Some(&comp));
                    let meta = file
                        .metadata()
                        .map_err(|e| self.comp_err("fstat", &comp, errno_of(&e)))?;
                    return Ok(Resolved::opened(file, path, meta));
                }
                _ => {
                    return Err(ResolveError::NotExecutable {
                        path: self.path_with(Some(&comp)).display().to_string(),
                    });
                }
            }
        }
        // Empty component list: the path was "/" (or only slashes).
        Err(ResolveError::NotExecutable {
            path: self.path_with(None).display().to_string(),
        })
    }

    /// Follows the symlink `comp` (in the current directory) whose text is `text`. Returns
    /// a result when a magic link was the final component.
    fn follow(
        &mut self,
        comp: &[u8],
        name: &CString,
        text: &[u8],
        queue: &mut VecDeque<Vec<u8>>,
        is_last: bool,
    ) -> Result<Option<Resolved>, ResolveError> {
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            return Err(ResolveError::Loop {
                path: self.shown.clone(),
            });
        }
        if text.is_empty() {
            return Err(self.comp_err("follow symlink", comp, libc::ENOENT));
        }
        let on_procfs = text.starts_with(b"/")
            && matches!(fsys::fstatfs_type(self.cur()), Ok(t) if t == libc::PROC_SUPER_MAGIC);
        if on_procfs {
            // A magic link: let the kernel jump, as exec itself would.
            if is_last {
                let probe = fsys::openat(self.cur(), name, libc::O_PATH)
                    .map_err(|e| self.comp_err("open magic link", comp, errno_of(&e)))?;
                let st = fsys::fstat(probe.as_fd())
                    .map_err(|e| self.comp_err("fstat", comp, errno_of(&e)))?;
                if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                    return Err(ResolveError::NotExecutable {
                        path: String::from_utf8_lossy(text).into_owned(),
                    });
                }
                let file = fsys::openat(
                    self.cur(),
                    name,
                    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
                )
                .map(File::from)
                .map_err(|e| self.comp_err("open magic link", comp, errno_of(&e)))?;
                same_inode(&file, &st).map_err(|_| self.comp_err("open", comp, libc::ENOENT))?;
                return finish(self.root, file, text, true, &self.shown).map(Some);
            }
            let fd = fsys::openat(self.cur(), name, libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|e| self.comp_err("open magic link", comp, errno_of(&e)))?;
            self.set_base(text, fd);
            return Ok(None);
        }
        if text.starts_with(b"/") {
            self.stack.clear();
            self.floor = 0;
        }
        prepend_components(queue, text);
        Ok(None)
    }

    fn at_proc_root(&self) -> bool {
        let cur = self.cur();
        matches!(fsys::fstatfs_type(cur), Ok(t) if t == libc::PROC_SUPER_MAGIC)
            && matches!(fsys::fstat(cur), Ok(st) if st.st_ino == PROC_ROOT_INO)
    }
}

fn cstr(comp: &[u8], shown: &str) -> Result<CString, ResolveError> {
    CString::new(comp)
        .map_err(|_| os_err("open", &String::from_utf8_lossy(comp), shown, libc::ENOENT))
}

/// The `*at` syscalls the walk needs, wrapped.
mod fsys {
    use std::ffi::CStr;
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    use crate::sys::cvt;

    pub(super) fn openat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> io::Result<OwnedFd> {
        loop {
            // SAFETY: `dir` is a live descriptor (borrowed for the call) and `name` is a valid
            // NUL-terminated string that outlives the call; openat reads nothing else.
            let fd =
                unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC) };
            match cvt(fd) {
                // SAFETY: openat just returned a new descriptor that nothing else owns.
                Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// `readlinkat`; `name` may be "" to read the link an `O_PATH|O_NOFOLLOW` fd refers to.
    pub(super) fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; super::PATH_MAX];
        // SAFETY: `dir` is live, `name` is NUL-terminated, and the kernel writes at most
        // `buf.len()` bytes into `buf`, which we exclusively own for the call.
        let n = unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        let n = cvt(n)? as usize;
        if n >= buf.len() {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        buf.truncate(n);
        Ok(buf)
    }

    pub(super) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
        // SAFETY: libc::stat is plain old data; all-zero is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is live and `st` is a valid, exclusively borrowed stat buffer that
        // fstat fills completely.
        cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        Ok(st)
    }

    pub(super) fn fstatfs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
        // SAFETY: libc::statfs is plain old data; all-zero is a valid value.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is live and `st` is a valid, exclusively borrowed statfs buffer.
        cvt(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
        Ok(st.f_type as i64)
    }
}
