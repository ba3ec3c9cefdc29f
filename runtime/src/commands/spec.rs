//! `scrun spec`: write a default config.json, like `runc spec`.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::Spec;

pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let dir = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let spec = if args.rootless {
        Spec::rootless(0, 0)
    } else {
        Spec::default()
    };
    let text = serde_json::to_string_pretty(&spec)?;
    fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}
