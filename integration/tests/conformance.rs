//! runc's behaviour at the edges, differentially: each scenario runs on the same plain bundle under
//! runc and scrun and compares exit status, a substring of the message and the container's
//! observable state. `spec`, capability names in both spellings, options after positional
//! arguments, the first error of a failing init, state after the init has exited, failing poststop
//! hooks, checkpoint, and a container's own seccomp agent.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use scrun_integration::image::busybox_rootfs;
use scrun_integration::oci::write_spec;
use scrun_integration::process::{exit_code, run_with_timeout, stderr, stdout};
use scrun_integration::runtime::{Runtime, differential};
use scrun_integration::workdir::Workdir;

use scrun_integration::bundle::Bundle;

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
        // A process that fails before its exec: status 255 and the cwd at fault.
        let bad_cwd = b.rt(rt, &["exec", "--cwd", "/nonexistent", &id, "true"]);
        let bad_cwd_named = [
            "chdir to cwd",
            "/nonexistent",
            "set in config.json failed",
            "no such file or directory",
        ]
        .iter()
        .all(|w| stderr(&bad_cwd).contains(w));
        // A running container is not deleted without --force, in runc's words.
        let not_stopped = b.rt(rt, &["delete", &id]);
        let not_stopped = (
            exit_code(&not_stopped.status),
            stderr(&not_stopped).contains("that is not stopped: running"),
        );
        // Options after the positional arguments.
        let deleted = b.rt(rt, &["delete", &id, "--force"]);
        (
            caps,
            stdout(&argv),
            exit_code(&argv.status),
            unknown.status.success(),
            warned,
            (exit_code(&bad_cwd.status), bad_cwd_named),
            not_stopped,
            deleted.status.success(),
            b.listed(rt),
        )
    });
    // CAP_CHOWN (0), CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29), CAP_SYSLOG
    // (34).
    assert!(obs.0.contains("CapBnd:\t0000000420000421"), "{}", obs.0);
    assert_eq!(obs.1, "--env A=1 -t\n");
    assert_eq!(obs.5, (255, true));
    assert_eq!(obs.6, (1, true));
}

/// What a failed `run` showed: exit status, whether stderr and the JSON `--log` (its last error
/// line, the one containerd's shim reads) hold every expected substring, and the containers left.
#[derive(Debug, PartialEq)]
struct Failure {
    status: i32,
    stderr_names_cause: bool,
    log_names_cause: bool,
    left: Vec<String>,
}

