//! PipeSink and run_hook_loop with real pipes and shell-script hooks.

use std::fs;
use std::io::{BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::pipe;
use scrun_findings::model::{File, Process};
use scrun_findings::{Category, Finding, HookSpec, PipeSink, Severity, Sink, run_hook_loop};
use std::os::fd::AsRawFd;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn finding(cat: Category, container: &str) -> Finding {
    let mut f = Finding::new(cat, Utc::now());
    f.set_prop(scrun_findings::props::CONTAINER_ID, container);
    f.processes.push(Process {
        name: "evil".into(),
        binary: Some(File {
            path: "/usr/bin/evil".into(),
            sha256: "ab".repeat(32),
            ..File::default()
        }),
        ..Process::default()
    });
    f
}

fn lines(fs: &[&Finding]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fs {
        out.extend(serde_json::to_vec(f).unwrap());
        out.push(b'\n');
    }
    out
}

fn env_of(path: &Path) -> Vec<(String, String)> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn pipe_to_runner_gives_hook_the_finding_and_env() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    let hook = script(
        d.path(),
        "record",
        r#"cat > "$OUT_DIR/$SCRUN_FINDING_ID.json"; env > "$OUT_DIR/$SCRUN_FINDING_ID.env""#,
    );
    let (r, w) = pipe().unwrap();
    let specs = vec![HookSpec::new(&hook)];
    let sink = PipeSink::new(w).unwrap().for_hooks(&specs);
    let f = finding(Category::AddedMaliciousBinaryExecuted, "ctr-1");
    sink.emit(&f).unwrap();
    drop(sink); // EOF for the runner
    let env = vec![
        ("OUT_DIR".to_owned(), out.display().to_string()),
        ("SCRUN_ROOT".to_owned(), "/run/scrun".to_owned()),
    ];
    let stats = run_hook_loop(BufReader::new(fs::File::from(r)), &specs, &env);
    assert_eq!((stats.findings, stats.runs, stats.failed), (1, 1, 0));
    let got: Finding =
        serde_json::from_slice(&fs::read(out.join(format!("{}.json", f.id()))).unwrap()).unwrap();
    assert_eq!(got, f);
    let e = env_of(&out.join(format!("{}.env", f.id())));
    assert_eq!(get(&e, "SCRUN_FINDING_ID"), Some(f.id()));
    assert_eq!(
        get(&e, "SCRUN_CATEGORY"),
        Some("Execution: Added Malicious Binary Executed")
    );
    assert_eq!(get(&e, "SCRUN_SEVERITY"), Some("CRITICAL"));
    assert_eq!(get(&e, "SCRUN_CONTAINER_ID"), Some("ctr-1"));
    assert_eq!(get(&e, "SCRUN_BINARY_PATH"), Some("/usr/bin/evil"));
    assert_eq!(
        get(&e, "SCRUN_BINARY_SHA256"),
        Some("ab".repeat(32).as_str())
    );
    assert_eq!(get(&e, "SCRUN_LIBRARY_PATH"), Some(""));
    assert_eq!(get(&e, "SCRUN_ROOT"), Some("/run/scrun"));
    assert_eq!(get(&e, "PATH"), Some(scrun_findings::hooks::HOOK_PATH));
    // the runner's own environment does not leak into hooks
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    assert_eq!(get(&e, "CARGO_MANIFEST_DIR"), None);
}

