//! podman with private storage and a generated `containers.conf`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use toml::Value;

use crate::error::{Error, Result, io};
use crate::image::ImageArchive;
use crate::process::{require_program, run_ok, run_with_timeout};
use crate::runtime::{Runtime, workspace_dir};
use crate::workdir::Workdir;

/// Seconds a `podman` command may take before it is killed.
pub const PODMAN_TIMEOUT: u64 = 120;

/// podman with private `--root`, `--runroot`, `--tmpdir` and `CONTAINERS_CONF`.
#[derive(Debug)]
pub struct Podman {
    conf: PathBuf,
    wd: Workdir,
}

impl Podman {
    /// Set up podman. `containers.conf` is `hook` (e.g. `hooks/podman/containers.conf`) with
    /// every `[engine.runtimes]` entry named `scrun` pointed at `scrun`, plus what this host
    /// needs: `cgroup_manager = "cgroupfs"`, `events_logger = "file"`, `default_ulimits`
    /// within root's hard limits, and no network namespace setup (`netns = "none"`).
    pub fn new(hook: &Path, scrun: &Path) -> Result<Podman> {
        require_program("podman", "podman")?;
        require_program("conmon", "conmon")?;
        let wd = Workdir::new("podman")?;
        let text = fs::read_to_string(hook).map_err(io("read", hook))?;
        let mut conf: Value = toml::from_str(&text).map_err(|e| Error::Config {
            path: hook.into(),
            reason: e.to_string(),
        })?;
        let scrun_entry = conf
            .get_mut("engine")
            .and_then(|e| e.get_mut("runtimes"))
            .and_then(|r| r.get_mut("scrun"))
            .ok_or_else(|| Error::Config {
                path: hook.into(),
                reason: "no [engine.runtimes] scrun".into(),
            })?;
        // podman gives the runtime a minimal environment (no SCRUN_CONFIG): point the hook's entry
        // at a wrapper that sets it, so the tests keep scrun's findings inside the workdir.
        let (_, scrun_config) = crate::workdir::scrun_test_config(&wd)?;
        let wrapper = wd.join("scrun");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nSCRUN_CONFIG='{scrun_config}' exec '{}' \"$@\"\n",
                scrun.display()
            ),
        )
        .map_err(io("write", &wrapper))?;
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))
                .map_err(io("chmod", &wrapper))?;
        }
        *scrun_entry = Value::Array(vec![Value::String(wrapper.display().to_string())]);
        let extra: Value = toml::from_str(
            r#"
            [containers]
            default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
            netns = "none"
            [engine]
            cgroup_manager = "cgroupfs"
            events_logger = "file"
            "#,
        )
        .map_err(|e| Error::Config {
            path: "(generated containers.conf)".into(),
            reason: e.to_string(),
        })?;
        crate::containerd::merge(&mut conf, extra);
        let path = wd.join("containers.conf");
        let text = toml::to_string(&conf).map_err(|e| Error::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&path, text).map_err(io("write", &path))?;
        Ok(Podman { conf: path, wd })
    }

    /// The podman shared by every test of this test binary, configured through
    /// `hooks/podman/containers.conf` with the scrun under test and [`crate::image::busybox`]
    /// loaded (as `localhost/scrun-test/busybox:1`). Cleaned up by the reaper at exit.
    pub fn shared() -> std::result::Result<&'static Podman, String> {
        static SHARED: OnceLock<std::result::Result<Podman, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let hook = workspace_dir().join("hooks/podman/containers.conf");
                let mut p =
                    Podman::new(&hook, &Runtime::scrun().path).map_err(|e| e.to_string())?;
                p.wd.guard_with_reaper().map_err(|e| e.to_string())?;
                let img = crate::image::busybox(p.wd.path()).map_err(|e| e.to_string())?;
                p.load(&img).map_err(|e| e.to_string())?;
                Ok(p)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The workdir.
    pub fn workdir(&self) -> &Workdir {
        &self.wd
    }

    /// The generated `containers.conf`.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// A `podman` command with the private storage and configuration.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(self.wd.join("root"))
            .arg("--runroot")
            .arg(self.wd.join("runroot"))
            .arg("--tmpdir")
            .arg(self.wd.join("tmp"))
            .args(["--storage-driver", "overlay"])
            .args(args);
        c
    }

    /// Run `podman args…` with [`PODMAN_TIMEOUT`].
    pub fn podman(&self, args: &[&str]) -> Result<Output> {
        run_with_timeout(&mut self.cmd(args), PODMAN_TIMEOUT)
    }

    /// Run `podman args…`, require success, return stdout.
    pub fn podman_ok(&self, args: &[&str]) -> Result<String> {
        let out = run_ok(&mut self.cmd(args), PODMAN_TIMEOUT)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `podman load` an archive; the image is then `localhost/<name>`.
    pub fn load(&self, image: &ImageArchive) -> Result<()> {
        let path = image.path.display().to_string();
        self.podman_ok(&["load", "-i", &path]).map(drop)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        // The workdir field drops next: it kills conmon leftovers, unmounts and removes the tree.
    }
}
