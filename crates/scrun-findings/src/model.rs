//! The SCC v2 `Finding` resource as REST JSON (proto3 JSON mapping).
//!
//! Field names are lowerCamelCase, enums are SCREAMING strings, int64 fields (`size`,
//! `hashedSize`, `pid`, `parentPid`) are JSON strings, and empty optional fields are omitted.
//! Deserialization is lenient where proto3 JSON is: int64 fields accept a number or a string,
//! unknown fields are ignored, and unknown enum values read as the `*_UNSPECIFIED` variant.

use std::collections::BTreeMap;
use std::fs::File as FsFile;
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::category::Category;
pub use crate::taxonomy::{
    MITRE_VERSION, MitreAttack, ParseSeverityError, Severity, Tactic, Technique,
};

/// The organization number in scrun's finding names (scrun is not registered with an org).
pub const ORGANIZATION: &str = "0";
/// The SCC source id of scrun's findings.
pub const SOURCE: &str = "scrun";
/// The SCC location of scrun's findings.
pub const LOCATION: &str = "local";
/// The display name of the source, as `parentDisplayName`.
pub const PARENT_DISPLAY_NAME: &str = "scrun Threat Detection";
/// `parent` of every finding scrun makes.
pub fn default_parent() -> String {
    format!("organizations/{ORGANIZATION}/sources/{SOURCE}/locations/{LOCATION}")
}

/// State of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// `ACTIVE`
    #[default]
    Active,
    /// `INACTIVE`
    Inactive,
    /// `STATE_UNSPECIFIED`
    #[serde(rename = "STATE_UNSPECIFIED", other)]
    Unspecified,
}

/// Class of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FindingClass {
    /// `THREAT`
    #[default]
    Threat,
    /// `VULNERABILITY`
    Vulnerability,
    /// `MISCONFIGURATION`
    Misconfiguration,
    /// `OBSERVATION`
    Observation,
    /// `SCC_ERROR`
    SccError,
    /// `POSTURE_VIOLATION`
    PostureViolation,
    /// `TOXIC_COMBINATION`
    ToxicCombination,
    /// `FINDING_CLASS_UNSPECIFIED`
    #[serde(rename = "FINDING_CLASS_UNSPECIFIED", other)]
    Unspecified,
}

/// `indicator`: indicators of compromise.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Indicator {
    /// `uris[]`, e.g. the VirusTotal page of the binary's SHA-256.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    /// `domains[]`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// `ipAddresses[]`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
}

/// `File`: a file involved in the finding (the binary, a script, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct File {
    /// Absolute path as seen inside the container.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Size in bytes (int64, a JSON string).
    #[serde(with = "int64_string", skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Lower-case hex SHA-256 of the first `hashed_size` bytes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// How many bytes `sha256` covers (int64, a JSON string).
    #[serde(with = "int64_string", skip_serializing_if = "Option::is_none")]
    pub hashed_size: Option<u64>,
    /// True when only a prefix of the file was hashed.
    pub partially_hashed: bool,
    /// A prefix of the file's contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
}

/// `envVariables[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvVariable {
    /// Variable name.
    pub name: String,
    /// Variable value.
    pub val: String,
}

/// `Process`: the exec'd process (first) and its ancestors.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Process {
    /// `comm` of the process.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The executable (for a script: the interpreter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<File>,
    /// The script an interpreter runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<File>,
    /// Libraries the process loaded (the library findings: the file mapped executable).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<File>,
    /// argv.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// True when `args` is incomplete.
    pub arguments_truncated: bool,
    /// The environment (may be redacted by policy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_variables: Vec<EnvVariable>,
    /// True when `env_variables` is incomplete.
    pub env_variables_truncated: bool,
    /// Process id (int64, a JSON string).
    #[serde(with = "int64_string", skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// Parent process id (int64, a JSON string).
    #[serde(with = "int64_string", skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<i64>,
}

/// `labels[]` entry of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Label {
    /// Label name.
    pub name: String,
    /// Label value.
    pub value: String,
}

/// `Container`
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    /// Container name (Docker name, or the container id when there is none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Image URI (may use a mutable tag).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uri: String,
    /// Image digest, e.g. `sha256:…`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    /// Container labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    /// When the container was created.
    #[serde(with = "opt_timestamp", skip_serializing_if = "Option::is_none")]
    pub create_time: Option<DateTime<Utc>>,
}

