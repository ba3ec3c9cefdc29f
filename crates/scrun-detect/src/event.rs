//! One exec as the supervisor saw it ([`ExecEvent`], [`ProcessInfo`], [`ContainerIdentity`]) and
//! the engine's answer to it ([`Decision`], [`Verdict`]): the types [`crate::engine`] decides on
//! and [`crate::report`] renders, so that neither depends on the other for them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use scrun_findings::{Category, Finding};
use serde::{Deserialize, Serialize};

use crate::feeds::IntelMatch;
use crate::hash::Digest;
use crate::provenance::{Provenance, Target};

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

/// How the decided file comes to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadedAs {
    /// Exec'd: the exec's target, an interpreter, what a loader or shell was asked to run.
    #[default]
    Exec,
    /// Mapped executable by a running process (`mmap`/`mprotect` with `PROT_EXEC`): a library,
    /// or a program a userland loader maps itself. `process` is the process that maps it.
    Library,
}

/// One exec (or executable mapping), as the supervisor saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecEvent {
    /// When it was trapped.
    pub time: DateTime<Utc>,
    /// `execve` or `execveat` (`mmap` or `mprotect` for a library).
    pub syscall: String,
    /// The process doing the exec; `args` is the new argv. For a library: the process that
    /// maps it, with its executable in `binary_path` and its current argv.
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
    /// Set when `target` is a script: the interpreter the kernel (`#!`) or the caller (`sh
    /// script`) runs it with. The finding then names the interpreter as `binary` and the target as
    /// `script`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// Set when `target` was run through the dynamic loader directly (`ld.so ./bin`): the loader's
    /// path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loader: Option<String>,
    /// Exec'd, or mapped as a library.
    #[serde(default)]
    pub loaded_as: LoadedAs,
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
    /// For metrics: the verdict cache answered (`true`), or the file was looked at again.
    pub cache_hit: bool,
    /// Bytes read and hashed for this decision (0 when a cache answered).
    pub hashed_bytes: u64,
}

/// A string array of an exec (argv or envp), which may be read only on first use: only a finding
/// or a `ld.so`/`sh` indirection needs it, so most execs never read it.
pub trait Strings {
    /// The strings and whether they were cut at the bound; empty when unreadable.
    fn get(&mut self) -> (&[Vec<u8>], bool);
}

/// An exec's environment (`KEY=VALUE` items, lossily decoded) as name/value pairs; an item
/// without `=` is a name with an empty value.
pub fn env_pairs(items: &[Vec<u8>]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|kv| {
            let s = String::from_utf8_lossy(kv);
            match s.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (s.into_owned(), String::new()),
            }
        })
        .collect()
}

/// Strings known in advance (the entrypoint precheck reads argv from the spec; an exec gate
/// event has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known(pub Vec<Vec<u8>>);

impl Strings for Known {
    fn get(&mut self) -> (&[Vec<u8>], bool) {
        (&self.0, false)
    }
}
