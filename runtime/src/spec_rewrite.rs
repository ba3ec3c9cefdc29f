//! The rewrite `create` applies to the caller's config.json before libcontainer sees it.
//!
//! It works on `serde_json::Value` so that fields scrun does not know survive untouched (hooks may
//! read the shadow bundle's config.json). What changes:
//! - one `SCMP_ACT_NOTIFY` rule for `execve`/`execveat`, merged into the caller's profile
//!   (runtime-interface note §5): the two names are removed from ALLOW/LOG rules first, because
//!   libseccomp keeps the first action added for a duplicate rule and an appended NOTIFY rule would
//!   silently do nothing; where the profile denies them they stay denied; no profile at all gets an
//!   allow-all profile with native and compat architectures;
//! - unless mapping supervision is off, `SCMP_ACT_NOTIFY` rules with argument conditions for the
//!   calls that make a file's content executable without an exec ([`merge_mappings`]);
//! - `listenerPath` / `listenerMetadata`;
//! - `"noNewPrivileges": false` dropped (libcontainer would load the filter after the capability drop
//!   and fail);
//! - `root.path` made absolute against the caller's bundle;
//! - no `cgroupsPath`: runc's default placement, not libcontainer's `:youki:<id>`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub const EXEC_SYSCALLS: [&str; 2] = ["execve", "execveat"];
/// Syscalls that change a task's root inside its mount namespace: trapped (where the profile
/// allows them) so the supervisor stops assuming the container root for anyone's exec before
/// they run (a change of mount namespace is seen per exec without a trap; scrun-kernel `view`).
pub const VIEW_SYSCALLS: [&str; 2] = ["chroot", "pivot_root"];

/// `CLONE_NEWNS`.
const CLONE_NEWNS: u64 = 0x0002_0000;

/// Syscalls that can put a task (or its child) in another mount namespace, trapped where the
/// profile lets them make one, so that the supervisor checks each caller's namespace only after
/// one of them ran (scrun-kernel `view::Taint`), not on every exec. With a flag: trapped only
/// when the flags argument (arg 0) has it, so that `fork` and thread creation through `clone`
/// never notify. `clone3` passes its flags in memory and `setns` can join any namespace type
/// (nstype 0): both are trapped whatever their arguments.
pub const NS_SYSCALLS: [(&str, Option<u64>); 4] = [
    ("unshare", Some(CLONE_NEWNS)),
    ("clone", Some(CLONE_NEWNS)),
    ("clone3", None),
    ("setns", None),
];

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("config.json: {0}")]
    Shape(String),
    #[error(
        "config.json: the seccomp profile already uses SCMP_ACT_NOTIFY with its own listener ({0}); scrun cannot chain to another seccomp agent"
    )]
    ForeignListener(String),
    #[error(
        "config.json: the seccomp profile has a conditional {action} rule for {name}; scrun cannot merge its exec rule with argument conditions on exec syscalls"
    )]
    ConditionalExecRule { name: String, action: String },
}

pub struct Rewrite<'a> {
    pub container_id: &'a str,
    pub bundle: &'a Path,
    pub listener_path: &'a Path,
    pub listener_metadata: String,
    pub systemd_cgroup: bool,
    /// The container's own seccomp agent keeps the listener (see `delegation.rs`): the profile
    /// is left as it is.
    pub delegate: bool,
    /// Trap executable file mappings (`[supervisor] mappings` is not `off`).
    pub mappings: bool,
}

/// What the merge decided, for logs and tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    pub synthesized: bool,
    pub notified: Vec<String>,
    pub left_denied: Vec<String>,
    /// View syscalls the profile allows only under argument conditions: not trapped, so the
    /// supervisor must resolve every exec in its caller's own root.
    pub view_untrapped: Vec<String>,
    /// Namespace syscalls ([`NS_SYSCALLS`]) trapped when they can make a mount namespace.
    pub ns_notified: Vec<String>,
    /// Namespace syscalls the profile allows under conditions scrun cannot merge with: not
    /// trapped, so the supervisor checks every caller's mount namespace.
    pub ns_untrapped: Vec<String>,
    /// What [`merge_mappings`] did (all empty when mappings are off).
    pub mappings: MappingMerge,
}

impl Rewrite<'_> {
    pub fn apply(&self, spec: &mut Value) -> Result<MergeReport, SpecError> {
        let obj = spec
            .as_object_mut()
            .ok_or_else(|| SpecError::Shape("top level is not an object".into()))?;

        // root.path absolute
        let root = obj
            .get_mut("root")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| SpecError::Shape("missing root".into()))?;
        let path = root
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| SpecError::Shape("missing root.path".into()))?;
        let abs = absolute_rootfs(self.bundle, Path::new(path));
        root.insert(
            "path".into(),
            Value::String(abs.to_string_lossy().into_owned()),
        );

        if let Some(process) = obj.get_mut("process").and_then(Value::as_object_mut) {
            if process.get("noNewPrivileges") == Some(&Value::Bool(false)) {
                process.remove("noNewPrivileges");
            }
        }

        let linux = obj
            .entry("linux")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| SpecError::Shape("linux is not an object".into()))?;
        if linux
            .get("cgroupsPath")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let default = if self.systemd_cgroup {
                format!("system.slice:scrun:{}", self.container_id)
            } else {
                format!("/{}", self.container_id)
            };
            linux.insert("cgroupsPath".into(), Value::String(default));
        }

        if self.delegate {
            if let Some(seccomp) = linux.get_mut("seccomp") {
                masked_eq_for_libcontainer(seccomp);
            }
            return Ok(MergeReport::default());
        }
        let seccomp = linux.entry("seccomp").or_insert(Value::Null);
        let mut report = merge_notify(seccomp)?;
        if self.mappings {
            report.mappings = merge_mappings(seccomp)?;
        }
        // Last: the mapping rules are written in runc's sense, as every profile is.
        masked_eq_for_libcontainer(seccomp);
        let s = seccomp
            .as_object_mut()
            .expect("merge_notify leaves an object");
        s.insert(
            "listenerPath".into(),
            Value::String(self.listener_path.to_string_lossy().into_owned()),
        );
        s.insert(
            "listenerMetadata".into(),
            Value::String(self.listener_metadata.clone()),
        );
        Ok(report)
    }
}

