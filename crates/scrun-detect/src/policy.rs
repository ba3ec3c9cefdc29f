//! The scrun configuration file (`/etc/scrun/config.toml`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use std::os::unix::fs::PermissionsExt;

use scrun_findings::{Category, HookSpec, Severity, WebhookOptions};
use serde::{Deserialize, Deserializer, Serialize};

use crate::feeds::{FeedSpec, parse_sha256};

/// Where the config lives when `SCRUN_CONFIG` is not set.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/scrun/config.toml";

/// Audit (allow, report) or enforce (block what the actions say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Never block; report.
    #[default]
    Audit,
    /// Apply the configured actions.
    Enforce,
}

/// Error from parsing a [`Mode`].
#[derive(Debug, thiserror::Error)]
#[error("unknown mode {0:?}: use \"audit\" or \"enforce\"")]
pub struct ParseModeError(pub String);

impl std::str::FromStr for Mode {
    type Err = ParseModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "audit" => Ok(Mode::Audit),
            "enforce" => Ok(Mode::Enforce),
            _ => Err(ParseModeError(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Audit => "audit",
            Mode::Enforce => "enforce",
        })
    }
}

/// What to do with an event of a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// No finding, allow.
    Ignore,
    /// Finding, allow.
    Alert,
    /// Finding, and fail the exec with EPERM (enforce mode only).
    Block,
}

/// What a rule does when it fires (in enforce mode; audit mode reports instead of blocking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Finding, exec allowed.
    #[default]
    Report,
    /// Finding, exec failed with EPERM (enforce mode).
    Block,
    /// Not evaluated.
    Off,
}

impl std::str::FromStr for RuleAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "report" | "alert" => Ok(RuleAction::Report),
            "block" => Ok(RuleAction::Block),
            "off" | "ignore" => Ok(RuleAction::Off),
            _ => Err(format!(
                "unknown rule action {s:?}: use report, block or off"
            )),
        }
    }
}

impl std::fmt::Display for RuleAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RuleAction::Report => "report",
            RuleAction::Block => "block",
            RuleAction::Off => "off",
        })
    }
}

/// `[rules]`: the exec rules (crates/scrun-detect/README.md, "Rules").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Include the built-in ruleset.
    pub default: bool,
    /// More rule files, loaded in order after the built-in ones (a rule with an id already
    /// loaded replaces it).
    pub files: Vec<PathBuf>,
    /// Per-rule actions (`report`, `block`, `off`) by rule id.
    pub actions: std::collections::BTreeMap<String, RuleAction>,
    /// Proxies `http_proxy`-style variables may name (`http://host:port`, or `host:port`).
    pub allowed_proxies: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            default: true,
            files: Vec::new(),
            actions: std::collections::BTreeMap::new(),
            allowed_proxies: Vec::new(),
        }
    }
}

/// Per-category actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Actions {
    /// Execution: Built in Malicious Binary Executed.
    pub built_in_malicious: Action,
    /// Execution: Added Malicious Binary Executed.
    pub added_malicious: Action,
    /// Execution: Modified Malicious Binary Executed.
    pub modified_malicious: Action,
    /// Execution: Added Binary Executed (drift, no intel).
    pub added_binary: Action,
    /// Execution: Fileless Execution in /memfd:.
    pub fileless_memfd: Action,
    /// Fileless execution from a memfd whose hash a feed lists.
    pub memfd_malicious: Action,
    /// Privilege Escalation: Fileless Execution in /dev/shm.
    pub fileless_dev_shm: Action,
    /// Execution: Built in Malicious Library Loaded (an image file a feed lists, mapped
    /// executable; `[supervisor] mappings`).
    pub built_in_malicious_library: Action,
    /// Execution: Added Malicious Library Loaded.
    pub added_malicious_library: Action,
    /// Execution: Modified Malicious Library Loaded.
    pub modified_malicious_library: Action,
    /// Execution: Added Library Loaded (drift, no intel).
    pub added_library: Action,
}

