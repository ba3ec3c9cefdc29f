//! Supervision of executable file mappings (`[supervisor] mappings`), through a private dockerd
//! with Docker's default seccomp profile (which allows mmap/mprotect unconditionally: the merged
//! profile must load and behave under libcontainer/libseccomp on the real kernel):
//! - a userland loader (`tests/data/maploader.c`) that maps a blocked static ELF
//!   (`tests/data/evilstart.c`, listed in the test feed) and jumps to it, by `mmap` with
//!   `PROT_EXEC` or by `mprotect`: refused in enforce mode (the program never runs, a *Library
//!   Loaded* finding names it), run and reported in audit mode, unseen with mappings off;
//! - `LD_PRELOAD` of listed and benign libraries from the image, the upper layer and a modified
//!   image file: each category of the family, parsed by Google's SCC v2 client;
//! - a copied `ld.so` under another name running a blocked dynamic program (refused at its exec);
//! - benign dynamic programs (the host's `true` and `ls` with their libraries) run unchanged;
//! - JIT-like anonymous executable memory is never trapped, and an `mprotect` of it is let
//!   through as not a file (the worker's own metrics snapshot counts both);
//! - `scrun state` and the shadow profile say what is trapped; `off` installs no mapping rule.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use scrun_integration::docker::Docker;
use scrun_integration::image::{self, FileEntry};
use scrun_integration::process::{stderr, stdout};
use scrun_integration::{Error, Runtime};
use serde_json::Value;

const IMAGE: &str = "scrun-test/mappings:1";
const LOADER: &str = "/usr/local/bin/maploader";
const EVIL: &str = "/opt/evil";
const EVIL_SO: &str = "/opt/evil.so";
const BENIGN_SO: &str = "/opt/benign.so";
const VICTIM_SO: &str = "/opt/victim.so";
const DYN_EVIL: &str = "/usr/local/bin/dyn-evil";
const GLIBC_LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
/// What the blocked program prints (and writes to /tmp/EVIL-RAN) when it runs.
const RAN: &str = "SCRUN-MAPPINGS-EVIL";
const BUILT_IN: &str = "Execution: Built in Malicious Library Loaded";
const ADDED_MALICIOUS: &str = "Execution: Added Malicious Library Loaded";
const MODIFIED_MALICIOUS: &str = "Execution: Modified Malicious Library Loaded";
const ADDED: &str = "Execution: Added Library Loaded";

struct Env {
    docker: Docker,
    findings: PathBuf,
    metrics: PathBuf,
    evil_sha: String,
    evil_so_sha: String,
}

fn env() -> &'static Env {
    static SHARED: OnceLock<Result<Env, String>> = OnceLock::new();
    scrun_integration::shared_env(&SHARED, "start the private dockerd", setup)
}

fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// `gcc ARGS -o DIR/OUT tests/data/SRC`, the output's bytes.
fn gcc(dir: &Path, src: &str, out: &str, args: &[&str]) -> Vec<u8> {
    scrun_integration::testdata::compile_c(src, &dir.join(out), args)
}