#[test]
fn hooks_run_only_on_matching_category_and_severity() {
    let d = tempfile::tempdir().unwrap();
    let log_a = d.path().join("a.log");
    let log_b = d.path().join("b.log");
    let a = script(
        d.path(),
        "a",
        &format!(r#"echo "$SCRUN_CONTAINER_ID" >> '{}'"#, log_a.display()),
    );
    let b = script(
        d.path(),
        "b",
        &format!(r#"echo "$SCRUN_CONTAINER_ID" >> '{}'"#, log_b.display()),
    );
    let specs = vec![
        HookSpec {
            categories: vec![
                "added-binary".into(),
                "Execution: Fileless Execution in /memfd:".into(),
            ],
            ..HookSpec::new(&a)
        },
        HookSpec {
            min_severity: Some(Severity::High),
            ..HookSpec::new(&b)
        },
    ];
    let low = finding(Category::AddedBinaryExecuted, "low-added");
    let memfd = finding(Category::FilelessMemfd, "high-memfd");
    let crit = finding(Category::BuiltInMaliciousBinaryExecuted, "crit-builtin");
    let mut input = lines(&[&low, &memfd, &crit]);
    input.extend_from_slice(b"not json\n\n");
    let stats = run_hook_loop(&input[..], &specs, &[]);
    assert_eq!(stats.findings, 3);
    assert_eq!(stats.skipped, 2);
    assert_eq!(stats.runs, 4);
    assert_eq!(stats.failed, 0);
    assert_eq!(
        fs::read_to_string(&log_a).unwrap(),
        "low-added\nhigh-memfd\n"
    );
    assert_eq!(
        fs::read_to_string(&log_b).unwrap(),
        "high-memfd\ncrit-builtin\n"
    );

    // PipeSink with the same specs forwards only what some hook wants.
    let (r, w) = pipe().unwrap();
    let only_b = PipeSink::new(w).unwrap().for_hooks(&specs[1..]);
    only_b.emit(&low).unwrap();
    only_b.emit(&crit).unwrap();
    assert_eq!(only_b.written(), 1);
    drop(only_b);
    let mut text = String::new();
    fs::File::from(r).read_to_string(&mut text).unwrap();
    let got: Finding = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(got, crit);
}

fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // state is the field after the ")" of the command name
        Ok(s) => !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn hanging_hook_is_killed_with_its_group_and_the_loop_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("pid");
    let done = d.path().join("done");
    let hang = script(
        d.path(),
        "hang",
        &format!("sleep 1000 &\necho $! > '{}'\nwait", pidfile.display()),
    );
    let quick = script(
        d.path(),
        "quick",
        &format!("echo ok >> '{}'", done.display()),
    );
    let fail = script(d.path(), "fail", "exit 3");
    let specs = vec![
        HookSpec {
            timeout: Duration::from_millis(300),
            ..HookSpec::new(&hang)
        },
        HookSpec::new(&quick),
        HookSpec::new(&fail),
        HookSpec::new(d.path().join("missing")),
    ];
    let f = finding(Category::AddedBinaryExecuted, "c");
    let stats = run_hook_loop(&lines(&[&f])[..], &specs, &[]);
    assert_eq!(stats.runs, 4);
    assert_eq!(stats.timed_out, 1);
    assert_eq!(stats.failed, 3, "{stats:?}");
    assert_eq!(fs::read_to_string(&done).unwrap(), "ok\n");
    let pid: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILL is delivered by now; the orphan may still wait to be reaped by init.
    let mut gone = false;
    for _ in 0..200 {
        if !alive(pid) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(gone, "the hook's child {pid} survived the timeout");
}

#[test]
fn pipe_sink_drops_on_a_full_pipe_and_never_mixes_lines() {
    let (r, w) = pipe().unwrap();
    let sink = PipeSink::new(w).unwrap();
    // big enough that the pipe also takes partial lines
    let mut f = finding(Category::AddedBinaryExecuted, "fill");
    f.description = "d".repeat(10_000);
    let mut emitted = 0;
    while sink.dropped() == 0 {
        sink.emit(&f).unwrap();
        emitted += 1;
        assert!(emitted < 100_000, "the pipe never filled");
    }
    assert_eq!(sink.written() + sink.dropped(), emitted);
    let flags = fcntl(r.as_raw_fd(), FcntlArg::F_GETFL).unwrap();
    fcntl(
        r.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut reader = fs::File::from(r);
    let mut drain = |buf: &mut Vec<u8>| {
        let mut chunk = vec![0; 1 << 16];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
    };
    let mut buf = Vec::new();
    drain(&mut buf);
    // Once drained, the next emit first finishes any partial line, then writes its own.
    sink.emit(&f).unwrap();
    drain(&mut buf);
    assert_eq!(buf.last(), Some(&b'\n'));
    let n = buf
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .inspect(|l| {
            serde_json::from_slice::<Finding>(l).unwrap();
        })
        .count() as u64;
    assert_eq!(n, sink.written());
}

#[test]
fn pipe_sink_with_no_reader_drops_without_error() {
    let (r, w) = pipe().unwrap();
    drop(r);
    let sink = PipeSink::new(w).unwrap();
    let f = finding(Category::AddedBinaryExecuted, "x");
    sink.emit(&f).unwrap();
    sink.emit(&f).unwrap();
    assert_eq!((sink.written(), sink.dropped()), (0, 2));
}