impl Default for Actions {
    fn default() -> Self {
        Actions {
            built_in_malicious: Action::Block,
            added_malicious: Action::Block,
            modified_malicious: Action::Block,
            added_binary: Action::Alert,
            fileless_memfd: Action::Alert,
            memfd_malicious: Action::Block,
            fileless_dev_shm: Action::Alert,
            built_in_malicious_library: Action::Block,
            added_malicious_library: Action::Block,
            modified_malicious_library: Action::Block,
            added_library: Action::Alert,
        }
    }
}

/// Hashes and paths that never produce a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Allow {
    /// SHA-256 hex digests.
    #[serde(deserialize_with = "de_sha256_set", serialize_with = "ser_sha256_set")]
    pub sha256: HashSet<[u8; 32]>,
    /// In-container paths: exact, or a prefix ending in `*`.
    pub paths: Vec<String>,
}

/// Threat feeds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelConfig {
    /// Feeds of malicious hashes.
    #[serde(deserialize_with = "de_feeds")]
    pub feeds: Vec<FeedSpec>,
    /// Feeds of known-good hashes (suppress findings).
    #[serde(deserialize_with = "de_feeds")]
    pub allow_feeds: Vec<FeedSpec>,
    /// A compiled index of malicious hashes (`scrun intel compile`), mapped read-only and shared
    /// by every supervisor; replaced atomically, it is picked up by running containers.
    pub index: Option<PathBuf>,
    /// A compiled index of known-good hashes.
    pub allow_index: Option<PathBuf>,
    /// Offline URL feeds for `Malicious URL Observed`: URLhaus CSV exports or one URL a line.
    pub url_feeds: Vec<PathBuf>,
}

/// Where findings go and what they contain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingsConfig {
    /// JSON-lines file (none: no file sink).
    pub path: Option<PathBuf>,
    /// Also print findings on stdout.
    pub stdout: bool,
    /// Put argv into findings.
    pub include_args: bool,
    /// Put the environment into findings.
    pub include_env: bool,
    /// Glob patterns (`*` only) of variable names whose values are replaced by `[REDACTED]`.
    pub redact_env: Vec<String>,
    /// POST each finding to an `http://` endpoint (none: no webhook).
    pub webhook: Option<WebhookConfig>,
    /// Response hooks run on findings, outside the sandboxed worker.
    pub hooks: Vec<HookConfig>,
    /// Rotate the findings file when a line would grow it past this many bytes (none: never).
    pub rotate_bytes: Option<u64>,
    /// Rotated files kept (`path.1` newest).
    pub rotate_keep: usize,
}

/// `[findings.webhook]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://host[:port]/path` (no https: use a local relay).
    pub url: String,
    /// Connect and request timeout, milliseconds.
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra attempts on connection errors, 429 and 5xx.
    #[serde(default = "default_webhook_retries")]
    pub retries: u32,
    /// Findings waiting for delivery; more are dropped.
    #[serde(default = "default_webhook_queue")]
    pub queue: usize,
}

fn default_webhook_timeout_ms() -> u64 {
    2000
}
fn default_webhook_retries() -> u32 {
    3
}
fn default_webhook_queue() -> usize {
    1024
}
fn default_hook_timeout_ms() -> u64 {
    10_000
}

/// Pause before the first webhook retry (doubled for each further one).
pub const WEBHOOK_BACKOFF: std::time::Duration = std::time::Duration::from_millis(250);

impl WebhookConfig {
    /// The options for `scrun_findings::WebhookSink::new(&self.url, ..)`.
    pub fn options(&self) -> WebhookOptions {
        WebhookOptions {
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            retries: self.retries,
            backoff: WEBHOOK_BACKOFF,
            queue: self.queue,
        }
    }
}

/// One `[[findings.hooks]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// Absolute path of an executable.
    pub path: PathBuf,
    /// Categories (exact SCC strings or slugs); empty: all.
    #[serde(default)]
    pub categories: Vec<String>,
    /// `low`, `medium`, `high` or `critical`: run only on findings at least this severe.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// Killed after this many milliseconds.
    #[serde(default = "default_hook_timeout_ms")]
    pub timeout_ms: u64,
}

impl HookConfig {
    /// The spec for `scrun_findings::run_hook_loop` (call after the config validated).
    pub fn spec(&self) -> HookSpec {
        HookSpec {
            path: self.path.clone(),
            categories: self.categories.clone(),
            min_severity: self
                .min_severity
                .as_deref()
                .and_then(|s| s.parse::<Severity>().ok()),
            timeout: std::time::Duration::from_millis(self.timeout_ms),
        }
    }
}