fn setup() -> Result<Env, Error> {
    let scrun = Runtime::scrun();
    scrun.require()?;
    let build = tempfile::tempdir().map_err(|source| Error::Io {
        op: "create",
        path: std::env::temp_dir(),
        source,
    })?;
    let b = build.path();
    let loader = gcc(b, "maploader.c", "maploader", &["-static-pie", "-O1"]);
    let evil = gcc(
        b,
        "evilstart.c",
        "evil",
        &[
            "-static",
            "-nostdlib",
            "-no-pie",
            "-O1",
            "-fno-stack-protector",
        ],
    );
    let evil_so = gcc(
        b,
        "evillib.c",
        "evil.so",
        &[
            "-shared",
            "-fPIC",
            "-O1",
            "-DMARKER=\"SCRUN-MAPPINGS-EVIL-LIB\"",
        ],
    );
    let benign_so = gcc(
        b,
        "evillib.c",
        "benign.so",
        &[
            "-shared",
            "-fPIC",
            "-O1",
            "-DMARKER=\"SCRUN-MAPPINGS-BENIGN-LIB\"",
        ],
    );
    let mut dyn_evil = read(Path::new("/usr/bin/echo"));
    dyn_evil.extend_from_slice(b"\nSCRUN-MAPPINGS-DYN-EVIL\n");
    let (evil_sha, evil_so_sha) = (image::sha256_hex(&evil), image::sha256_hex(&evil_so));
    let dyn_sha = image::sha256_hex(&dyn_evil);

    let mut findings = PathBuf::new();
    let mut metrics = PathBuf::new();
    let hook = scrun_integration::runtime::workspace_dir().join("hooks/docker/daemon.json");
    let mut docker = Docker::start_with_env(&scrun.path, Some(&hook), |wd| {
        let feed = wd.join("feed.txt");
        let config = wd.join("scrun.toml");
        findings = wd.join("findings.jsonl");
        metrics = wd.join("metrics");
        scrun_integration::write_file(
            &feed,
            format!(
                "{evil_sha} Scrun.Test.Evil\n{evil_so_sha} Scrun.Test.EvilLib\n\
                 {dyn_sha} Scrun.Test.DynEvil\n"
            ),
        )?;
        // Mappings are not set: they follow each container's mode.
        scrun_integration::write_file(
            &config,
            format!(
                "mode = \"enforce\"\n[intel]\nfeeds = [{feed:?}]\n[findings]\npath = {findings:?}\n\
                 [supervisor]\nhash_cache_dir = {cache:?}\nmetrics_dir = {metrics:?}\n\
                 metrics_interval_secs = 1\n",
                feed = feed.display().to_string(),
                findings = findings.display().to_string(),
                cache = wd.join("hashcache").display().to_string(),
                metrics = metrics.display().to_string(),
            ),
        )?;
        Ok(vec![(
            "SCRUN_CONFIG".to_string(),
            config.display().to_string(),
        )])
    })?;
    docker.guard_with_reaper()?;

    let entry = FileEntry::new;
    let host = |p: &str| read(Path::new(p));
    let layer = vec![
        entry(LOADER, loader, 0o755),
        entry(EVIL, evil, 0o755),
        entry(EVIL_SO, evil_so, 0o644),
        entry(BENIGN_SO, benign_so.clone(), 0o644),
        entry(VICTIM_SO, benign_so, 0o644),
        entry(DYN_EVIL, dyn_evil, 0o755),
        // Benign dynamic programs from the host, with their loader and libraries.
        entry("/bin/dtrue", host("/bin/true"), 0o755),
        entry("/bin/dls", host("/bin/ls"), 0o755),
        entry(GLIBC_LOADER, host(GLIBC_LOADER), 0o755),
        entry(
            "/lib/x86_64-linux-gnu/libc.so.6",
            host("/lib/x86_64-linux-gnu/libc.so.6"),
            0o755,
        ),
        entry(
            "/lib/x86_64-linux-gnu/libselinux.so.1",
            host("/lib/x86_64-linux-gnu/libselinux.so.1"),
            0o644,
        ),
        entry(
            "/lib/x86_64-linux-gnu/libpcre2-8.so.0",
            host("/lib/x86_64-linux-gnu/libpcre2-8.so.0"),
            0o644,
        ),
    ];
    docker.load_shell_image(IMAGE, &[layer])?;
    Ok(Env {
        docker,
        findings,
        metrics,
        evil_sha,
        evil_so_sha,
    })
}

