//! The files behind another process's executable mappings.
//!
//! - [`fd_of`]: the file an `mmap` call names by descriptor, duplicated into this process with
//!   `pidfd_open` + `pidfd_getfd` (no procfs: a few µs; opening `/proc/<pid>/fd/N` in a process
//!   that has just been exec'd costs tens of µs, perf note §3). The duplicate shares the
//!   target's open file description (and so its offset): read it only with `pread`, or reopen
//!   it ([`crate::resolve::resolve_open`] does).
//! - [`file_backed`]: the file-backed areas an `mprotect` range covers, with the
//!   `PROCMAP_QUERY` ioctl on `/proc/<pid>/maps` (Linux 6.11; one ioctl per area, no text to
//!   parse). Anonymous memory (what JITs protect) has none.
//! - [`open_mapped`]: the file of one such area, through `/proc/<pid>/map_files/<start>-<end>`
//!   (needs `CAP_SYS_ADMIN`).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::sys::cvt;

/// `PIDFD_THREAD` = `O_EXCL` (linux/pidfd.h, 6.9+).
const PIDFD_THREAD: libc::c_int = libc::O_EXCL;

/// A pidfd for the thread `tid` (a notification names a thread): `PIDFD_THREAD` where the
/// kernel has it (6.9+), else a plain pidfd, which only a thread-group leader can have.
fn pidfd_of(tid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(tid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let rc = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, PIDFD_THREAD) }).or_else(
        // SAFETY: as above, without flags.
        |_| cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) }),
    )?;
    // SAFETY: pidfd_open just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

/// Descriptor `fd` of thread `tid`, duplicated into this process (close-on-exec). Errors:
/// `ESRCH` (gone), `EBADF` (no such descriptor), `EPERM` (no ptrace access).
pub fn fd_of(tid: u32, fd: i32) -> io::Result<File> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let pidfd = pidfd_of(tid)?;
    // SAFETY: pidfd_getfd takes a pidfd we hold, a descriptor number and flags (0), and returns
    // a new descriptor (close-on-exec) or -1.
    let rc = cvt(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })?;
    // SAFETY: pidfd_getfd just returned this descriptor; nothing else owns it.
    Ok(unsafe { File::from_raw_fd(rc as i32) })
}

/// One file-backed area of a process's address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    pub start: u64,
    pub end: u64,
    /// The backing file's device (`makedev(major, minor)`) and inode.
    pub dev: u64,
    pub ino: u64,
}

/// At most this many file-backed areas are looked at in one range; a range with more is
/// reported as [`io::ErrorKind::InvalidInput`] (decided as undecidable).
pub const MAX_AREAS: usize = 64;

/// The file-backed areas that overlap `[addr, addr + len)` in thread `tid`'s address space,
/// lowest first; empty when the range is anonymous memory only (or not mapped at all: the
/// kernel then fails the `mprotect` with `ENOMEM`). Kernels without `PROCMAP_QUERY` (before
/// 6.11) have the text of `/proc/<pid>/maps` read instead.
pub fn file_backed(tid: u32, addr: u64, len: u64) -> io::Result<Vec<Area>> {
    let maps = File::open(format!("/proc/{tid}/maps"))?;
    let end = addr.saturating_add(len);
    let mut out = Vec::new();
    let mut at = addr;
    while at < end {
        let q = match procmap::query(&maps, at) {
            Ok(Some(q)) => q,
            Ok(None) => break,
            Err(e) if out.is_empty() && e.raw_os_error() == Some(libc::ENOTTY) => {
                return from_text(&maps, addr, end);
            }
            Err(e) => return Err(e),
        };
        if q.vma_start >= end {
            break;
        }
        if out.len() == MAX_AREAS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("more than {MAX_AREAS} file-backed areas in one range"),
            ));
        }
        out.push(Area {
            start: q.vma_start,
            end: q.vma_end,
            dev: libc::makedev(q.dev_major, q.dev_minor),
            ino: q.inode,
        });
        if q.vma_end <= at {
            break; // never happens; do not loop forever if it does
        }
        at = q.vma_end;
    }
    Ok(out)
}

