//! The decision on one resolved exec target: the engine (provenance, hash, feeds, policy), the
//! finding (with the process details read only when there is one) and its sinks.

use std::sync::Arc;

use scrun_detect::engine::{ContainerIdentity, Decision, Engine, ExecEvent, LoadedAs, ProcessInfo};
use scrun_detect::event::Strings;
use scrun_detect::feeds::{FeedSet, Intel};
use scrun_detect::policy::{Config, Mode};
use scrun_detect::{HashCache, Target};
use scrun_findings::sink::{FileSink, MultiSink, Sink, StdoutSink};
use scrun_kernel::resolve;

use crate::logging::ContainerLog;
use crate::scrun_dir::Meta;

/// Everything a listener thread needs to decide, built once per supervisor.
pub struct Context {
    /// The rootfs as the host sees it (the exec gate reports host paths under it).
    pub rootfs: std::path::PathBuf,
    pub engine: Engine,
    pub config: Arc<Config>,
    pub mode: Mode,
    pub sink: Box<dyn Sink>,
    /// The container's own seccomp agent holds the listener: only the exec gate sees its execs.
    pub gate_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Feed(#[from] scrun_detect::feeds::FeedError),
    #[error(transparent)]
    Sink(#[from] scrun_findings::sink::SinkError),
    #[error(transparent)]
    Index(#[from] scrun_detect::index::IndexError),
    #[error("cannot start the response hook runner: {0}")]
    HookRunner(std::io::Error),
}

/// Feeds first, then the compiled index: the first source that lists a hash names it.
struct Sources(Vec<Arc<dyn Intel>>);

impl Intel for Sources {
    fn lookup(&self, sha256: &[u8; 32]) -> Option<scrun_detect::feeds::IntelMatch> {
        self.0.iter().find_map(|s| s.lookup(sha256))
    }

    fn generation(&self) -> u64 {
        self.0
            .iter()
            .map(|s| s.generation())
            .fold(0, u64::wrapping_add)
    }
}

fn intel_sources(
    feeds: &[scrun_detect::feeds::FeedSpec],
    index: Option<&std::path::Path>,
) -> Result<Option<Arc<dyn Intel>>, SetupError> {
    let mut v: Vec<Arc<dyn Intel>> = Vec::new();
    if !feeds.is_empty() {
        v.push(Arc::new(FeedSet::load(feeds)?));
    }
    if let Some(p) = index {
        v.push(Arc::new(scrun_detect::index::SharedIndex::open(p)?));
    }
    Ok(match v.len() {
        0 => None,
        1 => v.pop(),
        _ => Some(Arc::new(Sources(v))),
    })
}

impl Context {
    pub fn new(
        meta: &Meta,
        config: Config,
        sdir: &crate::scrun_dir::ScrunDir,
    ) -> Result<Self, SetupError> {
        let config = Arc::new(config);
        let mode: Mode = meta.mode;
        let intel = intel_sources(&config.intel.feeds, config.intel.index.as_deref())?
            .unwrap_or_else(|| Arc::new(FeedSet::empty()));
        let allow = intel_sources(
            &config.intel.allow_feeds,
            config.intel.allow_index.as_deref(),
        )?;
        let cache = Arc::new(HashCache::new(
            16 * 1024,
            config.supervisor.hash_cache_dir.clone(),
        ));
        let ident = crate::identity::resolve(meta);
        let identity = ContainerIdentity {
            id: meta.id.clone(),
            name: ident.name,
            image_uri: ident.image_uri,
            image_id: ident.image_id,
            labels: ident.labels,
            created: ident
                .created
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok())
                .map(|c| c.with_timezone(&chrono::Utc)),
            caller: meta.caller.clone(),
        };
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(path) = &config.findings.path {
            let mut file = FileSink::open(path)?;
            if let Some(max) = config.findings.rotate_bytes {
                file = file.with_rotation(max, config.findings.rotate_keep);
            }
            sinks.push(Box::new(file));
        }
        if config.findings.stdout {
            sinks.push(Box::new(StdoutSink));
        }
        // Started here, before the worker confines itself: the webhook thread resolves its host
        // now, and the hook runner is a separate, unconfined process fed through a pipe.
        if let Some(w) = &config.findings.webhook {
            sinks.push(Box::new(scrun_findings::webhook::WebhookSink::new(
                &w.url,
                w.options(),
            )?));
        }
        if !config.findings.hooks.is_empty() {
            let specs: Vec<_> = config.findings.hooks.iter().map(|h| h.spec()).collect();
            let pipe = super::spawn::spawn_hook_runner(sdir).map_err(SetupError::HookRunner)?;
            sinks.push(Box::new(
                scrun_findings::hooks::PipeSink::new(pipe)?.for_hooks(&specs),
            ));
        }
        // Built off the exec path (a thread now, or the first exec that needs it); rule files were
        // validated by `create`.
        let rules = scrun_detect::rules::SharedRuleset::new(
            scrun_detect::rules::RulesetSpec::from_config(&config),
        );
        rules.prepare_in_background();
        // Per-container actions: `scrun.rule.<ID>` labels, then annotations.
        let mut rule_labels = identity.clone();
        for (k, v) in &meta.annotations {
            if k.starts_with(scrun_detect::rules::LABEL_PREFIX) {
                rule_labels.labels.insert(k.clone(), v.clone());
            }
        }
        let rules = scrun_detect::rules::ContainerRules::new(rules, &rule_labels);
        let engine = Engine::new(
            Arc::clone(&config),
            mode,
            intel,
            allow,
            cache,
            meta.layers.clone(),
            meta.rootfs_dev,
            identity,
        )
        .with_rules(rules)
        .with_mapping_mode(meta.mappings.mode().unwrap_or(mode));
        Ok(Self {
            rootfs: meta.rootfs.clone(),
            engine,
            config,
            mode,
            sink: Box::new(MultiSink(sinks)),
            gate_only: crate::delegation::agent(sdir).is_some(),
        })
    }
}

/// How the decided file is run when it is not exec'd directly.
#[derive(Default)]
pub struct Via {
    pub interpreter: Option<String>,
    pub loader: Option<String>,
    /// Decided on the opened file by the exec gate (`"exec-gate"`) or watcher (`"exec-watch"`):
    /// the seccomp path saw something else.
    pub decided_by: Option<&'static str>,
    /// The file that was opened is not the one the seccomp path decided on (audit mode).
    pub changed_after_decision: bool,
    /// Evaluate the exec rules too (the trapped exec, not the exec gate's re-decisions).
    pub rules: bool,
    /// The path as the exec's caller saw it, when it differs from the container path (the
    /// caller is in a chroot or another mount namespace).
    pub caller_path: Option<String>,
    /// Mapped executable by a running process (`mmap`/`mprotect`), not exec'd: decided as a
    /// library, in the mappings' mode; the finding names the mapping process.
    pub library: bool,
}

/// The engine's view of a resolved file (an unlinked one is told apart: its provenance comes
/// from its content).
pub fn target_of(resolved: &resolve::Resolved) -> Target {
    use std::os::unix::fs::MetadataExt;
    Target {
        path: resolved.path.clone(),
        dev: resolved.meta.dev(),
        ino: resolved.meta.ino(),
        memfd: resolved.memfd,
        unlinked: resolved.meta.nlink() == 0,
    }
}

/// Provenance, hash, feeds, policy and the finding for one resolved exec target.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    ctx: &Context,
    log: &ContainerLog,
    pid: u32,
    path: &[u8],
    argv: &mut dyn Strings,
    env: Option<&mut dyn Strings>,
    syscall: &str,
    resolved: &resolve::Resolved,
    via: Via,
) -> Decision {
    let target = target_of(resolved);
    let loaded_as = if via.library {
        LoadedAs::Library
    } else {
        LoadedAs::Exec
    };
    let process = ProcessInfo {
        pid: i64::from(pid),
        ppid: 0,
        name: String::new(),
        // A library's process runs its own executable (read for a finding, in `enrich`).
        binary_path: (!via.library).then(|| resolved.path.display().to_string()),
        // Filled in below, only when a finding is written.
        args: Vec::new(),
        args_truncated: false,
    };
    // The rules see a script or a binary run through ld.so by its own name, not the
    // interpreter's (which was decided, and ruled on, as the exec itself).
    let by_own_name = via.interpreter.is_some() || via.loader.is_some();
    let run_rules = via.rules;
    let mut event = ExecEvent {
        time: chrono::Utc::now(),
        syscall: syscall.to_string(),
        process,
        // Filled in below, only when a finding is written.
        env: Vec::new(),
        env_truncated: false,
        parent: None,
        requested_path: lossy(path),
        target,
        interpreter: via.interpreter,
        loader: via.loader,
        loaded_as,
    };
    let (decided_by, changed) = (via.decided_by, via.changed_after_decision);
    let caller_path = via.caller_path;
    // Only for a finding: argv, the environment and /proc reads for the process and its parent.
    let mut env = env;
    let include_env = ctx.config.findings.include_env;
    let complete = |event: &mut ExecEvent| {
        let (args, truncated) = argv.get();
        event.process.args = args.iter().map(|a| lossy(a)).collect();
        event.process.args_truncated = truncated;
        if let Some(env) = env.as_deref_mut().filter(|_| include_env) {
            let (items, truncated) = env.get();
            event.env = scrun_detect::event::env_pairs(items);
            event.env_truncated = truncated;
        }
        enrich(event, pid);
    };
    let mut decision: Decision =
        ctx.engine
            .evaluate_with(&mut event, &resolved.meta, || resolved.readable(), complete);
    crate::metrics::COUNTERS.decision(
        decision.finding.as_ref().and(decision.category),
        decision.cache_hit,
        decision.hashed_bytes,
    );
    if let Some(err) = &decision.error {
        log.warn(format_args!(
            "exec of {} in pid {pid}: {err}",
            event.requested_path
        ));
    }
    let rule_findings = if run_rules && decision.error.is_none() {
        let rules_requested = if by_own_name {
            resolved.path.display().to_string()
        } else {
            lossy(path)
        };
        let mut subject = super::rules::ExecSubject::new(
            &ctx.engine,
            &ctx.rootfs,
            pid,
            rules_requested,
            resolved.path.display().to_string(),
            &decision,
            &mut *argv,
            env.as_mut().map(|e| &mut **e as &mut dyn Strings),
        );
        super::rules::evaluate(
            &mut subject,
            &ctx.engine,
            include_env,
            &mut event,
            &mut decision,
        )
    } else {
        Vec::new()
    };
    if let Some(finding) = decision.finding.as_mut() {
        if let Some(by) = decided_by {
            finding.set_prop("scrun_decided_by", by);
        }
        if let Some(p) = &caller_path {
            finding.set_prop("scrun_caller_path", p);
        }
        if ctx.gate_only {
            finding.set_prop(crate::delegation::FINDING_PROPERTY, "gate-only");
        }
        if changed {
            finding.set_prop("scrun_changed_after_decision", "true");
            finding.description.push_str(
                " The file that ran is not the one scrun decided on when the exec was trapped: it was swapped between the decision and the exec.",
            );
        }
        if let Err(e) = ctx.sink.emit(finding) {
            log.error(format_args!("cannot write finding: {e}"));
        }
    }
    for finding in &rule_findings {
        crate::metrics::COUNTERS.rule_finding(&finding.category);
        if let Err(e) = ctx.sink.emit(finding) {
            log.error(format_args!("cannot write finding: {e}"));
        }
    }
    decision
}

fn enrich(event: &mut ExecEvent, pid: u32) {
    use scrun_kernel::proc_info;
    let ppid = proc_info::ppid(pid).unwrap_or(0);
    event.process.ppid = i64::from(ppid);
    if event.loaded_as == LoadedAs::Library {
        // The process mapping the file is running its own program.
        event.process.name = proc_info::comm(pid).unwrap_or_default();
        event.process.binary_path = proc_info::exe_path(pid).map(|p| p.display().to_string());
    } else {
        event.process.name = event
            .target
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    if ppid > 0 {
        event.parent = Some(super::rules::parent_info(
            ppid,
            proc_info::comm(ppid).unwrap_or_default(),
            proc_info::exe_path(ppid).map(|p| p.display().to_string()),
        ));
    }
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use scrun_detect::engine::Verdict;
    use scrun_detect::event::Known;
    use scrun_findings::Finding;
    use scrun_findings::sink::SinkError;

    use super::*;
    use crate::supervisor::testutil::Fixture;

    /// The sinks, faked: keeps what it is given, or fails.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<Finding>>>, bool);

    impl Sink for Kept {
        fn emit(&self, finding: &Finding) -> Result<(), SinkError> {
            if self.1 {
                return Err(SinkError::Writer {
                    target: "the test sink",
                    cause: std::io::Error::other("full"),
                });
            }
            self.0.lock().unwrap().push(finding.clone());
            Ok(())
        }
    }

    fn context(fx: &Fixture, sink: Kept) -> Context {
        let meta = fx.meta();
        let config = super::super::config_of(&meta).unwrap();
        let mut ctx = Context::new(&meta, config, &fx.sdir).unwrap();
        ctx.sink = Box::new(sink);
        ctx
    }

    fn resolved(fx: &Fixture, path: &str) -> resolve::Resolved {
        let host = fx.host_path(path);
        let file = std::fs::File::open(&host).unwrap();
        let meta = file.metadata().unwrap();
        resolve::Resolved::opened(file, path.into(), meta)
    }

    fn decide_on(fx: &Fixture, ctx: &Context, path: &str, via: Via) -> Decision {
        let log = ContainerLog::open(&fx.sdir.supervisor_log(), crate::logging::Format::Json);
        decide(
            ctx,
            &log,
            std::process::id(),
            path.as_bytes(),
            &mut Known(vec![path.as_bytes().to_vec(), b"--flag".to_vec()]),
            None,
            "execve",
            &resolved(fx, path),
            via,
        )
    }

    #[test]
    fn a_listed_file_is_blocked_in_enforce_and_reported_with_its_argv() {
        let fx = Fixture::new(Mode::Enforce);
        let kept = Kept::default();
        let ctx = context(&fx, kept.clone());
        let d = decide_on(&fx, &ctx, "/bin/evil", Via::default());
        assert_eq!(d.verdict, Verdict::Block);
        let found = kept.0.lock().unwrap();
        assert_eq!(found.len(), 1);
        let json = serde_json::to_value(&found[0]).unwrap();
        let text = json.to_string();
        assert!(text.contains(&fx.evil_sha), "{text}");
        assert!(text.contains("--flag"), "argv is in the finding: {text}");
        assert_eq!(json["sourceProperties"].get("scrun_decided_by"), None);
    }

    #[test]
    fn an_unlisted_file_is_allowed_without_a_finding() {
        let fx = Fixture::new(Mode::Enforce);
        let kept = Kept::default();
        let ctx = context(&fx, kept.clone());
        let d = decide_on(&fx, &ctx, "/bin/ok", Via::default());
        assert_eq!(d.verdict, Verdict::Allow);
        assert!(kept.0.lock().unwrap().is_empty());
    }

    #[test]
    fn audit_mode_allows_and_reports() {
        let fx = Fixture::new(Mode::Audit);
        let kept = Kept::default();
        let ctx = context(&fx, kept.clone());
        let d = decide_on(&fx, &ctx, "/bin/evil", Via::default());
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!(kept.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_gate_and_a_swap_are_named_in_the_finding() {
        let fx = Fixture::new(Mode::Audit);
        let kept = Kept::default();
        let ctx = context(&fx, kept.clone());
        let via = Via {
            decided_by: Some("exec-watch"),
            changed_after_decision: true,
            interpreter: Some("/bin/sh".into()),
            ..Via::default()
        };
        decide_on(&fx, &ctx, "/bin/evil", via);
        let found = kept.0.lock().unwrap();
        let json = serde_json::to_value(&found[0]).unwrap();
        let props = &json["sourceProperties"];
        assert_eq!(props["scrun_decided_by"], "exec-watch");
        assert_eq!(props["scrun_changed_after_decision"], "true");
        assert!(
            json["description"].as_str().unwrap().contains("swapped"),
            "{json}"
        );
    }

    #[test]
    fn a_failing_sink_is_logged_and_does_not_change_the_verdict() {
        let fx = Fixture::new(Mode::Enforce);
        let ctx = context(&fx, Kept(Arc::default(), true));
        let d = decide_on(&fx, &ctx, "/bin/evil", Via::default());
        assert_eq!(d.verdict, Verdict::Block);
        let log = fx.log();
        assert!(
            log.contains("cannot write finding") && log.contains("the test sink"),
            "{log}"
        );
    }
}
