//! Enforce mode against a process that tries to run a blocked binary the way an attacker in a
//! container would, through a private dockerd: in another root (`chroot` into the image and into
//! a volume), in another mount namespace (a bind mount or a tmpfs over a benign path, with and
//! without a user namespace), as the `#!` interpreter on a volume (directly and through nested
//! scripts), through a renamed or relocated copy of the dynamic loader, by descriptor after
//! unlinking it; and that the supervisor stays responsive (a big cold file beside small execs,
//! a panicking listener thread). The blocked binary is busybox with a marker appended (listed in
//! the test feed): it must never print `EVIL-RAN`. Legitimate `chroot` must work as under runc.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use scrun_integration::docker::Docker;
use scrun_integration::image::{self, FileEntry};
use scrun_integration::process::{stderr, stdout};
use scrun_integration::testdata::compile_c;
use scrun_integration::{Error, Runtime};
use serde_json::Value;

const IMAGE: &str = "scrun-test/evasion:1";
const EVIL: &str = "/usr/local/bin/busybox-evil";
const TOOL: &str = "/usr/local/bin/busybox-tool";
const EVIL_DATA: &str = "/opt/evil.dat";
const DYN_EVIL: &str = "/usr/local/bin/dyn-evil";
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
const RAN: &str = "EVIL-RAN";
/// What `unshare -m` and `mount` need in a container.
const ADMIN: [&str; 6] = [
    "--cap-add",
    "SYS_ADMIN",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
];
/// Execs while a name on a volume is flipped. The benign tool gets through in 1-8 of 30 (every
/// flip makes it a new file to hash, and the gate decides again what was swapped); 30 once gave
/// none at all under load, so the test's "the benign tool ran" check needs more tries.
const VOLUME_FLIPS: usize = 90;
/// Attempts per racing case.
const ROUNDS: usize = 200;

struct Env {
    docker: Docker,
    findings: PathBuf,
    vol: PathBuf,
    /// The workers' metrics snapshots (one a second).
    metrics: PathBuf,
}

fn read(p: &str) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("read {p}: {e}"))
}

fn marked(base: &str, marker: &str) -> Vec<u8> {
    let mut b = read(base);
    b.extend_from_slice(format!("\n{marker}\n").as_bytes());
    b
}

fn env() -> &'static Env {
    static SHARED: OnceLock<Result<Env, String>> = OnceLock::new();
    scrun_integration::shared_env(&SHARED, "start the private dockerd", setup)
}