/// At most this much of `/proc/<pid>/maps` is read (about 50 000 areas).
const MAX_MAPS_TEXT: u64 = 4 << 20;

/// [`file_backed`] from the text of `/proc/<pid>/maps` (`start-end perms offset maj:min inode
/// path`): an area with an inode is file-backed (shared anonymous memory included, as with
/// `PROCMAP_QUERY`).
fn from_text(maps: &File, start: u64, end: u64) -> io::Result<Vec<Area>> {
    use std::io::Read;
    let mut text = Vec::new();
    maps.take(MAX_MAPS_TEXT).read_to_end(&mut text)?;
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let Some(area) = parse_maps_line(line) else {
            continue;
        };
        if area.ino == 0 || area.end <= start || area.start >= end {
            continue;
        }
        if out.len() == MAX_AREAS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("more than {MAX_AREAS} file-backed areas in one range"),
            ));
        }
        out.push(area);
    }
    Ok(out)
}

/// One line of `/proc/<pid>/maps`; `None` when it does not parse.
fn parse_maps_line(line: &[u8]) -> Option<Area> {
    let line = std::str::from_utf8(line.get(..line.len().min(256))?).ok()?;
    let mut f = line.split_ascii_whitespace();
    let (start, end) = f.next()?.split_once('-')?;
    let _perms = f.next()?;
    let _offset = f.next()?;
    let (major, minor) = f.next()?.split_once(':')?;
    let ino = f.next()?.parse().ok()?;
    Some(Area {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        dev: libc::makedev(
            u32::from_str_radix(major, 16).ok()?,
            u32::from_str_radix(minor, 16).ok()?,
        ),
        ino,
    })
}

/// The file behind `area` of thread `tid` (`/proc/<tid>/map_files/<start>-<end>`, read-only).
pub fn open_mapped(tid: u32, area: &Area) -> io::Result<File> {
    File::open(format!(
        "/proc/{tid}/map_files/{:x}-{:x}",
        area.start, area.end
    ))
}

/// The `PROCMAP_QUERY` ioctl (include/uapi/linux/fs.h).
mod procmap {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use crate::sys::cvt;

    /// `struct procmap_query`.
    #[repr(C)]
    #[derive(Default)]
    pub(super) struct Query {
        size: u64,
        query_flags: u64,
        query_addr: u64,
        pub(super) vma_start: u64,
        pub(super) vma_end: u64,
        vma_flags: u64,
        vma_page_size: u64,
        vma_offset: u64,
        pub(super) inode: u64,
        pub(super) dev_major: u32,
        pub(super) dev_minor: u32,
        vma_name_size: u32,
        build_id_size: u32,
        vma_name_addr: u64,
        build_id_addr: u64,
    }

    /// `PROCMAP_QUERY_COVERING_OR_NEXT_VMA`.
    const COVERING_OR_NEXT_VMA: u64 = 0x10;
    /// `PROCMAP_QUERY_FILE_BACKED_VMA`.
    const FILE_BACKED_VMA: u64 = 0x20;
    /// `_IOWR('f', 17, struct procmap_query)`.
    pub const PROCMAP_QUERY: libc::c_ulong =
        (3 << 30) | ((size_of::<Query>() as libc::c_ulong) << 16) | (0x66 << 8) | 17;

