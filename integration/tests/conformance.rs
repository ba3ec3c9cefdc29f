//! runc's behaviour at the edges, differentially: each scenario runs on the same plain bundle under
//! runc and scrun and compares exit status, a substring of the message and the container's
//! observable state. `spec`, capability names in both spellings, options after positional
//! arguments, the first error of a failing init, state after the init has exited, failing poststop
//! hooks, checkpoint, and a container's own seccomp agent.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use scrun_integration::image::busybox_rootfs;
use scrun_integration::oci::write_spec;
use scrun_integration::process::{exit_code, run_with_timeout, stderr, stdout};
use scrun_integration::runtime::{Runtime, differential};
use scrun_integration::workdir::Workdir;

struct Bundle {
    wd: Workdir,
}

impl Bundle {
    fn new(tag: &str, args: &[&str]) -> Bundle {
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

    fn bundle(&self) -> PathBuf {
        self.wd.join("bundle")
    }

    fn bundle_str(&self) -> String {
        self.bundle().display().to_string()
    }

    /// Edit `config.json` in place.
    fn edit(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.bundle().join("config.json");
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        f(&mut v);
        fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    fn cmd(&self, rt: &Runtime, args: &[&str]) -> Command {
        let mut c = Command::new(&rt.path);
        c.env("SCRUN_CONFIG", self.wd.join("scrun.toml"))
            .arg("--root")
            .arg(self.wd.join(format!("state-{}", rt.name)))
            .args(args);
        c
    }

    fn rt(&self, rt: &Runtime, args: &[&str]) -> Output {
        run_with_timeout(&mut self.cmd(rt, args), 60).expect("runtime")
    }

    fn ok(&self, rt: &Runtime, args: &[&str]) -> String {
        let out = self.rt(rt, args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            rt.name,
            stderr(&out)
        );
        stdout(&out)
    }
}

impl Bundle {
    /// The ids of the containers the runtime lists.
    fn listed(&self, rt: &Runtime) -> Vec<String> {
        self.ok(rt, &["list", "-q"])
            .lines()
            .map(String::from)
            .collect()
    }

    fn state(&self, rt: &Runtime, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(rt, &["state", id])).expect("state JSON")
    }
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// `spec` and `spec --rootless --bundle DIR` write runc's default config; the only documented
/// difference is `ociVersion` (the spec version each runtime implements). A second `spec` refuses
/// to overwrite, with runc's words and status.
#[test]
fn spec_writes_runcs_default_config() {
    let wd = Workdir::new("spec").expect("workdir");
    let obs = differential("spec", |rt| {
        let mut configs = Vec::new();
        for (name, rootless) in [("plain", false), ("rootless", true)] {
            let dir = wd.join(format!("{}-{name}", rt.name));
            fs::create_dir_all(&dir).unwrap();
            let mut c = Command::new(&rt.path);
            c.arg("spec");
            if rootless {
                c.arg("--rootless");
            }
            c.arg("--bundle").arg(&dir);
            let out = run_with_timeout(&mut c, 30).unwrap();
            assert!(out.status.success(), "{} spec: {}", rt.name, stderr(&out));
            let mut v = read_json(&dir.join("config.json"));
            assert!(v["ociVersion"].is_string(), "{v}");
            v.as_object_mut().unwrap().remove("ociVersion");
            configs.push(v);
            let again = run_with_timeout(&mut c, 30).unwrap();
            configs.push(serde_json::json!({
                "again_status": exit_code(&again.status),
                "again_refused": stderr(&again).contains("exists. Remove it first"),
            }));
        }
        configs
    });
    assert_eq!(obs[0]["hostname"], "runc");
    assert_eq!(obs[1]["again_refused"], true);
    assert_eq!(obs[1]["again_status"], 1);
    assert_eq!(
        obs[2]["linux"]["uidMappings"][0]["hostID"],
        nix::unistd::geteuid().as_raw()
    );
}

/// A running container to exec into: `sleep` as init, created and started.
fn started(b: &Bundle, rt: &Runtime, id: &str) {
    let bundle = b.bundle_str();
    b.ok(rt, &["create", "--bundle", &bundle, id]);
    b.ok(rt, &["start", id]);
}

/// The capability sets of `exec` with `--cap` in runc's spellings (`--cap X`, `--cap=X`; runc
/// refuses `-c` mixed with `--cap`), a name without `CAP_` (runc warns and ignores it: a name it
/// does not know), an unknown capability,
/// options after the container id (`kill ID SIG --all`-style reordering) and an exec command whose
/// words look like options.
#[test]
fn exec_cap_spellings_and_argument_order_match_runc() {
    let b = Bundle::new("execcap", &["sleep", "1000"]);
    let obs = differential("exec --cap", |rt| {
        let id = format!("cap-{}", rt.name);
        started(&b, rt, &id);
        let caps = b.ok(
            rt,
            &[
                "exec",
                "--cap",
                "CAP_SYSLOG",
                "--cap=CAP_CHOWN",
                "--cap",
                "SYS_NICE",
                &id,
                "grep",
                "^Cap[BEP]",
                "/proc/self/status",
            ],
        );
        // Everything after the id is the command, even `--env`.
        let argv = b.rt(rt, &["exec", &id, "echo", "--env", "A=1", "-t"]);
        let unknown = b.rt(rt, &["exec", "--cap", "CAP_NOPE", &id, "true"]);
        let warned =
            stderr(&unknown).contains("ignoring unknown or unavailable capabilities: [CAP_NOPE]");
        // Options after the positional arguments.
        let deleted = b.rt(rt, &["delete", &id, "--force"]);
        (
            caps,
            stdout(&argv),
            exit_code(&argv.status),
            unknown.status.success(),
            warned,
            deleted.status.success(),
            b.listed(rt),
        )
    });
    // CAP_CHOWN (0), CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29), CAP_SYSLOG
    // (34).
    assert!(obs.0.contains("CapBnd:\t0000000420000421"), "{}", obs.0);
    assert_eq!(obs.1, "--env A=1 -t\n");
}
