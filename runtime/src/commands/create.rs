//! `scrun create`: rewrite the caller's spec into a shadow bundle, make sure the container's
//! supervisor listens, then let libcontainer build the container from the shadow bundle.

use std::fs;
use std::path::{Path, PathBuf};

use crate::tenant::InitExecutor;
use anyhow::{Context, Result, bail};
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use super::{container_dir, ensure_root};
use crate::cli::GlobalOpts;
use crate::identity;
use crate::scrun_dir::{Meta, ScrunDir};
use crate::spec_rewrite::Rewrite;
use scrun_detect::policy::Mappings;

/// What `create` and `run` share.
pub struct CreateArgs<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a PathBuf>,
    pub console_socket: Option<&'a PathBuf>,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    pub detach: bool,
}

pub fn create(a: liboci_cli::Create, global: &GlobalOpts) -> Result<()> {
    create_container(
        &CreateArgs {
            id: &a.container_id,
            bundle: &a.bundle,
            pid_file: a.pid_file.as_ref(),
            console_socket: a.console_socket.as_ref(),
            preserve_fds: a.preserve_fds,
            no_pivot: a.no_pivot,
            detach: true,
        },
        global,
    )
    .map(|_| ())
}

pub fn create_container(a: &CreateArgs<'_>, global: &GlobalOpts) -> Result<Container> {
    let root = global.root();
    ensure_root(&root)?;
    if container_dir(&root, a.id).exists() {
        bail!("container with id {} already exists", a.id);
    }
    let sdir = ScrunDir::for_container(&root, a.id);
    // The supervisor starts while libcontainer builds the container; create succeeds only once
    // both are done (a bad policy or feed still fails create, with the supervisor's message).
    let result = prepare(a, global, &root, &sdir).and_then(|(starting, new_netns)| {
        tracing::debug!(
            id = a.id,
            "bundle prepared, supervisor starting; building the container"
        );
        let built = build(a, global, &root, &sdir);
        tracing::debug!(
            id = a.id,
            ok = built.is_ok(),
            "container built; waiting for the supervisor"
        );
        let ready = starting.wait().context("cannot start the exec supervisor");
        tracing::debug!(id = a.id, ok = ready.is_ok(), "supervisor ready");
        match (built, ready) {
            (Ok(c), Ok(_)) => {
                if let Some(pid) = c.pid() {
                    if let Err(e) = crate::init_record::record(&sdir, pid.as_raw()) {
                        tracing::warn!("cannot record the start time of the init: {e}");
                    }
                    // As runc: a network namespace made for the container has its `lo` up.
                    if new_netns {
                        if let Err(e) = scrun_kernel::net::loopback_up_in(pid.as_raw()) {
                            tracing::warn!(
                                "cannot set lo up in the network namespace of container {}: {e}",
                                a.id
                            );
                        }
                    }
                }
                Ok(c)
            }
            (Ok(mut c), Err(e)) => {
                // No supervisor, no container: its init must not run unwatched.
                let _ = c.delete(true);
                Err(e)
            }
            // The supervisor's readiness does not depend on the init: its own error (a bad
            // policy or feed) is the cause, and libcontainer then only saw its socket close. An
            // init that failed by itself leaves the supervisor ready: see `build`.
            (Err(_), Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
        }
    });
    if result.is_err() {
        crate::supervisor::stop(&sdir);
        let _ = sdir.remove();
    }
    result
}

fn read_spec(bundle: &Path) -> Result<serde_json::Value> {
    let path = bundle.join("config.json");
    let text = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not valid JSON; fix or regenerate it (scrun spec)",
            path.display()
        )
    })
}

