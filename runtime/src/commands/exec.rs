//! `scrun exec`: runc's two forms (`--process FILE`, or flags and a command) turned into one process
//! file, run through libcontainer's tenant path with scrun's [`TenantExecutor`] so the process is
//! under the container's seccomp profile and supervisor (see `tenant.rs`).

use std::collections::HashSet;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result, bail};
use libcontainer::container::ContainerStatus;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{WaitStatus, waitpid};
use oci_spec::runtime::{Capability, LinuxCapabilities, Process, Spec};

use super::load_container;
use crate::scrun_dir::ScrunDir;
use crate::tenant::TenantExecutor;

/// The process to run, from `--process` or from the init's process plus the flags (runc's rule).
fn build_process(a: &crate::cli::Exec, spec: &Spec) -> Result<Process> {
    if let Some(p) = &a.process {
        let text =
            fs::read(p).with_context(|| format!("cannot read process file {}", p.display()))?;
        return serde_json::from_slice(&text)
            .with_context(|| format!("process file {} is not a valid OCI process", p.display()));
    }
    if a.command.is_empty() {
        bail!("exec needs a command or --process");
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    for (k, v) in &a.env {
        env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
        env.push(format!("{k}={v}"));
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some((uid, gid)) = a.user {
        let mut user = p.user().clone();
        user.set_uid(uid);
        if let Some(g) = gid {
            user.set_gid(g);
        }
        if !a.additional_gids.is_empty() {
            user.set_additional_gids(Some(a.additional_gids.clone()));
        }
        p.set_user(user);
    }
    p.set_terminal(Some(a.tty));
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    if let Some(ap) = &a.apparmor {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let mut unknown: Vec<&str> = a
            .cap
            .iter()
            .filter(|c| parse_capability(c).is_none())
            .map(|c| c.as_str())
            .collect();
        if !unknown.is_empty() {
            // runc's behaviour and words: a name it does not know is ignored, with a warning.
            unknown.sort_unstable();
            tracing::warn!(
                "ignoring unknown or unavailable capabilities: [{}]",
                unknown.join(" ")
            );
        }
        let extra: HashSet<Capability> = a.cap.iter().filter_map(|c| parse_capability(c)).collect();
        let add = |s: &Option<HashSet<Capability>>| {
            Some(
                s.clone()
                    .unwrap_or_default()
                    .union(&extra)
                    .copied()
                    .collect(),
            )
        };
        caps.set_bounding(add(caps.bounding()));
        caps.set_effective(add(caps.effective()));
        caps.set_permitted(add(caps.permitted()));
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// A capability name as runc knows it: `CAP_KILL`, exactly (runc ignores `KILL` or `cap_kill` as
/// unknown names, with a warning).
pub fn parse_capability(name: &str) -> Option<Capability> {
    if !name.starts_with("CAP_") {
        return None;
    }
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// Give the new process CAP_SYS_ADMIN + CAP_SETPCAP until the executor has loaded the filter;
/// returns the sets to restore (None when the process keeps every capability anyway).
fn with_filter_caps(p: &mut Process) -> Option<LinuxCapabilities> {
    let original = p.capabilities().clone()?;
    let need = [Capability::SysAdmin, Capability::Setpcap];
    let mut caps = original.clone();
    let add = |s: &Option<HashSet<Capability>>| {
        let mut s = s.clone().unwrap_or_default();
        s.extend(need);
        Some(s)
    };
    caps.set_bounding(add(caps.bounding()));
    caps.set_effective(add(caps.effective()));
    caps.set_permitted(add(caps.permitted()));
    p.set_capabilities(Some(caps));
    Some(original)
}

pub fn exec(a: crate::cli::Exec, root: &Path) -> Result<u8> {
    let id = &a.container_id;
    let container = load_container(root, id)?;
    match container.status() {
        ContainerStatus::Running => {}
        ContainerStatus::Paused if a.ignore_paused => {}
        ContainerStatus::Paused => bail!("cannot exec in a paused container {id}: resume it first"),
        _ => bail!("cannot exec: container {id} not running"),
    }
    let sdir = ScrunDir::for_container(root, id);
    let spec_path = container.bundle().join("config.json");
    let spec =
        Spec::load(&spec_path).with_context(|| format!("cannot load {}", spec_path.display()))?;
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());

    let mut process = build_process(&a, &spec)?;
    let restore_caps = if seccomp.is_some() {
        with_filter_caps(&mut process)
    } else {
        None
    };
    let process_file = sdir.path.join(format!("exec-{}.json", std::process::id()));
    fs::write(&process_file, serde_json::to_vec(&process)?)
        .with_context(|| format!("cannot write {}", process_file.display()))?;

    let notifies = seccomp
        .as_ref()
        .is_some_and(|s| s.listener_path().is_some());
    // A gate-only supervised container (`delegation.rs`): the process's listener goes to the
    // container's own seccomp agent, with its metadata, as runc sends it.
    let agent = crate::delegation::agent(&sdir);
    let (socket, metadata) = match (&agent, &seccomp) {
        (Some(_), Some(s)) => (
            s.listener_path().clone().unwrap_or_default(),
            s.listener_metadata().clone().unwrap_or_default(),
        ),
        _ => (sdir.socket(), "scrun-exec".to_string()),
    };
    let supervisor = if notifies {
        Some(UnixStream::connect(&socket).with_context(|| match agent {
            Some(_) => format!(
                "the seccomp agent of container {id} is not reachable at {}",
                socket.display()
            ),
            None => format!(
                "the exec supervisor of container {id} is not reachable at {}; execs in this container fail closed (see scrun state)",
                socket.display()
            ),
        })?)
    } else {
        None
    };
    let state = serde_json::json!({
        "ociVersion": "1.0.2",
        "fds": ["seccompFd"],
        "pid": 0,
        "metadata": metadata,
        "state": {"ociVersion": "1.0.2", "id": id, "status": "running", "pid": 0, "bundle": container.bundle()},
    });
    let executor = TenantExecutor {
        seccomp,
        supervisor_fd: supervisor.as_ref().map(|s| s.as_raw_fd()),
        state: serde_json::to_vec(&state)?,
        restore_caps,
    };
    if let Err(e) = crate::logging::record_build_errors(&sdir.path) {
        tracing::debug!("cannot record the process's setup errors: {e}");
    }
    let built = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_executor(executor)
        .with_root_path(root.to_path_buf())?
        .with_console_socket(a.console_socket.as_ref())
        .with_pid_file(a.pid_file.as_ref())?
        .with_preserved_fds(a.preserve_fds)
        .validate_id()?
        .as_tenant()
        .with_detach(a.detach)
        .with_process(Some(&process_file))
        .with_ignore_paused(a.ignore_paused)
        .with_sub_cgroup(a.cgroup.clone())
        .build();
    drop(supervisor);
    let _ = fs::remove_file(&process_file);
    let pid = built
        .map_err(|e| {
            let cwd = process.cwd().to_string_lossy().into_owned();
            super::init_error::explain(e.into(), &crate::logging::build_errors(), Some(&cwd))
        })
        .with_context(|| format!("cannot exec in container {id}"))?;
    if a.detach {
        return Ok(0);
    }
    match waitpid(pid, None)? {
        WaitStatus::Exited(_, c) => Ok(c as u8),
        WaitStatus::Signaled(_, s, _) => Ok(128 + s as u8),
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_as_runc_knows_them() {
        assert_eq!(parse_capability("CAP_KILL"), Some(Capability::Kill));
        assert_eq!(parse_capability("CAP_SYSLOG"), Some(Capability::Syslog));
        for name in ["KILL", "kill", "cap_kill", "CAP_NOPE", "", "CAP_"] {
            assert_eq!(parse_capability(name), None, "{name}");
        }
    }
}
