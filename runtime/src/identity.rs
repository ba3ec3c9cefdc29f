//! Which engine created a container and where its name and image are (callers note §8).
//!
//! `create` only records cheap local hints; the supervisor resolves the identity when it first needs
//! it (a finding), so `create` never waits on an engine (Docker's inspect API deadlocks there).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use scrun_detect::policy::Mode;
use serde_json::Value;

use crate::scrun_dir::Meta;

#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub kind: String,
    pub hints: BTreeMap<String, String>,
}

fn annotation<'a>(spec: &'a Value, key: &str) -> Option<&'a str> {
    spec.get("annotations")?.get(key)?.as_str()
}

fn parent_cmdline() -> Vec<String> {
    let ppid = nix::unistd::getppid().as_raw();
    fs::read(format!("/proc/{ppid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Docker: `/etc/hostname` is bind-mounted from `<data-root>/containers/<id>/hostname`.
fn docker_hostname_source(spec: &Value) -> Option<(PathBuf, String)> {
    for m in spec.get("mounts")?.as_array()? {
        if m.get("destination")?.as_str()? != "/etc/hostname" {
            continue;
        }
        let src = Path::new(m.get("source")?.as_str()?);
        let cdir = src.parent()?;
        let id = cdir.file_name()?.to_str()?;
        if id.len() == 64 && cdir.parent()?.file_name()? == "containers" {
            return Some((cdir.parent()?.parent()?.to_path_buf(), id.to_string()));
        }
    }
    None
}

pub fn detect(spec: &Value, bundle: &Path) -> Caller {
    let mut hints = BTreeMap::new();
    if annotation(spec, "io.kubernetes.cri.container-type").is_some() {
        return Caller {
            kind: "cri".into(),
            hints,
        };
    }
    if let Some((data_root, id)) = docker_hostname_source(spec) {
        hints.insert(
            "docker_config".into(),
            data_root
                .join("containers")
                .join(&id)
                .join("config.v2.json")
                .display()
                .to_string(),
        );
        return Caller {
            kind: "docker".into(),
            hints,
        };
    }
    let parent = parent_cmdline();
    let is_conmon = parent.first().is_some_and(|p| p.ends_with("conmon"));
    if annotation(spec, "io.container.manager") == Some("libpod") || is_conmon {
        if let Some(i) = parent.iter().position(|a| a == "-n") {
            if let Some(n) = parent.get(i + 1) {
                hints.insert("name".into(), n.clone());
            }
        }
        // <graphroot>/overlay-containers/<id>/userdata
        if let Some(graphroot) = bundle
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
        {
            hints.insert(
                "podman_containers".into(),
                graphroot
                    .join("overlay-containers/containers.json")
                    .display()
                    .to_string(),
            );
        }
        return Caller {
            kind: "podman".into(),
            hints,
        };
    }
    if std::env::var_os("TTRPC_ADDRESS").is_some()
        || parent
            .first()
            .is_some_and(|p| p.contains("containerd-shim"))
    {
        if let Some(ns) = bundle.parent().and_then(Path::file_name) {
            hints.insert("namespace".into(), ns.to_string_lossy().into_owned());
        }
        return Caller {
            kind: "containerd".into(),
            hints,
        };
    }
    Caller {
        kind: "oci".into(),
        hints,
    }
}

fn docker_config(meta_hints: &BTreeMap<String, String>) -> Option<Value> {
    let p = meta_hints.get("docker_config")?;
    serde_json::from_slice(&fs::read(p).ok()?).ok()
}

#[derive(Debug, thiserror::Error)]
#[error("invalid scrun.mode {value:?} on container ({source_of}): use \"audit\" or \"enforce\"")]
pub struct ModeError {
    pub value: String,
    pub source_of: &'static str,
}

/// A per-container setting `key`: the OCI annotation or, for Docker, the container label (the
/// annotation wins), with where it came from.
fn container_setting(spec: &Value, caller: &Caller, key: &str) -> Option<(String, &'static str)> {
    if let Some(v) = annotation(spec, key) {
        return Some((v.to_string(), "annotation"));
    }
    if caller.kind == "docker" {
        let cfg = docker_config(&caller.hints)?;
        let v = cfg.get("Config")?.get("Labels")?.get(key)?.as_str()?;
        return Some((v.to_string(), "label"));
    }
    None
}

/// Per-container mode: the `scrun.mode` OCI annotation or, for Docker, container label.
pub fn mode_override(spec: &Value, caller: &Caller) -> Result<Option<Mode>, ModeError> {
    match container_setting(spec, caller, "scrun.mode") {
        None => Ok(None),
        Some((v, source_of)) => match v.as_str() {
            "audit" => Ok(Some(Mode::Audit)),
            "enforce" => Ok(Some(Mode::Enforce)),
            _ => Err(ModeError {
                value: v,
                source_of,
            }),
        },
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid scrun.mappings {value:?} on container ({source_of}): use \"off\", \"audit\" or \"enforce\""
)]
pub struct MappingsError {
    pub value: String,
    pub source_of: &'static str,
}

/// Per-container mapping supervision: the `scrun.mappings` OCI annotation or, for Docker,
/// container label (`off`, `audit`, `enforce`).
pub fn mappings_override(
    spec: &Value,
    caller: &Caller,
) -> Result<Option<scrun_detect::policy::Mappings>, MappingsError> {
    match container_setting(spec, caller, "scrun.mappings") {
        None => Ok(None),
        Some((v, source_of)) => v.parse().map(Some).map_err(|_| MappingsError {
            value: v,
            source_of,
        }),
    }
}

/// Per-container rule actions: `scrun.rule.<ID>` OCI annotations and, for Docker, container
/// labels (annotations win).
pub fn rule_overrides(spec: &Value, caller: &Caller) -> BTreeMap<String, String> {
    let prefix = scrun_detect::rules::LABEL_PREFIX;
    let mut out = BTreeMap::new();
    if caller.kind == "docker" {
        if let Some(l) = docker_config(&caller.hints)
            .as_ref()
            .and_then(|c| c.pointer("/Config/Labels"))
            .and_then(Value::as_object)
        {
            for (k, v) in l {
                if let (true, Some(v)) = (k.starts_with(prefix), v.as_str()) {
                    out.insert(k.clone(), v.to_string());
                }
            }
        }
    }
    if let Some(a) = spec.get("annotations").and_then(Value::as_object) {
        for (k, v) in a {
            if let (true, Some(v)) = (k.starts_with(prefix), v.as_str()) {
                out.insert(k.clone(), v.to_string());
            }
        }
    }
    out
}

/// The container as a responder knows it.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub name: String,
    pub image_uri: String,
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub created: Option<String>,
}

pub fn resolve(meta: &Meta) -> Identity {
    let mut id = Identity {
        name: meta.id.clone(),
        created: Some(meta.created.clone()),
        ..Default::default()
    };
    let ann = |k: &str| meta.annotations.get(k).cloned();
    match meta.caller.as_str() {
        "docker" => {
            if let Some(cfg) = docker_config(&meta.hints) {
                let s = |p: &str| cfg.pointer(p).and_then(Value::as_str).map(String::from);
                id.name = s("/Name")
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or(id.name);
                id.image_uri = s("/Config/Image").unwrap_or_default();
                id.image_id = s("/Image").unwrap_or_default();
                id.created = s("/Created").or(id.created);
                if let Some(l) = cfg.pointer("/Config/Labels").and_then(Value::as_object) {
                    id.labels = l
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect();
                }
            }
        }
        "cri" => {
            id.name = ann("io.kubernetes.cri.container-name")
                .or_else(|| ann("io.kubernetes.cri.sandbox-name"))
                .unwrap_or(id.name);
            id.image_uri = ann("io.kubernetes.cri.image-name").unwrap_or_default();
            for k in [
                "sandbox-name",
                "sandbox-namespace",
                "sandbox-uid",
                "container-type",
            ] {
                if let Some(v) = ann(&format!("io.kubernetes.cri.{k}")) {
                    id.labels.insert(format!("io.kubernetes.cri.{k}"), v);
                }
            }
        }
        "podman" => {
            if let Some(n) = meta.hints.get("name") {
                id.name = n.clone();
            }
            if let Some(list) = meta
                .hints
                .get("podman_containers")
                .and_then(|p| fs::read(p).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            {
                if let Some(c) = list
                    .as_array()
                    .and_then(|a| a.iter().find(|c| c["id"] == meta.id.as_str()))
                {
                    id.image_id = c["image"]
                        .as_str()
                        .map(|s| format!("sha256:{s}"))
                        .unwrap_or_default();
                    if let Some(md) = c["metadata"]
                        .as_str()
                        .and_then(|m| serde_json::from_str::<Value>(m).ok())
                    {
                        id.image_uri = md["image-name"].as_str().unwrap_or_default().to_string();
                        if let Some(n) = md["name"].as_str() {
                            id.name = n.to_string();
                        }
                    }
                }
            }
        }
        _ => {}
    }
    for (k, v) in &meta.annotations {
        if !k.starts_with("io.kubernetes.cri") {
            id.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docker_is_recognised_from_the_hostname_mount() {
        let id = "a".repeat(64);
        let spec = json!({"mounts": [{"destination": "/etc/hostname", "source": format!("/var/lib/docker/containers/{id}/hostname")}]});
        let c = detect(&spec, Path::new("/b"));
        assert_eq!(c.kind, "docker");
        assert_eq!(
            c.hints["docker_config"],
            format!("/var/lib/docker/containers/{id}/config.v2.json")
        );
    }

    #[test]
    fn cri_and_mode_annotation() {
        let spec = json!({"annotations": {"io.kubernetes.cri.container-type": "container", "scrun.mode": "enforce"}});
        let c = detect(&spec, Path::new("/b"));
        assert_eq!(c.kind, "cri");
        assert_eq!(mode_override(&spec, &c).unwrap(), Some(Mode::Enforce));
        let bad = json!({"annotations": {"scrun.mode": "block-all"}});
        assert!(mode_override(&bad, &c).is_err());
    }

    #[test]
    fn mappings_from_an_annotation_or_a_docker_label() {
        use scrun_detect::policy::Mappings;
        let c = detect(&json!({}), Path::new("/b"));
        let spec = json!({"annotations": {"scrun.mappings": "off"}});
        assert_eq!(mappings_override(&spec, &c).unwrap(), Some(Mappings::Off));
        assert_eq!(mappings_override(&json!({}), &c).unwrap(), None);
        let e = mappings_override(&json!({"annotations": {"scrun.mappings": "on"}}), &c)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"on\"") && e.contains("annotation"), "{e}");
        // Docker: the container's label, read from its config.v2.json.
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.v2.json");
        fs::write(
            &cfg,
            json!({"Config": {"Labels": {"scrun.mappings": "audit", "scrun.mode": "enforce"}}})
                .to_string(),
        )
        .unwrap();
        let docker = Caller {
            kind: "docker".into(),
            hints: [("docker_config".to_string(), cfg.display().to_string())].into(),
        };
        assert_eq!(
            mappings_override(&json!({}), &docker).unwrap(),
            Some(Mappings::Audit)
        );
        assert_eq!(
            mode_override(&json!({}), &docker).unwrap(),
            Some(Mode::Enforce)
        );
        // The annotation wins over the label.
        assert_eq!(
            mappings_override(&spec, &docker).unwrap(),
            Some(Mappings::Off)
        );
    }
}
