//! scrun's detector categories: exact SCC category strings, default severities, MITRE mapping.

use crate::taxonomy::{MITRE_VERSION, MitreAttack, Severity, Tactic, Technique};

/// A detector category scrun emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// A binary from an image layer matched a threat feed.
    BuiltInMaliciousBinaryExecuted,
    /// A binary added at run time (upper layer, no origin) matched a threat feed.
    AddedMaliciousBinaryExecuted,
    /// An image binary modified at run time matched a threat feed.
    ModifiedMaliciousBinaryExecuted,
    /// A binary not in the image was executed (drift, no threat intel needed).
    AddedBinaryExecuted,
    /// A process was executed from a memfd.
    FilelessMemfd,
    /// A process was executed from `/dev/shm`.
    FilelessDevShm,
    /// A library from an image layer that a threat feed lists was mapped executable. Not in
    /// Google's published catalogue (which has the added and modified library categories only):
    /// scrun's name, after the binary family's *Built in* category.
    BuiltInMaliciousLibraryLoaded,
    /// A library not in the image (upper layer, volume, tmpfs) that a feed lists was mapped
    /// executable.
    AddedMaliciousLibraryLoaded,
    /// An image library modified at run time that a feed lists was mapped executable.
    ModifiedMaliciousLibraryLoaded,
    /// A library not in the image, or modified from it, was mapped executable (drift, no threat
    /// intel needed).
    AddedLibraryLoaded,
}

/// Error from parsing a [`Category`].
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown finding category {0:?}: use an exact SCC category or one of built-in-malicious, \
     added-malicious, modified-malicious, added-binary, fileless-memfd, fileless-dev-shm, \
     built-in-malicious-library, added-malicious-library, modified-malicious-library, added-library"
)]
pub struct ParseCategoryError(pub String);

impl Category {
    /// Every category, in a stable order.
    pub const ALL: [Category; 10] = [
        Category::BuiltInMaliciousBinaryExecuted,
        Category::AddedMaliciousBinaryExecuted,
        Category::ModifiedMaliciousBinaryExecuted,
        Category::AddedBinaryExecuted,
        Category::FilelessMemfd,
        Category::FilelessDevShm,
        Category::BuiltInMaliciousLibraryLoaded,
        Category::AddedMaliciousLibraryLoaded,
        Category::ModifiedMaliciousLibraryLoaded,
        Category::AddedLibraryLoaded,
    ];

    /// The library family: a file mapped executable (`mmap`/`mprotect`), not exec'd.
    pub fn is_library(self) -> bool {
        matches!(
            self,
            Category::BuiltInMaliciousLibraryLoaded
                | Category::AddedMaliciousLibraryLoaded
                | Category::ModifiedMaliciousLibraryLoaded
                | Category::AddedLibraryLoaded
        )
    }

