//! Rendering an exec decision into an SCC `Finding`.

use std::path::Path;

use scrun_findings::{
    Category, Container, EnvVariable, File, Finding, Indicator, Label, Process, props,
};

use crate::event::{ContainerIdentity, Decision, ExecEvent, LoadedAs, ProcessInfo, Verdict};
use crate::policy::{Config, Mode, glob_match};
use crate::provenance::{AddedOn, Provenance};

const REDACTED: &str = "[REDACTED]";

/// The VirusTotal page of a SHA-256.
pub fn virustotal_uri(sha256_hex: &str) -> String {
    format!("https://www.virustotal.com/gui/file/{sha256_hex}")
}

/// Renders `decision` for `event` into a Finding. Meant for decisions with a category; without
/// one the category follows the provenance (memfd, /dev/shm, else Added Binary Executed; for a
/// library, Added Library Loaded).
pub fn render(
    event: &ExecEvent,
    decision: &Decision,
    identity: &ContainerIdentity,
    config: &Config,
    mode: Mode,
) -> Finding {
    let library = event.loaded_as == LoadedAs::Library;
    let category = decision.category.unwrap_or(match &decision.provenance {
        _ if library => Category::AddedLibraryLoaded,
        Provenance::Memfd => Category::FilelessMemfd,
        Provenance::Added {
            on: AddedOn::DevShm,
        } => Category::FilelessDevShm,
        _ => Category::AddedBinaryExecuted,
    });
    let mut f = Finding::new(category, event.time);
    f.resource_name = format!(
        "{}/containers/{}",
        config.resource_prefix().trim_end_matches('/'),
        identity.id
    );
    let target_path = event.target.path.to_string_lossy().into_owned();
    let sha_hex = decision.digest.as_ref().map(|d| d.hex());
    if let Some(h) = &sha_hex {
        f.external_uri = virustotal_uri(h);
        f.indicator = Some(Indicator {
            uris: vec![virustotal_uri(h)],
            ..Indicator::default()
        });
    }

    let decided = File {
        path: target_path.clone(),
        size: decision.digest.map(|d| d.size),
        sha256: sha_hex.clone().unwrap_or_default(),
        hashed_size: decision.digest.map(|d| d.hashed_size),
        partially_hashed: decision.digest.is_some_and(|d| d.partial),
        contents: None,
    };
    let mut exec = Process {
        name: Path::new(&target_path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| target_path.clone()),
        binary: Some(decided.clone()),
        pid: Some(event.process.pid),
        parent_pid: Some(event.process.ppid),
        ..Process::default()
    };
    if library {
        // The process that mapped the file, which SCC shows as the library's loader.
        exec.name = event.process.name.clone();
        exec.binary = event.process.binary_path.as_ref().map(|b| File {
            path: b.clone(),
            ..File::default()
        });
        exec.libraries = vec![decided];
    } else if let Some(interp) = &event.interpreter {
        // A script: SCC names the interpreter as the binary and the file it runs as the script.
        exec.script = exec.binary.take();
        exec.name = Path::new(interp)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| interp.clone());
        exec.binary = Some(File {
            path: interp.clone(),
            ..File::default()
        });
    }
    if config.findings.include_args {
        exec.args = event.process.args.clone();
        exec.arguments_truncated = event.process.args_truncated;
    }
    if config.findings.include_env {
        exec.env_variables = event
            .env
            .iter()
            .map(|(name, val)| EnvVariable {
                name: name.clone(),
                val: if config
                    .findings
                    .redact_env
                    .iter()
                    .any(|p| glob_match(p, name))
                {
                    REDACTED.to_owned()
                } else {
                    val.clone()
                },
            })
            .collect();
        exec.env_variables_truncated = event.env_truncated;
    }
    f.processes.push(exec);
    if let Some(parent) = &event.parent {
        f.processes.push(parent_process(parent, config));
    }

    f.containers.push(Container {
        name: identity.name.clone(),
        uri: identity.image_uri.clone(),
        image_id: identity.image_id.clone(),
        labels: identity
            .labels
            .iter()
            .map(|(name, value)| Label {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        create_time: identity.created,
    });

    let facts = Facts {
        event,
        decision,
        identity,
        category,
        mode,
    };
    for (key, value) in PROPERTIES {
        if let Some(v) = value(&facts) {
            f.set_prop(key, v);
        }
    }

    f.description = describe(event, decision, identity, category, mode, &target_path);
    f.next_steps = next_steps(category).to_owned();
    f
}

fn parent_process(p: &ProcessInfo, config: &Config) -> Process {
    let mut out = Process {
        name: p.name.clone(),
        binary: p.binary_path.as_ref().map(|b| File {
            path: b.clone(),
            ..File::default()
        }),
        pid: Some(p.pid),
        parent_pid: Some(p.ppid),
        ..Process::default()
    };
    if config.findings.include_args {
        out.args = p.args.clone();
        out.arguments_truncated = p.args_truncated;
    }
    out
}

/// What a finding's `sourceProperties` are drawn from.
struct Facts<'a> {
    event: &'a ExecEvent,
    decision: &'a Decision,
    identity: &'a ContainerIdentity,
    category: Category,
    mode: Mode,
}

