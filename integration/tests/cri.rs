//! containerd's CRI plugin (the Kubernetes path) with runtime handlers `runc` and `scrun`, the
//! latter loaded from `hooks/containerd/config.toml`; driven by a CRI gRPC client as the kubelet
//! would. Every scenario runs under both handlers.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use scrun_integration::containerd::Containerd;
use scrun_integration::cri::{CriClient, Pod};
use scrun_integration::image;
use scrun_integration::runtime::workspace_dir;
use scrun_integration::{Runtime, differential};

const IMAGE: &str = "docker.io/scrun-test/busybox:1";

struct Cri {
    containerd: Containerd,
    client: CriClient,
}

fn cri() -> &'static Cri {
    static SHARED: OnceLock<Result<Cri, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let hook = workspace_dir().join("hooks/containerd/config.toml");
            let mut c =
                Containerd::start_cri(&hook, &Runtime::scrun().path).map_err(|e| e.to_string())?;
            c.guard_with_reaper().map_err(|e| e.to_string())?;
            let dir = c.workdir().path().to_path_buf();
            for img in [image::busybox(&dir), image::pause(&dir)] {
                c.import(&img.map_err(|e| e.to_string())?, "k8s.io")
                    .map_err(|e| e.to_string())?;
            }
            let client = CriClient::connect(c.socket()).map_err(|e| format!("{e}\n{}", c.log()))?;
            // The CRI plugin learns about imported images through events: wait (bounded).
            let deadline = Instant::now() + Duration::from_secs(30);
            while !client.has_image(image::PAUSE).unwrap_or(false) {
                if Instant::now() > deadline {
                    return Err(format!("CRI never saw {}\n{}", image::PAUSE, c.log()));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(Cri {
                containerd: c,
                client,
            })
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("cannot start containerd with CRI: {e}"))
}

/// Removes the pod (and its containers) on drop, also when the test fails.
struct PodGuard(String);

impl Drop for PodGuard {
    fn drop(&mut self) {
        let _ = cri().client.stop_and_remove_pod(&self.0);
    }
}

fn must<T>(what: &str, rt: &Runtime, r: scrun_integration::Result<T>) -> T {
    r.unwrap_or_else(|e| {
        panic!(
            "{what} under handler {}: {e}\ncontainerd log:\n{}",
            rt.name,
            cri().containerd.log()
        )
    })
}

#[test]
fn runtimeclass_handler_matches_the_containerd_hook() {
    let hooks = workspace_dir().join("hooks");
    let yaml = std::fs::read_to_string(hooks.join("kubernetes/runtimeclass.yaml"))
        .expect("read runtimeclass.yaml");
    let handler = yaml
        .lines()
        .find_map(|l| l.strip_prefix("handler:"))
        .map(|h| h.trim().to_string())
        .expect("runtimeclass.yaml has no top-level handler");
    assert!(
        yaml.lines().any(|l| l.trim() == "kind: RuntimeClass"),
        "not a RuntimeClass:\n{yaml}"
    );
    let toml_text =
        std::fs::read_to_string(hooks.join("containerd/config.toml")).expect("read config.toml");
    let v: toml::Value = toml::from_str(&toml_text).expect("parse hooks/containerd/config.toml");
    let block = v
        .get("plugins")
        .and_then(|p| p.get("io.containerd.grpc.v1.cri"))
        .and_then(|p| p.get("containerd"))
        .and_then(|p| p.get("runtimes"))
        .and_then(|p| p.get(&handler))
        .unwrap_or_else(|| panic!("containerd hook has no runtime named {handler:?}"));
    assert_eq!(
        block.get("runtime_type").and_then(|t| t.as_str()),
        Some("io.containerd.runc.v2")
    );
    assert!(
        block
            .get("options")
            .and_then(|o| o.get("BinaryName"))
            .is_some()
    );
}

#[test]
fn pod_container_exec_sync_stop_remove() {
    let obs = differential("CRI pod lifecycle with ExecSync", |rt| {
        let c = &cri().client;
        let name = format!("it-pod-{}-{}", rt.name, std::process::id());
        let pod: Pod = must("RunPodSandbox", rt, c.run_pod(&name, rt.name));
        let _guard = PodGuard(pod.id.clone());
        let ctr = must(
            "CreateContainer",
            rt,
            c.create_container(&pod, "app", IMAGE, &["sleep", "1000"]),
        );
        must("StartContainer", rt, c.start_container(&ctr));
        let state = must("ContainerStatus", rt, c.container_state(&ctr));
        let exec = must(
            "ExecSync",
            rt,
            c.exec_sync(&ctr, &["sh", "-c", "echo hi; echo err >&2; exit 3"], 30),
        );
        must(
            "Stop/RemoveContainer",
            rt,
            c.stop_and_remove_container(&ctr, 1),
        );
        must("Stop/RemovePodSandbox", rt, c.stop_and_remove_pod(&pod.id));
        (state, exec)
    });
    assert_eq!(
        obs,
        (
            "CONTAINER_RUNNING".to_string(),
            (3, "hi\n".to_string(), "err\n".to_string())
        )
    );
}
