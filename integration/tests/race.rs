//! Enforce mode must hold against a process that races scrun's decision (`tests/data/race.c`,
//! run inside a container whose rootfs is an overlay, as engines make them):
//! - a sibling thread flips the exec path between a benign and a blocked binary;
//! - another process renames the blocked binary over the exec'd path and back;
//! - another process rewrites the exec'd file with the blocked binary's bytes;
//! - another process flips the exec'd file's bytes in place through a shared writable mapping
//!   (no `write(2)`, so no modify event: only the read lease scrun holds on a file whose execs
//!   skip the gate makes that writer wait until the gate is back on the file).
//!
//! Each runs hundreds of execs; the blocked binary must never run (its marker never printed).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use scrun_integration::image::{busybox_rootfs, mount_overlay, sha256_hex};
use scrun_integration::oci::{set_args, write_spec};
use scrun_integration::process::{run_with_timeout, stderr, stdout};
use scrun_integration::runtime::Runtime;
use scrun_integration::testdata::compile_c;
use scrun_integration::workdir::Workdir;

const EVIL_MARK: &str = "SCRUN-RACE-EVIL";
const GOOD_MARK: &str = "SCRUN-RACE-GOOD";
const ITERATIONS: &str = "250";
const EVIL_SHA_LABEL: &str = "race-evil";

struct Fixture {
    wd: Workdir,
    policy_mode: String,
}