fn put(path: &Path, bytes: &[u8], mode: u32) {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn setup() -> Result<Env, Error> {
    let scrun = Runtime::scrun();
    scrun.require()?;
    let evil = marked("/bin/busybox", "SCRUN-EVASION-EVIL");
    let tool = marked("/bin/busybox", "SCRUN-EVASION-TOOL");
    let dyn_evil = marked("/usr/bin/echo", "SCRUN-EVASION-DYN-EVIL");
    let (evil_sha, dyn_sha) = (image::sha256_hex(&evil), image::sha256_hex(&dyn_evil));
    let mut findings = PathBuf::new();
    let mut vol = PathBuf::new();
    let mut metrics = PathBuf::new();
    let hook = scrun_integration::runtime::workspace_dir().join("hooks/docker/daemon.json");
    let mut docker = Docker::start_with_env(&scrun.path, Some(&hook), |wd| {
        let feed = wd.join("feed.txt");
        let config = wd.join("scrun.toml");
        findings = wd.join("findings.jsonl");
        vol = wd.join("vol");
        metrics = wd.join("metrics");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io {
                op: "write",
                path: path.clone(),
                source,
            }
        };
        fs::write(
            &feed,
            format!("{evil_sha} Scrun.Test.Evil\n{dyn_sha} Scrun.Test.Evil\n"),
        )
        .map_err(io(&feed))?;
        fs::write(
            &config,
            format!(
                "mode = \"enforce\"\n[intel]\nfeeds = [{feed:?}]\n[findings]\npath = {findings:?}\n\
                 [supervisor]\nhash_cache_dir = {cache:?}\ntest_panic_on = \"panic-me\"\n\
                 metrics_dir = {metrics:?}\nmetrics_interval_secs = 1\n",
                feed = feed.display().to_string(),
                findings = findings.display().to_string(),
                cache = wd.join("hashcache").display().to_string(),
                metrics = metrics.display().to_string(),
            ),
        )
        .map_err(io(&config))?;
        Ok(vec![(
            "SCRUN_CONFIG".to_string(),
            config.display().to_string(),
        )])
    })?;
    docker.guard_with_reaper()?;

    // The volume: a blocked interpreter and scripts naming it, a jail with the blocked binary
    // under the benign tool's path, a relocated loader, a big file.
    put(&vol.join("busybox-evil"), &evil, 0o755);
    put(
        &vol.join("a.sh"),
        format!("#!/vol/busybox-evil sh\necho {RAN}\n").as_bytes(),
        0o755,
    );
    put(&vol.join("b.sh"), b"#!/vol/a.sh\n", 0o755);
    put(&vol.join("c.sh"), b"#!/vol/b.sh -x\n", 0o755);
    put(&vol.join("jail/bin/busybox"), &read("/bin/busybox"), 0o755);
    put(&vol.join("jail").join(&TOOL[1..]), &evil, 0o755);
    put(&vol.join("ld"), &read(LOADER), 0o755);

    // The image: the jail with the same trick, a dynamic blocked program with its loader and
    // libc, a renamed loader, the fd-exec helper.
    let helper = |name: &str| {
        let out = docker.workdir().join(name);
        compile_c(&format!("{name}.c"), &out, &["-static", "-O1"])
    };
    let (fdexec, clonens, flipmount) = (helper("fdexec"), helper("clonens"), helper("flipmount"));
    let entry = FileEntry::new;
    let layer = vec![
        entry(EVIL, evil.clone(), 0o755),
        entry(TOOL, tool, 0o755),
        entry(EVIL_DATA, evil.clone(), 0o644),
        entry("/jail/bin/busybox", read("/bin/busybox"), 0o755),
        entry(&format!("/jail{TOOL}"), evil, 0o755),
        entry(DYN_EVIL, dyn_evil, 0o755),
        entry(LOADER, read(LOADER), 0o755),
        entry("/opt/x/helper", read(LOADER), 0o755),
        entry(
            "/lib/x86_64-linux-gnu/libc.so.6",
            read("/lib/x86_64-linux-gnu/libc.so.6"),
            0o755,
        ),
        entry("/usr/local/bin/fdexec", fdexec, 0o755),
        entry("/usr/local/bin/clonens", clonens, 0o755),
        entry("/usr/local/bin/flipmount", flipmount, 0o755),
    ];
    docker.load_shell_image(IMAGE, &[layer])?;
    Ok(Env {
        docker,
        findings,
        vol,
        metrics,
    })
}

/// `docker run --rm [--runtime R] -v VOL:/vol [flags] IMAGE sh -c SCRIPT` -> output.
fn run_in(runtime: &str, flags: &[&str], script: &str) -> std::process::Output {
    let e = env();
    let volume = format!("{}:/vol", e.vol.display());
    let mut v = vec!["run", "--rm", "--runtime", runtime, "-v", &volume];
    v.extend_from_slice(flags);
    v.extend_from_slice(&[IMAGE, "sh", "-c", script]);
    e.docker.docker(&v).expect("docker run")
}

fn run(flags: &[&str], script: &str) -> std::process::Output {
    run_in("scrun", flags, script)
}

/// `script` repeated `n` times in one shell, then `echo loop-done`.
fn repeat(n: usize, script: &str) -> String {
    format!("i=0; while [ $i -lt {n} ]; do {script}; i=$((i+1)); done; echo loop-done")
}

/// The blocked binary never ran, and the loop ran to its end (the supervisor answered).
fn assert_never_ran(out: &std::process::Output, what: &str) {
    let text = stdout(out);
    assert!(
        !text.contains(RAN),
        "{what}: the blocked program ran\nstdout: {text}\nstderr: {}",
        stderr(out)
    );
    assert!(
        text.contains("loop-done"),
        "{what}: the loop did not finish\nstdout: {text}\nstderr: {}",
        stderr(out)
    );
}

fn findings_with(key: &str, value: &str) -> Vec<Value> {
    fs::read_to_string(&env().findings)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f.pointer(key).and_then(Value::as_str) == Some(value))
        .collect()
}

