//! The default ruleset's cost per exec (`Ruleset::evaluate`), on prepared execs (argv, env,
//! parent and fds already in memory: what the rules engine itself costs; reading them from the
//! process is measured in the supervisor): an exec no rule is interested in, a shell with a
//! parent and fds to check, a `find` with arguments, a busybox applet, a command line with a
//! base64 run, and the build of the ruleset itself (once per supervisor).
//!
//! `cargo bench -p scrun-detect --bench rules`

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use scrun_detect::rules::{
    EventSpec, FdInfo, FdKind, ProcRef, Ruleset, RulesetSpec, StaticSubject,
};

fn ev(path: &str, argv: &[&str]) -> EventSpec {
    EventSpec {
        path: path.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            "HOME=/root".into(),
            "HOSTNAME=web-1".into(),
        ],
        ancestors: vec![ProcRef {
            pid: 1,
            binary: "/usr/bin/bash".into(),
            name: "bash".into(),
        }],
        stdin: Some(FdInfo {
            kind: FdKind::Pipe,
            ..FdInfo::default()
        }),
        stdout: Some(FdInfo {
            kind: FdKind::Pipe,
            ..FdInfo::default()
        }),
        ..EventSpec::default()
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let rs = Ruleset::build(&RulesetSpec {
        default: true,
        ..RulesetSpec::default()
    })
    .unwrap();
    let cases = [
        ("uninteresting (id)", ev("/usr/bin/id", &["id", "-u"])),
        (
            "shell (sh -c, parent + fds)",
            ev("/bin/dash", &["sh", "-c", "ls -l /var/www/html | wc -l"]),
        ),
        (
            "find with arguments",
            ev(
                "/usr/bin/find",
                &["find", "/app", "-name", "*.py", "-newer", "x"],
            ),
        ),
        (
            "busybox applet (ls via /bin/busybox)",
            ev("/bin/busybox", &["ls", "-la", "/tmp"]),
        ),
        (
            "shell with a 200-char base64 run",
            ev(
                "/bin/bash",
                &[
                    "bash",
                    "-c",
                    &format!("echo {} | base64 -d > /tmp/out", "QUJD".repeat(50)),
                ],
            ),
        ),
    ];
    let mut g = c.benchmark_group("rules/default");
    for (name, e) in &cases {
        let mut s = StaticSubject::new(e.clone()).unwrap();
        g.bench_function(*name, |b| {
            b.iter(|| black_box(rs.evaluate(black_box(&mut s), &[])))
        });
    }
    g.finish();
    c.bench_function("rules/build default ruleset (lazy regexes)", |b| {
        b.iter(|| {
            black_box(
                Ruleset::build(&RulesetSpec {
                    default: true,
                    ..RulesetSpec::default()
                })
                .unwrap(),
            )
        })
    });
    c.bench_function(
        "rules/build + warm default ruleset (every regex compiled)",
        |b| {
            b.iter(|| {
                let rs = Ruleset::build(&RulesetSpec {
                    default: true,
                    ..RulesetSpec::default()
                })
                .unwrap();
                rs.warm().unwrap();
                black_box(rs)
            })
        },
    );
    c.bench_function("rules/toml parse of the default file alone", |b| {
        b.iter(|| {
            black_box(toml::from_str::<toml::Value>(scrun_detect::rules::DEFAULT_RULES).unwrap())
        })
    });
    c.final_summary();
}
