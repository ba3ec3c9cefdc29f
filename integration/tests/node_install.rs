//! The Kubernetes node installer (`hooks/kubernetes/install.sh`, run by the DaemonSet's init
//! container) against a private containerd whose "node" lives in a temporary directory: the
//! installer copies scrun there and registers runtime `scrun` in the node's containerd config;
//! containerd started from that config runs a CRI pod sandbox with runtime handler `scrun` whose
//! execs are supervised (a finding appears); a second run changes nothing and restarts nothing;
//! uninstall gives back the config byte for byte and removes the binary.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use scrun_integration::containerd::{Containerd, cri_config};
use scrun_integration::cri::CriClient;
use scrun_integration::image;
use scrun_integration::process::{run_with_timeout, stderr};
use scrun_integration::runtime::{scrun_path, workspace_dir};
use scrun_integration::workdir::Workdir;
use serde_json::Value;

struct Node {
    bin: PathBuf,
    config: PathBuf,
    restarts: PathBuf,
}

impl Node {
    /// Run `install.sh <action>` with the node rooted in paths of this host.
    fn run(&self, action: &str) -> Output {
        let script = workspace_dir().join("hooks/kubernetes/install.sh");
        let install_dir = self.bin.parent().expect("bin dir");
        let out = run_with_timeout(
            Command::new("sh")
                .arg(script)
                .arg(action)
                .env("HOST_ROOT", "")
                .env("SCRUN_SOURCE", scrun_path())
                .env("SCRUN_INSTALL_DIR", install_dir)
                .env("CONTAINERD_CONFIG", &self.config)
                .env(
                    "RESTART_CMD",
                    format!("echo restart >> {}", self.restarts.display()),
                ),
            120,
        )
        .expect("run install.sh");
        assert!(
            out.status.success(),
            "install.sh {action} failed: {}",
            stderr(&out)
        );
        out
    }

    fn restarts(&self) -> usize {
        fs::read_to_string(&self.restarts)
            .unwrap_or_default()
            .lines()
            .count()
    }
}

fn file_id(p: &Path) -> (u64, i64, i64) {
    let m = fs::metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    (m.ino(), m.mtime(), m.mtime_nsec())
}

#[test]
fn installer_registers_scrun_idempotently_and_uninstalls_cleanly() {
    let wd = Workdir::new("node").expect("workdir");
    let node = Node {
        bin: wd.join("node/usr/local/bin/scrun"),
        config: wd.join("node/etc/containerd/config.toml"),
        restarts: wd.join("restarts"),
    };
    // The node's own containerd config (CRI with runc only), with a comment.
    let own = cri_config(&wd).expect("CRI config");
    let original = format!(
        "# this node's containerd config\n{}",
        toml::to_string(&own).expect("serialize config")
    );
    fs::create_dir_all(node.config.parent().unwrap()).unwrap();
    fs::write(&node.config, &original).unwrap();

    node.run("install");
    assert_eq!(node.restarts(), 1, "one restart after the install");
    assert_eq!(
        fs::read(&node.bin).unwrap(),
        fs::read(scrun_path()).unwrap(),
        "installed binary"
    );
    let installed = fs::read_to_string(&node.config).unwrap();
    assert!(
        installed.starts_with(&original),
        "the node's config is kept above the block:\n{installed}"
    );
    let v: toml::Value = toml::from_str(&installed).expect("installed config is TOML");
    let scrun = v
        .get("plugins")
        .and_then(|p| p.get("io.containerd.grpc.v1.cri"))
        .and_then(|p| p.get("containerd"))
        .and_then(|p| p.get("runtimes"))
        .and_then(|p| p.get("scrun"))
        .unwrap_or_else(|| panic!("no runtime scrun:\n{installed}"));
    assert_eq!(
        scrun.get("runtime_type").and_then(|t| t.as_str()),
        Some("io.containerd.runc.v2")
    );
    assert_eq!(
        scrun
            .get("options")
            .and_then(|o| o.get("BinaryName"))
            .and_then(|b| b.as_str()),
        node.bin.to_str()
    );

    // A second run changes nothing: same bytes, same binary file, no restart.
    let bin_before = file_id(&node.bin);
    let config_before = file_id(&node.config);
    let out = node.run("install");
    assert_eq!(fs::read_to_string(&node.config).unwrap(), installed);
    assert_eq!(file_id(&node.bin), bin_before, "binary rewritten");
    assert_eq!(file_id(&node.config), config_before, "config rewritten");
    assert_eq!(node.restarts(), 1, "restarted although nothing changed");
    assert!(stderr(&out).contains("nothing changed"), "{}", stderr(&out));

    // containerd from the installed config: a pod with handler scrun, supervised.
    let findings = wd.join("findings.jsonl");
    let config = node.config.clone();
    let mut c = Containerd::start_from_file(wd, &config).expect("containerd from the node config");
    c.guard_with_reaper().expect("reaper");
    let dir = c.workdir().path().to_path_buf();
    for img in [image::busybox(&dir), image::pause(&dir)] {
        c.import(&img.expect("image"), "k8s.io").expect("import");
    }
    let client = CriClient::connect(c.socket()).expect("CRI client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.has_image(image::PAUSE).unwrap_or(false) {
        assert!(Instant::now() < deadline, "CRI never saw the pause image");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pod = client
        .run_pod("it-node-install", "scrun")
        .unwrap_or_else(|e| panic!("RunPodSandbox with handler scrun: {e}\n{}", c.log()));
    let ctr = client
        .create_container(
            &pod,
            "app",
            "docker.io/scrun-test/busybox:1",
            &["sleep", "1000"],
        )
        .expect("CreateContainer");
    client.start_container(&ctr).expect("StartContainer");
    let (code, out, err) = client
        .exec_sync(
            &ctr,
            &[
                "sh",
                "-c",
                "cp /bin/busybox /tmp/busybox-x && /tmp/busybox-x echo ran",
            ],
            30,
        )
        .expect("ExecSync");
    assert_eq!((code, out.as_str()), (0, "ran\n"), "stderr: {err}");
    let supervised: Vec<Value> = fs::read_to_string(&findings)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("finding JSON"))
        .filter(|f: &Value| {
            f.pointer("/processes/0/binary/path")
                .and_then(Value::as_str)
                == Some("/tmp/busybox-x")
        })
        .collect();
    assert_eq!(
        supervised.len(),
        1,
        "the pod's exec was not supervised by the installed scrun: {supervised:?}"
    );
    assert_eq!(
        supervised[0].pointer("/category").and_then(Value::as_str),
        Some("Execution: Added Binary Executed")
    );
    client
        .stop_and_remove_pod(&pod.id)
        .expect("Stop/RemovePodSandbox");

    // Uninstall: the config as it was, the binary gone, one more restart.
    node.run("uninstall");
    assert_eq!(fs::read_to_string(&node.config).unwrap(), original);
    assert!(!node.bin.exists(), "binary left behind");
    assert_eq!(node.restarts(), 2);
    // And uninstall again is a no-op.
    node.run("uninstall");
    assert_eq!(node.restarts(), 2);
    drop(c);
}