#[test]
fn legitimate_chroot_works_as_under_runc() {
    let script = "chroot /jail /bin/busybox echo image-jail-ok && \
                  chroot /vol/jail /bin/busybox echo volume-jail-ok && \
                  chroot /jail /bin/busybox sh -c 'cd / && /bin/busybox echo nested-ok'";
    let scrun = run(&[], script);
    let runc = run_in("runc", &[], script);
    assert!(runc.status.success(), "runc: {}", stderr(&runc));
    assert!(
        scrun.status.success(),
        "scrun: {}\n{}",
        stdout(&scrun),
        stderr(&scrun)
    );
    assert_eq!(stdout(&scrun), stdout(&runc));
    assert_eq!(stdout(&scrun), "image-jail-ok\nvolume-jail-ok\nnested-ok\n");
}

#[test]
fn chroot_into_the_image_cannot_run_a_blocked_binary_under_a_benign_path() {
    let out = run(
        &[],
        &repeat(
            ROUNDS,
            &format!("chroot /jail {TOOL} echo {RAN} 2>/dev/null"),
        ),
    );
    assert_never_ran(&out, "chroot /jail");
    // Reported at its container path, with the path its caller saw.
    let f = findings_with("/sourceProperties/scrun_caller_path", TOOL);
    assert!(
        f.iter().any(|f| f
            .pointer("/processes/0/binary/path")
            .and_then(Value::as_str)
            == Some(&format!("/jail{TOOL}"))),
        "no finding with the container path /jail{TOOL}: {f:?}"
    );
}

#[test]
fn chroot_into_a_volume_cannot_run_a_blocked_binary() {
    let out = run(
        &[],
        &repeat(
            ROUNDS,
            &format!("chroot /vol/jail {TOOL} echo {RAN} 2>/dev/null"),
        ),
    );
    assert_never_ran(&out, "chroot /vol/jail");
}

#[test]
fn a_new_mount_namespace_cannot_hide_a_blocked_binary() {
    // A bind mount of the blocked binary over the benign tool, and a tmpfs over its directory.
    let bind = format!(
        "unshare -m sh -c 'mount --bind {EVIL} {TOOL} && {}'",
        repeat(ROUNDS, &format!("{TOOL} echo {RAN} 2>/dev/null"))
    );
    let out = run(&ADMIN, &bind);
    assert_never_ran(&out, "unshare -m + bind mount");
    let tmpfs = format!(
        "unshare -m sh -c 'mount -t tmpfs t /usr/local/bin && cp /opt/evil.dat {TOOL} && \
         chmod 755 {TOOL} && {}'",
        repeat(ROUNDS, &format!("{TOOL} echo {RAN} 2>/dev/null"))
    );
    let out = run(&ADMIN, &tmpfs);
    assert_never_ran(&out, "unshare -m + tmpfs");
}

/// The same under Docker's own default seccomp profile with CAP_SYS_ADMIN, which allows
/// `unshare`, `clone` and `setns` outright: scrun splits those rules around `CLONE_NEWNS` (a
/// profile libseccomp must accept, or the container would not start).
#[test]
fn a_new_mount_namespace_under_dockers_profile_cannot_hide_a_blocked_binary() {
    let tmpfs = format!(
        "unshare -m sh -c 'mount -t tmpfs t /usr/local/bin && cp /opt/evil.dat {TOOL} && \
         chmod 755 {TOOL} && echo in-ns && {}'",
        repeat(ROUNDS, &format!("{TOOL} echo {RAN} 2>/dev/null"))
    );
    let flags = [
        "--cap-add",
        "SYS_ADMIN",
        "--security-opt",
        "apparmor=unconfined",
    ];
    let out = run(&flags, &tmpfs);
    assert!(stdout(&out).contains("in-ns"), "{}", stderr(&out));
    assert_never_ran(&out, "Docker profile + unshare -m + tmpfs");
    // fork (clone without CLONE_NEWNS) is still allowed by the split rule.
    let out = run(&flags, "sh -c 'echo forked' & wait; echo loop-done");
    assert!(stdout(&out).contains("forked"), "{}", stderr(&out));
}

