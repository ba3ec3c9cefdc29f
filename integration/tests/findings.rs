//! Findings people can work with, on a real container (plain OCI bundle, scrun's runc CLI):
//! a compiled feed index replaced while the container runs is picked up without a restart; the
//! finding reaches an HTTP webhook; the two example response hooks (`hooks/response/quarantine`,
//! `hooks/response/pause-container`) act on it; `scrun findings` shows, filters and relates.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use scrun_integration::image::{busybox_rootfs, sha256_hex};
use scrun_integration::oci::write_spec;
use scrun_integration::process::wait_for;
use scrun_integration::process::{run_with_timeout, stderr, stdout};
use scrun_integration::runtime::{scrun_path, workspace_dir};
use scrun_integration::workdir::Workdir;

/// A one-shot HTTP server on 127.0.0.1 that hands each request body to the test.
fn webhook_server() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/scrun/findings", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send((
                request_line.trim().to_string(),
                String::from_utf8_lossy(&body).into_owned(),
            ));
        }
    });
    (url, rx)
}

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

    fn findings_of(&self, sha: &str) -> Vec<serde_json::Value> {
        fs::read_to_string(self.wd.join("findings.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|f| f["processes"][0]["binary"]["sha256"] == sha)
            .collect()
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = self.scrun(&["resume", &self.id]);
        let _ = self.scrun(&["delete", "--force", &self.id]);
    }
}

#[test]
fn index_reload_webhook_response_hooks_and_query_on_a_running_container() {
    let wd = Workdir::new("findings").expect("workdir");
    let rootfs = wd.join("bundle/rootfs");
    busybox_rootfs(&rootfs).expect("rootfs");
    let mut evil = fs::read(rootfs.join("bin/busybox")).unwrap();
    evil.extend_from_slice(b"\nSCRUN-FINDINGS-TEST-EVIL\n");
    fs::write(rootfs.join("bin/busybox-evil"), &evil).unwrap();
    fs::set_permissions(
        rootfs.join("bin/busybox-evil"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let sha = sha256_hex(&evil);
    write_spec(
        &wd.join("bundle"),
        &["sh", "-c", "while :; do sleep 1; done"],
    )
    .expect("bundle spec");

    // Hooks: the shipped quarantine hook (through a wrapper naming the quarantine dir) and the
    // shipped pause-container hook.
    let hooks = workspace_dir().join("hooks/response");
    let qdir = wd.join("quarantine");
    let wrapper = wd.join("quarantine-hook");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nSCRUN_QUARANTINE_DIR={} exec {}\n",
            qdir.display(),
            hooks.join("quarantine").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let (url, requests) = webhook_server();
    let index = wd.join("intel.idx");
    fs::write(
        wd.join("scrun.toml"),
        format!(
            r#"mode = "audit"
[intel]
index = "{index}"
[findings]
path = "{findings}"
[findings.webhook]
url = "{url}"
[[findings.hooks]]
path = "{quarantine}"
categories = ["Execution: Built in Malicious Binary Executed"]
[[findings.hooks]]
path = "{pause}"
min_severity = "CRITICAL"
[supervisor]
hash_cache_dir = "{cache}"
"#,
            index = index.display(),
            findings = wd.join("findings.jsonl").display(),
            quarantine = wrapper.display(),
            pause = hooks.join("pause-container").display(),
            cache = wd.join("hashcache").display(),
        ),
    )
    .unwrap();
    // A first index that does not list the binary (1000 random hashes).
    let benign: String = (0..1000u32)
        .map(|i| format!("{}\n", sha256_hex(&i.to_le_bytes())))
        .collect();
    fs::write(wd.join("old.txt"), benign).unwrap();
    let fx = Fx {
        wd,
        id: format!("findings-{}", std::process::id()),
    };
    let old = format!("old={}", fx.wd.join("old.txt").display());
    fx.ok(&["intel", "compile", "--out", index.to_str().unwrap(), &old]);
    assert!(
        !fx.scrun(&["intel", "lookup", "--index", index.to_str().unwrap(), &sha])
            .status
            .success()
    );

    let bundle = fx.wd.join("bundle");
    // The caller's --log (as containerd passes it): the supervisor must never write there.
    let caller_log = fx.wd.join("create-log.json");
    fx.ok(&[
        "--log",
        caller_log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        &fx.id,
    ]);
    fx.ok(&["start", &fx.id]);
    fx.ok(&["exec", &fx.id, "/bin/busybox-evil", "true"]);
    assert!(
        fx.findings_of(&sha).is_empty(),
        "not in the index yet, yet reported"
    );

    // Replace the index while the container runs: the next exec is judged by the new one.
    fs::write(
        fx.wd.join("bad.txt"),
        format!("# new intel\n{sha} Test.Evil\n"),
    )
    .unwrap();
    let bad = format!("bad={}", fx.wd.join("bad.txt").display());
    fx.ok(&[
        "intel",
        "compile",
        "--out",
        index.to_str().unwrap(),
        &old,
        &bad,
    ]);
    assert!(
        fx.ok(&["intel", "stat", index.to_str().unwrap()])
            .contains("OK")
    );
    assert!(
        fx.ok(&["intel", "lookup", "--index", index.to_str().unwrap(), &sha])
            .contains("bad")
    );
    // The running supervisor re-checks the index at most once a second: exec until an exec is
    // judged by the new index (each exec is a full `scrun exec`, so this does not spin), and
    // fail if that does not happen within 10 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let found = loop {
        fx.ok(&["exec", &fx.id, "/bin/busybox-evil", "true"]);
        let found = fx.findings_of(&sha);
        if !found.is_empty() || std::time::Instant::now() > deadline {
            break found;
        }
    };
    assert_eq!(found.len(), 1, "{found:?}");
    // A library event inside the supervisor (scrun-detect's "intel index reloaded", in the
    // worker) reached the container's log, in create's --log-format, and not the caller's log.
    let reloaded = |text: &str| text.contains("intel index reloaded");
    wait_for("the reload in the container's log", 10, || {
        reloaded(&fx.ok(&["logs", &fx.id]))
    });
    for line in fx.ok(&["logs", &fx.id]).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(
            v["level"].is_string() && v["msg"].is_string() && v["time"].is_string(),
            "{line}"
        );
    }
    let caller = fs::read_to_string(&caller_log).unwrap_or_default();
    assert!(!reloaded(&caller), "in the caller's --log: {caller}");
    let f = &found[0];
    assert_eq!(
        f["category"],
        "Execution: Built in Malicious Binary Executed"
    );
    assert_eq!(f["sourceProperties"]["scrun_feed"], "bad");
    assert_eq!(f["sourceProperties"]["scrun_feed_label"], "Test.Evil");
    let finding_id = f["name"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    // The webhook got the same finding.
    let (line, body) = requests
        .recv_timeout(Duration::from_secs(20))
        .expect("webhook request");
    assert!(line.starts_with("POST /scrun/findings "), "{line}");
    let posted: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(posted["name"], f["name"]);

    // The quarantine hook kept the binary under its SHA-256; the pause hook paused the container.
    let kept = qdir.join(&sha);
    wait_for("the quarantined copy", 20, || kept.exists());
    assert_eq!(sha256_hex(&fs::read(&kept).unwrap()), sha);
    assert!(qdir.join(format!("{sha}.json")).exists());
    wait_for("the container to be paused by the hook", 20, || {
        fx.ok(&["state", &fx.id]).contains("\"paused\"")
    });
    fx.ok(&["resume", &fx.id]);

    // The query: table, filters, related, JSON.
    let file = fx.wd.join("findings.jsonl");
    let table = fx.ok(&["findings", "--file", file.to_str().unwrap()]);
    assert!(
        table.contains("CATEGORY") && table.contains(&finding_id[..12]),
        "{table}"
    );
    let filtered = fx.ok(&[
        "findings",
        "--file",
        file.to_str().unwrap(),
        "--category",
        "added-binary",
        "--json",
    ]);
    assert!(filtered.trim().is_empty(), "{filtered}");
    let related = fx.ok(&[
        "findings",
        "--file",
        file.to_str().unwrap(),
        "--related",
        &finding_id[..12],
        "--json",
    ]);
    assert!(related.contains(&finding_id), "{related}");
    let by_container = fx.ok(&[
        "findings",
        "--file",
        file.to_str().unwrap(),
        "--container",
        &fx.id,
        "--json",
    ]);
    assert_eq!(by_container.lines().count(), 1, "{by_container}");
}
