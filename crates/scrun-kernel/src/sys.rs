//! Tiny, total helpers that turn raw syscall return codes into `io::Result`
//! (the idea of vmm-sys-util's `SyscallReturnCode`). No `unsafe` here: each
//! syscall family keeps its own unsafe wrapper next to the code that needs it.

use std::io;

/// Maps a C-style return value (`-1` and `errno` on failure) to `io::Result`.
pub(crate) fn cvt<T: Copy + PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The errno of an `io::Error`, or `EIO` when it carries none.
pub(crate) fn errno_of(err: &io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}

/// The system page size (falls back to 4 KiB if sysconf cannot say).
pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(
        || match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
            Ok(Some(n)) if n > 0 => usize::try_from(n).unwrap_or(4096),
            _ => 4096,
        },
    )
}