/// `SCMP_CMP_MASKED_EQ` means `(arg & value) == valueTwo` to runc (libseccomp-golang takes the
/// mask first) and so to every profile written for it: Docker's default profile allows `clone`
/// only when `(flags & 0x7E020000) == 0`, i.e. without namespace flags. libcontainer 0.7 passes
/// `valueTwo` as the mask and `value` as the datum instead; with a zero `valueTwo` the mask is 0,
/// which libseccomp compiles to "always true", so that rule would allow `clone` with any
/// namespace flag. Swapping the two here gives libcontainer's reading runc's meaning.
pub fn masked_eq_for_libcontainer(seccomp: &mut Value) {
    let Some(rules) = seccomp.get_mut("syscalls").and_then(Value::as_array_mut) else {
        return;
    };
    for rule in rules {
        let Some(args) = rule.get_mut("args").and_then(Value::as_array_mut) else {
            continue;
        };
        for arg in args.iter_mut().filter_map(Value::as_object_mut) {
            if arg.get("op").and_then(Value::as_str) != Some("SCMP_CMP_MASKED_EQ") {
                continue;
            }
            let mask = arg.remove("value").unwrap_or(json!(0));
            let datum = arg.remove("valueTwo").unwrap_or(json!(0));
            arg.insert("value".into(), datum);
            arg.insert("valueTwo".into(), mask);
        }
    }
}

/// Remove from `process.capabilities` the names `known` rejects, as runc does (it warns and goes
/// on; libcontainer would refuse the whole config). Returns the removed names, sorted, once each.
pub fn drop_unknown_capabilities(spec: &mut Value, known: impl Fn(&str) -> bool) -> Vec<String> {
    let mut dropped = Vec::new();
    let Some(sets) = spec
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    else {
        return dropped;
    };
    for set in sets.values_mut() {
        if let Some(names) = set.as_array_mut() {
            names.retain(|n| match n.as_str() {
                Some(name) if known(name) => true,
                Some(name) => {
                    dropped.push(name.to_string());
                    false
                }
                None => true,
            });
        }
    }
    dropped.sort();
    dropped.dedup();
    dropped
}

pub fn absolute_rootfs(bundle: &Path, root: &Path) -> PathBuf {
    if root.is_absolute() {
        root.to_path_buf()
    } else {
        bundle.join(root)
    }
}

fn native_archs() -> Vec<&'static str> {
    if cfg!(target_arch = "aarch64") {
        vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    } else {
        vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    }
}

fn is_permissive(action: &str) -> bool {
    matches!(action, "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG")
}

