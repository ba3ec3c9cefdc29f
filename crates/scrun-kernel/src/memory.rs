//! Bounded reads of another process's memory with `process_vm_readv` only (never
//! `/proc/<pid>/mem`: opening a per-pid procfs entry costs ~60 µs per exec, see perf.md §3).
//!
//! Every remote iovec stays within one page, so a string that ends right before an
//! unmapped page is still read (the kernel stops a transfer at the first iovec that faults).

use std::io;

use crate::sys::page_size;

/// Errors of remote memory reads.
#[derive(Debug, thiserror::Error)]
pub enum MemError {
    /// The address (or a later part of the object) is not mapped readable in the target.
    #[error("address {addr:#x} is not readable in pid {pid}")]
    Fault { pid: u32, addr: u64 },
    /// The target process no longer exists.
    #[error("pid {pid} is gone")]
    Gone { pid: u32 },
    /// No NUL within the bound.
    #[error("string at {addr:#x} in pid {pid} has no NUL within {max_len} bytes")]
    TooLong { pid: u32, addr: u64, max_len: usize },
    /// Any other failure (EPERM: not allowed to read that process).
    #[error("process_vm_readv on pid {pid} at {addr:#x} failed: {cause}")]
    Io {
        pid: u32,
        addr: u64,
        cause: io::Error,
    },
}

/// Remote iovecs per `process_vm_readv` call (far below `UIO_MAXIOV`).
const MAX_IOVECS: usize = 64;

/// The raw syscall, wrapped: reads `local.len()` bytes from `remote` split into
/// page-bounded iovecs. Returns the bytes read (a short count means the next byte faults)
/// or the errno.
fn vm_read_paged(pid: u32, remote: u64, local: &mut [u8]) -> Result<usize, i32> {
    if local.is_empty() {
        return Ok(0);
    }
    let page = page_size() as u64;
    let mut remote_iov: [libc::iovec; MAX_IOVECS] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_IOVECS];
    let mut count = 0;
    let mut addr = remote;
    let mut left = local.len() as u64;
    while left > 0 && count < MAX_IOVECS {
        let to_boundary = page - (addr % page);
        let len = to_boundary.min(left);
        remote_iov[count] = libc::iovec {
            iov_base: addr as usize as *mut libc::c_void,
            iov_len: len as usize,
        };
        count += 1;
        left -= len;
        // Wrap-around means the range runs off the address space: stop here.
        match addr.checked_add(len) {
            Some(a) => addr = a,
            None => break,
        }
    }
    let asked: usize = remote_iov[..count].iter().map(|v| v.iov_len).sum();
    let local_iov = libc::iovec {
        iov_base: local.as_mut_ptr().cast(),
        iov_len: asked,
    };
    let pid = libc::pid_t::try_from(pid).map_err(|_| libc::ESRCH)?;
    // SAFETY: the single local iovec points into `local`, an exclusively borrowed buffer of
    // at least `asked` bytes (asked <= local.len()), so the kernel only writes memory we own.
    // The remote iovecs are addresses in the *other* process; the kernel validates them and
    // never dereferences them in ours. Both arrays outlive the call.
    let n = unsafe {
        libc::process_vm_readv(
            pid,
            &local_iov,
            1,
            remote_iov.as_ptr(),
            count as libc::c_ulong,
            0,
        )
    };
    if n < 0 {
        Err(nix::errno::Errno::last_raw())
    } else {
        Ok(n as usize)
    }
}

fn map_errno(pid: u32, addr: u64, errno: i32) -> MemError {
    match errno {
        libc::EFAULT => MemError::Fault { pid, addr },
        libc::ESRCH => MemError::Gone { pid },
        _ => MemError::Io {
            pid,
            addr,
            cause: io::Error::from_raw_os_error(errno),
        },
    }
}

/// Reads up to `buf.len()` bytes; Ok(n) with n < len only at a fault boundary.
fn read_some(pid: u32, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
    match vm_read_paged(pid, addr, buf) {
        Ok(0) if !buf.is_empty() => Err(MemError::Fault { pid, addr }),
        Ok(n) => Ok(n),
        Err(e) => Err(map_errno(pid, addr, e)),
    }
}

