//! One listener fd: receive a notification, read the exec's path and argv from the target's memory
//! (bounded, `process_vm_readv`), re-check the notification id, resolve the target inside the
//! container's root, let the engine decide, write the finding, answer — all on this thread.

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use scrun_detect::engine::{ContainerIdentity, Decision, Engine, ExecEvent, ProcessInfo, Verdict};
use scrun_detect::feeds::{FeedSet, Intel};
use scrun_detect::policy::{Config, Mode};
use scrun_detect::{HashCache, Target};
use scrun_findings::sink::{FileSink, MultiSink, Sink, StdoutSink};
use scrun_kernel::memory::{self, MemError};
use scrun_kernel::notify::{Listener, NotifyError, Readiness};
use scrun_kernel::view::Views;
use scrun_kernel::{elf, resolve};

use super::Shared;
use crate::scrun_dir::Meta;

const PATH_MAX: usize = 4096;
const MAX_ARGS: usize = 4096;
const MAX_ARG_BYTES: usize = 128 * 1024;
const MAX_ENV: usize = 1024;
const MAX_ENV_BYTES: usize = 64 * 1024;

/// Everything a listener thread needs to decide, built once per supervisor.
pub struct Context {
    /// The rootfs as the host sees it (the exec gate reports host paths under it).
    pub rootfs: std::path::PathBuf,
    pub engine: Engine,
    pub config: Arc<Config>,
    pub mode: Mode,
    pub sink: Box<dyn Sink>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Feed(#[from] scrun_detect::feeds::FeedError),
    #[error(transparent)]
    Sink(#[from] scrun_findings::sink::SinkError),
    #[error("invalid mode {0:?}")]
    Mode(String),
    #[error(transparent)]
    Index(#[from] scrun_detect::index::IndexError),
    #[error("cannot start the response hook runner: {0}")]
    HookRunner(std::io::Error),
}

/// Feeds first, then the compiled index: the first source that lists a hash names it.
struct Sources(Vec<Arc<dyn Intel>>);

impl Intel for Sources {
    fn lookup(&self, sha256: &[u8; 32]) -> Option<scrun_detect::feeds::IntelMatch> {
        self.0.iter().find_map(|s| s.lookup(sha256))
    }

    fn generation(&self) -> u64 {
        self.0
            .iter()
            .map(|s| s.generation())
            .fold(0, u64::wrapping_add)
    }
}

fn intel_sources(
    feeds: &[scrun_detect::feeds::FeedSpec],
    index: Option<&std::path::Path>,
) -> Result<Option<Arc<dyn Intel>>, SetupError> {
    let mut v: Vec<Arc<dyn Intel>> = Vec::new();
    if !feeds.is_empty() {
        v.push(Arc::new(FeedSet::load(feeds)?));
    }
    if let Some(p) = index {
        v.push(Arc::new(scrun_detect::index::SharedIndex::open(p)?));
    }
    Ok(match v.len() {
        0 => None,
        1 => v.pop(),
        _ => Some(Arc::new(Sources(v))),
    })
}

impl Context {
    pub fn new(
        meta: &Meta,
        config: Config,
        sdir: &crate::scrun_dir::ScrunDir,
    ) -> Result<Self, SetupError> {
        let config = Arc::new(config);
        let mode: Mode = meta
            .mode
            .parse()
            .map_err(|_| SetupError::Mode(meta.mode.clone()))?;
        let intel = intel_sources(&config.intel.feeds, config.intel.index.as_deref())?
            .unwrap_or_else(|| Arc::new(FeedSet::empty()));
        let allow = intel_sources(
            &config.intel.allow_feeds,
            config.intel.allow_index.as_deref(),
        )?;
        let cache = Arc::new(HashCache::new(
            16 * 1024,
            config.supervisor.hash_cache_dir.clone(),
        ));
        let ident = crate::identity::resolve(meta);
        let identity = ContainerIdentity {
            id: meta.id.clone(),
            name: ident.name,
            image_uri: ident.image_uri,
            image_id: ident.image_id,
            labels: ident.labels,
            created: ident
                .created
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok())
                .map(|c| c.with_timezone(&chrono::Utc)),
            caller: meta.caller.clone(),
        };
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(path) = &config.findings.path {
            let mut file = FileSink::open(path)?;
            if let Some(max) = config.findings.rotate_bytes {
                file = file.with_rotation(max, config.findings.rotate_keep);
            }
            sinks.push(Box::new(file));
        }
        if config.findings.stdout {
            sinks.push(Box::new(StdoutSink));
        }
        // Started here, before the worker confines itself: the webhook thread resolves its host
        // now, and the hook runner is a separate, unconfined process fed through a pipe.
        if let Some(w) = &config.findings.webhook {
            sinks.push(Box::new(scrun_findings::webhook::WebhookSink::new(
                &w.url,
                w.options(),
            )?));
        }
        if !config.findings.hooks.is_empty() {
            let specs: Vec<_> = config.findings.hooks.iter().map(|h| h.spec()).collect();
            let pipe = super::spawn_hook_runner(sdir).map_err(SetupError::HookRunner)?;
            sinks.push(Box::new(
                scrun_findings::hooks::PipeSink::new(pipe)?.for_hooks(&specs),
            ));
        }
        let engine = Engine::new(
            Arc::clone(&config),
            mode,
            intel,
            allow,
            cache,
            meta.layers.clone(),
            meta.rootfs_dev,
            identity,
        );
        Ok(Self {
            rootfs: meta.rootfs.clone(),
            engine,
            config,
            mode,
            sink: Box::new(MultiSink(sinks)),
        })
    }
}

/// What the seccomp path let through, per pid, so the exec gate or watcher can tell whether the
/// file the kernel opened is the one that was decided on. Recorded only once a gate or watcher
/// serves this supervisor (nothing reads it otherwise), and bounded.
#[derive(Default)]
pub struct Decided {
    active: std::sync::atomic::AtomicBool,
    map: std::sync::Mutex<std::collections::HashMap<u32, scrun_detect::FileKey>>,
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
            if m.len() > Self::MAX {
                m.clear();
            }
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

    fn set_gate(&self, gate: Arc<scrun_kernel::gate::ExecGate>) {
        let _ = self.gate.set(gate);
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

/// The lease-break thread: a writer's open of a vetted file waits until this has put the file
/// back under the gate. It has a thread of its own so that a gate thread busy hashing a big file
/// cannot keep a writer waiting into the kernel's lease-break timeout (after which the kernel
/// drops the lease by itself, with the ignore mark still in place).
pub fn serve_lease_breaks(shared: &Shared, breaks: &scrun_kernel::gate::LeaseBreaks) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    loop {
        let mut fds = [PollFd::new(breaks.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                shared.log.error(&format!("lease-break wait: {e}"));
                return;
            }
        }
        if breaks.drain() {
            shared.vetted.on_lease_break();
        }
    }
}

/// The keeper's message that carries the exec gate's fanotify group instead of a listener.
pub const GATE_MESSAGE: &[u8] = br#"{"scrunGate":true,"fds":["gateFd"]}"#;
/// The same for audit mode's watcher (a notification-class group).
pub const WATCHER_MESSAGE: &[u8] = br#"{"scrunGate":true,"watcher":true,"fds":["gateFd"]}"#;

/// Whether a listener message is the container init's (libcontainer sends status "creating").
pub fn is_init_state(state: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(state)
        .ok()
        .and_then(|v| {
            v.pointer("/state/status")
                .and_then(|s| s.as_str())
                .map(|s| s == "creating")
        })
        .unwrap_or(false)
}

/// One connection on the listener socket: the OCI container process state plus the listener fd.
pub fn serve_connection(shared: &Arc<Shared>, stream: UnixStream) {
    let (state, fds) = match scrun_kernel::listener::receive_process_state(&stream, 64 * 1024) {
        Ok(v) => v,
        Err(e) => {
            shared.log.warn(&format!("bad listener message: {e}"));
            return;
        }
    };
    drop(stream);
    if state == GATE_MESSAGE || state == WATCHER_MESSAGE {
        if let Some(fd) = fds.into_iter().next() {
            shared.allowed.activate();
            let gate = Arc::new(if state == WATCHER_MESSAGE {
                scrun_kernel::gate::ExecGate::watcher_from(fd)
            } else {
                scrun_kernel::gate::ExecGate::from(fd)
            });
            shared.vetted.set_gate(Arc::clone(&gate));
            serve_gate(shared, &gate);
        }
        return;
    }
    let fd = match scrun_kernel::listener::pick_seccomp_fd(&state, fds) {
        Ok(fd) => fd,
        Err(e) => {
            shared
                .log
                .warn(&format!("listener message without a seccomp fd: {e}"));
            return;
        }
    };
    if is_init_state(&state) {
        shared.init_seen.store(true, Ordering::SeqCst);
    }
    serve_listener(shared, Listener::new(fd));
}

fn serve_listener(shared: &Arc<Shared>, listener: Listener) {
    let listener = Arc::new(listener);
    let mut views = Views::default();
    let mut cache = ThreadCache::default();
    listener.set_sync_wakeup();
    loop {
        // RECV blocks by itself (no poll first: one syscall less per exec). It fails with
        // ENOENT for a notification whose task was interrupted, and once no task uses the
        // filter any more: only then does poll report the hang-up.
        let notif = match listener.recv() {
            Ok(n) => n,
            Err(NotifyError::Gone) => match listener.wait(0) {
                Ok(Readiness::Hangup) => return,
                Ok(_) => continue,
                Err(e) => {
                    shared
                        .log
                        .error(&format!("poll on a seccomp listener: {e}"));
                    return;
                }
            },
            Err(e) => {
                shared
                    .log
                    .error(&format!("seccomp notification receive: {e}"));
                if matches!(e, NotifyError::BadListener { .. }) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(shared, &listener, &mut views, &mut cache, &notif, true)
        }))
        .unwrap_or_else(|panic| {
            // The thread's state may be what panicked: start it over (fresh caches, the same
            // container root).
            views = views.fork();
            cache = ThreadCache::default();
            contained_panic(shared, &notif, panic.as_ref())
        });
        if let Answer::Defer = answer {
            defer(shared, &listener, &views, notif);
            continue;
        }
        respond(shared, &listener, &notif, answer);
    }
}

fn respond(
    shared: &Shared,
    listener: &Listener,
    notif: &scrun_kernel::notify::Notification,
    answer: Answer,
) {
    let sent = match answer {
        Answer::Continue => listener.respond_continue(notif.id),
        Answer::Errno(e) => listener.respond_errno(notif.id, e),
        Answer::None | Answer::Defer => Ok(()),
    };
    if let Err(e) = sent {
        if !matches!(e, NotifyError::Gone) {
            shared
                .log
                .error(&format!("seccomp answer for pid {}: {e}", notif.pid));
        }
    }
}

/// An exec whose file must be hashed (a big file the caches do not know) is decided on the
/// hash pool, so that this thread goes on answering the container's other execs; the job
/// decides it from the start again (its own caches, the same container root) and answers.
fn defer(
    shared: &Arc<Shared>,
    listener: &Arc<Listener>,
    views: &Views,
    notif: scrun_kernel::notify::Notification,
) {
    let (sh, l, mut v) = (Arc::clone(shared), Arc::clone(listener), views.fork());
    let job: scrun_detect::hashpool::Job = Box::new(move || {
        let mut cache = ThreadCache::default();
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(&sh, &l, &mut v, &mut cache, &notif, false)
        }))
        .unwrap_or_else(|panic| contained_panic(&sh, &notif, panic.as_ref()));
        respond(&sh, &l, &notif, answer);
    });
    if let Err(job) = shared.pool.submit(job) {
        job(); // the pool is full: decide here (slower, but bounded)
    }
}

