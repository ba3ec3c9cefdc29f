//! The test programs and checkers in `integration/tests/data`: C helpers compiled for a test,
//! and Google's own SCC client as the judge of finding JSON.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{stderr, stdout};

/// `integration/tests/data/NAME`.
pub fn data_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// `gcc ARGS -o OUT tests/data/SRC`; panics with gcc's message when it fails (`.ci/run` installs
/// gcc and libc6-dev). Returns the program's bytes.
pub fn compile_c(src: &str, out: &Path, args: &[&str]) -> Vec<u8> {
    let src = data_file(src);
    let o = Command::new("gcc")
        .args(args)
        .arg("-o")
        .arg(out)
        .arg(&src)
        .output()
        .expect("gcc (install gcc and libc6-dev, see .ci/run)");
    assert!(o.status.success(), "gcc {}: {}", src.display(), stderr(&o));
    std::fs::read(out).unwrap_or_else(|e| panic!("read {}: {e}", out.display()))
}

/// Feeds `findings` (one JSON object each) to `tests/data/scc_check.py`, which parses each with
/// Google's `google-cloud-securitycenter` client (`Finding.from_json(...,
/// ignore_unknown_fields=False)`, in the venv `scripts/install-deps.sh` makes, or
/// `$SCRUN_TEST_VENV`). Panics when the client rejects one; returns its `ok <category>` lines.
pub fn scc_client_accepts(findings: &[serde_json::Value]) -> Vec<String> {
    let python = std::env::var_os("SCRUN_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/scrun-test-venv"))
        .join("bin/python");
    let input: Vec<String> = findings.iter().map(ToString::to_string).collect();
    let result = crate::run_with_input(
        Command::new(python).arg(data_file("scc_check.py")),
        Some(input.join("\n").as_bytes()),
        120,
    )
    .expect("run Google's SCC client (scripts/install-deps.sh makes the venv)");
    assert!(
        result.status.success(),
        "Google's SCC v2 client rejected findings:\n{}{}",
        stdout(&result),
        stderr(&result)
    );
    stdout(&result)
        .lines()
        .filter(|l| l.starts_with("ok "))
        .map(str::to_owned)
        .collect()
}