/// Docker's default profile allows `clone` only without namespace flags (a `SCMP_CMP_MASKED_EQ`
/// rule, which libcontainer reads the other way round unless scrun swaps it): as under runc, a
/// `clone(CLONE_NEWUSER)` fails (the kernel alone would allow it, unlike `CLONE_NEWNS`) and a
/// plain one works.
#[test]
fn dockers_clone_rule_denies_namespace_flags_as_under_runc() {
    let script = "clonens 0x10000000; clonens 0; echo loop-done";
    let runc = run_in("runc", &[], script);
    let scrun = run(&[], script);
    assert_eq!(
        stdout(&runc),
        "clone: Operation not permitted\nclone: ok\nloop-done\n",
        "{}",
        stderr(&runc)
    );
    assert_eq!(stdout(&scrun), stdout(&runc), "{}", stderr(&scrun));
}

/// A second process flips a bind mount of the blocked binary over the benign tool while the
/// first execs the tool: whichever file the kernel opens, the blocked one never runs (on the
/// overlay the gate decides the opened file; the seccomp path decides in the caller's view).
#[test]
fn a_bind_mount_flipped_during_the_exec_never_runs_the_blocked_binary() {
    let script = format!(
        "unshare -m sh -c '(while :; do mount --bind {EVIL} {TOOL}; umount -l {TOOL}; done) & \
         flip=$!; {}; kill $flip'",
        repeat(
            ROUNDS * 2,
            &format!(
                "{TOOL} sh -c \"grep -q SCRUN-EVASION-EVIL /proc/self/exe && echo {RAN} || echo tool-ran\" 2>/dev/null"
            )
        )
    );
    let out = run(&ADMIN, &script);
    assert_never_ran(&out, "flipping bind mount");
    let text = stdout(&out);
    println!(
        "flip: {} benign runs of {}",
        text.matches("tool-ran").count(),
        ROUNDS * 2
    );
    assert!(
        text.contains("tool-ran"),
        "the benign tool never ran: {text}"
    );
}

