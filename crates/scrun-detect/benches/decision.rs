//! The per-exec decision path: `Engine::evaluate` on a copy of `/bin/busybox`, with a warm
//! verdict cache (the common case: the same binary exec'd again), with an empty feed set and with
//! a 1M-hash feed set; plus the warm path when the feed matches (a finding is rendered on every
//! exec) and the cold path (fresh engine and hash cache: hash + lookup).
//!
//! `cargo bench -p scrun-detect --bench decision` (about a minute; generates a 1M-line feed in a
//! temporary directory).

use std::fs::{File, Metadata};
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{BatchSize, Criterion};
use scrun_detect::engine::{ContainerIdentity, Engine, ExecEvent, ProcessInfo, Verdict};
use scrun_detect::feeds::{FeedSet, FeedSpec, Intel};
use scrun_detect::hash::{HashCache, hash_file};
use scrun_detect::layers::Rootfs;
use scrun_detect::policy::{Config, Mode};
use scrun_detect::provenance::Target;
use scrun_detect::testdata::SplitMix;

const FEED_HASHES: usize = 1_000_000;

/// A feed of `n` random hashes (every 8th labelled), plus `extra` when given, loaded in memory.
fn feed(dir: &Path, name: &str, n: usize, extra: Option<[u8; 32]>) -> FeedSet {
    let p = dir.join(name);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&p).unwrap());
    let mut rng = SplitMix(n as u64);
    for i in 0..n {
        if i % 8 == 0 {
            writeln!(w, "{} family-{}", hex::encode(rng.hash()), i % 97).unwrap();
        } else {
            writeln!(w, "{}", hex::encode(rng.hash())).unwrap();
        }
    }
    if let Some(h) = extra {
        writeln!(w, "{} BenchMalware", hex::encode(h)).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    FeedSet::load(&[FeedSpec::new(&p)]).unwrap()
}

/// An audit-mode engine on a non-overlay rootfs on device `dev` (so the binary's provenance is
/// `Unknown`: no finding unless a feed matches, like a built-in image file).
fn engine(intel: Arc<dyn Intel>, rootfs: &Path, dev: u64) -> Engine {
    Engine::new(
        Arc::new(Config::default()),
        Mode::Audit,
        intel,
        None,
        Arc::new(HashCache::new(1024, None)),
        Rootfs::Other {
            fstype: "none".into(),
            mountpoint: rootfs.to_path_buf(),
        },
        dev,
        ContainerIdentity {
            id: "0123456789abcdef".into(),
            name: "web".into(),
            image_uri: "docker.io/library/busybox:latest".into(),
            caller: "docker".into(),
            ..ContainerIdentity::default()
        },
    )
}

fn event(meta: &Metadata) -> ExecEvent {
    ExecEvent {
        time: Utc::now(),
        syscall: "execve".into(),
        process: ProcessInfo {
            pid: 4242,
            ppid: 1,
            name: "sh".into(),
            binary_path: Some("/bin/busybox".into()),
            args: vec!["ls".into(), "-l".into(), "/etc".into()],
            args_truncated: false,
        },
        env: vec![
            ("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into()),
            ("HOME".into(), "/root".into()),
            ("HOSTNAME".into(), "0123456789ab".into()),
        ],
        env_truncated: false,
        parent: Some(ProcessInfo {
            pid: 1,
            ppid: 0,
            name: "sh".into(),
            ..ProcessInfo::default()
        }),
        requested_path: "/bin/ls".into(),
        target: Target {
            path: PathBuf::from("/bin/busybox"),
            dev: meta.dev(),
            ino: meta.ino(),
            memfd: false,
            unlinked: false,
        },
        interpreter: None,
        loader: None,
        loaded_as: scrun_detect::event::LoadedAs::Exec,
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    let bin = rootfs.join("bin/busybox");
    std::fs::copy("/bin/busybox", &bin).unwrap();
    let file = File::open(&bin).unwrap();
    let meta = file.metadata().unwrap();
    let ev = event(&meta);
    let digest = hash_file(&file, u64::MAX).unwrap();

    let empty: Arc<dyn Intel> = Arc::new(FeedSet::empty());
    let big: Arc<dyn Intel> = Arc::new(feed(dir.path(), "1m.txt", FEED_HASHES, None));
    let big_hit: Arc<dyn Intel> = Arc::new(feed(
        dir.path(),
        "1m-hit.txt",
        FEED_HASHES,
        Some(digest.sha256),
    ));

    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut g = c.benchmark_group("evaluate");

    for (name, intel, malicious) in [
        ("warm_empty_feeds", &empty, false),
        ("warm_1M_feed", &big, false),
        ("warm_1M_feed_match_renders_finding", &big_hit, true),
    ] {
        let e = engine(intel.clone(), &rootfs, meta.dev());
        // Warm the hash and verdict caches, and check the answer is the expected one.
        let d = e.evaluate(&ev, &file, &meta);
        assert_eq!(d.error, None);
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!(d.digest.map(|d| d.sha256), Some(digest.sha256));
        assert_eq!(d.intel.is_some(), malicious, "{name}");
        assert_eq!(d.finding.is_some(), malicious, "{name}: {:?}", d.provenance);
        g.bench_function(name, |b| {
            b.iter(|| black_box(e.evaluate(black_box(&ev), &file, &meta)));
        });
    }

    g.bench_function("cold_1M_feed_hashes_busybox", |b| {
        b.iter_batched(
            || engine(big.clone(), &rootfs, meta.dev()),
            |e| black_box(e.evaluate(&ev, &file, &meta)),
            BatchSize::SmallInput,
        );
    });
    g.finish();
    c.final_summary();
    println!(
        "busybox copy: {} bytes; feed sets: empty, {FEED_HASHES} hashes",
        meta.len()
    );
}
