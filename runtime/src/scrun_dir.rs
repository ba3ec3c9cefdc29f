//! scrun's own per-container directory, beside libcontainer's `<root>/<id>`.
//!
//! It lives at `/run/scrun.d/<key>` (key = first 16 hex digits of SHA-256 of root and id) rather
//! than inside `--root`: Docker shares its runtime root with runc, libcontainer requires `<root>/<id>`
//! not to exist before create, and the supervisor socket path must stay under 108 bytes whatever
//! root a caller passes. It holds the shadow bundle (`config.json`), `scrun.json` (what create
//! learned), the supervisor socket and pid file, and the supervisor log.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Base of every container's scrun directory; overridable for tests with `SCRUN_RUN_DIR`.
pub fn base_dir() -> PathBuf {
    std::env::var_os("SCRUN_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/scrun.d"))
}

#[derive(Debug, Clone)]
pub struct ScrunDir {
    pub path: PathBuf,
}

impl ScrunDir {
    pub fn for_container(root: &Path, id: &str) -> Self {
        let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut h = Sha256::new();
        h.update(root.as_os_str().as_encoded_bytes());
        h.update([0u8]);
        h.update(id.as_bytes());
        let key = hex::encode(&h.finalize()[..8]);
        Self {
            path: base_dir().join(key),
        }
    }

    pub fn config(&self) -> PathBuf {
        self.path.join("config.json")
    }
    pub fn meta(&self) -> PathBuf {
        self.path.join("scrun.json")
    }
    pub fn socket(&self) -> PathBuf {
        self.path.join("sup.sock")
    }
    pub fn supervisor_pid(&self) -> PathBuf {
        self.path.join("sup.pid")
    }
    pub fn worker_socket(&self) -> PathBuf {
        self.path.join("worker.sock")
    }
    pub fn worker_pid(&self) -> PathBuf {
        self.path.join("worker.pid")
    }
    pub fn supervisor_log(&self) -> PathBuf {
        self.path.join("supervisor.log")
    }
    pub fn status_file(&self) -> PathBuf {
        self.path.join("supervisor.status")
    }

    /// What guards the container's execs (written by the keeper, shown by `scrun state`).
    pub fn guard_file(&self) -> PathBuf {
        self.path.join("guard")
    }

    /// The count and last message of contained supervisor failures (shown by `scrun state`).
    pub fn failures_file(&self) -> PathBuf {
        self.path.join("failures")
    }

    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    pub fn create_fresh(&self) -> io::Result<()> {
        if self.path.exists() {
            fs::remove_dir_all(&self.path)?;
        }
        fs::create_dir_all(&self.path)?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700))
    }

    pub fn load_meta(&self) -> Result<Meta, MetaError> {
        let p = self.meta();
        let text = fs::read(&p).map_err(|source| MetaError::Read {
            path: p.clone(),
            cause: source,
        })?;
        serde_json::from_slice(&text).map_err(|source| MetaError::Parse {
            path: p,
            cause: source,
        })
    }

    pub fn save_meta(&self, meta: &Meta) -> Result<(), MetaError> {
        let p = self.meta();
        let tmp = self.path.join(".scrun.json.tmp");
        let bytes = serde_json::to_vec_pretty(meta).expect("meta serializes");
        fs::write(&tmp, bytes)
            .and_then(|_| fs::rename(&tmp, &p))
            .map_err(|source| MetaError::Write {
                path: p,
                cause: source,
            })
    }

    /// Remove the directory; a missing directory is fine.
    pub fn remove(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: io::Error },
    #[error("cannot parse {path}: {cause}")]
    Parse {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("cannot write {path}: {cause}")]
    Write { path: PathBuf, cause: io::Error },
}