/// The SCC `Finding`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// `organizations/0/sources/scrun/locations/local/findings/<id>`
    pub name: String,
    /// `organizations/0/sources/scrun/locations/local`
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent: String,
    /// The resource the finding is about (scrun: the container).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_name: String,
    /// `ACTIVE` for new findings.
    #[serde(default)]
    pub state: State,
    /// The exact SCC category string, see [`Category::as_str`].
    pub category: String,
    /// e.g. the VirusTotal page of the binary.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_uri: String,
    /// Free-form properties; scrun's keys are in [`crate::props`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_properties: BTreeMap<String, serde_json::Value>,
    /// When the event happened (RFC 3339, milliseconds, `Z`).
    #[serde(with = "timestamp")]
    pub event_time: DateTime<Utc>,
    /// When the finding was made.
    #[serde(with = "timestamp")]
    pub create_time: DateTime<Utc>,
    /// Severity.
    #[serde(default)]
    pub severity: Severity,
    /// `THREAT` for scrun's detectors.
    #[serde(default)]
    pub finding_class: FindingClass,
    /// Indicators of compromise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<Indicator>,
    /// MITRE ATT&CK mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitre_attack: Option<MitreAttack>,
    /// The exec'd process first, then its ancestors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<Process>,
    /// The container(s) involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
    /// Other files involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
    /// Display name of the source.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent_display_name: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub next_steps: String,
}

impl Finding {
    /// A new ACTIVE THREAT finding of `category` with a fresh random id, the category's
    /// default severity and MITRE mapping, `eventTime` = `event_time` and `createTime` = now.
    pub fn new(category: Category, event_time: DateTime<Utc>) -> Finding {
        Finding::with_id(category, &new_id(), event_time)
    }

    /// Like [`Finding::new`] with a given id (the last segment of `name`).
    ///
    /// Times are cut to milliseconds, the precision findings are written with, so a finding
    /// reads back equal to what was emitted.
    pub fn with_id(category: Category, id: &str, event_time: DateTime<Utc>) -> Finding {
        let parent = default_parent();
        Finding {
            name: format!("{parent}/findings/{id}"),
            parent,
            resource_name: String::new(),
            state: State::Active,
            category: category.as_str().to_owned(),
            external_uri: String::new(),
            source_properties: BTreeMap::new(),
            event_time: event_time.trunc_subsecs(3),
            create_time: Utc::now().trunc_subsecs(3),
            severity: category.default_severity(),
            finding_class: FindingClass::Threat,
            indicator: None,
            mitre_attack: Some(category.mitre_attack()),
            processes: Vec::new(),
            containers: Vec::new(),
            files: Vec::new(),
            parent_display_name: PARENT_DISPLAY_NAME.to_owned(),
            description: String::new(),
            next_steps: String::new(),
        }
    }

    /// A finding of a category that is not one of [`Category`]'s (a rule's): the exact SCC
    /// category string, its severity and MITRE mapping given.
    pub fn custom(
        category: &str,
        severity: Severity,
        mitre_attack: MitreAttack,
        event_time: DateTime<Utc>,
    ) -> Finding {
        let mut f = Finding::new(Category::AddedBinaryExecuted, event_time);
        f.category = category.to_owned();
        f.severity = severity;
        f.mitre_attack = Some(mitre_attack);
        f
    }

    /// The finding id: the last segment of `name`.
    pub fn id(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or_default()
    }

    /// The category as a known [`Category`], if it is one of scrun's.
    pub fn known_category(&self) -> Option<Category> {
        Category::from_scc(&self.category)
    }

    /// A string-valued source property.
    pub fn prop_str(&self, key: &str) -> Option<&str> {
        self.source_properties.get(key).and_then(|v| v.as_str())
    }

    /// Sets a string source property (builder style).
    pub fn with_prop(mut self, key: &str, value: impl Into<String>) -> Finding {
        self.set_prop(key, value);
        self
    }

    /// Sets a string source property.
    pub fn set_prop(&mut self, key: &str, value: impl Into<String>) {
        self.source_properties
            .insert(key.to_owned(), serde_json::Value::String(value.into()));
    }
}

