//! Detection end to end: a private dockerd whose scrun reads a config (via `SCRUN_CONFIG`) with a
//! feed listing the SHA-256 of a harmless "malicious" binary (busybox with a marker appended),
//! containers exec it in the ways attackers do, and the findings file must say exactly what ran.
//!
//! Every test asserts on the findings of its own container only (`scrun_container_id`).
//!
//! busybox picks its applet from the basename of `argv[0]` unless that starts with `busybox`
//! (then `argv[1]` names it), so every busybox copy here is called `busybox-<something>`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use scrun_integration::docker::Docker;
use scrun_integration::image::{self, FileEntry};
use scrun_integration::process::{exit_code, stderr, stdout};
use scrun_integration::{Error, Runtime};
use serde_json::Value;

/// The test image: busybox plus the evil binary, a benign tool and the evil bytes as data.
const IMAGE: &str = "scrun-test/detect:1";
const EVIL: &str = "/usr/local/bin/busybox-evil";
const TOOL: &str = "/usr/local/bin/busybox-tool";
const EVIL_DATA: &str = "/opt/evil.dat";
const EVIL_SCRIPT: &str = "/opt/evil-script.sh";
const DYN_EVIL: &str = "/usr/local/bin/dyn-evil";
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
const FEED_LABEL: &str = "Scrun.Test.Evil";

const BUILT_IN_MALICIOUS: &str = "Execution: Built in Malicious Binary Executed";
const ADDED_MALICIOUS: &str = "Execution: Added Malicious Binary Executed";
const MODIFIED_MALICIOUS: &str = "Execution: Modified Malicious Binary Executed";
const ADDED_BINARY: &str = "Execution: Added Binary Executed";

/// The shared daemon and what the tests need to know about it.
struct Env {
    docker: Docker,
    findings: PathBuf,
    evil_sha: String,
    script_sha: String,
    dyn_sha: String,
    busybox_sha: String,
    busybox: Vec<u8>,
}

fn busybox_bytes() -> Vec<u8> {
    fs::read("/bin/busybox").expect("read /bin/busybox (install busybox-static)")
}

/// busybox with `marker` appended: still runs as busybox, with its own SHA-256.
fn marked(marker: &str) -> Vec<u8> {
    let mut b = busybox_bytes();
    b.extend_from_slice(format!("\n{marker}\n").as_bytes());
    b
}

fn env() -> &'static Env {
    static SHARED: OnceLock<Result<Env, String>> = OnceLock::new();
    scrun_integration::shared_env(
        &SHARED,
        "start the private dockerd with a scrun config",
        setup,
    )
}

fn setup() -> Result<Env, Error> {
    let scrun = Runtime::scrun();
    scrun.require()?;
    let evil = marked("SCRUN-TEST-EVIL-MARKER");
    let tool = marked("SCRUN-TEST-BENIGN-TOOL");
    let evil_sha = image::sha256_hex(&evil);
    let script = b"#!/bin/sh\necho script-ran\n# SCRUN-TEST-EVIL-SCRIPT\n".to_vec();
    let script_sha = image::sha256_hex(&script);
    // A dynamically linked program (the host's `true`, marked) with its loader and libc, to run
    // through the loader directly.
    let read = |p: &str| {
        fs::read(p).map_err(|source| Error::Io {
            op: "read",
            path: p.into(),
            source,
        })
    };
    let mut dyn_evil = read("/usr/bin/true")?;
    dyn_evil.extend_from_slice(b"\nSCRUN-TEST-DYN-EVIL\n");
    let dyn_sha = image::sha256_hex(&dyn_evil);
    let loader = read(LOADER)?;
    let libc = read("/lib/x86_64-linux-gnu/libc.so.6")?;
    let busybox = busybox_bytes();
    let busybox_sha = image::sha256_hex(&busybox);
    let mut findings = PathBuf::new();
    let hook = scrun_integration::runtime::workspace_dir().join("hooks/docker/daemon.json");
    let mut docker = Docker::start_with_env(&scrun.path, Some(&hook), |wd| {
        let feed = wd.join("feed.txt");
        let config = wd.join("scrun.toml");
        findings = wd.join("findings.jsonl");
        let cache = wd.join("hashcache");
        scrun_integration::write_file(
            &feed,
            format!(
                "# test feed\n{evil_sha} {FEED_LABEL}\n{script_sha} {FEED_LABEL}\n{dyn_sha} {FEED_LABEL}\n"
            ),
        )?;
        scrun_integration::write_file(
            &config,
            format!(
                "mode = \"audit\"\n[intel]\nfeeds = [{feed:?}]\n[findings]\npath = {findings:?}\n\
                 [supervisor]\nhash_cache_dir = {cache:?}\n",
                feed = feed.display().to_string(),
                findings = findings.display().to_string(),
                cache = cache.display().to_string(),
            ),
        )?;
        Ok(vec![(
            "SCRUN_CONFIG".to_string(),
            config.display().to_string(),
        )])
    })?;
    docker.guard_with_reaper()?;
    let layer = vec![
        FileEntry {
            path: EVIL.into(),
            bytes: evil.clone(),
            mode: 0o755,
        },
        FileEntry {
            path: TOOL.into(),
            bytes: tool,
            mode: 0o755,
        },
        FileEntry {
            path: EVIL_DATA.into(),
            bytes: evil,
            mode: 0o644,
        },
        FileEntry {
            path: EVIL_SCRIPT.into(),
            bytes: script,
            mode: 0o755,
        },
        FileEntry {
            path: DYN_EVIL.into(),
            bytes: dyn_evil,
            mode: 0o755,
        },
        FileEntry {
            path: LOADER.into(),
            bytes: loader,
            mode: 0o755,
        },
        FileEntry {
            path: "/lib/x86_64-linux-gnu/libc.so.6".into(),
            bytes: libc,
            mode: 0o755,
        },
    ];
    docker.load_shell_image(IMAGE, &[layer])?;
    Ok(Env {
        docker,
        findings,
        evil_sha,
        script_sha,
        dyn_sha,
        busybox_sha,
        busybox,
    })
}