/// A panic while deciding one exec: logged and counted for `scrun state`;
/// the exec fails closed in enforce mode and is let through in audit mode. Never a hang.
fn contained_panic(
    shared: &Shared,
    notif: &scrun_kernel::notify::Notification,
    panic: &(dyn std::any::Any + Send),
) -> Answer {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let enforce = shared.engine.mode == Mode::Enforce;
    let msg = format!(
        "exec decision for pid {} panicked ({what}); the exec was {}",
        notif.pid,
        if enforce { "denied" } else { "allowed" }
    );
    shared.log.error(&msg);
    super::health::note_failure(&shared.sdir, &msg);
    if enforce {
        Answer::Errno(libc::EPERM)
    } else {
        Answer::Continue
    }
}

/// A string array of the exec (argv or envp), read from the target's memory on first use (and
/// the notification then re-checked, as for the path): only a finding or a `ld.so`/`sh`
/// indirection needs them, so most execs never read them.
pub struct LazyStrings<'a> {
    /// (listener, notification id, pid, array pointer, 32-bit task, max items, max bytes);
    /// `None`: there is nothing to read (an exec gate event).
    from: Option<(&'a Listener, u64, u32, u64, bool, usize, usize)>,
    value: Option<(Vec<Vec<u8>>, bool)>,
}