/// `docker run --rm [flags] IMAGE sh -c SCRIPT`: the output and the container's id.
fn run(flags: &[&str], script: &str) -> (std::process::Output, String) {
    let e = env();
    let cid = tempfile::NamedTempFile::new().expect("cidfile");
    let cidfile = cid.path().display().to_string();
    let _ = fs::remove_file(cid.path()); // docker refuses an existing cidfile
    let mut v = vec!["run", "--rm", "--runtime", "scrun", "--cidfile", &cidfile];
    v.extend_from_slice(flags);
    v.extend_from_slice(&[IMAGE, "sh", "-c", script]);
    let out = e.docker.docker(&v).expect("docker run");
    let id = fs::read_to_string(&cidfile).unwrap_or_default();
    let _ = fs::remove_file(&cidfile);
    (out, id.trim().to_string())
}

/// The findings of container `id`.
fn findings_of(id: &str) -> Vec<Value> {
    fs::read_to_string(&env().findings)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| {
            f.pointer("/sourceProperties/scrun_container_id")
                .and_then(Value::as_str)
                == Some(id)
        })
        .collect()
}

fn str_at<'a>(f: &'a Value, ptr: &str) -> &'a str {
    f.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn categories(f: &[Value]) -> Vec<String> {
    let mut c: Vec<String> = f
        .iter()
        .map(|f| str_at(f, "/category").to_owned())
        .collect();
    c.sort();
    c.dedup();
    c
}

/// The one library finding of `category` naming `path`.
fn library_finding<'a>(all: &'a [Value], category: &str, path: &str) -> &'a Value {
    let hits: Vec<&Value> = all
        .iter()
        .filter(|f| str_at(f, "/category") == category)
        .filter(|f| str_at(f, "/processes/0/libraries/0/path") == path)
        .collect();
    assert_eq!(hits.len(), 1, "one {category} finding for {path}: {all:#?}");
    hits[0]
}

#[test]
fn a_userland_loader_cannot_map_a_blocked_program_in_enforce_mode() {
    let e = env();
    let script = format!(
        "{LOADER} mmap {EVIL}; echo rc=$?; {LOADER} mprotect {EVIL}; echo rc=$?; \
         cp {EVIL} /tmp/copy; {LOADER} mmap /tmp/copy; echo rc=$?; \
         cat /tmp/EVIL-RAN 2>/dev/null || echo no-marker; \
         {EVIL} 2>/dev/null; echo exec-rc=$?"
    );
    let (out, id) = run(&[], &script);
    let text = stdout(&out);
    assert!(!text.contains(RAN), "the blocked program ran:\n{text}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "map-refused: mmap EPERM",
            "rc=3",
            "map-refused: mprotect EPERM",
            "rc=4",
            "map-refused: mmap EPERM",
            "rc=3",
            "no-marker",
            "exec-rc=126",
        ],
        "stderr: {}",
        stderr(&out)
    );
    let all = findings_of(&id);
    let mmap = all
        .iter()
        .find(|f| {
            str_at(f, "/category") == BUILT_IN
                && str_at(f, "/sourceProperties/scrun_syscall") == "mmap"
        })
        .unwrap_or_else(|| panic!("no built-in library finding for mmap: {all:#?}"));
    assert_eq!(str_at(mmap, "/processes/0/libraries/0/path"), EVIL);
    assert_eq!(str_at(mmap, "/processes/0/libraries/0/sha256"), e.evil_sha);
    assert_eq!(str_at(mmap, "/processes/0/binary/path"), LOADER);
    assert_eq!(str_at(mmap, "/processes/0/name"), "maploader");
    assert_eq!(str_at(mmap, "/processes/0/args/1"), "mmap");
    assert_eq!(str_at(mmap, "/sourceProperties/scrun_action"), "BLOCKED");
    assert_eq!(str_at(mmap, "/severity"), "CRITICAL");
    assert_eq!(
        mmap.pointer("/mitreAttack/primaryTechniques"),
        Some(&serde_json::json!(["SHARED_MODULES"]))
    );
    assert_eq!(
        mmap.pointer("/mitreAttack/additionalTechniques"),
        Some(&serde_json::json!(["INGRESS_TOOL_TRANSFER"]))
    );
    assert!(
        all.iter().any(|f| str_at(f, "/category") == BUILT_IN
            && str_at(f, "/sourceProperties/scrun_syscall") == "mprotect"),
        "no finding for the mprotect route: {all:#?}"
    );
    let copy = library_finding(&all, ADDED_MALICIOUS, "/tmp/copy");
    assert_eq!(str_at(copy, "/processes/0/libraries/0/sha256"), e.evil_sha);
}