/// A container of this file, force-removed on drop.
struct Ctr {
    id: String,
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = env().docker.docker(&["rm", "-f", &self.id]);
    }
}

impl Ctr {
    /// The findings of this container, in order.
    fn findings(&self) -> Vec<Value> {
        let text = fs::read_to_string(&env().findings).unwrap_or_default();
        text.lines()
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .unwrap_or_else(|e| panic!("findings line is not JSON ({e}): {l}"))
            })
            .filter(|f| {
                f.pointer("/sourceProperties/scrun_container_id")
                    .and_then(Value::as_str)
                    == Some(self.id.as_str())
            })
            .collect()
    }

    /// Exactly one finding of this container: return it.
    fn single_finding(&self) -> Value {
        let mut all = self.findings();
        assert_eq!(
            all.len(),
            1,
            "container {}: want exactly one finding, got {}:\n{}",
            self.id,
            all.len(),
            pretty(&all)
        );
        all.remove(0)
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        let mut v = vec!["exec", self.id.as_str()];
        v.extend_from_slice(args);
        env().docker.docker(&v).expect("docker exec")
    }
}

fn pretty(fs: &[Value]) -> String {
    fs.iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// `docker run --runtime scrun [flags] IMAGE args…` in the foreground -> (output, container).
fn run(flags: &[&str], args: &[&str]) -> (std::process::Output, Ctr) {
    let e = env();
    let cidfile = e.docker.workdir().join(format!(
        "cid-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let cidfile_s = cidfile.display().to_string();
    let mut v = vec!["run", "--cidfile", &cidfile_s, "--runtime", "scrun"];
    v.extend_from_slice(flags);
    v.push(IMAGE);
    v.extend_from_slice(args);
    let out = e.docker.docker(&v).expect("docker run");
    let id = fs::read_to_string(&cidfile)
        .unwrap_or_else(|err| {
            panic!(
                "no container id in {cidfile_s} ({err}); docker run stderr: {}",
                stderr(&out)
            )
        })
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "odd container id {id:?}");
    (out, Ctr { id })
}

/// `docker run -d --runtime scrun [flags] IMAGE sleep 300`.
fn run_detached(flags: &[&str]) -> Ctr {
    let mut v = vec!["run", "-d", "--runtime", "scrun"];
    v.extend_from_slice(flags);
    v.extend_from_slice(&[IMAGE, "sleep", "300"]);
    let out = env().docker.docker(&v).expect("docker run -d");
    assert!(
        out.status.success(),
        "docker run -d failed: {}",
        stderr(&out)
    );
    Ctr {
        id: stdout(&out).trim().to_string(),
    }
}

fn sh(script: &str) -> [&str; 3] {
    ["sh", "-c", script]
}

fn s<'a>(f: &'a Value, ptr: &str) -> &'a str {
    f.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("finding has no string at {ptr}: {f}"))
}