/// A fresh 32-hex-digit random finding id.
///
/// Randomness comes from `/dev/urandom`, opened once and kept open (so it still works after
/// the supervisor has sandboxed itself). If that is unavailable the id is derived from the
/// process id, the time, a process-wide counter and std's randomly keyed SipHash: unique,
/// though not unpredictable.
pub fn new_id() -> String {
    static URANDOM: Mutex<Option<FsFile>> = Mutex::new(None);
    let mut bytes = [0u8; 16];
    let from_urandom = {
        let mut guard = URANDOM.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = FsFile::open("/dev/urandom").ok();
        }
        match guard.as_mut() {
            Some(f) => f.read_exact(&mut bytes).is_ok(),
            None => false,
        }
    };
    if !from_urandom {
        bytes = fallback_random();
    }
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn fallback_random() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let mut out = [0u8; 16];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(count);
        h.write_i64(nanos);
        h.write_u32(std::process::id());
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// Formats a timestamp the way findings carry it: RFC 3339, milliseconds, `Z`.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// serde for `DateTime<Utc>` as RFC 3339 with milliseconds and `Z`.
mod timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// serde for `Option<DateTime<Utc>>` (used with `skip_serializing_if = "Option::is_none"`).
mod opt_timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format_timestamp(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(&s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(serde::de::Error::custom),
        }
    }
}

/// serde for proto3 int64: written as a JSON string, read from a string or a number.
mod int64_string {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Str(String),
        Num(serde_json::Number),
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let raw = Option::<Raw>::deserialize(d)?;
        match raw {
            None => Ok(None),
            Some(Raw::Str(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
            Some(Raw::Num(n)) => n
                .to_string()
                .parse()
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ids_are_32_hex_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
        let f = fallback_random();
        assert_ne!(f, fallback_random());
    }

    #[test]
    fn new_finding_name_parent_and_id() {
        let f = Finding::new(Category::BuiltInMaliciousBinaryExecuted, Utc::now());
        assert!(
            f.name
                .starts_with("organizations/0/sources/scrun/locations/local/findings/")
        );
        assert_eq!(f.parent, "organizations/0/sources/scrun/locations/local");
        assert_eq!(f.id().len(), 32);
        assert_eq!(f.name, format!("{}/findings/{}", f.parent, f.id()));
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.state, State::Active);
        assert_eq!(f.finding_class, FindingClass::Threat);
        assert_eq!(
            f.known_category(),
            Some(Category::BuiltInMaliciousBinaryExecuted)
        );
    }

    fn sample() -> Finding {
        let mut f = Finding::with_id(
            Category::BuiltInMaliciousBinaryExecuted,
            "7f3c2a9d1e8b4c6fa0d5b2e9c8a7f6e1",
            t("2026-11-26T15:32:08.412Z"),
        );
        f.create_time = t("2026-11-26T15:32:08.530Z");
        f.resource_name = "//scrun.local/containers/c0ffee".into();
        f.external_uri = "https://www.virustotal.com/gui/file/3f8e".into();
        f.set_prop(crate::props::ACTION, "BLOCKED");
        f.indicator = Some(Indicator {
            uris: vec!["https://www.virustotal.com/gui/file/3f8e".into()],
            ..Indicator::default()
        });
        f.processes.push(Process {
            name: "kdevtmpfsi".into(),
            binary: Some(File {
                path: "/usr/local/bin/kdevtmpfsi".into(),
                size: Some(2397184),
                sha256: "3f8e".into(),
                hashed_size: Some(2397184),
                partially_hashed: false,
                contents: None,
            }),
            args: vec!["/usr/local/bin/kdevtmpfsi".into(), "-o".into()],
            env_variables: vec![EnvVariable {
                name: "PATH".into(),
                val: "/bin".into(),
            }],
            env_variables_truncated: true,
            pid: Some(57),
            parent_pid: Some(1),
            ..Process::default()
        });
        f.containers.push(Container {
            name: "checkout".into(),
            uri: "us-docker.pkg.dev/shop-prod/app/checkout:1.4.2".into(),
            image_id: "sha256:9a1b".into(),
            labels: vec![Label {
                name: "scrun.revision".into(),
                value: "42".into(),
            }],
            create_time: Some(t("2026-11-26T15:31:59.004Z")),
        });
        f
    }

    #[test]
    fn serializes_to_the_scc_rest_shape() {
        let v = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            v["category"],
            "Execution: Built in Malicious Binary Executed"
        );
        assert_eq!(v["severity"], "CRITICAL");
        assert_eq!(v["state"], "ACTIVE");
        assert_eq!(v["findingClass"], "THREAT");
        assert_eq!(v["eventTime"], "2026-11-26T15:32:08.412Z");
        assert_eq!(v["createTime"], "2026-11-26T15:32:08.530Z");
        assert_eq!(v["resourceName"], "//scrun.local/containers/c0ffee");
        assert_eq!(v["externalUri"], "https://www.virustotal.com/gui/file/3f8e");
        assert_eq!(v["sourceProperties"]["scrun_action"], "BLOCKED");
        assert_eq!(
            v["mitreAttack"],
            json!({
                "primaryTactic": "EXECUTION",
                "primaryTechniques": ["NATIVE_API"],
                "additionalTactics": ["COMMAND_AND_CONTROL"],
                "additionalTechniques": ["INGRESS_TOOL_TRANSFER"],
                "version": "8"
            })
        );
        let p = &v["processes"][0];
        assert_eq!(p["pid"], "57");
        assert_eq!(p["parentPid"], "1");
        assert_eq!(p["binary"]["size"], "2397184");
        assert_eq!(p["binary"]["hashedSize"], "2397184");
        assert_eq!(p["binary"]["partiallyHashed"], false);
        assert!(p["binary"].get("contents").is_none());
        assert_eq!(p["envVariables"][0], json!({"name": "PATH", "val": "/bin"}));
        assert_eq!(p["envVariablesTruncated"], true);
        assert!(p.get("script").is_none());
        let c = &v["containers"][0];
        assert_eq!(c["imageId"], "sha256:9a1b");
        assert_eq!(c["createTime"], "2026-11-26T15:31:59.004Z");
        assert_eq!(
            c["labels"][0],
            json!({"name": "scrun.revision", "value": "42"})
        );
        // empty optional fields are omitted
        assert!(v.get("files").is_none());
        assert!(v.get("description").is_none());
        assert!(v["indicator"].get("domains").is_none());
    }

