//! CVE-2019-5736 without copying the runtime: re-execute the running binary from a private,
//! read-only overlayfs mount of its own directory (the approach of runc 1.2), so that
//! `/proc/<pid>/exe` of a process started in a container names a file that cannot be opened for
//! writing (`EROFS`) and is not the host's file. The mount is detached (`fsopen` + `fsmount`,
//! never attached to any mount tree) and goes away with the last process running from it.
//!
//! Against a sealed memfd copy (pentacle) this saves copying the whole binary on every
//! `create`/`run`/`exec` (~5 ms and ~9 MiB of shared memory for a 9 MiB binary) for a handful of
//! mount syscalls. Needs `CAP_SYS_ADMIN` and overlayfs; callers fall back to a sealed copy.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::sys::cvt;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
/// `statvfs.f_flag`: mounted read-only.
const ST_RDONLY: u64 = 1;

/// True when the running binary already comes from a read-only overlayfs (this module's mount,
/// or an installation on a read-only overlay root): a container cannot write to it.
pub fn is_sealed() -> bool {
    let Ok(exe) = std::fs::File::open("/proc/self/exe") else {
        return false;
    };
    // SAFETY: statfs is plain integers; the all-zero pattern is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes one statfs into `st`, a valid, exclusively borrowed struct; the
    // descriptor is live for the call.
    if unsafe { libc::fstatfs(exe.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    if st.f_type != libc::OVERLAYFS_SUPER_MAGIC {
        return false;
    }
    // SAFETY: statvfs is plain integers; the all-zero pattern is a valid value.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatvfs writes one statvfs into `vfs`, a valid, exclusively borrowed struct; the
    // descriptor is live for the call.
    if unsafe { libc::fstatvfs(exe.as_raw_fd(), &mut vfs) } != 0 {
        return false;
    }
    (vfs.f_flag as u64) & ST_RDONLY != 0
}

/// Re-executes `/proc/self/exe` (same argv and environment) from a read-only overlay of its
/// directory, with `empty_dir` (an empty directory, created if missing) as the second lower
/// layer (an overlay without an upper layer needs two). Returns only on failure.
pub fn reexec_from_overlay(empty_dir: &Path) -> io::Error {
    match try_reexec(empty_dir) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

enum Never {}

fn try_reexec(empty_dir: &Path) -> io::Result<Never> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(io::Error::other("/proc/self/exe has no directory"));
    };
    std::fs::create_dir_all(empty_dir)?;
    let escape = |p: &Path| -> io::Result<Vec<u8>> {
        let b = p.as_os_str().as_bytes();
        // overlayfs splits lowerdir on ':' (with '\' escapes); keep it simple and refuse.
        if b.iter().any(|c| matches!(c, b':' | b'\\' | b',')) {
            return Err(io::Error::other(format!(
                "{} has a ':', ',' or '\\' in its path",
                p.display()
            )));
        }
        Ok(b.to_vec())
    };
    let mut lower = escape(dir)?;
    lower.push(b':');
    lower.extend(escape(empty_dir)?);
    let ctx = fsopen(c"overlay")?;
    fsconfig_string(&ctx, c"lowerdir", &CString::new(lower)?)?;
    fsconfig_create(&ctx)?;
    let mnt = fsmount(&ctx)?;
    drop(ctx);
    let name = CString::new(name.as_bytes())?;
    // SAFETY: openat with a live directory fd, a NUL-terminated name and integer flags.
    let fd = cvt(unsafe {
        libc::openat(
            mnt.as_raw_fd(),
            name.as_ptr(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    let exe_fd = unsafe { OwnedFd::from_raw_fd(fd) };
    drop(mnt);
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv)
        })
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: `exe_fd` is live; the path is the empty C string (AT_EMPTY_PATH: the fd itself);
    // argv and envp are NULL-terminated arrays of pointers into CStrings that outlive the call
    // (on success the process image is replaced and nothing here is used again).
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            exe_fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Err(io::Error::last_os_error())
}

fn fsopen(fs: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: fsopen takes a NUL-terminated filesystem name and integer flags.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: fsopen just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn fsconfig_string(ctx: &OwnedFd, key: &CStr, value: &CStr) -> io::Result<()> {
    // SAFETY: fsconfig(SET_STRING) reads two NUL-terminated strings that outlive the call.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    })
    .map(drop)
}

fn fsconfig_create(ctx: &OwnedFd) -> io::Result<()> {
    // SAFETY: fsconfig(CMD_CREATE) takes no pointers (null key and value).
    cvt(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })
    .map(drop)
}

fn fsmount(ctx: &OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: fsmount takes a filesystem context fd and two integer flag words.
    let fd = cvt(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )
    })?;
    // SAFETY: fsmount just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