impl FindingsConfig {
    /// Checks what serde cannot: the webhook URL, hook paths (absolute, an executable
    /// file), hook categories and severities. The error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some(w) = &self.webhook {
            let key = "findings.webhook.url".to_owned();
            scrun_findings::webhook::Endpoint::parse(&w.url).map_err(|e| (key, e.to_string()))?;
            if w.timeout_ms == 0 {
                return Err((
                    "findings.webhook.timeout_ms".into(),
                    "must be more than 0".into(),
                ));
            }
            if w.queue == 0 {
                return Err((
                    "findings.webhook.queue".into(),
                    "must be more than 0".into(),
                ));
            }
        }
        for (i, h) in self.hooks.iter().enumerate() {
            let key = |k: &str| format!("findings.hooks[{i}].{k}");
            if !h.path.is_absolute() {
                return Err((
                    key("path"),
                    format!("{} is not an absolute path", h.path.display()),
                ));
            }
            match std::fs::metadata(&h.path) {
                Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {}
                Ok(_) => {
                    return Err((
                        key("path"),
                        format!(
                            "{} is not an executable file; chmod +x it",
                            h.path.display()
                        ),
                    ));
                }
                Err(e) => {
                    return Err((key("path"), format!("cannot use {}: {e}", h.path.display())));
                }
            }
            for c in &h.categories {
                c.parse::<Category>()
                    .map_err(|e| (key("categories"), e.to_string()))?;
            }
            if let Some(s) = &h.min_severity {
                s.parse::<Severity>()
                    .map_err(|e| (key("min_severity"), e.to_string()))?;
            }
            if h.timeout_ms == 0 {
                return Err((key("timeout_ms"), "must be more than 0".into()));
            }
        }
        if self.rotate_bytes == Some(0) {
            return Err(("findings.rotate_bytes".into(), "must be more than 0".into()));
        }
        Ok(())
    }
}

impl Default for FindingsConfig {
    fn default() -> Self {
        FindingsConfig {
            path: Some(PathBuf::from("/var/log/scrun/findings.jsonl")),
            stdout: false,
            include_args: true,
            include_env: false,
            redact_env: ["*TOKEN*", "*SECRET*", "*PASSWORD*", "*KEY*"]
                .map(String::from)
                .to_vec(),
            webhook: None,
            hooks: Vec::new(),
            rotate_bytes: None,
            rotate_keep: 5,
        }
    }
}

/// What an exec gets when scrun cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Fail closed.
    #[default]
    Deny,
    /// Fail open.
    Allow,
}

/// What scrun does with a container whose own seccomp profile hands its listener to a seccomp
/// agent (`SCMP_ACT_NOTIFY` with `linux.seccomp.listenerPath`). The kernel lets a filter chain
/// have one listener, so scrun cannot trap that container's execs with its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerListener {
    /// Honour the OCI spec: the container's agent gets the listener; scrun supervises the
    /// container's execs through the exec gate only (file identity, no arguments; an overlay
    /// rootfs is needed), and says so in every finding and in `scrun state`.
    #[default]
    Delegate,
    /// Refuse to create such a container.
    Refuse,
}

/// Supervision of executable file mappings (`[supervisor] mappings`): the calls that make a
/// file's content executable without an exec (`mmap` of a file with `PROT_EXEC`, `mprotect`
/// adding `PROT_EXEC` to a file-backed range, `personality(READ_IMPLIES_EXEC)`) are trapped, and
/// the file is decided like an exec's (the *Library Loaded* findings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mappings {
    /// No mapping rule is installed (nothing is trapped, nothing costs).
    Off,
    /// Decided and reported; the call always goes on.
    Audit,
    /// A file the policy blocks fails the call with EPERM (the library is not loaded).
    Enforce,
}

impl Mappings {
    /// What a container in `mode` gets when neither the config nor the container says.
    pub fn following(mode: Mode) -> Mappings {
        match mode {
            Mode::Audit => Mappings::Audit,
            Mode::Enforce => Mappings::Enforce,
        }
    }