fn run_failure(b: &Bundle, rt: &Runtime, id: &str, want: &[&str]) -> Failure {
    let log = b.wd.join(format!("{id}.log"));
    let bundle = b.bundle_str();
    let mut c = b.cmd(rt, &[]);
    c.arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "run", "--bundle", &bundle, id]);
    let out = run_with_timeout(&mut c, 60).expect("run");
    let err = stderr(&out);
    let last_error = fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["level"] == "error")
        .map(|v| v["msg"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let names = |s: &str| want.iter().all(|w| s.contains(w));
    let f = Failure {
        status: exit_code(&out.status),
        stderr_names_cause: names(&err),
        log_names_cause: names(&last_error),
        left: b.listed(rt),
    };
    assert!(
        !err.contains("failed seccomp listener"),
        "{}: the hand-off's failure masks the cause: {err}",
        rt.name
    );
    assert!(
        f.stderr_names_cause && f.log_names_cause,
        "{}: want {want:?}\n  stderr: {err}\n  log: {last_error}",
        rt.name
    );
    f
}

/// The first error wins: an init that fails before scrun's seccomp hand-off is reported with its
/// cause (never `failed seccomp listener`), on stderr and in the JSON log, with runc's status, and
/// leaves no container behind.
#[test]
fn an_init_that_fails_early_is_reported_with_its_cause() {
    type Edit = fn(&Bundle);
    let classes: [(&str, Edit, &[&str]); 4] = [
        (
            "capabilities without a bounding or permitted set",
            |b| {
                b.edit(|c| {
                    c["process"]["capabilities"] = serde_json::json!({
                        "inheritable": ["CAP_KILL"], "effective": ["CAP_SYSLOG"]})
                })
            },
            &["cap", "operation not permitted"],
        ),
        (
            "missing bind-mount source",
            |b| {
                b.edit(|c| {
                    c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                        "destination": "/mnt/x", "type": "bind",
                        "source": "/nonexistent/src", "options": ["bind"]}))
                })
            },
            &["/nonexistent/src", "no such file or directory"],
        ),
        (
            "/proc a symlink in the rootfs",
            |b| {
                let proc = b.bundle().join("rootfs/proc");
                let _ = fs::remove_dir_all(&proc);
                let _ = fs::remove_file(&proc);
                std::os::unix::fs::symlink("/tmp", &proc).unwrap();
            },
            &["proc", "must be mounted on ordinary directory"],
        ),
        (
            "a missing executable",
            |b| b.edit(|c| c["process"]["args"] = serde_json::json!(["/nonexistent/exe"])),
            &["/nonexistent/exe"],
        ),
    ];
    for (i, (class, edit, want)) in classes.iter().enumerate() {
        let b = Bundle::new(&format!("first-error-{i}"), &["true"]);
        edit(&b);
        let f = differential(class, |rt| {
            run_failure(&b, rt, &format!("early-{i}-{}", rt.name), want)
        });
        assert_eq!(f.status, 1, "{class}: {f:?}");
        assert!(f.left.is_empty(), "{class}: {f:?}");
    }
}

/// A capability the host does not know is ignored with runc's warning, the container runs.
#[test]
fn an_unknown_capability_in_the_config_is_ignored_as_by_runc() {
    let b = Bundle::new("hostcap", &["grep", "^CapBnd", "/proc/self/status"]);
    b.edit(|c| {
        for set in c["process"]["capabilities"]
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            set.as_array_mut()
                .unwrap()
                .push("CAP_NOT_ON_THIS_HOST".into());
        }
    });
    let obs = differential("unknown capability in config.json", |rt| {
        let out = b.rt(
            rt,
            &[
                "run",
                "--bundle",
                &b.bundle_str(),
                &format!("hostcap-{}", rt.name),
            ],
        );
        (
            exit_code(&out.status),
            stdout(&out),
            stderr(&out)
                .contains("ignoring unknown or unavailable capabilities: [CAP_NOT_ON_THIS_HOST]"),
        )
    });
    assert_eq!(obs.0, 0);
    assert!(obs.2);
}

