//! A private dockerd (with its own managed containerd) and the `docker` CLI pointed at it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, io};
use crate::image::{self, ImageArchive, ImageConfig, Layer};
use crate::process::{require_program, run_ok, run_with_timeout};
use crate::runtime::{Runtime, workspace_dir};
use crate::workdir::Workdir;

/// Seconds a `docker` command may take before it is killed.
pub const DOCKER_TIMEOUT: u64 = 120;
const READY_SECS: u64 = 60;

/// A running private dockerd; stopped (and its workdir cleaned) on drop.
#[derive(Debug)]
pub struct Docker {
    child: Child,
    sock: PathBuf,
    log: PathBuf,
    wd: Workdir,
}

impl Docker {
    /// Start dockerd with `scrun` registered as runtime `scrun` (runc is built in).
    ///
    /// With `daemon_json`, that file (e.g. `hooks/docker/daemon.json`) is copied with
    /// `runtimes.scrun.path` set to `scrun` and used as `--config-file`; otherwise the runtime is
    /// added with `--add-runtime scrun=<scrun>` and an empty config file.
    pub fn start(scrun: &Path, daemon_json: Option<&Path>) -> Result<Docker> {
        Docker::start_with_env(scrun, daemon_json, |wd| {
            Ok(vec![crate::workdir::scrun_test_config(wd)?])
        })
    }

    /// [`Docker::start`], with extra environment variables for dockerd (and so for containerd,
    /// the shims and the runtime), e.g. `SCRUN_CONFIG`.
    ///
    /// `env` runs before dockerd starts and gets the daemon's fresh workdir, so it can write
    /// files there (a scrun config, feeds) and return the variables naming them.
    pub fn start_with_env<F>(scrun: &Path, daemon_json: Option<&Path>, env: F) -> Result<Docker>
    where
        F: FnOnce(&Workdir) -> Result<Vec<(String, String)>>,
    {
        let dockerd = require_program("dockerd", "docker.io")?;
        require_program("docker", "docker.io")?;
        let wd = Workdir::new("docker")?;
        let config = wd.join("daemon.json");
        let mut cmd = Command::new(dockerd);
        cmd.envs(env(&wd)?);
        match daemon_json {
            Some(template) => {
                let text = fs::read_to_string(template).map_err(io("read", template))?;
                let mut v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| Error::Config {
                        path: template.into(),
                        reason: e.to_string(),
                    })?;
                let slot = v
                    .pointer_mut("/runtimes/scrun/path")
                    .ok_or_else(|| Error::Config {
                        path: template.into(),
                        reason: "no runtimes.scrun.path".into(),
                    })?;
                *slot = serde_json::Value::String(scrun.display().to_string());
                fs::write(&config, v.to_string()).map_err(io("write", &config))?;
            }
            None => {
                fs::write(&config, "{}").map_err(io("write", &config))?;
                cmd.arg("--add-runtime")
                    .arg(format!("scrun={}", scrun.display()));
            }
        }
        let sock = wd.join("docker.sock");
        let log = wd.join("dockerd.log");
        let logf = fs::File::create(&log).map_err(io("create", &log))?;
        let logf2 = logf.try_clone().map_err(io("dup", &log))?;
        cmd.arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(wd.join("data"))
            .arg("--exec-root")
            .arg(wd.join("exec"))
            .arg("--pidfile")
            .arg(wd.pidfile("dockerd"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args([
                "--iptables=false",
                "--ip-masq=false",
                "--bridge=none",
                "--shutdown-timeout=2",
            ])
            .stdin(Stdio::null())
            .stdout(logf)
            .stderr(logf2);
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            command: crate::process::describe(&cmd),
            source,
        })?;
        let mut d = Docker {
            child,
            sock,
            log,
            wd,
        };
        d.wait_ready()?;
        Ok(d)
    }

    /// The dockerd shared by every test of this test binary: configured through
    /// `hooks/docker/daemon.json` with the scrun under test, with [`crate::image::busybox`]
    /// loaded. Torn down by the reaper when the test process exits.
    pub fn shared() -> std::result::Result<&'static Docker, String> {
        static SHARED: OnceLock<std::result::Result<Docker, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let hook = workspace_dir().join("hooks/docker/daemon.json");
                let mut d = Docker::start(&Runtime::scrun().path, Some(&hook))
                    .map_err(|e| e.to_string())?;
                d.wd.guard_with_reaper().map_err(|e| e.to_string())?;
                let img = crate::image::busybox(d.wd.path()).map_err(|e| e.to_string())?;
                d.load(&img).map_err(|e| e.to_string())?;
                Ok(d)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn wait_ready(&mut self) -> Result<()> {
        crate::process::wait_daemon_ready(
            self,
            "dockerd",
            READY_SECS,
            Duration::from_millis(250),
            |d| d.child.try_wait().ok().flatten(),
            |d| {
                d.sock.exists()
                    && run_with_timeout(&mut d.cmd(&["info"]), 10).is_ok_and(|o| o.status.success())
            },
            Docker::log,
        )
    }

    /// Start the reaper for this daemon's workdir: a daemon kept in a `static` is never dropped,
    /// the reaper stops it and cleans up when the test process exits.
    pub fn guard_with_reaper(&mut self) -> Result<()> {
        self.wd.guard_with_reaper()
    }

    /// The daemon's workdir.
    pub fn workdir(&self) -> &Workdir {
        &self.wd
    }

    /// `DOCKER_HOST` for this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// The daemon log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }

    /// A `docker` command aimed at this daemon (API 1.41, private client config).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.wd.join("client"))
            .env("DOCKER_API_VERSION", "1.41")
            .env_remove("DOCKER_CONTEXT")
            .args(args);
        c
    }

    /// Run `docker args…` with [`DOCKER_TIMEOUT`].
    pub fn docker(&self, args: &[&str]) -> Result<Output> {
        run_with_timeout(&mut self.cmd(args), DOCKER_TIMEOUT)
    }

    /// Run `docker args…`, require success, return stdout.
    pub fn docker_ok(&self, args: &[&str]) -> Result<String> {
        let out = run_ok(&mut self.cmd(args), DOCKER_TIMEOUT)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `docker load` an image archive.
    pub fn load(&self, image: &ImageArchive) -> Result<()> {
        let path = image.path.display().to_string();
        self.docker_ok(&["load", "-i", &path]).map(drop)
    }

    /// Builds image `name` (the busybox base, then `layers`; its command is `sh`) in this
    /// daemon's workdir and loads it.
    pub fn load_shell_image(&self, name: &str, layers: &[Layer]) -> Result<()> {
        let cfg = ImageConfig {
            entrypoint: vec![],
            cmd: vec!["sh".into()],
        };
        self.load(&image::build_image(
            self.workdir().path(),
            name,
            &cfg,
            layers,
        )?)
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if crate::process::wait_until(&mut self.child, Instant::now() + Duration::from_secs(20))
            .is_none()
        {
            eprintln!(
                "dockerd ignored SIGTERM for 20 s and was killed; log:\n{}",
                self.log()
            );
        }
        // The workdir field drops next: it kills leftovers, unmounts and removes the tree.
    }
}