    /// The policy mode mapped files are decided in; `None` when off.
    pub fn mode(self) -> Option<Mode> {
        match self {
            Mappings::Off => None,
            Mappings::Audit => Some(Mode::Audit),
            Mappings::Enforce => Some(Mode::Enforce),
        }
    }
}

impl std::str::FromStr for Mappings {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(Mappings::Off),
            "audit" => Ok(Mappings::Audit),
            "enforce" => Ok(Mappings::Enforce),
            _ => Err(format!(
                "unknown mappings value {s:?}: use \"off\", \"audit\" or \"enforce\""
            )),
        }
    }
}

impl std::fmt::Display for Mappings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mappings::Off => "off",
            Mappings::Audit => "audit",
            Mappings::Enforce => "enforce",
        })
    }
}

/// Supervisor settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// Verdict when an exec cannot be decided (IO errors).
    pub on_error: OnError,
    /// A container with its own seccomp agent: delegate (default) or refuse.
    pub container_listener: ContainerListener,
    /// Executable file mappings: `off`, `audit` or `enforce`; unset, they follow the
    /// container's mode (an enforce-mode container enforces them). A container's
    /// `scrun.mappings` label or annotation overrides both.
    pub mappings: Option<Mappings>,
    /// Hash at most this many bytes of a file.
    pub max_hash_bytes: u64,
    /// On-disk hash cache for image-layer files (none: memory only).
    pub hash_cache_dir: Option<PathBuf>,
    /// `resourceName` prefix; `<hostname>` is replaced. Default `//scrun.local/hosts/<hostname>`.
    pub resource_prefix: Option<String>,
    /// Where each supervisor writes its metrics snapshot (`scrun metrics` reads them); empty:
    /// no metrics. Default `/run/scrun/metrics`.
    pub metrics_dir: Option<PathBuf>,
    /// Seconds between two snapshots of a supervisor (it also writes one when it exits).
    pub metrics_interval_secs: u64,
    /// Testing only, honoured by debug builds: a listener thread panics when an exec's
    /// requested path ends with this string (proves that a panic fails closed and is reported).
    pub test_panic_on: Option<String>,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            on_error: OnError::Deny,
            container_listener: ContainerListener::Delegate,
            mappings: None,
            max_hash_bytes: 256 * 1024 * 1024,
            hash_cache_dir: Some(PathBuf::from("/var/lib/scrun/hashcache")),
            resource_prefix: None,
            metrics_dir: Some(PathBuf::from("/run/scrun/metrics")),
            metrics_interval_secs: 10,
            test_panic_on: None,
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The default mode (containers can override it).
    pub mode: Mode,
    /// Enforce-mode actions per category.
    pub actions: Actions,
    /// Allowlist.
    pub allow: Allow,
    /// Threat feeds.
    pub intel: IntelConfig,
    /// Findings output.
    pub findings: FindingsConfig,
    /// Supervisor settings.
    pub supervisor: SupervisorConfig,
    /// Exec rules.
    pub rules: RulesConfig,
}

/// Errors from loading the config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read scrun config {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        cause: std::io::Error,
    },
    /// A value is not usable (checked after parsing).
    #[error("invalid scrun config {origin}: {key}: {message}")]
    Invalid {
        /// The file (or other origin) of the text.
        origin: String,
        /// The key, e.g. `findings.hooks[0].path`.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The file is not valid.
    #[error("invalid scrun config {origin} line {line}: {message}")]
    Parse {
        /// The file (or other origin) of the text.
        origin: String,
        /// 1-based line of the error (0 when unknown).
        line: usize,
        /// The TOML error.
        message: String,
    },
}

