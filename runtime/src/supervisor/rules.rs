//! The exec rules on one trapped exec: the exec as a rules [`Subject`] whose argv, environment,
//! parent and fd 0/1/2 are read from the process only when a candidate rule asks for them, the
//! engine's evaluation, and the ancestry table's record of what ran.

use std::path::Path;

use scrun_detect::engine::Engine;
use scrun_detect::event::{ContainerIdentity, Decision, ExecEvent, ProcessInfo, Strings};
use scrun_detect::rules::ancestry::ProcReader;
use scrun_detect::rules::{FdInfo, FdKind, ProcRef, Subject};
use scrun_kernel::{proc_info, stdio};

/// `/proc` reads for parents the ancestry table does not know; host paths under the rootfs are
/// shown as in-container paths.
struct Proc<'a> {
    rootfs: &'a Path,
}

impl ProcReader for Proc<'_> {
    fn stat(&self, pid: u32) -> Option<(u32, u64)> {
        proc_info::ppid_and_start(pid)
    }
    fn exe(&self, pid: u32) -> Option<String> {
        let p = proc_info::exe_path(pid)?;
        Some(match p.strip_prefix(self.rootfs) {
            Ok(inner) => format!("/{}", inner.display()),
            Err(_) => p.display().to_string(),
        })
    }
    fn comm(&self, pid: u32) -> Option<String> {
        proc_info::comm(pid)
    }
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// A trapped exec as the rules see it.
pub struct ExecSubject<'a, 'v, 'e> {
    pub engine: &'a Engine,
    pub rootfs: &'a Path,
    pub pid: u32,
    pub requested: String,
    pub path: String,
    pub sha256: Option<[u8; 32]>,
    pub provenance: &'static str,
    pub argv_src: &'v mut (dyn Strings + 'v),
    pub env_src: Option<&'e mut (dyn Strings + 'e)>,
    argv: Option<Vec<String>>,
    env: Option<Vec<(String, String)>>,
    parent: Option<Option<ProcRef>>,
    ancestors: Option<Vec<ProcRef>>,
    stdio: [Option<FdInfo>; 3],
}

impl<'a, 'v, 'e> ExecSubject<'a, 'v, 'e> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: &'a Engine,
        rootfs: &'a Path,
        pid: u32,
        requested: String,
        path: String,
        decision: &Decision,
        argv_src: &'v mut (dyn Strings + 'v),
        env_src: Option<&'e mut (dyn Strings + 'e)>,
    ) -> Self {
        ExecSubject {
            engine,
            rootfs,
            pid,
            requested,
            path,
            sha256: decision.digest.map(|d| d.sha256),
            provenance: decision.provenance.as_str(),
            argv_src,
            env_src,
            argv: None,
            env: None,
            parent: None,
            ancestors: None,
            stdio: [None; 3],
        }
    }

    fn lookup(&mut self, full: bool) -> Vec<ProcRef> {
        let Some(rules) = self.engine.rules() else {
            return Vec::new();
        };
        let reader = Proc {
            rootfs: self.rootfs,
        };
        rules
            .ancestry()
            .lookup(self.pid, full, proc_info::boot_ticks(), &reader)
            .1
    }
}