/// A rule's action ("" when it has none).
fn action_of(rule: &Value) -> &str {
    rule.get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A rule with argument conditions.
fn is_conditional(rule: &Value) -> bool {
    rule.get("args")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// What a profile's rules do with one syscall.
struct SyscallRules<'a> {
    /// The first unconditional action (libseccomp keeps the first one added for a syscall).
    unconditional: Option<&'a str>,
    /// The rules that name it under argument conditions.
    conditional: Vec<&'a Value>,
}

impl<'a> SyscallRules<'a> {
    fn of(rules: &'a [Value], name: &str) -> Self {
        let mut out = SyscallRules {
            unconditional: None,
            conditional: Vec::new(),
        };
        for rule in rules
            .iter()
            .filter(|r| rule_names(r).iter().any(|n| n == name))
        {
            if is_conditional(rule) {
                out.conditional.push(rule);
            } else {
                out.unconditional.get_or_insert(action_of(rule));
            }
        }
        out
    }

    /// The action of a call no conditional rule matches.
    fn effective(&self, default_action: &'a str) -> &'a str {
        self.unconditional.unwrap_or(default_action)
    }
}

/// The unconditional ALLOW/LOG rules stop naming `names` (libseccomp keeps the first action
/// added for a syscall, so a trap added after them would do nothing); a rule left naming
/// nothing is dropped.
fn unallow(rules: &mut Vec<Value>, names: &[&str]) {
    rules.retain_mut(|rule| {
        if !is_permissive(action_of(rule)) || is_conditional(rule) {
            return true;
        }
        let Some(r) = rule.as_object_mut() else {
            return true;
        };
        if r.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| names.contains(&n))
        {
            r.remove("name");
        }
        if let Some(list) = r.get_mut("names").and_then(Value::as_array_mut) {
            list.retain(|n| n.as_str().is_none_or(|s| !names.contains(&s)));
        }
        // Keep a rule that still names something (or never named anything we know of).
        !rule_names(rule).is_empty() || rule.get("names").is_none() && rule.get("name").is_none()
    });
}

/// `arg & mask == datum` on argument `index` (`SCMP_CMP_MASKED_EQ`: `value` is the mask,
/// `valueTwo` the datum, as runc passes them to libseccomp; see
/// [`masked_eq_for_libcontainer`]).
type Masked = (u32, u64, u64);

fn masked_args(conds: &[Masked]) -> Value {
    Value::Array(
        conds
            .iter()
            .map(|(index, mask, datum)| {
                json!({"index": index, "value": mask, "valueTwo": datum, "op": "SCMP_CMP_MASKED_EQ"})
            })
            .collect(),
    )
}

/// Traps `name` with a NOTIFY rule under the conditions `trap` (all its calls when empty) and,
/// unless `action` is the default one already, gives every other call `action` back: one
/// conditional rule per set of `rest` (the sets cover what `trap` does not, disjointly).
fn push_trap(
    rules: &mut Vec<Value>,
    name: &str,
    trap: &[Masked],
    rest: &[Vec<Masked>],
    action: &str,
    default_action: &str,
) {
    if trap.is_empty() {
        rules.push(json!({"names": [name], "action": "SCMP_ACT_NOTIFY"}));
    } else {
        rules
            .push(json!({"names": [name], "action": "SCMP_ACT_NOTIFY", "args": masked_args(trap)}));
    }
    if action != default_action {
        for conds in rest {
            rules.push(json!({"names": [name], "action": action, "args": masked_args(conds)}));
        }
    }
}

/// Merge the exec NOTIFY rule into a `linux.seccomp` value (null = no profile).
pub fn merge_notify(seccomp: &mut Value) -> Result<MergeReport, SpecError> {
    let mut report = MergeReport::default();
    if seccomp.is_null() {
        *seccomp = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": native_archs(),
            "syscalls": [{"names": EXEC_SYSCALLS.iter().chain(&VIEW_SYSCALLS).collect::<Vec<_>>(), "action": "SCMP_ACT_NOTIFY"}],
        });
        report.synthesized = true;
        report.notified = EXEC_SYSCALLS
            .iter()
            .chain(&VIEW_SYSCALLS)
            .map(|s| s.to_string())
            .collect();
        let rules = seccomp["syscalls"].as_array_mut().expect("just built");
        trap_namespace_syscalls("SCMP_ACT_ALLOW", rules, &mut report);
        return Ok(report);
    }
    let obj = seccomp
        .as_object_mut()
        .ok_or_else(|| SpecError::Shape("linux.seccomp is not an object".into()))?;
    let default_action = obj
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| SpecError::Shape("linux.seccomp.defaultAction missing".into()))?
        .to_string();
    if let Some(l) = obj.get("listenerPath").and_then(Value::as_str) {
        if !l.is_empty() {
            return Err(SpecError::ForeignListener(l.to_string()));
        }
    }
    let mut rules: Vec<Value> = match obj.remove("syscalls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(SpecError::Shape(
                "linux.seccomp.syscalls is not an array".into(),
            ));
        }
    };

    // Effective action per trapped syscall before the merge (exec syscalls first).
    let trapped: Vec<&str> = EXEC_SYSCALLS
        .iter()
        .chain(&VIEW_SYSCALLS)
        .copied()
        .collect();
    let mut effective: Vec<String> = vec![default_action.clone(); trapped.len()];
    let mut explicitly: Vec<bool> = vec![false; trapped.len()];
    let mut conditional_view: Vec<bool> = vec![false; trapped.len()];
    for rule in &rules {
        let action = action_of(rule);
        if action == "SCMP_ACT_NOTIFY" {
            return Err(SpecError::ForeignListener(
                "a NOTIFY rule without listenerPath".into(),
            ));
        }
        let conditional = is_conditional(rule);
        for name in rule_names(rule) {
            if let Some(i) = trapped.iter().position(|n| *n == name) {
                if conditional {
                    if i < EXEC_SYSCALLS.len() {
                        return Err(SpecError::ConditionalExecRule {
                            name,
                            action: action.into(),
                        });
                    }
                    conditional_view[i] = true;
                    continue;
                }
                // libseccomp keeps the first unconditional action added for a syscall.
                if !explicitly[i] {
                    effective[i] = action.to_string();
                    explicitly[i] = true;
                }
            }
        }
    }
    // A view syscall with argument conditions is left as the profile has it (not trapped).
    let notify: Vec<&str> = trapped
        .iter()
        .enumerate()
        .filter(|(i, _)| !conditional_view[*i] && is_permissive(&effective[*i]))
        .map(|(_, n)| *n)
        .collect();

    unallow(&mut rules, &notify);

    for (i, name) in trapped.iter().enumerate() {
        if conditional_view[i] {
            report.view_untrapped.push(name.to_string());
        } else if notify.contains(name) {
            report.notified.push(name.to_string());
        } else {
            report.left_denied.push(name.to_string());
        }
    }
    if !report.notified.is_empty() {
        rules.push(json!({"names": report.notified, "action": "SCMP_ACT_NOTIFY"}));
        // Without an exec trap there is no supervision for a taint to matter to.
        trap_namespace_syscalls(&default_action, &mut rules, &mut report);
    }
    obj.insert("syscalls".into(), Value::Array(rules));
    Ok(report)
}

/// The calls that make a file's content executable without an exec (issue 14): `mmap` of a
/// file with `PROT_EXEC`, `mprotect`/`pkey_mprotect` adding `PROT_EXEC` (the filter cannot tell
/// a file-backed range from anonymous memory; the supervisor looks), and `personality` setting
/// `READ_IMPLIES_EXEC` (after which `PROT_READ` alone maps code). `mmap2` is i386's `mmap`.
pub const MAPPING_SYSCALLS: [&str; 5] =
    ["mmap", "mmap2", "mprotect", "pkey_mprotect", "personality"];

const PROT_EXEC: u64 = 0x4;
const MAP_ANONYMOUS: u64 = 0x20;
const READ_IMPLIES_EXEC: u64 = 0x0040_0000;

