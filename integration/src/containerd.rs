//! A private containerd (config version 2) and `ctr` pointed at it, optionally with the CRI plugin.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use toml::Value;

use crate::error::{Error, Result, io};
use crate::image::ImageArchive;
use crate::process::{require_program, run_ok, run_with_timeout};
use crate::workdir::Workdir;

/// Seconds a `ctr` command may take before it is killed.
pub const CTR_TIMEOUT: u64 = 120;
const READY_SECS: u64 = 60;
const CRI: &str = "io.containerd.grpc.v1.cri";

/// A running private containerd; stopped (and its workdir cleaned) on drop.
#[derive(Debug)]
pub struct Containerd {
    child: Child,
    sock: PathBuf,
    log: PathBuf,
    wd: Workdir,
}

impl Containerd {
    /// Start containerd without the CRI plugin (for `ctr`).
    pub fn start() -> Result<Containerd> {
        let wd = Workdir::new("containerd")?;
        let mut cfg = base_config(&wd);
        cfg.insert(
            "disabled_plugins".into(),
            Value::Array(vec![Value::String(CRI.into())]),
        );
        Containerd::launch(wd, cfg)
    }

    /// Start containerd with the CRI plugin: sandbox image [`crate::image::PAUSE`],
    /// `restrict_oom_score_adj` (this host's root lacks CAP_SYS_RESOURCE), runtime handler `runc`,
    /// and the runtime block(s) of `hook` (e.g. `hooks/containerd/config.toml`) merged in with
    /// every `BinaryName` set to `scrun`.
    pub fn start_cri(hook: &Path, scrun: &Path) -> Result<Containerd> {
        let wd = Workdir::new("cri")?;
        let cfg = cri_config(&wd)?;

        let text = fs::read_to_string(hook).map_err(io("read", hook))?;
        let mut hook_cfg: Value = toml::from_str(&text).map_err(|e| Error::Config {
            path: hook.into(),
            reason: e.to_string(),
        })?;
        if set_binary_names(&mut hook_cfg, scrun) == 0 {
            return Err(Error::Config {
                path: hook.into(),
                reason: "no BinaryName to set".into(),
            });
        }
        let mut merged = Value::Table(cfg);
        merge(&mut merged, hook_cfg);
        let Value::Table(cfg) = merged else {
            unreachable_table()
        };
        Containerd::launch(wd, cfg)
    }

    /// Start containerd with the config file `config` as it is (e.g. one a node installer
    /// edited); `wd` must be the workdir the config's paths point into (see [`cri_config`]).
    pub fn start_from_file(wd: Workdir, config: &Path) -> Result<Containerd> {
        Containerd::spawn(wd, config)
    }

    fn launch(wd: Workdir, cfg: toml::Table) -> Result<Containerd> {
        let config = wd.join("config.toml");
        let text = toml::to_string(&cfg).map_err(|e| Error::Config {
            path: config.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&config, text).map_err(io("write", &config))?;
        Containerd::spawn(wd, &config)
    }

    fn spawn(wd: Workdir, config: &Path) -> Result<Containerd> {
        let bin = require_program("containerd", "containerd")?;
        require_program("ctr", "containerd")?;
        require_program("containerd-shim-runc-v2", "containerd")?;
        let sock = wd.join("containerd.sock");
        let log = wd.join("containerd.log");
        let logf = fs::File::create(&log).map_err(io("create", &log))?;
        let logf2 = logf.try_clone().map_err(io("dup", &log))?;
        let mut cmd = Command::new(bin);
        let (k, v) = crate::workdir::scrun_test_config(&wd)?;
        cmd.env(k, v)
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(logf)
            .stderr(logf2);
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            command: crate::process::describe(&cmd),
            source,
        })?;
        fs::write(wd.pidfile("containerd"), child.id().to_string())
            .map_err(io("write", wd.pidfile("containerd")))?;
        let mut c = Containerd {
            child,
            sock,
            log,
            wd,
        };
        c.wait_ready()?;
        Ok(c)
    }

    fn wait_ready(&mut self) -> Result<()> {
        crate::process::wait_daemon_ready(
            self,
            "containerd",
            READY_SECS,
            Duration::from_millis(100),
            |d| d.child.try_wait().ok().flatten(),
            |d| {
                d.sock.exists()
                    && run_with_timeout(&mut d.cmd(&["version"]), 10)
                        .is_ok_and(|o| o.status.success())
            },
            Containerd::log,
        )
    }

    /// Hand cleanup to the reaper too (for an instance kept in a `static`).
    pub fn guard_with_reaper(&mut self) -> Result<()> {
        self.wd.guard_with_reaper()
    }

    /// The workdir.
    pub fn workdir(&self) -> &Workdir {
        &self.wd
    }

    /// The gRPC socket.
    pub fn socket(&self) -> &Path {
        &self.sock
    }

    /// The containerd log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }

    /// `ctr -a <sock> args…`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a").arg(&self.sock).args(args);
        c
    }

    /// Run `ctr -a <sock> args…` with [`CTR_TIMEOUT`].
    pub fn ctr(&self, args: &[&str]) -> Result<Output> {
        run_with_timeout(&mut self.cmd(args), CTR_TIMEOUT)
    }

    /// Run `ctr`, require success, return stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> Result<String> {
        let out = run_ok(&mut self.cmd(args), CTR_TIMEOUT)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `ctr -n <namespace> image import` an archive; the image is then `docker.io/<name>`
    /// (or `<name>` when it names a registry).
    pub fn import(&self, image: &ImageArchive, namespace: &str) -> Result<()> {
        let path = image.path.display().to_string();
        self.ctr_ok(&["-n", namespace, "image", "import", &path])
            .map(drop)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if crate::process::wait_until(&mut self.child, Instant::now() + Duration::from_secs(20))
            .is_none()
        {
            eprintln!(
                "containerd ignored SIGTERM for 20 s and was killed; log:\n{}",
                self.log()
            );
        }
    }
}

