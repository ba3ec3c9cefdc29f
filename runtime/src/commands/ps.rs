//! `scrun ps`: the container's host pids from its cgroup (`--format json` is what the shim and
//! `docker top` use); `table` filters the host's `ps` output like runc.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use libcgroups::common::CgroupManager;
use liboci_cli::Ps;

use super::load_container;

pub fn cgroup_manager(
    container: &libcontainer::container::Container,
) -> Result<libcgroups::common::AnyCgroupManager> {
    Ok(libcgroups::common::create_cgroup_manager(
        libcgroups::common::CgroupConfig {
            cgroup_path: container.spec()?.cgroup_path,
            systemd_cgroup: container.systemd(),
            container_name: container.id().to_string(),
        },
    )?)
}

pub fn ps(args: Ps, root: &Path) -> Result<()> {
    let container = load_container(root, &args.container_id)?;
    let pids: Vec<i32> = cgroup_manager(&container)?
        .get_all_pids()
        .with_context(|| {
            format!(
                "cannot list the processes of container {}",
                args.container_id
            )
        })?
        .iter()
        .map(|p| p.as_raw())
        .collect();
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let opts = if args.ps_options.is_empty() {
                vec!["-ef".to_string()]
            } else {
                args.ps_options
            };
            let out = Command::new("ps")
                .args(&opts)
                .output()
                .context("cannot run ps")?;
            if !out.status.success() {
                bail!(
                    "ps {}: {}",
                    opts.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let pid_col = header
                .split_whitespace()
                .position(|c| c == "PID")
                .context("ps output has no PID column")?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(pid_col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(())
}
