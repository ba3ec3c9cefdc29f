//! The exec supervisor's failure modes, on a plain OCI bundle driven through scrun's runc CLI:
//! a killed worker is restarted by the keeper and supervision goes on (enforce still blocks); a
//! killed keeper and worker leave the container failing closed (ENOSYS), visible in `scrun state`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use scrun_integration::image::{busybox_rootfs, mount_overlay};
use scrun_integration::oci::write_spec;
use scrun_integration::process::wait_for;
use scrun_integration::process::{run_with_timeout, stderr, stdout};
use scrun_integration::runtime::scrun_path;
use scrun_integration::workdir::Workdir;

struct Bundle {
    wd: Workdir,
    root: PathBuf,
    id: String,
    evil_sha: String,
}

impl Bundle {
    /// A busybox bundle whose init loops on `/bin/true`, logging each exit code to /tmp/rc, with
    /// `/bin/busybox-evil` (a marked busybox) listed in an enforce-mode feed.
    fn new(tag: &str) -> Bundle {
        let wd = Workdir::new(tag).expect("workdir");
        // The image layer; the bundle's rootfs is an overlay on it, as engines make them, so the
        // exec gate (fanotify on the overlay) is part of what a restart must bring back.
        let rootfs = wd.join("lower");
        busybox_rootfs(&rootfs).expect("rootfs");
        let mut evil = fs::read(rootfs.join("bin/busybox")).unwrap();
        evil.extend_from_slice(b"\nscrun-supervisor-test-marker\n");
        fs::write(rootfs.join("bin/busybox-evil"), &evil).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            rootfs.join("bin/busybox-evil"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let evil_sha = scrun_integration::image::sha256_hex(&evil);
        fs::write(wd.join("feed.txt"), format!("{evil_sha} test-evil\n")).unwrap();
        fs::write(
            wd.join("scrun.toml"),
            format!(
                "mode = \"enforce\"\n[intel]\nfeeds = [\"{}\"]\n[findings]\npath = \"{}\"\n[supervisor]\nhash_cache_dir = \"{}\"\n",
                wd.join("feed.txt").display(),
                wd.join("findings.jsonl").display(),
                wd.join("hashcache").display()
            ),
        )
        .unwrap();
        mount_overlay(&rootfs, &wd.join("overlay"), &wd.join("bundle/rootfs")).expect("overlay");
        write_spec(
            &wd.join("bundle"),
            &[
                "sh",
                "-c",
                "while :; do /bin/true; echo $? >> /tmp/rc; read -t 0.1 x < /dev/zero 2>/dev/null; done",
            ],
        )
        .expect("bundle spec");
        let id = format!("sup-{tag}-{}", std::process::id());
        let root = wd.join("state");
        Bundle {
            wd,
            root,
            id,
            evil_sha,
        }
    }

    fn scrun(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(scrun_path());
        cmd.env("SCRUN_CONFIG", self.wd.join("scrun.toml"))
            .arg("--root")
            .arg(&self.root)
            .args(args);
        run_with_timeout(&mut cmd, 30).expect("scrun")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.scrun(args);
        assert!(out.status.success(), "scrun {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// create + start, then wait until the init's loop has run supervised execs.
    fn start(&self) {
        let bundle = self.wd.join("bundle");
        self.ok(&["create", "--bundle", bundle.to_str().unwrap(), &self.id]);
        self.ok(&["start", &self.id]);
        wait_for("the init's first supervised execs", 10, || {
            self.rc_log().lines().count() >= 2
        });
    }

    fn supervisor_status(&self) -> String {
        let state: serde_json::Value =
            serde_json::from_str(&self.ok(&["state", &self.id])).unwrap();
        state["annotations"]["io.github.scrun.supervisor"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn scrun_dir(&self) -> PathBuf {
        // The supervisor's directory is the one whose metadata names this container.
        fs::read_dir("/run/scrun.d")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                fs::read_to_string(p.join("scrun.json"))
                    .is_ok_and(|m| m.contains(&format!("\"{}\"", self.id)))
            })
            .expect("scrun dir of the container")
    }

    fn rc_log(&self) -> String {
        fs::read_to_string(self.wd.join("bundle/rootfs/tmp/rc")).unwrap_or_default()
    }

    fn findings_for(&self, sha: &str) -> usize {
        fs::read_to_string(self.wd.join("findings.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(sha) && l.contains(&self.id))
            .count()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self.scrun(&["delete", "--force", &self.id]);
    }
}

fn pid_in(path: &Path) -> i32 {
    fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

fn kill9(pid: i32) {
    let st = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_killed_worker_is_restarted_and_supervision_goes_on() {
    let b = Bundle::new("worker");
    b.start();
    let dir = b.scrun_dir();
    let worker = pid_in(&dir.join("worker.pid"));
    // The worker is confined: its own seccomp filters and only the capabilities it uses
    // (CAP_DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, LEASE, SYS_PTRACE, SYS_ADMIN).
    let status = fs::read_to_string(format!("/proc/{worker}/status")).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(field("Seccomp:"), "2", "{status}");
    assert_eq!(field("CapEff:"), "000000001028000e", "{status}");
    assert_eq!(field("CapBnd:"), "000000001028000e", "{status}");
    kill9(worker);
    wait_for("a new worker", 10, || {
        fs::read_to_string(dir.join("worker.pid")).is_ok_and(|p| p.trim() != worker.to_string())
    });
    let status = b.supervisor_status();
    assert!(status.contains("worker restarted 1 time"), "{status}");
    // Supervision goes on: enforce still blocks the malicious binary, benign execs still run.
    let blocked = b.scrun(&["exec", &b.id, "/bin/busybox-evil", "echo", "ran"]);
    assert!(
        !blocked.status.success(),
        "the malicious exec ran after a restart"
    );
    assert!(!stdout(&blocked).contains("ran"));
    assert!(
        stderr(&blocked).contains("operation not permitted"),
        "{}",
        stderr(&blocked)
    );
    assert_eq!(
        b.findings_for(&b.evil_sha),
        1,
        "one BLOCKED finding after the restart"
    );
    assert_eq!(b.ok(&["exec", &b.id, "echo", "benign"]).trim(), "benign");
    let before = b.rc_log().lines().count();
    wait_for("the init's loop to go on", 10, || {
        b.rc_log().lines().count() > before + 2
    });
    assert!(
        b.rc_log().lines().all(|l| l == "0"),
        "an init exec failed: {}",
        b.rc_log()
    );
    // `delete --force` stops both supervisor processes.
    let (keeper, worker) = (
        pid_in(&dir.join("sup.pid")),
        pid_in(&dir.join("worker.pid")),
    );
    b.ok(&["delete", "--force", &b.id]);
    wait_for("keeper and worker to exit after delete", 10, || {
        [keeper, worker]
            .iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
    });
}

#[test]
fn killed_keeper_and_worker_fail_closed_and_show_in_state() {
    let b = Bundle::new("keeper");
    b.start();
    let dir = b.scrun_dir();
    kill9(pid_in(&dir.join("sup.pid")));
    kill9(pid_in(&dir.join("worker.pid")));
    wait_for("state to say the supervisor is dead", 10, || {
        b.supervisor_status().starts_with("dead")
    });
    assert!(b.supervisor_status().contains("ENOSYS"));
    // The init's execs now fail with ENOSYS: `/bin/true` never runs again (exit 126/127 from sh).
    wait_for("the init's execs to fail", 10, || {
        b.rc_log().lines().last().is_some_and(|l| l != "0")
    });
    // New execs cannot get a supervisor: `scrun exec` fails closed with a clear message.
    let out = b.scrun(&["exec", &b.id, "echo", "hi"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("fail closed"), "{}", stderr(&out));
}