/// The fields every finding about `path` with content `sha` must carry.
fn assert_finding(
    f: &Value,
    category: &str,
    severity: &str,
    path: &str,
    sha: &str,
    action: &str,
    provenance: &str,
) {
    let got = (
        s(f, "/category"),
        s(f, "/severity"),
        s(f, "/processes/0/binary/path"),
        s(f, "/processes/0/binary/sha256"),
        s(f, "/sourceProperties/scrun_action"),
        s(f, "/sourceProperties/scrun_provenance"),
    );
    assert_eq!(
        got,
        (category, severity, path, sha, action, provenance),
        "finding: {f}"
    );
    assert_eq!(s(f, "/containers/0/uri"), IMAGE, "finding: {f}");
}

/// The feed match fields of a malicious finding.
fn assert_feed_match(f: &Value, sha: &str) {
    assert_eq!(
        s(f, "/externalUri"),
        format!("https://www.virustotal.com/gui/file/{sha}"),
        "finding: {f}"
    );
    assert_eq!(s(f, "/sourceProperties/scrun_feed_label"), FEED_LABEL);
    assert!(
        !s(f, "/sourceProperties/scrun_feed").is_empty(),
        "finding: {f}"
    );
    assert_eq!(
        s(f, "/mitreAttack/primaryTactic"),
        "EXECUTION",
        "finding: {f}"
    );
}

