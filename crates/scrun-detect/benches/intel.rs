//! Compiled intel index: compile, open and lookup times, and the index size.
//!
//! `cargo bench -p scrun-detect --bench intel` runs 1M hashes; `SCRUN_BENCH_10M=1` adds 10M
//! (650 MB of generated feed text in a temporary directory).

use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use scrun_detect::feeds::{FeedFormat, FeedSpec, Intel};
use scrun_detect::index::{CompiledIndex, SharedIndex, compile};
use scrun_detect::testdata::SplitMix;

const SAMPLES: usize = 65_536;

struct Data {
    _dir: tempfile::TempDir,
    specs: Vec<FeedSpec>,
    index: PathBuf,
    hits: Vec<[u8; 32]>,
    misses: Vec<[u8; 32]>,
}

/// `n` hashes: a sha256 list (every 8th line labelled) and a MalwareBazaar CSV of n/100 rows.
fn generate(n: usize) -> Data {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SplitMix(n as u64);
    let stride = (n / SAMPLES).max(1);
    let mut hits = Vec::with_capacity(SAMPLES);
    let csv_rows = n / 100;
    let list = dir.path().join("list.txt");
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&list).unwrap());
    for i in 0..n - csv_rows {
        let h = rng.hash();
        if i % stride == 0 && hits.len() < SAMPLES {
            hits.push(h);
        }
        if i % 8 == 0 {
            writeln!(w, "{} family-{}", hex::encode(h), i % 97).unwrap();
        } else {
            writeln!(w, "{}", hex::encode(h)).unwrap();
        }
    }
    w.flush().unwrap();
    let csv = dir.path().join("mb.csv");
    let mut w = BufWriter::new(std::fs::File::create(&csv).unwrap());
    for i in 0..csv_rows {
        writeln!(
            w,
            "\"2024-01-01 00:00:00\", \"{}\", \"900150983cd24fb0d6963f7d28e17f72\", \"a9993e364706816aba3e25717850c26c9cd0d89d\", \"abuse_ch\", \"x.elf\", \"elf\", \"application/x-executable\", \"sig-{}\", \"n/a\", \"n/a\", \"n/a\", \"n/a\", \"n/a\"",
            hex::encode(rng.hash()),
            i % 300
        )
        .unwrap();
    }
    w.flush().unwrap();
    let misses = (0..SAMPLES).map(|_| rng.hash()).collect();
    let specs = vec![
        FeedSpec::new(&list),
        FeedSpec {
            name: Some("malwarebazaar".into()),
            format: FeedFormat::MalwarebazaarCsv,
            ..FeedSpec::new(&csv)
        },
    ];
    let index = dir.path().join("intel.idx");
    Data {
        _dir: dir,
        specs,
        index,
        hits,
        misses,
    }
}

fn report(label: &str, data: &Data) {
    let bytes: u64 = data
        .specs
        .iter()
        .map(|s| std::fs::metadata(&s.path).unwrap().len())
        .sum();
    let t = Instant::now();
    let stats = compile(&data.specs, &data.index, None).unwrap();
    let compile_s = t.elapsed().as_secs_f64();
    let idx = CompiledIndex::open(&data.index).unwrap();
    let t = Instant::now();
    idx.verify().unwrap();
    let verify_s = t.elapsed().as_secs_f64();
    // Peak RSS of this process so far: the largest compile dominates it.
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    println!(
        "intel {label}: {} hashes from {:.1} MB of feeds; one compile {compile_s:.2} s; index {} bytes = {:.2} bytes/hash (prefix 2^{}); verify {verify_s:.3} s; {hwm}",
        stats.hashes,
        bytes as f64 / 1e6,
        stats.file_bytes,
        stats.bytes_per_hash(),
        stats.prefix_bits
    );
}

fn bench_size(c: &mut Criterion, label: &str, n: usize) {
    let data = generate(n);
    report(label, &data);

    let mut g = c.benchmark_group(format!("intel-{label}"));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(if n > 2_000_000 { 60 } else { 15 }));
    g.bench_function("compile", |b| {
        b.iter(|| compile(black_box(&data.specs), &data.index, None).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group(format!("intel-{label}"));
    g.bench_function("open", |b| {
        b.iter_batched(
            || (),
            |()| CompiledIndex::open(black_box(&data.index)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let idx = CompiledIndex::open(&data.index).unwrap();
    assert!(data.hits.iter().all(|h| idx.find(h).is_some()));
    assert!(data.misses.iter().all(|h| idx.find(h).is_none()));
    let mut i = 0usize;
    g.bench_function("find-hit", |b| {
        b.iter(|| {
            i = (i + 1) % data.hits.len();
            idx.find(black_box(&data.hits[i]))
        })
    });
    g.bench_function("find-miss", |b| {
        b.iter(|| {
            i = (i + 1) % data.hits.len();
            idx.find(black_box(&data.misses[i]))
        })
    });
    g.bench_function("lookup-hit", |b| {
        b.iter(|| {
            i = (i + 1) % data.hits.len();
            idx.lookup(black_box(&data.hits[i]))
        })
    });
    let shared = SharedIndex::open(&data.index).unwrap();
    g.bench_function("shared-lookup-hit", |b| {
        b.iter(|| {
            i = (i + 1) % data.hits.len();
            shared.lookup(black_box(&data.hits[i]))
        })
    });
    g.bench_function("shared-lookup-miss", |b| {
        b.iter(|| {
            i = (i + 1) % data.hits.len();
            shared.lookup(black_box(&data.misses[i]))
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_size(c, "1M", 1_000_000);
    if std::env::var_os("SCRUN_BENCH_10M").is_some_and(|v| v == "1") {
        bench_size(c, "10M", 10_000_000);
    }
}

criterion_group!(intel, benches);
criterion_main!(intel);
