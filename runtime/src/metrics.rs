//! Node metrics without a daemon.
//!
//! Each supervisor process counts in process-wide atomics ([`COUNTERS`]: a relaxed `fetch_add`
//! per event, nothing else on the exec path) and a thread of the worker writes a snapshot of them
//! every `[supervisor] metrics_interval_secs` (and once at exit) to
//! `<metrics_dir>/<container key>.<pid>.json`, by writing a temporary file and renaming it (a
//! reader never sees half a file). The keeper writes its own file when it restarts a worker.
//!
//! `scrun metrics` sums every snapshot of the node and prints Prometheus text (built with
//! `prometheus-client`), or writes it atomically for node_exporter's textfile collector
//! (`--textfile`). Snapshots of processes that are gone are folded into `retired.json` (under a
//! lock) and removed, so counters stay monotonic when containers and workers come and go, and
//! the directory does not grow. A restarted worker starts from zero in a new file: what its
//! predecessor counted after its last snapshot (at most one interval) is lost.
//!
//! Why this shape: scrun has no daemon, so nothing could serve `/metrics`; a per-container
//! endpoint would mean a port per container, and a file per container in the textfile
//! directory would put a container-id label on every series (unbounded cardinality). Files in a
//! tmpfs cost no exec-path work, survive a supervisor crash, and one command gives node totals.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use scrun_findings::Category;
use serde::{Deserialize, Serialize};

/// Upper bounds (µs) of the decision latency histogram's buckets (plus +Inf).
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000,
];

const NB: usize = LATENCY_BUCKETS_US.len() + 1;
const NC: usize = Category::ALL.len();

/// What one supervisor process counted.
pub struct Counters {
    execs: AtomicU64,
    allowed: AtomicU64,
    blocked: AtomicU64,
    errors: AtomicU64,
    gate_events: AtomicU64,
    findings: [AtomicU64; NC],
    /// Findings of the exec rules (their categories are the ruleset's, not a fixed list).
    rule_findings: std::sync::Mutex<BTreeMap<String, u64>>,
    latency: [AtomicU64; NB],
    /// Mapping calls by [`MapOutcome`], and their latency (the same buckets as execs').
    mappings: [AtomicU64; MapOutcome::ALL.len()],
    mapping_latency: [AtomicU64; NB],
    mapping_latency_sum_ns: AtomicU64,
    latency_sum_ns: AtomicU64,
    hashed_bytes: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    restarts: AtomicU64,
}

/// How a trapped exec was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Blocked,
    /// Failed as the kernel would have (bad pointer, missing file), or the process was gone.
    Error,
}

/// How a trapped mapping call (`[supervisor] mappings`) was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOutcome {
    /// A file was decided and the call let through.
    Allowed,
    /// A file the policy blocks: EPERM.
    Blocked,
    /// Nothing to decide: anonymous memory (an `mprotect` of JIT code), a memory file, a device.
    NotAFile,
    /// Undecidable, failed as the kernel would have, or the process was gone.
    Error,
}

impl MapOutcome {
    /// Every outcome, in the order of the counters.
    pub const ALL: [MapOutcome; 4] = [
        MapOutcome::Allowed,
        MapOutcome::Blocked,
        MapOutcome::NotAFile,
        MapOutcome::Error,
    ];

    /// The `outcome` label of `scrun_mappings_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            MapOutcome::Allowed => "allowed",
            MapOutcome::Blocked => "blocked",
            MapOutcome::NotAFile => "not-a-file",
            MapOutcome::Error => "error",
        }
    }
}

fn bucket_of(elapsed: Duration) -> usize {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    LATENCY_BUCKETS_US
        .iter()
        .position(|b| us <= *b)
        .unwrap_or(NB - 1)
}

/// This process's counters.
pub static COUNTERS: Counters = Counters::new();