fn fixture(policy_mode: &str) -> Fixture {
    let wd = Workdir::new("race").expect("workdir");
    let lower = wd.join("lower");
    busybox_rootfs(&lower).expect("rootfs");
    let busybox = fs::read(lower.join("bin/busybox")).unwrap();
    for (name, mark) in [("busybox-good", GOOD_MARK), ("busybox-evil", EVIL_MARK)] {
        let mut b = busybox.clone();
        b.extend_from_slice(format!("\n{mark}\n").as_bytes());
        let p = lower.join("bin").join(name);
        fs::write(&p, &b).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let evil = fs::read(lower.join("bin/busybox-evil")).unwrap();
    compile_c(
        "race.c",
        &lower.join("bin/race"),
        &["-static", "-O1", "-pthread"],
    );
    // The rootfs is an overlay, like Docker's, containerd's and podman's.
    mount_overlay(&lower, wd.path(), &wd.join("bundle/rootfs")).expect("overlay");
    write_spec(&wd.join("bundle"), &["true"]).expect("bundle spec");
    fs::write(
        wd.join("feed.txt"),
        format!("{} race-evil\n", sha256_hex(&evil)),
    )
    .unwrap();
    fs::write(
        wd.join("scrun.toml"),
        format!(
            "mode = \"{}\"\n[intel]\nfeeds = [\"{}\"]\n[findings]\npath = \"{}\"\n[supervisor]\nhash_cache_dir = \"{}\"\n",
            policy_mode,
            wd.join("feed.txt").display(),
            wd.join("findings.jsonl").display(),
            wd.join("hashcache").display()
        ),
    )
    .unwrap();
    Fixture {
        wd,
        policy_mode: policy_mode.to_string(),
    }
}

impl Fixture {
    /// Run `race <mode> N` in a fresh container: (lines printed, findings decided by the gate).
    fn race(&self, mode: &str) -> (Vec<String>, usize) {
        let (lines, findings) = self.race_findings(mode);
        let gate = findings
            .iter()
            .filter(|l| l.contains("\"scrun_decided_by\":\"exec-gate\""))
            .count();
        (lines, gate)
    }

    /// Run `race <mode> N`: (lines printed, every finding line so far).
    fn race_findings(&self, mode: &str) -> (Vec<String>, Vec<String>) {
        set_args(&self.wd.join("bundle"), &["/bin/race", mode, ITERATIONS]).expect("bundle args");
        let mut cmd = Command::new(Runtime::scrun().path);
        cmd.env("SCRUN_CONFIG", self.wd.join("scrun.toml"))
            .arg("--root")
            .arg(self.wd.join("state"))
            .args(["run", "--bundle"])
            .arg(self.wd.join("bundle"))
            .arg(format!(
                "race-{}-{mode}-{}",
                self.policy_mode,
                std::process::id()
            ));
        let out = run_with_timeout(&mut cmd, 300).expect("scrun run");
        assert!(out.status.success(), "race {mode}: {}", stderr(&out));
        let lines = stdout(&out).lines().map(|l| l.trim().to_string()).collect();
        let findings = fs::read_to_string(self.wd.join("findings.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        (lines, findings)
    }
}

fn count(lines: &[String], what: &str) -> usize {
    lines.iter().filter(|l| l.contains(what)).count()
}

#[test]
fn the_blocked_binary_never_runs_whatever_races_the_decision() {
    let f = fixture("enforce");
    let mut gate_before = 0;
    // The control: with nothing racing, the benign binary runs every time under the gate.
    let (lines, _) = f.race("plain");
    assert_eq!(
        count(&lines, GOOD_MARK),
        ITERATIONS.parse::<usize>().unwrap(),
        "{lines:?}"
    );
    for mode in ["flip", "rename", "write", "mmap"] {
        let (lines, gate) = f.race(mode);
        // Whether the benign binary gets through depends on timing (under load every trial can be
        // denied); the control above proves the gate lets it through when nothing races.
        let (evil, good, denied) = (
            count(&lines, EVIL_MARK),
            count(&lines, GOOD_MARK),
            count(&lines, "denied errno="),
        );
        eprintln!(
            "race {mode}: {} trials, good {good}, denied {denied}, evil {evil}, gate findings {}",
            lines.len(),
            gate - gate_before
        );
        assert_eq!(
            evil,
            0,
            "race {mode}: the blocked binary ran {evil} times:\n{}",
            lines.join("\n")
        );
        assert!(
            denied > 0,
            "race {mode}: nothing was ever denied, the race did not happen"
        );
        gate_before = gate;
    }
    assert!(gate_before > 0, "no exec was ever decided by the exec gate");
}

/// A file whose execs skip the exec gate (decided, leased, ignored by fanotify) goes back under
/// the gate as soon as someone opens it for writing, and that writer is not held up for the
/// kernel's lease-break timeout (45 s) but only until scrun has put the gate back.
#[test]
fn a_vetted_binary_rewritten_in_place_is_decided_again_and_its_writer_is_not_held_up() {
    let f = fixture("enforce");
    let (lines, _) = f.race_findings("lease");
    assert_eq!(
        count(&lines, GOOD_MARK),
        ITERATIONS.parse::<usize>().unwrap(),
        "{lines:?}"
    );
    let wait_ms: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("lease-wait-ms="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no lease-wait-ms line: {lines:?}"));
    eprintln!("open for write of a vetted binary waited {wait_ms} ms");
    assert!(
        wait_ms < 10_000,
        "the writer waited {wait_ms} ms: scrun did not give the lease back on the break"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("denied errno=1"),
        "the rewritten binary was not blocked: {lines:?}"
    );
    assert_eq!(count(&lines, EVIL_MARK), 0, "{lines:?}");
}

/// Audit mode blocks nothing, but it must notice a binary swapped in after its decision: the
/// watcher compares what the kernel opened with what was decided.
#[test]
fn audit_mode_reports_a_file_swapped_after_the_decision() {
    let f = fixture("audit");
    let (lines, findings) = f.race_findings("rename");
    let evil_ran = count(&lines, EVIL_MARK);
    let changed: Vec<&String> = findings
        .iter()
        .filter(|l| l.contains("\"scrun_changed_after_decision\":\"true\""))
        .collect();
    eprintln!(
        "audit rename: evil ran {evil_ran} times, {} findings, {} changed-after-decision",
        findings.len(),
        changed.len()
    );
    assert!(
        evil_ran > 0,
        "the race never put the blocked binary in place; nothing to notice"
    );
    assert!(
        !changed.is_empty(),
        "no finding says a file was swapped after the decision"
    );
    assert!(
        changed.iter().all(|l| l.contains("\"ALLOWED\"")),
        "audit mode blocked something"
    );
    assert!(
        changed
            .iter()
            .any(|l| l.contains("Malicious Binary Executed") && l.contains(EVIL_SHA_LABEL)),
        "no changed-after-decision finding names the malicious binary ({} changed findings)",
        changed.len()
    );
}
