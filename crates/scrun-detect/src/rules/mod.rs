//! Exec-time rules: readable TOML data (`default.toml` ships inside the binary; more files are
//! named by `[rules] files`), compiled once per ruleset, evaluated on every exec after the
//! provenance/hash decision.
//!
//! A rule has a stable id, an SCC category (display and API name), a severity, a MITRE mapping,
//! a condition ([`condition::CondSpec`]), structured exceptions (conditions that suppress it)
//! and an action (`report`, `block`, `off`) that audit mode turns into `report`. Rules are
//! indexed by the invoked names and hashes their conditions require, so an exec is matched only
//! against the rules that could fire for it, and what a rule reads beyond the path, name, hash
//! and provenance (argv, environment, ancestry, fd 0/1/2) is fetched only when such a rule is a
//! candidate.

pub mod ancestry;
pub mod condition;
pub mod container;
pub mod urls;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use scrun_findings::{MitreAttack, Severity, Tactic, Technique, catalogue};
use serde::{Deserialize, Serialize};

pub use crate::policy::RuleAction;
pub use condition::{Captures, Cond, CondSpec, Needs};
pub use container::{ContainerRules, SharedRuleset};
pub use urls::UrlSet;

use crate::event::ContainerIdentity;

/// The default ruleset (source of truth for what scrun detects beyond provenance).
pub const DEFAULT_RULES: &str = include_str!("default.toml");
/// The source name of the default ruleset in listings and errors.
pub const DEFAULT_SOURCE: &str = "<default>";
/// The container label (or annotation) prefix of per-container rule actions:
/// `scrun.rule.<ID>=report|block|off`.
pub const LABEL_PREFIX: &str = "scrun.rule.";

/// What fd 0, 1 or 2 of the exec'ing process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FdKind {
    /// A pipe or FIFO.
    Pipe,
    /// A regular file or directory.
    File,
    /// A terminal (`/dev/pts/*`, `/dev/tty*`, `/dev/console`).
    Tty,
    /// `/dev/null` or another character device.
    Null,
    /// A unix-domain socket.
    Unix,
    /// A TCP or UDP socket with a peer (connected), loopback included.
    Inet,
    /// Any socket (in a condition); a socket of another kind (in a fact).
    Socket,
    /// Not open.
    Closed,
    /// Could not be told.
    #[default]
    Unknown,
}

/// One of fd 0/1/2 of the exec'ing process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FdInfo {
    /// Its kind.
    pub kind: FdKind,
    /// The socket's local address (inet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<SocketAddr>,
    /// The socket's peer address (inet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<SocketAddr>,
}

/// A process in the exec'ing process's ancestry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProcRef {
    /// Its pid.
    #[serde(default)]
    pub pid: i64,
    /// Its binary.
    #[serde(default)]
    pub binary: String,
    /// The name it was invoked by.
    #[serde(default)]
    pub name: String,
}

/// The exec a ruleset is evaluated on. Accessors taking `&mut self` are lazy: they read the
/// process only when a candidate rule needs them, and at most once.
pub trait Subject {
    /// The exec path as passed to the syscall.
    fn requested(&self) -> &str;
    /// The resolved binary (in-container path).
    fn path(&self) -> &str;
    /// Its SHA-256, when hashed.
    fn sha256(&self) -> Option<[u8; 32]>;
    /// `built-in`, `added`, `modified`, `memfd` or `unknown`.
    fn provenance(&self) -> &str;
    /// The container.
    fn container(&self) -> &ContainerIdentity;
    /// argv (`argv[0]` first).
    fn argv(&mut self) -> &[String];
    /// The environment.
    fn env(&mut self) -> &[(String, String)];
    /// The parent.
    fn parent(&mut self) -> Option<&ProcRef>;
    /// Parent first, up to the container's first process.
    fn ancestors(&mut self) -> &[ProcRef];
    /// fd 0, 1 or 2.
    fn stdio(&mut self, fd: u8) -> FdInfo;
}

