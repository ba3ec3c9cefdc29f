use std::path::Path;

use anyhow::{Context, Result};
use liboci_cli::{Pause, Resume};

use super::load_container;

pub fn pause(args: Pause, root: &Path) -> Result<()> {
    let mut container = load_container(root, &args.container_id)?;
    container
        .pause()
        .with_context(|| format!("cannot pause container {}", args.container_id))
}

pub fn resume(args: Resume, root: &Path) -> Result<()> {
    let mut container = load_container(root, &args.container_id)?;
    container
        .resume()
        .with_context(|| format!("cannot resume container {}", args.container_id))
}