impl<'a> LazyStrings<'a> {
    fn of(
        listener: &'a Listener,
        notif: &scrun_kernel::notify::Notification,
        ptr: u64,
        compat32: bool,
        (max_items, max_bytes): (usize, usize),
    ) -> Self {
        LazyStrings {
            from: Some((
                listener, notif.id, notif.pid, ptr, compat32, max_items, max_bytes,
            )),
            value: None,
        }
    }

    pub fn none() -> Self {
        LazyStrings {
            from: None,
            value: None,
        }
    }

    /// Strings known in advance (the entrypoint precheck reads argv from the spec).
    pub fn known(items: Vec<Vec<u8>>) -> Self {
        LazyStrings {
            from: None,
            value: Some((items, false)),
        }
    }

    /// The strings and whether they were cut at the bound; empty when unreadable.
    fn get(&mut self) -> (&[Vec<u8>], bool) {
        if self.value.is_none() {
            let read = self
                .from
                .and_then(|(listener, id, pid, ptr, compat32, n, bytes)| {
                    let a = memory::read_string_array(pid, ptr, compat32, n, bytes).ok()?;
                    listener.id_valid(id).then_some((a.items, a.truncated))
                });
            self.value = Some(read.unwrap_or_default());
        }
        let (items, truncated) = self.value.as_ref().expect("set above");
        (items, *truncated)
    }
}

