//! `scrun state`: runc's JSON shape (`rootfs`, string `owner`, `pid` 0 when stopped, never
//! `creating`), reporting the caller's bundle rather than scrun's shadow bundle.

use std::path::Path;

use anyhow::Result;
use libcontainer::container::{Container, ContainerStatus};
use liboci_cli::State;
use serde_json::{Value, json};

use super::load_container;
use crate::scrun_dir::ScrunDir;

pub fn status_str(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating | ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

fn owner_name(uid: Option<u32>) -> String {
    let uid = uid.unwrap_or(0);
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

pub fn container_state(container: &Container, root: &Path) -> Value {
    let status = container.status();
    let pid = match status {
        ContainerStatus::Stopped => 0,
        _ => container.pid().map(|p| p.as_raw()).unwrap_or(0),
    };
    let dir = ScrunDir::for_container(root, container.id());
    let meta = dir.load_meta().ok();
    let bundle = meta
        .as_ref()
        .map(|m| m.bundle.clone())
        .unwrap_or_else(|| container.bundle().clone());
    let rootfs = meta
        .as_ref()
        .map(|m| m.rootfs.display().to_string())
        .unwrap_or_default();
    let mut annotations = container.state.annotations.clone().unwrap_or_default();
    if let Some(s) = crate::supervisor::health::describe(&dir) {
        annotations.insert("io.github.scrun.supervisor".into(), s);
    }
    if let Some(agent) = crate::delegation::agent(&dir) {
        let overlay = meta
            .as_ref()
            .is_some_and(|m| matches!(m.layers, scrun_detect::layers::Rootfs::Overlay(_)));
        annotations.insert(
            crate::delegation::STATE_ANNOTATION.into(),
            crate::delegation::describe(&agent, overlay),
        );
    }
    let created = container
        .created()
        .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_default();
    let mut v = json!({
        "ociVersion": "1.0.2",
        "id": container.id(),
        "pid": pid,
        "status": status_str(status),
        "bundle": bundle,
        "rootfs": rootfs,
        "created": created,
        "owner": owner_name(container.state.creator),
    });
    if !annotations.is_empty() {
        v["annotations"] = json!(annotations);
    }
    v
}

pub fn state(args: State, root: &Path) -> Result<()> {
    let container = load_container(root, &args.container_id)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&container_state(&container, root))?
    );
    Ok(())
}
