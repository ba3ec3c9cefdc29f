//! `scrun rules list|test`: the exec rules in effect (built-in + `[rules] files`), validation of
//! rule files, and trying them on exec events given as JSON; and the `create`-time validation
//! (a malformed rule file or rule label fails `create`, never a smaller ruleset).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use scrun_detect::policy::{Config, RuleAction};
use scrun_detect::rules::{EventSpec, Ruleset, RulesetSpec, StaticSubject};

use crate::cli::Rules;

fn build(spec: &RulesetSpec) -> Result<Ruleset> {
    let rs = Ruleset::build(spec)?;
    rs.warm()?;
    Ok(rs)
}

pub fn rules(a: Rules) -> Result<u8> {
    let config = crate::supervisor::load_policy()?.config;
    let mut out = std::io::stdout().lock();
    match a {
        Rules::List { json } => {
            let rs = build(&RulesetSpec::from_config(&config))?;
            list(&rs, json, &mut out)?;
            Ok(0)
        }
        Rules::Test {
            files,
            events,
            no_default,
        } => {
            let mut spec = RulesetSpec::from_config(&config);
            spec.files.extend(files);
            if no_default {
                spec.default = false;
            }
            let rs = build(&spec)?;
            writeln!(
                out,
                "ok: {} rules ({} from the given files)",
                rs.rules().len(),
                rs.rules()
                    .iter()
                    .filter(|r| spec
                        .files
                        .iter()
                        .any(|f| f.display().to_string() == r.source))
                    .count()
            )?;
            let Some(path) = events else {
                return Ok(0);
            };
            let fired = test_events(&rs, &path, config.mode, &mut out)?;
            Ok(if fired { 0 } else { 1 })
        }
    }
}

fn list(rs: &Ruleset, json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        for r in rs.rules() {
            let v = serde_json::json!({
                "id": r.id,
                "category": r.category,
                "api_name": r.api_name,
                "severity": r.severity.as_str(),
                "action": r.action.to_string(),
                "source": r.source,
                "line": r.line,
            });
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    let source = |r: &scrun_detect::rules::Rule| format!("{}:{}", r.source, r.line);
    let w = rs
        .rules()
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let ws = rs
        .rules()
        .iter()
        .map(|r| source(r).len())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        out,
        "{:<w$}  {:<8}  {:<6}  {:<ws$}  CATEGORY",
        "ID", "SEVERITY", "ACTION", "SOURCE"
    )?;
    for r in rs.rules() {
        writeln!(
            out,
            "{:<w$}  {:<8}  {:<6}  {:<ws$}  {}",
            r.id,
            r.severity.as_str(),
            r.action.to_string(),
            source(r),
            r.category
        )?;
    }
    Ok(())
}

/// Evaluates every event of the file; prints which rules fire. True when any fired.
fn test_events(
    rs: &Ruleset,
    path: &PathBuf,
    mode: scrun_detect::policy::Mode,
    out: &mut dyn Write,
) -> Result<bool> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let list = match value {
        serde_json::Value::Array(a) => a,
        v => vec![v],
    };
    let mut any = false;
    for (i, v) in list.into_iter().enumerate() {
        let spec: EventSpec = serde_json::from_value(v)
            .with_context(|| format!("{} event {i}: not an exec event", path.display()))?;
        let label = format!("event {i} ({} {})", spec.path, spec.argv.join(" "));
        let mut subject = StaticSubject::new(spec)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{} event {i}", path.display()))?;
        let actions = rs
            .actions_for(&subject_labels(&subject))
            .map_err(anyhow::Error::msg)?;
        let hits = rs.evaluate(&mut subject, &actions);
        if hits.is_empty() {
            writeln!(out, "{label}: no rule fires")?;
        }
        for h in hits {
            any = true;
            let r = &rs.rules()[h.rule];
            let effect = match (mode, h.action) {
                (scrun_detect::policy::Mode::Enforce, RuleAction::Block) => "BLOCKED",
                _ => "ALLOWED",
            };
            writeln!(
                out,
                "{label}: {} fires: {} ({}, action {}, {effect} in {mode} mode)",
                r.id,
                r.category,
                r.severity.as_str(),
                h.action
            )?;
        }
    }
    Ok(any)
}

fn subject_labels(s: &StaticSubject) -> BTreeMap<String, String> {
    use scrun_detect::rules::Subject;
    s.container().labels.clone()
}

/// At `create`: the config's rule files, overrides and URL feeds build (only when the config
/// names any: the built-in ruleset is tested), and the container's `scrun.rule.<ID>` labels or
/// annotations name actions.
pub fn validate_for_create(config: &Config, overrides: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in overrides {
        if let Err(e) = v.parse::<RuleAction>() {
            bail!("invalid {k} on container: {e}");
        }
    }
    let r = &config.rules;
    if !r.files.is_empty() || !r.actions.is_empty() || !config.intel.url_feeds.is_empty() {
        let rs = build(&RulesetSpec::from_config(config)).context("invalid scrun rules")?;
        for k in overrides.keys() {
            let id = k.trim_start_matches(scrun_detect::rules::LABEL_PREFIX);
            if !rs.rules().iter().any(|r| r.id == id) {
                tracing::warn!(label = %k, "no rule has this id");
            }
        }
    }
    Ok(())
}
