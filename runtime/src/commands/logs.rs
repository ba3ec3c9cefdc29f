//! `scrun logs ID`: the log of the container's exec supervisor (keeper, worker, hook runner),
//! `supervisor.log` beside the container's state, the rotated part first. It goes with the
//! container on `delete`.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::cli::Logs;
use crate::logging::ContainerLog;
use crate::scrun_dir::ScrunDir;

pub fn logs(a: &Logs, root: &Path) -> Result<()> {
    let sdir = ScrunDir::for_container(root, &a.container_id);
    if !sdir.exists() {
        bail!(
            "container {} does not exist under {} (its supervisor log goes with it on delete)",
            a.container_id,
            root.display()
        );
    }
    let log = sdir.supervisor_log();
    let mut out = std::io::stdout().lock();
    for path in [ContainerLog::rotated(&log), log] {
        match fs::read(&path) {
            Ok(text) => out
                .write_all(&text)
                .context("cannot write the supervisor log to stdout")?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
        }
    }
    Ok(())
}