/// An error in a rule file: the file, the line and the rule.
#[derive(Debug, thiserror::Error)]
#[error("invalid rule file {file} line {line}{}: {message}", rule.as_ref().map(|r| format!(" (rule {r})")).unwrap_or_default())]
pub struct RuleError {
    /// The file (or `<default>`).
    pub file: String,
    /// 1-based line (0: unknown).
    pub line: usize,
    /// The rule id, when the error is inside a rule.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn de_severity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Severity>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| s.parse::<Severity>().map_err(serde::de::Error::custom))
        .transpose()
}

/// One `[[rule]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable id, e.g. `SCRUN-REVERSE-SHELL`.
    pub id: toml::Spanned<String>,
    /// The SCC category: a catalogue display name or API name, or any string with `api_name`.
    pub category: String,
    /// The API name (needed for categories outside the catalogue).
    #[serde(default)]
    pub api_name: Option<String>,
    /// Severity (default: the catalogue's).
    #[serde(default, deserialize_with = "de_severity")]
    pub severity: Option<Severity>,
    /// MITRE primary tactic (SCC enum, e.g. `EXECUTION`).
    pub tactic: String,
    /// MITRE primary techniques (SCC enum, e.g. `UNIX_SHELL`).
    #[serde(default)]
    pub techniques: Vec<String>,
    /// Additional tactics.
    #[serde(default)]
    pub additional_tactics: Vec<String>,
    /// Additional techniques.
    #[serde(default)]
    pub additional_techniques: Vec<String>,
    /// Finding description (the exec's details are appended).
    pub description: String,
    /// Finding next steps.
    #[serde(default)]
    pub next_steps: String,
    /// Action in enforce mode (default `report`).
    #[serde(default)]
    pub action: RuleAction,
    /// When it fires.
    pub when: CondSpec,
    /// When it does not, even if `when` holds.
    #[serde(default)]
    pub exceptions: Vec<CondSpec>,
}

/// `[settings]` of a rule file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsSpec {
    /// Multi-call binaries (their `argv[0]` / applet argument is an invoked name too).
    #[serde(default)]
    pub multicall: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    settings: Option<SettingsSpec>,
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable id.
    pub id: String,
    /// The exact SCC category string.
    pub category: String,
    /// Its API name (`CLOUD_RUN_…` for catalogue categories).
    pub api_name: String,
    /// Severity.
    pub severity: Severity,
    /// MITRE mapping.
    pub mitre: MitreAttack,
    /// Description.
    pub description: String,
    /// Next steps.
    pub next_steps: String,
    /// Action in enforce mode, after config overrides.
    pub action: RuleAction,
    /// The file it came from (`<default>` for the built-in ruleset).
    pub source: String,
    /// Its line there.
    pub line: usize,
    when: Cond,
    exceptions: Vec<Cond>,
    /// What it reads.
    pub needs: Needs,
}

/// Ruleset-wide settings the conditions consult.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Multi-call binary names.
    pub multicall: HashSet<String>,
    /// The URL feeds (none: `url_in_feed` never holds and its rules are not candidates).
    pub urls: Option<Arc<UrlSet>>,
    /// Proxies `proxy_env_disallowed` accepts.
    pub allowed_proxies: Vec<String>,
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Index into [`Ruleset::rules`].
    pub rule: usize,
    /// The action in effect (before the audit-mode cap).
    pub action: RuleAction,
    /// What it saw.
    pub captures: Captures,
}