/// Point the runtime's recorded init pid at another process, as a reused pid would.
fn forge_init_pid(b: &Bundle, rt: &Runtime, id: &str, pid: u32) {
    let p = b.wd.join(format!("state-{}/{id}/state.json", rt.name));
    let mut v = read_json(&p);
    let key = if rt.name == "runc" {
        "init_process_pid"
    } else {
        "pid"
    };
    v[key] = pid.into();
    fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// State that tells the truth: a short-lived container that has exited is `stopped` and deleted
/// without `--force`; when its pid then names another process (pid reuse), `state` still says
/// stopped with pid 0, `kill` refuses without touching that process, and `delete` succeeds.
#[test]
fn state_kill_and_delete_look_at_the_real_init() {
    let b = Bundle::new("liveness", &["true"]);
    let obs = differential("state after the init exited", |rt| {
        let id = format!("short-{}", rt.name);
        started(&b, rt, &id);
        b.wait_status(rt, &id, "stopped");
        let mut decoy = Command::new("sleep").arg("1000").spawn().unwrap();
        forge_init_pid(&b, rt, &id, decoy.id());
        let st: serde_json::Value = serde_json::from_str(&b.ok(rt, &["state", &id])).unwrap();
        let kill = b.rt(rt, &["kill", &id, "KILL"]);
        let deleted = b.rt(rt, &["delete", &id]);
        let decoy_alive = decoy.try_wait().unwrap().is_none();
        let _ = decoy.kill();
        let _ = decoy.wait();
        (
            st["status"].clone(),
            st["pid"].clone(),
            exit_code(&kill.status),
            stderr(&kill).contains("not running"),
            decoy_alive,
            deleted.status.success(),
            b.listed(rt),
        )
    });
    assert_eq!(obs.0, "stopped");
    assert_eq!(obs.1, 0);
    assert!(obs.4, "the process that took the pid was signalled");
    assert!(obs.5 && obs.6.is_empty(), "{obs:?}");

    // Right after the exit, with nothing forged: delete without --force.
    let obs = differential("delete right after exit", |rt| {
        let id = format!("short2-{}", rt.name);
        started(&b, rt, &id);
        b.wait_status(rt, &id, "stopped");
        let deleted = b.rt(rt, &["delete", &id]);
        (deleted.status.success(), b.listed(rt))
    });
    assert!(obs.0 && obs.1.is_empty(), "{obs:?}");
}

/// Poststop hooks: the first fails (exit 3, with output), the second records the state it is
/// given. Both runtimes log the failure with the hook's index, status and output and delete the
/// container (exit 0, nothing listed). Documented difference: runc stops at the failed hook, scrun
/// runs the remaining ones as the runtime spec requires.
#[test]
fn a_failing_poststop_hook_never_leaves_the_container_behind() {
    let b = Bundle::new("poststop", &["true"]);
    let record = b.wd.join("hook1.state");
    let record_arg = format!("cat > {}", record.display());
    b.edit(|c| {
        c["hooks"] = serde_json::json!({"poststop": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo hook0 out; echo hook0 err >&2; exit 3"]},
            {"path": "/bin/sh", "args": ["sh", "-c", record_arg]},
        ]});
    });
    let obs = differential("failing poststop hook", |rt| {
        let _ = fs::remove_file(&record);
        let mut out = Vec::new();
        for force in [false, true] {
            let id = format!("hook-{force}-{}", rt.name);
            started(&b, rt, &id);
            b.wait_status(rt, &id, "stopped");
            let mut args = vec!["delete"];
            if force {
                args.push("--force");
            }
            args.push(&id);
            let del = b.rt(rt, &args);
            let err = stderr(&del);
            out.push((
                exit_code(&del.status),
                err.contains("error running hook #0")
                    && err.contains("3")
                    && err.contains("hook0 out")
                    && err.contains("hook0 err"),
                b.listed(rt),
            ));
        }
        out
    });
    assert_eq!(obs[0], (0, true, vec![]), "{obs:?}");
    assert_eq!(obs[1], (0, true, vec![]), "{obs:?}");
    // scrun ran the second hook, with the container's state.
    let st = read_json(&record);
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["id"], "hook-true-scrun");
    assert_eq!(st["bundle"], b.bundle_str());
}