impl Counters {
    /// All counters at zero.
    pub const fn new() -> Self {
        Counters {
            execs: AtomicU64::new(0),
            allowed: AtomicU64::new(0),
            blocked: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            gate_events: AtomicU64::new(0),
            findings: [const { AtomicU64::new(0) }; NC],
            rule_findings: std::sync::Mutex::new(BTreeMap::new()),
            latency: [const { AtomicU64::new(0) }; NB],
            mappings: [const { AtomicU64::new(0) }; MapOutcome::ALL.len()],
            mapping_latency: [const { AtomicU64::new(0) }; NB],
            mapping_latency_sum_ns: AtomicU64::new(0),
            latency_sum_ns: AtomicU64::new(0),
            hashed_bytes: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
        }
    }

    /// One trapped exec answered after `elapsed`.
    pub fn exec(&self, outcome: Outcome, elapsed: Duration) {
        self.execs.fetch_add(1, Relaxed);
        match outcome {
            Outcome::Allowed => &self.allowed,
            Outcome::Blocked => &self.blocked,
            Outcome::Error => &self.errors,
        }
        .fetch_add(1, Relaxed);
        self.latency[bucket_of(elapsed)].fetch_add(1, Relaxed);
        self.latency_sum_ns.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }

    /// One trapped mapping call answered after `elapsed`.
    pub fn mapping(&self, outcome: MapOutcome, elapsed: Duration) {
        let i = MapOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.mappings[i].fetch_add(1, Relaxed);
        self.mapping_latency[bucket_of(elapsed)].fetch_add(1, Relaxed);
        self.mapping_latency_sum_ns.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }

    /// One decision on a file (an exec has one, two for `ld.so ./bin`; a gate event one).
    pub fn decision(&self, finding: Option<Category>, cache_hit: bool, hashed_bytes: u64) {
        if let Some(c) = finding {
            if let Some(i) = Category::ALL.iter().position(|x| *x == c) {
                self.findings[i].fetch_add(1, Relaxed);
            }
        }
        if cache_hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        }
        .fetch_add(1, Relaxed);
        if hashed_bytes > 0 {
            self.hashed_bytes.fetch_add(hashed_bytes, Relaxed);
        }
    }

    /// One finding of an exec rule, by its SCC category.
    pub fn rule_finding(&self, category: &str) {
        let mut m = self
            .rule_findings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.entry(category.to_owned()).or_default() += 1;
    }

    /// One exec gate / watcher event decided.
    pub fn gate_event(&self) {
        self.gate_events.fetch_add(1, Relaxed);
    }

    /// The keeper started a new worker.
    pub fn restart(&self) {
        self.restarts.fetch_add(1, Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> Snapshot {
        let mut findings: BTreeMap<String, u64> = Category::ALL
            .iter()
            .zip(&self.findings)
            .map(|(c, n)| (c.as_str().to_owned(), n.load(Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let rules = self
            .rule_findings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (c, n) in rules.iter() {
            *findings.entry(c.clone()).or_default() += n;
        }
        Snapshot {
            execs: self.execs.load(Relaxed),
            allowed: self.allowed.load(Relaxed),
            blocked: self.blocked.load(Relaxed),
            errors: self.errors.load(Relaxed),
            gate_events: self.gate_events.load(Relaxed),
            findings,
            latency_buckets: self.latency.iter().map(|b| b.load(Relaxed)).collect(),
            latency_sum_ns: self.latency_sum_ns.load(Relaxed),
            hashed_bytes: self.hashed_bytes.load(Relaxed),
            cache_hits: self.cache_hits.load(Relaxed),
            cache_misses: self.cache_misses.load(Relaxed),
            supervisor_restarts: self.restarts.load(Relaxed),
            mappings: MapOutcome::ALL
                .iter()
                .zip(&self.mappings)
                .map(|(o, n)| (o.as_str().to_owned(), n.load(Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            mapping_latency_buckets: self
                .mapping_latency
                .iter()
                .map(|b| b.load(Relaxed))
                .collect(),
            mapping_latency_sum_ns: self.mapping_latency_sum_ns.load(Relaxed),
        }
    }
}

/// Plain counts, as written to a snapshot file and summed by `scrun metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    pub execs: u64,
    pub allowed: u64,
    pub blocked: u64,
    pub errors: u64,
    pub gate_events: u64,
    /// By exact SCC category.
    pub findings: BTreeMap<String, u64>,
    /// Per bucket of [`LATENCY_BUCKETS_US`] (not cumulative), the last one +Inf.
    pub latency_buckets: Vec<u64>,
    pub latency_sum_ns: u64,
    pub hashed_bytes: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub supervisor_restarts: u64,
    /// Trapped mapping calls by outcome label ([`MapOutcome::as_str`]).
    pub mappings: BTreeMap<String, u64>,
    /// As `latency_buckets`, for mapping calls.
    pub mapping_latency_buckets: Vec<u64>,
    pub mapping_latency_sum_ns: u64,
}

/// Adds `from` into `into` bucket by bucket (a longer one grows `into`).
fn add_buckets(into: &mut Vec<u64>, from: &[u64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

impl Snapshot {
    /// Add `o`'s counts to these.
    pub fn add(&mut self, o: &Snapshot) {
        self.execs += o.execs;
        self.allowed += o.allowed;
        self.blocked += o.blocked;
        self.errors += o.errors;
        self.gate_events += o.gate_events;
        for (k, v) in &o.findings {
            *self.findings.entry(k.clone()).or_default() += v;
        }
        add_buckets(&mut self.latency_buckets, &o.latency_buckets);
        self.latency_sum_ns += o.latency_sum_ns;
        for (k, v) in &o.mappings {
            *self.mappings.entry(k.clone()).or_default() += v;
        }
        add_buckets(
            &mut self.mapping_latency_buckets,
            &o.mapping_latency_buckets,
        );
        self.mapping_latency_sum_ns += o.mapping_latency_sum_ns;
        self.hashed_bytes += o.hashed_bytes;
        self.cache_hits += o.cache_hits;
        self.cache_misses += o.cache_misses;
        self.supervisor_restarts += o.supervisor_restarts;
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.tmp.{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    fs::rename(&tmp, path)
}

/// This process's snapshot file in `dir` for the container whose scrun dir is `key`.
pub fn snapshot_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.{}.json", std::process::id()))
}

/// Write this process's snapshot now.
pub fn write_snapshot(path: &Path) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(&COUNTERS.snapshot()).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Start the thread that writes this process's snapshot to `path` every `interval`.
pub fn spawn_writer(path: PathBuf, interval: Duration) {
    let spawned = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                if let Err(e) = write_snapshot(&path) {
                    tracing::debug!(error = %e, path = %path.display(), "metrics snapshot");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no metrics thread");
    }
}

/// Node-wide values `scrun metrics` renders.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    pub totals: Snapshot,
    /// Supervisor processes alive that wrote a snapshot (workers; keepers after a restart).
    pub live_supervisors: u64,
    /// Age in seconds of each configured threat feed or index file, by source.
    pub feed_age_secs: Vec<(String, f64)>,
}

impl Collector for NodeMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let t = &self.totals;
        let counter = |enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64| {
            enc.encode_descriptor(name, help, None, MetricType::Counter)?
                .encode_counter::<NoLabelSet, _, u64>(&v, None)
        };
        counter(
            &mut enc,
            "scrun_execs",
            "Trapped execve/execveat calls answered.",
            t.execs,
        )?;
        {
            let mut fam = enc.encode_descriptor(
                "scrun_verdicts",
                "Trapped execs by answer: allowed, blocked (EPERM), error (failed as the kernel would).",
                None,
                MetricType::Counter,
            )?;
            for (action, v) in [
                ("allowed", t.allowed),
                ("blocked", t.blocked),
                ("error", t.errors),
            ] {
                fam.encode_family(&[("action", action)])?
                    .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
            }
        }
        {
            let mut fam = enc.encode_descriptor(
                "scrun_findings",
                "Findings written, by SCC category.",
                None,
                MetricType::Counter,
            )?;
            // Every provenance category (0 included), then each rule category seen.
            for c in Category::ALL {
                let v = t.findings.get(c.as_str()).copied().unwrap_or(0);
                fam.encode_family(&[("category", c.as_str())])?
                    .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
            }
            for (c, v) in &t.findings {
                if Category::from_scc(c).is_none() {
                    fam.encode_family(&[("category", c.as_str())])?
                        .encode_counter::<NoLabelSet, _, u64>(v, None)?;
                }
            }
        }
        histogram(
            &mut enc,
            "scrun_decision_seconds",
            "Time from receiving a trapped exec to answering it.",
            &t.latency_buckets,
            t.latency_sum_ns,
        )?;
        {
            let mut fam = enc.encode_descriptor(
                "scrun_mappings",
                "Trapped mapping calls ([supervisor] mappings: mmap of a file or mprotect with PROT_EXEC, personality(READ_IMPLIES_EXEC)) by outcome: allowed, blocked (EPERM), not-a-file (anonymous memory, a memory file, a device), error.",
                None,
                MetricType::Counter,
            )?;
            for o in MapOutcome::ALL {
                let v = t.mappings.get(o.as_str()).copied().unwrap_or(0);
                fam.encode_family(&[("outcome", o.as_str())])?
                    .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
            }
        }
        histogram(
            &mut enc,
            "scrun_mapping_seconds",
            "Time from receiving a trapped mapping call to answering it.",
            &t.mapping_latency_buckets,
            t.mapping_latency_sum_ns,
        )?;
        counter(
            &mut enc,
            "scrun_hashed_bytes",
            "Bytes of executables read and hashed (neither the verdict cache nor the on-disk hash cache knew them).",
            t.hashed_bytes,
        )?;
        counter(
            &mut enc,
            "scrun_verdict_cache_hits",
            "Decisions answered from the verdict cache.",
            t.cache_hits,
        )?;
        counter(
            &mut enc,
            "scrun_verdict_cache_misses",
            "Decisions that looked at the file again (provenance, hash cache or hashing, feeds).",
            t.cache_misses,
        )?;
        let lookups = t.cache_hits + t.cache_misses;
        enc.encode_descriptor(
            "scrun_verdict_cache_hit_ratio",
            "Verdict cache hits / decisions since the counters started (0 without decisions).",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&if lookups == 0 {
            0.0
        } else {
            t.cache_hits as f64 / lookups as f64
        })?;
        counter(
            &mut enc,
            "scrun_gate_events",
            "Exec gate / watcher (fanotify) events decided.",
            t.gate_events,
        )?;
        counter(
            &mut enc,
            "scrun_supervisor_restarts",
            "Workers the keepers started again after one died.",
            t.supervisor_restarts,
        )?;
        enc.encode_descriptor(
            "scrun_supervisors",
            "Supervisor workers alive (one per supervised container; a keeper writes no snapshot until it restarts its worker).",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&(self.live_supervisors as i64))?;
        let mut fam = enc.encode_descriptor(
            "scrun_feed_age_seconds",
            "Age of each configured threat feed or feed index file (since its last change).",
            None,
            MetricType::Gauge,
        )?;
        for (source, age) in &self.feed_age_secs {
            fam.encode_family(&[("source", source.as_str())])?
                .encode_gauge(age)?;
        }
        Ok(())
    }
}

/// A latency histogram from per-bucket counts of [`LATENCY_BUCKETS_US`] (+Inf last).
fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    per_bucket: &[u64],
    sum_ns: u64,
) -> std::fmt::Result {
    // prometheus-client takes per-bucket counts and makes them cumulative itself.
    let mut count = 0u64;
    let mut buckets = Vec::with_capacity(NB);
    for (i, n) in per_bucket.iter().enumerate() {
        count += n;
        let le = LATENCY_BUCKETS_US
            .get(i)
            .map_or(f64::INFINITY, |us| *us as f64 / 1e6);
        buckets.push((le, *n));
    }
    enc.encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(sum_ns as f64 / 1e9, count, &buckets, None)
}

/// The Prometheus text exposition of `m`.
pub fn render(m: NodeMetrics) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(m));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// Whether `pid` is a live scrun supervisor (keeper or worker).
fn live_supervisor(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|mut c| {
            c.iter_mut().filter(|b| **b == 0).for_each(|b| *b = b' ');
            c.starts_with(b"scrun supervise")
        })
        .unwrap_or(false)
}

/// Sum every snapshot in `dir`; fold those of processes that are gone into `retired.json` and
/// remove them. Returns (totals, live supervisor processes).
pub fn collect(dir: &Path) -> std::io::Result<(Snapshot, u64)> {
    fs::create_dir_all(dir)?;
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))?;
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| std::io::Error::from(e))?;
    let retired_path = dir.join("retired.json");
    let mut retired: Snapshot = fs::read(&retired_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut live = Snapshot::default();
    let mut live_n = 0;
    let mut gone = Vec::new();
    for e in fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let Some(pid) = stem
            .rsplit_once('.')
            .and_then(|(_, p)| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(s) = fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok())
        else {
            continue;
        };
        if live_supervisor(pid) {
            live.add(&s);
            live_n += 1;
        } else {
            retired.add(&s);
            gone.push(e.path());
        }
    }
    if !gone.is_empty() {
        write_atomic(
            &retired_path,
            &serde_json::to_vec(&retired).map_err(std::io::Error::other)?,
        )?;
        for p in gone {
            let _ = fs::remove_file(p);
        }
    }
    retired.add(&live);
    Ok((retired, live_n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_sum_and_render_as_prometheus_text() {
        let c = Counters::new();
        c.exec(Outcome::Allowed, Duration::from_micros(40));
        c.exec(Outcome::Blocked, Duration::from_micros(3000));
        c.exec(Outcome::Allowed, Duration::from_secs(2));
        c.decision(Some(Category::AddedBinaryExecuted), false, 4096);
        c.decision(None, true, 0);
        c.rule_finding("Execution: Netcat Remote Code Execution in Container");
        c.gate_event();
        c.restart();
        c.mapping(MapOutcome::Allowed, Duration::from_micros(8));
        c.mapping(MapOutcome::NotAFile, Duration::from_micros(30));
        let mut total = c.snapshot();
        total.add(&c.snapshot());
        assert_eq!(total.execs, 6);
        assert_eq!(total.findings["Execution: Added Binary Executed"], 2);
        let text = render(NodeMetrics {
            totals: total,
            live_supervisors: 2,
            feed_age_secs: vec![("feed.txt".into(), 12.5)],
        });
        for line in [
            "scrun_execs_total 6",
            "scrun_verdicts_total{action=\"allowed\"} 4",
            "scrun_verdicts_total{action=\"blocked\"} 2",
            "scrun_findings_total{category=\"Execution: Added Binary Executed\"} 2",
            "scrun_findings_total{category=\"Execution: Fileless Execution in /memfd:\"} 0",
            "scrun_findings_total{category=\"Execution: Netcat Remote Code Execution in Container\"} 2",
            "scrun_decision_seconds_bucket{le=\"0.00005\"} 2",
            "scrun_decision_seconds_bucket{le=\"0.005\"} 4",
            "scrun_decision_seconds_bucket{le=\"+Inf\"} 6",
            "scrun_decision_seconds_count 6",
            "scrun_hashed_bytes_total 8192",
            "scrun_verdict_cache_hit_ratio 0.5",
            "scrun_gate_events_total 2",
            "scrun_supervisor_restarts_total 2",
            "scrun_supervisors 2",
            "scrun_feed_age_seconds{source=\"feed.txt\"} 12.5",
            "scrun_mappings_total{outcome=\"allowed\"} 2",
            "scrun_mappings_total{outcome=\"blocked\"} 0",
            "scrun_mappings_total{outcome=\"not-a-file\"} 2",
            "scrun_mapping_seconds_bucket{le=\"0.00001\"} 2",
            "scrun_mapping_seconds_count 4",
            "scrun_findings_total{category=\"Execution: Added Library Loaded\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn snapshots_of_gone_processes_are_folded_into_retired() {
        let t = tempfile::tempdir().unwrap();
        let s = Snapshot {
            execs: 5,
            ..Snapshot::default()
        };
        // pid 0 is no process: gone.
        fs::write(t.path().join("abc.0.json"), serde_json::to_vec(&s).unwrap()).unwrap();
        let (total, live) = collect(t.path()).unwrap();
        assert_eq!((total.execs, live), (5, 0));
        assert!(!t.path().join("abc.0.json").exists());
        // Counted once, from retired.json, on the next collection too.
        let (total, _) = collect(t.path()).unwrap();
        assert_eq!(total.execs, 5);
    }
}