    /// The exact SCC category string.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::BuiltInMaliciousBinaryExecuted => {
                "Execution: Built in Malicious Binary Executed"
            }
            Category::AddedMaliciousBinaryExecuted => "Execution: Added Malicious Binary Executed",
            Category::ModifiedMaliciousBinaryExecuted => {
                "Execution: Modified Malicious Binary Executed"
            }
            Category::AddedBinaryExecuted => "Execution: Added Binary Executed",
            Category::FilelessMemfd => "Execution: Fileless Execution in /memfd:",
            Category::FilelessDevShm => "Privilege Escalation: Fileless Execution in /dev/shm",
            Category::BuiltInMaliciousLibraryLoaded => {
                "Execution: Built in Malicious Library Loaded"
            }
            Category::AddedMaliciousLibraryLoaded => "Execution: Added Malicious Library Loaded",
            Category::ModifiedMaliciousLibraryLoaded => {
                "Execution: Modified Malicious Library Loaded"
            }
            Category::AddedLibraryLoaded => "Execution: Added Library Loaded",
        }
    }

    /// The short slug accepted on the command line.
    pub fn slug(self) -> &'static str {
        match self {
            Category::BuiltInMaliciousBinaryExecuted => "built-in-malicious",
            Category::AddedMaliciousBinaryExecuted => "added-malicious",
            Category::ModifiedMaliciousBinaryExecuted => "modified-malicious",
            Category::AddedBinaryExecuted => "added-binary",
            Category::FilelessMemfd => "fileless-memfd",
            Category::FilelessDevShm => "fileless-dev-shm",
            Category::BuiltInMaliciousLibraryLoaded => "built-in-malicious-library",
            Category::AddedMaliciousLibraryLoaded => "added-malicious-library",
            Category::ModifiedMaliciousLibraryLoaded => "modified-malicious-library",
            Category::AddedLibraryLoaded => "added-library",
        }
    }

    /// The Container Threat Detection module name (useful as a detector id).
    pub fn api_name(self) -> &'static str {
        match self {
            Category::BuiltInMaliciousBinaryExecuted => "BUILT_IN_MALICIOUS_BINARY_EXECUTED",
            Category::AddedMaliciousBinaryExecuted => "ADDED_MALICIOUS_BINARY_EXECUTED",
            Category::ModifiedMaliciousBinaryExecuted => "MODIFIED_MALICIOUS_BINARY_EXECUTED",
            Category::AddedBinaryExecuted => "ADDED_BINARY_EXECUTED",
            Category::FilelessMemfd => "FILELESS_EXECUTION_DETECTION_MEMFD",
            Category::FilelessDevShm => "FILELESS_EXECUTION_DETECTION_SHM",
            // Not in Google's catalogue (see the variant).
            Category::BuiltInMaliciousLibraryLoaded => "BUILT_IN_MALICIOUS_LIBRARY_LOADED",
            Category::AddedMaliciousLibraryLoaded => "ADDED_MALICIOUS_LIBRARY_LOADED",
            Category::ModifiedMaliciousLibraryLoaded => "MODIFIED_MALICIOUS_LIBRARY_LOADED",
            Category::AddedLibraryLoaded => "ADDED_LIBRARY_LOADED",
        }
    }

    /// The severity GKE Container Threat Detection gives this category.
    pub fn default_severity(self) -> Severity {
        match self {
            Category::BuiltInMaliciousBinaryExecuted
            | Category::AddedMaliciousBinaryExecuted
            | Category::ModifiedMaliciousBinaryExecuted
            | Category::BuiltInMaliciousLibraryLoaded
            | Category::AddedMaliciousLibraryLoaded
            | Category::ModifiedMaliciousLibraryLoaded => Severity::Critical,
            Category::AddedBinaryExecuted | Category::AddedLibraryLoaded => Severity::Low,
            Category::FilelessMemfd | Category::FilelessDevShm => Severity::High,
        }
    }

    /// The MITRE ATT&CK mapping (see the README for the reasoning on the fileless ones).
    pub fn mitre_attack(self) -> MitreAttack {
        let (primary_tactic, primary_techniques, additional_tactics, additional_techniques) =
            match self {
                // T1106 + T1105 as documented for the binary family; the split follows the
                // category prefix (Execution) and T1105's tactic (Command and Control).
                Category::BuiltInMaliciousBinaryExecuted
                | Category::AddedMaliciousBinaryExecuted
                | Category::ModifiedMaliciousBinaryExecuted
                | Category::AddedBinaryExecuted => (
                    Tactic::Execution,
                    vec![Technique::NativeApi],
                    vec![Tactic::CommandAndControl],
                    vec![Technique::IngressToolTransfer],
                ),
                // T1105 + T1129 as documented for the library family ("Ingress Tool Transfer
                // and Shared Modules"); T1129 is an Execution technique.
                Category::BuiltInMaliciousLibraryLoaded
                | Category::AddedMaliciousLibraryLoaded
                | Category::ModifiedMaliciousLibraryLoaded
                | Category::AddedLibraryLoaded => (
                    Tactic::Execution,
                    vec![Technique::SharedModules],
                    vec![Tactic::CommandAndControl],
                    vec![Technique::IngressToolTransfer],
                ),
                Category::FilelessMemfd => (
                    Tactic::Execution,
                    vec![Technique::NativeApi],
                    vec![Tactic::DefenseEvasion],
                    vec![Technique::ReflectiveCodeLoading],
                ),
                Category::FilelessDevShm => (
                    Tactic::PrivilegeEscalation,
                    vec![],
                    vec![Tactic::Execution, Tactic::DefenseEvasion],
                    vec![Technique::NativeApi, Technique::ReflectiveCodeLoading],
                ),
            };
        MitreAttack {
            primary_tactic,
            primary_techniques,
            additional_tactics,
            additional_techniques,
            version: MITRE_VERSION.to_owned(),
        }
    }

    /// The category whose exact SCC string is `s`.
    pub fn from_scc(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Category {
    type Err = ParseCategoryError;

    /// Accepts the exact SCC string, the slug (any case, `_` for `-`) or the API name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(c) = Category::from_scc(s) {
            return Ok(c);
        }
        let slug = s.trim().to_ascii_lowercase().replace('_', "-");
        Category::ALL
            .into_iter()
            .find(|c| {
                c.slug() == slug || c.api_name().to_ascii_lowercase().replace('_', "-") == slug
            })
            .ok_or_else(|| ParseCategoryError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_strings_and_severities() {
        assert_eq!(
            Category::BuiltInMaliciousBinaryExecuted.as_str(),
            "Execution: Built in Malicious Binary Executed"
        );
        assert_eq!(
            Category::FilelessMemfd.as_str(),
            "Execution: Fileless Execution in /memfd:"
        );
        assert_eq!(
            Category::FilelessDevShm.as_str(),
            "Privilege Escalation: Fileless Execution in /dev/shm"
        );
        assert_eq!(
            Category::AddedBinaryExecuted.default_severity(),
            Severity::Low
        );
        assert_eq!(Category::FilelessDevShm.default_severity(), Severity::High);
        assert_eq!(
            Category::AddedMaliciousLibraryLoaded.as_str(),
            "Execution: Added Malicious Library Loaded"
        );
        assert_eq!(
            Category::ModifiedMaliciousLibraryLoaded.api_name(),
            "MODIFIED_MALICIOUS_LIBRARY_LOADED"
        );
        assert_eq!(
            Category::AddedLibraryLoaded.default_severity(),
            Severity::Low
        );
        let m = Category::AddedMaliciousLibraryLoaded.mitre_attack();
        assert_eq!(m.primary_techniques, [Technique::SharedModules]);
        assert_eq!(m.additional_techniques, [Technique::IngressToolTransfer]);
        assert_eq!(Category::ALL.iter().filter(|c| c.is_library()).count(), 4);
        assert_eq!(
            Category::ModifiedMaliciousBinaryExecuted.default_severity(),
            Severity::Critical
        );
    }

    #[test]
    fn parses_exact_slug_and_api_name() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
            assert_eq!(c.slug().parse::<Category>().unwrap(), c);
            assert_eq!(c.api_name().parse::<Category>().unwrap(), c);
            assert_eq!(c.slug().to_uppercase().parse::<Category>().unwrap(), c);
        }
        assert!("execution".parse::<Category>().is_err());
        assert!("".parse::<Category>().is_err());
    }

    #[test]
    fn strings_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Category::ALL {
            assert!(seen.insert(c.as_str()));
            assert!(seen.insert(c.slug()));
        }
    }

    #[test]
    fn primary_tactic_follows_the_category_prefix() {
        for c in Category::ALL {
            let m = c.mitre_attack();
            let expected = if c.as_str().starts_with("Execution:") {
                Tactic::Execution
            } else {
                Tactic::PrivilegeEscalation
            };
            assert_eq!(m.primary_tactic, expected, "{c}");
            assert_eq!(m.version, "8");
        }
    }
}
