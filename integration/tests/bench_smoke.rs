//! The Docker benchmark (`bench/docker.sh`) in its smoke mode (`-s`: one storm round of 5 execs
//! per workload, 2 latency runs, 3 concurrent containers x 20 execs), so the harness keeps
//! working; the full run is too long for the test suite.

use std::process::Command;

use scrun_integration::distro;
use scrun_integration::process::{run_with_timeout, stderr, stdout};
use scrun_integration::runtime::{scrun_path, workspace_dir};
use scrun_integration::workdir::reaper_path;

#[test]
fn docker_bench_smoke_mode_reports_every_table_and_loses_no_finding() {
    let tar = distro::debian_rootfs().expect("Debian image");
    let out = run_with_timeout(
        Command::new(workspace_dir().join("bench/docker.sh"))
            .arg("-s")
            .env("SCRUN", scrun_path())
            .env("IMAGE_TAR", tar)
            .env("SCRUN_IT_REAPER", reaper_path().expect("reaper"))
            .env("BENCH_NICE", "0"),
        900,
    )
    .expect("bench/docker.sh -s");
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "bench/docker.sh -s failed:\n{text}\n{}",
        stderr(&out)
    );
    for want in [
        "| `/bin/true` |",
        "| `sh -c :` |",
        "| `python3 -c pass` |",
        "Findings written during the storm (benign image binaries): 0",
        "`docker run --rm IMAGE /bin/true`",
        "| 60 | 60 | **0** | 0 | 3/3 | 6 |",
        "lost findings: 0",
    ] {
        assert!(text.contains(want), "no {want:?} in the report:\n{text}");
    }
}
