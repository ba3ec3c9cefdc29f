//! Real distribution images through scrun under a private dockerd: a debootstrap'd Debian
//! (glibc, dash, bash, apt, dpkg, python3) and a musl image made of Debian's `musl` and
//! `busybox-static` packages (see `scrun_integration::distro`; both cached on the machine).
//!
//! Every test asserts the exact set of findings of its own container: benign workloads give
//! none, files written at run time are *Added*, image files (from any layer of a multi-stage
//! `docker build`) are *Built in*, and the loader, interpreter and script are named right for
//! glibc and musl dynamic programs. The feed lists the final SHA-256 of files the build adds and
//! modifies, so a *Built in Malicious* finding proves which file and which layer scrun saw.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use scrun_integration::distro::{self, HELLO_MUSL, HELLO_MUSL_OUTPUT, MUSL_LOADER};
use scrun_integration::docker::Docker;
use scrun_integration::image::sha256_hex;
use scrun_integration::process::{exit_code, run_ok, stderr, stdout};
use scrun_integration::{Error, Runtime};
use serde_json::Value;

const DEBIAN: &str = "scrun-test/debian:bookworm-minbase";
const MUSL: &str = "scrun-test/musl:1";
const BUILT: &str = "scrun-test/debian-built:1";
const ADDED_BINARY: &str = "Execution: Added Binary Executed";
const BUILT_IN_MALICIOUS: &str = "Execution: Built in Malicious Binary Executed";
/// Debian's glibc loader, as exec'd and as resolved (`/lib64` link into the merged `/usr`).
const GLIBC_LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
const GLIBC_LOADER_REAL: &str = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
const FEED_LABEL: &str = "Scrun.Test.Distro";

struct Env {
    docker: Docker,
    findings: PathBuf,
    /// Debian's /usr/bin/true (a glibc dynamic program).
    debian_true: Vec<u8>,
    /// Expected final bytes of the files the multi-stage build adds or modifies.
    tool: Vec<u8>,
    tac: Vec<u8>,
    evil: Vec<u8>,
}

fn env() -> &'static Env {
    static SHARED: OnceLock<Result<Env, String>> = OnceLock::new();
    scrun_integration::shared_env(&SHARED, "set up the distro images and dockerd", setup)
}

fn read_from_tar(tar: &Path, member: &str) -> Result<Vec<u8>, Error> {
    let out = run_ok(
        Command::new("tar")
            .arg("-xOf")
            .arg(tar)
            .arg(format!("./{}", member.trim_start_matches('/'))),
        60,
    )?;
    Ok(out.stdout)
}

fn with_suffix(bytes: &[u8], suffix: &str) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.extend_from_slice(suffix.as_bytes());
    v
}

fn setup() -> Result<Env, Error> {
    let scrun = Runtime::scrun();
    scrun.require()?;
    let debian_tar = distro::debian_rootfs()?;
    let musl_tar = distro::musl_rootfs()?;
    let debian_true = read_from_tar(&debian_tar, "/usr/bin/true")?;
    let debian_tac = read_from_tar(&debian_tar, "/usr/bin/tac")?;
    // What the Dockerfile below makes of them.
    let tool = with_suffix(&debian_true, "SCRUN-STAGE1\nSCRUN-STAGE2\n");
    let tac = with_suffix(&debian_tac, "SCRUN-MODIFIED\n");
    let evil = with_suffix(&debian_true, "SCRUN-DISTRO-EVIL\n");
    let mut findings = PathBuf::new();
    let hook = scrun_integration::runtime::workspace_dir().join("hooks/docker/daemon.json");
    let mut docker = Docker::start_with_env(&scrun.path, Some(&hook), |wd| {
        let feed = wd.join("feed.txt");
        let config = wd.join("scrun.toml");
        findings = wd.join("findings.jsonl");
        scrun_integration::write_file(
            &feed,
            format!(
                "{} {FEED_LABEL}\n{} {FEED_LABEL}\n{} {FEED_LABEL}\n",
                sha256_hex(&tool),
                sha256_hex(&tac),
                sha256_hex(&evil)
            ),
        )?;
        scrun_integration::write_file(
            &config,
            format!(
                "mode = \"audit\"\n[intel]\nfeeds = [{feed:?}]\n[findings]\npath = {findings:?}\ninclude_env = true\n\
                 [supervisor]\nhash_cache_dir = {cache:?}\n",
                feed = feed.display().to_string(),
                findings = findings.display().to_string(),
                cache = wd.join("hashcache").display().to_string(),
            ),
        )?;
        Ok(vec![("SCRUN_CONFIG".into(), config.display().to_string())])
    })?;
    docker.guard_with_reaper()?;
    distro::import(&docker, &debian_tar, DEBIAN, "/bin/bash")?;
    distro::import(&docker, &musl_tar, MUSL, "/bin/sh")?;
    build_multi_stage(&docker, &evil)?;
    Ok(Env {
        docker,
        findings,
        debian_true,
        tool,
        tac,
        evil,
    })
}

