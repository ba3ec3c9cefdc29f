//! Docker (dockerd 20.10 with its managed containerd): every scenario under runc and scrun.

use scrun_integration::docker::Docker;
use scrun_integration::image::BUSYBOX;
use scrun_integration::process::{exit_code, stdout};
use scrun_integration::{Runtime, differential};

fn docker() -> &'static Docker {
    Docker::shared().unwrap_or_else(|e| panic!("cannot start the private dockerd: {e}"))
}

/// A container name unique to this test run and runtime.
fn name(test: &str, rt: &Runtime) -> String {
    format!("it-{test}-{}-{}", rt.name, std::process::id())
}

#[test]
fn run_rm_reports_output_and_exit_code() {
    let d = docker();
    let obs = differential("docker run --rm", |rt| {
        let out = d
            .docker(&["run", "--rm", "--runtime", rt.name, BUSYBOX, "sh", "-c", "echo hi; exit 3"])
            .expect("docker run");
        (stdout(&out), exit_code(&out.status))
    });
    assert_eq!(obs, ("hi\n".to_string(), 3));
}
