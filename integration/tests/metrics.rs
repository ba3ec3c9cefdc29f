//! `scrun metrics`: a container on an overlay rootfs (as engines make it) whose supervisor writes
//! metrics snapshots every second; after known execs, the node totals say exactly how many
//! findings of which category were written and that nothing was blocked; after `delete` the
//! counts survive (folded into `retired.json`) and no supervisor is left; `--textfile` writes the
//! same text atomically.

use std::fs;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use scrun_integration::image::{busybox_rootfs, mount_overlay};
use scrun_integration::oci::write_spec;
use scrun_integration::process::{run_with_timeout, stderr, stdout};
use scrun_integration::runtime::scrun_path;
use scrun_integration::workdir::Workdir;

struct Fx {
    wd: Workdir,
    id: String,
}

impl Fx {
    fn scrun(&self, args: &[&str]) -> Output {
        let mut c = Command::new(scrun_path());
        c.env("SCRUN_CONFIG", self.wd.join("scrun.toml"))
            .arg("--root")
            .arg(self.wd.join("state"))
            .args(args);
        run_with_timeout(&mut c, 60).expect("scrun")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.scrun(args);
        assert!(out.status.success(), "scrun {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// `scrun metrics` as (series, value) pairs.
    fn metrics(&self) -> Vec<(String, String)> {
        self.ok(&["metrics"])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn value(&self, series: &str) -> Option<String> {
        self.metrics()
            .into_iter()
            .find(|(k, _)| k == series)
            .map(|(_, v)| v)
    }

    /// Wait (bounded) until `series` reads `want`.
    fn wait_value(&self, series: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.value(series);
            if got.as_deref() == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series} is {got:?}, want {want}:\n{}",
                self.ok(&["metrics"])
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = self.scrun(&["delete", "--force", &self.id]);
    }
}

const ADDED: &str = "scrun_findings_total{category=\"Execution: Added Binary Executed\"}";

#[test]
fn metrics_count_execs_and_findings_and_survive_the_container() {
    let wd = Workdir::new("metrics").expect("workdir");
    let lower = wd.join("lower");
    busybox_rootfs(&lower).expect("rootfs");
    mount_overlay(&lower, wd.path(), &wd.join("bundle/rootfs")).expect("overlay");
    write_spec(&wd.join("bundle"), &["sleep", "1000"]).expect("bundle spec");
    let metrics_dir = wd.join("metrics");
    fs::write(
        wd.join("scrun.toml"),
        format!(
            "mode = \"audit\"\n[findings]\npath = \"{}\"\n[supervisor]\nhash_cache_dir = \"{}\"\n\
             metrics_dir = \"{}\"\nmetrics_interval_secs = 1\n",
            wd.join("findings.jsonl").display(),
            wd.join("hashcache").display(),
            metrics_dir.display()
        ),
    )
    .unwrap();
    let fx = Fx {
        id: format!("metrics-{}", std::process::id()),
        wd,
    };
    let bundle = fx.wd.join("bundle");
    fx.ok(&["create", "--bundle", bundle.to_str().unwrap(), &fx.id]);
    fx.ok(&["start", &fx.id]);
    // 5 execs of a binary written at run time: 5 Added Binary findings.
    fx.ok(&[
        "exec",
        &fx.id,
        "sh",
        "-c",
        "cp /bin/busybox /tmp/busybox-m; for i in 1 2 3 4 5; do /tmp/busybox-m true; done",
    ]);
    fx.wait_value(ADDED, "5");
    let m = fx.metrics();
    let get = |k: &str| {
        m.iter()
            .find(|(s, _)| s == k)
            .map(|(_, v)| v.parse::<f64>().expect("number"))
            .unwrap_or_else(|| panic!("no {k}"))
    };
    // sh, cp and five /tmp/busybox-m at least (the init's exec may be counted too).
    assert!(get("scrun_execs_total") >= 7.0, "{m:?}");
    assert_eq!(get("scrun_verdicts_total{action=\"blocked\"}"), 0.0);
    assert_eq!(
        get("scrun_decision_seconds_count"),
        get("scrun_execs_total")
    );
    assert!(get("scrun_verdict_cache_hits_total") >= 4.0, "{m:?}");
    assert!(get("scrun_hashed_bytes_total") > 0.0, "{m:?}");
    assert_eq!(get("scrun_supervisors"), 1.0, "the worker: {m:?}");

    // --textfile: the same exposition, written atomically.
    let textfile = fx.wd.join("scrun.prom");
    fx.ok(&["metrics", "--textfile", textfile.to_str().unwrap()]);
    let text = fs::read_to_string(&textfile).unwrap();
    assert!(text.contains(&format!("{ADDED} 5")), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    // After delete the supervisors are gone, their counts stay.
    fx.ok(&["delete", "--force", &fx.id]);
    fx.wait_value("scrun_supervisors", "0");
    assert_eq!(fx.value(ADDED).as_deref(), Some("5"));
    assert!(metrics_dir.join("retired.json").exists());
}
