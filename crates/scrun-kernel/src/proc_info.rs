//! Cheap, best-effort facts about a process for findings (not for the per-exec hot path:
//! each call opens a `/proc/<pid>/` entry). Every read is bounded; `None` when the
//! process is gone or the data is malformed.

use std::io::Read;
use std::path::PathBuf;

fn read_bounded(path: &str, max: usize) -> Option<Vec<u8>> {
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(max as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// `/proc/<pid>/comm` without the newline (at most 64 bytes; the kernel keeps 15).
pub fn comm(pid: u32) -> Option<String> {
    let raw = read_bounded(&format!("/proc/{pid}/comm"), 64)?;
    let s = raw.strip_suffix(b"\n").unwrap_or(&raw);
    Some(String::from_utf8_lossy(s).into_owned())
}

/// Parent pid from `/proc/<pid>/stat`.
pub fn ppid(pid: u32) -> Option<u32> {
    let raw = read_bounded(&format!("/proc/{pid}/stat"), 4096)?;
    parse_stat_ppid(&raw)
}

/// (ppid, start time in clock ticks since boot) from one read of `/proc/<pid>/stat`: the pair
/// that identifies a process across pid reuse.
pub fn ppid_and_start(pid: u32) -> Option<(u32, u64)> {
    let raw = read_bounded(&format!("/proc/{pid}/stat"), 4096)?;
    Some((parse_stat_ppid(&raw)?, stat_field(&raw, 22)?.parse().ok()?))
}

/// Now, in clock ticks since boot (`CLOCK_BOOTTIME`, the clock and unit of a process's start
/// time in `/proc/<pid>/stat`). A vDSO call, no syscall.
pub fn boot_ticks() -> u64 {
    static HZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let hz = *HZ.get_or_init(|| {
        // SAFETY: sysconf has no memory-safety preconditions.
        let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(v).ok().filter(|v| *v > 0).unwrap_or(100)
    });
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration and CLOCK_BOOTTIME is
    // a clock id the kernel knows; on failure `ts` stays zero.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs * hz + nanos * hz / 1_000_000_000
}

fn parse_stat_ppid(stat: &[u8]) -> Option<u32> {
    stat_field(stat, 4)?.parse().ok()
}

/// Field `n` of a `/proc/<pid>/stat` line, numbered as in proc(5) (1 = pid, 3 = state, 4 = ppid,
/// 48/49 = arg_start/arg_end). `stat` is `pid (comm) state ppid ...` and comm may hold spaces and
/// ')', so the fields from 3 on are counted from the *last* ')'; `n` must be 3 or more.
pub(crate) fn stat_field(stat: &[u8], n: usize) -> Option<&str> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    rest.split_ascii_whitespace().nth(n.checked_sub(3)?)
}

/// Target of `/proc/<pid>/exe` as this process sees it.
pub fn exe_path(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// argv from `/proc/<pid>/cmdline`, at most `max_bytes` read (lossy UTF-8).
pub fn cmdline(pid: u32, max_bytes: usize) -> Option<Vec<String>> {
    let raw = read_bounded(&format!("/proc/{pid}/cmdline"), max_bytes)?;
    let raw = raw.strip_suffix(b"\0").unwrap_or(&raw);
    if raw.is_empty() {
        return Some(Vec::new());
    }
    Some(
        raw.split(|&b| b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        assert_eq!(parse_stat_ppid(b"42 (a) b) (c) S 17 42 42 0 -1"), Some(17));
        assert_eq!(parse_stat_ppid(b"42 (x y) R 1 2"), Some(1));
        assert_eq!(parse_stat_ppid(b"42 (x y"), None);
        assert_eq!(parse_stat_ppid(b"42 (x) S notanumber"), None);
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert_eq!(ppid(me), Some(nix::unistd::getppid().as_raw() as u32));
        let (pp, start) = ppid_and_start(me).unwrap();
        assert_eq!(pp, nix::unistd::getppid().as_raw() as u32);
        assert!(start > 0 && ppid_and_start(me).unwrap().1 == start);
        // This process started before now, in the same clock and unit.
        let now = boot_ticks();
        assert!(
            start <= now && now - start < 100 * 3600,
            "start {start} now {now}"
        );
        let exe = std::env::current_exe().expect("current exe");
        assert_eq!(exe_path(me), Some(exe));
        let args: Vec<String> = std::env::args().collect();
        assert_eq!(cmdline(me, 1 << 20), Some(args));
        let c = comm(me).expect("comm");
        assert!(!c.is_empty() && c.len() <= 15 && !c.ends_with('\n'));
        assert_eq!(comm(u32::MAX), None);
        assert_eq!(ppid(u32::MAX), None);
    }
}