    /// The first file-backed area that covers or follows `addr`; `None` when there is none.
    pub(super) fn query(maps: &File, addr: u64) -> io::Result<Option<Query>> {
        let mut q = Query {
            size: size_of::<Query>() as u64,
            query_flags: COVERING_OR_NEXT_VMA | FILE_BACKED_VMA,
            query_addr: addr,
            ..Query::default()
        };
        // SAFETY: `maps` is a live descriptor of /proc/<pid>/maps; PROCMAP_QUERY reads and
        // writes one `struct procmap_query` (its size is in `q.size` and in the request
        // number) through the pointer, which points at `q`, exclusively borrowed for the call.
        // The name and build-id buffers are not asked for (sizes 0, addresses 0).
        match cvt(unsafe { libc::ioctl(maps.as_raw_fd(), PROCMAP_QUERY, &mut q as *mut Query) }) {
            Ok(_) => Ok(Some(q)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

pub use procmap::PROCMAP_QUERY;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn maps_text_lines_parse_and_the_text_route_agrees_with_procmap_query() {
        let a = parse_maps_line(
            b"7f3c2a000000-7f3c2a022000 r-xp 00026000 fe:00 247857  /usr/lib/libc.so.6",
        )
        .unwrap();
        assert_eq!(
            (a.start, a.end, a.ino),
            (0x7f3c_2a00_0000, 0x7f3c_2a02_2000, 247_857)
        );
        assert_eq!(a.dev, libc::makedev(0xfe, 0));
        let anon = parse_maps_line(b"7ffd1000-7ffd2000 rw-p 00000000 00:00 0  [stack]").unwrap();
        assert_eq!(anon.ino, 0);
        for bad in [
            &b""[..],
            b"garbage",
            b"1-2 r-xp 0 zz:00 1",
            b"x-2 r 0 00:00 1",
        ] {
            assert_eq!(parse_maps_line(bad), None, "{bad:?}");
        }
        let me = std::process::id();
        let maps = File::open(format!("/proc/{me}/maps")).unwrap();
        let text = a_descriptor_of_another_process_is_duplicated_without_procfs as *const () as u64;
        let by_text = from_text(&maps, text, text + 1).unwrap();
        assert_eq!(by_text, file_backed(me, text, 1).unwrap());
        let heap = vec![0u8; 1 << 20];
        let maps = File::open(format!("/proc/{me}/maps")).unwrap();
        assert!(
            from_text(&maps, heap.as_ptr() as u64, 4096)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_request_number_is_the_kernels() {
        // _IOWR('f', 17, struct procmap_query) with the 104-byte struct of Linux 6.11.
        assert_eq!(PROCMAP_QUERY, 0xC068_6611);
    }

    #[test]
    fn a_descriptor_of_another_process_is_duplicated_without_procfs() {
        let f = File::open("/bin/sh").unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // Our own descriptor, through our own pid: the same file.
        let dup = fd_of(std::process::id(), f.as_raw_fd()).unwrap();
        assert_eq!(dup.metadata().unwrap().ino(), f.metadata().unwrap().ino());
        let e = fd_of(child.id(), 999).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        assert_eq!(
            fd_of(child.id(), -1).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            fd_of(child.id(), 0).unwrap_err().raw_os_error(),
            Some(libc::ESRCH)
        );
    }

    #[test]
    fn file_backed_areas_are_found_and_anonymous_memory_has_none() {
        let me = std::process::id();
        // Our own text is file-backed: the address of this function is in it.
        let text = file_backed_areas_are_found_and_anonymous_memory_has_none as *const () as u64;
        let areas = file_backed(me, text, 1).unwrap();
        assert_eq!(areas.len(), 1, "{areas:?}");
        let exe = std::fs::metadata("/proc/self/exe").unwrap();
        assert_eq!((areas[0].dev, areas[0].ino), (exe.dev(), exe.ino()));
        let mapped = open_mapped(me, &areas[0]).unwrap();
        assert_eq!(mapped.metadata().unwrap().ino(), exe.ino());
        // A heap buffer is anonymous.
        let heap = vec![0u8; 1 << 20];
        let at = heap.as_ptr() as u64;
        assert!(file_backed(me, at, 4096).unwrap().is_empty());
        // A range over everything below our text covers more than one area or none; it never
        // loops: the areas are distinct and ordered.
        let all = file_backed(me, 0, text).unwrap_or_default();
        assert!(all.windows(2).all(|w| w[0].end <= w[1].start), "{all:?}");
    }
}
