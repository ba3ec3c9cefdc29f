//! The decision for one exec: provenance + hash + intel + policy -> verdict (+ finding).
//!
//! The event model (what happened) lives here; how it is reported is [`crate::report`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, Metadata};
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use scrun_findings::{Category, Finding};
use serde::{Deserialize, Serialize};

use crate::feeds::{Intel, IntelMatch};
use crate::hash::{Digest, FileKey, HashCache};
use crate::layers::Rootfs;
use crate::policy::{Action, Config, Mode, OnError};
use crate::provenance::{self, AddedOn, Located, Provenance, Target};

/// Default bound of the per-engine verdict cache.
pub const VERDICT_CACHE_CAPACITY: usize = 4096;

/// Who the container is (for findings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerIdentity {
    /// The OCI container id.
    pub id: String,
    /// The engine's name for it (the id when there is none).
    pub name: String,
    /// The image as the user referred to it.
    pub image_uri: String,
    /// The image id (config digest), `sha256:…`.
    pub image_id: String,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// When the container was created.
    pub created: Option<DateTime<Utc>>,
    /// Who called scrun: docker, containerd, cri, podman or oci.
    pub caller: String,
}

/// A process taking part in an exec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id (in the supervisor's pid namespace).
    pub pid: i64,
    /// Parent process id.
    pub ppid: i64,
    /// `comm`.
    pub name: String,
    /// The executable, when known.
    pub binary_path: Option<String>,
    /// argv.
    pub args: Vec<String>,
    /// True when argv was cut.
    pub args_truncated: bool,
}

/// One exec, as the supervisor saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecEvent {
    /// When it was trapped.
    pub time: DateTime<Utc>,
    /// `execve` or `execveat`.
    pub syscall: String,
    /// The process doing the exec; `args` is the new argv.
    pub process: ProcessInfo,
    /// The new environment.
    pub env: Vec<(String, String)>,
    /// True when the environment was cut.
    pub env_truncated: bool,
    /// The parent of the exec'ing process.
    pub parent: Option<ProcessInfo>,
    /// The path argument as passed to the syscall.
    pub requested_path: String,
    /// The resolved executable.
    pub target: Target,
}

/// Allow or fail the exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Let it run.
    Allow,
    /// Fail it with EPERM.
    Block,
}

/// The engine's answer for one exec.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What to answer.
    pub verdict: Verdict,
    /// The finding category, when the exec is worth one (even if the action is `ignore`).
    pub category: Option<Category>,
    /// Where the executable came from.
    pub provenance: Provenance,
    /// Its digest, unless hashing failed.
    pub digest: Option<Digest>,
    /// The threat-feed match.
    pub intel: Option<IntelMatch>,
    /// The finding to emit (none for allowed-and-clean or ignored).
    pub finding: Option<Finding>,
    /// Why the engine could not decide (the verdict then comes from `supervisor.on_error`).
    pub error: Option<String>,
    /// The lower layer directory, for built-in and modified files.
    pub layer_path: Option<PathBuf>,
    /// True when the hash or path is allowlisted (no finding).
    pub allowlisted: bool,
}

/// What is remembered per file so a warm exec costs one map lookup.
#[derive(Debug, Clone)]
struct Facts {
    digest: Digest,
    provenance: Provenance,
    intel: Option<IntelMatch>,
    allowlisted_hash: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct VerdictKey {
    file: FileKey,
    memfd: bool,
    dev_shm: bool,
}

/// A map bounded to `capacity` entries, oldest evicted first.
struct Bounded<K, V> {
    capacity: usize,
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Copy, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            capacity: capacity.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&self, k: &K) -> Option<V> {
        self.map.get(k).cloned()
    }