/// The same flip on a tmpfs the container mounts after start in its own mount namespace: the
/// first exec that reaches the tmpfs puts its superblock under the gate, so the flipped file is
/// decided on what the kernel opens there too. The race itself is rarely hit, so the test also
/// checks that the gate saw the tmpfs execs (files there are never vetted: each exec is a gate
/// event), which it does not without the mark.
#[test]
fn a_bind_mount_flipped_on_a_tmpfs_made_after_start_never_runs_the_blocked_binary() {
    let e = env();
    let execs = ROUNDS * 2;
    let script = format!(
        "unshare -m sh -c 'mkdir -p /t && mount -t tmpfs t /t && cp /opt/evil.dat /t/busybox-e && \
         cp {TOOL} /t/busybox-t && chmod 755 /t/busybox-e /t/busybox-t && /t/busybox-t true && \
         flipmount /t/busybox-e /t/busybox-t & flip=$!; {}; kill $flip'",
        repeat(
            execs,
            &format!(
                "/t/busybox-t sh -c \"grep -q SCRUN-EVASION-EVIL /proc/self/exe && echo {RAN} || echo tool-ran\" 2>/dev/null"
            )
        )
    );
    let name = format!("scrun-evasion-tmpfs-{}", std::process::id());
    let mut start = vec!["run", "-d", "--runtime", "scrun", "--name", &name];
    start.extend_from_slice(&ADMIN);
    start.extend_from_slice(&[IMAGE, "sleep", "300"]);
    let id = e.docker.docker_ok(&start).expect("docker run -d");
    let dir = scrun_integration::supervisor::scrun_dir_of(id.trim());
    let gate_events = |since| {
        scrun_integration::supervisor::worker_snapshot_after(&e.metrics, &dir, since)["gate_events"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = gate_events(std::time::SystemTime::now());
    let out = e
        .docker
        .docker(&["exec", &name, "sh", "-c", &script])
        .expect("docker exec");
    let after = gate_events(std::time::SystemTime::now());
    println!(
        "LOG {}",
        std::fs::read_to_string(dir.join("supervisor.log")).unwrap_or_default()
    );
    let _ = e.docker.docker(&["rm", "-f", &name]);
    assert_never_ran(&out, "flipping bind mount on a new tmpfs");
    let text = stdout(&out);
    println!(
        "tmpfs flip: {} benign runs of {execs}, {} gate events; stderr: {}",
        text.matches("tool-ran").count(),
        after - before,
        stderr(&out)
    );
    assert!(
        text.contains("tool-ran"),
        "the benign tool never ran: {text}"
    );
    assert!(
        after - before >= execs as u64,
        "the gate saw {} events for {execs} execs on the new tmpfs: its superblock was not marked",
        after - before
    );
}

/// On a volume (a host directory: the gate marks the container's mount of it), another process
/// relinks the exec'd name between the benign tool and the blocked binary during 400 execs.
#[test]
fn a_name_flipped_on_a_volume_during_the_exec_never_runs_the_blocked_binary() {
    let script = format!(
        "d=/vol/flip-$$; mkdir -p $d && cp {TOOL} $d/busybox-b && cp /vol/busybox-evil $d/busybox-e && \
         cp $d/busybox-b $d/busybox-t && \
         (while :; do ln -f $d/busybox-e $d/busybox-t; ln -f $d/busybox-b $d/busybox-t; done) & \
         flip=$!; {}; kill $flip; rm -rf /vol/flip-*",
        // Every flip changes the files' ctime, so each exec is hashed again (slow in a debug
        // build): fewer rounds here.
        repeat(
            VOLUME_FLIPS,
            "/vol/flip-$$/busybox-t sh -c \"grep -q SCRUN-EVASION-EVIL /proc/self/exe && echo EVIL-RAN || echo tool-ran\" 2>/dev/null"
        )
    );
    let out = run(&[], &script);
    assert_never_ran(&out, "flipping name on a volume");
    let text = stdout(&out);
    println!(
        "volume flip: {} benign runs of {VOLUME_FLIPS}",
        text.matches("tool-ran").count()
    );
    assert!(
        text.contains("tool-ran"),
        "the benign tool never ran: {text}"
    );
}

#[test]
fn a_user_and_mount_namespace_cannot_hide_a_blocked_binary() {
    let script = format!(
        "unshare -Urm sh -c 'mount -t tmpfs t /usr/local/bin && cp /opt/evil.dat {TOOL} && \
         chmod 755 {TOOL} && echo in-userns && {}'",
        repeat(ROUNDS, &format!("{TOOL} echo {RAN} 2>/dev/null"))
    );
    let flags = [
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
    ];
    // Under runc the same steps work (the evil binary runs there): the test exercises a
    // namespace the kernel really gives an unprivileged container.
    let runc = run_in("runc", &flags, &script);
    assert!(
        stdout(&runc).contains("in-userns"),
        "unshare -Urm under runc: {}",
        stderr(&runc)
    );
    let out = run(&flags, &script);
    assert!(stdout(&out).contains("in-userns"), "{}", stderr(&out));
    assert_never_ran(&out, "unshare -Urm + tmpfs");
}

#[test]
fn a_blocked_interpreter_on_a_volume_is_refused_directly_and_through_nested_scripts() {
    for script in ["/vol/a.sh", "/vol/b.sh", "/vol/c.sh"] {
        let out = run(
            &[],
            &repeat(
                ROUNDS / 2,
                &format!("{script} 2>/dev/null; [ $? = 126 ] || echo wrong-status"),
            ),
        );
        assert_never_ran(&out, script);
        assert!(
            !stdout(&out).contains("wrong-status"),
            "{script}: not refused with EPERM: {}",
            stdout(&out)
        );
    }
}

#[test]
fn a_renamed_or_relocated_loader_cannot_run_a_blocked_program() {
    let out = run(
        &[],
        &format!(
            "cp {LOADER} /tmp/innocent && {}",
            repeat(
                ROUNDS,
                &format!(
                    "/opt/x/helper {DYN_EVIL} {RAN} 2>/dev/null; \
                     /tmp/innocent {DYN_EVIL} {RAN} 2>/dev/null; \
                     /vol/ld {DYN_EVIL} {RAN} 2>/dev/null; \
                     /vol/ld --argv0 x {DYN_EVIL} {RAN} 2>/dev/null"
                )
            )
        ),
    );
    assert_never_ran(&out, "loader copies");
    // A benign program still runs through a loader copy (libc.so.6 is itself runnable).
    let ok = run(&[], "/opt/x/helper /lib/x86_64-linux-gnu/libc.so.6");
    assert!(
        stdout(&ok).contains("GNU C Library"),
        "{} {}",
        stdout(&ok),
        stderr(&ok)
    );
}

#[test]
fn a_deleted_file_exec_by_descriptor_is_added_and_blocked() {
    let out = run(
        &[],
        &repeat(
            ROUNDS / 4,
            &format!("fdexec {EVIL_DATA} /tmp/gone {EVIL} echo {RAN}"),
        ),
    );
    assert_never_ran(&out, "execveat of an unlinked copy");
    assert!(
        stdout(&out).contains("fdexec: Operation not permitted"),
        "{}",
        stdout(&out)
    );
    let f = findings_with("/category", "Execution: Added Malicious Binary Executed");
    assert!(
        f.iter().any(|f| f
            .pointer("/processes/0/binary/path")
            .and_then(Value::as_str)
            .is_some_and(|p| p.starts_with("/tmp/gone"))),
        "no Added Malicious finding for the unlinked file"
    );
    assert!(
        findings_with("/sourceProperties/scrun_provenance", "built-in")
            .iter()
            .all(|f| !f
                .pointer("/processes/0/binary/path")
                .and_then(Value::as_str)
                .is_some_and(|p| p.starts_with("/tmp/gone"))),
        "the unlinked file was called built-in"
    );
}

#[test]
fn a_big_cold_exec_does_not_hold_up_small_ones() {
    // A fresh, big executable (busybox padded to 1 GiB, sparse): hashing it (256 MiB at most,
    // by default) takes far longer than 30 small execs of cached files.
    let big = env().vol.join(format!("big-{}", std::process::id()));
    put(&big, &read("/bin/busybox"), 0o755);
    fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let name = big.file_name().unwrap().to_string_lossy().into_owned();
    let out = run(
        &[],
        &format!(
            "/bin/true; (/vol/{name} true; echo big-done > /tmp/flag) & \
             sleep 0.05; i=0; while [ $i -lt 30 ]; do /bin/true; i=$((i+1)); done; \
             if [ -e /tmp/flag ]; then echo big-first; else echo small-first; fi; wait"
        ),
    );
    let _ = fs::remove_file(&big);
    assert!(
        stdout(&out).contains("small-first"),
        "small execs waited for the big file's hash: {} {}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn a_panicking_listener_fails_closed_and_recovers() {
    let e = env();
    let volume = format!("{}:/vol", e.vol.display());
    let id = e
        .docker
        .docker_ok(&[
            "run",
            "-d",
            "--runtime",
            "scrun",
            "-v",
            &volume,
            IMAGE,
            "sleep",
            "300",
        ])
        .expect("docker run -d")
        .trim()
        .to_string();
    let out = e
        .docker
        .docker(&[
            "exec",
            &id,
            "sh",
            "-c",
            "ln -s /bin/busybox /tmp/panic-me; /tmp/panic-me true 2>/dev/null; echo rc=$?; \
             /tmp/panic-me true 2>/dev/null; echo rc=$?; /bin/busybox echo after-ok",
        ])
        .expect("docker exec");
    let text = stdout(&out);
    // Reported where `scrun state` reads it.
    let state = scrun_state(&id);
    let _ = e.docker.docker(&["rm", "-f", &id]);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["rc=126", "rc=126", "after-ok"],
        "stderr: {}",
        stderr(&out)
    );
    let sup = state["annotations"]["io.github.scrun.supervisor"]
        .as_str()
        .unwrap_or_default();
    assert!(
        sup.contains("2 contained supervisor failure(s)") && sup.contains("test_panic_on"),
        "state: {state}"
    );
    assert!(
        sup.contains("exec guard: seccomp user-notify"),
        "state: {state}"
    );
}

/// `scrun --root ROOT state ID` for a container Docker created (its root is in scrun.json).
fn scrun_state(id: &str) -> Value {
    for d in fs::read_dir("/run/scrun.d")
        .expect("/run/scrun.d")
        .flatten()
    {
        let Ok(meta) = fs::read_to_string(d.path().join("scrun.json")) else {
            continue;
        };
        let Ok(meta) = serde_json::from_str::<Value>(&meta) else {
            continue;
        };
        if meta["id"].as_str() != Some(id) {
            continue;
        }
        let root = meta["root"].as_str().expect("root in scrun.json");
        let out = Command::new(Runtime::scrun().path)
            .args(["--root", root, "state", id])
            .output()
            .expect("scrun state");
        return serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("scrun state ({e}): {}", stderr(&out)));
    }
    panic!("no scrun directory for {id}");
}
