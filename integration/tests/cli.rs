//! The runc command line as callers use it, on a plain OCI bundle, under runc and scrun with the
//! same observable results: state JSON shape, error wording callers match on, exit codes of
//! `delete --force` and `kill`, real-time signals, `update --resources` (stdin and file), `ps`,
//! `list`, `events --stats`, `features`, `--version`, and no runtime fd leaking into the container.

use std::fs;
use std::time::{Duration, Instant};

use scrun_integration::process::{run_with_input, run_with_timeout, stderr, stdout};
use scrun_integration::runtime::{Runtime, differential};

use scrun_integration::bundle::Bundle;

#[test]
fn lifecycle_state_errors_and_signals_match_runc() {
    let b = Bundle::new(
        "cli",
        &[
            "sh",
            "-c",
            "trap 'echo rt >> /tmp/sig' 37; trap 'echo usr1 >> /tmp/sig' USR1; touch /tmp/ready; while :; do sleep 0.1; done",
        ],
    );
    let obs = differential("runc CLI lifecycle", |rt| {
        let id = format!("cli-{}", rt.name);
        b.create_start(rt, &id);
        let st = b.state(rt, &id);
        let mut keys: Vec<String> = st.as_object().unwrap().keys().cloned().collect();
        keys.retain(|k| k != "annotations");
        keys.sort();
        assert_eq!(
            st["bundle"],
            b.bundle().display().to_string(),
            "{}: state reports the caller's bundle",
            rt.name
        );
        assert!(st["rootfs"].as_str().unwrap().ends_with("/rootfs"), "{st}");
        let pid = st["pid"].as_i64().unwrap();
        assert!(pid > 0);
        // ps --format json lists the init.
        let ps: Vec<i64> =
            serde_json::from_str(&b.ok(rt, &["ps", "--format", "json", &id])).unwrap();
        assert!(ps.contains(&pid), "{ps:?}");
        // list --format json has it.
        let list: serde_json::Value =
            serde_json::from_str(&b.ok(rt, &["list", "--format", "json"])).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
        // A real-time signal by number (SIGRTMIN+3, podman's systemd stop signal) and one by name,
        // once the shell has set its traps.
        let ready = b.bundle().join("rootfs/tmp/ready");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = fs::remove_file(&ready);
        b.ok(rt, &["kill", &id, "37"]);
        b.ok(rt, &["kill", &id, "SIGUSR1"]);
        let sig_file = b.bundle().join("rootfs/tmp/sig");
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs::read_to_string(&sig_file)
            .unwrap_or_default()
            .lines()
            .count()
            < 2
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut got: Vec<String> = fs::read_to_string(&sig_file)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        got.sort();
        let _ = fs::remove_file(&sig_file);
        // update --resources - (containerd 1.6) and --resources=FILE (podman).
        let out = run_with_input(
            &mut b.cmd(rt, &["update", "--resources", "-", &id]),
            Some(br#"{"pids":{"limit":321}}"#),
            30,
        )
        .unwrap();
        assert!(
            out.status.success(),
            "{} update -: {}",
            rt.name,
            stderr(&out)
        );
        let res = b.wd.join("res.json");
        fs::write(&res, r#"{"memory":{"limit":67108864}}"#).unwrap();
        b.ok(
            rt,
            &["update", &format!("--resources={}", res.display()), &id],
        );
        // The init's own cgroups, wherever the runtime put them.
        let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let cg_of = |ctrl: &str| {
            cgroups
                .lines()
                .find_map(|l| {
                    let mut parts = l.splitn(3, ':');
                    let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                    ctrls
                        .split(',')
                        .any(|c| c == ctrl)
                        .then(|| path.to_string())
                })
                .unwrap_or_default()
        };
        let cg_pids = fs::read_to_string(format!("/sys/fs/cgroup/pids{}/pids.max", cg_of("pids")))
            .unwrap_or_default();
        let cg_mem = fs::read_to_string(format!(
            "/sys/fs/cgroup/memory{}/memory.limit_in_bytes",
            cg_of("memory")
        ))
        .unwrap_or_default();
        // events --stats prints one stats object.
        let ev: serde_json::Value =
            serde_json::from_str(b.ok(rt, &["events", "--stats", &id]).trim()).unwrap();
        let ev_type = ev["type"].as_str().unwrap_or_default().to_string();
        // kill + wait, then the state of a stopped container and its errors.
        b.ok(rt, &["kill", &id, "KILL"]);
        b.wait_status(rt, &id, "stopped");
        let stopped = b.state(rt, &id);
        let kill_stopped = b.rt(rt, &["kill", &id, "TERM"]);
        let exec_stopped = b.rt(rt, &["exec", &id, "true"]);
        b.ok(rt, &["delete", &id]);
        let missing = b.rt(rt, &["state", &id]);
        let delete_missing = b.rt(rt, &["delete", &id]);
        let force_missing = b.rt(rt, &["delete", "--force", &id]);
        Obs {
            state_keys: keys,
            signals: got,
            pids_max: cg_pids.trim().to_string(),
            memory_limit: cg_mem.trim().to_string(),
            events_type: ev_type,
            stopped_status: stopped["status"].clone(),
            stopped_pid: stopped["pid"].clone(),
            kill_stopped_ok: kill_stopped.status.success(),
            kill_stopped_says_not_running: stderr(&kill_stopped).contains("not running"),
            exec_stopped_ok: exec_stopped.status.success(),
            state_missing_ok: missing.status.success(),
            state_missing_says_does_not_exist: stderr(&missing).contains("does not exist"),
            delete_missing_says_does_not_exist: stderr(&delete_missing).contains("does not exist"),
            delete_force_missing_ok: force_missing.status.success(),
        }
    });
    assert_eq!(obs.signals, vec!["rt", "usr1"], "{obs:?}");
    assert_eq!(
        (obs.pids_max.as_str(), obs.memory_limit.as_str()),
        ("321", "67108864"),
        "{obs:?}"
    );
    assert_eq!(obs.stopped_status, "stopped");
    assert_eq!(obs.stopped_pid, 0, "pid 0 when stopped");
    assert!(
        !obs.kill_stopped_ok && obs.kill_stopped_says_not_running,
        "{obs:?}"
    );
    assert!(
        obs.state_missing_says_does_not_exist && obs.delete_missing_says_does_not_exist,
        "{obs:?}"
    );
    assert!(
        obs.delete_force_missing_ok,
        "delete --force of an unknown id exits 0"
    );
}

#[derive(Debug, PartialEq)]
struct Obs {
    state_keys: Vec<String>,
    signals: Vec<String>,
    pids_max: String,
    memory_limit: String,
    events_type: String,
    stopped_status: serde_json::Value,
    stopped_pid: serde_json::Value,
    kill_stopped_ok: bool,
    kill_stopped_says_not_running: bool,
    exec_stopped_ok: bool,
    state_missing_ok: bool,
    state_missing_says_does_not_exist: bool,
    delete_missing_says_does_not_exist: bool,
    delete_force_missing_ok: bool,
}

/// CVE-2019-5736: a created container's init runs scrun's code, so `/proc/<init>/exe` must not
/// be the host's scrun binary nor anything writable: scrun re-executes itself from a private
/// read-only overlay of its directory (or a sealed memfd). A descriptor kept on it stays
/// unwritable after the init is gone (the exploit reopened it for writing once runc had exited).
#[test]
fn the_container_init_cannot_reach_the_host_binary_for_writing() {
    use std::os::unix::fs::MetadataExt;
    let b = Bundle::new("cve5736", &["true"]);
    let rt = Runtime::scrun();
    let bundle = b.bundle();
    b.ok(
        &rt,
        &["create", "--bundle", bundle.to_str().unwrap(), "seal"],
    );
    let pid = b.state(&rt, "seal")["pid"].as_i64().expect("init pid");
    let exe = format!("/proc/{pid}/exe");
    let host = fs::metadata(&rt.path).unwrap();
    let seen = fs::metadata(&exe).unwrap();
    assert_ne!(
        (seen.dev(), seen.ino()),
        (host.dev(), host.ino()),
        "the init runs the host's scrun binary itself"
    );
    let kept = fs::File::open(&exe).expect("open the init's exe for reading");
    b.ok(&rt, &["delete", "--force", "seal"]);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&kept);
    let err = fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{fd}"))
        .expect_err("the init's exe could be opened for writing after the init exited");
    assert!(
        matches!(
            err.raw_os_error(),
            Some(nix::libc::EROFS) | Some(nix::libc::EPERM)
        ),
        "unexpected error {err}"
    );
}

/// argv and the environment are read from the exec'ing process only when a finding is written;
/// they must still be there, with secrets redacted, when one is.
#[test]
fn a_finding_carries_the_execs_argv_and_redacted_environment() {
    let b = Bundle::new("argvenv", &["true"]);
    let busybox = fs::read(b.bundle().join("rootfs/bin/busybox")).unwrap();
    fs::write(
        b.wd.join("feed.txt"),
        format!(
            "{} test-listed\n",
            scrun_integration::image::sha256_hex(&busybox)
        ),
    )
    .unwrap();
    fs::write(
        b.wd.join("scrun.toml"),
        format!(
            "[intel]\nfeeds = [\"{}\"]\n[findings]\npath = \"{}\"\ninclude_env = true\n[supervisor]\nhash_cache_dir = \"{}\"\n",
            b.wd.join("feed.txt").display(),
            b.wd.join("findings.jsonl").display(),
            b.wd.join("hashcache").display()
        ),
    )
    .unwrap();
    scrun_integration::oci::set_args(
        &b.bundle(),
        &[
            "/bin/sh",
            "-c",
            "MY_API_TOKEN=hunter2 SCRUN_MARK=seen /bin/echo first-arg second-arg",
        ],
    )
    .unwrap();
    let rt = Runtime::scrun();
    let bundle = b.bundle();
    b.ok(
        &rt,
        &["run", "--bundle", bundle.to_str().unwrap(), "argvenv"],
    );
    let findings = fs::read_to_string(b.wd.join("findings.jsonl")).unwrap_or_default();
    let echo: serde_json::Value = findings
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|f| f["processes"][0]["args"][1] == "first-arg")
        .unwrap_or_else(|| panic!("no finding for the echo exec: {findings}"));
    let p = &echo["processes"][0];
    assert_eq!(
        p["args"],
        serde_json::json!(["/bin/echo", "first-arg", "second-arg"])
    );
    let env = p["envVariables"].as_array().expect("envVariables");
    let val = |name: &str| {
        env.iter()
            .find(|v| v["name"] == name)
            .map(|v| v["val"].clone())
    };
    assert_eq!(val("SCRUN_MARK"), Some("seen".into()), "{env:?}");
    assert_eq!(val("MY_API_TOKEN"), Some("[REDACTED]".into()), "{env:?}");
}