/// Per listener thread: what was learnt about recently exec'd files, keyed by (dev, ino, size,
/// mtime, ctime) so that a changed file is never mistaken for the one seen.
pub struct ThreadCache {
    images: scrun_detect::engine::Bounded<scrun_detect::FileKey, Option<elf::Image>>,
}

impl Default for ThreadCache {
    fn default() -> Self {
        ThreadCache {
            images: scrun_detect::engine::Bounded::new(4096),
        }
    }
}

impl ThreadCache {
    /// What the kernel makes of the file's content (`#!` script, ELF and its interpreter).
    pub fn image(
        &mut self,
        key: &scrun_detect::FileKey,
        r: &resolve::Resolved,
    ) -> Option<elf::Image> {
        if let Some(v) = self.images.get(key) {
            return v;
        }
        let v = elf::inspect(r.readable().ok()?).ok();
        self.images.insert(*key, v.clone());
        v
    }

    fn shebang(&mut self, key: &scrun_detect::FileKey, r: &resolve::Resolved) -> Option<String> {
        match self.image(key, r)? {
            elf::Image::Script { interpreter, .. } => Some(lossy(&interpreter)),
            _ => None,
        }
    }
}

enum Answer {
    Continue,
    Errno(i32),
    None,
    /// Decide on the hash pool (see [`defer`]).
    Defer,
}