/// The multi-stage build: stage 1 makes a tool; the final stage copies it, modifies it and a
/// Debian binary in later layers, and adds a file from the build context. Legacy builder
/// (`DOCKER_BUILDKIT=0`): Debian's docker.io 20.10 ships without buildx.
fn build_multi_stage(docker: &Docker, evil: &[u8]) -> Result<(), Error> {
    let ctx = docker.workdir().join("build-ctx");
    fs::create_dir_all(&ctx).map_err(|source| Error::Io {
        op: "create",
        path: ctx.clone(),
        source,
    })?;
    let write = |name: &str, bytes: &[u8]| {
        fs::write(ctx.join(name), bytes).map_err(|source| Error::Io {
            op: "write",
            path: ctx.join(name),
            source,
        })
    };
    write("evil-true", evil)?;
    fs::set_permissions(ctx.join("evil-true"), fs::Permissions::from_mode(0o755)).map_err(
        |source| Error::Io {
            op: "chmod",
            path: ctx.join("evil-true"),
            source,
        },
    )?;
    write(
        "Dockerfile",
        format!(
            "FROM {DEBIAN} AS build\n\
             RUN cp /usr/bin/true /opt/tool && printf 'SCRUN-STAGE1\\n' >> /opt/tool\n\
             FROM {DEBIAN}\n\
             COPY --from=build /opt/tool /usr/local/bin/tool\n\
             RUN printf 'SCRUN-STAGE2\\n' >> /usr/local/bin/tool\n\
             RUN printf 'SCRUN-MODIFIED\\n' >> /usr/bin/tac\n\
             COPY evil-true /usr/local/bin/evil-true\n"
        )
        .as_bytes(),
    )?;
    let mut cmd = docker.cmd(&["build", "-q", "-t", BUILT]);
    cmd.arg(&ctx).env("DOCKER_BUILDKIT", "0");
    run_ok(&mut cmd, 300).map(drop)
}

/// One finding, reduced to what these tests assert: (category, binary path, script path,
/// provenance, loader). Empty strings for absent fields.
type Brief = (String, String, String, String, String);