/// How one `sourceProperties` value is drawn from the facts (`None`: the key is not set).
type Property = fn(&Facts<'_>) -> Option<String>;

/// Every `sourceProperties` key that [`render`] writes, in one table: the key and how its value is
/// drawn. (The supervisor adds the keys of what it alone knows, such as `scrun_decided_by`.)
const PROPERTIES: &[(&str, Property)] = &[
    (props::ACTION, |f| {
        Some(
            if f.decision.verdict == Verdict::Block {
                props::ACTION_BLOCKED
            } else {
                props::ACTION_ALLOWED
            }
            .into(),
        )
    }),
    (props::PROVENANCE, |f| {
        Some(f.decision.provenance.as_str().into())
    }),
    (props::LAYER, |f| {
        layer_prop(f.decision).map(|(index, _)| index.to_string())
    }),
    (props::LAYER_DIGEST, |f| {
        layer_prop(f.decision).and_then(|(_, digest)| digest)
    }),
    (props::FEED, |f| {
        f.decision.intel.as_ref().map(|m| m.feed.clone())
    }),
    (props::FEED_LABEL, |f| {
        f.decision.intel.as_ref().and_then(|m| m.label.clone())
    }),
    (props::CONTAINER_ID, |f| Some(f.identity.id.clone())),
    (props::MODE, |f| Some(f.mode.to_string())),
    (props::SYSCALL, |f| Some(f.event.syscall.clone())),
    (props::CONTAINER_NAME, |f| Some(f.identity.name.clone())),
    (props::CONTAINER_IMAGE_URI, |f| {
        Some(f.identity.image_uri.clone())
    }),
    (props::LOADER, |f| f.event.loader.clone()),
    (props::ADDED_ON, |f| match f.decision.provenance {
        Provenance::Added { on } => Some(added_on_str(on).into()),
        _ => None,
    }),
    (props::PROVENANCE_REASON, |f| match &f.decision.provenance {
        Provenance::Unknown { reason } => Some(reason.clone()),
        _ => None,
    }),
    (props::COPIED_UP, |f| match f.decision.provenance {
        Provenance::BuiltIn {
            copied_up: true, ..
        } => Some("true".into()),
        _ => None,
    }),
    (props::MALICIOUS, |f| {
        (f.category == Category::FilelessMemfd && f.decision.intel.is_some()).then(|| "true".into())
    }),
    (props::CALLER, |f| {
        (!f.identity.caller.is_empty()).then(|| f.identity.caller.clone())
    }),
];

fn added_on_str(on: AddedOn) -> &'static str {
    match on {
        AddedOn::UpperLayer => "upper-layer",
        AddedOn::OtherMount => "other-mount",
        AddedOn::DevShm => "dev-shm",
    }
}