/// What `create` learned about a container, for `state` and for the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub id: String,
    pub root: PathBuf,
    /// The caller's bundle (reported by `state`); libcontainer only knows the shadow bundle.
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// After per-container overrides. Serialized as `"audit"` / `"enforce"`, the strings
    /// state files held before it was typed, so those still load.
    pub mode: scrun_detect::policy::Mode,
    /// Which engine created the container (docker, cri, containerd, podman, oci).
    pub caller: String,
    /// Caller-specific hints used to resolve the container's name and image lazily.
    #[serde(default)]
    pub hints: std::collections::BTreeMap<String, String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    pub created: String,
    /// Path of the scrun config file in force at create (`SCRUN_CONFIG` or the default).
    pub config_path: Option<PathBuf>,
    /// The rootfs mount as read from mountinfo at create (layers for provenance).
    pub layers: scrun_detect::layers::Rootfs,
    /// `st_dev` of the rootfs: files on other devices come from volumes or tmpfs.
    pub rootfs_dev: u64,
    /// The scrun binary as it was invoked (for response hooks that call back into scrun).
    #[serde(default)]
    pub scrun_bin: PathBuf,
    /// The `--log-format` of `create`: the supervisor's log (`supervisor.log`) is written in it.
    #[serde(default)]
    pub log_format: crate::logging::Format,
    /// `chroot`/`pivot_root` are allowed by the profile but could not be trapped (argument
    /// conditions): every exec is then resolved in its caller's own root.
    #[serde(default)]
    pub view_untrapped: bool,
    /// Supervision of executable file mappings, after the config and the container's
    /// `scrun.mappings`; `off` for a container whose own seccomp agent holds the listener (and
    /// for a state file written before mappings were supervised).
    #[serde(default = "mappings_off")]
    pub mappings: scrun_detect::policy::Mappings,
    /// The mapping syscalls the merged profile traps (`spec_rewrite::merge_mappings`).
    #[serde(default)]
    pub mappings_trapped: Vec<String>,
    /// Those the caller's profile restricts with argument conditions of its own (not trapped).
    #[serde(default)]
    pub mappings_untrapped: Vec<String>,
    /// Every syscall that can give a task another mount namespace is trapped or denied by the
    /// filter (absent in states written before these traps: false, and every exec's namespace
    /// is then checked).
    #[serde(default)]
    pub ns_trapped: bool,
}

fn mappings_off() -> scrun_detect::policy::Mappings {
    scrun_detect::policy::Mappings::Off
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrun_detect::policy::Mode;

    /// `scrun.json` as scrun wrote it while the mode was a string.
    const OLD_STATE: &str = r#"{
      "id": "sx", "root": "/tmp/pa/s", "bundle": "/tmp/sp/e", "rootfs": "/tmp/sp/e/rootfs",
      "mode": "enforce", "caller": "oci", "hints": {}, "annotations": {},
      "created": "2026-12-06T11:31:51.846327390Z", "config_path": null,
      "layers": {"other": {"fstype": "none", "mountpoint": "/tmp/sp/e/rootfs"}},
      "rootfs_dev": 65024, "scrun_bin": "/usr/bin/scrun"
    }"#;

    #[test]
    fn an_old_state_file_loads_with_a_typed_mode_and_is_written_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let sdir = ScrunDir {
            path: dir.path().to_path_buf(),
        };
        fs::write(sdir.meta(), OLD_STATE).unwrap();
        let meta = sdir.load_meta().unwrap();
        assert_eq!(meta.mode, Mode::Enforce);
        // Written before mappings were supervised: its profile traps none.
        assert_eq!(meta.mappings, scrun_detect::policy::Mappings::Off);
        assert!(meta.mappings_trapped.is_empty());
        let v = serde_json::to_value(&meta).unwrap();
        assert_eq!(v["mode"], "enforce");
        let audit = OLD_STATE.replace("\"enforce\"", "\"audit\"");
        fs::write(sdir.meta(), audit).unwrap();
        assert_eq!(sdir.load_meta().unwrap().mode, Mode::Audit);
        fs::write(sdir.meta(), OLD_STATE.replace("\"enforce\"", "\"block\"")).unwrap();
        let err = sdir.load_meta().unwrap_err().to_string();
        assert!(err.contains("scrun.json") && err.contains("block"), "{err}");
    }
}