    #[test]
    fn round_trips() {
        let f = sample();
        let s = serde_json::to_string(&f).unwrap();
        let back: Finding = serde_json::from_str(&s).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn reads_the_design_note_example_leniently() {
        // Trimmed from notes/detection.md §2.4: carries fields scrun does not model
        // (canonicalName, mute) and an int64 given as a number.
        let s = r#"{
          "name": "organizations/1/sources/2/locations/global/findings/7f3c2a9d1e8b4c6fa0d5b2e9c8a7f6e1",
          "canonicalName": "projects/4/sources/2/locations/global/findings/7f3c",
          "parent": "organizations/1/sources/2/locations/global",
          "state": "ACTIVE",
          "category": "Execution: Built in Malicious Binary Executed",
          "eventTime": "2026-11-26T15:32:08.412Z",
          "createTime": "2026-11-26T15:32:08.530+00:00",
          "severity": "CRITICAL",
          "mute": "UNDEFINED",
          "findingClass": "THREAT",
          "mitreAttack": {"primaryTactic": "EXECUTION", "primaryTechniques": ["NATIVE_API", "FINANCIAL_THEFT"]},
          "processes": [{"name": "x", "pid": 57, "parentPid": "1",
                         "binary": {"path": "/x", "size": "10", "diskPath": {"relativePath": "x"}}}]
        }"#;
        let f: Finding = serde_json::from_str(s).unwrap();
        assert_eq!(f.id(), "7f3c2a9d1e8b4c6fa0d5b2e9c8a7f6e1");
        assert_eq!(f.processes[0].pid, Some(57));
        assert_eq!(f.processes[0].parent_pid, Some(1));
        assert_eq!(f.processes[0].binary.as_ref().unwrap().size, Some(10));
        assert_eq!(
            f.mitre_attack.unwrap().primary_techniques,
            vec![Technique::NativeApi, Technique::Unspecified]
        );
    }

    #[test]
    fn rejects_bad_int64_and_time() {
        let base = r#"{"name":"n","category":"c","eventTime":"2026-11-26T15:32:08Z","createTime":"2026-11-26T15:32:08Z","processes":[{"pid":"x"}]}"#;
        assert!(serde_json::from_str::<Finding>(base).is_err());
        let bad_time = r#"{"name":"n","category":"c","eventTime":"yesterday","createTime":"2026-11-26T15:32:08Z"}"#;
        assert!(serde_json::from_str::<Finding>(bad_time).is_err());
    }

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::High > Severity::Medium);
        assert!(Severity::Low > Severity::Unspecified);
        assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
        assert!("severe".parse::<Severity>().is_err());
    }
}
