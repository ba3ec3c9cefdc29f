//! `scrun delete [--force]`: libcontainer's delete, the container's poststop hooks (see
//! `poststop.rs`), then the supervisor and scrun's directory. `--force` on an unknown id succeeds,
//! as callers' cleanup paths expect, and `--force` always removes the container's state.

use std::path::Path;

use anyhow::{Context, Result, bail};
use libcontainer::container::ContainerStatus;
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
    // load_container found whether the init is really alive; libcontainer's delete looks at the
    // pid alone again, so a container found stopped is deleted as such (forcing only kills what
    // is left in its cgroup, as runc does for a stopped container).
    let status = container.status();
    if !args.force && matches!(status, ContainerStatus::Running | ContainerStatus::Paused) {
        bail!(
            "cannot delete container {id} that is not stopped: {}",
            super::state::status_str(status)
        );
    }
    let stopped = status == ContainerStatus::Stopped;
    if let Err(e) = container.delete(args.force || stopped) {
        if !args.force {
            return Err(e).with_context(|| format!("cannot delete container {id}"));
        }
        tracing::warn!("container {id}: {e:#}; removing its state anyway (--force)");
        std::fs::remove_dir_all(container_dir(root, id))
            .with_context(|| format!("cannot remove the state of container {id}"))?;
    }
    super::poststop::run(&sdir, id);
    crate::supervisor::stop(&sdir);
    sdir.remove()
        .with_context(|| format!("cannot remove {}", sdir.path.display()))?;
    Ok(())
}