fn brief(f: &Value) -> Brief {
    let s = |p: &str| {
        f.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (
        s("/category"),
        s("/processes/0/binary/path"),
        s("/processes/0/script/path"),
        s("/sourceProperties/scrun_provenance"),
        s("/sourceProperties/scrun_loader"),
    )
}

fn b(category: &str, binary: &str, script: &str, provenance: &str, loader: &str) -> Brief {
    (
        category.into(),
        binary.into(),
        script.into(),
        provenance.into(),
        loader.into(),
    )
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
    fn findings(&self) -> Vec<Value> {
        fs::read_to_string(&env().findings)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("findings line is JSON"))
            .filter(|f| {
                f.pointer("/sourceProperties/scrun_container_id")
                    .and_then(Value::as_str)
                    == Some(self.id.as_str())
            })
            .collect()
    }

    /// The findings as sorted [`Brief`]s.
    fn briefs(&self) -> Vec<Brief> {
        let mut v: Vec<Brief> = self.findings().iter().map(brief).collect();
        v.sort();
        v
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// `docker run --runtime scrun [flags] image args…` -> (output, container).
fn run(image: &str, flags: &[&str], args: &[&str]) -> (std::process::Output, Ctr) {
    let e = env();
    let cidfile = e.docker.workdir().join(format!(
        "cid-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let cid = cidfile.display().to_string();
    let mut v = vec!["run", "--cidfile", &cid, "--runtime", "scrun"];
    v.extend_from_slice(flags);
    v.push(image);
    v.extend_from_slice(args);
    let out = e.docker.docker(&v).expect("docker run");
    let id = fs::read_to_string(&cidfile)
        .unwrap_or_else(|err| panic!("no container id ({err}); stderr: {}", stderr(&out)))
        .trim()
        .to_string();
    (out, Ctr { id })
}

fn assert_ran(out: &std::process::Output, want_stdout: &str) {
    assert_eq!(
        (stdout(out).as_str(), exit_code(&out.status)),
        (want_stdout, 0),
        "stderr: {}",
        stderr(out)
    );
}

#[test]
fn debian_shell_python_and_dynamic_binaries_give_no_findings() {
    let script = "set -e; ls / >/dev/null; bash -c 'echo $((6*7))'; \
                  python3 -c 'import subprocess,sys; subprocess.run([\"/bin/true\"], check=True); print(sys.version_info[0])'; \
                  dpkg-query -W -f='${Package}\\n' dash; env | grep -q PATH; \
                  /lib64/ld-linux-x86-64.so.2 /usr/bin/true; echo done";
    let (out, c) = run(DEBIAN, &[], &["sh", "-c", script]);
    assert_ran(&out, "42\n3\ndash\ndone\n");
    assert_eq!(c.briefs(), Vec::<Brief>::new(), "benign Debian workload");
}

/// A package built here with `dpkg-deb`, installed with `apt-get install ./x.deb` (no network:
/// it has no dependencies): its postinst (a `/bin/sh` script) runs one of the package's
/// programs, then the package's script and program run.
#[test]
fn apt_install_of_a_package_with_maintainer_scripts_is_added() {
    let e = env();
    let pkg = e
        .docker
        .workdir()
        .join(format!("pkg-{}", SEQ.fetch_add(1, Ordering::Relaxed)));
    let tree = pkg.join("tree");
    for d in ["DEBIAN", "usr/bin", "usr/lib/scrun-demo"] {
        fs::create_dir_all(tree.join(d)).expect("create package dirs");
    }
    let put = |rel: &str, bytes: &[u8], mode: u32| {
        let p = tree.join(rel);
        fs::write(&p, bytes).expect("write package file");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod package file");
    };
    put(
        "DEBIAN/control",
        b"Package: scrun-demo\nVersion: 1.0\nArchitecture: all\nMaintainer: scrun tests <dev@scrun.invalid>\n\
          Description: scrun test package\n",
        0o644,
    );
    put(
        "DEBIAN/postinst",
        b"#!/bin/sh\nset -e\n/usr/lib/scrun-demo/demo-true\necho configured > /etc/scrun-demo.conf\n",
        0o755,
    );
    put(
        "usr/lib/scrun-demo/demo-true",
        &with_suffix(&e.debian_true, "SCRUN-DEMO-PACKAGE\n"),
        0o755,
    );
    put("usr/bin/scrun-demo", b"#!/bin/sh\necho demo-ran\n", 0o755);
    run_ok(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&tree)
            .arg(pkg.join("scrun-demo.deb")),
        60,
    )
    .expect("dpkg-deb --build");
    let vol = format!("{}:/pkgs:ro", pkg.display());
    let script = format!(
        "apt-get install -y -q /pkgs/scrun-demo.deb >/dev/null 2>&1 && \
         cat /etc/scrun-demo.conf && scrun-demo && {GLIBC_LOADER} /usr/lib/scrun-demo/demo-true && echo done"
    );
    let (out, c) = run(DEBIAN, &["-v", &vol], &["sh", "-c", &script]);
    assert_ran(&out, "configured\ndemo-ran\ndone\n");
    let mut want = vec![
        // dpkg runs the postinst (interpreter /bin/sh, script in dpkg's database).
        b(
            ADDED_BINARY,
            "/bin/sh",
            "/var/lib/dpkg/info/scrun-demo.postinst",
            "added",
            "",
        ),
        // The postinst runs the package's program.
        b(
            ADDED_BINARY,
            "/usr/lib/scrun-demo/demo-true",
            "",
            "added",
            "",
        ),
        // The package's script.
        b(ADDED_BINARY, "/bin/sh", "/usr/bin/scrun-demo", "added", ""),
        // The package's program through the loader: the program is decided, the loader named.
        b(
            ADDED_BINARY,
            "/usr/lib/scrun-demo/demo-true",
            "",
            "added",
            GLIBC_LOADER_REAL,
        ),
    ];
    want.sort();
    assert_eq!(c.briefs(), want, "findings:\n{:#?}", c.findings());
}

#[test]
fn scripts_and_programs_added_at_run_time_name_interpreter_script_and_loader() {
    let script = format!(
        "set -e; cp /usr/bin/true /tmp/t; /tmp/t; \
         printf '#!/usr/bin/python3\\nprint(\"py-ran\")\\n' > /tmp/s.py; chmod +x /tmp/s.py; /tmp/s.py; \
         printf 'echo sh-ran\\n' > /tmp/s.sh; sh /tmp/s.sh; {GLIBC_LOADER} /tmp/t; echo done"
    );
    let (out, c) = run(DEBIAN, &[], &["sh", "-c", &script]);
    assert_ran(&out, "py-ran\nsh-ran\ndone\n");
    let mut want = vec![
        b(ADDED_BINARY, "/tmp/t", "", "added", ""),
        b(ADDED_BINARY, "/usr/bin/python3", "/tmp/s.py", "added", ""),
        b(ADDED_BINARY, "/usr/bin/dash", "/tmp/s.sh", "added", ""),
        b(ADDED_BINARY, "/tmp/t", "", "added", GLIBC_LOADER_REAL),
    ];
    want.sort();
    assert_eq!(c.briefs(), want, "findings:\n{:#?}", c.findings());
}

#[test]
fn musl_dynamic_program_and_its_loader() {
    // The image's own dynamic musl program: no finding.
    let (out, c) = run(MUSL, &[], &[HELLO_MUSL]);
    assert_ran(&out, HELLO_MUSL_OUTPUT);
    assert_eq!(c.briefs(), Vec::<Brief>::new());
    // A copy written at run time, run directly and through the musl loader.
    let script = format!("cp {HELLO_MUSL} /tmp/h && /tmp/h && {MUSL_LOADER} /tmp/h");
    let (out, c) = run(MUSL, &[], &["sh", "-c", &script]);
    assert_ran(&out, &HELLO_MUSL_OUTPUT.repeat(2));
    let mut want = vec![
        b(ADDED_BINARY, "/tmp/h", "", "added", ""),
        b(
            ADDED_BINARY,
            "/tmp/h",
            "",
            "added",
            "/lib/x86_64-linux-musl/libc.so",
        ),
    ];
    want.sort();
    assert_eq!(c.briefs(), want, "findings:\n{:#?}", c.findings());
}

#[test]
fn multi_stage_build_files_are_built_in_from_their_layer() {
    let e = env();
    let script = "set -e; /usr/local/bin/tool; tac </dev/null; /usr/local/bin/evil-true; \
                  /usr/bin/true; python3 -c pass; echo done";
    let (out, c) = run(BUILT, &[], &["sh", "-c", script]);
    assert_ran(&out, "done\n");
    let mut want = vec![
        b(
            BUILT_IN_MALICIOUS,
            "/usr/local/bin/tool",
            "",
            "built-in",
            "",
        ),
        b(BUILT_IN_MALICIOUS, "/usr/bin/tac", "", "built-in", ""),
        b(
            BUILT_IN_MALICIOUS,
            "/usr/local/bin/evil-true",
            "",
            "built-in",
            "",
        ),
    ];
    want.sort();
    assert_eq!(c.briefs(), want, "findings:\n{:#?}", c.findings());
    let by_path = |p: &str| {
        c.findings()
            .into_iter()
            .find(|f| {
                f.pointer("/processes/0/binary/path")
                    .and_then(Value::as_str)
                    == Some(p)
            })
            .expect("finding")
    };
    for (path, bytes) in [
        ("/usr/local/bin/tool", &e.tool),
        ("/usr/bin/tac", &e.tac),
        ("/usr/local/bin/evil-true", &e.evil),
    ] {
        let f = by_path(path);
        assert_eq!(
            f.pointer("/processes/0/binary/sha256")
                .and_then(Value::as_str),
            Some(sha256_hex(bytes).as_str()),
            "{f}"
        );
    }
    // Each file is named by the layer that last wrote it: its index among the overlay's lowers
    // (top first; 0 is Docker's init layer) and its diff ID, as `docker inspect` lists them
    // (bottom first: debian, COPY tool, RUN tool, RUN tac, COPY evil-true).
    let layers: Vec<String> = serde_json::from_str(
        &e.docker
            .docker_ok(&["inspect", "-f", "{{json .RootFS.Layers}}", BUILT])
            .expect("docker inspect"),
    )
    .expect("RootFS.Layers JSON");
    assert_eq!(layers.len(), 5, "{layers:?}");
    for (path, index, diff_id) in [
        ("/usr/local/bin/evil-true", "1", &layers[4]),
        ("/usr/bin/tac", "2", &layers[3]),
        ("/usr/local/bin/tool", "3", &layers[2]),
    ] {
        let f = by_path(path);
        let prop = |k: &str| {
            f.pointer(&format!("/sourceProperties/{k}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        assert_eq!(
            (prop("scrun_layer"), prop("scrun_layer_digest")),
            (Some(index.to_owned()), Some(diff_id.clone())),
            "{f}"
        );
    }
}

/// Every category scrun emits, each produced by a real container (audit, and a block in
/// enforce mode), parsed by Google's own SCC v2 client with unknown fields rejected; no
/// finding names a path of the host.
#[test]
fn every_category_parses_with_googles_scc_client_and_names_no_host_path() {
    let e = env();
    let memfd = "import os; fd = os.memfd_create('m'); \
                 os.write(fd, open('/usr/bin/true', 'rb').read()); os.execve(fd, ['m'], {})";
    let script = format!(
        "set -e; /usr/local/bin/evil-true; cp /usr/local/bin/evil-true /tmp/e; /tmp/e; \
         cat /usr/local/bin/evil-true > /usr/bin/tac; tac </dev/null; \
         cp /usr/bin/true /tmp/t; /tmp/t; {GLIBC_LOADER} /tmp/t; \
         printf '#!/bin/sh\\ntrue\\n' > /tmp/s; chmod +x /tmp/s; /tmp/s; \
         python3 -c \"{memfd}\"; cp /usr/bin/true /dev/shm/t; /dev/shm/t; echo done"
    );
    let (out, audit) = run(
        BUILT,
        &["--tmpfs", "/dev/shm:rw,exec", "-e", "API_TOKEN=secret"],
        &["sh", "-c", &script],
    );
    assert_ran(&out, "done\n");
    let (out, enforce) = run(
        BUILT,
        &["--label", "scrun.mode=enforce"],
        &["sh", "-c", "/usr/local/bin/evil-true; echo rc=$?"],
    );
    assert_ran(&out, "rc=126\n");
    let mut all = audit.findings();
    all.extend(enforce.findings());
    let mut categories: Vec<&str> = all
        .iter()
        .filter_map(|f| f.pointer("/category").and_then(Value::as_str))
        .collect();
    categories.sort_unstable();
    categories.dedup();
    assert_eq!(
        categories,
        vec![
            ADDED_BINARY,
            "Execution: Added Malicious Binary Executed",
            BUILT_IN_MALICIOUS,
            "Execution: Fileless Execution in /memfd:",
            "Execution: Modified Malicious Binary Executed",
            "Privilege Escalation: Fileless Execution in /dev/shm",
        ],
        "every category scrun emits, from real containers:\n{all:#?}"
    );
    assert!(
        all.iter()
            .any(|f| f.pointer("/sourceProperties/scrun_action") == Some(&Value::from("BLOCKED"))),
        "a blocked finding: {all:#?}"
    );
    // No path of the host: the daemon's data root and workdir, the image cache, the usual roots.
    let host_paths = [
        e.docker.workdir().path().display().to_string(),
        "/var/lib/docker".to_owned(),
        "/var/lib/containerd".to_owned(),
        "/var/lib/containers".to_owned(),
        "/tmp/scrun-it-".to_owned(),
        distro::cache_dir().display().to_string(),
        "/run/containerd".to_owned(),
    ];
    let lines: Vec<String> = all.iter().map(Value::to_string).collect();
    for line in &lines {
        for p in &host_paths {
            assert!(
                !line.contains(p.as_str()),
                "finding names host path {p}: {line}"
            );
        }
    }
    // Google's client is the schema's judge.
    let accepted = scrun_integration::testdata::scc_client_accepts(&all);
    assert_eq!(accepted.len(), all.len(), "{accepted:?}");
}
