//! The runtimes under comparison and the differential helper.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The reference runtime.
pub const RUNC_PATH: &str = "/usr/sbin/runc";

/// An OCI runtime under test: the name engines know it by and its binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runtime {
    /// `runc` or `scrun`: the Docker/CRI/podman runtime name.
    pub name: &'static str,
    /// The binary.
    pub path: PathBuf,
}

impl Runtime {
    /// runc at [`RUNC_PATH`].
    pub fn runc() -> Runtime {
        Runtime {
            name: "runc",
            path: RUNC_PATH.into(),
        }
    }

    /// scrun at [`scrun_path`] (whether or not it exists: see [`Runtime::require`]).
    pub fn scrun() -> Runtime {
        Runtime {
            name: "scrun",
            path: scrun_path(),
        }
    }

    /// Both, reference first.
    pub fn both() -> [Runtime; 2] {
        [Runtime::runc(), Runtime::scrun()]
    }

    /// Fail unless the binary exists.
    pub fn require(&self) -> Result<()> {
        if self.path.is_file() {
            Ok(())
        } else if self.name == "scrun" {
            Err(Error::MissingScrun {
                path: self.path.clone(),
            })
        } else {
            Err(Error::MissingProgram {
                program: self.path.display().to_string(),
                package: "runc".into(),
            })
        }
    }
}

/// The scrun binary under test: `$SCRUN_BIN`, else
/// `<workspace>/target/x86_64-unknown-linux-gnu/debug/scrun` (the workspace builds for an explicit
/// target, see `.cargo/config.toml`).
pub fn scrun_path() -> PathBuf {
    match std::env::var_os("SCRUN_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_dir().join("target/x86_64-unknown-linux-gnu/debug/scrun"),
    }
}

/// The cargo workspace root (the parent of this crate).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// Run `scenario` under runc and then under scrun and assert that both observed the same.
///
/// Also returns the observation so a test can assert the expected value. A missing scrun binary
/// fails the scrun half (after the runc half ran) with a message saying how to provide it.
pub fn differential<T, F>(scenario: &str, mut f: F) -> T
where
    T: PartialEq + Debug,
    F: FnMut(&Runtime) -> T,
{
    let runc = Runtime::runc();
    if let Err(e) = runc.require() {
        panic!("{scenario}: {e}");
    }
    let reference = f(&runc);
    let scrun = Runtime::scrun();
    if let Err(e) = scrun.require() {
        panic!("{scenario}: runc observed {reference:?}; the scrun half cannot run: {e}");
    }
    let observed = f(&scrun);
    assert!(
        reference == observed,
        "{scenario}: runtimes disagree\n  runc  ({}): {reference:?}\n  scrun ({}): {observed:?}",
        runc.path.display(),
        scrun.path.display()
    );
    reference
}