#[test]
fn in_audit_mode_the_loaded_program_runs_and_is_reported() {
    let e = env();
    let (out, id) = run(
        &["--label", "scrun.mode=audit"],
        &format!("{LOADER} mmap {EVIL}; echo rc=$?; cat /tmp/EVIL-RAN"),
    );
    let text = stdout(&out);
    assert!(
        text.contains("jumping") && text.matches(RAN).count() == 2 && text.contains("rc=0"),
        "the program did not run through the loader in audit mode:\n{text}\n{}",
        stderr(&out)
    );
    let all = findings_of(&id);
    let f = library_finding(&all, BUILT_IN, EVIL);
    assert_eq!(str_at(f, "/processes/0/libraries/0/sha256"), e.evil_sha);
    assert_eq!(str_at(f, "/sourceProperties/scrun_action"), "ALLOWED");
    assert_eq!(str_at(f, "/sourceProperties/scrun_mode"), "audit");
}

#[test]
fn with_mappings_off_nothing_is_trapped_and_the_loader_is_not_seen() {
    let (out, id) = run(
        &["--label", "scrun.mappings=off"],
        &format!("{LOADER} mmap {EVIL}; echo rc=$?"),
    );
    let text = stdout(&out);
    // Off means off: the enforce-mode container's exec supervision alone cannot see this.
    assert!(text.contains(RAN) && text.contains("rc=0"), "{text}");
    assert!(
        findings_of(&id)
            .iter()
            .all(|f| !str_at(f, "/category").contains("Library")),
        "{:#?}",
        findings_of(&id)
    );
}

#[test]
fn every_library_category_comes_from_ld_preload_and_parses_with_googles_scc_client() {
    let e = env();
    let preload = |lib: &str| format!("LD_PRELOAD={lib} /bin/dtrue; echo rc=$?");
    let added = preload("/tmp/e.so");
    let script = format!(
        "{}; cp {EVIL_SO} /tmp/e.so; {added}; cat {EVIL_SO} > {VICTIM_SO}; {}; \
         cp {BENIGN_SO} /tmp/b.so; {}; cat /tmp/LIB-RAN 2>/dev/null | wc -c",
        preload(EVIL_SO),
        preload(VICTIM_SO),
        preload("/tmp/b.so"),
    );
    let (out, id) = run(&[], &script);
    let text = stdout(&out);
    // The three listed libraries were refused (ld.so says so and goes on without them), the
    // benign added one ran its constructor once.
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["rc=0", "rc=0", "rc=0", "LIB-RAN", "rc=0", "1"],
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(
        stderr(&out).matches("cannot be preloaded").count(),
        3,
        "{}",
        stderr(&out)
    );
    let all = findings_of(&id);
    assert_eq!(
        categories(&all),
        [ADDED, ADDED_MALICIOUS, BUILT_IN, MODIFIED_MALICIOUS],
        "{all:#?}"
    );
    for (category, path) in [
        (BUILT_IN, EVIL_SO),
        (ADDED_MALICIOUS, "/tmp/e.so"),
        (MODIFIED_MALICIOUS, VICTIM_SO),
    ] {
        let f = library_finding(&all, category, path);
        assert_eq!(str_at(f, "/processes/0/libraries/0/sha256"), e.evil_so_sha);
        assert_eq!(str_at(f, "/processes/0/binary/path"), "/bin/dtrue");
        assert_eq!(str_at(f, "/sourceProperties/scrun_action"), "BLOCKED");
    }
    let benign = library_finding(&all, ADDED, "/tmp/b.so");
    assert_eq!(str_at(benign, "/severity"), "LOW");
    assert_eq!(str_at(benign, "/sourceProperties/scrun_action"), "ALLOWED");

    // Google's client is the schema's judge.
    let accepted = scrun_integration::testdata::scc_client_accepts(&all);
    let libraries = accepted
        .iter()
        .filter(|l| l.starts_with("ok Execution: ") && l.contains("Library Loaded"))
        .count();
    assert_eq!(libraries, all.len(), "{accepted:?}");
}