fn mem_errno(e: &MemError) -> Option<i32> {
    match e {
        MemError::Gone { .. } => None,
        MemError::TooLong { .. } => Some(libc::ENAMETOOLONG),
        _ => Some(libc::EFAULT),
    }
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn handle(
    shared: &Shared,
    listener: &Listener,
    views: &mut Views,
    cache: &mut ThreadCache,
    notif: &scrun_kernel::notify::Notification,
    may_defer: bool,
) -> Answer {
    let ctx = &shared.engine;
    let enforce = ctx.mode == Mode::Enforce;
    let Some(call) = notif.exec_call() else {
        // chroot/pivot_root (the only other trapped syscalls): from now on no exec in this
        // container is resolved in an assumed root. Set before the call may run.
        shared.views_tainted.store(true, Ordering::Release);
        return Answer::Continue;
    };
    let pid = notif.pid;
    let fail = |what: &str| {
        shared.log.error(what);
        if enforce && ctx.config.supervisor.on_error == scrun_detect::policy::OnError::Deny {
            Answer::Errno(libc::EPERM)
        } else {
            Answer::Continue
        }
    };
    // The kernel itself would fail an exec whose path cannot be read: answer as it would.
    let path = match memory::read_cstring(pid, call.path_ptr, PATH_MAX) {
        Ok(p) => p,
        Err(e) => return mem_errno(&e).map_or(Answer::None, Answer::Errno),
    };
    #[cfg(debug_assertions)]
    if let Some(end) = &ctx.config.supervisor.test_panic_on {
        assert!(
            !path.ends_with(end.as_bytes()),
            "test_panic_on: exec of {}",
            lossy(&path)
        );
    }
    let mut argv = LazyStrings::of(
        listener,
        notif,
        call.argv_ptr,
        call.compat32,
        (MAX_ARGS, MAX_ARG_BYTES),
    );
    let mut env = ctx.config.findings.include_env.then(|| {
        LazyStrings::of(
            listener,
            notif,
            call.envp_ptr,
            call.compat32,
            (MAX_ENV, MAX_ENV_BYTES),
        )
    });
    // What we read may have been from a process that has since gone or been interrupted.
    if !listener.id_valid(notif.id) {
        return Answer::None;
    }
    // The caller's own view: its root (chroot) in its own mount namespace.
    let tainted = shared.views_tainted.load(Ordering::Acquire);
    let (mut view, _) = match views.view(pid, tainted) {
        Ok(v) => v,
        Err(e) => return fail(&format!("cannot open the root of pid {pid}: {e}")),
    };
    let resolved = match resolve::resolve_exec_cached(
        view.root,
        pid,
        call.dirfd,
        &path,
        call.empty_path(),
        call.nofollow(),
        view.paths,
    ) {
        Ok(r) => r,
        // The kernel will fail this exec the same way; enforce mode answers it itself.
        Err(e) => {
            return if enforce {
                Answer::Errno(e.errno())
            } else {
                Answer::Continue
            };
        }
    };
    let (resolved, caller_path) = view.in_container(resolved);
    let file_key = scrun_detect::FileKey::from_metadata(&resolved.meta);
    if may_defer
        && resolved.meta.len() > INLINE_HASH_MAX
        && !ctx
            .engine
            .has_verdict(&target_of(&resolved), &resolved.meta)
    {
        return Answer::Defer;
    }
    let syscall = if matches!(call.kind, scrun_kernel::notify::ExecKind::Execve) {
        "execve"
    } else {
        "execveat"
    };
    // A `#!` script: reported on the script's own decision; its interpreter is decided below.
    let shebang = cache.shebang(&file_key, &resolved);
    let via = Via {
        interpreter: shebang,
        caller_path: caller_path.map(|p| p.display().to_string()),
        ..Via::default()
    };
    let mut verdict = decide(
        ctx,
        &shared.log,
        pid,
        &path,
        &mut argv,
        env.as_mut(),
        syscall,
        &resolved,
        via,
    )
    .verdict;
    // Every other file the kernel loads for this exec (each `#!` interpreter, the ELF program
    // interpreter) and what a loader is asked to run: each decided like an exec.
    let more = super::loaded::chain(&mut view, cache, pid, &resolved, &path, &mut argv);
    for (file, caller_path, via) in more {
        let d = decide(
            ctx,
            &shared.log,
            pid,
            &path,
            &mut argv,
            env.as_mut(),
            syscall,
            &file,
            Via {
                caller_path: caller_path.map(|p| p.display().to_string()),
                ..via
            },
        );
        if d.verdict == Verdict::Block {
            verdict = Verdict::Block;
        }
    }
    if verdict == Verdict::Allow
        && !shared
            .vetted
            .vet_with(&file_key, || resolved.readable().ok())
    {
        shared.allowed.record(pid, file_key);
    }
    match verdict {
        Verdict::Allow => Answer::Continue,
        Verdict::Block => Answer::Errno(libc::EPERM),
    }
}

/// Files up to this size are hashed on the notification thread (about half a millisecond);
/// bigger ones the caches do not know are decided on the hash pool.
const INLINE_HASH_MAX: u64 = 1 << 20;

fn target_of(resolved: &resolve::Resolved) -> Target {
    use std::os::unix::fs::MetadataExt;
    Target {
        path: resolved.path.clone(),
        dev: resolved.meta.dev(),
        ino: resolved.meta.ino(),
        memfd: resolved.memfd,
        unlinked: resolved.meta.nlink() == 0,
    }
}

/// The exec gate: every file the kernel opens for exec on the container's overlay stops here
/// (enforce mode). A file the seccomp path already decided for the same pid and identical
/// (dev, ino, size, mtime, ctime) is let through without hashing; anything else — a path swapped by
/// another thread after the decision, a file renamed over or rewritten, the ELF interpreter — is
/// decided on the opened file itself. A read lease is held from the decision until well after the
/// answer: the kernel raises the event before it denies writers to the file, so a writer that
/// slipped in right after the answer could still change what runs. Rather than polling
/// `/proc/<pid>` until the exec is past that point (which costs every exec a procfs walk), the
/// allowed event — its file, and so its lease — is kept open for `LEASE_HOLD` by a releaser
/// thread; a writer meanwhile waits, then finds the running binary busy (ETXTBSY).
fn serve_gate(shared: &Shared, gate: &scrun_kernel::gate::ExecGate) {
    if let Err(e) = scrun_kernel::gate::ignore_lease_break_signal() {
        shared
            .log
            .error(&format!("cannot ignore SIGIO for read leases: {e}"));
    }
    let (held_tx, held_rx) =
        std::sync::mpsc::channel::<(std::time::Instant, scrun_kernel::gate::GateEvent)>();
    std::thread::spawn(move || {
        // Events arrive in deadline order: drop each (closing its file ends its lease) on time.
        for (deadline, ev) in held_rx {
            let now = std::time::Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
            drop(ev);
        }
    });
    loop {
        match gate.wait(-1) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                shared.log.error(&format!("exec gate wait: {e}"));
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        }
        let events = match gate.read_events() {
            Ok(ev) => ev,
            Err(e) => {
                shared.log.error(&format!("exec gate read: {e}"));
                continue;
            }
        };
        for ev in events {
            if ev.needs_response() {
                if gate_decide(shared, gate, &ev) {
                    let _ = held_tx.send((std::time::Instant::now() + LEASE_HOLD, ev));
                }
            } else if ev.is_overflow() {
                shared.log.error("exec gate queue overflow");
            } else {
                watch_check(shared, &ev);
            }
        }
    }
}

