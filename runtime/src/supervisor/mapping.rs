//! One mapping notification -> one answer (`[supervisor] mappings`, issue 14): the file a
//! process maps executable without an exec (a library `ld.so` or `dlopen` loads, a program a
//! userland loader maps itself) is decided like an exec's file ([`super::decide`]: provenance,
//! hash, feeds, policy) and reported in the *Library Loaded* family.
//!
//! - `mmap` of a file with `PROT_EXEC`: the descriptor is duplicated from the caller with
//!   `pidfd_getfd` (no procfs, scrun-kernel `maps`);
//! - `mprotect`/`pkey_mprotect` adding `PROT_EXEC`: the range's file-backed areas are found with
//!   `PROCMAP_QUERY`; anonymous memory (JIT code) goes on at once, a file is opened through
//!   `/proc/<pid>/map_files` and decided;
//! - `personality` setting `READ_IMPLIES_EXEC` (after which `PROT_READ` alone maps code, with no
//!   `PROT_EXEC` for the filter to see): refused when mappings are enforced, reported otherwise.
//!
//! Memory files (a memfd, shared anonymous memory, a deleted tmpfs file) go on undecided: JITs
//! map them executable (dual mappings), and code copied into memory is not a file the policy can
//! name (the README's threat model). A warm image library costs the round trip, two pidfd calls,
//! an `fstat` and a verdict-cache lookup by file identity
//! ([`scrun_detect::engine::Engine::quiet_verdict_unnamed`]); any other file is named (a
//! `readlink` of our own descriptor) and goes through the whole decision.

use std::sync::atomic::Ordering;

use scrun_detect::engine::{LoadedAs, Verdict};
use scrun_detect::event::Strings;
use scrun_detect::policy::{Mode, OnError};
use scrun_kernel::maps;
use scrun_kernel::notify::{Listener, MapCall, MapKind, Notification};
use scrun_kernel::resolve::{self, Resolved, RootDir};
use scrun_kernel::view::Views;

use super::Shared;
use super::decide::{Via, decide, target_of};
use super::exec::{Answer, INLINE_HASH_MAX};
use super::loaded::ThreadCache;
use crate::metrics::{COUNTERS, MapOutcome};

/// At most this much of `/proc/<pid>/cmdline` goes into a finding.
const MAX_CMDLINE: usize = 128 * 1024;

/// The mapping process's argv, read from `/proc/<pid>/cmdline` only for a finding.
struct Cmdline {
    pid: u32,
    value: Option<Vec<Vec<u8>>>,
}

impl Strings for Cmdline {
    fn get(&mut self) -> (&[Vec<u8>], bool) {
        let pid = self.pid;
        let v = self.value.get_or_insert_with(|| {
            scrun_kernel::proc_info::cmdline(pid, MAX_CMDLINE)
                .unwrap_or_default()
                .into_iter()
                .map(String::into_bytes)
                .collect()
        });
        (v, false)
    }
}

/// How one mapping call ended, before it is counted.
enum Ended {
    /// The file (or each file of the range) was decided.
    Decided(Answer),
    /// Nothing to decide: anonymous memory, a memory file, a device, the persona query.
    NotAFile,
    /// A mapping call the supervisor could not decide, or that the kernel will fail anyway.
    Failed(Answer),
}

/// Decides one mapping notification; counted for the node metrics. `may_defer`: a big file
/// the caches do not know may be sent to the hash pool.
pub fn handle(
    shared: &Shared,
    listener: &Listener,
    views: &mut Views,
    cache: &mut ThreadCache,
    notif: &Notification,
    call: &MapCall,
    may_defer: bool,
) -> Answer {
    let t0 = std::time::Instant::now();
    let ended = match call.kind {
        MapKind::Personality => personality(shared, notif, call),
        MapKind::Mmap if call.maps_file_exec() => {
            mmap(shared, listener, views, cache, notif, call, may_defer)
        }
        MapKind::Mprotect | MapKind::PkeyMprotect if call.protects_exec() => {
            mprotect(shared, listener, views, cache, notif, call, may_defer)
        }
        // The filter traps nothing else; an anonymous or non-executable call goes on.
        _ => Ended::NotAFile,
    };
    let (outcome, answer) = match ended {
        Ended::Decided(Answer::Defer) => return Answer::Defer,
        Ended::Decided(a @ Answer::Continue) => (MapOutcome::Allowed, a),
        Ended::Decided(a @ Answer::Errno(_)) => (MapOutcome::Blocked, a),
        Ended::Decided(a) | Ended::Failed(a) => (MapOutcome::Error, a),
        Ended::NotAFile => (MapOutcome::NotAFile, Answer::Continue),
    };
    COUNTERS.mapping(outcome, t0.elapsed());
    answer
}