impl Subject for ExecSubject<'_, '_, '_> {
    fn requested(&self) -> &str {
        &self.requested
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn sha256(&self) -> Option<[u8; 32]> {
        self.sha256
    }
    fn provenance(&self) -> &str {
        self.provenance
    }
    fn container(&self) -> &ContainerIdentity {
        self.engine.identity()
    }
    fn argv(&mut self) -> &[String] {
        if self.argv.is_none() {
            self.argv = Some(self.argv_src.get().0.iter().map(|a| lossy(a)).collect());
        }
        self.argv.as_deref().expect("set above")
    }
    fn env(&mut self) -> &[(String, String)] {
        if self.env.is_none() {
            let items = match self.env_src.as_mut() {
                Some(src) => scrun_detect::event::env_pairs(src.get().0),
                None => Vec::new(),
            };
            self.env = Some(items);
        }
        self.env.as_deref().expect("set above")
    }
    fn parent(&mut self) -> Option<&ProcRef> {
        if self.parent.is_none() {
            let p = match &self.ancestors {
                Some(a) => a.first().cloned(),
                None => self.lookup(false).into_iter().next(),
            };
            self.parent = Some(p);
        }
        self.parent.as_ref().expect("set above").as_ref()
    }
    fn ancestors(&mut self) -> &[ProcRef] {
        if self.ancestors.is_none() {
            self.ancestors = Some(self.lookup(true));
        }
        self.ancestors.as_deref().expect("set above")
    }
    fn stdio(&mut self, fd: u8) -> FdInfo {
        let i = usize::from(fd.min(2));
        if let Some(f) = self.stdio[i] {
            return f;
        }
        let (kind, addrs) = match stdio::fd_kind(self.pid, i32::from(fd)) {
            stdio::FdKind::Pipe => (FdKind::Pipe, None),
            stdio::FdKind::File => (FdKind::File, None),
            stdio::FdKind::Tty => (FdKind::Tty, None),
            stdio::FdKind::CharDev => (FdKind::Null, None),
            stdio::FdKind::Unix => (FdKind::Unix, None),
            stdio::FdKind::Inet { local, peer } => (FdKind::Inet, Some((local, peer))),
            stdio::FdKind::Socket => (FdKind::Socket, None),
            stdio::FdKind::Closed => (FdKind::Closed, None),
            stdio::FdKind::Unknown => (FdKind::Unknown, None),
        };
        let info = FdInfo {
            kind,
            local: addrs.map(|(l, _)| l),
            peer: addrs.map(|(_, p)| p),
        };
        self.stdio[i] = Some(info);
        info
    }
}

/// Evaluates the rules on the exec (`event` as decided into `decision`): joins their verdict to
/// the decision and returns their findings (argv, environment and parent filled in only then).
pub fn evaluate(
    subject: &mut ExecSubject<'_, '_, '_>,
    engine: &Engine,
    include_env: bool,
    event: &mut ExecEvent,
    decision: &mut Decision,
) -> Vec<scrun_findings::Finding> {
    engine.evaluate_rules(subject, event, decision, |event, s| {
        if event.process.args.is_empty() {
            event.process.args = s.argv().to_vec();
        }
        if include_env && event.env.is_empty() {
            event.env = s.env().to_vec();
        }
        if event.process.name.is_empty() {
            event.process.name = s
                .requested()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
        }
        if let Some(p) = s.parent().cloned() {
            event.process.ppid = p.pid;
            if event.parent.is_none() {
                let ppid = u32::try_from(p.pid).unwrap_or(0);
                event.parent = Some(parent_info(ppid, p.name, Some(p.binary)));
            }
        }
    })
}

/// The parent of an exec'ing process, for a finding: its name and binary as the caller knows
/// them, its own parent and its command line read from `/proc`.
pub fn parent_info(ppid: u32, name: String, binary_path: Option<String>) -> ProcessInfo {
    ProcessInfo {
        pid: i64::from(ppid),
        ppid: i64::from(proc_info::ppid(ppid).unwrap_or(0)),
        name,
        binary_path,
        args: proc_info::cmdline(ppid, 4096).unwrap_or_default(),
        args_truncated: false,
    }
}

/// Records an exec that was let through in the container's ancestry table (no `/proc` read).
pub fn record(engine: &Engine, pid: u32, requested: &[u8], path: &Path) {
    if let Some(rules) = engine.rules() {
        let name = requested.rsplit(|c| *c == b'/').next().unwrap_or_default();
        rules.record(
            pid,
            path.display().to_string(),
            lossy(name),
            proc_info::boot_ticks(),
        );
    }
}