/// A mapping syscall's NOTIFY conditions (ANDed) and the condition sets that cover every other
/// call (each set ANDed, the sets disjoint), which keep the profile's own action for them: an
/// anonymous or non-executable mapping never notifies.
fn mapping_conditions(name: &str) -> (Vec<Masked>, Vec<Vec<Masked>>) {
    match name {
        "mmap" | "mmap2" => (
            vec![(2, PROT_EXEC, PROT_EXEC), (3, MAP_ANONYMOUS, 0)],
            vec![
                vec![(2, PROT_EXEC, 0)],
                vec![(2, PROT_EXEC, PROT_EXEC), (3, MAP_ANONYMOUS, MAP_ANONYMOUS)],
            ],
        ),
        "personality" => (
            vec![(0, READ_IMPLIES_EXEC, READ_IMPLIES_EXEC)],
            vec![vec![(0, READ_IMPLIES_EXEC, 0)]],
        ),
        // mprotect, pkey_mprotect
        _ => (
            vec![(2, PROT_EXEC, PROT_EXEC)],
            vec![vec![(2, PROT_EXEC, 0)]],
        ),
    }
}

/// What [`merge_mappings`] did with each of [`MAPPING_SYSCALLS`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MappingMerge {
    /// Trapped under their conditions.
    pub notified: Vec<String>,
    /// The profile denies them (or allows them only by its default action being a denial).
    pub left_denied: Vec<String>,
    /// The profile has argument conditions of its own for them: left as they are, not trapped
    /// (Docker's default profile restricts `personality` so; `READ_IMPLIES_EXEC` is then
    /// already refused).
    pub untrapped: Vec<String>,
}

/// Merge the mapping NOTIFY rules into a profile [`merge_notify`] has already merged (an
/// object). As for the exec rule, a trapped name is first removed from the profile's
/// unconditional ALLOW/LOG rules (libseccomp keeps the first action added for a duplicate
/// rule); unlike it, every call the conditions do not trap gets the profile's own action back
/// through complementary conditional rules (written only when that action is not the default
/// one: libcontainer skips such rules).
pub fn merge_mappings(seccomp: &mut Value) -> Result<MappingMerge, SpecError> {
    let mut out = MappingMerge::default();
    let obj = seccomp
        .as_object_mut()
        .ok_or_else(|| SpecError::Shape("linux.seccomp is not an object".into()))?;
    let default_action = obj
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| SpecError::Shape("linux.seccomp.defaultAction missing".into()))?
        .to_string();
    let Some(rules) = obj.get_mut("syscalls").and_then(Value::as_array_mut) else {
        return Err(SpecError::Shape(
            "linux.seccomp.syscalls is not an array".into(),
        ));
    };
    // Per syscall: None when the profile's own conditions leave it untrapped, else its
    // effective action (trapped when that is permissive).
    let effective: Vec<(&str, Option<String>)> = MAPPING_SYSCALLS
        .iter()
        .map(|name| {
            let r = SyscallRules::of(rules, name);
            let action = r.effective(&default_action).to_string();
            (*name, r.conditional.is_empty().then_some(action))
        })
        .collect();
    let notify: Vec<&str> = effective
        .iter()
        .filter(|(_, a)| a.as_deref().is_some_and(is_permissive))
        .map(|(name, _)| *name)
        .collect();
    unallow(rules, &notify);
    for (name, action) in effective {
        match action {
            None => out.untrapped.push(name.to_string()),
            Some(a) if !is_permissive(&a) => out.left_denied.push(name.to_string()),
            Some(a) => {
                out.notified.push(name.to_string());
                let (trap, rest) = mapping_conditions(name);
                push_trap(rules, name, &trap, &rest, &a, &default_action);
            }
        }
    }
    Ok(out)
}

/// Whether a conditional rule can only match calls without `flag` in arg 0 (Docker's `clone`
/// rule for containers without CAP_SYS_ADMIN: `MASKED_EQ` of every namespace flag with 0).
fn excludes_flag(rule: &Value, flag: u64) -> bool {
    rule.get("args")
        .and_then(Value::as_array)
        .is_some_and(|args| {
            args.iter().any(|a| {
                a.get("index").and_then(Value::as_u64) == Some(0)
                    && a.get("op").and_then(Value::as_str) == Some("SCMP_CMP_MASKED_EQ")
                    && a.get("value").and_then(Value::as_u64).unwrap_or(0) & flag != 0
                    && a.get("valueTwo").and_then(Value::as_u64).unwrap_or(0) & flag == 0
            })
        })
}

/// Adds the [`NS_SYSCALLS`] traps to a profile's rules, after the exec merge. Per syscall:
/// - the profile never lets it make a mount namespace (denied, or allowed only under a
///   condition that excludes the flag): nothing to trap;
/// - allowed unconditionally: the permissive rule loses the name; a NOTIFY rule takes the calls
///   that can make a namespace (with the flag, or all of them) and, unless the default action
///   already allows, an ALLOW rule under the opposite condition keeps the others allowed;
/// - allowed under other conditions: not merged (libseccomp resolves overlapping conditions
///   with different actions in ways a profile author would not expect), and reported, so that
///   the supervisor checks every exec's namespace instead.
fn trap_namespace_syscalls(default_action: &str, rules: &mut Vec<Value>, report: &mut MergeReport) {
    for (name, flag) in NS_SYSCALLS {
        let r = SyscallRules::of(rules, name);
        let effective = r.effective(default_action).to_string();
        let cond_permits = r
            .conditional
            .iter()
            .any(|c| is_permissive(action_of(c)) && !flag.is_some_and(|f| excludes_flag(c, f)));
        let cond_denies = r.conditional.iter().any(|c| !is_permissive(action_of(c)));
        // A conditional deny leaves the other calls to the unconditional action.
        if cond_permits || cond_denies && is_permissive(&effective) {
            report.ns_untrapped.push(name.to_string());
            continue;
        }
        if !is_permissive(&effective) {
            continue;
        }
        unallow(rules, &[name]);
        let (trap, rest) = match flag {
            Some(f) => (vec![(0, f, f)], vec![vec![(0, f, 0)]]),
            None => (Vec::new(), Vec::new()),
        };
        push_trap(rules, name, &trap, &rest, &effective, default_action);
        report.ns_notified.push(name.to_string());
    }
}