    fn insert(&mut self, k: K, v: V) {
        if self.map.insert(k, v).is_none() {
            self.order.push_back(k);
            while self.map.len() > self.capacity {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
        }
    }
}

/// Decides execs for one container.
pub struct Engine {
    config: Arc<Config>,
    mode: Mode,
    intel: Arc<dyn Intel>,
    allow_intel: Option<Arc<dyn Intel>>,
    cache: Arc<HashCache>,
    rootfs: Rootfs,
    rootfs_dev: u64,
    identity: ContainerIdentity,
    verdicts: Mutex<Bounded<VerdictKey, Facts>>,
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
            intel,
            allow_intel,
            cache,
            rootfs,
            rootfs_dev,
            identity,
            verdicts: Mutex::new(Bounded::new(VERDICT_CACHE_CAPACITY)),
        }
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
        let target = &event.target;
        let vkey = VerdictKey {
            file: FileKey::from_metadata(meta),
            memfd: target.memfd,
            dev_shm: target.path.starts_with("/dev/shm"),
        };
        let cached = self
            .verdicts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&vkey);
        let facts = match cached {
            Some(f) => f,
            None => match self.compute(target, file, &vkey.file) {
                Ok(f) => {
                    // A path that vanished is transient: decide again next time.
                    if !matches!(f.provenance, Provenance::Unknown { .. })
                        || matches!(self.rootfs, Rootfs::Other { .. })
                    {
                        self.verdicts
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(vkey, f.clone());
                    }
                    f
                }
                Err(e) => return self.error_decision(target, e),
            },
        };
        self.decide(event, facts)
    }

    fn compute(&self, target: &Target, file: &File, key: &FileKey) -> std::io::Result<Facts> {
        let max = self.config.supervisor.max_hash_bytes;
        let located = provenance::locate(&self.rootfs, self.rootfs_dev, target);
        let (digest, _hit) = match &located {
            // Image files are immutable: key them by the layer file so every container of the
            // image shares the (persistent) hash. The overlay reports the layer file's inode
            // for a file that was not copied up; anything else hashes what was opened.
            Located::Lower(hit) if hit.key.ino == target.ino && hit.key.size == key.size => {
                self.cache.get_or_hash(&hit.key, file, max, true)?
            }
            _ => self.cache.get_or_hash(key, file, max, false)?,
        };
        let provenance = provenance::resolve(&self.rootfs, located, &digest, &self.cache, max);
        let intel = self.intel.lookup(&digest.sha256);
        let allowlisted_hash = self.config.allow.sha256.contains(&digest.sha256)
            || self
                .allow_intel
                .as_ref()
                .is_some_and(|a| a.lookup(&digest.sha256).is_some());
        Ok(Facts {
            digest,
            provenance,
            intel,
            allowlisted_hash,
        })
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

    fn decide(&self, event: &ExecEvent, facts: Facts) -> Decision {
        let allowlisted = facts.allowlisted_hash
            || self
                .config
                .path_allowed(&event.target.path.to_string_lossy());
        let category = category_for(&facts.provenance, facts.intel.is_some());
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
        };
        let Some(category) = category else {
            return decision;
        };
        if allowlisted {
            return decision;
        }
        let action = if category == Category::FilelessMemfd && decision.intel.is_some() {
            self.config.action_for_malicious_memfd(self.mode)
        } else {
            self.config.action_for(self.mode, category)
        };
        if action == Action::Block {
            decision.verdict = Verdict::Block;
        }
        if action != Action::Ignore {
            decision.finding = Some(crate::report::render(
                event,
                &decision,
                &self.identity,
                &self.config,
                self.mode,
            ));
        }
        decision
    }

    fn error_decision(&self, target: &Target, e: std::io::Error) -> Decision {
        let error = format!(
            "cannot hash exec target {}: {e}",
            target.path.display()
        );
        tracing::warn!(container = %self.identity.id, %error, "exec undecided");
        // Audit mode never blocks; enforce mode follows supervisor.on_error.
        let verdict = match (self.mode, self.config.supervisor.on_error) {
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
        }
    }
}

/// The finding category for a provenance and whether a feed matched.
pub fn category_for(provenance: &Provenance, malicious: bool) -> Option<Category> {
    match (provenance, malicious) {
        (Provenance::Memfd, _) => Some(Category::FilelessMemfd),
        (Provenance::Added { on: AddedOn::DevShm }, false) => Some(Category::FilelessDevShm),
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