/// Reads a NUL-terminated string of at most `max_len` bytes *including* the NUL, and
/// returns it without the NUL. A NULL `addr` is a fault, like in the kernel.
pub fn read_cstring(pid: u32, addr: u64, max_len: usize) -> Result<Vec<u8>, MemError> {
    if addr == 0 {
        return Err(MemError::Fault { pid, addr });
    }
    let page = page_size();
    let mut out: Vec<u8> = Vec::new();
    let mut cur = addr;
    // First read: to the end of the current page (most paths fit: one syscall).
    let mut chunk = page - (addr as usize % page);
    while out.len() < max_len {
        let want = chunk.min(max_len - out.len());
        let start = out.len();
        out.resize(start + want, 0);
        let n = read_some(pid, cur, &mut out[start..])?;
        if let Some(pos) = out[start..start + n].iter().position(|&b| b == 0) {
            out.truncate(start + pos);
            return Ok(out);
        }
        out.truncate(start + n);
        if n < want {
            // The next byte is not mapped: the string runs into a hole.
            return Err(MemError::Fault {
                pid,
                addr: cur + n as u64,
            });
        }
        cur = cur
            .checked_add(n as u64)
            .ok_or(MemError::Fault { pid, addr: cur })?;
        chunk = page * 4;
    }
    Err(MemError::TooLong { pid, addr, max_len })
}

/// Reads a NULL-terminated array of pointers (argv/envp): 8-byte pointers, or 4-byte ones
/// when `compat32`. Returns at most `max_items` pointers and whether the array was longer.
/// A NULL `addr` is an empty array (Linux treats `argv == NULL` as `{NULL}`).
pub fn read_ptr_array(
    pid: u32,
    addr: u64,
    max_items: usize,
    compat32: bool,
) -> Result<(Vec<u64>, bool), MemError> {
    if addr == 0 {
        return Ok((Vec::new(), false));
    }
    let width: usize = if compat32 { 4 } else { 8 };
    let per_chunk = (page_size() * 4) / width;
    let mut items = Vec::new();
    let mut buf = vec![0u8; per_chunk * width];
    let mut cur = addr;
    loop {
        // One extra slot so that exactly max_items + NULL is not "truncated".
        let want_items = per_chunk.min((max_items - items.len()).saturating_add(1));
        let want = want_items * width;
        let n = read_some(pid, cur, &mut buf[..want])?;
        let whole = n / width;
        for raw in buf[..whole * width].chunks_exact(width) {
            let v = if compat32 {
                u64::from(u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]))
            } else {
                u64::from_ne_bytes([
                    raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
                ])
            };
            if v == 0 {
                return Ok((items, false));
            }
            if items.len() == max_items {
                return Ok((items, true));
            }
            items.push(v);
        }
        if n < want {
            return Err(MemError::Fault {
                pid,
                addr: cur + n as u64,
            });
        }
        cur = cur
            .checked_add(n as u64)
            .ok_or(MemError::Fault { pid, addr: cur })?;
    }
}

/// argv or envp as byte strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringArray {
    pub items: Vec<Vec<u8>>,
    /// More items (or bytes) existed than the bounds allowed.
    pub truncated: bool,
}

/// Reads argv/envp: at most `max_items` strings and `max_total_bytes` bytes (each string
/// counted with its NUL). A string cut by the byte bound is dropped and `truncated` set.
pub fn read_string_array(
    pid: u32,
    addr: u64,
    compat32: bool,
    max_items: usize,
    max_total_bytes: usize,
) -> Result<StringArray, MemError> {
    let (ptrs, mut truncated) = read_ptr_array(pid, addr, max_items, compat32)?;
    let mut items = Vec::with_capacity(ptrs.len());
    let mut budget = max_total_bytes;
    for p in ptrs {
        if budget == 0 {
            truncated = true;
            break;
        }
        match read_cstring(pid, p, budget) {
            Ok(s) => {
                budget -= s.len() + 1;
                items.push(s);
            }
            Err(MemError::TooLong { .. }) => {
                truncated = true;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(StringArray { items, truncated })
}
