//! The decision on one resolved exec target: the engine (provenance, hash, feeds, policy), the
//! finding (with the process details read only when there is one) and its sinks.

use std::sync::Arc;

use scrun_detect::engine::{ContainerIdentity, Decision, Engine, ExecEvent, ProcessInfo};
use scrun_detect::event::Strings;
use scrun_detect::feeds::{FeedSet, Intel};
use scrun_detect::policy::{Config, Mode};
use scrun_detect::{HashCache, Target};
use scrun_findings::sink::{FileSink, MultiSink, Sink, StdoutSink};
use scrun_kernel::resolve;

use crate::scrun_dir::Meta;

/// Everything a listener thread needs to decide, built once per supervisor.
pub struct Context {
    /// The rootfs as the host sees it (the exec gate reports host paths under it).
    pub rootfs: std::path::PathBuf,
    pub engine: Engine,
    pub config: Arc<Config>,
    pub mode: Mode,
    pub sink: Box<dyn Sink>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Feed(#[from] scrun_detect::feeds::FeedError),
    #[error(transparent)]
    Sink(#[from] scrun_findings::sink::SinkError),
    #[error("invalid mode {0:?}")]
    Mode(String),
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
        let mode: Mode = meta
            .mode
            .parse()
            .map_err(|_| SetupError::Mode(meta.mode.clone()))?;
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
        let engine = Engine::new(
            Arc::clone(&config),
            mode,
            intel,
            allow,
            cache,
            meta.layers.clone(),
            meta.rootfs_dev,
            identity,
        );
        Ok(Self {
            rootfs: meta.rootfs.clone(),
            engine,
            config,
            mode,
            sink: Box::new(MultiSink(sinks)),
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
}

/// Provenance, hash, feeds, policy and the finding for one resolved exec target.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    ctx: &Context,
    log: &super::RateLimitedLog,
    pid: u32,
    path: &[u8],
    argv: &mut dyn Strings,
    env: Option<&mut dyn Strings>,
    syscall: &str,
    resolved: &resolve::Resolved,
    via: Via,
) -> Decision {
    use std::os::unix::fs::MetadataExt;
    let target = Target {
        path: resolved.path.clone(),
        dev: resolved.meta.dev(),
        ino: resolved.meta.ino(),
        memfd: resolved.memfd,
    };
    let process = ProcessInfo {
        pid: i64::from(pid),
        ppid: 0,
        name: String::new(),
        binary_path: Some(resolved.path.display().to_string()),
        // Filled in below, only when a finding is written.
        args: Vec::new(),
        args_truncated: false,
    };
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
    };
    let (decided_by, changed) = (via.decided_by, via.changed_after_decision);
    // Only for a finding: argv, the environment and /proc reads for the process and its parent.
    let complete = |event: &mut ExecEvent| {
        let (args, truncated) = argv.get();
        event.process.args = args.iter().map(|a| lossy(a)).collect();
        event.process.args_truncated = truncated;
        if let Some(env) = env {
            let (items, truncated) = env.get();
            event.env = items
                .iter()
                .map(|kv| {
                    let s = lossy(kv);
                    match s.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (s, String::new()),
                    }
                })
                .collect();
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
        log.warn(&format!(
            "exec of {} in pid {pid}: {err}",
            event.requested_path
        ));
    }
    if let Some(finding) = decision.finding.as_mut() {
        if let Some(by) = decided_by {
            finding.set_prop("scrun_decided_by", by);
        }
        if changed {
            finding.set_prop("scrun_changed_after_decision", "true");
            finding.description.push_str(
                " The file that ran is not the one scrun decided on when the exec was trapped: it was swapped between the decision and the exec.",
            );
        }
        if let Err(e) = ctx.sink.emit(finding) {
            log.error(&format!("cannot write finding: {e}"));
        }
    }
    decision
}

fn enrich(event: &mut ExecEvent, pid: u32) {
    use scrun_kernel::proc_info;
    let ppid = proc_info::ppid(pid).unwrap_or(0);
    event.process.ppid = i64::from(ppid);
    event.process.name = event
        .target
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if ppid > 0 {
        event.parent = Some(ProcessInfo {
            pid: i64::from(ppid),
            ppid: i64::from(proc_info::ppid(ppid).unwrap_or(0)),
            name: proc_info::comm(ppid).unwrap_or_default(),
            binary_path: proc_info::exe_path(ppid).map(|p| p.display().to_string()),
            args: proc_info::cmdline(ppid, 4096).unwrap_or_default(),
            args_truncated: false,
        });
    }
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}
