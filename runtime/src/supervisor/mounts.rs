//! The container's other exec-capable mounts, put under the exec gate when its init arrives
//! (enforce mode): its mount namespace is complete by then and no exec has run yet.
//!
//! - A superblock no mount of the host's namespace shows (a tmpfs the runtime made for this
//!   container: `/dev`, `/dev/shm`, `--tmpfs`) gets a filesystem mark, like the rootfs overlay:
//!   it covers every mount of it, also in mount namespaces the container makes later.
//! - A superblock the host shares (a volume or bind mount of a host directory) gets a mount mark
//!   on the container's own mount of it: a filesystem mark there would gate the host's execs.
//!   Copies of that mount in a namespace the container makes later are not covered (fanotify
//!   mount marks are per mount), nor are mounts made after start.
//! - `noexec` mounts and pseudo filesystems are skipped.

use std::collections::HashSet;
use std::path::Path;

use scrun_kernel::gate::ExecGate;

use crate::logging::ContainerLog;

const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "fusectl",
    "configfs",
    "pstore",
    "binfmt_misc",
    "nsfs",
];

/// One mountinfo line: (major:minor, mount point, per-mount options, fstype).
fn parse(line: &str) -> Option<(&str, String, &str, &str)> {
    let (left, right) = line.split_once(" - ")?;
    let f: Vec<&str> = left.split(' ').collect();
    let fstype = right.split(' ').next()?;
    Some((f.get(2)?, unescape(f.get(4)?), f.get(5)?, fstype))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Marks the exec-capable mounts of process `pid` (the container's init); returns a summary
/// for `scrun state`.
pub fn gate_mounts(gate: &ExecGate, pid: i64, log: &ContainerLog) -> String {
    let Ok(theirs) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
        return "other mounts not gated (cannot read the init's mountinfo)".into();
    };
    let ours: HashSet<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| parse(l).map(|(dev, ..)| dev.to_string()))
        .collect();
    let (mut sb, mut mnt, mut failed) = (0, 0, 0);
    for line in theirs.lines() {
        let Some((dev, point, opts, fstype)) = parse(line) else {
            continue;
        };
        if point == "/" || PSEUDO.contains(&fstype) || opts.split(',').any(|o| o == "noexec") {
            continue;
        }
        let path = Path::new(&format!("/proc/{pid}/root")).join(point.trim_start_matches('/'));
        let marked = if ours.contains(dev) {
            match std::fs::File::open(format!("/proc/{pid}/root")) {
                Ok(root) => gate
                    .mark_mount_at(
                        std::os::fd::AsFd::as_fd(&root),
                        Path::new(point.trim_start_matches('/')),
                    )
                    .map(|()| mnt += 1),
                Err(e) => Err(e),
            }
        } else {
            gate.mark_filesystem(&path).map(|()| sb += 1)
        };
        if let Err(e) = marked {
            failed += 1;
            log.warn(format_args!(
                "cannot put mount {point} under the exec gate: {e}"
            ));
        }
    }
    format!(
        "also gated at start: {sb} container-private superblock(s) (filesystem marks), \
         {mnt} shared-superblock mount(s) (mount marks, not their copies in later namespaces){}",
        if failed > 0 {
            format!(", {failed} not markable")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse_with_escapes() {
        let l =
            "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
        assert_eq!(
            parse(l),
            Some(("98:0", "/mnt 2".to_string(), "rw,noatime", "ext3"))
        );
        assert_eq!(parse("garbage"), None);
    }
}
