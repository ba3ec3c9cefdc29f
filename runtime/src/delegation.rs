//! A container with its own seccomp agent (`SCMP_ACT_NOTIFY` + `linux.seccomp.listenerPath` in its
//! profile). The kernel lets one filter chain have one listener, so under the `delegate` policy
//! (`[supervisor] container_listener`, the default) the agent gets it, as the OCI spec says, and
//! scrun supervises the container's execs through the exec gate alone: fanotify on the container's
//! overlay (enforce: the gate decides and can deny; audit: the watcher reports), deciding on file
//! identity without arguments. `create` leaves the profile as it is and marks the container's scrun
//! directory; findings and `scrun state` say that the container is gate-only supervised.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use crate::scrun_dir::ScrunDir;

/// The annotation `scrun state` adds for such a container.
pub const STATE_ANNOTATION: &str = "io.github.scrun.supervision";

/// The finding property that marks an exec decided without the seccomp path.
pub const FINDING_PROPERTY: &str = "scrun_supervision";

fn marker(sdir: &ScrunDir) -> PathBuf {
    sdir.path.join("gate-only")
}

/// The agent's socket when the container's own profile hands its listener to one.
pub fn container_agent(spec: &Value) -> Option<String> {
    spec.pointer("/linux/seccomp/listenerPath")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(String::from)
}

/// Mark the container as supervised through the exec gate only.
pub fn mark(sdir: &ScrunDir, agent: &str) -> std::io::Result<()> {
    fs::write(marker(sdir), agent)
}

/// The agent's socket, when the container is gate-only supervised.
pub fn agent(sdir: &ScrunDir) -> Option<String> {
    fs::read_to_string(marker(sdir)).ok()
}

/// What `scrun state` says about a gate-only supervised container (`overlay`: whether its rootfs
/// is an overlay, without which there is no exec gate).
pub fn describe(agent: &str, overlay: bool) -> String {
    if overlay {
        format!(
            "gate-only: the container's own seccomp agent ({agent}) holds its seccomp listener; execs are supervised through the exec gate only (file identity, no arguments)"
        )
    } else {
        format!(
            "unsupervised: the container's own seccomp agent ({agent}) holds its seccomp listener and its rootfs is not an overlay, so there is no exec gate"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_is_a_non_empty_listener_path() {
        let spec = serde_json::json!({"linux": {"seccomp": {"listenerPath": "/run/agent.sock"}}});
        assert_eq!(container_agent(&spec).as_deref(), Some("/run/agent.sock"));
        let spec = serde_json::json!({"linux": {"seccomp": {"listenerPath": ""}}});
        assert_eq!(container_agent(&spec), None);
        assert_eq!(container_agent(&serde_json::json!({})), None);
    }
}
