//! The decision for one exec: provenance + hash + intel + policy -> verdict (+ finding).
//!
//! The event model (what happened) is [`crate::event`]; how it is reported is [`crate::report`].

use std::fs::{File, Metadata};
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use scrun_findings::{Category, Finding};

pub use crate::bounded::Bounded;
pub use crate::event::{ContainerIdentity, Decision, ExecEvent, LoadedAs, ProcessInfo, Verdict};
use crate::feeds::{Intel, IntelMatch};
use crate::hash::{Digest, FileKey, HashCache};
use crate::layers::Rootfs;
use crate::policy::{Action, Config, Mode, OnError};
use crate::provenance::{self, AddedOn, Located, Provenance, Target};

/// Default bound of the per-engine verdict cache.
pub const VERDICT_CACHE_CAPACITY: usize = 4096;

/// What is remembered per file so a warm exec costs one map lookup.
#[derive(Debug, Clone)]
struct Facts {
    digest: Digest,
    provenance: Provenance,
    intel: Option<IntelMatch>,
    allowlisted_hash: bool,
    /// The intel sources' generations the answers above came from.
    intel_generation: (u64, u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct VerdictKey {
    file: FileKey,
    memfd: bool,
    dev_shm: bool,
}

impl VerdictKey {
    fn of(target: &Target, meta: &Metadata) -> Self {
        VerdictKey {
            file: FileKey::from_metadata(meta),
            memfd: target.memfd,
            dev_shm: target.path.starts_with("/dev/shm"),
        }
    }
}

/// Decides execs for one container.
pub struct Engine {
    config: Arc<Config>,
    mode: Mode,
    /// The mode mapped files (libraries) are decided in (`[supervisor] mappings`).
    mapping_mode: Mode,
    intel: Arc<dyn Intel>,
    allow_intel: Option<Arc<dyn Intel>>,
    cache: Arc<HashCache>,
    rootfs: Rootfs,
    rootfs_dev: u64,
    identity: ContainerIdentity,
    verdicts: Mutex<Bounded<VerdictKey, Facts>>,
    rules: Option<crate::rules::ContainerRules>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("mode", &self.mode)
            .field("rootfs", &self.rootfs)
            .field("rootfs_dev", &self.rootfs_dev)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for one container.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        mode: Mode,
        intel: Arc<dyn Intel>,
        allow_intel: Option<Arc<dyn Intel>>,
        cache: Arc<HashCache>,
        rootfs: Rootfs,
        rootfs_dev: u64,
        identity: ContainerIdentity,
    ) -> Self {
        Engine {
            config,
            mode,
            mapping_mode: mode,
            intel,
            allow_intel,
            cache,
            rootfs,
            rootfs_dev,
            identity,
            verdicts: Mutex::new(Bounded::new(VERDICT_CACHE_CAPACITY)),
            rules: None,
        }
    }

    /// This engine deciding mapped files (libraries, [`LoadedAs::Library`]) in `mode` rather
    /// than the container's mode (`[supervisor] mappings`).
    pub fn with_mapping_mode(mut self, mode: Mode) -> Self {
        self.mapping_mode = mode;
        self
    }

    /// The mode `event` is decided in: the container's, or for a library the mappings' one.
    pub fn mode_for(&self, loaded_as: LoadedAs) -> Mode {
        match loaded_as {
            LoadedAs::Exec => self.mode,
            LoadedAs::Library => self.mapping_mode,
        }
    }

    /// This engine with exec rules (evaluated by [`Engine::evaluate_rules`]).
    pub fn with_rules(mut self, rules: crate::rules::ContainerRules) -> Self {
        self.rules = Some(rules);
        self
    }

    /// The container's rules, if any.
    pub fn rules(&self) -> Option<&crate::rules::ContainerRules> {
        self.rules.as_ref()
    }

    /// Evaluates the exec rules on `subject` (the exec `event` as decided by
    /// [`Engine::evaluate_with`] into `decision`) and joins their result to the decision: a
    /// `block` hit in enforce mode blocks the exec (and the provenance finding, if any, says so).
    /// `complete` fills in what the findings show (argv, environment, parent) and runs only when
    /// a rule fired. Returns the rules' findings.
    pub fn evaluate_rules(
        &self,
        subject: &mut dyn crate::rules::Subject,
        event: &mut ExecEvent,
        decision: &mut Decision,
        complete: impl FnOnce(&mut ExecEvent, &mut dyn crate::rules::Subject),
    ) -> Vec<Finding> {
        let Some(rules) = &self.rules else {
            return Vec::new();
        };
        let Some(rs) = rules.ruleset() else {
            return Vec::new();
        };
        let hits = rs.evaluate(subject, rules.actions());
        if hits.is_empty() {
            return Vec::new();
        }
        if crate::rules::container::verdict_of(&hits, self.mode) == Verdict::Block {
            decision.verdict = Verdict::Block;
            if let Some(f) = decision.finding.as_mut() {
                f.set_prop(
                    scrun_findings::props::ACTION,
                    scrun_findings::props::ACTION_BLOCKED,
                );
            }
        }
        complete(event, subject);
        hits.iter()
            .map(|h| {
                crate::rules::container::render_hit(
                    event,
                    decision,
                    &self.identity,
                    &self.config,
                    self.mode,
                    &rs.rules()[h.rule],
                    h,
                )
            })
            .collect()
    }

    /// The policy mode of this container.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The container's identity.
    pub fn identity(&self) -> &ContainerIdentity {
        &self.identity
    }

    /// Decides `event`. `file` is the opened executable and `meta` its metadata (from `fstat`).
    /// Never panics; IO failures give a decision with `error` set.
    pub fn evaluate(&self, event: &ExecEvent, file: &File, meta: &Metadata) -> Decision {
        let (mut decision, finding_due) = self.decide_on(event, meta, || Ok(file));
        if finding_due {
            decision.finding = Some(self.render(event, &decision));
        }
        decision
    }

    /// [`Engine::evaluate`] for the per-exec path: the file is opened for reading only on a
    /// verdict-cache miss (a hit is decided on `meta` alone), and what only a finding needs
    /// (argv, environment, the parent process) is filled in by `complete` only when a finding
    /// is written.
    pub fn evaluate_with<F: std::ops::Deref<Target = File>>(
        &self,
        event: &mut ExecEvent,
        meta: &Metadata,
        open: impl FnOnce() -> std::io::Result<F>,
        complete: impl FnOnce(&mut ExecEvent),
    ) -> Decision {
        let (mut decision, finding_due) = self.decide_on(event, meta, open);
        if finding_due {
            complete(event);
            decision.finding = Some(self.render(event, &decision));
        }
        decision
    }

    /// True when `target` (with metadata `meta`) is decided from the verdict cache alone: no
    /// read of its content is needed.
    pub fn has_verdict(&self, target: &Target, meta: &Metadata) -> bool {
        self.verdicts()
            .get(&VerdictKey::of(target, meta))
            .is_some_and(|f| f.intel_generation == self.intel_generation())
    }

    /// The verdict the cache alone gives `target` loaded as `loaded_as` when that decision
    /// would write no finding (an image file no feed lists, an allowlisted one); `None` when the
    /// cache does not know the file, the feeds changed since, or a finding is due. A caller
    /// may answer from this without building an event.
    pub fn quiet_verdict(
        &self,
        target: &Target,
        meta: &Metadata,
        loaded_as: LoadedAs,
    ) -> Option<Verdict> {
        let facts = self
            .verdicts()
            .get(&VerdictKey::of(target, meta))
            .filter(|f| f.intel_generation == self.intel_generation())?;
        let path_allowed = self.config.path_allowed(&target.path.to_string_lossy());
        let category = category_for(&facts.provenance, facts.intel.is_some(), loaded_as);
        match category {
            None => Some(Verdict::Allow),
            Some(_) if facts.allowlisted_hash || path_allowed => Some(Verdict::Allow),
            Some(c) => match self.action_for(c, facts.intel.is_some(), loaded_as) {
                Action::Ignore => Some(Verdict::Allow),
                Action::Alert | Action::Block => None,
            },
        }
    }

    /// [`Engine::quiet_verdict`] for a regular file not yet named (no path): `Some(Allow)`
    /// only when the cache knows it, the feeds did not change since, and it raises no finding
    /// whatever its path (an image file no feed lists). A memfd or a file decided under
    /// `/dev/shm` is keyed apart and is never found here. Saves naming a library the loader
    /// maps again and again (a `readlink` of the descriptor per mapping).
    pub fn quiet_verdict_unnamed(&self, meta: &Metadata, loaded_as: LoadedAs) -> Option<Verdict> {
        let key = VerdictKey {
            file: FileKey::from_metadata(meta),
            memfd: false,
            dev_shm: false,
        };
        let facts = self
            .verdicts()
            .get(&key)
            .filter(|f| f.intel_generation == self.intel_generation())?;
        category_for(&facts.provenance, facts.intel.is_some(), loaded_as)
            .is_none()
            .then_some(Verdict::Allow)
    }

    fn render(&self, event: &ExecEvent, decision: &Decision) -> Finding {
        crate::report::render(
            event,
            decision,
            &self.identity,
            &self.config,
            self.mode_for(event.loaded_as),
        )
    }

    fn action_for(&self, category: Category, malicious: bool, loaded_as: LoadedAs) -> Action {
        let mode = self.mode_for(loaded_as);
        if category == Category::FilelessMemfd && malicious {
            self.config.action_for_malicious_memfd(mode)
        } else {
            self.config.action_for(mode, category)
        }
    }

    /// The decision without its finding, and whether one is due.
    fn decide_on<F: std::ops::Deref<Target = File>>(
        &self,
        event: &ExecEvent,
        meta: &Metadata,
        open: impl FnOnce() -> std::io::Result<F>,
    ) -> (Decision, bool) {
        let target = &event.target;
        let vkey = VerdictKey::of(target, meta);
        let cached = self.verdicts().get(&vkey);
        let cache_hit = cached.is_some();
        let mut hashed_bytes = 0;
        let facts = match cached {
            // A reloaded feed index may judge the same file differently: ask it again.
            Some(f) if f.intel_generation != self.intel_generation() => {
                let f = self.with_intel(f);
                self.verdicts().insert(vkey, f.clone());
                f
            }
            Some(f) => f,
            None => match open().and_then(|file| self.compute(target, &file, &vkey.file)) {
                Ok((f, hashed)) => {
                    hashed_bytes = hashed;
                    // A path that vanished is transient: decide again next time.
                    if !matches!(f.provenance, Provenance::Unknown { .. })
                        || matches!(self.rootfs, Rootfs::Other { .. })
                    {
                        self.verdicts().insert(vkey, f.clone());
                    }
                    f
                }
                Err(e) => return (self.error_decision(target, e, event.loaded_as), false),
            },
        };
        let (mut decision, due) = self.decide(event, facts);
        decision.cache_hit = cache_hit;
        decision.hashed_bytes = hashed_bytes;
        (decision, due)
    }

    /// The verdict cache (a panic elsewhere while it was held leaves it usable: it is a cache).
    fn verdicts(&self) -> std::sync::MutexGuard<'_, Bounded<VerdictKey, Facts>> {
        self.verdicts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file's facts and how many bytes were hashed to learn them (0: the hash cache knew).
    fn compute(
        &self,
        target: &Target,
        file: &File,
        key: &FileKey,
    ) -> std::io::Result<(Facts, u64)> {
        let max = self.config.supervisor.max_hash_bytes;
        let located = provenance::locate(&self.rootfs, self.rootfs_dev, target);
        let (digest, hit) = match &located {
            // Image files are immutable: key them by the layer file so every container of the
            // image shares the (persistent) hash. The overlay reports the layer file's inode
            // for a file that was not copied up; anything else hashes what was opened.
            Located::Lower(hit) if hit.key.ino == target.ino && hit.key.size == key.size => {
                self.cache.get_or_hash(&hit.key, file, max, true)?
            }
            _ => self.cache.get_or_hash(key, file, max, false)?,
        };
        let provenance = provenance::resolve(&self.rootfs, located, &digest, &self.cache, max);
        let hashed = if hit { 0 } else { digest.hashed_size };
        Ok((
            self.with_intel(Facts {
                digest,
                provenance,
                intel: None,
                allowlisted_hash: false,
                intel_generation: (0, 0),
            }),
            hashed,
        ))
    }

    fn intel_generation(&self) -> (u64, u64) {
        (
            self.intel.generation(),
            self.allow_intel.as_ref().map_or(0, |a| a.generation()),
        )
    }

    /// The feeds' answers for the file's hash.
    fn with_intel(&self, mut f: Facts) -> Facts {
        f.intel_generation = self.intel_generation();
        f.intel = self.intel.lookup(&f.digest.sha256);
        f.allowlisted_hash = self.config.allow.sha256.contains(&f.digest.sha256)
            || self
                .allow_intel
                .as_ref()
                .is_some_and(|a| a.lookup(&f.digest.sha256).is_some());
        f
    }

    fn layer_path(&self, p: &Provenance) -> Option<PathBuf> {
        let layer = match p {
            Provenance::BuiltIn { layer, .. } | Provenance::Modified { layer } => *layer,
            _ => return None,
        };
        match &self.rootfs {
            Rootfs::Overlay(o) => o.lowers.get(layer).map(|l| l.path.clone()),
            Rootfs::Other { .. } => None,
        }
    }

    fn decide(&self, event: &ExecEvent, facts: Facts) -> (Decision, bool) {
        let allowlisted = facts.allowlisted_hash
            || self
                .config
                .path_allowed(&event.target.path.to_string_lossy());
        let category = category_for(&facts.provenance, facts.intel.is_some(), event.loaded_as);
        let mut decision = Decision {
            verdict: Verdict::Allow,
            category,
            layer_path: self.layer_path(&facts.provenance),
            provenance: facts.provenance,
            digest: Some(facts.digest),
            intel: facts.intel,
            finding: None,
            error: None,
            allowlisted,
            cache_hit: false,
            hashed_bytes: 0,
        };
        let Some(category) = category else {
            return (decision, false);
        };
        if allowlisted {
            return (decision, false);
        }
        let action = self.action_for(category, decision.intel.is_some(), event.loaded_as);
        if action == Action::Block {
            decision.verdict = Verdict::Block;
        }
        (decision, action != Action::Ignore)
    }

    fn error_decision(&self, target: &Target, e: std::io::Error, loaded_as: LoadedAs) -> Decision {
        let error = format!(
            "cannot hash {} {}: {e}",
            match loaded_as {
                LoadedAs::Exec => "exec target",
                LoadedAs::Library => "mapped file",
            },
            target.path.display()
        );
        tracing::warn!(container = %self.identity.id, %error, "exec undecided");
        // Audit mode never blocks; enforce mode follows supervisor.on_error.
        let verdict = match (self.mode_for(loaded_as), self.config.supervisor.on_error) {
            (Mode::Enforce, OnError::Deny) => Verdict::Block,
            _ => Verdict::Allow,
        };
        Decision {
            verdict,
            category: None,
            provenance: Provenance::Unknown {
                reason: error.clone(),
            },
            digest: None,
            intel: None,
            finding: None,
            error: Some(error),
            layer_path: None,
            allowlisted: false,
            cache_hit: false,
            hashed_bytes: 0,
        }
    }
}

/// The finding category for a provenance, whether a feed matched, and how the file runs.
pub fn category_for(
    provenance: &Provenance,
    malicious: bool,
    loaded_as: LoadedAs,
) -> Option<Category> {
    if loaded_as == LoadedAs::Library {
        return library_category(provenance, malicious);
    }
    match (provenance, malicious) {
        (Provenance::Memfd, _) => Some(Category::FilelessMemfd),
        (
            Provenance::Added {
                on: AddedOn::DevShm,
            },
            false,
        ) => Some(Category::FilelessDevShm),
        (Provenance::Added { .. }, true) => Some(Category::AddedMaliciousBinaryExecuted),
        (Provenance::Added { .. }, false) => Some(Category::AddedBinaryExecuted),
        (Provenance::Modified { .. }, true) => Some(Category::ModifiedMaliciousBinaryExecuted),
        // CTD's Added Binary Executed covers "modified from the original container image".
        (Provenance::Modified { .. }, false) => Some(Category::AddedBinaryExecuted),
        // Unknown provenance with a feed match is reported as built-in (scrun_provenance says
        // "unknown"): it is malicious either way, and "added" would claim what is not proven.
        (Provenance::BuiltIn { .. } | Provenance::Unknown { .. }, true) => {
            Some(Category::BuiltInMaliciousBinaryExecuted)
        }
        (Provenance::BuiltIn { .. } | Provenance::Unknown { .. }, false) => None,
    }
}

/// The library family: what a process maps executable. An image file is *Built in* only when
/// a feed lists it (libraries of the image load all the time); anything not from the image
/// (upper layer, volume, tmpfs, /dev/shm; modified counts as added, as for binaries) is *Added*.
/// A memfd is never decided as a library (the supervisor lets memory files through: JITs map
/// them), so it has no category here.
fn library_category(provenance: &Provenance, malicious: bool) -> Option<Category> {
    match (provenance, malicious) {
        (Provenance::Memfd, _) => None,
        (Provenance::Added { .. }, true) => Some(Category::AddedMaliciousLibraryLoaded),
        (Provenance::Added { .. } | Provenance::Modified { .. }, false) => {
            Some(Category::AddedLibraryLoaded)
        }
        (Provenance::Modified { .. }, true) => Some(Category::ModifiedMaliciousLibraryLoaded),
        (Provenance::BuiltIn { .. } | Provenance::Unknown { .. }, true) => {
            Some(Category::BuiltInMaliciousLibraryLoaded)
        }
        (Provenance::BuiltIn { .. } | Provenance::Unknown { .. }, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::{FeedSet, FeedSpec};
    use crate::hash::hash_file;
    use crate::provenance::testutil::OverlayFixture;
    use chrono::Utc;
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        inner: FeedSet,
        lookups: AtomicUsize,
    }

    impl Intel for Counting {
        fn lookup(&self, sha256: &[u8; 32]) -> Option<IntelMatch> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            self.inner.lookup(sha256)
        }
    }

    const BAD_BUILT_IN: &[u8] = b"\x7fELF pretend miner (image)";
    const BAD_ADDED: &[u8] = b"\x7fELF pretend dropper";

    fn sha_hex(content: &[u8]) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(content))
    }

    fn fixture() -> OverlayFixture {
        OverlayFixture::new(|_l0, l1| {
            std::fs::create_dir_all(l1.join("bin")).unwrap();
            std::fs::write(l1.join("bin/miner"), BAD_BUILT_IN).unwrap();
            std::fs::write(l1.join("bin/ls"), b"clean ls").unwrap();
            std::fs::write(l1.join("bin/cat"), b"clean cat").unwrap();
        })
    }

    fn feed(dir: &std::path::Path, hashes: &[String]) -> FeedSet {
        let p = dir.join("bad.txt");
        let body: String = hashes
            .iter()
            .map(|h| format!("{h} TestMalware\n"))
            .collect();
        std::fs::write(&p, body).unwrap();
        FeedSet::load(&[FeedSpec::new(&p)]).unwrap()
    }

    struct Setup {
        fx: OverlayFixture,
        intel: Arc<Counting>,
        feeds_dir: tempfile::TempDir,
    }

    fn setup() -> Setup {
        let fx = fixture();
        let feeds_dir = tempfile::tempdir().unwrap();
        let mut appended = b"clean cat".to_vec();
        appended.extend_from_slice(b" + payload");
        let inner = feed(
            feeds_dir.path(),
            &[
                sha_hex(BAD_BUILT_IN),
                sha_hex(BAD_ADDED),
                sha_hex(&appended),
            ],
        );
        Setup {
            fx,
            intel: Arc::new(Counting {
                inner,
                lookups: AtomicUsize::new(0),
            }),
            feeds_dir,
        }
    }

    fn engine(s: &Setup, config: Config, mode: Mode, cache: Arc<HashCache>) -> Engine {
        Engine::new(
            Arc::new(config),
            mode,
            s.intel.clone(),
            None,
            cache,
            s.fx.rootfs.clone(),
            s.fx.dev,
            ContainerIdentity {
                id: "cid".into(),
                name: "web".into(),
                ..ContainerIdentity::default()
            },
        )
    }

    fn eval(e: &Engine, fx: &OverlayFixture, inner: &str) -> Decision {
        eval_as(e, fx, inner, LoadedAs::Exec)
    }

    fn eval_library(e: &Engine, fx: &OverlayFixture, inner: &str) -> Decision {
        eval_as(e, fx, inner, LoadedAs::Library)
    }

    /// `inner` exec'd by `sh`, or mapped by `/bin/loader`.
    fn eval_as(e: &Engine, fx: &OverlayFixture, inner: &str, loaded_as: LoadedAs) -> Decision {
        let file = File::open(fx.path(inner)).unwrap();
        let meta = file.metadata().unwrap();
        let library = loaded_as == LoadedAs::Library;
        let event = ExecEvent {
            time: Utc::now(),
            syscall: if library { "mmap" } else { "execve" }.into(),
            process: ProcessInfo {
                pid: 10,
                ppid: 1,
                name: if library { "loader" } else { "sh" }.into(),
                binary_path: library.then(|| "/bin/loader".into()),
                ..ProcessInfo::default()
            },
            env: vec![],
            env_truncated: false,
            parent: None,
            requested_path: inner.into(),
            target: fx.target(inner),
            interpreter: None,
            loader: None,
            loaded_as,
        };
        e.evaluate(&event, &file, &meta)
    }

    #[test]
    fn mapped_files_get_the_library_family_in_the_mappings_mode() {
        let s = setup();
        std::fs::write(s.fx.path("/bin/dropper"), BAD_ADDED).unwrap();
        std::fs::write(s.fx.path("/bin/tool"), b"harmless new library").unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(s.fx.path("/bin/cat"))
            .unwrap();
        f.write_all(b" + payload").unwrap();
        drop(f);
        // An audit-mode container whose mappings are enforced.
        let e = engine(&s, Config::default(), Mode::Audit, mem_cache())
            .with_mapping_mode(Mode::Enforce);
        for (path, category, verdict) in [
            (
                "/bin/miner",
                Category::BuiltInMaliciousLibraryLoaded,
                Verdict::Block,
            ),
            (
                "/bin/dropper",
                Category::AddedMaliciousLibraryLoaded,
                Verdict::Block,
            ),
            (
                "/bin/cat",
                Category::ModifiedMaliciousLibraryLoaded,
                Verdict::Block,
            ),
            ("/bin/tool", Category::AddedLibraryLoaded, Verdict::Allow),
        ] {
            let d = eval_library(&e, &s.fx, path);
            assert_eq!((d.category, d.verdict), (Some(category), verdict), "{path}");
            let f = d.finding.expect("finding");
            assert_eq!(f.processes[0].libraries[0].path, path);
            assert_eq!(f.prop_str("scrun_mode"), Some("enforce"));
            // Exec'd, the same file is decided in the container's (audit) mode.
            let x = eval(&e, &s.fx, path);
            assert_eq!(x.verdict, Verdict::Allow, "{path}");
            assert!(!x.category.is_some_and(Category::is_library));
        }
        // A clean image library: no finding, and once decided the cache answers quietly.
        let target = s.fx.target("/bin/ls");
        let meta = std::fs::metadata(s.fx.path("/bin/ls")).unwrap();
        assert_eq!(e.quiet_verdict(&target, &meta, LoadedAs::Library), None);
        assert_eq!(e.quiet_verdict_unnamed(&meta, LoadedAs::Library), None);
        let d = eval_library(&e, &s.fx, "/bin/ls");
        assert_eq!((d.category, d.finding.is_none()), (None, true));
        assert_eq!(
            e.quiet_verdict(&target, &meta, LoadedAs::Library),
            Some(Verdict::Allow)
        );
        assert_eq!(
            e.quiet_verdict_unnamed(&meta, LoadedAs::Library),
            Some(Verdict::Allow)
        );
        // A finding is due for the others: never quiet.
        for path in ["/bin/tool", "/bin/dropper"] {
            let meta = std::fs::metadata(s.fx.path(path)).unwrap();
            assert_eq!(
                e.quiet_verdict(&s.fx.target(path), &meta, LoadedAs::Library),
                None
            );
            assert_eq!(e.quiet_verdict_unnamed(&meta, LoadedAs::Library), None);
        }
        // `added_library = "ignore"`: an added library is quiet too.
        let mut c = Config::default();
        c.actions.added_library = Action::Ignore;
        let e = engine(&s, c, Mode::Enforce, mem_cache());
        let d = eval_library(&e, &s.fx, "/bin/tool");
        assert!(d.finding.is_none());
        let meta = std::fs::metadata(s.fx.path("/bin/tool")).unwrap();
        assert_eq!(
            e.quiet_verdict(&s.fx.target("/bin/tool"), &meta, LoadedAs::Library),
            Some(Verdict::Allow)
        );
        // Without a path the policy's path allowlist cannot be applied: named the long way.
        assert_eq!(e.quiet_verdict_unnamed(&meta, LoadedAs::Library), None);
    }

    fn mem_cache() -> Arc<HashCache> {
        Arc::new(HashCache::new(1024, None))
    }

    #[test]
    fn built_in_malicious_blocks_in_enforce_and_alerts_in_audit() {
        let s = setup();
        let e = engine(&s, Config::default(), Mode::Enforce, mem_cache());
        let d = eval(&e, &s.fx, "/bin/miner");
        assert_eq!(d.verdict, Verdict::Block);
        assert_eq!(d.category, Some(Category::BuiltInMaliciousBinaryExecuted));
        assert_eq!(
            d.intel.as_ref().unwrap().label.as_deref(),
            Some("TestMalware")
        );
        let f = d.finding.expect("finding");
        assert_eq!(f.prop_str("scrun_action"), Some("BLOCKED"));
        assert_eq!(f.prop_str("scrun_provenance"), Some("built-in"));

        let a = engine(&s, Config::default(), Mode::Audit, mem_cache());
        let d = eval(&a, &s.fx, "/bin/miner");
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!(d.finding.unwrap().prop_str("scrun_action"), Some("ALLOWED"));
    }

    #[test]
    fn clean_built_in_is_silent_and_warm_exec_hits_the_cache() {
        let s = setup();
        let e = engine(&s, Config::default(), Mode::Enforce, mem_cache());
        let d = eval(&e, &s.fx, "/bin/ls");
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!((d.category, d.finding.is_none()), (None, true));
        let before = s.intel.lookups.load(Ordering::Relaxed);
        let again = eval(&e, &s.fx, "/bin/ls");
        assert_eq!(again.provenance, d.provenance);
        assert_eq!(again.digest, d.digest);
        assert_eq!(
            s.intel.lookups.load(Ordering::Relaxed),
            before,
            "warm exec recomputed"
        );
    }

    #[test]
    fn added_and_modified() {
        let s = setup();
        let e = engine(&s, Config::default(), Mode::Enforce, mem_cache());
        std::fs::write(s.fx.path("/bin/dropper"), BAD_ADDED).unwrap();
        std::fs::write(s.fx.path("/bin/tool"), b"harmless new tool").unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(s.fx.path("/bin/cat"))
            .unwrap();
        f.write_all(b" + payload").unwrap();
        drop(f);

        let d = eval(&e, &s.fx, "/bin/dropper");
        assert_eq!(d.category, Some(Category::AddedMaliciousBinaryExecuted));
        assert_eq!(d.verdict, Verdict::Block);
        let d = eval(&e, &s.fx, "/bin/tool");
        assert_eq!(d.category, Some(Category::AddedBinaryExecuted));
        assert_eq!(d.verdict, Verdict::Allow);
        assert!(d.finding.is_some());
        let d = eval(&e, &s.fx, "/bin/cat");
        assert_eq!(d.category, Some(Category::ModifiedMaliciousBinaryExecuted));
        assert_eq!(d.provenance, Provenance::Modified { layer: 1 });
        assert_eq!(d.verdict, Verdict::Block);
    }

    #[test]
    fn allowlists_suppress_findings() {
        let s = setup();
        let mut by_hash = Config::default();
        by_hash
            .allow
            .sha256
            .insert(crate::feeds::parse_sha256(&sha_hex(BAD_BUILT_IN)).unwrap());
        let d = eval(
            &engine(&s, by_hash, Mode::Enforce, mem_cache()),
            &s.fx,
            "/bin/miner",
        );
        assert!(d.allowlisted);
        assert_eq!((d.verdict, d.finding.is_none()), (Verdict::Allow, true));

        let mut by_path = Config::default();
        by_path.allow.paths = vec!["/bin/*".into()];
        let d = eval(
            &engine(&s, by_path, Mode::Enforce, mem_cache()),
            &s.fx,
            "/bin/miner",
        );
        assert_eq!((d.verdict, d.finding.is_none()), (Verdict::Allow, true));

        let good = Arc::new(feed(s.feeds_dir.path(), &[sha_hex(BAD_BUILT_IN)]));
        let e = Engine::new(
            Arc::new(Config::default()),
            Mode::Enforce,
            s.intel.clone(),
            Some(good),
            mem_cache(),
            s.fx.rootfs.clone(),
            s.fx.dev,
            ContainerIdentity::default(),
        );
        let d = eval(&e, &s.fx, "/bin/miner");
        assert_eq!((d.verdict, d.finding.is_none()), (Verdict::Allow, true));
    }

    #[test]
    fn ignore_action_gives_no_finding() {
        let s = setup();
        let mut c = Config::default();
        c.actions.added_binary = Action::Ignore;
        let e = engine(&s, c, Mode::Enforce, mem_cache());
        std::fs::write(s.fx.path("/bin/tool"), b"harmless new tool").unwrap();
        let d = eval(&e, &s.fx, "/bin/tool");
        assert_eq!(d.category, Some(Category::AddedBinaryExecuted));
        assert!(d.finding.is_none());
    }

    #[test]
    fn image_hashes_persist_across_engines() {
        let s = setup();
        let store = tempfile::tempdir().unwrap();
        let c1 = Arc::new(HashCache::new(64, Some(store.path().to_path_buf())));
        let d1 = eval(
            &engine(&s, Config::default(), Mode::Audit, c1),
            &s.fx,
            "/bin/ls",
        );
        let entries = std::fs::read_dir(store.path()).unwrap().count();
        assert_eq!(entries, 1, "the image file's hash was stored");
        // A new supervisor (fresh memory cache, same store) reuses it.
        let c2 = Arc::new(HashCache::new(64, Some(store.path().to_path_buf())));
        let d2 = eval(
            &engine(&s, Config::default(), Mode::Audit, c2.clone()),
            &s.fx,
            "/bin/ls",
        );
        assert_eq!(d1.digest, d2.digest);
        assert_eq!(c2.len(), 1);
        // Added files are never stored.
        std::fs::write(s.fx.path("/bin/tool"), b"x").unwrap();
        eval(
            &engine(&s, Config::default(), Mode::Audit, c2),
            &s.fx,
            "/bin/tool",
        );
        assert_eq!(std::fs::read_dir(store.path()).unwrap().count(), 1);
    }

    #[test]
    fn io_error_follows_on_error_in_enforce_only() {
        let s = setup();
        let path = s.fx.path("/bin/ls");
        let unreadable = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let meta = unreadable.metadata().unwrap();
        let event = ExecEvent {
            time: Utc::now(),
            syscall: "execveat".into(),
            process: ProcessInfo::default(),
            env: vec![],
            env_truncated: false,
            parent: None,
            requested_path: "/bin/ls".into(),
            // A key the cache has not seen, so the engine must read the (write-only) fd.
            target: Target {
                ino: 0,
                ..s.fx.target("/bin/ls")
            },
            interpreter: None,
            loader: None,
            loaded_as: crate::event::LoadedAs::Exec,
        };
        let e = engine(&s, Config::default(), Mode::Enforce, mem_cache());
        let d = e.evaluate(&event, &unreadable, &meta);
        assert!(d.error.is_some());
        assert_eq!(d.verdict, Verdict::Block);
        let mut open = Config::default();
        open.supervisor.on_error = OnError::Allow;
        let d = engine(&s, open, Mode::Enforce, mem_cache()).evaluate(&event, &unreadable, &meta);
        assert_eq!(d.verdict, Verdict::Allow);
        let d = engine(&s, Config::default(), Mode::Audit, mem_cache()).evaluate(
            &event,
            &unreadable,
            &meta,
        );
        assert_eq!(d.verdict, Verdict::Allow);
        assert!(d.error.is_some());
    }

    #[test]
    fn memfd_exec() {
        let s = setup();
        let fd = rustix::fs::memfd_create("payload", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        let mut file = File::from(fd);
        file.write_all(BAD_ADDED).unwrap();
        let meta = file.metadata().unwrap();
        use std::os::unix::fs::MetadataExt;
        let event = ExecEvent {
            time: Utc::now(),
            syscall: "execveat".into(),
            process: ProcessInfo::default(),
            env: vec![],
            env_truncated: false,
            parent: None,
            requested_path: String::new(),
            target: Target {
                path: "/memfd:payload (deleted)".into(),
                dev: meta.dev(),
                ino: meta.ino(),
                memfd: true,
                unlinked: false,
            },
            interpreter: None,
            loader: None,
            loaded_as: crate::event::LoadedAs::Exec,
        };
        assert_eq!(hash_file(&file, 1 << 20).unwrap().hex(), sha_hex(BAD_ADDED));
        let d = engine(&s, Config::default(), Mode::Enforce, mem_cache())
            .evaluate(&event, &file, &meta);
        assert_eq!(d.category, Some(Category::FilelessMemfd));
        assert_eq!(
            d.verdict,
            Verdict::Block,
            "a malicious memfd uses memfd_malicious = block"
        );
        assert_eq!(d.finding.unwrap().prop_str("scrun_malicious"), Some("true"));
        let clean = Config::default();
        let e = Engine::new(
            Arc::new(clean),
            Mode::Enforce,
            Arc::new(FeedSet::empty()),
            None,
            mem_cache(),
            s.fx.rootfs.clone(),
            s.fx.dev,
            ContainerIdentity::default(),
        );
        let d = e.evaluate(&event, &file, &meta);
        assert_eq!(
            (d.category, d.verdict),
            (Some(Category::FilelessMemfd), Verdict::Allow)
        );
    }

    #[test]
    fn rule_hits_join_the_verdict_and_the_findings() {
        use crate::rules::{ContainerRules, EventSpec, SharedRuleset, StaticSubject};
        let s = setup();
        std::fs::write(s.fx.path("/bin/tool"), b"harmless new tool").unwrap();
        for (mode, verdict, action) in [
            (Mode::Enforce, Verdict::Block, "BLOCKED"),
            (Mode::Audit, Verdict::Allow, "ALLOWED"),
        ] {
            let e =
                engine(&s, Config::default(), mode, mem_cache()).with_rules(ContainerRules::new(
                    SharedRuleset::new(crate::rules::RulesetSpec::from_config(&Config::default())),
                    &ContainerIdentity::default(),
                ));
            let mut d = eval(&e, &s.fx, "/bin/tool");
            assert_eq!(d.category, Some(Category::AddedBinaryExecuted));
            let mut subject = StaticSubject::new(EventSpec {
                requested: Some("/usr/bin/sudo".into()),
                path: "/bin/tool".into(),
                argv: vec!["sudo".into(), "-u#-1".into(), "id".into()],
                provenance: Some("added".into()),
                ..EventSpec::default()
            })
            .unwrap();
            let mut event = ExecEvent {
                time: Utc::now(),
                syscall: "execve".into(),
                process: ProcessInfo::default(),
                env: vec![],
                env_truncated: false,
                parent: None,
                requested_path: "/usr/bin/sudo".into(),
                target: s.fx.target("/bin/tool"),
                interpreter: None,
                loader: None,
                loaded_as: crate::event::LoadedAs::Exec,
            };
            let mut completed = false;
            let findings = e.evaluate_rules(&mut subject, &mut event, &mut d, |ev, sub| {
                ev.process.args = sub.argv().to_vec();
                completed = true;
            });
            assert!(completed);
            assert_eq!(d.verdict, verdict, "{mode}");
            assert_eq!(
                d.finding.as_ref().unwrap().prop_str("scrun_action"),
                Some(action),
                "the provenance finding follows the rule's verdict"
            );
            assert_eq!(findings.len(), 1);
            let f = &findings[0];
            assert_eq!(
                f.category,
                "Privilege Escalation: Abuse of Sudo For Privilege Escalation (CVE-2019-14287)"
            );
            assert_eq!(f.severity, scrun_findings::Severity::Critical);
            assert_eq!(f.prop_str("scrun_action"), Some(action));
            assert_eq!(
                f.prop_str("scrun_rule_id"),
                Some("SCRUN-SUDO-CVE-2019-14287")
            );
            assert_eq!(
                f.prop_str("scrun_detector"),
                Some("CLOUD_RUN_ABUSE_SUDO_FOR_PRIVILEGE_ESCALATION")
            );
            assert_eq!(f.processes[0].args, ["sudo", "-u#-1", "id"]);
        }
        // No hit: nothing completed, nothing changed.
        let e = engine(&s, Config::default(), Mode::Enforce, mem_cache()).with_rules(
            ContainerRules::new(
                SharedRuleset::new(crate::rules::RulesetSpec::from_config(&Config::default())),
                &ContainerIdentity::default(),
            ),
        );
        let mut d = eval(&e, &s.fx, "/bin/ls");
        let mut subject = StaticSubject::new(EventSpec {
            path: "/bin/ls".into(),
            argv: vec!["ls".into()],
            ..EventSpec::default()
        })
        .unwrap();
        let mut event = ExecEvent {
            time: Utc::now(),
            syscall: "execve".into(),
            process: ProcessInfo::default(),
            env: vec![],
            env_truncated: false,
            parent: None,
            requested_path: "/bin/ls".into(),
            target: s.fx.target("/bin/ls"),
            interpreter: None,
            loader: None,
            loaded_as: crate::event::LoadedAs::Exec,
        };
        let findings = e.evaluate_rules(&mut subject, &mut event, &mut d, |_, _| {
            panic!("completed without a hit")
        });
        assert!(findings.is_empty());
        assert_eq!(d.verdict, Verdict::Allow);
    }
}