/// containerd's config with the CRI plugin for a private instance in `wd`: sandbox image
/// [`crate::image::PAUSE`], `restrict_oom_score_adj` (this host's root lacks CAP_SYS_RESOURCE),
/// runtime handler `runc` only.
pub fn cri_config(wd: &Workdir) -> Result<toml::Table> {
    let mut cfg = base_config(wd);
    let cni = wd.join("cni");
    fs::create_dir_all(&cni).map_err(io("create", &cni))?;
    let cri: Value = toml::from_str(&format!(
        r#"
        sandbox_image = "{pause}"
        restrict_oom_score_adj = true
        [containerd]
          snapshotter = "overlayfs"
          default_runtime_name = "runc"
          [containerd.runtimes.runc]
            runtime_type = "io.containerd.runc.v2"
        [cni]
          bin_dir = "/usr/lib/cni"
          conf_dir = "{cni}"
        "#,
        pause = crate::image::PAUSE,
        cni = cni.display()
    ))
    .map_err(|e| Error::Config {
        path: "(generated CRI config)".into(),
        reason: e.to_string(),
    })?;
    let mut plugins = toml::Table::new();
    plugins.insert(CRI.into(), cri);
    cfg.insert("plugins".into(), Value::Table(plugins));
    Ok(cfg)
}

fn base_config(wd: &Workdir) -> toml::Table {
    let mut grpc = toml::Table::new();
    grpc.insert(
        "address".into(),
        Value::String(wd.join("containerd.sock").display().to_string()),
    );
    let mut metrics = toml::Table::new();
    metrics.insert("address".into(), Value::String(String::new()));
    let mut t = toml::Table::new();
    t.insert("version".into(), Value::Integer(2));
    t.insert(
        "root".into(),
        Value::String(wd.join("root").display().to_string()),
    );
    t.insert(
        "state".into(),
        Value::String(wd.join("state").display().to_string()),
    );
    t.insert("grpc".into(), Value::Table(grpc));
    t.insert("metrics".into(), Value::Table(metrics));
    t
}

/// Deep-merge `from` into `into` (tables merge, other values replace).
pub fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Table(a), Value::Table(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Set every `BinaryName` key in `v` to `path`; returns how many were set.
pub fn set_binary_names(v: &mut Value, path: &Path) -> usize {
    match v {
        Value::Table(t) => {
            let mut n = 0;
            for (k, val) in t.iter_mut() {
                if k == "BinaryName" {
                    *val = Value::String(path.display().to_string());
                    n += 1;
                } else {
                    n += set_binary_names(val, path);
                }
            }
            n
        }
        _ => 0,
    }
}

fn unreachable_table() -> ! {
    // `merge` of two tables always yields a table.
    panic!("merged containerd config is not a table")
}
