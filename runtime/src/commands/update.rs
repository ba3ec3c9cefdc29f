//! `scrun update --resources -|FILE` (and the flag form for the common limits).

use std::fs;
use std::io;
use std::path::Path;

use anyhow::{Context, Result};
use libcgroups::common::{CgroupManager, ControllerOpt};
use liboci_cli::Update;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use super::load_container;
use super::ps::cgroup_manager;

fn resources_from_flags(a: &Update) -> Result<LinuxResources> {
    let mut b = LinuxResourcesBuilder::default();
    if let Some(limit) = a.pids_limit {
        b = b.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }
    if a.memory.is_some() || a.memory_reservation.is_some() || a.memory_swap.is_some() {
        let mut m = LinuxMemoryBuilder::default();
        if let Some(v) = a.memory {
            m = m.limit(v as i64);
        }
        if let Some(v) = a.memory_reservation {
            m = m.reservation(v as i64);
        }
        if let Some(v) = a.memory_swap {
            m = m.swap(v);
        }
        b = b.memory(m.build()?);
    }
    if a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_share.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
    {
        let mut c = LinuxCpuBuilder::default();
        if let Some(v) = a.cpu_period {
            c = c.period(v);
        }
        if let Some(v) = a.cpu_quota {
            c = c.quota(v as i64);
        }
        if let Some(v) = a.cpu_share {
            c = c.shares(v);
        }
        if let Some(v) = &a.cpuset_cpus {
            c = c.cpus(v.clone());
        }
        if let Some(v) = &a.cpuset_mems {
            c = c.mems(v.clone());
        }
        b = b.cpu(c.build()?);
    }
    Ok(b.build()?)
}

pub fn update(args: Update, root: &Path) -> Result<()> {
    let container = load_container(root, &args.container_id)?;
    let resources: LinuxResources = match &args.resources {
        Some(p) if p.as_os_str() == "-" => serde_json::from_reader(io::stdin())
            .context("cannot parse resources JSON from stdin")?,
        Some(p) => {
            let text = fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_slice(&text)
                .with_context(|| format!("cannot parse resources JSON in {}", p.display()))?
        }
        None => resources_from_flags(&args)?,
    };
    cgroup_manager(&container)?
        .apply(&ControllerOpt {
            resources: &resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
        .with_context(|| {
            format!(
                "cannot update the resources of container {}",
                args.container_id
            )
        })?;
    Ok(())
}
