//! A container's rules at run time: the shared ruleset (built off the exec path), the actions in
//! effect for this container (its `scrun.rule.<ID>` labels), its ancestry table, and the
//! rendering of a rule's finding.

use std::sync::{Arc, Mutex, OnceLock};

use scrun_findings::{Finding, Indicator, props};

use super::ancestry::{Ancestry, Node};
use super::{Hit, Rule, RuleAction, Ruleset, RulesetSpec};
use crate::event::{ContainerIdentity, Decision, ExecEvent, Verdict};
use crate::policy::{Config, Mode};

/// A ruleset built on first use (or ahead of it by [`SharedRuleset::prepare_in_background`]), so
/// no container start waits for it. Its regular expressions are compiled when a rule first needs
/// one (each sits behind cheaper conditions, such as the program's name): compiling all ~20 of
/// the built-in ones took 2.2 ms of CPU per container start (`Ruleset::build` itself 0.7 ms),
/// against ~0.1 ms once for the first exec that reaches one.
#[derive(Debug)]
pub struct SharedRuleset {
    spec: RulesetSpec,
    cell: OnceLock<Result<Ruleset, String>>,
}

impl SharedRuleset {
    /// A ruleset to be built from `spec` (already validated at `create`).
    pub fn new(spec: RulesetSpec) -> Arc<SharedRuleset> {
        Arc::new(SharedRuleset {
            spec,
            cell: OnceLock::new(),
        })
    }