/// The supervisor starts while the container is built; a policy it rejects (here a malformed
/// feed) still fails `create`/`run` with its message, and leaves no container and no supervisor.
#[test]
fn a_malformed_feed_fails_run_and_leaves_nothing_behind() {
    let b = Bundle::new("badfeed", &["echo", "ran"]);
    fs::write(b.wd.join("feed.txt"), "this is not a sha256\n").unwrap();
    fs::write(
        b.wd.join("scrun.toml"),
        format!(
            "[intel]\nfeeds = [\"{}\"]\n[findings]\npath = \"{}\"\n",
            b.wd.join("feed.txt").display(),
            b.wd.join("findings.jsonl").display()
        ),
    )
    .unwrap();
    let rt = Runtime::scrun();
    let bundle = b.bundle();
    let run_dir = b.wd.join("run");
    let mut cmd = b.cmd(&rt, &["run", "--bundle", bundle.to_str().unwrap(), "bad"]);
    cmd.env("SCRUN_RUN_DIR", &run_dir);
    let out = run_with_timeout(&mut cmd, 60).expect("scrun run");
    assert!(!out.status.success(), "run with a malformed feed succeeded");
    assert!(!stdout(&out).contains("ran"), "the container ran");
    let err = stderr(&out);
    assert!(
        err.contains("feed.txt") && err.contains("line 1"),
        "the error does not name the feed and line: {err}"
    );
    let mut list = b.cmd(&rt, &["list", "-q"]);
    list.env("SCRUN_RUN_DIR", &run_dir);
    let listed = run_with_timeout(&mut list, 30).expect("scrun list");
    assert_eq!(stdout(&listed).trim(), "", "a container was left behind");
    let left: Vec<_> = fs::read_dir(&run_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .filter(|n| n != ".exe-lower")
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "supervisor directories left: {left:?}");
}

