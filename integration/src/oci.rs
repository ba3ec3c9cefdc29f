//! Plain OCI bundles for tests that drive runtimes through the runc CLI directly.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::process::run_ok;

/// `runc spec` in `bundle`, then the process set to `args` (no terminal) and a writable root.
pub fn write_spec(bundle: &Path, args: &[&str]) -> Result<()> {
    run_ok(
        Command::new("runc").args(["spec", "--bundle"]).arg(bundle),
        30,
    )?;
    set_args(bundle, args)
}

/// Replace the process args of `bundle/config.json` (no terminal, writable root).
pub fn set_args(bundle: &Path, args: &[&str]) -> Result<()> {
    let p = bundle.join("config.json");
    let io = |op: &'static str| {
        let p = p.clone();
        move |source| Error::Io {
            op,
            path: p,
            source,
        }
    };
    let mut cfg: serde_json::Value = serde_json::from_slice(&fs::read(&p).map_err(io("read"))?)
        .map_err(|e| Error::Io {
            op: "parse",
            path: p.clone(),
            source: std::io::Error::other(e),
        })?;
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = serde_json::json!(args);
    cfg["root"]["readonly"] = false.into();
    fs::write(&p, serde_json::to_vec_pretty(&cfg).expect("json")).map_err(io("write"))
}