impl Config {
    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml_str(s: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(s).map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|r| {
                    s.as_bytes()[..r.start.min(s.len())]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count()
                        + 1
                })
                .unwrap_or(0);
            ConfigError::Parse {
                origin: origin.to_owned(),
                line,
                message: e.message().trim_end_matches('\n').to_owned(),
            }
        })?;
        config
            .findings
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                origin: origin.to_owned(),
                key,
                message,
            })?;
        Ok(config)
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            cause: source,
        })?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// `SCRUN_CONFIG` if set (and non-empty), else [`DEFAULT_CONFIG_PATH`].
    pub fn path_from_env() -> PathBuf {
        match std::env::var_os("SCRUN_CONFIG") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from(DEFAULT_CONFIG_PATH),
        }
    }

    /// Loads the config from [`Config::path_from_env`]. A missing default file means defaults;
    /// a missing file named by `SCRUN_CONFIG` is an error.
    pub fn load_default() -> Result<Config, ConfigError> {
        let explicit = std::env::var_os("SCRUN_CONFIG").is_some_and(|p| !p.is_empty());
        Config::load_from(&Config::path_from_env(), explicit)
    }

    fn load_from(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        match Config::load(path) {
            Err(ConfigError::Read { cause: source, .. })
                if !explicit && source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(Config::default())
            }
            other => other,
        }
    }

    /// What to do with `category` in `mode`. Audit mode never blocks.
    pub fn action_for(&self, mode: Mode, category: Category) -> Action {
        let a = &self.actions;
        let action = match category {
            Category::BuiltInMaliciousBinaryExecuted => a.built_in_malicious,
            Category::AddedMaliciousBinaryExecuted => a.added_malicious,
            Category::ModifiedMaliciousBinaryExecuted => a.modified_malicious,
            Category::AddedBinaryExecuted => a.added_binary,
            Category::FilelessMemfd => a.fileless_memfd,
            Category::FilelessDevShm => a.fileless_dev_shm,
            Category::BuiltInMaliciousLibraryLoaded => a.built_in_malicious_library,
            Category::AddedMaliciousLibraryLoaded => a.added_malicious_library,
            Category::ModifiedMaliciousLibraryLoaded => a.modified_malicious_library,
            Category::AddedLibraryLoaded => a.added_library,
        };
        cap(mode, action)
    }

    /// Mapping supervision for a container in `mode` (`[supervisor] mappings`, else the mode);
    /// a container's own `scrun.mappings` is applied by the runtime on top.
    pub fn mappings_for(&self, mode: Mode) -> Mappings {
        self.supervisor
            .mappings
            .unwrap_or_else(|| Mappings::following(mode))
    }

    /// The action for a memfd exec whose hash a feed lists (`actions.memfd_malicious`).
    pub fn action_for_malicious_memfd(&self, mode: Mode) -> Action {
        cap(mode, self.actions.memfd_malicious)
    }

    /// True when `path` (in-container) matches `allow.paths`.
    pub fn path_allowed(&self, path: &str) -> bool {
        self.allow.paths.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => p == path,
        })
    }

    /// The `resourceName` prefix with `<hostname>` filled in.
    pub fn resource_prefix(&self) -> String {
        let raw = self
            .supervisor
            .resource_prefix
            .as_deref()
            .unwrap_or("//scrun.local/hosts/<hostname>");
        if raw.contains("<hostname>") {
            raw.replace("<hostname>", &hostname())
        } else {
            raw.to_owned()
        }
    }
}

fn cap(mode: Mode, action: Action) -> Action {
    match (mode, action) {
        (Mode::Audit, Action::Block) => Action::Alert,
        (_, a) => a,
    }
}

/// The host name, read once (the supervisor may not be able to open /proc files later).
fn hostname() -> String {
    static HOSTNAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOSTNAME
        .get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_owned())
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "localhost".to_owned())
        })
        .clone()
}

/// Glob match with `*` only, ASCII case-insensitive (for env names).
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p = pattern.to_ascii_uppercase();
    let n = name.to_ascii_uppercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == n;
    }
    let mut rest = n.as_str();
    let first = parts[0];
    if !rest.starts_with(first) {
        return false;
    }
    rest = &rest[first.len()..];
    let last = parts[parts.len() - 1];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn de_sha256_set<'de, D: Deserializer<'de>>(d: D) -> Result<HashSet<[u8; 32]>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.iter()
        .map(|s| {
            parse_sha256(s.trim()).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "allow.sha256 entry {s:?} is not a SHA-256 hex digest (64 hex digits)"
                ))
            })
        })
        .collect()
}

