//! The Cloud Run Threat Detection runtime categories that scrun's rules raise: exact display
//! names, API names (`CLOUD_RUN_` + the Container Threat Detection module name) and the
//! severities Container Threat Detection documents for them (the source and its caveats are in
//! `shared/notes/detection.md` §1). The six provenance categories of [`crate::Category`] are
//! not repeated here.

use crate::taxonomy::Severity;

/// One category of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueEntry {
    /// The exact SCC category string, e.g. `Reverse Shell`.
    pub display: &'static str,
    /// The module name without the `CLOUD_RUN_` prefix, e.g. `REVERSE_SHELL`.
    pub api_name: &'static str,
    /// The documented severity.
    pub severity: Severity,
}

impl CatalogueEntry {
    /// The Cloud Run API name, `CLOUD_RUN_` + [`CatalogueEntry::api_name`].
    pub fn cloud_run_api_name(&self) -> String {
        format!("CLOUD_RUN_{}", self.api_name)
    }
}

const fn e(display: &'static str, api_name: &'static str, severity: Severity) -> CatalogueEntry {
    CatalogueEntry {
        display,
        api_name,
        severity,
    }
}

use Severity::{Critical, Low, Medium};

/// The runtime categories decidable at exec (rows Y and P of the catalogue) that rules raise.
pub const CLOUD_RUN: &[CatalogueEntry] = &[
    e("Reverse Shell", "REVERSE_SHELL", Critical),
    e("Unexpected Child Shell", "UNEXPECTED_CHILD_SHELL", Critical),
    e(
        "Execution: Socat Reverse Shell Detected",
        "SOCAT_REVERSE_SHELL_DETECTED",
        Medium,
    ),
    e(
        "Execution: Netcat Remote Code Execution in Container",
        "NETCAT_REMOTE_CODE_EXECUTION_IN_CONTAINER",
        Low,
    ),
    e(
        "Defense Evasion: Base64 ELF File Command Line",
        "BASE64_ELF_FILE_CMDLINE",
        Medium,
    ),
    e(
        "Defense Evasion: Base64 Encoded Python Script Executed",
        "BASE64_ENCODED_PYTHON_SCRIPT_EXECUTED",
        Medium,
    ),
    e(
        "Defense Evasion: Base64 Encoded Shell Script Executed",
        "BASE64_ENCODED_SHELL_SCRIPT_EXECUTED",
        Medium,
    ),
    e(
        "Defense Evasion: Launch Code Compiler Tool In Container",
        "LAUNCH_CODE_COMPILER_TOOL_IN_CONTAINER",
        Low,
    ),
    e(
        "Credential Access: Find Google Cloud Credentials",
        "FIND_GCP_CREDENTIALS",
        Low,
    ),
    e(
        "Credential Access: GPG Key Reconnaissance",
        "GPG_KEY_RECONNAISSANCE",
        Critical,
    ),
    e(
        "Credential Access: Search Private Keys or Passwords",
        "SEARCH_PRIVATE_KEYS_OR_PASSWORDS",
        Low,
    ),
    e(
        "Privilege Escalation: Abuse of Sudo For Privilege Escalation (CVE-2019-14287)",
        "ABUSE_SUDO_FOR_PRIVILEGE_ESCALATION",
        Critical,
    ),
    e(
        "Privilege Escalation: Sudo Potential Privilege Escalation (CVE-2021-3156)",
        "SUDO_POTENTIAL_PRIVILEGE_ESCALATION",
        Critical,
    ),
    e(
        "Privilege Escalation: Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)",
        "POLKIT_LOCAL_PRIVILEGE_ESCALATION_VULNERABILITY",
        Critical,
    ),
    e(
        "Execution: Program Run with Disallowed HTTP Proxy Env",
        "PROGRAM_RUN_WITH_DISALLOWED_HTTP_PROXY_ENV",
        Low,
    ),
    e(
        "Exfiltration: Launch Remote File Copy Tools in Container",
        "LAUNCH_REMOTE_FILE_COPY_TOOLS_IN_CONTAINER",
        Low,
    ),
    e(
        "Impact: Remove Bulk Data From Disk",
        "REMOVE_BULK_DATA_FROM_DISK",
        Low,
    ),
    e(
        "Impact: Detect Malicious Cmdlines",
        "DETECT_MALICIOUS_CMDLINES",
        Critical,
    ),
    e(
        "Execution: Suspicious OpenSSL Shared Object Loaded",
        "SUSPICIOUS_OPENSSL_SHARED_OBJECT_LOADED",
        Critical,
    ),
    e(
        "Execution: Possible Arbitrary Command Execution through CUPS (CVE-2024-47076)",
        "POSSIBLE_ARBITRARY_COMMAND_EXECUTION_THROUGH_CUPS",
        Critical,
    ),
    e(
        "Execution: Ingress Nightmare Vulnerability Execution",
        "INGRESS_NIGHTMARE_VULNERABILITY_EXECUTION",
        Medium,
    ),
    e(
        "Execution: Kubernetes Attack Tool Execution",
        "KUBERNETES_ATTACK_TOOL_EXECUTION",
        Critical,
    ),
    e(
        "Execution: Local Reconnaissance Tool Execution",
        "LOCAL_RECONNAISSANCE_TOOL_EXECUTION",
        Critical,
    ),
    e(
        "Command and Control: Steganography Tool Detected",
        "STEGANOGRAPHY_TOOL_DETECTED",
        Critical,
    ),
    e("Execution: Container Escape", "CONTAINER_ESCAPE", Critical),
    e("Malicious URL Observed", "MALICIOUS_URL_OBSERVED", Medium),
];

/// The catalogue entry whose display name, API name (with or without `CLOUD_RUN_`) is `s`.
pub fn lookup(s: &str) -> Option<&'static CatalogueEntry> {
    let api = s.strip_prefix("CLOUD_RUN_").unwrap_or(s);
    CLOUD_RUN
        .iter()
        .find(|c| c.display == s || c.api_name == api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_api_names_are_screaming_snake() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CLOUD_RUN {
            assert!(seen.insert(c.display), "{}", c.display);
            assert!(seen.insert(c.api_name), "{}", c.api_name);
            assert!(
                c.api_name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                c.api_name
            );
            assert!(crate::Category::from_scc(c.display).is_none());
        }
    }

    #[test]
    fn lookup_by_display_and_api_name() {
        assert_eq!(lookup("Reverse Shell").unwrap().api_name, "REVERSE_SHELL");
        assert_eq!(
            lookup("CLOUD_RUN_REVERSE_SHELL").unwrap().display,
            "Reverse Shell"
        );
        assert_eq!(
            lookup("UNEXPECTED_CHILD_SHELL").unwrap().severity,
            Severity::Critical
        );
        assert!(lookup("Reverse").is_none());
    }
}
