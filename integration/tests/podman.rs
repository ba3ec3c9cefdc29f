//! podman (with conmon): every scenario under runc and scrun. One private podman storage serves
//! the whole file; scrun is registered through `hooks/podman/containers.conf`.

use scrun_integration::podman::Podman;
use scrun_integration::process::{exit_code, stderr, stdout};
use scrun_integration::{Runtime, differential};

const IMAGE: &str = "localhost/scrun-test/busybox:1";

fn podman() -> &'static Podman {
    Podman::shared().unwrap_or_else(|e| panic!("cannot set up podman: {e}"))
}

/// `--runtime` value: runc by path, scrun by the name the hook registers.
fn runtime_arg(rt: &Runtime) -> String {
    if rt.name == "scrun" {
        "scrun".into()
    } else {
        rt.path.display().to_string()
    }
}

#[test]
fn containers_conf_hook_registers_scrun() {
    let conf = std::fs::read_to_string(podman().conf()).expect("read generated containers.conf");
    let v: toml::Value = toml::from_str(&conf).expect("parse generated containers.conf");
    let path = v
        .get("engine")
        .and_then(|e| e.get("runtimes"))
        .and_then(|r| r.get("scrun"));
    let entry = path
        .and_then(|p| p.as_array())
        .and_then(|a| a.first())
        .and_then(|p| p.as_str())
        .expect("[engine.runtimes] scrun entry");
    // The entry is the harness's wrapper (it sets SCRUN_CONFIG, which podman does not pass on)
    // and execs the scrun under test.
    let wrapper = std::fs::read_to_string(entry).expect("read the registered runtime");
    let scrun = Runtime::scrun().path.display().to_string();
    assert!(
        wrapper.contains(&format!("exec '{scrun}' \"$@\"")),
        "{wrapper}"
    );
}

#[test]
fn run_rm_reports_output_and_exit_code() {
    let obs = differential("podman run --rm", |rt| {
        let out = podman()
            .podman(&[
                "--runtime",
                &runtime_arg(rt),
                "run",
                "--rm",
                IMAGE,
                "sh",
                "-c",
                "echo hi; exit 3",
            ])
            .expect("podman run");
        (stdout(&out), exit_code(&out.status))
    });
    assert_eq!(obs, ("hi\n".to_string(), 3));
}

#[test]
fn detached_exec_stop_rm() {
    let obs = differential("podman run -d, exec, stop, rm", |rt| {
        let p = podman();
        let rtarg = runtime_arg(rt);
        let name = format!("it-exec-{}-{}", rt.name, std::process::id());
        let out = p
            .podman(&[
                "--runtime",
                &rtarg,
                "run",
                "-d",
                "--name",
                &name,
                IMAGE,
                "sleep",
                "1000",
            ])
            .expect("podman run -d");
        assert!(
            out.status.success(),
            "podman run -d under {}: {}",
            rt.name,
            stderr(&out)
        );
        let out = p
            .podman(&[
                "--runtime",
                &rtarg,
                "exec",
                "-e",
                "FOO=bar",
                "-u",
                "1000",
                "-w",
                "/tmp",
                &name,
                "sh",
                "-c",
                "echo $FOO; id -u; pwd; exit 4",
            ])
            .expect("podman exec");
        let exec = (stdout(&out), exit_code(&out.status));
        let stopped = p
            .podman(&["--runtime", &rtarg, "stop", "-t", "1", &name])
            .expect("podman stop");
        let status = p
            .podman_ok(&["inspect", "-f", "{{.State.Status}}", &name])
            .expect("inspect");
        let removed = p
            .podman(&["--runtime", &rtarg, "rm", &name])
            .expect("podman rm");
        if !removed.status.success() {
            let _ = p.podman(&["rm", "-f", "-t", "0", &name]);
        }
        (
            exec,
            stopped.status.success(),
            status.trim().to_string(),
            removed.status.success(),
        )
    });
    assert_eq!(
        obs,
        (
            ("bar\n1000\n/tmp\n".to_string(), 4),
            true,
            "exited".to_string(),
            true
        )
    );
}
