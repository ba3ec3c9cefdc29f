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
//!
//! Mounts made after start (a tmpfs or bind mount in a namespace the container made, a nested
//! runtime's overlay) are put under the gate when an exec first reaches them ([`Reached`]):
//! before that exec goes on, its file's superblock (container-private) or mount (host-shared)
//! is marked, so the kernel's own open of the file for that exec, and every later one there,
//! meets the gate.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use scrun_kernel::gate::ExecGate;
use scrun_kernel::mountinfo::MountLine;

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

/// `st_dev` of every mount in this process's mount namespace (the host's, for the worker).
fn host_devices() -> HashSet<u64> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| MountLine::parse(l)?.device())
        .collect()
}

/// The superblocks and mounts execs have reached, each marked on the exec gate once.
pub struct Reached {
    rootfs_dev: u64,
    inner: Mutex<ReachedInner>,
}

#[derive(Default)]
struct ReachedInner {
    /// Container-private superblocks marked (or found unmarkable), by device.
    devices: HashSet<u64>,
    /// Mounts of host-shared superblocks marked, by mount id.
    mounts: HashSet<u64>,
    /// Devices the host's mount namespace shows (read again when an unknown device appears).
    host: HashSet<u64>,
}

/// What [`Reached::gate`] did for one exec's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The rootfs, or a superblock or mount marked before.
    Already,
    /// A container-private superblock, marked now.
    Filesystem,
    /// A mount of a host-shared superblock, marked now.
    Mount,
}

impl Reached {
    pub fn new(rootfs_dev: u64) -> Reached {
        Reached {
            rootfs_dev,
            inner: Mutex::new(ReachedInner {
                host: host_devices(),
                ..ReachedInner::default()
            }),
        }
    }

    /// Puts the superblock (container-private) or the mount (host-shared) of `file` under
    /// `gate` unless it is already. Cheap for the rootfs (one comparison) and for a superblock
    /// seen before (one lookup); a host-shared one costs a `statx` for the mount id. The mark
    /// itself needs a file open for reading (`fanotify_mark` refuses an `O_PATH` descriptor
    /// with `EBADF`).
    pub fn gate(
        &self,
        gate: &ExecGate,
        file: &scrun_kernel::resolve::Resolved,
    ) -> std::io::Result<Marked> {
        let dev = file.meta.dev();
        if dev == self.rootfs_dev {
            return Ok(Marked::Already);
        }
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if inner.devices.contains(&dev) {
            return Ok(Marked::Already);
        }
        if !inner.host.contains(&dev) {
            inner.host = host_devices();
        }
        if !inner.host.contains(&dev) {
            // Only the container's mounts show it: a filesystem mark covers every mount of it.
            inner.devices.insert(dev);
            gate.mark_filesystem_of(file.readable()?.as_fd())?;
            return Ok(Marked::Filesystem);
        }
        // A host filesystem: a filesystem mark would gate the host's execs; mark this mount.
        let mnt = scrun_kernel::view::mount_id(file.file.as_fd())?;
        if !inner.mounts.insert(mnt) {
            return Ok(Marked::Already);
        }
        gate.mark_mount_at(file.readable()?.as_fd(), Path::new(""))?;
        Ok(Marked::Mount)
    }
}

/// Marks the exec-capable mounts of process `pid` (the container's init); returns a summary
/// for `scrun state`.
pub fn gate_mounts(gate: &ExecGate, pid: i64, log: &ContainerLog) -> String {
    let Ok(theirs) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
        return "other mounts not gated (cannot read the init's mountinfo)".into();
    };
    let ours = host_devices();
    let (mut sb, mut mnt, mut failed) = (0, 0, 0);
    for line in theirs.lines() {
        let Some(m) = MountLine::parse(line) else {
            continue;
        };
        let point = String::from_utf8_lossy(&m.mountpoint);
        if point == "/"
            || PSEUDO.contains(&m.fstype.as_str())
            || m.mount_options.split(',').any(|o| o == "noexec")
        {
            continue;
        }
        let path = Path::new(&format!("/proc/{pid}/root")).join(point.trim_start_matches('/'));
        let marked = if m.device().is_some_and(|d| ours.contains(&d)) {
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

    /// A file on a host filesystem gets its mount marked once; the rootfs needs nothing.
    #[test]
    fn a_host_mount_is_marked_once_and_the_rootfs_never() {
        let gate = ExecGate::watcher().expect("fanotify (root)");
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        // Resolved as the exec path resolves (the cached route gives an O_PATH descriptor).
        let root = scrun_kernel::resolve::RootDir::open_path(dir.path()).unwrap();
        let mut paths = scrun_kernel::resolve::PathCache::default();
        let resolve = |paths: &mut _| {
            scrun_kernel::resolve::resolve_exec_cached(&root, 0, None, b"/f", false, false, paths)
                .unwrap()
        };
        resolve(&mut paths);
        let f = resolve(&mut paths);
        assert!(f.path_only, "the second resolution is the O_PATH fast path");
        let reached = Reached::new(f.meta.dev() + 1);
        assert_eq!(reached.gate(&gate, &f).unwrap(), Marked::Mount);
        assert_eq!(reached.gate(&gate, &f).unwrap(), Marked::Already);
        let rootfs = Reached::new(f.meta.dev());
        assert_eq!(rootfs.gate(&gate, &f).unwrap(), Marked::Already);
    }
}