    /// The ruleset, built now if no one has yet (concurrent callers wait for one build).
    pub fn get(&self) -> Result<&Ruleset, &str> {
        self.cell
            .get_or_init(|| Ruleset::build(&self.spec).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(String::as_str)
    }

    /// Builds it on a new thread now.
    pub fn prepare_in_background(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("scrun-rules".into())
            .spawn(move || {
                if let Err(e) = me.get() {
                    tracing::error!(error = %e, "the exec rules cannot be built; no rule is evaluated");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot build the rules in the background; the first exec will");
        }
    }
}

/// One container's rules.
#[derive(Debug)]
pub struct ContainerRules {
    shared: Arc<SharedRuleset>,
    labels: std::collections::BTreeMap<String, String>,
    actions: OnceLock<Vec<RuleAction>>,
    ancestry: Mutex<Ancestry>,
}

impl ContainerRules {
    /// The rules of the container with `identity`.
    pub fn new(shared: Arc<SharedRuleset>, identity: &ContainerIdentity) -> ContainerRules {
        ContainerRules {
            shared,
            labels: identity.labels.clone(),
            actions: OnceLock::new(),
            ancestry: Mutex::new(Ancestry::default()),
        }
    }

    /// The ruleset (`None` when it could not be built; logged).
    pub fn ruleset(&self) -> Option<&Ruleset> {
        self.shared.get().ok()
    }

    /// The actions in effect (labels that do not parse were refused at `create`; here they
    /// leave the rule's action).
    pub fn actions(&self) -> &[RuleAction] {
        self.actions.get_or_init(|| match self.ruleset() {
            Some(rs) => rs.actions_for(&self.labels).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ignoring a rule label");
                rs.rules().iter().map(|r| r.action).collect()
            }),
            None => Vec::new(),
        })
    }

    /// The ancestry table (the exec path's lookups and records).
    pub fn ancestry(&self) -> std::sync::MutexGuard<'_, Ancestry> {
        self.ancestry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an exec that was let through.
    pub fn record(&self, pid: u32, binary: String, name: String, now: u64) {
        self.ancestry().record(
            pid,
            Node {
                start: 0,
                seen_at: now,
                binary,
                name,
                ppid: 0,
            },
        );
    }
}

/// The verdict the hits call for in `mode`.
pub fn verdict_of(hits: &[Hit], mode: Mode) -> Verdict {
    if mode == Mode::Enforce && hits.iter().any(|h| h.action == RuleAction::Block) {
        Verdict::Block
    } else {
        Verdict::Allow
    }
}

/// `user:pass@host` -> `host` (proxy URLs in findings carry no credentials).
fn strip_userinfo(v: &str) -> String {
    let (scheme, rest) = match v.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), v),
    };
    let rest = match rest.find('/') {
        Some(i) => {
            let (auth, path) = rest.split_at(i);
            format!("{}{path}", auth.rsplit('@').next().unwrap_or(auth))
        }
        None => rest.rsplit('@').next().unwrap_or(rest).to_owned(),
    };
    format!("{scheme}{rest}")
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let auth = rest.split(['/', '?', '#']).next()?;
    let host = auth.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split(']').next()?.trim_start_matches('[')
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The finding of `rule` firing on `event`: the exec's finding (process, parent, container,
/// provenance) with the rule's category, severity, MITRE mapping, description and indicators.
pub fn render_hit(
    event: &ExecEvent,
    decision: &Decision,
    identity: &ContainerIdentity,
    config: &Config,
    mode: Mode,
    rule: &Rule,
    hit: &Hit,
) -> Finding {
    let mut f = crate::report::render(event, decision, identity, config, mode);
    f.category = rule.category.clone();
    f.severity = rule.severity;
    f.mitre_attack = Some(rule.mitre.clone());
    let blocked = decision.verdict == Verdict::Block && hit.action == RuleAction::Block;
    f.set_prop(
        props::ACTION,
        if decision.verdict == Verdict::Block {
            props::ACTION_BLOCKED
        } else {
            props::ACTION_ALLOWED
        },
    );
    f.set_prop("scrun_rule_id", rule.id.clone());
    f.set_prop("scrun_rule_source", rule.source.clone());
    f.set_prop("scrun_rule_action", hit.action.to_string());
    f.set_prop("scrun_detector", rule.api_name.clone());
    let mut indicator = f.indicator.take().unwrap_or_default();
    if let Some((fd, local, peer)) = hit.captures.socket {
        let stream = match fd {
            0 => "Stdin",
            1 => "Stdout",
            _ => "Stderr",
        };
        f.set_prop("scrun_socket_fd", fd.to_string());
        if let Some(l) = local {
            f.set_prop(
                &format!("Reverse_Shell_{stream}_Redirection_Src_Ip"),
                l.ip().to_string(),
            );
            f.set_prop(
                &format!("Reverse_Shell_{stream}_Redirection_Src_Port"),
                l.port().to_string(),
            );
        }
        if let Some(p) = peer {
            f.set_prop(
                &format!("Reverse_Shell_{stream}_Redirection_Dst_Ip"),
                p.ip().to_string(),
            );
            f.set_prop(
                &format!("Reverse_Shell_{stream}_Redirection_Dst_Port"),
                p.port().to_string(),
            );
            indicator.ip_addresses.push(p.ip().to_string());
        }
    }
    for u in &hit.captures.urls {
        indicator.uris.push(u.clone());
        if let Some(h) = host_of(u) {
            if !indicator.domains.contains(&h) {
                indicator.domains.push(h);
            }
        }
    }
    if !hit.captures.proxies.is_empty() {
        let shown: Vec<String> = hit
            .captures
            .proxies
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => format!("{k}={}", strip_userinfo(v)),
                None => kv.clone(),
            })
            .collect();
        f.set_prop("scrun_proxy_env", shown.join(" "));
    }
    if indicator != Indicator::default() {
        f.indicator = Some(indicator);
    }
    let container = if identity.name.is_empty() {
        identity.id.as_str()
    } else {
        identity.name.as_str()
    };
    let parent = event
        .parent
        .as_ref()
        .map(|p| format!(", parent {} (pid {})", p.name, p.pid))
        .unwrap_or_default();
    f.description = format!(
        "{} Rule {} ({}): process pid {}{parent} executed {} in container {container}. The exec was {} ({mode} mode{}).",
        rule.description.trim_end(),
        rule.id,
        rule.source,
        event.process.pid,
        event.target.path.display(),
        if decision.verdict == Verdict::Block {
            "blocked"
        } else {
            "allowed"
        },
        if blocked {
            ", this rule's action is block"
        } else {
            ""
        },
    );
    f.next_steps = rule.next_steps.clone();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hosts() {
        assert_eq!(
            strip_userinfo("http://u:p@proxy:3128/x"),
            "http://proxy:3128/x"
        );
        assert_eq!(strip_userinfo("u:p@proxy:3128"), "proxy:3128");
        assert_eq!(
            host_of("https://User@Evil.Example:8443/a?b"),
            Some("evil.example".into())
        );
        assert_eq!(
            host_of("http://[2001:db8::1]:80/"),
            Some("2001:db8::1".into())
        );
    }
}