/// The in-container path of a gate event's file: fanotify reports it relative to the opener's
/// root (or under the rootfs when opened from the host), with " (deleted)" once renamed over.
fn gate_event_path(shared: &Shared, ev: &scrun_kernel::gate::GateEvent) -> std::path::PathBuf {
    let path = ev.path().unwrap_or_default();
    let path = match path.to_str().and_then(|p| p.strip_suffix(" (deleted)")) {
        Some(p) => std::path::PathBuf::from(p),
        None => path,
    };
    match path.strip_prefix(&shared.engine.rootfs) {
        Ok(p) => std::path::Path::new("/").join(p),
        Err(_) => path,
    }
}

/// Decides on the file a gate or watcher event opened (the seccomp path decided on another one,
/// or on none); `None` when the file cannot be duplicated.
fn decide_opened(
    shared: &Shared,
    ev: &scrun_kernel::gate::GateEvent,
    file: &std::fs::File,
    meta: std::fs::Metadata,
    via: Via,
) -> Option<Decision> {
    let resolved =
        resolve::Resolved::opened(file.try_clone().ok()?, gate_event_path(shared, ev), meta);
    let syscall = via.decided_by.unwrap_or("exec-gate");
    Some(decide(
        &shared.engine,
        &shared.log,
        u32::try_from(ev.pid).unwrap_or(0),
        resolved.path.as_os_str().as_encoded_bytes(),
        &mut LazyStrings::none(),
        None,
        syscall,
        &resolved,
        via,
    ))
}

/// Audit mode's watcher: the exec already happened (nothing waits for this); if the file the
/// kernel opened is not the one the seccomp path allowed for that pid, decide on what really ran
/// and say so in the finding.
fn watch_check(shared: &Shared, ev: &scrun_kernel::gate::GateEvent) {
    let Some(file) = ev.file() else { return };
    let Ok(meta) = file.metadata() else { return };
    let key = scrun_detect::FileKey::from_metadata(&meta);
    let changed = match shared.allowed.take(ev.pid) {
        Some(decided) if decided == key => {
            shared.vetted.vet(file, &key);
            return;
        }
        Some(_) => {
            shared.log.warn(&format!(
                "pid {}: the file exec'd is not the one decided on",
                ev.pid
            ));
            true
        }
        // An ELF interpreter, or an exec the seccomp path did not see: decided here (once:
        // an allowed file is then vetted and raises no more events until written).
        None => false,
    };
    let decision = decide_opened(
        shared,
        ev,
        file,
        meta,
        Via {
            decided_by: Some("exec-watch"),
            changed_after_decision: changed,
            ..Via::default()
        },
    );
    if decision.is_some_and(|d| d.verdict == Verdict::Allow) {
        shared.vetted.vet(file, &key);
    }
}

/// How long an allowed exec's file stays leased after the answer (see [`serve_gate`]).
const LEASE_HOLD: std::time::Duration = std::time::Duration::from_millis(100);