fn ser_sha256_set<S: serde::Serializer>(v: &HashSet<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
    let mut hexes: Vec<String> = v.iter().map(hex::encode).collect();
    hexes.sort();
    hexes.serialize(s)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FeedEntry {
    Path(PathBuf),
    Spec(FeedSpec),
}

fn de_feeds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FeedSpec>, D::Error> {
    Ok(Vec::<FeedEntry>::deserialize(d)?
        .into_iter()
        .map(|e| match e {
            FeedEntry::Path(p) => FeedSpec::new(p),
            FeedEntry::Spec(s) => s,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::FeedFormat;

    const FULL: &str = r#"
mode = "enforce"
[actions]
built_in_malicious = "block"
added_malicious = "alert"
modified_malicious = "block"
added_binary = "ignore"
fileless_memfd = "alert"
fileless_dev_shm = "block"
[allow]
sha256 = ["BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"]
paths = ["/usr/local/bin/app", "/opt/tools/*"]
[intel]
feeds = ["/etc/scrun/feeds/bad.txt", { path = "/x.csv", name = "malwarebazaar", format = "malwarebazaar-csv" }]
allow_feeds = []
[findings]
path = "/var/log/scrun/findings.jsonl"
stdout = true
include_args = true
include_env = true
redact_env = ["*TOKEN*"]
[supervisor]
on_error = "allow"
container_listener = "refuse"
max_hash_bytes = 1048576
hash_cache_dir = "/var/lib/scrun/hashcache"
resource_prefix = "//example/hosts/<hostname>"
"#;

    #[test]
    fn full_example_parses() {
        let c = Config::from_toml_str(FULL, "test").unwrap();
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(c.actions.added_binary, Action::Ignore);
        assert_eq!(c.intel.feeds.len(), 2);
        assert_eq!(c.intel.feeds[0], FeedSpec::new("/etc/scrun/feeds/bad.txt"));
        assert_eq!(c.intel.feeds[1].format, FeedFormat::MalwarebazaarCsv);
        assert_eq!(c.intel.feeds[1].name.as_deref(), Some("malwarebazaar"));
        assert_eq!(c.allow.sha256.len(), 1);
        assert_eq!(c.supervisor.on_error, OnError::Allow);
        assert_eq!(c.supervisor.container_listener, ContainerListener::Refuse);
        assert_eq!(c.supervisor.max_hash_bytes, 1 << 20);
        assert!(c.resource_prefix().starts_with("//example/hosts/"));
        assert!(!c.resource_prefix().contains("<hostname>"));
        assert!(c.path_allowed("/usr/local/bin/app"));
        assert!(!c.path_allowed("/usr/local/bin/app2"));
        assert!(c.path_allowed("/opt/tools/x/y"));
        assert!(!c.path_allowed("/opt/toolsx"));
    }

    #[test]
    fn mappings_follow_the_mode_unless_set() {
        let c = Config::from_toml_str("", "empty").unwrap();
        assert_eq!(c.mappings_for(Mode::Enforce), Mappings::Enforce);
        assert_eq!(c.mappings_for(Mode::Audit), Mappings::Audit);
        for (text, want) in [
            ("off", Mappings::Off),
            ("audit", Mappings::Audit),
            ("enforce", Mappings::Enforce),
        ] {
            let c = Config::from_toml_str(&format!("[supervisor]\nmappings = \"{text}\"\n"), "m")
                .unwrap();
            assert_eq!(c.mappings_for(Mode::Enforce), want);
            assert_eq!(c.mappings_for(Mode::Audit), want);
            assert_eq!(text.parse::<Mappings>().unwrap(), want);
            assert_eq!(want.to_string(), text);
        }
        assert_eq!(Mappings::Off.mode(), None);
        assert_eq!(Mappings::Enforce.mode(), Some(Mode::Enforce));
        let e = Config::from_toml_str("[supervisor]\nmappings = \"on\"\n", "bad").unwrap_err();
        assert!(matches!(e, ConfigError::Parse { line: 2, .. }), "{e}");
        assert!("sometimes".parse::<Mappings>().is_err());
        // Library actions mirror the binary family's.
        assert_eq!(
            c.action_for(Mode::Enforce, Category::AddedMaliciousLibraryLoaded),
            Action::Block
        );
        assert_eq!(
            c.action_for(Mode::Enforce, Category::AddedLibraryLoaded),
            Action::Alert
        );
        let c = Config::from_toml_str("[actions]\nadded_library = \"ignore\"\n", "a").unwrap();
        assert_eq!(
            c.action_for(Mode::Audit, Category::AddedLibraryLoaded),
            Action::Ignore
        );
    }

    #[test]
    fn container_listener_values() {
        let c = Config::from_toml_str("", "empty").unwrap();
        assert_eq!(c.supervisor.container_listener, ContainerListener::Delegate);
        let c = Config::from_toml_str("[supervisor]\ncontainer_listener = \"delegate\"\n", "d")
            .unwrap();
        assert_eq!(c.supervisor.container_listener, ContainerListener::Delegate);
        let e = Config::from_toml_str("[supervisor]\ncontainer_listener = \"chain\"\n", "bad")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("container_listener") || e.contains("chain"),
            "{e}"
        );
    }

    #[test]
    fn defaults_and_action_caps() {
        let c = Config::from_toml_str("", "empty").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.mode, Mode::Audit);
        assert_eq!(c.supervisor.max_hash_bytes, 268_435_456);
        assert_eq!(
            c.action_for(Mode::Enforce, Category::BuiltInMaliciousBinaryExecuted),
            Action::Block
        );
        assert_eq!(
            c.action_for(Mode::Audit, Category::BuiltInMaliciousBinaryExecuted),
            Action::Alert
        );
        assert_eq!(
            c.action_for(Mode::Enforce, Category::AddedBinaryExecuted),
            Action::Alert
        );
        assert_eq!(
            c.action_for(Mode::Enforce, Category::FilelessDevShm),
            Action::Alert
        );
        assert_eq!(c.action_for_malicious_memfd(Mode::Enforce), Action::Block);
        assert_eq!(c.action_for_malicious_memfd(Mode::Audit), Action::Alert);
        for cat in Category::ALL {
            assert_ne!(c.action_for(Mode::Audit, cat), Action::Block);
        }
    }

    #[test]
    fn errors_name_origin_and_line() {
        let err =
            Config::from_toml_str("mode = \"audit\"\n\nbogus = 1\n", "/etc/x.toml").unwrap_err();
        let s = err.to_string();
        assert!(s.contains("/etc/x.toml line 3"), "{s}");
        let err = Config::from_toml_str("[allow]\nsha256 = [\"abc\"]\n", "f").unwrap_err();
        assert!(err.to_string().contains("not a SHA-256"), "{err}");
        let err = Config::from_toml_str("mode = \"loud\"\n", "f").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 1, .. }), "{err}");
    }

    #[test]
    fn load_default_file_rules() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("missing.toml");
        assert_eq!(
            Config::load_from(&missing, false).unwrap(),
            Config::default()
        );
        assert!(matches!(
            Config::load_from(&missing, true),
            Err(ConfigError::Read { .. })
        ));
        let bad = d.path().join("bad.toml");
        std::fs::write(&bad, "mode = ").unwrap();
        let err = Config::load_from(&bad, false).unwrap_err();
        assert!(err.to_string().contains("bad.toml"), "{err}");
        let good = d.path().join("good.toml");
        std::fs::write(&good, "mode = \"enforce\"").unwrap();
        assert_eq!(Config::load(&good).unwrap().mode, Mode::Enforce);
    }

    fn hook_script(dir: &Path, mode: u32) -> PathBuf {
        let p = dir.join("hook");
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn webhook_hooks_and_rotation_parse() {
        let d = tempfile::tempdir().unwrap();
        let hook = hook_script(d.path(), 0o755);
        let text = format!(
            r#"
[findings]
rotate_bytes = 1048576
rotate_keep = 3
[findings.webhook]
url = "http://127.0.0.1:8080/scc"
retries = 5
[[findings.hooks]]
path = "{0}"
categories = ["added-malicious", "Execution: Fileless Execution in /memfd:"]
min_severity = "high"
timeout_ms = 500
[[findings.hooks]]
path = "{0}"
"#,
            hook.display()
        );
        let c = Config::from_toml_str(&text, "t").unwrap();
        let f = &c.findings;
        assert_eq!((f.rotate_bytes, f.rotate_keep), (Some(1 << 20), 3));
        let w = f.webhook.as_ref().unwrap();
        assert_eq!((w.timeout_ms, w.retries, w.queue), (2000, 5, 1024));
        let o = w.options();
        assert_eq!(o.timeout, std::time::Duration::from_secs(2));
        assert_eq!((o.retries, o.queue), (5, 1024));
        assert_eq!(f.hooks.len(), 2);
        let s = f.hooks[0].spec();
        assert_eq!(s.path, hook);
        assert_eq!(s.min_severity, Some(Severity::High));
        assert_eq!(s.timeout, std::time::Duration::from_millis(500));
        assert_eq!(s.categories.len(), 2);
        let s = f.hooks[1].spec();
        assert!(s.categories.is_empty() && s.min_severity.is_none());
        assert_eq!(s.timeout, std::time::Duration::from_secs(10));
        // the defaults stay off
        let d = FindingsConfig::default();
        assert!(d.webhook.is_none() && d.hooks.is_empty() && d.rotate_bytes.is_none());
        assert_eq!(d.rotate_keep, 5);
    }

    #[test]
    fn webhook_and_hook_errors_name_the_key() {
        let d = tempfile::tempdir().unwrap();
        let exe = hook_script(d.path(), 0o755);
        let cases = [
            (
                "[findings.webhook]\nurl = \"https://siem/x\"\n".to_owned(),
                "findings.webhook.url",
                "use an http endpoint or a local relay",
            ),
            (
                "[findings.webhook]\nurl = \"http://h/\"\nqueue = 0\n".to_owned(),
                "findings.webhook.queue",
                "more than 0",
            ),
            (
                "[[findings.hooks]]\npath = \"relative/hook\"\n".to_owned(),
                "findings.hooks[0].path",
                "not an absolute path",
            ),
            (
                format!(
                    "[[findings.hooks]]\npath = \"{}\"\n[[findings.hooks]]\npath = \"{}\"\n",
                    exe.display(),
                    d.path().join("missing").display()
                ),
                "findings.hooks[1].path",
                "missing",
            ),
            (
                format!(
                    "[[findings.hooks]]\npath = \"{}\"\nmin_severity = \"severe\"\n",
                    exe.display()
                ),
                "findings.hooks[0].min_severity",
                "severe",
            ),
            (
                format!(
                    "[[findings.hooks]]\npath = \"{}\"\ncategories = [\"exec\"]\n",
                    exe.display()
                ),
                "findings.hooks[0].categories",
                "exec",
            ),
            (
                "[findings]\nrotate_bytes = 0\n".to_owned(),
                "findings.rotate_bytes",
                "more than 0",
            ),
        ];
        for (text, key, detail) in cases {
            let err = Config::from_toml_str(&text, "/etc/c.toml").unwrap_err();
            let s = err.to_string();
            assert!(matches!(err, ConfigError::Invalid { .. }), "{s}");
            assert!(s.contains("/etc/c.toml") && s.contains(key), "{s}");
            assert!(s.contains(detail), "{s}");
        }
        let noexec = d.path().join("noexec");
        std::fs::write(&noexec, "x").unwrap();
        let text = format!("[[findings.hooks]]\npath = \"{}\"\n", noexec.display());
        let err = Config::from_toml_str(&text, "f").unwrap_err();
        assert!(err.to_string().contains("not an executable file"), "{err}");
        // unknown keys inside the new tables are refused too
        let err =
            Config::from_toml_str("[findings.webhook]\nurl = \"http://h/\"\ntoken = 1\n", "f")
                .unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 3, .. }), "{err}");
        let err = Config::from_toml_str("[[findings.hooks]]\ncategories = []\n", "f").unwrap_err();
        assert!(err.to_string().contains("path"), "{err}");
    }

    #[test]
    fn mode_from_str_display_and_globs() {
        assert_eq!("Enforce".parse::<Mode>().unwrap(), Mode::Enforce);
        assert_eq!(Mode::Audit.to_string(), "audit");
        assert!("x".parse::<Mode>().is_err());
        assert!(glob_match("*TOKEN*", "github_token"));
        assert!(glob_match("*KEY*", "API_KEY_ID"));
        assert!(glob_match("AWS_*", "aws_secret"));
        assert!(!glob_match("*SECRET*", "PATH"));
        assert!(glob_match("PATH", "path"));
        assert!(!glob_match("A*B", "AB_C"));
    }
}
