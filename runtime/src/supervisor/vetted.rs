//! What the exec gate need not decide again: the file the seccomp path decided per pid
//! ([`Decided`]) and the allowed files whose execs skip the gate altogether ([`Vetted`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use scrun_detect::bounded::Bounded;

/// What the seccomp path let through, per pid, so the exec gate or watcher can tell whether the
/// file the kernel opened is the one that was decided on. Recorded only once a gate or watcher
/// serves this supervisor (nothing reads it otherwise), and bounded (the oldest pids go first).
pub struct Decided {
    active: std::sync::atomic::AtomicBool,
    map: std::sync::Mutex<Bounded<u32, scrun_detect::FileKey>>,
}

impl Default for Decided {
    fn default() -> Self {
        Decided {
            active: std::sync::atomic::AtomicBool::new(false),
            map: std::sync::Mutex::new(Bounded::new(Self::MAX)),
        }
    }
}

impl Decided {
    const MAX: usize = 4096;

    pub fn activate(&self) {
        self.active.store(true, Ordering::Release);
    }

    pub fn record(&self, pid: u32, key: scrun_detect::FileKey) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut m) = self.map.lock() {
            m.insert(pid, key);
        }
    }

    /// The file decided for `pid`'s exec, once.
    pub fn take(&self, pid: i32) -> Option<scrun_detect::FileKey> {
        let pid = u32::try_from(pid).ok()?;
        self.map.lock().ok()?.remove(&pid)
    }
}

/// Files decided Allow on their content and not written since. The exec gate (or watcher)
/// ignores their inodes, so their execs raise no fanotify event at all: one round trip per exec
/// (the seccomp one) instead of two. Each ignored inode is paired with a read lease on it: a
/// writer's `open`/`truncate` breaks the lease and waits, the worker removes the ignore mark
/// ([`Vetted::on_lease_break`]) and only then lets the writer go on, so modified content always
/// meets the gate again (a write through a shared mapping, which raises no modify event, needs
/// such an open too). Bounded (4096 files, at most a quarter of the descriptor limit): past that,
/// the other files go through the gate on every exec. Only files on the container's own overlay (the gate's filesystem) are vetted.
pub struct Vetted {
    gate: std::sync::OnceLock<Arc<scrun_kernel::gate::ExecGate>>,
    rootfs_dev: u64,
    /// At most this many (one descriptor each).
    max: usize,
    files: std::sync::Mutex<
        std::collections::HashMap<
            (u64, u64),
            (scrun_detect::FileKey, scrun_kernel::gate::HeldLease),
        >,
    >,
}

impl Vetted {
    const MAX: usize = 4096;

    /// `nofile`: the worker's descriptor limit; vetting uses at most a quarter of it, so that
    /// running out of descriptors can never fail an exec decision.
    pub fn new(rootfs_dev: u64, nofile: u64) -> Self {
        Self {
            gate: std::sync::OnceLock::new(),
            rootfs_dev,
            max: Self::MAX.min(usize::try_from(nofile / 4).unwrap_or(Self::MAX)),
            files: std::sync::Mutex::default(),
        }
    }

    pub fn set_gate(&self, gate: Arc<scrun_kernel::gate::ExecGate>) {
        let _ = self.gate.set(gate);
    }

    /// The exec gate (or watcher), once the keeper has handed it over.
    pub fn gate(&self) -> Option<&Arc<scrun_kernel::gate::ExecGate>> {
        self.gate.get()
    }

    /// After an Allow decided on `file`, whose metadata was `key`: lease it, check it is still
    /// what was decided, ignore its inode. True when its execs now skip the gate.
    pub fn vet(&self, file: &std::fs::File, key: &scrun_detect::FileKey) -> bool {
        self.vet_with(key, || Some(file))
    }

    /// [`Vetted::vet`] with the file opened for reading only when it is not vetted yet.
    pub fn vet_with<F: std::ops::Deref<Target = std::fs::File>>(
        &self,
        key: &scrun_detect::FileKey,
        open: impl FnOnce() -> Option<F>,
    ) -> bool {
        let Some(gate) = self.gate.get() else {
            return false;
        };
        if key.dev != self.rootfs_dev {
            return false;
        }
        let Ok(mut files) = self.files.lock() else {
            return false;
        };
        let id = (key.dev, key.ino);
        if let Some((known, _)) = files.get(&id) {
            if known == key {
                return true;
            }
            // Same inode, other content: the kernel already dropped the ignore mask on the
            // write; renew the pair for the new content below.
            if let Some((_, old)) = files.remove(&id) {
                let _ = gate.ignore_inode(old.file(), false);
            }
        }
        if files.len() >= self.max {
            return false;
        }
        let Some(file) = open() else {
            return false;
        };
        let Ok(lease) = scrun_kernel::gate::HeldLease::take(&file) else {
            return false; // open for writing somewhere: no lease, so no skipping the gate
        };
        // Written between the decision and the lease? Then it was not this content we allowed.
        match lease.file().metadata() {
            Ok(m) if scrun_detect::FileKey::from_metadata(&m) == *key => {}
            _ => return false,
        }
        if gate.ignore_inode(lease.file(), true).is_err() {
            return false;
        }
        files.insert(id, (*key, lease));
        true
    }

    /// A writer is breaking leases: put those inodes back under the gate, then drop the leases
    /// (in that order), which lets the writers' opens complete.
    pub fn on_lease_break(&self) {
        let Some(gate) = self.gate.get() else { return };
        let Ok(mut files) = self.files.lock() else {
            return;
        };
        files.retain(|_, (_, lease)| {
            if lease.broken() {
                let _ = gate.ignore_inode(lease.file(), false);
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ino: u64) -> scrun_detect::FileKey {
        scrun_detect::FileKey {
            dev: 1,
            ino,
            size: 10,
            mtime_ns: 5,
            ctime_ns: 5,
        }
    }

    #[test]
    fn nothing_is_recorded_until_a_gate_serves() {
        let d = Decided::default();
        d.record(7, key(1));
        assert_eq!(d.take(7), None);
        d.activate();
        d.record(7, key(1));
        assert_eq!(d.take(7), Some(key(1)));
        // Once: the gate's event for that exec takes it.
        assert_eq!(d.take(7), None);
        assert_eq!(d.take(-1), None);
    }

    #[test]
    fn the_last_decision_per_pid_counts_and_the_map_is_bounded() {
        let d = Decided::default();
        d.activate();
        d.record(1, key(1));
        d.record(1, key(2));
        assert_eq!(d.take(1), Some(key(2)));
        let k = key(3);
        for pid in 0..(Decided::MAX as u32 + 10) {
            d.record(pid, k);
        }
        assert_eq!(d.map.lock().unwrap().len(), Decided::MAX);
        // The oldest went first.
        assert_eq!(d.take(0), None);
        assert_eq!(d.take(Decided::MAX as i32 + 9), Some(k));
    }

    #[test]
    fn without_a_gate_nothing_is_vetted_and_nothing_opened() {
        let v = Vetted::new(0, 1024);
        let k = key(1);
        let mut opened = false;
        assert!(!v.vet_with::<&std::fs::File>(&k, || {
            opened = true;
            None
        }));
        assert!(!opened);
        v.on_lease_break();
        assert_eq!(v.max, 256, "a quarter of the descriptor limit");
        assert_eq!(Vetted::new(0, 1 << 30).max, Vetted::MAX);
    }
}