#[test]
fn benign_dynamic_programs_run_unchanged_and_a_copied_loader_still_cannot_run_a_blocked_one() {
    let script = format!(
        "/bin/dtrue && /bin/dls / > /dev/null && echo dyn-ok; \
         cp {GLIBC_LOADER} /tmp/myld; /tmp/myld /bin/dls -d / && \
         /tmp/myld {DYN_EVIL} EVIL-DYN-RAN 2>/dev/null; echo rc=$?"
    );
    let (out, id) = run(&[], &script);
    let text = stdout(&out);
    assert_eq!(text, "dyn-ok\n/\nrc=126\n", "stderr: {}", stderr(&out));
    let all = findings_of(&id);
    // The copied loader is an added binary; the blocked program is refused at its exec (by
    // content: the copy is a loader whatever its name). No library finding: the image's
    // libraries are clean, and what a loader is asked to run was decided at its exec.
    assert!(
        all.iter()
            .all(|f| !str_at(f, "/category").contains("Library")),
        "{all:#?}"
    );
    assert!(
        all.iter().any(|f| str_at(f, "/category")
            == "Execution: Built in Malicious Binary Executed"
            && str_at(f, "/processes/0/binary/path") == DYN_EVIL
            && str_at(f, "/sourceProperties/scrun_action") == "BLOCKED"),
        "{all:#?}"
    );
}

/// Docker's default profile refuses `clone(CLONE_NEWUSER)` through an `SCMP_CMP_MASKED_EQ`
/// condition, the operator the mapping rules use: scrun must load it as runc does (libcontainer
/// 0.7 reads the operator's two values the other way round; the spec rewrite swaps them, after
/// the mapping rules, written in runc's sense, are merged).
#[test]
fn a_masked_condition_of_dockers_profile_holds_as_under_runc() {
    let e = env();
    let mut seen = Vec::new();
    for runtime in ["runc", "scrun"] {
        let out = e
            .docker
            .docker(&[
                "run",
                "--rm",
                "--runtime",
                runtime,
                IMAGE,
                LOADER,
                "clone-newuser",
            ])
            .expect("docker run");
        seen.push(stdout(&out));
    }
    // Without the profile, the kernel lets the container make a user namespace.
    let out = e
        .docker
        .docker(&[
            "run",
            "--rm",
            "--runtime",
            "scrun",
            "--security-opt",
            "seccomp=unconfined",
            IMAGE,
            LOADER,
            "clone-newuser",
        ])
        .expect("docker run");
    assert_eq!(stdout(&out), "clone-newuser: created\n", "{}", stderr(&out));
    assert_eq!(seen[0], "clone-newuser: EPERM\n", "runc");
    assert_eq!(seen[1], seen[0], "scrun differs from runc");
}

/// The worker's metrics snapshot written after `since` (the interval is one second).
fn snapshot_after(dir: &Path, since: SystemTime) -> Value {
    scrun_integration::supervisor::worker_snapshot_after(&env().metrics, dir, since)
}

fn mapping_count(snapshot: &Value, outcome: &str) -> u64 {
    snapshot["mappings"][outcome].as_u64().unwrap_or(0)
}

