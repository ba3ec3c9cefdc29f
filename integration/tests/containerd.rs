//! containerd through `ctr` (shim `io.containerd.runc.v2` with `--runc-binary`): every scenario
//! under runc and scrun. One private containerd (CRI plugin disabled) serves the whole file.

use std::sync::OnceLock;

use scrun_integration::containerd::Containerd;
use scrun_integration::image;
use scrun_integration::process::{exit_code, stderr, stdout};
use scrun_integration::{Runtime, differential};

const IMAGE: &str = "docker.io/scrun-test/busybox:1";

fn containerd() -> &'static Containerd {
    static SHARED: OnceLock<Result<Containerd, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let mut c = Containerd::start().map_err(|e| e.to_string())?;
            c.guard_with_reaper().map_err(|e| e.to_string())?;
            let img = image::busybox(c.workdir().path()).map_err(|e| e.to_string())?;
            c.import(&img, "default").map_err(|e| e.to_string())?;
            Ok(c)
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("cannot start the private containerd: {e}"))
}

fn id(test: &str, rt: &Runtime) -> String {
    format!("it-{test}-{}-{}", rt.name, std::process::id())
}

/// A detached task, killed and removed on drop.
struct Task {
    id: String,
}

impl Drop for Task {
    fn drop(&mut self) {
        let c = containerd();
        let _ = c.ctr(&["task", "kill", "-s", "SIGKILL", &self.id]);
        let _ = c.ctr(&["task", "rm", "-f", &self.id]);
        let _ = c.ctr(&["container", "rm", &self.id]);
    }
}

#[test]
fn ctr_run_rm_reports_output_and_exit_code() {
    let obs = differential("ctr run --rm", |rt| {
        let bin = rt.path.display().to_string();
        let out = containerd()
            .ctr(&[
                "run",
                "--rm",
                "--runtime",
                "io.containerd.runc.v2",
                "--runc-binary",
                &bin,
                IMAGE,
                &id("run", rt),
                "sh",
                "-c",
                "echo hi; exit 3",
            ])
            .expect("ctr run");
        (stdout(&out), exit_code(&out.status))
    });
    assert_eq!(obs, ("hi\n".to_string(), 3));
}

#[test]
fn ctr_task_exec_reports_output_and_exit_code() {
    let obs = differential("ctr task exec", |rt| {
        let c = containerd();
        let bin = rt.path.display().to_string();
        let task = Task { id: id("exec", rt) };
        let out = c
            .ctr(&[
                "run",
                "-d",
                "--runtime",
                "io.containerd.runc.v2",
                "--runc-binary",
                &bin,
                IMAGE,
                &task.id,
                "sleep",
                "1000",
            ])
            .expect("ctr run -d");
        assert!(
            out.status.success(),
            "ctr run -d under {}: {}\n{}",
            rt.name,
            stderr(&out),
            c.log()
        );
        let out = c
            .ctr(&[
                "task",
                "exec",
                "--exec-id",
                "e1",
                "--user",
                "1000",
                "--cwd",
                "/tmp",
                &task.id,
                "sh",
                "-c",
                "id -u; pwd; exit 6",
            ])
            .expect("ctr task exec");
        let exec = (stdout(&out), exit_code(&out.status));
        let ps = c.ctr_ok(&["task", "ps", &task.id]).expect("ctr task ps");
        let killed = c
            .ctr(&["task", "kill", "-s", "SIGKILL", &task.id])
            .expect("kill")
            .status
            .success();
        (exec, ps.lines().count() >= 2, killed)
    });
    assert_eq!(obs, (("1000\n/tmp\n".to_string(), 6), true, true));
}