/// checkpoint/restore are refused with runc's exit status for a checkpoint it cannot make (runc
/// run without CRIU on its PATH), the container left running; scrun's message says that
/// checkpoint is not supported and names the options given.
#[test]
fn checkpoint_and_restore_are_refused_with_the_options_named() {
    let b = Bundle::new("checkpoint", &["sleep", "1000"]);
    let obs = differential("checkpoint without support", |rt| {
        let id = format!("ckpt-{}", rt.name);
        started(&b, rt, &id);
        let img = b.wd.join(format!("img-{}", rt.name));
        let img_arg = format!("--image-path={}", img.display());
        let mut c = b.cmd(rt, &["checkpoint", &img_arg, "--leave-running", &id]);
        c.env("PATH", "/nonexistent");
        let ck = run_with_timeout(&mut c, 60).unwrap();
        let mut c = b.cmd(
            rt,
            &[
                "restore",
                "--bundle",
                &b.bundle_str(),
                &img_arg,
                &format!("{id}-r"),
            ],
        );
        c.env("PATH", "/nonexistent");
        let rs = run_with_timeout(&mut c, 60).unwrap();
        let st: serde_json::Value = serde_json::from_str(&b.ok(rt, &["state", &id])).unwrap();
        if rt.name == "scrun" {
            for (what, out) in [("checkpoint", &ck), ("restore", &rs)] {
                let err = stderr(out);
                assert!(
                    err.contains("checkpoint is not supported by scrun")
                        && err.contains(&img_arg)
                        && (what == "restore" || err.contains("--leave-running")),
                    "{what}: {err}"
                );
            }
        }
        b.ok(rt, &["delete", "--force", &id]);
        (
            exit_code(&ck.status),
            exit_code(&rs.status),
            st["status"].clone(),
            b.listed(rt),
        )
    });
    assert_eq!(obs.0, 1);
    assert_eq!(obs.1, 1);
    assert_eq!(obs.2, "running");
}

/// The test seccomp agent (`tests/data/agent.c`), compiled and listening on `socket`; it answers
/// every notification with `errno` and appends each process state it receives to `states`.
struct Agent {
    child: std::process::Child,
    socket: PathBuf,
    states: PathBuf,
}