#[test]
fn no_runtime_descriptor_reaches_the_container() {
    let b = Bundle::new("fds", &["ls", "/proc/self/fd"]);
    let fds = differential("fds seen by the container's process", |rt| {
        let b2 = b.bundle();
        b.ok(
            rt,
            &[
                "run",
                "--bundle",
                b2.to_str().unwrap(),
                &format!("fds-{}", rt.name),
            ],
        )
    });
    // stdio and the directory ls itself opened.
    assert_eq!(
        fds.split_whitespace().collect::<Vec<_>>(),
        vec!["0", "1", "2", "3"],
        "{fds}"
    );
}

#[test]
fn version_and_features_have_runc_shapes() {
    let scrun = Runtime::scrun();
    let b = Bundle::new("ver", &["true"]);
    let v = b.ok(&scrun, &["--version"]);
    let lines: Vec<&str> = v.lines().collect();
    assert!(lines[0].starts_with("scrun version "), "{v}");
    assert!(lines[1].starts_with("commit: "), "{v}");
    assert!(lines[2].starts_with("spec: 1."), "{v}");
    let f: serde_json::Value = serde_json::from_str(&b.ok(&scrun, &["features"])).unwrap();
    assert!(
        f["linux"]["seccomp"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "SCMP_ACT_NOTIFY")
    );
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
}
