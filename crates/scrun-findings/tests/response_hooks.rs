//! The example response hooks in hooks/response/, run through run_hook_loop as scrun runs them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Utc;
use scrun_findings::model::{File, Process};
use scrun_findings::{Category, Finding, HookSpec, HookStats, run_hook_loop};

fn hook(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../hooks/response")
        .join(name)
}

fn finding(container: &str, path: &str, sha: &str) -> Finding {
    let mut f = Finding::new(Category::AddedMaliciousBinaryExecuted, Utc::now());
    f.set_prop(scrun_findings::props::CONTAINER_ID, container);
    f.processes.push(Process {
        name: "evil".into(),
        binary: Some(File {
            path: path.into(),
            sha256: sha.into(),
            ..File::default()
        }),
        ..Process::default()
    });
    f
}

fn run(name: &str, f: &Finding, env: &[(&str, &Path)]) -> HookStats {
    let mut line = serde_json::to_vec(f).unwrap();
    line.push(b'\n');
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.display().to_string()))
        .collect();
    run_hook_loop(&line[..], &[HookSpec::new(hook(name))], &env)
}

fn sha256_of(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn quarantine_copies_verifies_and_locks_down() {
    let d = tempfile::tempdir().unwrap();
    let rootfs = d.path().join("rootfs");
    let qdir = d.path().join("q");
    fs::create_dir_all(rootfs.join("usr/bin")).unwrap();
    let evil = rootfs.join("usr/bin/evil");
    fs::write(&evil, b"\x7fELF pretend malware").unwrap();
    let other = rootfs.join("usr/bin/other");
    fs::write(&other, b"something else").unwrap();
    let sha = sha256_of(&evil);
    let env = [
        ("SCRUN_ROOTFS", rootfs.as_path()),
        ("SCRUN_QUARANTINE_DIR", qdir.as_path()),
    ];

    let f = finding("c1", "/usr/bin/evil", &sha);
    let stats = run("quarantine", &f, &env);
    assert_eq!((stats.runs, stats.failed), (1, 0));
    let copy = qdir.join(&sha);
    assert_eq!(fs::read(&copy).unwrap(), fs::read(&evil).unwrap());
    assert_eq!(mode(&copy), 0o400);
    let json = qdir.join(format!("{sha}.json"));
    let back: Finding = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    assert_eq!(back, f);
    assert_eq!(mode(&json), 0o400);

    // A second finding for the same file is kept beside the first.
    let f2 = finding("c2", "/usr/bin/evil", &sha.to_uppercase());
    assert_eq!(run("quarantine", &f2, &env).failed, 0);
    let json2 = qdir.join(format!("{sha}.{}.json", f2.id()));
    assert_eq!(
        serde_json::from_slice::<Finding>(&fs::read(&json2).unwrap()).unwrap(),
        f2
    );

    // A file whose content is not the finding's hash is not kept.
    let wrong = finding("c3", "/usr/bin/other", &"0".repeat(64));
    assert_eq!(run("quarantine", &wrong, &env).failed, 1);
    assert!(!qdir.join("0".repeat(64)).exists());

    // A symlink out of the rootfs is refused.
    std::os::unix::fs::symlink("/etc/passwd", rootfs.join("usr/bin/link")).unwrap();
    let esc = finding("c4", "/usr/bin/link", &sha256_of(Path::new("/etc/passwd")));
    assert_eq!(run("quarantine", &esc, &env).failed, 1);
    assert!(!qdir.join(sha256_of(Path::new("/etc/passwd"))).exists());

    // memfd: nothing to copy, not a failure.
    let memfd = finding("c5", "/memfd:x (deleted)", &sha);
    assert_eq!(run("quarantine", &memfd, &env).failed, 0);

    let mut names: Vec<String> = fs::read_dir(&qdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want = vec![
        sha.clone(),
        format!("{sha}.json"),
        format!("{sha}.{}.json", f2.id()),
    ];
    want.sort();
    assert_eq!(names, want, "no temporary files are left behind");
}

#[test]
fn pause_container_runs_scrun_pause() {
    let d = tempfile::tempdir().unwrap();
    let rec = d.path().join("args");
    let fake = d.path().join("scrun");
    fs::write(
        &fake,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", rec.display()),
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let root = d.path().join("state");
    let env = [
        ("SCRUN_BIN", fake.as_path()),
        ("SCRUN_ROOT", root.as_path()),
    ];

    let f = finding("ctr-1.a_b+c", "/usr/bin/evil", &"a".repeat(64));
    let stats = run("pause-container", &f, &env);
    assert_eq!((stats.runs, stats.failed), (1, 0));
    assert_eq!(
        fs::read_to_string(&rec).unwrap(),
        format!("--root\n{}\npause\nctr-1.a_b+c\n", root.display())
    );
    fs::remove_file(&rec).unwrap();

    // An id that could be read as an option is refused; scrun is not run.
    let bad = finding("--help", "/usr/bin/evil", &"a".repeat(64));
    assert_eq!(run("pause-container", &bad, &env).failed, 1);
    assert!(!rec.exists());

    // A failing `scrun pause` makes the hook fail (and the runner log it).
    fs::write(&fake, "#!/bin/sh\nexit 7\n").unwrap();
    assert_eq!(run("pause-container", &f, &env).failed, 1);
}