/// Decides one gate event and answers it; true when allowed with its lease still held (the caller
/// keeps the event, and so the lease, for [`LEASE_HOLD`]).
fn gate_decide(
    shared: &Shared,
    gate: &scrun_kernel::gate::ExecGate,
    ev: &scrun_kernel::gate::GateEvent,
) -> bool {
    let respond = |allow: bool| {
        if let Err(e) = gate.respond(ev, allow) {
            shared
                .log
                .error(&format!("exec gate answer for pid {}: {e}", ev.pid));
        }
    };
    let Some(file) = ev.file() else {
        respond(false);
        return false;
    };
    let Ok(meta) = file.metadata() else {
        respond(false);
        return false;
    };
    // Freeze the content: a writer now blocks, and an exec of a file open for write is denied.
    // The lease lasts until the event's file is closed too: after LEASE_HOLD when allowed (or
    // for as long as `vetted` keeps it), at once when denied.
    let _lease = match scrun_kernel::gate::HeldLease::take(file) {
        Ok(l) => l,
        Err(e) => {
            shared.log.warn(&format!(
                "exec of a file open for writing denied (pid {}): {e}",
                ev.pid
            ));
            respond(false);
            return false;
        }
    };
    let key = scrun_detect::FileKey::from_metadata(&meta);
    let seen = shared.allowed.take(ev.pid) == Some(key);
    let allow = seen
        || decide_opened(
            shared,
            ev,
            file,
            meta,
            Via {
                decided_by: Some("exec-gate"),
                ..Via::default()
            },
        )
        .is_some_and(|d| d.verdict == Verdict::Allow);
    if allow {
        // Vetted before the answer: the lease it keeps outlives the event's LEASE_HOLD.
        shared.vetted.vet(file, &key);
    }
    respond(allow);
    allow
}

/// How the decided file is run when it is not exec'd directly.
#[derive(Default)]
pub struct Via {
    pub interpreter: Option<String>,
    pub loader: Option<String>,
    /// Decided on the opened file by the exec gate (`"exec-gate"`) or watcher (`"exec-watch"`):
    /// the seccomp path saw something else.
    pub decided_by: Option<&'static str>,
    /// The file that was opened is not the one the seccomp path decided on (audit mode).
    pub changed_after_decision: bool,
    /// The path as the exec's caller saw it, when it differs from the container path (the
    /// caller is in a chroot or another mount namespace).
    pub caller_path: Option<String>,
}

/// The interpreter of a `#!` script (one pread of the file's head).
pub fn shebang_interpreter(file: &std::fs::File) -> Option<String> {
    let head = resolve::read_head(file, 256).ok()?;
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|c| *c == b'\n').next()?;
    let interp = lossy(line).split_whitespace().next()?.to_string();
    (!interp.is_empty()).then_some(interp)
}

const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "ksh", "mksh", "zsh"];
/// ld.so options that take a value.
const LOADER_VALUE_OPTS: &[&str] = &[
    "--library-path",
    "--inhibit-rpath",
    "--audit",
    "--preload",
    "--argv0",
    "--glibc-hwcaps-prepend",
    "--glibc-hwcaps-mask",
];

/// The file that really runs when the exec target is the dynamic loader (`ld.so ./bin`) or a
/// shell given a script (`sh ./script.sh`, best effort: the shell reads it with a plain open).
/// `is_loader`: the target is a loader by its content (scrun-kernel `elf`), whatever its name.
pub fn indirect_target(
    root: &resolve::RootDir,
    pid: u32,
    resolved: &resolve::Resolved,
    requested: &[u8],
    argv: &mut LazyStrings<'_>,
    is_loader: bool,
) -> Option<(resolve::Resolved, Via)> {
    let name = resolved.path.file_name()?.to_string_lossy().into_owned();
    // busybox runs the applet named by argv[0]. argv is read only when the path asked for could
    // be a shell (`/bin/sh` -> busybox, or busybox itself): `/bin/true` -> busybox is not. A
    // caller that passes a shell's argv[0] with another applet's path is not seen (this check
    // is best effort anyway: `sh < script` is not seen either).
    let requested_name = requested.rsplit(|c| *c == b'/').next().unwrap_or_default();
    let busybox_shell = name == "busybox"
        && (requested_name == b"busybox" || SHELLS.iter().any(|s| s.as_bytes() == requested_name))
        && {
            let arg0 = argv.get().0.first().map(|a| lossy(a)).unwrap_or_default();
            let arg0_name = std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            SHELLS.contains(&arg0_name.as_str())
        };
    let is_shell = SHELLS.contains(&name.as_str()) || busybox_shell;
    if !is_loader && !is_shell {
        return None;
    }
    let argv = argv.get().0;
    let candidate: &[u8] = if is_loader {
        let mut it = argv.iter().skip(1);
        loop {
            let a = it.next()?;
            let s = lossy(a);
            if LOADER_VALUE_OPTS.contains(&s.as_str()) {
                it.next()?;
            } else if !s.starts_with("--") {
                break a;
            }
        }
    } else if is_shell {
        let a = argv.get(1)?;
        if a.first() == Some(&b'-') || a.is_empty() {
            return None;
        }
        a
    } else {
        return None;
    };
    let target = resolve::resolve_exec(root, pid, None, candidate, false, false).ok()?;
    if !target.meta.is_file() {
        return None;
    }
    // A loader runs ELF files only (a static-pie program given some other file is not one).
    if is_loader
        && !matches!(
            target.readable().ok().and_then(|f| elf::inspect(f).ok()),
            Some(elf::Image::Elf(_))
        )
    {
        return None;
    }
    let via = if is_loader {
        Via {
            loader: Some(resolved.path.display().to_string()),
            ..Via::default()
        }
    } else {
        Via {
            interpreter: Some(resolved.path.display().to_string()),
            ..Via::default()
        }
    };
    Some((target, via))
}