impl Agent {
    fn start(wd: &Workdir, errno: i32) -> Agent {
        use std::io::BufRead;
        let bin = wd.join("agent");
        scrun_integration::testdata::compile_c("agent.c", &bin, &["-O1", "-Wall"]);
        let socket = wd.join("agent.sock");
        let states = wd.join("agent-states.jsonl");
        let mut child = Command::new(&bin)
            .arg(&socket)
            .arg(&states)
            .arg(errno.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the agent did not start");
        Agent {
            child,
            socket,
            states,
        }
    }

    /// The process states it received for container `id`.
    fn states_of(&self, id: &str) -> Vec<serde_json::Value> {
        fs::read_to_string(&self.states)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["state"]["id"] == id)
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A profile that sends `mkdir`/`mkdirat` to the container's own seccomp agent.
fn agent_profile(b: &Bundle, agent: &Agent) {
    let path = agent.socket.display().to_string();
    b.edit(|c| {
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": path,
            "listenerMetadata": "conformance-agent",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
}

/// The container's own seccomp agent gets its listener (`delegate`, the default policy): the
/// init's and an exec'd process's listener fds with their process state (OCI seccomp agent
/// protocol), and its answers (EHOSTUNREACH for mkdir, which the kernel never gives) reach the
/// container, under runc and scrun alike. scrun says in `scrun state` that it does not supervise
/// such a container through seccomp, and its keeper still exits when the container is gone.
#[test]
fn the_containers_own_seccomp_agent_gets_its_listener() {
    const EHOSTUNREACH: i32 = 113;
    const ANSWER: &str = "mkdir /tmp/x; echo init rc=$?";
    let b = Bundle::new("agent", &["sh", "-c", ANSWER]);
    let agent = Agent::start(&b.wd, EHOSTUNREACH);
    agent_profile(&b, &agent);
    let obs = differential("container with its own seccomp agent", |rt| {
        let id = format!("agent-{}", rt.name);
        let bundle = b.bundle_str();
        // The init's answer, through `run` (its output is run's); then a long-lived one.
        b.edit(|c| c["process"]["args"] = serde_json::json!(["sh", "-c", ANSWER]));
        let run = b.rt(rt, &["run", "--bundle", &bundle, &format!("{id}-run")]);
        b.edit(|c| c["process"]["args"] = serde_json::json!(["sleep", "1000"]));
        b.ok(rt, &["create", "--bundle", &bundle, &id]);
        b.ok(rt, &["start", &id]);
        let exec = b.rt(
            rt,
            &["exec", &id, "sh", "-c", "mkdir /tmp/y; echo exec rc=$?"],
        );
        let st: serde_json::Value = serde_json::from_str(&b.ok(rt, &["state", &id])).unwrap();
        if rt.name == "scrun" {
            let s = st["annotations"]["io.github.scrun.supervision"]
                .as_str()
                .unwrap_or_default();
            assert!(
                s.contains("seccomp agent") && s.contains(&agent.socket.display().to_string()),
                "{st}"
            );
        }
        b.ok(rt, &["kill", &id, "KILL"]);
        b.wait_status(rt, &id, "stopped");
        if rt.name == "scrun" {
            // No listener hangs up in scrun's keeper: it watches the init itself.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let st: serde_json::Value =
                    serde_json::from_str(&b.ok(rt, &["state", &id])).unwrap();
                let sup = st["annotations"]["io.github.scrun.supervisor"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if sup.starts_with("exited") {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "keeper still up: {sup}"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        b.ok(rt, &["delete", &id]);
        let states: Vec<_> = agent
            .states_of(&id)
            .iter()
            .map(|s| {
                (
                    s["fds"].clone(),
                    s["metadata"].clone(),
                    s["state"]["status"].clone(),
                    s["pid"].as_i64().is_some(),
                )
            })
            .collect();
        (
            stdout(&run),
            stdout(&exec),
            stderr(&exec).contains("No route to host"),
            states,
            b.listed(rt),
        )
    });
    assert_eq!(obs.0, "init rc=1\n");
    assert_eq!(obs.1, "exec rc=1\n");
    assert!(obs.2, "{obs:?}");
    assert_eq!(
        obs.3.len(),
        2,
        "the init's and the exec's listener: {obs:?}"
    );
    assert_eq!(obs.3[0].1, "conformance-agent");
}

/// A container with its own seccomp agent, on an overlay rootfs in enforce mode, is supervised
/// through the exec gate alone: a binary listed in a feed is refused (EPERM, the shell's 126), the
/// finding says `scrun_supervision=gate-only`, and the agent still answers its notifications.
/// Under `container_listener = "refuse"` the same bundle fails `create` and leaves nothing.
#[test]
fn a_gate_only_container_is_still_supervised_and_says_so() {
    use scrun_integration::image::{mount_overlay, sha256_hex};
    use std::os::unix::fs::PermissionsExt;
    let wd = Workdir::new("gateonly").expect("workdir");
    let lower = wd.join("lower");
    busybox_rootfs(&lower).expect("rootfs");
    let mut evil = fs::read(lower.join("bin/busybox")).unwrap();
    evil.extend_from_slice(b"\nscrun-gate-only-evil\n");
    fs::write(lower.join("bin/evil"), &evil).unwrap();
    fs::set_permissions(lower.join("bin/evil"), fs::Permissions::from_mode(0o755)).unwrap();
    mount_overlay(&lower, wd.path(), &wd.join("bundle/rootfs")).expect("overlay");
    write_spec(
        &wd.join("bundle"),
        &[
            "sh",
            "-c",
            "mkdir /tmp/x; echo mkdir rc=$?; /bin/evil true; echo evil rc=$?",
        ],
    )
    .expect("bundle spec");
    fs::write(
        wd.join("feed.txt"),
        format!("{} gate-only-evil\n", sha256_hex(&evil)),
    )
    .unwrap();
    let (feed, findings_path, cache) = (
        wd.join("feed.txt"),
        wd.join("findings.jsonl"),
        wd.join("hashcache"),
    );
    let config = move |extra: &str| {
        format!(
            "mode = \"enforce\"\n[intel]\nfeeds = [\"{}\"]\n[findings]\npath = \"{}\"\n[supervisor]\nhash_cache_dir = \"{}\"\n{extra}",
            feed.display(),
            findings_path.display(),
            cache.display()
        )
    };
    fs::write(wd.join("scrun.toml"), config("")).unwrap();
    let b = Bundle { wd };
    let agent = Agent::start(&b.wd, 113);
    agent_profile(&b, &agent);
    let rt = Runtime::scrun();
    let out = b.rt(&rt, &["run", "--bundle", &b.bundle_str(), "gate-only"]);
    assert_eq!(
        stdout(&out),
        "mkdir rc=1\nevil rc=126\n",
        "stderr: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("No route to host"),
        "{}",
        stderr(&out)
    );
    let findings = fs::read_to_string(b.wd.join("findings.jsonl")).unwrap_or_default();
    let evil_finding = findings
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|f| {
            f["processes"][0]["binary"]["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/bin/evil"))
        })
        .unwrap_or_else(|| panic!("no finding for /bin/evil: {findings}"));
    assert_eq!(
        evil_finding["sourceProperties"]["scrun_supervision"], "gate-only",
        "{evil_finding}"
    );
    assert_eq!(
        evil_finding["sourceProperties"]["scrun_decided_by"], "exec-gate",
        "{evil_finding}"
    );

    fs::write(
        b.wd.join("scrun.toml"),
        config("container_listener = \"refuse\"\n"),
    )
    .unwrap();
    let refused = b.rt(&rt, &["run", "--bundle", &b.bundle_str(), "refused"]);
    assert_eq!(exit_code(&refused.status), 1);
    let err = stderr(&refused);
    assert!(
        err.contains("container_listener") && err.contains(&agent.socket.display().to_string()),
        "{err}"
    );
    assert!(b.listed(&rt).is_empty());
}

/// Through an engine: containerd's shim reads the runtime's last JSON error line and shows it to
/// the user, so a bind mount whose source is missing must come out of `ctr run` with the source
/// named, under runc and scrun alike (not `failed seccomp listener`).
#[test]
fn containerd_shows_the_inits_first_error() {
    use scrun_integration::containerd::Containerd;
    let mut c = Containerd::start().expect("private containerd");
    c.guard_with_reaper().expect("reaper");
    let img = scrun_integration::image::busybox(c.workdir().path()).expect("image");
    c.import(&img, "default").expect("import");
    let obs = differential("ctr run with a missing bind-mount source", |rt| {
        let bin = rt.path.display().to_string();
        let id = format!("first-error-{}-{}", rt.name, std::process::id());
        let out = c
            .ctr(&[
                "run",
                "--rm",
                "--runtime",
                "io.containerd.runc.v2",
                "--runc-binary",
                &bin,
                "--mount",
                "type=bind,src=/nonexistent/src,dst=/mnt/x,options=rbind:ro",
                "docker.io/scrun-test/busybox:1",
                &id,
                "true",
            ])
            .expect("ctr");
        let _ = c.ctr(&["container", "rm", &id]);
        let err = stderr(&out);
        assert!(
            !err.contains("failed seccomp listener"),
            "{}: {err}",
            rt.name
        );
        (
            out.status.success(),
            err.contains("/nonexistent/src") && err.contains("no such file or directory"),
        )
    });
    assert_eq!(obs, (false, true));
}

/// runc brings `lo` up in the network namespace it creates for a container (libcontainer 0.7
/// does not): a container with no other network reaches 127.0.0.1 under both runtimes.
#[test]
fn loopback_is_up_in_a_new_network_namespace_as_under_runc() {
    let b = Bundle::new("loopback", &["cat", "/sys/class/net/lo/flags"]);
    let up = differential("lo in a new network namespace", |rt| {
        let out = b.rt(
            rt,
            &[
                "run",
                "--bundle",
                &b.bundle_str(),
                &format!("lo-{}", rt.name),
            ],
        );
        let flags = stdout(&out);
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).ok();
        (exit_code(&out.status), flags.map(|f| f & 1 == 1))
    });
    assert_eq!(
        up,
        (0, Some(true)),
        "lo must be up (IFF_UP) in the container"
    );
}
