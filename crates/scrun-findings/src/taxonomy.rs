//! How a finding is classified: its severity and its MITRE ATT&CK mapping (shared by
//! [`crate::category`], which maps scrun's categories onto them, and [`crate::model`], the
//! finding itself).

use serde::{Deserialize, Serialize};

/// The MITRE ATT&CK framework version scrun's mappings refer to.
pub const MITRE_VERSION: &str = "8";

/// Severity of a finding. Ordered: `Unspecified < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// `LOW`
    Low,
    /// `MEDIUM`
    Medium,
    /// `HIGH`
    High,
    /// `CRITICAL`
    Critical,
    /// `SEVERITY_UNSPECIFIED` (also what unknown values read as).
    #[default]
    #[serde(rename = "SEVERITY_UNSPECIFIED", other)]
    Unspecified,
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl Severity {
    /// 0 for unspecified up to 4 for critical; the order "at least this severe" uses.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Unspecified => 0,
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            Severity::Critical => 4,
        }
    }

    /// The SCC string, e.g. `CRITICAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unspecified => "SEVERITY_UNSPECIFIED",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error from parsing a [`Severity`].
#[derive(Debug, thiserror::Error)]
#[error("unknown severity {0:?}: use one of low, medium, high, critical")]
pub struct ParseSeverityError(pub String);

impl std::str::FromStr for Severity {
    type Err = ParseSeverityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "LOW" => Ok(Severity::Low),
            "MEDIUM" => Ok(Severity::Medium),
            "HIGH" => Ok(Severity::High),
            "CRITICAL" => Ok(Severity::Critical),
            _ => Err(ParseSeverityError(s.to_owned())),
        }
    }
}

/// MITRE ATT&CK tactic (the full SCC enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum Tactic {
    Reconnaissance,
    ResourceDevelopment,
    InitialAccess,
    Execution,
    Persistence,
    PrivilegeEscalation,
    DefenseEvasion,
    CredentialAccess,
    Discovery,
    LateralMovement,
    Collection,
    CommandAndControl,
    Exfiltration,
    Impact,
    #[default]
    #[serde(rename = "TACTIC_UNSPECIFIED", other)]
    Unspecified,
}

/// MITRE ATT&CK technique: the SCC enum values scrun uses plus common container ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Technique {
    /// T1105
    IngressToolTransfer,
    /// T1106
    NativeApi,
    /// T1129
    SharedModules,
    /// T1059
    CommandAndScriptingInterpreter,
    /// T1059.004
    UnixShell,
    /// T1059.006
    Python,
    /// T1611
    EscapeToHost,
    /// T1496
    ResourceHijacking,
    /// T1027
    ObfuscatedFilesOrInfo,
    /// T1140
    DeobfuscateDecodeFilesOrInfo,
    /// T1620
    ReflectiveCodeLoading,
    /// T1068
    ExploitationForPrivilegeEscalation,
    /// T1548.003
    AbuseElevationControlMechanismSudoAndSudoCaching,
    /// T1574.006
    HijackExecutionFlowDynamicLinkerHijacking,
    /// T1613
    ContainerAndResourceDiscovery,
    /// T1001.002
    DataObfuscationSteganography,
    /// T1090
    Proxy,
    /// T1036
    Masquerading,
    /// T1564
    HideArtifacts,
    /// T1485
    DataDestruction,
    /// T1490
    InhibitSystemRecovery,
    /// T1552
    UnsecuredCredentials,
    /// T1552.001
    CredentialsInFiles,
    /// T1552.004
    PrivateKeys,
    /// T1190
    ExploitPublicFacingApplication,
    /// T1027.004
    CompileAfterDelivery,
    /// T1001.002 (the SCC enum value is `STEGANOGRAPHY`)
    Steganography,
    /// T1570
    LateralToolTransfer,
    /// T1609
    ContainerAdministrationCommand,
    /// T1588
    ObtainCapabilities,
    /// T1083
    FileAndDirectoryDiscovery,
    /// T1057
    ProcessDiscovery,
    /// T1204
    UserExecution,
    /// T1132.001
    StandardEncoding,
    /// T1046
    NetworkServiceDiscovery,
    /// T1595
    ActiveScanning,
    /// `TECHNIQUE_UNSPECIFIED` (also what values outside this subset read as).
    #[default]
    #[serde(rename = "TECHNIQUE_UNSPECIFIED", other)]
    Unspecified,
}

/// `mitreAttack`
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MitreAttack {
    /// `primaryTactic`
    pub primary_tactic: Tactic,
    /// `primaryTechniques[]`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub primary_techniques: Vec<Technique>,
    /// `additionalTactics[]`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_tactics: Vec<Tactic>,
    /// `additionalTechniques[]`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_techniques: Vec<Technique>,
    /// `version`, e.g. "8"
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}
