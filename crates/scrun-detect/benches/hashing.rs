//! `hash_file` throughput: a 1 GiB file of random bytes (page cache warm) and a tree of typical
//! binaries (the regular files of `/usr/bin` under 20 MB), then the same 1 GiB file through
//! `sha256sum` (coreutils) and `openssl dgst -sha256`, best of 3 wall clock, side by side.
//!
//! `cargo bench -p scrun-detect --bench hashing` (about a minute). The 1 GiB file is created as
//! `/var/tmp/scrun-hashbench-1g.bin`, reused when present with the right size, and removed at the
//! end unless `SCRUN_BENCH_KEEP=1`.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use scrun_detect::hash::hash_file;
use scrun_detect::testdata::SplitMix;

const BIG: u64 = 1 << 30;
const BIG_PATH: &str = "/var/tmp/scrun-hashbench-1g.bin";
const TREE_MAX_FILE: u64 = 20 * 1000 * 1000;

/// The 1 GiB random file, created unless already there with the right size; then read once so
/// the page cache holds it.
fn big_file() -> PathBuf {
    let path = PathBuf::from(BIG_PATH);
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(BIG) {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&path).unwrap());
        let mut rng = SplitMix(0x5c_0000_1e55);
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..BIG / chunk.len() as u64 {
            for c in chunk.chunks_mut(8) {
                c.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            w.write_all(&chunk).unwrap();
        }
        w.into_inner().unwrap().sync_all().unwrap();
    }
    let f = File::open(&path).unwrap();
    black_box(hash_file(&f, u64::MAX).unwrap());
    path
}

/// Copies every regular file of `/usr/bin` under 20 MB into a temporary directory.
fn binary_tree() -> (tempfile::TempDir, Vec<PathBuf>, u64) {
    let dir = tempfile::Builder::new()
        .prefix("scrun-hashbench-tree")
        .tempdir_in("/var/tmp")
        .unwrap();
    let mut files = Vec::new();
    let mut total = 0;
    for entry in std::fs::read_dir("/usr/bin").unwrap().flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_file() || meta.len() >= TREE_MAX_FILE {
            continue;
        }
        let dst = dir.path().join(entry.file_name());
        if std::fs::copy(entry.path(), &dst).is_ok() {
            total += meta.len();
            files.push(dst);
        }
    }
    // Warm the page cache.
    for p in &files {
        black_box(hash_file(&File::open(p).unwrap(), u64::MAX).unwrap());
    }
    (dir, files, total)
}

fn hash_tree(files: &[PathBuf]) {
    for p in files {
        let f = File::open(p).unwrap();
        black_box(hash_file(&f, u64::MAX).unwrap());
    }
}

/// Best of 3 wall-clock runs of `f`.
fn best_of_3(mut f: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// Best of 3 wall-clock runs of an external command on `path` (output discarded); `None` when the
/// tool is missing or fails.
fn external(tool: &str, args: &[&str], path: &Path) -> Option<Duration> {
    let mut failed = false;
    let d = best_of_3(|| {
        let ok = Command::new(tool)
            .args(args)
            .arg(path)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        failed |= !ok;
    });
    (!failed).then_some(d)
}

/// SHA-256 speed of the CPU without IO: `openssl speed` on 512 KiB in-memory blocks, in GB/s.
fn openssl_speed() -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed", "-seconds", "2", "-bytes", "524288", "-evp", "sha256",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with("sha256"))?;
    let kb: f64 = line
        .split_whitespace()
        .nth(1)?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(kb * 1000.0 / 1e9)
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn main() {
    let big = big_file();
    let (_tree_dir, tree, tree_bytes) = binary_tree();

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();

    let mut g = c.benchmark_group("hash_file");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(BIG));
    g.bench_function("random_1GiB", |b| {
        let f = File::open(&big).unwrap();
        b.iter(|| black_box(hash_file(&f, u64::MAX).unwrap()));
    });
    g.throughput(Throughput::Bytes(tree_bytes));
    g.bench_function("usr_bin_tree", |b| {
        b.iter(|| hash_tree(&tree));
    });
    g.finish();
    c.final_summary();

    // Side by side on the same 1 GiB file, one core each, best of 3 wall clock.
    let f = File::open(&big).unwrap();
    let scrun = best_of_3(|| {
        black_box(hash_file(&f, u64::MAX).unwrap());
    });
    let coreutils = external("sha256sum", &[], &big);
    let openssl = external("openssl", &["dgst", "-sha256"], &big);
    let s = gbps(BIG, scrun);
    println!("\nSHA-256 of {BIG_PATH} (1 GiB, page cache warm), best of 3 wall clock:");
    println!("  scrun hash_file       {s:6.2} GB/s");
    for (name, d) in [
        ("sha256sum (coreutils)", coreutils),
        ("openssl dgst -sha256 ", openssl),
    ] {
        match d {
            Some(d) => {
                let e = gbps(BIG, d);
                println!(
                    "  {name} {e:6.2} GB/s   scrun/{} = {:.2}",
                    name.split_whitespace().next().unwrap_or(name),
                    s / e
                );
            }
            None => println!("  {name}   (not run: tool missing or failed)"),
        }
    }
    if let Some(ceiling) = openssl_speed() {
        println!(
            "  CPU ceiling (openssl speed -evp sha256, 512 KiB blocks in memory, no IO) {ceiling:.2} GB/s"
        );
    }
    println!("  (criterion above reports GiB/s: 1 GiB/s = 1.074 GB/s)");
    println!(
        "  /usr/bin tree: {} files, {:.1} MB",
        tree.len(),
        tree_bytes as f64 / 1e6
    );

    if std::env::var_os("SCRUN_BENCH_KEEP").is_none_or(|v| v != "1") {
        let _ = std::fs::remove_file(&big);
    }
}