fn prepare(
    a: &CreateArgs<'_>,
    global: &GlobalOpts,
    root: &Path,
    sdir: &ScrunDir,
) -> Result<(crate::supervisor::Starting, bool)> {
    let bundle = fs::canonicalize(a.bundle)
        .with_context(|| format!("bundle {} does not exist", a.bundle.display()))?;
    let mut spec = read_spec(&bundle)?;
    let policy = crate::supervisor::load_policy()?;
    sdir.create_fresh()
        .with_context(|| format!("cannot create {}", sdir.path.display()))?;

    let supported = caps::runtime::thread_all_supported();
    let ignored = crate::spec_rewrite::drop_unknown_capabilities(&mut spec, |name| {
        super::exec::parse_capability(name).is_some()
            && name
                .parse::<caps::Capability>()
                .is_ok_and(|c| supported.contains(&c))
    });
    if !ignored.is_empty() {
        tracing::warn!(
            "ignoring unknown or unavailable capabilities: [{}]",
            ignored.join(" ")
        );
    }
    let caller = identity::detect(&spec, &bundle);
    let mode = identity::mode_override(&spec, &caller)?.unwrap_or(policy.config.mode);
    let mappings = match identity::mappings_override(&spec, &caller)? {
        Some(m) => m,
        None => policy.config.mappings_for(mode),
    };
    super::validate_for_create(&policy.config, &identity::rule_overrides(&spec, &caller))?;
    let metadata = serde_json::json!({"id": a.id, "scrunDir": sdir.path}).to_string();
    let agent = crate::delegation::container_agent(&spec);
    if let Some(agent) = &agent {
        use scrun_detect::policy::ContainerListener;
        match policy.config.supervisor.container_listener {
            ContainerListener::Refuse => bail!(
                "{}/config.json: the seccomp profile hands its listener to the container's own seccomp agent ({agent}); refused by [supervisor] container_listener = \"refuse\" (\"delegate\" runs it with exec supervision through the exec gate only)",
                bundle.display()
            ),
            ContainerListener::Delegate => crate::delegation::mark(sdir, agent)
                .with_context(|| format!("cannot write to {}", sdir.path.display()))?,
        }
    }
    let report = Rewrite {
        container_id: a.id,
        bundle: &bundle,
        listener_path: &sdir.socket(),
        listener_metadata: metadata,
        systemd_cgroup: global.systemd_cgroup,
        delegate: agent.is_some(),
        mappings: mappings != Mappings::Off,
    }
    .apply(&mut spec)
    .with_context(|| format!("cannot prepare {}/config.json", bundle.display()))?;
    tracing::debug!(?report, "seccomp profile merged");

    super::poststop::take(sdir, &mut spec)?;
    let rootfs = PathBuf::from(spec["root"]["path"].as_str().unwrap_or_default());
    let rootfs = fs::canonicalize(&rootfs)
        .with_context(|| format!("rootfs {} does not exist", rootfs.display()))?;
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").context("cannot read /proc/self/mountinfo")?;
    let layers = scrun_detect::layers::rootfs_from_mountinfo(&mountinfo, &rootfs)
        .with_context(|| format!("cannot read the layers of rootfs {}", rootfs.display()))?;
    let rootfs_dev = std::os::unix::fs::MetadataExt::dev(
        &fs::metadata(&rootfs).with_context(|| format!("cannot stat {}", rootfs.display()))?,
    );
    let annotations = spec
        .get("annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .unwrap_or_default();
    fs::write(sdir.config(), serde_json::to_vec(&spec)?)
        .with_context(|| format!("cannot write {}", sdir.config().display()))?;
    let meta = Meta {
        id: a.id.to_string(),
        root: root.to_path_buf(),
        bundle,
        rootfs,
        mode,
        caller: caller.kind.clone(),
        hints: caller.hints,
        annotations,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        config_path: policy.path.clone(),
        layers,
        rootfs_dev,
        scrun_bin: invoked_binary(),
        log_format: if global.json_logs() {
            crate::logging::Format::Json
        } else {
            crate::logging::Format::Text
        },
        view_untrapped: !report.view_untrapped.is_empty(),
        // The container's own agent holds the listener: nothing of scrun's is trapped.
        mappings: if agent.is_some() {
            Mappings::Off
        } else {
            mappings
        },
        mappings_trapped: report.mappings.notified,
        mappings_untrapped: report.mappings.untrapped,
        ns_trapped: report.ns_untrapped.is_empty(),
    };
    sdir.save_meta(&meta)?;
    crate::supervisor::precheck_entrypoint(sdir, &spec)?;
    let starting = crate::supervisor::start(sdir).context("cannot start the exec supervisor")?;
    Ok((starting, makes_network_namespace(&spec)))
}

/// Whether the spec asks for a new network namespace (`linux.namespaces` has `network` without a
/// path), in which runc brings the loopback interface up.
fn makes_network_namespace(spec: &serde_json::Value) -> bool {
    spec.pointer("/linux/namespaces")
        .and_then(|n| n.as_array())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.get("type").and_then(|t| t.as_str()) == Some("network")
                    && n.get("path")
                        .and_then(|p| p.as_str())
                        .is_none_or(str::is_empty)
            })
        })
}

/// `process.cwd` of a config.json, for error messages.
fn spec_cwd(config: &Path) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&fs::read(config).ok()?).ok()?;
    v.pointer("/process/cwd")?.as_str().map(String::from)
}

/// The path scrun was invoked as (`argv[0]` resolved through PATH): `/proc/self/exe` is the sealed
/// copy, which hooks cannot call.
fn invoked_binary() -> PathBuf {
    let arg0 = PathBuf::from(std::env::args_os().next().unwrap_or_default());
    if arg0.components().count() > 1 {
        return fs::canonicalize(&arg0).unwrap_or(arg0);
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(&arg0))
                .find(|c| c.is_file())
        })
        .unwrap_or(arg0)
}

fn build(
    a: &CreateArgs<'_>,
    global: &GlobalOpts,
    root: &Path,
    sdir: &ScrunDir,
) -> Result<Container> {
    if let Err(e) = crate::logging::record_build_errors(&sdir.path) {
        tracing::debug!("cannot record the init's errors: {e}");
    }
    ContainerBuilder::new(a.id.to_string(), SyscallType::default())
        .with_executor(InitExecutor)
        .with_pid_file(a.pid_file)?
        .with_console_socket(a.console_socket)
        .with_root_path(root.to_path_buf())?
        .with_preserved_fds(a.preserve_fds)
        .validate_id()?
        .as_init(&sdir.path)
        .with_systemd(global.systemd_cgroup)
        .with_detach(a.detach)
        .with_no_pivot(a.no_pivot)
        .build()
        .map_err(|e| {
            let cwd = spec_cwd(&sdir.config());
            super::init_error::explain(e.into(), &crate::logging::build_errors(), cwd.as_deref())
        })
        .with_context(|| format!("cannot create container {}", a.id))
}

#[cfg(test)]
mod tests {
    use super::makes_network_namespace;

    #[test]
    fn only_a_network_namespace_without_a_path_is_new() {
        let spec = |ns: serde_json::Value| serde_json::json!({"linux": {"namespaces": ns}});
        assert!(makes_network_namespace(&spec(
            serde_json::json!([{"type": "pid"}, {"type": "network"}])
        )));
        assert!(makes_network_namespace(&spec(
            serde_json::json!([{"type": "network", "path": ""}])
        )));
        assert!(!makes_network_namespace(&spec(
            serde_json::json!([{"type": "network", "path": "/var/run/netns/x"}])
        )));
        assert!(!makes_network_namespace(&spec(
            serde_json::json!([{"type": "pid"}])
        )));
        assert!(!makes_network_namespace(&serde_json::json!({})));
    }
}