/// The mode mapped files are decided in (never `None` here: with mappings off no rule traps).
fn mode(shared: &Shared) -> Mode {
    shared.engine.engine.mode_for(LoadedAs::Library)
}

/// A call that cannot be decided: `on_error` in enforce mode, on in audit mode.
fn undecided(shared: &Shared, what: std::fmt::Arguments<'_>) -> Ended {
    shared.log.warn(what);
    let deny =
        mode(shared) == Mode::Enforce && shared.engine.config.supervisor.on_error == OnError::Deny;
    Ended::Failed(if deny {
        Answer::Errno(libc::EPERM)
    } else {
        Answer::Continue
    })
}

fn personality(shared: &Shared, notif: &Notification, call: &MapCall) -> Ended {
    if !call.sets_read_implies_exec() {
        return Ended::NotAFile;
    }
    let enforce = mode(shared) == Mode::Enforce;
    shared.log.warn(format_args!(
        "pid {} sets READ_IMPLIES_EXEC (personality {:#x}): its PROT_READ mappings would run as code unseen; {}",
        notif.pid,
        call.addr,
        if enforce { "refused" } else { "allowed (audit)" }
    ));
    Ended::Decided(if enforce {
        Answer::Errno(libc::EPERM)
    } else {
        Answer::Continue
    })
}

/// The container root the mapped file is named from (the first notification of a listener
/// sets it, as for an exec).
fn base<'v>(shared: &Shared, views: &'v mut Views, pid: u32) -> Option<&'v RootDir> {
    if views.base().is_none() {
        let tainted =
            scrun_kernel::view::Taint::from_bits(shared.views_tainted.load(Ordering::Acquire));
        if let Err(e) = views.view(pid, tainted) {
            shared
                .log
                .error(format_args!("cannot open the root of pid {pid}: {e}"));
            return None;
        }
    }
    views.base()
}

fn mmap(
    shared: &Shared,
    listener: &Listener,
    views: &mut Views,
    cache: &mut ThreadCache,
    notif: &Notification,
    call: &MapCall,
    may_defer: bool,
) -> Ended {
    let pid = notif.pid;
    let fd = call.fd.unwrap_or(-1);
    let file = match maps::fd_of(pid, fd) {
        Ok(f) => f,
        Err(e) => {
            return match e.raw_os_error() {
                // Gone (or interrupted): the notification is void.
                Some(libc::ESRCH) if !listener.id_valid(notif.id) => Ended::Failed(Answer::None),
                // The kernel fails this mmap with EBADF; enforce mode answers it itself, so
                // that no descriptor installed meanwhile is mapped undecided.
                Some(libc::EBADF) if mode(shared) == Mode::Enforce => {
                    Ended::Failed(Answer::Errno(libc::EBADF))
                }
                Some(libc::EBADF) => Ended::Failed(Answer::Continue),
                _ => undecided(
                    shared,
                    format_args!("mmap of fd {fd} in pid {pid}: cannot get the descriptor: {e}"),
                ),
            };
        }
    };
    // The descriptor was taken from the process the notification names, not from a pid reused
    // since.
    if !listener.id_valid(notif.id) {
        return Ended::Failed(Answer::None);
    }
    decide_file(
        shared,
        views,
        cache,
        notif,
        "mmap",
        file,
        may_defer,
        format_args!("mmap of fd {fd} in pid {pid}"),
    )
}

fn mprotect(
    shared: &Shared,
    listener: &Listener,
    views: &mut Views,
    cache: &mut ThreadCache,
    notif: &Notification,
    call: &MapCall,
    may_defer: bool,
) -> Ended {
    let pid = notif.pid;
    let areas = match maps::file_backed(pid, call.addr, call.len) {
        Ok(a) => a,
        Err(e)
            if matches!(e.raw_os_error(), Some(libc::ESRCH | libc::ENOENT))
                && !listener.id_valid(notif.id) =>
        {
            return Ended::Failed(Answer::None);
        }
        Err(e) => {
            return undecided(
                shared,
                format_args!(
                    "mprotect of {:#x}+{:#x} in pid {pid}: cannot read its mappings: {e}",
                    call.addr, call.len
                ),
            );
        }
    };
    if !listener.id_valid(notif.id) {
        return Ended::Failed(Answer::None);
    }
    // Anonymous memory (a JIT's code): nothing to decide.
    if areas.is_empty() {
        return Ended::NotAFile;
    }
    let syscall = match call.kind {
        MapKind::PkeyMprotect => "pkey_mprotect",
        _ => "mprotect",
    };
    let mut ended = Ended::NotAFile;
    for area in &areas {
        let file = match maps::open_mapped(pid, area) {
            Ok(f) => f,
            // The area went away (another thread unmapped it): the kernel decides on what is
            // mapped when it runs; the call is not let through undecided in enforce mode.
            Err(e) => {
                return undecided(
                    shared,
                    format_args!(
                        "mprotect in pid {pid}: cannot open the file of {:#x}-{:#x}: {e}",
                        area.start, area.end
                    ),
                );
            }
        };
        match decide_file(
            shared,
            views,
            cache,
            notif,
            syscall,
            file,
            may_defer,
            format_args!(
                "{syscall} of {:#x}-{:#x} in pid {pid}",
                area.start, area.end
            ),
        ) {
            Ended::NotAFile => {}
            Ended::Decided(Answer::Continue) => ended = Ended::Decided(Answer::Continue),
            other => return other,
        }
    }
    ended
}