/// Compiled rules, indexed.
#[derive(Debug, Default)]
pub struct Ruleset {
    rules: Vec<Rule>,
    by_name: HashMap<String, Vec<usize>>,
    by_hash: HashMap<[u8; 32], Vec<usize>>,
    /// Rules whose name condition has glob/regex entries (checked on every exec, cheaply).
    by_name_pattern: Vec<usize>,
    /// Rules with no name or hash requirement.
    global: Vec<usize>,
    settings: Settings,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The id of the `[[rule]]` around byte `offset`, found textually (for serde errors).
fn rule_id_near(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())].rfind("[[rule]]")?;
    let rest = &text[start..];
    let end = rest[8..].find("[[rule]]").map_or(rest.len(), |e| e + 8);
    rest[..end].lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "id").then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn parse_enum<T: serde::de::DeserializeOwned + PartialEq + Default>(
    s: &str,
    what: &str,
) -> Result<T, String> {
    let v: T = serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase()))
        .map_err(|e| format!("{what} {s:?}: {e}"))?;
    if v == T::default() {
        return Err(format!(
            "unknown MITRE {what} {s:?} (use the SCC enum name)"
        ));
    }
    Ok(v)
}

impl RuleSpec {
    fn compile(&self, source: &str, line: usize) -> Result<Rule, String> {
        // The built-in ruleset's patterns are compiled by a unit test; skip re-checking them on
        // every container start.
        let check = source != DEFAULT_SOURCE;
        let id = self.id.get_ref().trim();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(format!(
                "rule id {id:?} must be non-empty letters, digits, '-', '_' or '.'"
            ));
        }
        let known = catalogue::lookup(&self.category);
        let (category, api_name, default_severity) = match (known, &self.api_name) {
            (Some(c), _) => (
                c.display.to_owned(),
                c.cloud_run_api_name(),
                Some(c.severity),
            ),
            (None, Some(api)) => (self.category.clone(), api.clone(), None),
            (None, None) => {
                return Err(format!(
                    "category {:?} is not a Cloud Run category scrun knows: give api_name too",
                    self.category
                ));
            }
        };
        let severity = self
            .severity
            .or(default_severity)
            .ok_or("severity is required for a category outside the catalogue")?;
        let mitre = MitreAttack {
            primary_tactic: parse_enum::<Tactic>(&self.tactic, "tactic")?,
            primary_techniques: self
                .techniques
                .iter()
                .map(|t| parse_enum::<Technique>(t, "technique"))
                .collect::<Result<_, _>>()?,
            additional_tactics: self
                .additional_tactics
                .iter()
                .map(|t| parse_enum::<Tactic>(t, "tactic"))
                .collect::<Result<_, _>>()?,
            additional_techniques: self
                .additional_techniques
                .iter()
                .map(|t| parse_enum::<Technique>(t, "technique"))
                .collect::<Result<_, _>>()?,
            version: scrun_findings::model::MITRE_VERSION.to_owned(),
        };
        let when = self
            .when
            .compile_checked(check)
            .map_err(|e| format!("when.{e}"))?;
        let exceptions = self
            .exceptions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.compile_checked(check)
                    .map_err(|e| format!("exceptions[{i}].{e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut needs = Needs::default();
        when.needs(&mut needs);
        exceptions.iter().for_each(|c| c.needs(&mut needs));
        Ok(Rule {
            id: id.to_owned(),
            category,
            api_name,
            severity,
            mitre,
            description: self.description.clone(),
            next_steps: self.next_steps.clone(),
            action: self.action,
            source: source.to_owned(),
            line,
            when,
            exceptions,
            needs,
        })
    }
}

/// Parses and compiles one rule file's text.
pub fn parse_rules(text: &str, source: &str) -> Result<(Vec<Rule>, SettingsSpec), RuleError> {
    let file: RuleFile = toml::from_str(text).map_err(|e: toml::de::Error| {
        let off = e.span().map_or(0, |r| r.start);
        RuleError {
            file: source.to_owned(),
            line: e.span().map_or(0, |r| line_of(text, r.start)),
            rule: e.span().and_then(|_| rule_id_near(text, off)),
            message: e.message().trim_end_matches('\n').to_owned(),
        }
    })?;
    let mut rules = Vec::new();
    for spec in &file.rule {
        let line = line_of(text, spec.id.span().start);
        let rule = spec.compile(source, line).map_err(|message| RuleError {
            file: source.to_owned(),
            line,
            rule: Some(spec.id.get_ref().clone()),
            message,
        })?;
        rules.push(rule);
    }
    Ok((rules, file.settings.unwrap_or_default()))
}

/// What a ruleset is built from (the `[rules]` config section and the URL feeds).
#[derive(Debug, Clone, Default)]
pub struct RulesetSpec {
    /// Include the built-in ruleset.
    pub default: bool,
    /// More rule files (a later rule with an id already loaded replaces it).
    pub files: Vec<PathBuf>,
    /// Per-rule action overrides (`[rules.actions]`).
    pub actions: BTreeMap<String, RuleAction>,
    /// Proxies that `proxy_env_disallowed` accepts.
    pub allowed_proxies: Vec<String>,
    /// URL feeds.
    pub url_feeds: Vec<PathBuf>,
}

impl RulesetSpec {
    /// The ruleset the config's `[rules]` and `[intel] url_feeds` describe.
    pub fn from_config(config: &crate::policy::Config) -> RulesetSpec {
        RulesetSpec {
            default: config.rules.default,
            files: config.rules.files.clone(),
            actions: config.rules.actions.clone(),
            allowed_proxies: config.rules.allowed_proxies.clone(),
            url_feeds: config.intel.url_feeds.clone(),
        }
    }
}

impl Ruleset {
    /// Builds the ruleset `spec` describes: the default rules, then each file, then the action
    /// overrides. Any error (a malformed file, an unknown rule id in `actions`, an unreadable
    /// feed) fails the whole ruleset.
    pub fn build(spec: &RulesetSpec) -> Result<Ruleset, RuleError> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut multicall = HashSet::new();
        let mut add = |text: &str, source: &str| -> Result<(), RuleError> {
            let (new, settings) = parse_rules(text, source)?;
            multicall.extend(settings.multicall);
            for r in new {
                match rules.iter_mut().find(|x| x.id == r.id) {
                    Some(old) if old.source == r.source => {
                        return Err(RuleError {
                            file: source.to_owned(),
                            line: r.line,
                            rule: Some(r.id.clone()),
                            message: format!("duplicate rule id (also line {})", old.line),
                        });
                    }
                    Some(old) => *old = r,
                    None => rules.push(r),
                }
            }
            Ok(())
        };
        if spec.default {
            add(DEFAULT_RULES, DEFAULT_SOURCE)?;
        }
        for f in &spec.files {
            let source = f.display().to_string();
            let text = std::fs::read_to_string(f).map_err(|e| RuleError {
                file: source.clone(),
                line: 0,
                rule: None,
                message: format!("cannot read: {e}"),
            })?;
            add(&text, &source)?;
        }
        for (id, action) in &spec.actions {
            let r = rules
                .iter_mut()
                .find(|r| &r.id == id)
                .ok_or_else(|| RuleError {
                    file: "config [rules.actions]".into(),
                    line: 0,
                    rule: Some(id.clone()),
                    message: "no rule has this id".into(),
                })?;
            r.action = *action;
        }
        let urls = if spec.url_feeds.is_empty() {
            None
        } else {
            Some(Arc::new(UrlSet::load(&spec.url_feeds).map_err(|e| {
                RuleError {
                    file: e.path.display().to_string(),
                    line: 0,
                    rule: None,
                    message: e.cause.to_string(),
                }
            })?))
        };
        let settings = Settings {
            multicall,
            urls,
            allowed_proxies: spec.allowed_proxies.clone(),
        };
        Ok(Ruleset::index(rules, settings))
    }