#[test]
fn audit_built_in_malicious_runs_and_is_reported() {
    let e = env();
    let (out, c) = run(&[], &[EVIL, "echo", "ran"]);
    assert_eq!(
        (stdout(&out), exit_code(&out.status)),
        ("ran\n".to_string(), 0),
        "stderr: {}",
        stderr(&out)
    );
    let f = c.single_finding();
    assert_finding(
        &f,
        BUILT_IN_MALICIOUS,
        "CRITICAL",
        EVIL,
        &e.evil_sha,
        "ALLOWED",
        "built-in",
    );
    assert_feed_match(&f, &e.evil_sha);
    let args: Vec<&str> = f
        .pointer("/processes/0/args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(args.contains(&"echo"), "args {args:?} in {f}");
    assert_eq!(s(&f, "/sourceProperties/scrun_mode"), "audit");
}

#[test]
fn enforce_blocks_malicious_exec_from_a_shell() {
    let e = env();
    let (out, c) = run(
        &["--label", "scrun.mode=enforce"],
        &sh(&format!("{EVIL} echo ran; echo rc=$?")),
    );
    let so = stdout(&out);
    assert!(
        !so.contains("ran\n") && so.contains("rc=126"),
        "stdout {so:?}, stderr {:?}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "stderr {:?}",
        stderr(&out)
    );
    assert_eq!(exit_code(&out.status), 0);
    let f = c.single_finding();
    assert_finding(
        &f,
        BUILT_IN_MALICIOUS,
        "CRITICAL",
        EVIL,
        &e.evil_sha,
        "BLOCKED",
        "built-in",
    );
    assert_eq!(s(&f, "/sourceProperties/scrun_mode"), "enforce");
}

#[test]
fn enforce_blocks_a_malicious_entrypoint() {
    let e = env();
    let (out, c) = run(&["--label", "scrun.mode=enforce"], &[EVIL]);
    let code = exit_code(&out.status);
    let err = stderr(&out);
    assert!(
        code != 0 && code != 127,
        "blocked entrypoint: exit {code}, stderr {err:?}"
    );
    assert!(
        err.contains("permitted") || err.contains("blocked"),
        "blocked entrypoint: exit {code}, stderr says nothing readable: {err:?}; stdout {:?}",
        stdout(&out)
    );
    let f = c.single_finding();
    assert_finding(
        &f,
        BUILT_IN_MALICIOUS,
        "CRITICAL",
        EVIL,
        &e.evil_sha,
        "BLOCKED",
        "built-in",
    );
}

#[test]
fn added_binary_is_low_drift() {
    let e = env();
    let (out, c) = run(
        &[],
        &sh("cp /bin/busybox /tmp/busybox-x && /tmp/busybox-x true"),
    );
    assert_eq!(exit_code(&out.status), 0, "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_finding(
        &f,
        ADDED_BINARY,
        "LOW",
        "/tmp/busybox-x",
        &e.busybox_sha,
        "ALLOWED",
        "added",
    );
    assert_eq!(s(&f, "/sourceProperties/scrun_added_on"), "upper-layer");
}

#[test]
fn added_malicious_copy_of_data_file() {
    let e = env();
    let (out, c) = run(
        &[],
        &sh(&format!(
            "cp {EVIL_DATA} /tmp/busybox-e && chmod +x /tmp/busybox-e && /tmp/busybox-e true"
        )),
    );
    assert_eq!(exit_code(&out.status), 0, "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_finding(
        &f,
        ADDED_MALICIOUS,
        "CRITICAL",
        "/tmp/busybox-e",
        &e.evil_sha,
        "ALLOWED",
        "added",
    );
    assert_feed_match(&f, &e.evil_sha);
}

#[test]
fn modified_malicious_overwrites_an_image_binary() {
    let e = env();
    let (out, c) = run(
        &[],
        &sh(&format!("cat {EVIL_DATA} > {TOOL} && {TOOL} true")),
    );
    assert_eq!(exit_code(&out.status), 0, "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_finding(
        &f,
        MODIFIED_MALICIOUS,
        "CRITICAL",
        TOOL,
        &e.evil_sha,
        "ALLOWED",
        "modified",
    );
    assert_feed_match(&f, &e.evil_sha);
}

#[test]
fn docker_exec_is_supervised_in_audit() {
    let e = env();
    let c = run_detached(&[]);
    let out = c.exec(&[EVIL, "echo", "exec-ran"]);
    assert_eq!(
        (stdout(&out), exit_code(&out.status)),
        ("exec-ran\n".to_string(), 0),
        "stderr: {}",
        stderr(&out)
    );
    let f = c.single_finding();
    assert_finding(
        &f,
        BUILT_IN_MALICIOUS,
        "CRITICAL",
        EVIL,
        &e.evil_sha,
        "ALLOWED",
        "built-in",
    );
}

#[test]
fn docker_exec_is_blocked_in_enforce() {
    let e = env();
    let c = run_detached(&["--label", "scrun.mode=enforce"]);
    let out = c.exec(&[EVIL, "echo", "exec-ran"]);
    let code = exit_code(&out.status);
    assert!(
        code != 0 && !stdout(&out).contains("exec-ran"),
        "blocked exec: exit {code}, stdout {:?}, stderr {:?}",
        stdout(&out),
        stderr(&out)
    );
    let f = c.single_finding();
    assert_finding(
        &f,
        BUILT_IN_MALICIOUS,
        "CRITICAL",
        EVIL,
        &e.evil_sha,
        "BLOCKED",
        "built-in",
    );
    // The container survives a blocked exec.
    let alive = c.exec(&["echo", "alive"]);
    assert_eq!(stdout(&alive), "alive\n", "stderr: {}", stderr(&alive));
}

#[test]
fn symlink_resolves_to_the_image_binary() {
    let e = env();
    let (out, c) = run(
        &[],
        &sh(&format!(
            "ln -s {EVIL} /tmp/busybox-l && /tmp/busybox-l true"
        )),
    );
    assert_eq!(exit_code(&out.status), 0, "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_finding(
        &f,
        BUILT_IN_MALICIOUS,
        "CRITICAL",
        EVIL,
        &e.evil_sha,
        "ALLOWED",
        "built-in",
    );
}

#[test]
fn relative_path_resolves_against_the_cwd() {
    let e = env();
    let (out, c) = run(&[], &sh("cd /usr/local/bin && ./busybox-evil true"));
    assert_eq!(exit_code(&out.status), 0, "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_finding(
        &f,
        BUILT_IN_MALICIOUS,
        "CRITICAL",
        EVIL,
        &e.evil_sha,
        "ALLOWED",
        "built-in",
    );
}

#[test]
fn chmod_copy_up_stays_built_in() {
    let e = env();
    let (out, c) = run(&[], &sh(&format!("chmod 700 {EVIL} && {EVIL} true")));
    assert_eq!(exit_code(&out.status), 0, "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_finding(
        &f,
        BUILT_IN_MALICIOUS,
        "CRITICAL",
        EVIL,
        &e.evil_sha,
        "ALLOWED",
        "built-in",
    );
    assert_eq!(s(&f, "/sourceProperties/scrun_copied_up"), "true");
}

#[test]
fn binary_on_a_volume_is_added() {
    let e = env();
    let dir = e
        .docker
        .workdir()
        .join(format!("vol-{}", SEQ.fetch_add(1, Ordering::Relaxed)));
    fs::create_dir_all(&dir).expect("create volume dir");
    let bb = dir.join("busybox-bb");
    fs::write(&bb, &e.busybox).expect("write volume busybox");
    fs::set_permissions(&bb, fs::Permissions::from_mode(0o755)).expect("chmod");
    let vol = format!("{}:/vol", dir.display());
    let (out, c) = run(&["-v", &vol], &["/vol/busybox-bb", "true"]);
    assert_eq!(exit_code(&out.status), 0, "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_finding(
        &f,
        ADDED_BINARY,
        "LOW",
        "/vol/busybox-bb",
        &e.busybox_sha,
        "ALLOWED",
        "added",
    );
    assert_eq!(s(&f, "/sourceProperties/scrun_added_on"), "other-mount");
}

#[test]
fn benign_workload_has_no_findings() {
    let (out, c) = run(&[], &sh("ls / >/dev/null; echo hi | grep hi; true"));
    assert_eq!(
        (stdout(&out), exit_code(&out.status)),
        ("hi\n".to_string(), 0),
        "stderr: {}",
        stderr(&out)
    );
    let all = c.findings();
    assert!(
        all.is_empty(),
        "benign workload: findings\n{}",
        pretty(&all)
    );
}

#[test]
fn shebang_script_names_the_interpreter_and_the_script() {
    let e = env();
    let (out, c) = run(&[], &[EVIL_SCRIPT]);
    assert_eq!(stdout(&out), "script-ran\n", "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_eq!(s(&f, "/category"), BUILT_IN_MALICIOUS, "{f}");
    assert_eq!(s(&f, "/processes/0/binary/path"), "/bin/sh", "{f}");
    assert_eq!(s(&f, "/processes/0/script/path"), EVIL_SCRIPT, "{f}");
    assert_eq!(s(&f, "/processes/0/script/sha256"), e.script_sha, "{f}");
    // Enforce: the script is not run.
    let (out, c) = run(
        &["--label", "scrun.mode=enforce"],
        &sh(&format!("{EVIL_SCRIPT}; echo rc=$?")),
    );
    assert!(
        !stdout(&out).contains("script-ran") && stdout(&out).contains("rc=126"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        s(&c.single_finding(), "/sourceProperties/scrun_action"),
        "BLOCKED"
    );
}

#[test]
fn script_run_by_a_shell_is_attributed() {
    let e = env();
    let (out, c) = run(&[], &["sh", EVIL_SCRIPT]);
    assert_eq!(stdout(&out), "script-ran\n", "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_eq!(s(&f, "/processes/0/script/path"), EVIL_SCRIPT, "{f}");
    assert_eq!(s(&f, "/processes/0/script/sha256"), e.script_sha, "{f}");
}

#[test]
fn loader_run_directly_is_checked_on_the_real_target() {
    let e = env();
    let (out, c) = run(&[], &sh(&format!("{LOADER} {DYN_EVIL}; echo rc=$?")));
    assert!(
        stdout(&out).contains("rc=0"),
        "stdout {} stderr {}",
        stdout(&out),
        stderr(&out)
    );
    let f = c.single_finding();
    assert_eq!(s(&f, "/category"), BUILT_IN_MALICIOUS, "{f}");
    assert_eq!(s(&f, "/processes/0/binary/path"), DYN_EVIL, "{f}");
    assert_eq!(s(&f, "/processes/0/binary/sha256"), e.dyn_sha, "{f}");
    assert_eq!(s(&f, "/sourceProperties/scrun_loader"), LOADER, "{f}");
    let (out, c) = run(
        &["--label", "scrun.mode=enforce"],
        &sh(&format!("{LOADER} {DYN_EVIL}; echo rc=$?")),
    );
    assert!(
        stdout(&out).contains("rc=126"),
        "stdout {} stderr {}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        s(&c.single_finding(), "/sourceProperties/scrun_action"),
        "BLOCKED"
    );
}

#[test]
fn exec_from_dev_shm_is_fileless() {
    let e = env();
    // Docker mounts /dev/shm noexec; a container that remounts it exec can run from it.
    let (out, c) = run(
        &["--tmpfs", "/dev/shm:rw,exec"],
        &sh("cp /bin/busybox /dev/shm/busybox-x && /dev/shm/busybox-x true && echo ran"),
    );
    assert_eq!(stdout(&out), "ran\n", "stderr: {}", stderr(&out));
    let f = c.single_finding();
    assert_eq!(
        s(&f, "/category"),
        "Privilege Escalation: Fileless Execution in /dev/shm",
        "{f}"
    );
    assert_eq!(s(&f, "/severity"), "HIGH", "{f}");
    assert_eq!(
        s(&f, "/processes/0/binary/path"),
        "/dev/shm/busybox-x",
        "{f}"
    );
    assert_eq!(s(&f, "/processes/0/binary/sha256"), e.busybox_sha, "{f}");
}