/// Decides one file an mmap or mprotect call maps executable (`what` names the call for a log
/// line). The verdict cache alone answers for a file it knows and raises no finding for (an
/// image library: every dynamic exec maps libc), without naming it; any other file is named in
/// the container root and decided as a library.
#[allow(clippy::too_many_arguments)]
fn decide_file(
    shared: &Shared,
    views: &mut Views,
    cache: &mut ThreadCache,
    notif: &Notification,
    syscall: &str,
    file: std::fs::File,
    may_defer: bool,
    what: std::fmt::Arguments<'_>,
) -> Ended {
    let quiet = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .and_then(|meta| {
            shared
                .engine
                .engine
                .quiet_verdict_unnamed(&meta, LoadedAs::Library)
        });
    if quiet == Some(Verdict::Allow) {
        return Ended::Decided(Answer::Continue);
    }
    let Some(root) = base(shared, views, notif.pid) else {
        return undecided(shared, format_args!("{what}: no container root"));
    };
    match resolve::resolve_open(root, file) {
        Ok(r) => decide_mapped(shared, cache, notif, syscall, &r, may_defer),
        Err(e) => undecided(shared, format_args!("{what}: cannot name the file: {e}")),
    }
}

/// Decides one mapped file as a library.
fn decide_mapped(
    shared: &Shared,
    cache: &mut ThreadCache,
    notif: &Notification,
    syscall: &str,
    r: &Resolved,
    may_defer: bool,
) -> Ended {
    if !r.meta.is_file() || r.memfd || resolve::is_memory_file(&r.file, &r.meta) {
        return Ended::NotAFile;
    }
    // `ld.so ./bin` mapping the program its exec was decided (and reported) on.
    if cache.is_operand(notif.pid, &scrun_detect::FileKey::from_metadata(&r.meta)) {
        return Ended::Decided(Answer::Continue);
    }
    let ctx = &shared.engine;
    let target = target_of(r);
    if let Some(v) = ctx
        .engine
        .quiet_verdict(&target, &r.meta, LoadedAs::Library)
    {
        return Ended::Decided(answer_of(v));
    }
    if may_defer && r.meta.len() > INLINE_HASH_MAX && !ctx.engine.has_verdict(&target, &r.meta) {
        return Ended::Decided(Answer::Defer);
    }
    let path = r.path.as_os_str().as_encoded_bytes();
    let mut cmdline = Cmdline {
        pid: notif.pid,
        value: None,
    };
    let d = decide(
        ctx,
        &shared.log,
        notif.pid,
        path,
        &mut cmdline,
        None,
        syscall,
        r,
        Via {
            library: true,
            ..Via::default()
        },
    );
    Ended::Decided(answer_of(d.verdict))
}