/// The lower layer's index (top first) and, when the engine's layer store records it, its diff
/// ID: never its directory, which is a path of the host.
fn layer_prop(d: &Decision) -> Option<(usize, Option<String>)> {
    let index = match d.provenance {
        Provenance::BuiltIn { layer, .. } | Provenance::Modified { layer } => layer,
        _ => return None,
    };
    Some((
        index,
        d.layer_path
            .as_deref()
            .and_then(crate::layer_digest::layer_digest),
    ))
}

fn describe(
    event: &ExecEvent,
    d: &Decision,
    identity: &ContainerIdentity,
    category: Category,
    mode: Mode,
    path: &str,
) -> String {
    let origin = match &d.provenance {
        Provenance::BuiltIn {
            layer,
            engine,
            copied_up,
        } => format!(
            "which is part of the original {} (lower layer {layer}{}{})",
            if *engine { "engine-made init layer" } else { "container image" },
            layer_prop(d)
                .and_then(|(_, digest)| digest)
                .map(|digest| format!(", {digest}"))
                .unwrap_or_default(),
            if *copied_up {
                ", copied up with unchanged content"
            } else {
                ""
            }
        ),
        Provenance::Added { on } => match on {
            AddedOn::UpperLayer => {
                "which was not in the container image (written at run time)".to_owned()
            }
            AddedOn::OtherMount => {
                "which comes from a mount that is not part of the image (volume, bind mount or tmpfs)"
                    .to_owned()
            }
            AddedOn::DevShm => "which lives in /dev/shm (shared memory)".to_owned(),
        },
        Provenance::Modified { layer } => format!(
            "which is an image file (lower layer {layer}) whose content was modified at run time"
        ),
        Provenance::Memfd => "from an anonymous in-memory file (memfd)".to_owned(),
        Provenance::Unknown { reason } => format!("of unknown provenance ({reason})"),
    };
    let intel = match &d.intel {
        Some(m) => format!(
            " Threat intelligence feed {:?} lists its SHA-256{}.",
            m.feed,
            m.label
                .as_ref()
                .map(|l| format!(" as {l:?}"))
                .unwrap_or_default()
        ),
        None => String::new(),
    };
    let what = match event.loaded_as {
        LoadedAs::Exec => "exec",
        LoadedAs::Library => "mapping",
    };
    let action = match d.verdict {
        Verdict::Block => format!("The {what} was blocked ({mode} mode)."),
        Verdict::Allow => format!("The {what} was allowed ({mode} mode)."),
    };
    let verb = match event.loaded_as {
        LoadedAs::Exec => "executed".to_owned(),
        LoadedAs::Library => format!("mapped as code ({})", event.syscall),
    };
    let container = if identity.name.is_empty() {
        identity.id.as_str()
    } else {
        identity.name.as_str()
    };
    format!(
        "{}: process {} (pid {}) {verb} {path}, {origin}, in container {container}.{intel} {action}",
        category.as_str(),
        event.process.name,
        event.process.pid,
    )
}

