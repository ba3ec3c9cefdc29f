//! `scrun delete [--force]`: libcontainer's delete, then the supervisor and scrun's directory.
//! `--force` on an unknown id succeeds, as callers' cleanup paths expect.

use std::path::Path;

use anyhow::{Context, Result, bail};
use liboci_cli::Delete;

use super::{container_dir, load_container};
use crate::scrun_dir::ScrunDir;

pub fn delete(args: Delete, root: &Path) -> Result<()> {
    let id = &args.container_id;
    let sdir = ScrunDir::for_container(root, id);
    if !container_dir(root, id).join("state.json").exists() {
        if args.force {
            let _ = std::fs::remove_dir_all(container_dir(root, id));
            crate::supervisor::stop(&sdir);
            let _ = sdir.remove();
            return Ok(());
        }
        bail!("container {id} does not exist");
    }
    let mut container = load_container(root, id)?;
    container
        .delete(args.force)
        .with_context(|| format!("cannot delete container {id}"))?;
    crate::supervisor::stop(&sdir);
    sdir.remove()
        .with_context(|| format!("cannot remove {}", sdir.path.display()))?;
    Ok(())
}