fn answer_of(v: Verdict) -> Answer {
    match v {
        Verdict::Allow => Answer::Continue,
        Verdict::Block => Answer::Errno(libc::EPERM),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::testutil::Fixture;
    use scrun_kernel::notify::AUDIT_ARCH_X86_64;

    fn personality_call(persona: u64) -> (Notification, MapCall) {
        let n = Notification {
            id: 1,
            pid: std::process::id(),
            nr: 135,
            arch: AUDIT_ARCH_X86_64,
            ip: 0,
            args: [persona, 0, 0, 0, 0, 0],
        };
        (n, n.map_call().expect("personality decodes"))
    }

    fn opened(fx: &Fixture, path: &str) -> Resolved {
        let root = RootDir::open_path(&fx.rootfs).unwrap();
        let file = std::fs::File::open(fx.host_path(path)).unwrap();
        resolve::resolve_open(&root, file).unwrap()
    }

    fn findings(fx: &Fixture) -> Vec<serde_json::Value> {
        std::fs::read_to_string(fx.dir.path().join("findings.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_listed_file_is_refused_when_mappings_are_enforced_and_reported_as_a_library() {
        for (mode, refused) in [(Mode::Enforce, true), (Mode::Audit, false)] {
            let fx = Fixture::new(mode);
            let shared = Shared::new(&fx.sdir).unwrap();
            let (n, _) = personality_call(0);
            let r = opened(&fx, "/bin/evil");
            assert_eq!(r.path, std::path::Path::new("/bin/evil"));
            let answer =
                match decide_mapped(&shared, &mut ThreadCache::default(), &n, "mmap", &r, true) {
                    Ended::Decided(a) => a,
                    _ => panic!("not decided"),
                };
            match (answer, refused) {
                (Answer::Errno(libc::EPERM), true) | (Answer::Continue, false) => {}
                _ => panic!("wrong answer in {mode:?}"),
            }
            let f = findings(&fx);
            assert_eq!(f.len(), 1, "{f:?}");
            // The plain rootfs gives unknown provenance: a listed file is "built in".
            assert_eq!(
                f[0]["category"],
                "Execution: Built in Malicious Library Loaded"
            );
            let p0 = &f[0]["processes"][0];
            assert_eq!(p0["libraries"][0]["path"], "/bin/evil");
            assert_eq!(p0["libraries"][0]["sha256"], fx.evil_sha);
            // The mapping process is this test, named by its own executable.
            let exe = std::fs::read_link("/proc/self/exe").unwrap();
            assert_eq!(p0["binary"]["path"], exe.display().to_string());
            assert_eq!(f[0]["sourceProperties"]["scrun_syscall"], "mmap");
            // A clean file: allowed, no finding, and the second time from the cache alone.
            let ok = opened(&fx, "/bin/ok");
            for _ in 0..2 {
                assert!(matches!(
                    decide_mapped(&shared, &mut ThreadCache::default(), &n, "mmap", &ok, true),
                    Ended::Decided(Answer::Continue)
                ));
            }
            assert_eq!(findings(&fx).len(), 1);
            let target = target_of(&ok);
            assert_eq!(
                shared
                    .engine
                    .engine
                    .quiet_verdict(&target, &ok.meta, LoadedAs::Library),
                Some(Verdict::Allow)
            );
        }
    }

    #[test]
    fn the_program_a_loader_was_asked_to_run_is_not_a_second_finding() {
        let fx = Fixture::new(Mode::Audit);
        let shared = Shared::new(&fx.sdir).unwrap();
        let (n, _) = personality_call(0);
        let r = opened(&fx, "/bin/evil");
        let mut cache = ThreadCache::default();
        // `ld.so /bin/evil` was decided (and reported) at its exec by this pid.
        cache.note_operand(n.pid, scrun_detect::FileKey::from_metadata(&r.meta));
        assert!(matches!(
            decide_mapped(&shared, &mut cache, &n, "mmap", &r, true),
            Ended::Decided(Answer::Continue)
        ));
        assert!(findings(&fx).is_empty());
        // Another process mapping the same file is a library load.
        let other = Notification {
            pid: n.pid + 1,
            ..n
        };
        decide_mapped(&shared, &mut cache, &other, "mmap", &r, true);
        assert_eq!(findings(&fx).len(), 1);
    }

    #[test]
    fn memory_files_and_devices_are_not_decided() {
        let fx = Fixture::new(Mode::Enforce);
        let shared = Shared::new(&fx.sdir).unwrap();
        let (n, _) = personality_call(0);
        let root = RootDir::open_path(&fx.rootfs).unwrap();
        let memfd =
            nix::sys::memfd::memfd_create(c"jit", nix::sys::memfd::MemFdCreateFlag::empty())
                .unwrap();
        let r = resolve::resolve_open(&root, std::fs::File::from(memfd)).unwrap();
        assert!(matches!(
            decide_mapped(&shared, &mut ThreadCache::default(), &n, "mmap", &r, true),
            Ended::NotAFile
        ));
        let zero = std::fs::File::open("/dev/zero").unwrap();
        let r = resolve::resolve_open(&root, zero).unwrap();
        assert!(matches!(
            decide_mapped(&shared, &mut ThreadCache::default(), &n, "mmap", &r, true),
            Ended::NotAFile
        ));
        assert!(findings(&fx).is_empty());
    }

    #[test]
    fn read_implies_exec_is_refused_only_when_enforced() {
        for (mode, want) in [(Mode::Enforce, Some(libc::EPERM)), (Mode::Audit, None)] {
            let fx = Fixture::new(mode);
            let shared = Shared::new(&fx.sdir).unwrap();
            let (n, call) = personality_call(scrun_kernel::notify::READ_IMPLIES_EXEC);
            match (personality(&shared, &n, &call), want) {
                (Ended::Decided(Answer::Errno(e)), Some(w)) => assert_eq!(e, w),
                (Ended::Decided(Answer::Continue), None) => {}
                _ => panic!("wrong answer in {mode:?}"),
            }
            assert!(fx.log().contains("READ_IMPLIES_EXEC"), "{}", fx.log());
            // The query never is.
            let (n, call) = personality_call(scrun_kernel::notify::PERSONALITY_QUERY);
            assert!(matches!(personality(&shared, &n, &call), Ended::NotAFile));
        }
    }
}