#[test]
fn jit_like_anonymous_code_is_never_a_mapping_to_decide() {
    let e = env();
    let name = format!("scrun-mappings-jit-{}", std::process::id());
    let id = e
        .docker
        .docker_ok(&[
            "run",
            "-d",
            "--runtime",
            "scrun",
            "--name",
            &name,
            IMAGE,
            "sleep",
            "120",
        ])
        .expect("docker run -d");
    let id = id.trim().to_string();
    let dir = scrun_integration::supervisor::scrun_dir_of(&id);
    // What the state and the shadow profile say.
    let guard = fs::read_to_string(dir.join("guard")).unwrap_or_default();
    let shadow: Value = serde_json::from_slice(&read(&dir.join("config.json"))).unwrap();
    let exec = |args: &[&str]| {
        let mut v = vec!["exec", name.as_str()];
        v.extend_from_slice(args);
        let t = SystemTime::now();
        let out = e.docker.docker(&v).expect("docker exec");
        (out, t)
    };
    let (_, t0) = exec(&["true"]);
    let before = snapshot_after(&dir, t0);
    let (anon, t1) = exec(&[LOADER, "jit-anon"]);
    let after_anon = snapshot_after(&dir, t1 + Duration::from_millis(1));
    let (jit, t2) = exec(&[LOADER, "jit-mprotect"]);
    let after_jit = snapshot_after(&dir, t2 + Duration::from_millis(1));
    let (dynamic, t3) = exec(&["/bin/dtrue"]);
    let after_dyn = snapshot_after(&dir, t3 + Duration::from_millis(1));
    let _ = e.docker.docker(&["rm", "-f", &name]);

    assert!(
        guard.contains("executable file mappings: enforce (trapped: mmap, mmap2, mprotect)")
            && guard.contains("the profile's own argument rules: personality"),
        "guard: {guard}"
    );
    let rules = shadow["linux"]["seccomp"]["syscalls"].as_array().unwrap();
    let notify_mmap: Vec<&Value> = rules
        .iter()
        .filter(|r| r["action"] == "SCMP_ACT_NOTIFY" && r["names"] == serde_json::json!(["mmap"]))
        .collect();
    assert_eq!(notify_mmap.len(), 1, "{rules:#?}");
    // (prot & PROT_EXEC) == PROT_EXEC && (flags & MAP_ANONYMOUS) == 0, written the way
    // libcontainer 0.7 reads SCMP_CMP_MASKED_EQ (valueTwo is the mask).
    assert_eq!(
        notify_mmap[0]["args"],
        serde_json::json!([
            {"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"},
            {"index": 3, "value": 0, "valueTwo": 32, "op": "SCMP_CMP_MASKED_EQ"}
        ])
    );

    assert_eq!(stdout(&anon), "jit-anon-ok\n", "{}", stderr(&anon));
    assert_eq!(stdout(&jit), "jit-mprotect-ok\n", "{}", stderr(&jit));
    assert!(dynamic.status.success(), "{}", stderr(&dynamic));
    // Anonymous executable memory and a non-executable mprotect: not one notification.
    assert_eq!(before["mappings"], after_anon["mappings"], "{after_anon}");
    // An mprotect to PROT_EXEC is trapped (the filter cannot tell), found anonymous, let through.
    assert_eq!(
        mapping_count(&after_jit, "not-a-file"),
        mapping_count(&after_anon, "not-a-file") + 1,
        "{after_jit}"
    );
    for o in ["allowed", "blocked", "error"] {
        assert_eq!(
            mapping_count(&after_jit, o),
            mapping_count(&after_anon, o),
            "{o}"
        );
    }
    // A dynamic program: its libc mapping was decided and allowed.
    assert!(
        mapping_count(&after_dyn, "allowed") > mapping_count(&after_jit, "allowed"),
        "{after_dyn}"
    );
    assert!(findings_of(&id).is_empty(), "{:#?}", findings_of(&id));
}