fn rule_names(rule: &Value) -> Vec<String> {
    let mut out: Vec<String> = rule
        .get("names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if let Some(n) = rule.get("name").and_then(Value::as_str) {
        out.push(n.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_capabilities_are_dropped_from_every_set() {
        let mut spec = json!({"process": {"capabilities": {
            "bounding": ["CAP_KILL", "CAP_BOGUS", "KILL"],
            "effective": ["CAP_BOGUS"],
            "ambient": []
        }}});
        let dropped = drop_unknown_capabilities(&mut spec, |n| n == "CAP_KILL");
        assert_eq!(dropped, ["CAP_BOGUS", "KILL"]);
        assert_eq!(
            spec["process"]["capabilities"],
            json!({"bounding": ["CAP_KILL"], "effective": [], "ambient": []})
        );
        assert!(drop_unknown_capabilities(&mut json!({}), |_| false).is_empty());
    }

    fn docker_like() -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["accept", "execve", "execveat", "read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
            ]
        })
    }

    fn names_with_action(s: &Value, action: &str) -> Vec<String> {
        s["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == action)
            .flat_map(rule_names)
            .collect()
    }

    #[test]
    fn docker_default_profile_gets_one_notify_rule() {
        let mut s = docker_like();
        let r = merge_notify(&mut s).unwrap();
        assert_eq!(r.notified, vec!["execve", "execveat"]);
        let allowed = names_with_action(&s, "SCMP_ACT_ALLOW");
        assert!(!allowed.contains(&"execve".to_string()));
        assert!(allowed.contains(&"accept".to_string()));
        assert!(allowed.contains(&"personality".to_string()));
        assert_eq!(
            names_with_action(&s, "SCMP_ACT_NOTIFY"),
            vec!["execve", "execveat"]
        );
        assert_eq!(names_with_action(&s, "SCMP_ACT_ERRNO"), vec!["clone"]);
    }

    #[test]
    fn denied_exec_stays_denied() {
        let mut s = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]
        });
        let r = merge_notify(&mut s).unwrap();
        assert_eq!(r.notified, vec!["execve", "chroot", "pivot_root"]);
        assert_eq!(r.left_denied, vec!["execveat"]);
        assert_eq!(names_with_action(&s, "SCMP_ACT_ERRNO"), vec!["execveat"]);
        assert_eq!(
            names_with_action(&s, "SCMP_ACT_NOTIFY"),
            vec![
                "execve",
                "chroot",
                "pivot_root",
                "unshare",
                "clone",
                "clone3",
                "setns"
            ]
        );
    }

    #[test]
    fn view_syscalls_are_trapped_only_where_allowed_unconditionally() {
        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["execve", "execveat", "chroot", "read"], "action": "SCMP_ACT_ALLOW"}]});
        let r = merge_notify(&mut s).unwrap();
        assert_eq!(r.notified, vec!["execve", "execveat", "chroot"]);
        assert_eq!(r.left_denied, vec!["pivot_root"]);
        assert_eq!(names_with_action(&s, "SCMP_ACT_ALLOW"), vec!["read"]);
        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["execve", "execveat"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}]});
        let r = merge_notify(&mut s).unwrap();
        assert_eq!(r.view_untrapped, vec!["chroot"]);
        assert_eq!(names_with_action(&s, "SCMP_ACT_ALLOW"), vec!["chroot"]);
    }

    /// The NOTIFY and ALLOW rules a profile has for `name`, with their arg-0 condition.
    fn rules_for(s: &Value, name: &str) -> Vec<(String, Option<(u64, u64)>)> {
        s["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| rule_names(r).iter().any(|n| n == name))
            .map(|r| {
                let cond = r["args"].as_array().and_then(|a| a.first()).map(|a| {
                    (
                        a["value"].as_u64().unwrap(),
                        a["valueTwo"].as_u64().unwrap(),
                    )
                });
                (r["action"].as_str().unwrap().to_string(), cond)
            })
            .collect()
    }

    #[test]
    fn no_profile_traps_namespace_syscalls_only_when_they_can_make_a_mount_namespace() {
        let mut s = Value::Null;
        let r = merge_notify(&mut s).unwrap();
        assert_eq!(r.ns_notified, ["unshare", "clone", "clone3", "setns"]);
        assert!(r.ns_untrapped.is_empty());
        let notify = |f| vec![("SCMP_ACT_NOTIFY".to_string(), f)];
        // The default allows: no ALLOW rule is added (libseccomp refuses the default action).
        assert_eq!(
            rules_for(&s, "clone"),
            notify(Some((CLONE_NEWNS, CLONE_NEWNS)))
        );
        assert_eq!(
            rules_for(&s, "unshare"),
            notify(Some((CLONE_NEWNS, CLONE_NEWNS)))
        );
        assert_eq!(rules_for(&s, "clone3"), notify(None));
        assert_eq!(rules_for(&s, "setns"), notify(None));
    }

    #[test]
    fn dockers_profile_needs_no_namespace_trap_without_sys_admin() {
        // Docker's default profile: clone only without namespace flags, no unshare/setns, and
        // clone3 fails with ENOSYS.
        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["execve", "execveat", "read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2_114_060_288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]});
        let before = rules_for(&s, "clone");
        let r = merge_notify(&mut s).unwrap();
        assert!(r.ns_notified.is_empty(), "{r:?}");
        assert!(r.ns_untrapped.is_empty(), "{r:?}");
        assert_eq!(rules_for(&s, "clone"), before);
        assert_eq!(rules_for(&s, "clone3"), [("SCMP_ACT_ERRNO".into(), None)]);
    }

    #[test]
    fn an_unconditional_allow_is_split_around_the_namespace_flag() {
        // Docker's profile with CAP_SYS_ADMIN: all four allowed outright.
        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["execve", "execveat", "read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["clone", "clone3", "setns", "unshare", "mount"], "action": "SCMP_ACT_ALLOW"}]});
        let r = merge_notify(&mut s).unwrap();
        assert_eq!(r.ns_notified, ["unshare", "clone", "clone3", "setns"]);
        for name in ["clone", "unshare"] {
            assert_eq!(
                rules_for(&s, name),
                [
                    (
                        "SCMP_ACT_NOTIFY".to_string(),
                        Some((CLONE_NEWNS, CLONE_NEWNS))
                    ),
                    ("SCMP_ACT_ALLOW".to_string(), Some((CLONE_NEWNS, 0)))
                ],
                "{name}"
            );
        }
        assert_eq!(rules_for(&s, "setns"), [("SCMP_ACT_NOTIFY".into(), None)]);
        assert_eq!(
            names_with_action(&s, "SCMP_ACT_ALLOW")
                .iter()
                .filter(|n| *n == "mount")
                .count(),
            1
        );
    }

    #[test]
    fn conditions_scrun_cannot_merge_leave_the_namespace_check_per_exec() {
        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["execve", "execveat"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["unshare"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GE"}]},
            {"names": ["setns"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]});
        let r = merge_notify(&mut s).unwrap();
        assert_eq!(r.ns_untrapped, ["unshare"]);
        assert!(r.ns_notified.is_empty());
        // Over a permissive default, a conditional deny leaves the other calls allowed.
        let mut s = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["setns"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]});
        let r = merge_notify(&mut s).unwrap();
        assert_eq!(r.ns_untrapped, ["setns"]);
    }

    #[test]
    fn masked_eq_is_handed_to_libcontainer_mask_second() {
        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2_114_060_288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 4, "op": "SCMP_CMP_MASKED_EQ"}]}]});
        masked_eq_for_libcontainer(&mut s);
        assert_eq!(s["syscalls"][0]["args"][0]["value"], 0);
        assert_eq!(s["syscalls"][0]["args"][0]["valueTwo"], 2_114_060_288u64);
        assert_eq!(
            s["syscalls"][1]["args"][0],
            json!({"index": 0, "value": 8, "op": "SCMP_CMP_EQ"})
        );
        assert_eq!(s["syscalls"][2]["args"][0]["value"], 0);
        assert_eq!(s["syscalls"][2]["args"][0]["valueTwo"], 4);
        // No profile, or no rules: nothing to do, no panic.
        masked_eq_for_libcontainer(&mut Value::Null);
        masked_eq_for_libcontainer(&mut json!({"syscalls": 3}));
    }

    #[test]
    fn default_deny_without_exec_rule_adds_nothing() {
        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]});
        let r = merge_notify(&mut s).unwrap();
        assert!(r.notified.is_empty());
        assert!(names_with_action(&s, "SCMP_ACT_NOTIFY").is_empty());
    }

    #[test]
    fn rule_emptied_by_removal_is_dropped() {
        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_LOG"}]});
        merge_notify(&mut s).unwrap();
        assert_eq!(s["syscalls"].as_array().unwrap().len(), 1);
        assert_eq!(s["syscalls"][0]["action"], "SCMP_ACT_NOTIFY");
        assert_eq!(s["syscalls"][0]["names"], json!(["execve"]));
    }

    #[test]
    fn no_profile_synthesizes_allow_all_with_compat_arches() {
        let mut s = Value::Null;
        let r = merge_notify(&mut s).unwrap();
        assert!(r.synthesized);
        assert_eq!(s["defaultAction"], "SCMP_ACT_ALLOW");
        assert!(s["architectures"].as_array().unwrap().len() >= 2);
    }

    #[test]
    fn refuses_foreign_listener_and_conditional_exec() {
        let mut s =
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x.sock", "syscalls": []});
        assert!(matches!(
            merge_notify(&mut s),
            Err(SpecError::ForeignListener(_))
        ));
        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["execve"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]}]});
        assert!(matches!(
            merge_notify(&mut s),
            Err(SpecError::ConditionalExecRule { .. })
        ));
    }

    /// A seeded xorshift: `next(n)` is in `0..n`.
    fn xorshift(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed;
        move |n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        }
    }

    fn pick<'a>(next: &mut impl FnMut(u64) -> u64, list: &[&'a str]) -> &'a str {
        list[next(list.len() as u64) as usize]
    }

    /// Up to four random seccomp rules over `names` and `actions`: junk (null, a string), a
    /// `names` string, the singular `name`, no name, a list of names; a quarter of the objects
    /// with an argument condition.
    fn random_rules(
        next: &mut impl FnMut(u64) -> u64,
        names: &[&str],
        actions: &[&str],
    ) -> Vec<Value> {
        let count = next(5);
        let mut rules = Vec::new();
        for _ in 0..count {
            let mut rule = match next(6) {
                0 => json!(null),
                1 => json!("string rule"),
                2 => json!({"names": pick(next, names), "action": pick(next, actions)}),
                3 => json!({"name": pick(next, names), "action": pick(next, actions)}),
                4 => json!({"action": pick(next, actions)}),
                _ => {
                    let n: Vec<_> = (0..next(4)).map(|_| json!(pick(next, names))).collect();
                    json!({"names": n, "action": pick(next, actions)})
                }
            };
            if rule.is_object() && next(4) == 0 {
                rule["args"] = json!([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]);
            }
            rules.push(rule);
        }
        rules
    }

    /// Random JSON shaped like seccomp profiles (wrong types, missing keys, odd actions): the merge
    /// returns a profile with exactly one NOTIFY rule for what it notified, or an error; it
    /// never panics.
    #[test]
    fn merge_never_panics_on_generated_profiles() {
        let mut next = xorshift(0xD0C4_E5EC);
        let actions = [
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_LOG",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_KILL",
            "SCMP_ACT_NOTIFY",
            "SCMP_ACT_TRACE",
            "bogus",
        ];
        let names = ["execve", "execveat", "read", "clone", "", "EXECVE"];
        for _ in 0..5000 {
            let rules = random_rules(&mut next, &names, &actions);
            let mut profile = match next(5) {
                0 => Value::Null,
                1 => json!(42),
                2 => json!({"syscalls": rules}),
                3 => json!({"defaultAction": pick(&mut next, &actions), "syscalls": "x"}),
                _ => json!({"defaultAction": pick(&mut next, &actions), "syscalls": rules}),
            };
            if let Ok(report) = merge_notify(&mut profile) {
                let notify = names_with_action(&profile, "SCMP_ACT_NOTIFY");
                let expected: Vec<_> = report
                    .notified
                    .iter()
                    .chain(&report.ns_notified)
                    .cloned()
                    .collect();
                assert_eq!(notify, expected, "{profile}");
                for n in &report.notified {
                    let allowed = names_with_action(&profile, "SCMP_ACT_ALLOW");
                    assert!(!allowed.contains(n), "{n} still allowed in {profile}");
                }
                // A trapped namespace syscall is allowed only under the opposite condition.
                for n in &report.ns_notified {
                    let unconditional: Vec<_> = rules_for(&profile, n)
                        .into_iter()
                        .filter(|(a, c)| is_permissive(a) && c.is_none())
                        .collect();
                    assert!(unconditional.is_empty(), "{n} still allowed in {profile}");
                }
            }
        }
    }

    /// Docker's default profile, as far as mappings go: mmap, mmap2, mprotect and pkey_mprotect
    /// in its big ALLOW rule, personality allowed for a few personas only.
    fn docker_mappings() -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["execve", "mmap", "mmap2", "mprotect", "munmap", "pkey_mprotect", "read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]}
            ]
        })
    }

    fn mapping_rules<'a>(s: &'a Value, name: &str, action: &str) -> Vec<&'a Value> {
        s["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == action && rule_names(r).iter().any(|n| n == name))
            .collect()
    }

    fn masked(index: u32, mask: u64, datum: u64) -> Value {
        json!({"index": index, "value": mask, "valueTwo": datum, "op": "SCMP_CMP_MASKED_EQ"})
    }

    #[test]
    fn docker_profile_traps_exec_mappings_and_keeps_every_other_mapping_allowed() {
        let mut s = docker_mappings();
        merge_notify(&mut s).unwrap();
        let r = merge_mappings(&mut s).unwrap();
        assert_eq!(r.notified, ["mmap", "mmap2", "mprotect", "pkey_mprotect"]);
        assert_eq!(r.untrapped, ["personality"]);
        assert!(r.left_denied.is_empty());
        // No unconditional ALLOW is left for a trapped name; munmap and read keep theirs.
        let allowed = names_with_action(&s, "SCMP_ACT_ALLOW");
        for trapped in &r.notified {
            for rule in mapping_rules(&s, trapped, "SCMP_ACT_ALLOW") {
                assert!(
                    rule["args"].as_array().is_some_and(|a| !a.is_empty()),
                    "{rule}"
                );
            }
        }
        assert!(allowed.contains(&"munmap".to_string()) && allowed.contains(&"read".to_string()));
        for mmap in ["mmap", "mmap2"] {
            let notify = mapping_rules(&s, mmap, "SCMP_ACT_NOTIFY");
            assert_eq!(notify.len(), 1);
            assert_eq!(
                notify[0]["args"],
                json!([masked(2, 4, 4), masked(3, 0x20, 0)])
            );
            let allow: Vec<_> = mapping_rules(&s, mmap, "SCMP_ACT_ALLOW")
                .iter()
                .map(|r| r["args"].clone())
                .collect();
            assert_eq!(
                allow,
                [
                    json!([masked(2, 4, 0)]),
                    json!([masked(2, 4, 4), masked(3, 0x20, 0x20)])
                ]
            );
        }
        for mprotect in ["mprotect", "pkey_mprotect"] {
            let notify = mapping_rules(&s, mprotect, "SCMP_ACT_NOTIFY");
            assert_eq!(notify[0]["args"], json!([masked(2, 4, 4)]));
            let allow = mapping_rules(&s, mprotect, "SCMP_ACT_ALLOW");
            assert_eq!(allow.len(), 1);
            assert_eq!(allow[0]["args"], json!([masked(2, 4, 0)]));
        }
        // The profile's own personality rules are untouched, and not trapped.
        assert_eq!(mapping_rules(&s, "personality", "SCMP_ACT_ALLOW").len(), 3);
        assert!(mapping_rules(&s, "personality", "SCMP_ACT_NOTIFY").is_empty());
        // Still a valid OCI seccomp section.
        let parsed: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(s).unwrap();
        assert!(parsed.syscalls().as_ref().unwrap().len() > 5);
    }

    #[test]
    fn an_allow_all_profile_gets_the_traps_alone_and_a_denied_mapping_stays_denied() {
        let mut s = Value::Null;
        merge_notify(&mut s).unwrap();
        let r = merge_mappings(&mut s).unwrap();
        assert_eq!(r.notified, MAPPING_SYSCALLS);
        assert_eq!(
            mapping_rules(&s, "personality", "SCMP_ACT_NOTIFY")[0]["args"],
            json!([masked(0, 0x0040_0000, 0x0040_0000)])
        );
        // The default action already allows the rest: no rule repeats it.
        assert!(names_with_action(&s, "SCMP_ACT_ALLOW").is_empty());

        let mut s = json!({"defaultAction": "SCMP_ACT_LOG", "syscalls": [
            {"names": ["mprotect"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["mmap"], "action": "SCMP_ACT_ALLOW"}]});
        merge_notify(&mut s).unwrap();
        let r = merge_mappings(&mut s).unwrap();
        assert_eq!(r.left_denied, ["mprotect"]);
        assert_eq!(
            r.notified,
            ["mmap", "mmap2", "pkey_mprotect", "personality"]
        );
        assert_eq!(names_with_action(&s, "SCMP_ACT_ERRNO"), ["mprotect"]);
        // mmap was explicitly allowed under a LOG default: its complements say ALLOW.
        assert_eq!(mapping_rules(&s, "mmap", "SCMP_ACT_ALLOW").len(), 2);
        assert!(mapping_rules(&s, "pkey_mprotect", "SCMP_ACT_LOG").is_empty());

        let mut s = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["execve", "execveat"], "action": "SCMP_ACT_ALLOW"}]});
        merge_notify(&mut s).unwrap();
        let r = merge_mappings(&mut s).unwrap();
        assert_eq!(r.left_denied, MAPPING_SYSCALLS);
        assert!(r.notified.is_empty());
    }

    #[test]
    fn mappings_off_installs_no_mapping_rule() {
        for mappings in [false, true] {
            let mut spec = json!({
                "process": {"args": ["sh"]},
                "root": {"path": "rootfs"},
                "linux": {"seccomp": docker_mappings()}
            });
            let report = Rewrite {
                container_id: "c1",
                bundle: Path::new("/b"),
                listener_path: Path::new("/run/scrun.d/k/sup.sock"),
                listener_metadata: "{}".into(),
                systemd_cgroup: false,
                delegate: false,
                mappings,
            }
            .apply(&mut spec)
            .unwrap();
            let s = &spec["linux"]["seccomp"];
            let notified = names_with_action(s, "SCMP_ACT_NOTIFY");
            let trapped = MAPPING_SYSCALLS
                .iter()
                .any(|m| notified.iter().any(|n| n == m));
            assert_eq!(trapped, mappings, "{s}");
            if !mappings {
                assert_eq!(report.mappings, MappingMerge::default());
                // mmap keeps its unconditional ALLOW, exactly as the caller wrote it.
                assert!(
                    mapping_rules(s, "mmap", "SCMP_ACT_ALLOW")
                        .iter()
                        .all(|r| r.get("args").is_none())
                );
                assert!(s.to_string().matches("SCMP_CMP_MASKED_EQ").next().is_none());
            }
        }
    }

    #[test]
    fn the_rewritten_profile_carries_the_mapping_conditions_in_libcontainers_order() {
        let mut spec = json!({
            "process": {"args": ["sh"]},
            "root": {"path": "rootfs"},
            "linux": {"seccomp": docker_mappings()}
        });
        Rewrite {
            container_id: "c1",
            bundle: Path::new("/b"),
            listener_path: Path::new("/run/scrun.d/k/sup.sock"),
            listener_metadata: "{}".into(),
            systemd_cgroup: false,
            delegate: false,
            mappings: true,
        }
        .apply(&mut spec)
        .unwrap();
        let s = &spec["linux"]["seccomp"];
        // (prot & 4) == 4 && (flags & 0x20) == 0, as libcontainer reads it: value = datum.
        assert_eq!(
            mapping_rules(s, "mmap", "SCMP_ACT_NOTIFY")[0]["args"],
            json!([
                {"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"},
                {"index": 3, "value": 0, "valueTwo": 0x20, "op": "SCMP_CMP_MASKED_EQ"}
            ])
        );
    }

    /// Random profiles through both merges: never a panic; every trapped mapping syscall has one
    /// NOTIFY rule and no unconditional permissive rule left.
    #[test]
    fn mapping_merge_never_panics_and_leaves_no_unconditional_allow() {
        let mut next = xorshift(0x5EED_0014);
        let actions = [
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_LOG",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_KILL",
        ];
        let names = ["mmap", "mprotect", "personality", "mmap2", "read", "execve"];
        for _ in 0..3000 {
            let rules = random_rules(&mut next, &names, &actions);
            let mut profile = if next(6) == 0 {
                Value::Null
            } else {
                json!({"defaultAction": pick(&mut next, &actions), "syscalls": rules})
            };
            if merge_notify(&mut profile).is_err() {
                continue;
            }
            let Ok(r) = merge_mappings(&mut profile) else {
                continue;
            };
            for n in &r.notified {
                assert_eq!(
                    mapping_rules(&profile, n, "SCMP_ACT_NOTIFY").len(),
                    1,
                    "{profile}"
                );
                for a in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"] {
                    for rule in mapping_rules(&profile, n, a) {
                        assert!(rule.get("args").is_some(), "{n}: {rule} in {profile}");
                    }
                }
            }
            let all = r.notified.len() + r.left_denied.len() + r.untrapped.len();
            assert_eq!(all, MAPPING_SYSCALLS.len());
        }
    }

    #[test]
    fn full_rewrite() {
        let mut spec = json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["sh"], "noNewPrivileges": false, "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "pid"}]},
            "x-unknown": {"kept": true}
        });
        let rw = Rewrite {
            container_id: "c1",
            bundle: Path::new("/b"),
            listener_path: Path::new("/run/scrun.d/k/sup.sock"),
            listener_metadata: "{}".into(),
            systemd_cgroup: false,
            delegate: false,
            mappings: true,
        };
        rw.apply(&mut spec).unwrap();
        assert_eq!(spec["root"]["path"], "/b/rootfs");
        assert!(spec["process"].get("noNewPrivileges").is_none());
        assert_eq!(spec["linux"]["cgroupsPath"], "/c1");
        assert_eq!(
            spec["linux"]["seccomp"]["listenerPath"],
            "/run/scrun.d/k/sup.sock"
        );
        assert_eq!(spec["x-unknown"]["kept"], true);
        let parsed: oci_spec::runtime::Spec = serde_json::from_value(spec).unwrap();
        assert!(parsed.linux().as_ref().unwrap().seccomp().is_some());
    }
}
