//! Hostile and unusual exec calls (a static C program, `tests/data/hostile.c`, built here): a bad
//! path or argv pointer, a path longer than PATH_MAX, a path without NUL before an unmapped page,
//! 100 000 arguments, invalid UTF-8, `execveat` with a dirfd, with `AT_EMPTY_PATH`, and from a
//! memfd. Under scrun each one must end exactly as under runc (the supervisor answers the way the
//! kernel would), the supervisor must survive all of them, and the memfd exec must be reported.

use std::fs;
use std::process::Command;

use scrun_integration::image::busybox_rootfs;
use scrun_integration::oci::{set_args, write_spec};
use scrun_integration::process::{run_with_timeout, stdout};
use scrun_integration::runtime::{Runtime, differential};
use scrun_integration::testdata::compile_c;
use scrun_integration::workdir::Workdir;

struct Fixture {
    wd: Workdir,
}

fn fixture() -> Fixture {
    fixture_with("mode = \"audit\"\n")
}

fn fixture_with(policy: &str) -> Fixture {
    let wd = Workdir::new("hostile").expect("workdir");
    let rootfs = wd.join("bundle/rootfs");
    busybox_rootfs(&rootfs).expect("rootfs");
    compile_c(
        "hostile.c",
        &rootfs.join("bin/hostile"),
        &["-static", "-O1"],
    );
    write_spec(&wd.join("bundle"), &["true"]).expect("bundle spec");
    fs::write(
        wd.join("scrun.toml"),
        format!(
            "{policy}[findings]\npath = \"{}\"\n[supervisor]\nhash_cache_dir = \"{}\"\n",
            wd.join("findings.jsonl").display(),
            wd.join("hashcache").display()
        ),
    )
    .unwrap();
    Fixture { wd }
}

impl Fixture {
    fn set_args(&self, args: &[&str]) {
        set_args(&self.wd.join("bundle"), args).expect("bundle args");
    }

    /// `run` the bundle under a runtime: (exit code, stdout).
    fn run(&self, rt: &Runtime, id: &str) -> (i32, String) {
        let mut cmd = Command::new(&rt.path);
        cmd.env("SCRUN_CONFIG", self.wd.join("scrun.toml"))
            .arg("--root")
            .arg(self.wd.join(format!("state-{}", rt.name)))
            .args(["run", "--bundle"])
            .arg(self.wd.join("bundle"))
            .arg(id);
        let out = run_with_timeout(&mut cmd, 60).expect("run");
        (
            out.status.code().unwrap_or(-1),
            stdout(&out).trim().to_string(),
        )
    }
}

#[test]
fn hostile_exec_calls_end_as_under_runc_and_the_supervisor_survives() {
    let f = fixture();
    let cases = [
        ("badptr", "badptr rc=-1 errno=EFAULT"),
        ("badargv", "badargv rc=-1 errno=EFAULT"),
        ("longpath", "longpath rc=-1 errno=ENAMETOOLONG"),
        ("nonul", "nonul rc=-1 errno=EFAULT"),
        ("manyargs", ""),
        ("badutf8", "\u{fffd}\u{fffd}-exec-ok"),
        ("dirfd", "exec-ok"),
        ("emptypath", "exec-ok"),
        ("memfd", "exec-ok"),
    ];
    for (i, (mode, want)) in cases.iter().enumerate() {
        f.set_args(&["/bin/hostile", mode]);
        let (code, out) = differential(&format!("hostile exec: {mode}"), |rt| {
            f.run(rt, &format!("h{i}-{}", std::process::id()))
        });
        assert_eq!(code, 0, "{mode}: exit code {code}, output {out:?}");
        let out = String::from_utf8_lossy(out.as_bytes()).into_owned();
        assert!(
            out.contains(want) || (want.contains('\u{fffd}') && out.ends_with("-exec-ok")),
            "{mode}: want {want:?}, got {out:?}"
        );
    }
    // The memfd exec was reported as fileless execution.
    let findings = fs::read_to_string(f.wd.join("findings.jsonl")).unwrap_or_default();
    let memfd: Vec<&str> = findings
        .lines()
        .filter(|l| l.contains("Fileless Execution in /memfd:"))
        .collect();
    assert_eq!(memfd.len(), 1, "findings: {findings}");
    assert!(memfd[0].contains("\"ALLOWED\""), "{}", memfd[0]);
    // The 100 000-argument exec was not reported (benign) and nothing crashed: a last container
    // still runs and is supervised (its exec works).
    f.set_args(&["/bin/busybox", "echo", "still-supervised"]);
    let (code, out) = f.run(&Runtime::scrun(), &format!("h-last-{}", std::process::id()));
    assert_eq!((code, out.as_str()), (0, "still-supervised"));
}

/// Enforce mode: a memfd whose content a feed lists is not executed (`actions.memfd_malicious`).
#[test]
fn malicious_memfd_is_blocked_in_enforce_mode() {
    // The memfd gets a copy of /bin/busybox: list busybox's hash as malicious.
    let sha = scrun_integration::image::sha256_hex(&fs::read("/bin/busybox").unwrap());
    let feed = std::env::temp_dir().join(format!("scrun-memfd-feed-{}", std::process::id()));
    fs::write(&feed, format!("{sha} test-memfd\n")).unwrap();
    let f = fixture_with(&format!(
        "mode = \"enforce\"\n[allow]\npaths = [\"/bin/*\"]\n[intel]\nfeeds = [\"{}\"]\n",
        feed.display()
    ));
    f.set_args(&["/bin/hostile", "memfd"]);
    let (code, out) = f.run(&Runtime::scrun(), &format!("hm-{}", std::process::id()));
    let _ = fs::remove_file(&feed);
    assert_eq!((code, out.as_str()), (0, "memfd rc=-1 errno=EPERM"));
    let findings = fs::read_to_string(f.wd.join("findings.jsonl")).unwrap_or_default();
    let memfd: Vec<&str> = findings
        .lines()
        .filter(|l| l.contains("Fileless Execution in /memfd:"))
        .collect();
    assert_eq!(memfd.len(), 1, "{findings}");
    assert!(
        memfd[0].contains("\"BLOCKED\"") && memfd[0].contains("test-memfd"),
        "{}",
        memfd[0]
    );
}
