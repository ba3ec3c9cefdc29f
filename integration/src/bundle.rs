//! A plain OCI bundle (busybox rootfs, runc's default spec) run by runc or scrun with a state
//! root and a scrun config of its own: the unit of the differential CLI tests.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::image::busybox_rootfs;
use crate::oci::write_spec;
use crate::process::{run_with_timeout, stderr, stdout};
use crate::runtime::Runtime;
use crate::workdir::Workdir;

/// A bundle in a workdir of its own; each runtime keeps its state in `state-<name>` there.
pub struct Bundle {
    pub wd: Workdir,
}

impl Bundle {
    /// A bundle running `args`, with a scrun config whose findings and hash cache are in the
    /// workdir.
    pub fn new(tag: &str, args: &[&str]) -> Bundle {
        let wd = Workdir::new(tag).expect("workdir");
        busybox_rootfs(&wd.join("bundle/rootfs")).expect("rootfs");
        write_spec(&wd.join("bundle"), args).expect("bundle spec");
        fs::write(
            wd.join("scrun.toml"),
            format!(
                "[findings]\npath = \"{}\"\n[supervisor]\nhash_cache_dir = \"{}\"\n",
                wd.join("findings.jsonl").display(),
                wd.join("hashcache").display()
            ),
        )
        .unwrap();
        Bundle { wd }
    }

    pub fn bundle(&self) -> PathBuf {
        self.wd.join("bundle")
    }

    pub fn bundle_str(&self) -> String {
        self.bundle().display().to_string()
    }

    /// Edit `config.json` in place.
    pub fn edit(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.bundle().join("config.json");
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        f(&mut v);
        fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    /// `rt --root <its state root> args…`, with this bundle's scrun config.
    pub fn cmd(&self, rt: &Runtime, args: &[&str]) -> Command {
        let mut c = Command::new(&rt.path);
        c.env("SCRUN_CONFIG", self.wd.join("scrun.toml"))
            .arg("--root")
            .arg(self.wd.join(format!("state-{}", rt.name)))
            .args(args);
        c
    }

    pub fn rt(&self, rt: &Runtime, args: &[&str]) -> Output {
        run_with_timeout(&mut self.cmd(rt, args), 60).expect("runtime")
    }

    /// Runs `args`, which must succeed; its stdout.
    pub fn ok(&self, rt: &Runtime, args: &[&str]) -> String {
        let out = self.rt(rt, args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            rt.name,
            stderr(&out)
        );
        stdout(&out)
    }

    /// `create` (which must print nothing: its stdout and stderr are the container's pipes),
    /// then `start`.
    pub fn create_start(&self, rt: &Runtime, id: &str) {
        let b = self.bundle();
        let out = self.rt(rt, &["create", "--bundle", b.to_str().unwrap(), id]);
        assert!(out.status.success(), "{} create: {}", rt.name, stderr(&out));
        assert_eq!(
            (stdout(&out), stderr(&out)),
            (String::new(), String::new()),
            "{} create printed",
            rt.name
        );
        self.ok(rt, &["start", id]);
    }

    pub fn state(&self, rt: &Runtime, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(rt, &["state", id])).expect("state JSON")
    }

    /// Polls `state` (the runtime's own view, not a sleep) until the container reports `want`;
    /// fails after 20 s.
    pub fn wait_status(&self, rt: &Runtime, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let st = self.state(rt, id);
            if st["status"] == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {id} never reached {want}: {st}",
                rt.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The ids of the containers the runtime lists.
    pub fn listed(&self, rt: &Runtime) -> Vec<String> {
        self.ok(rt, &["list", "-q"])
            .lines()
            .map(String::from)
            .collect()
    }
}