/// Provenance, hash, feeds, policy and the finding for one resolved exec target.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    ctx: &Context,
    log: &super::RateLimitedLog,
    pid: u32,
    path: &[u8],
    argv: &mut LazyStrings<'_>,
    env: Option<&mut LazyStrings<'_>>,
    syscall: &str,
    resolved: &resolve::Resolved,
    via: Via,
) -> Decision {
    let target = target_of(resolved);
    let process = ProcessInfo {
        pid: i64::from(pid),
        ppid: 0,
        name: String::new(),
        binary_path: Some(resolved.path.display().to_string()),
        // Filled in below, only when a finding is written.
        args: Vec::new(),
        args_truncated: false,
    };
    let mut event = ExecEvent {
        time: chrono::Utc::now(),
        syscall: syscall.to_string(),
        process,
        // Filled in below, only when a finding is written.
        env: Vec::new(),
        env_truncated: false,
        parent: None,
        requested_path: lossy(path),
        target,
        interpreter: via.interpreter,
        loader: via.loader,
    };
    let (decided_by, changed) = (via.decided_by, via.changed_after_decision);
    let caller_path = via.caller_path;
    // Only for a finding: argv, the environment and /proc reads for the process and its parent.
    let complete = |event: &mut ExecEvent| {
        let (args, truncated) = argv.get();
        event.process.args = args.iter().map(|a| lossy(a)).collect();
        event.process.args_truncated = truncated;
        if let Some(env) = env {
            let (items, truncated) = env.get();
            event.env = items
                .iter()
                .map(|kv| {
                    let s = lossy(kv);
                    match s.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (s, String::new()),
                    }
                })
                .collect();
            event.env_truncated = truncated;
        }
        enrich(event, pid);
    };
    let mut decision: Decision =
        ctx.engine
            .evaluate_with(&mut event, &resolved.meta, || resolved.readable(), complete);
    if let Some(err) = &decision.error {
        log.warn(&format!(
            "exec of {} in pid {pid}: {err}",
            event.requested_path
        ));
    }
    if let Some(finding) = decision.finding.as_mut() {
        if let Some(by) = decided_by {
            finding.set_prop("scrun_decided_by", by);
        }
        if let Some(p) = &caller_path {
            finding.set_prop("scrun_caller_path", p);
        }
        if changed {
            finding.set_prop("scrun_changed_after_decision", "true");
            finding.description.push_str(
                " The file that ran is not the one scrun decided on when the exec was trapped: it was swapped between the decision and the exec.",
            );
        }
        if let Err(e) = ctx.sink.emit(finding) {
            log.error(&format!("cannot write finding: {e}"));
        }
    }
    decision
}

fn enrich(event: &mut ExecEvent, pid: u32) {
    use scrun_kernel::proc_info;
    let ppid = proc_info::ppid(pid).unwrap_or(0);
    event.process.ppid = i64::from(ppid);
    event.process.name = event
        .target
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if ppid > 0 {
        event.parent = Some(ProcessInfo {
            pid: i64::from(ppid),
            ppid: i64::from(proc_info::ppid(ppid).unwrap_or(0)),
            name: proc_info::comm(ppid).unwrap_or_default(),
            binary_path: proc_info::exe_path(ppid).map(|p| p.display().to_string()),
            args: proc_info::cmdline(ppid, 4096).unwrap_or_default(),
            args_truncated: false,
        });
    }
}