fn next_steps(category: Category) -> &'static str {
    match category {
        Category::BuiltInMaliciousBinaryExecuted => {
            "The image itself contains the malicious binary: check the image build pipeline and registry for tampering, review the VirusTotal indicator, rebuild from a trusted base, and look for other findings for this container at a similar time."
        }
        Category::AddedMaliciousBinaryExecuted => {
            "A malicious binary was written into the running container: find how it got there (exposed service, stolen credentials), review the VirusTotal indicator, and replace the container from its image."
        }
        Category::ModifiedMaliciousBinaryExecuted => {
            "An image binary was replaced with a malicious one at run time: treat the container as compromised, review the VirusTotal indicator, and replace it from its image."
        }
        Category::AddedBinaryExecuted => {
            "A binary that is not part of the image ran: confirm it is expected (allowlist its hash or path in the scrun config if so), otherwise investigate how it was written."
        }
        Category::FilelessMemfd => {
            "A process ran from an in-memory file, a common way to hide malware: identify the parent process and what it downloaded or decoded."
        }
        Category::FilelessDevShm => {
            "A process ran from /dev/shm, a common staging place for malware: identify who wrote the file and mount /dev/shm noexec if nothing needs it."
        }
        Category::BuiltInMaliciousLibraryLoaded => {
            "A library the image itself contains, listed as malicious, was loaded: check the image build pipeline and registry for tampering, review the VirusTotal indicator, and rebuild from a trusted base."
        }
        Category::AddedMaliciousLibraryLoaded => {
            "A malicious library written into the running container was loaded (LD_PRELOAD, dlopen or a custom loader): find how it got there, review the VirusTotal indicator and the loading process, and replace the container from its image."
        }
        Category::ModifiedMaliciousLibraryLoaded => {
            "An image library was replaced with a malicious one at run time and loaded: treat the container as compromised, review the VirusTotal indicator, and replace it from its image."
        }
        Category::AddedLibraryLoaded => {
            "A library that is not part of the image was loaded: confirm it is expected (allowlist its hash or path in the scrun config if so), otherwise investigate how it was written."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::IntelMatch;
    use crate::hash::Digest;
    use crate::provenance::Target;
    use chrono::TimeZone;

    fn event() -> ExecEvent {
        ExecEvent {
            time: chrono::Utc
                .with_ymd_and_hms(2026, 11, 26, 15, 32, 8)
                .unwrap(),
            syscall: "execve".into(),
            process: ProcessInfo {
                pid: 57,
                ppid: 1,
                name: "sh".into(),
                binary_path: Some("/bin/sh".into()),
                args: vec!["/usr/local/bin/kdevtmpfsi".into(), "-o".into()],
                args_truncated: false,
            },
            env: vec![
                ("PATH".into(), "/bin".into()),
                ("GITHUB_TOKEN".into(), "ghp_secret".into()),
            ],
            env_truncated: true,
            parent: Some(ProcessInfo {
                pid: 1,
                ppid: 0,
                name: "entrypoint.sh".into(),
                binary_path: Some("/bin/sh".into()),
                args: vec!["/bin/sh".into(), "/entrypoint.sh".into()],
                args_truncated: false,
            }),
            requested_path: "kdevtmpfsi".into(),
            target: Target {
                path: "/usr/local/bin/kdevtmpfsi".into(),
                dev: 90,
                ino: 10,
                memfd: false,
                unlinked: false,
            },
            interpreter: None,
            loader: None,
            loaded_as: crate::event::LoadedAs::Exec,
        }
    }

    fn identity() -> ContainerIdentity {
        ContainerIdentity {
            id: "c0ffee".into(),
            name: "checkout".into(),
            image_uri: "registry/app:1".into(),
            image_id: "sha256:9a1b".into(),
            labels: [("team".to_owned(), "shop".to_owned())].into(),
            created: None,
            caller: "docker".into(),
        }
    }

    fn decision() -> Decision {
        Decision {
            verdict: Verdict::Block,
            category: Some(Category::BuiltInMaliciousBinaryExecuted),
            provenance: Provenance::BuiltIn {
                layer: 2,
                engine: false,
                copied_up: false,
            },
            digest: Some(Digest {
                sha256: [0xab; 32],
                size: 2_397_184,
                hashed_size: 2_397_184,
                partial: false,
            }),
            intel: Some(IntelMatch {
                feed: "malwarebazaar".into(),
                label: Some("CoinMiner.XMRig".into()),
            }),
            finding: None,
            error: None,
            layer_path: Some("/var/lib/docker/overlay2/abc/diff".into()),
            allowlisted: false,
            cache_hit: false,
            hashed_bytes: 0,
        }
    }

    #[test]
    fn scripts_name_the_interpreter_as_binary_and_loaders_are_recorded() {
        let config = Config::default();
        let mut ev = event();
        ev.interpreter = Some("/bin/sh".into());
        let j = serde_json::to_value(render(&ev, &decision(), &identity(), &config, Mode::Audit))
            .unwrap();
        assert_eq!(j["processes"][0]["binary"]["path"], "/bin/sh");
        assert_eq!(j["processes"][0]["name"], "sh");
        assert_eq!(
            j["processes"][0]["script"]["path"],
            "/usr/local/bin/kdevtmpfsi"
        );
        assert_eq!(j["processes"][0]["script"]["sha256"], "ab".repeat(32));
        let mut ev = event();
        ev.loader = Some("/lib64/ld-linux-x86-64.so.2".into());
        let j = serde_json::to_value(render(&ev, &decision(), &identity(), &config, Mode::Audit))
            .unwrap();
        assert_eq!(
            j["processes"][0]["binary"]["path"],
            "/usr/local/bin/kdevtmpfsi"
        );
        assert_eq!(
            j["sourceProperties"]["scrun_loader"],
            "/lib64/ld-linux-x86-64.so.2"
        );
    }

    #[test]
    fn renders_every_field() {
        let mut config = Config::default();
        config.supervisor.resource_prefix = Some("//scrun.local/hosts/h1".into());
        config.findings.include_env = true;
        let f = render(&event(), &decision(), &identity(), &config, Mode::Enforce);
        let j = serde_json::to_value(&f).unwrap();
        let sha = "ab".repeat(32);
        assert_eq!(
            j["category"],
            "Execution: Built in Malicious Binary Executed"
        );
        assert_eq!(j["severity"], "CRITICAL");
        assert_eq!(j["state"], "ACTIVE");
        assert_eq!(j["findingClass"], "THREAT");
        assert_eq!(
            j["resourceName"],
            "//scrun.local/hosts/h1/containers/c0ffee"
        );
        assert_eq!(
            j["externalUri"],
            format!("https://www.virustotal.com/gui/file/{sha}")
        );
        assert_eq!(j["indicator"]["uris"][0], j["externalUri"]);
        assert_eq!(j["eventTime"], "2026-11-26T15:32:08.000Z");
        assert_eq!(j["mitreAttack"]["primaryTechniques"][0], "NATIVE_API");
        let p0 = &j["processes"][0];
        assert_eq!(p0["name"], "kdevtmpfsi");
        assert_eq!(p0["binary"]["path"], "/usr/local/bin/kdevtmpfsi");
        assert_eq!(p0["binary"]["size"], "2397184");
        assert_eq!(p0["binary"]["sha256"], sha);
        assert_eq!(p0["binary"]["hashedSize"], "2397184");
        assert_eq!(p0["binary"]["partiallyHashed"], false);
        assert_eq!(p0["args"][1], "-o");
        assert_eq!(p0["pid"], "57");
        assert_eq!(p0["parentPid"], "1");
        assert_eq!(p0["envVariables"][0]["val"], "/bin");
        assert_eq!(p0["envVariables"][1]["val"], "[REDACTED]");
        assert_eq!(p0["envVariablesTruncated"], true);
        assert_eq!(j["processes"][1]["name"], "entrypoint.sh");
        assert_eq!(j["processes"][1]["pid"], "1");
        let c = &j["containers"][0];
        assert_eq!(c["name"], "checkout");
        assert_eq!(c["uri"], "registry/app:1");
        assert_eq!(c["imageId"], "sha256:9a1b");
        assert_eq!(c["labels"][0]["name"], "team");
        let sp = &j["sourceProperties"];
        assert_eq!(sp["scrun_action"], "BLOCKED");
        assert_eq!(sp["scrun_provenance"], "built-in");
        // The layer by index; no host path anywhere (the test layer is in no known store).
        assert_eq!(sp["scrun_layer"], "2");
        assert!(sp.get("scrun_layer_digest").is_none());
        assert!(!j.to_string().contains("/var/lib/docker"), "{j}");
        assert_eq!(sp["scrun_feed"], "malwarebazaar");
        assert_eq!(sp["scrun_feed_label"], "CoinMiner.XMRig");
        assert_eq!(sp["scrun_container_id"], "c0ffee");
        assert_eq!(sp["scrun_mode"], "enforce");
        assert_eq!(sp["scrun_syscall"], "execve");
        assert_eq!(sp["Container_Name"], "checkout");
        assert_eq!(sp["Container_Image_Uri"], "registry/app:1");
        let desc = j["description"].as_str().unwrap();
        assert!(desc.contains("/usr/local/bin/kdevtmpfsi"), "{desc}");
        assert!(desc.contains("lower layer 2"), "{desc}");
        assert!(
            desc.contains("malwarebazaar") && desc.contains("CoinMiner.XMRig"),
            "{desc}"
        );
        assert!(desc.contains("blocked (enforce mode)"), "{desc}");
        assert!(!j["nextSteps"].as_str().unwrap().is_empty());
    }

    #[test]
    fn a_library_names_its_loader_as_the_process_and_itself_as_the_library() {
        let config = Config::default();
        let mut ev = event();
        ev.loaded_as = LoadedAs::Library;
        ev.syscall = "mmap".into();
        ev.process.name = "python3".into();
        ev.process.binary_path = Some("/usr/bin/python3".into());
        ev.target.path = "/tmp/evil.so".into();
        let mut d = decision();
        d.category = Some(Category::AddedMaliciousLibraryLoaded);
        d.provenance = Provenance::Added {
            on: AddedOn::UpperLayer,
        };
        let j = serde_json::to_value(render(&ev, &d, &identity(), &config, Mode::Enforce)).unwrap();
        assert_eq!(j["category"], "Execution: Added Malicious Library Loaded");
        let p0 = &j["processes"][0];
        assert_eq!(p0["name"], "python3");
        assert_eq!(p0["binary"]["path"], "/usr/bin/python3");
        assert_eq!(p0["libraries"][0]["path"], "/tmp/evil.so");
        assert_eq!(p0["libraries"][0]["sha256"], "ab".repeat(32));
        assert_eq!(p0["libraries"][0]["size"], "2397184");
        assert_eq!(j["mitreAttack"]["primaryTechniques"][0], "SHARED_MODULES");
        assert_eq!(j["sourceProperties"]["scrun_syscall"], "mmap");
        let desc = j["description"].as_str().unwrap();
        assert!(
            desc.contains("mapped as code (mmap) /tmp/evil.so")
                && desc.contains("mapping was blocked"),
            "{desc}"
        );
        // Without a category, a library decision renders as Added Library Loaded.
        d.category = None;
        let f = render(&ev, &d, &identity(), &config, Mode::Audit);
        assert_eq!(f.category, "Execution: Added Library Loaded");
    }

    #[test]
    fn privacy_knobs_and_memfd_malicious() {
        let mut config = Config::default();
        config.findings.include_args = false;
        let mut d = decision();
        d.verdict = Verdict::Allow;
        d.category = Some(Category::FilelessMemfd);
        d.provenance = Provenance::Memfd;
        let f = render(&event(), &d, &identity(), &config, Mode::Audit);
        assert!(f.processes[0].args.is_empty());
        assert!(f.processes[0].env_variables.is_empty());
        assert!(f.processes[1].args.is_empty());
        assert_eq!(f.prop_str("scrun_malicious"), Some("true"));
        assert_eq!(f.prop_str("scrun_action"), Some("ALLOWED"));
        assert_eq!(f.prop_str("scrun_provenance"), Some("memfd"));
        assert_eq!(f.category, "Execution: Fileless Execution in /memfd:");
        assert!(f.prop_str("scrun_layer").is_none());
    }
}