    /// The built-in ruleset alone, with default settings.
    pub fn default_rules() -> Ruleset {
        Ruleset::build(&RulesetSpec {
            default: true,
            ..RulesetSpec::default()
        })
        .expect("the built-in ruleset compiles (unit-tested)")
    }

    fn index(rules: Vec<Rule>, settings: Settings) -> Ruleset {
        let mut rs = Ruleset {
            settings,
            ..Ruleset::default()
        };
        for (i, r) in rules.iter().enumerate() {
            match r.when.keys() {
                Some((names, globs, hashes)) => {
                    for n in names {
                        rs.by_name.entry(n).or_default().push(i);
                    }
                    for h in hashes {
                        rs.by_hash.entry(h).or_default().push(i);
                    }
                    if globs {
                        rs.by_name_pattern.push(i);
                    }
                }
                None => rs.global.push(i),
            }
        }
        rs.rules = rules;
        rs
    }

    /// Compiles every rule's regular expressions now (they are otherwise compiled on first
    /// use): the supervisor does it on a background thread so no exec waits for a compile, and
    /// `scrun rules test` does it to report patterns too large to compile.
    pub fn warm(&self) -> Result<(), RuleError> {
        for r in &self.rules {
            r.when
                .force()
                .and_then(|()| r.exceptions.iter().try_for_each(|c| c.force()))
                .map_err(|message| RuleError {
                    file: r.source.clone(),
                    line: r.line,
                    rule: Some(r.id.clone()),
                    message,
                })?;
        }
        Ok(())
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Effective actions for a container: each rule's action, overridden by the container's
    /// `scrun.rule.<ID>` label (labels with unknown values are reported as errors).
    pub fn actions_for(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<RuleAction>, String> {
        let mut out: Vec<RuleAction> = self.rules.iter().map(|r| r.action).collect();
        for (k, v) in labels {
            let Some(id) = k.strip_prefix(LABEL_PREFIX) else {
                continue;
            };
            let action: RuleAction = v.parse().map_err(|e| format!("label {k}: {e}"))?;
            if let Some(i) = self.rules.iter().position(|r| r.id == id) {
                out[i] = action;
            }
        }
        Ok(out)
    }

    /// The invoked names of an exec: the basenames of the exec path and of the resolved
    /// binary, plus for multi-call binaries `argv[0]`'s basename and (for `busybox APPLET`) the
    /// applet.
    pub fn invoked_names(&self, s: &mut dyn Subject) -> Vec<String> {
        let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
        let mut names = vec![base(s.requested())];
        let resolved = base(s.path());
        if resolved != names[0] {
            names.push(resolved);
        }
        // argv[0] picks a multi-call binary's applet only when it was exec'd under its own name
        // (`busybox nc`, or `/proc/self/exe` as busybox's shell re-execs itself); an applet link
        // (`/bin/nc` -> busybox) already names the applet, and its argv is not read for this.
        if self.settings.multicall.contains(&names[0]) || names[0] == "exe" {
            let argv = s.argv();
            if let Some(a0) = argv.first().map(|a| base(a)) {
                let applet = if self.settings.multicall.contains(&a0) {
                    argv.get(1).map(|a| base(a))
                } else {
                    None
                };
                for n in [Some(a0), applet].into_iter().flatten() {
                    if !n.is_empty() && !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
        names
    }

    /// The rules that could fire for an exec with these names and hash, in load order.
    fn candidates(
        &self,
        names: &[String],
        sha: Option<[u8; 32]>,
        actions: &[RuleAction],
    ) -> Vec<usize> {
        let mut c: Vec<usize> = self.global.clone();
        for n in names {
            if let Some(l) = self.by_name.get(n) {
                c.extend_from_slice(l);
            }
        }
        if let Some(h) = sha.and_then(|h| self.by_hash.get(&h)) {
            c.extend_from_slice(h);
        }
        c.extend_from_slice(&self.by_name_pattern);
        c.sort_unstable();
        c.dedup();
        c.retain(|&i| {
            actions.get(i).copied().unwrap_or(self.rules[i].action) != RuleAction::Off
                && (!self.rules[i].needs.urls || self.settings.urls.is_some())
        });
        c
    }

    /// Evaluates the ruleset on one exec; `actions` from [`Ruleset::actions_for`] (empty: the
    /// rules' own).
    pub fn evaluate(&self, s: &mut dyn Subject, actions: &[RuleAction]) -> Vec<Hit> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let names = self.invoked_names(s);
        let candidates = self.candidates(&names, s.sha256(), actions);
        if candidates.is_empty() {
            return Vec::new();
        }
        let mut cx = condition::Ctx {
            subject: s,
            names,
            settings: &self.settings,
            args_line: None,
            decoded: None,
            urls: None,
        };
        let mut hits = Vec::new();
        for i in candidates {
            let rule = &self.rules[i];
            let mut cap = Captures::default();
            if !rule.when.eval(&mut cx, &mut cap) {
                continue;
            }
            if rule
                .exceptions
                .iter()
                .any(|e| e.eval(&mut cx, &mut Captures::default()))
            {
                continue;
            }
            hits.push(Hit {
                rule: i,
                action: actions.get(i).copied().unwrap_or(rule.action),
                captures: cap,
            });
        }
        hits
    }
}

/// An exec given as data (for `scrun rules test --events` and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSpec {
    /// The exec path (default: `path`).
    pub requested: Option<String>,
    /// The resolved binary.
    pub path: String,
    /// argv.
    pub argv: Vec<String>,
    /// `NAME=VALUE` entries.
    pub env: Vec<String>,
    /// SHA-256 hex.
    pub sha256: Option<String>,
    /// Provenance (default `built-in`).
    pub provenance: Option<String>,
    /// Parent first.
    pub ancestors: Vec<ProcRef>,
    /// fd 0.
    pub stdin: Option<FdInfo>,
    /// fd 1.
    pub stdout: Option<FdInfo>,
    /// fd 2.
    pub stderr: Option<FdInfo>,
    /// The image.
    pub image: String,
    /// Container name.
    pub container: String,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
}

/// An [`EventSpec`] made ready to evaluate.
#[derive(Debug, Clone)]
pub struct StaticSubject {
    spec: EventSpec,
    env: Vec<(String, String)>,
    sha: Option<[u8; 32]>,
    identity: ContainerIdentity,
}

impl StaticSubject {
    /// Prepares `spec` (an invalid `sha256` is an error).
    pub fn new(spec: EventSpec) -> Result<StaticSubject, String> {
        let sha = match &spec.sha256 {
            Some(h) => Some(
                crate::feeds::parse_sha256(h).ok_or_else(|| format!("sha256 {h:?} is not hex"))?,
            ),
            None => None,
        };
        let env = spec
            .env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv.clone(), String::new()),
            })
            .collect();
        let identity = ContainerIdentity {
            id: spec.container.clone(),
            name: spec.container.clone(),
            image_uri: spec.image.clone(),
            labels: spec.labels.clone(),
            ..ContainerIdentity::default()
        };
        Ok(StaticSubject {
            spec,
            env,
            sha,
            identity,
        })
    }
}

impl Subject for StaticSubject {
    fn requested(&self) -> &str {
        self.spec.requested.as_deref().unwrap_or(&self.spec.path)
    }
    fn path(&self) -> &str {
        &self.spec.path
    }
    fn sha256(&self) -> Option<[u8; 32]> {
        self.sha
    }
    fn provenance(&self) -> &str {
        self.spec.provenance.as_deref().unwrap_or("built-in")
    }
    fn container(&self) -> &ContainerIdentity {
        &self.identity
    }
    fn argv(&mut self) -> &[String] {
        &self.spec.argv
    }
    fn env(&mut self) -> &[(String, String)] {
        &self.env
    }
    fn parent(&mut self) -> Option<&ProcRef> {
        self.spec.ancestors.first()
    }
    fn ancestors(&mut self) -> &[ProcRef] {
        &self.spec.ancestors
    }
    fn stdio(&mut self, fd: u8) -> FdInfo {
        let f = match fd {
            0 => self.spec.stdin,
            1 => self.spec.stdout,
            _ => self.spec.stderr,
        };
        f.unwrap_or(FdInfo {
            kind: FdKind::Pipe,
            ..FdInfo::default()
        })
    }
}

#[cfg(test)]
mod tests;
