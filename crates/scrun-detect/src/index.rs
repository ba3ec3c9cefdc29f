//! Compiled threat-feed index: every feed parsed once into one sorted, checksummed file that
//! each supervisor maps read-only (one shared page-cache copy, nothing parsed per process).
//!
//! File layout (little-endian; every section starts on a 64-byte boundary):
//!
//! | offset | content |
//! |---|---|
//! | 0 | header, [`HEADER_LEN`] bytes: magic `SCRUNIDX`, format version, counts, section offsets, file length, SHA-256 of the body, SHA-256 of the header's first 128 bytes |
//! | `feeds_off` | per feed: `u64` number of hashes it won |
//! | `prefix_off` | `2^prefix_bits + 1` `u32`: index of the first hash whose top `prefix_bits` bits are >= the bucket |
//! | `hashes_off` | the sorted, distinct 32-byte digests |
//! | `entries_off` | per digest, 6 bytes: feed index `u16`, label index `u32` (`u32::MAX`: no label) |
//! | `strings_off` | `feeds + labels + 1` `u32` offsets, then the UTF-8 bytes of feed names, then labels |
//!
//! The body is everything after the header. `open` checks the header checksum, the sizes and the
//! file length (a truncated or foreign file is refused); [`CompiledIndex::verify`] hashes the body
//! and checks every invariant. Lookups never trust the body: a corrupt body gives wrong answers,
//! never a panic or an out-of-bounds read.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use memmap2::{Mmap, MmapOptions};
use sha2::{Digest as _, Sha256};

use crate::feeds::{FeedError, FeedRow, FeedSpec, Intel, IntelMatch, parse_feed, parse_sha256};

/// The first 8 bytes of every index file.
pub const MAGIC: &[u8; 8] = b"SCRUNIDX";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the header; the body starts here.
pub const HEADER_LEN: usize = 256;

const ENTRY_LEN: usize = 6;
const NO_LABEL: u32 = u32::MAX;
const ALIGN: u64 = 64;
/// Bytes of the header covered by the header checksum stored right after them.
const HEADER_SUMMED: usize = 128;
const MAX_PREFIX_BITS: u32 = 24;
const PROGRESS_EVERY: u64 = 1_000_000;

/// Errors from compiling, opening or querying an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A feed could not be read or has a malformed line (the error names file and line).
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The input does not fit the format.
    #[error(
        "cannot compile intel index {path}: {what}; split the feeds into fewer or smaller ones"
    )]
    TooLarge {
        /// The index being written.
        path: PathBuf,
        /// What overflowed.
        what: String,
    },
    /// Writing the index failed (nothing replaced the previous index).
    #[error(
        "cannot write intel index {path}: {cause}; check that the directory exists, is writable and has space"
    )]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The IO error.
        cause: io::Error,
    },
    /// The index could not be opened or mapped.
    #[error("cannot open intel index {path}: {cause}; create it with `scrun intel compile`")]
    Open {
        /// The index file.
        path: PathBuf,
        /// The IO error.
        cause: io::Error,
    },
    /// The file is not a valid index (truncated, corrupt, or not an index at all).
    #[error("intel index {path} is corrupt: {reason}; recompile it with `scrun intel compile`")]
    Corrupt {
        /// The index file.
        path: PathBuf,
        /// What check failed.
        reason: String,
    },
    /// The file was written by an incompatible scrun.
    #[error(
        "intel index {path} has format version {found}, this scrun reads version {expected}; recompile it with this scrun's `scrun intel compile`"
    )]
    Version {
        /// The index file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this code reads.
        expected: u32,
    },
    /// A lookup argument is not a digest.
    #[error("{input:?} is not a SHA-256 hex digest; pass 64 hex digits")]
    BadDigest {
        /// The argument.
        input: String,
    },
    /// Writing the command's output failed.
    #[error("cannot write intel command output: {0}")]
    Output(io::Error),
}

/// One feed of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStats {
    /// The feed's name.
    pub name: String,
    /// Distinct hashes this feed provides (duplicates go to the first feed listing them).
    pub hashes: u64,
}

/// What `compile` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// Lines read, up to each feed's last entry (comments and blank lines included).
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Entries read, duplicates included.
    pub rows: u64,
    /// Entries dropped because an earlier entry has the same hash.
    pub duplicates: u64,
}

/// Counts and sizes of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexStats {
    /// The file's format version.
    pub format_version: u32,
    /// Distinct hashes.
    pub hashes: u64,
    /// Distinct labels.
    pub labels: u64,
    /// The feeds, in priority order.
    pub feeds: Vec<FeedStats>,
    /// Size of the index file.
    pub file_bytes: u64,
    /// Bits of the prefix table (`2^bits` buckets).
    pub prefix_bits: u32,
    /// SHA-256 of the body, as recorded in the header.
    pub body_sha256: [u8; 32],
    /// What was read; set by [`compile`] only.
    pub source: Option<SourceStats>,
}

impl IndexStats {
    /// File bytes per hash (0 for an empty index).
    pub fn bytes_per_hash(&self) -> f64 {
        if self.hashes == 0 {
            0.0
        } else {
            self.file_bytes as f64 / self.hashes as f64
        }
    }
}

#[derive(Clone, Copy)]
struct Record {
    hash: [u8; 32],
    label: u32,
    feed: u16,
}

/// Parsed, bounds-checked header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    hashes: u64,
    feeds: u32,
    labels: u32,
    prefix_bits: u32,
    feeds_off: u64,
    prefix_off: u64,
    hashes_off: u64,
    entries_off: u64,
    strings_off: u64,
    strings_len: u64,
    file_len: u64,
}

fn align_up(x: u64) -> u64 {
    x.div_ceil(ALIGN) * ALIGN
}

fn prefix_bits_for(hashes: u64) -> u32 {
    // About 4-8 hashes per bucket: the binary search stays within a few cache lines.
    let bits = 64 - (hashes / 8).leading_zeros();
    bits.clamp(8, MAX_PREFIX_BITS)
}

impl Layout {
    fn new(hashes: u64, feeds: u32, labels: u32, strings_len: u64) -> Layout {
        let prefix_bits = prefix_bits_for(hashes);
        let feeds_off = HEADER_LEN as u64;
        let prefix_off = align_up(feeds_off + u64::from(feeds) * 8);
        let hashes_off = align_up(prefix_off + Self::prefix_len_for(prefix_bits));
        let entries_off = align_up(hashes_off + hashes * 32);
        let strings_off = align_up(entries_off + hashes * ENTRY_LEN as u64);
        Layout {
            hashes,
            feeds,
            labels,
            prefix_bits,
            feeds_off,
            prefix_off,
            hashes_off,
            entries_off,
            strings_off,
            strings_len,
            // Saturating: `decode` feeds untrusted counts through here.
            file_len: strings_off.saturating_add(strings_len),
        }
    }

    fn prefix_len_for(bits: u32) -> u64 {
        ((1u64 << bits) + 1) * 4
    }

    fn strings(&self) -> u64 {
        u64::from(self.feeds) + u64::from(self.labels)
    }

    /// The header bytes, without the two checksums.
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.hashes.to_le_bytes());
        h[24..28].copy_from_slice(&self.feeds.to_le_bytes());
        h[28..32].copy_from_slice(&self.labels.to_le_bytes());
        h[32..36].copy_from_slice(&self.prefix_bits.to_le_bytes());
        let words = [
            self.feeds_off,
            self.prefix_off,
            self.hashes_off,
            self.entries_off,
            self.strings_off,
            self.strings_len,
            self.file_len,
        ];
        for (i, w) in words.iter().enumerate() {
            h[40 + i * 8..48 + i * 8].copy_from_slice(&w.to_le_bytes());
        }
        h
    }

    /// Parses and checks a header against the file length.
    fn decode(h: &[u8], actual_len: u64) -> Result<Layout, String> {
        let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[o..o + 8]);
            u64::from_le_bytes(b)
        };
        if u32_at(12) as usize != HEADER_LEN {
            return Err(format!(
                "header length {} (expected {HEADER_LEN})",
                u32_at(12)
            ));
        }
        let l = Layout {
            hashes: u64_at(16),
            feeds: u32_at(24),
            labels: u32_at(28),
            prefix_bits: u32_at(32),
            feeds_off: u64_at(40),
            prefix_off: u64_at(48),
            hashes_off: u64_at(56),
            entries_off: u64_at(64),
            strings_off: u64_at(72),
            strings_len: u64_at(80),
            file_len: u64_at(88),
        };
        if l.file_len != actual_len {
            return Err(format!(
                "file is {actual_len} bytes, the header says {} (truncated or appended to)",
                l.file_len
            ));
        }
        if l.hashes > u64::from(u32::MAX) || l.feeds > u32::from(u16::MAX) + 1 {
            return Err("counts out of range".into());
        }
        if !(1..=MAX_PREFIX_BITS).contains(&l.prefix_bits) {
            return Err(format!("prefix bits {} out of range", l.prefix_bits));
        }
        // The offsets must be exactly those `new` computes for these counts.
        let expect = Layout::new(l.hashes, l.feeds, l.labels, l.strings_len);
        if expect.prefix_bits != l.prefix_bits || expect != l {
            return Err("section offsets do not match the counts".into());
        }
        if l.strings_len < (l.strings() + 1) * 4 {
            return Err("string table shorter than its offset array".into());
        }
        Ok(l)
    }
}

/// Writes to a file, hashing everything after the header.
struct BodyWriter {
    file: File,
    path: PathBuf,
    sha: Sha256,
    buf: Vec<u8>,
    pos: u64,
}

impl BodyWriter {
    fn put(&mut self, bytes: &[u8]) -> Result<(), IndexError> {
        self.buf.extend_from_slice(bytes);
        self.pos += bytes.len() as u64;
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(())
    }

    fn pad_to(&mut self, off: u64) -> Result<(), IndexError> {
        let zeros = [0u8; ALIGN as usize];
        while self.pos < off {
            let n = (off - self.pos).min(ALIGN) as usize;
            self.put(&zeros[..n])?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IndexError> {
        self.sha.update(&self.buf);
        self.file
            .write_all(&self.buf)
            .map_err(|source| IndexError::Write {
                path: self.path.clone(),
                cause: source,
            })?;
        self.buf.clear();
        Ok(())
    }
}

/// Parses every feed (first feed wins on duplicates, as [`crate::FeedSet`] does) and writes
/// one index file to `out`, atomically: a temporary file next to it, fsync, rename, fsync of the
/// directory. An existing index is replaced, never written into, so processes that have it
/// mapped keep a consistent view. `progress(lines, bytes)` is called every million lines.
pub fn compile(
    specs: &[FeedSpec],
    out: &Path,
    progress: Option<&dyn Fn(u64, u64)>,
) -> Result<IndexStats, IndexError> {
    let too_large = |what: String| IndexError::TooLarge {
        path: out.to_path_buf(),
        what,
    };
    if specs.len() > usize::from(u16::MAX) + 1 {
        return Err(too_large(format!("{} feeds (at most 65536)", specs.len())));
    }
    let mut records: Vec<Record> = Vec::new();
    let mut label_ids: HashMap<String, u32> = HashMap::new();
    let mut labels: Vec<String> = Vec::new();
    let (mut lines, mut bytes, mut next_report) = (0u64, 0u64, PROGRESS_EVERY);
    for (feed, spec) in specs.iter().enumerate() {
        let feed = feed as u16;
        if let Ok(meta) = std::fs::metadata(&spec.path) {
            records.reserve((meta.len() / 66) as usize);
        }
        let (mut feed_lines, mut feed_bytes) = (0u64, 0u64);
        let mut overflow = false;
        parse_feed(spec, &mut |row: FeedRow<'_>| {
            feed_lines = row.line;
            feed_bytes = row.offset;
            let label = match row.label {
                None => NO_LABEL,
                Some(l) => match label_ids.get(l) {
                    Some(&id) => id,
                    None => {
                        let id = labels.len() as u32;
                        if id == NO_LABEL {
                            overflow = true;
                            return;
                        }
                        labels.push(l.to_owned());
                        label_ids.insert(l.to_owned(), id);
                        id
                    }
                },
            };
            records.push(Record {
                hash: row.sha256,
                label,
                feed,
            });
            if lines + feed_lines >= next_report {
                if let Some(p) = progress {
                    p(lines + feed_lines, bytes + feed_bytes);
                }
                next_report += PROGRESS_EVERY;
            }
        })?;
        if overflow {
            return Err(too_large("more than 2^32-1 distinct labels".into()));
        }
        lines += feed_lines;
        bytes += std::fs::metadata(&spec.path)
            .map(|m| m.len())
            .unwrap_or(feed_bytes);
    }
    drop(label_ids);
    let rows = records.len() as u64;
    // Stable: among equal hashes the first feed (and, within a feed, the first line) comes first.
    records.sort_by_key(|r| r.hash);
    records.dedup_by(|later, earlier| later.hash == earlier.hash);
    records.shrink_to_fit();
    let hashes = records.len() as u64;
    if hashes > u64::from(u32::MAX) {
        return Err(too_large(format!(
            "{hashes} distinct hashes (at most 2^32-1)"
        )));
    }

    let names: Vec<String> = specs.iter().map(FeedSpec::feed_name).collect();
    let mut string_offsets: Vec<u32> = Vec::with_capacity(names.len() + labels.len() + 1);
    let mut string_bytes: u64 = 0;
    for s in names.iter().chain(labels.iter()) {
        string_offsets.push(
            u32::try_from(string_bytes)
                .map_err(|_| too_large("feed names and labels exceed 4 GiB".into()))?,
        );
        string_bytes += s.len() as u64;
    }
    string_offsets.push(
        u32::try_from(string_bytes)
            .map_err(|_| too_large("feed names and labels exceed 4 GiB".into()))?,
    );
    let strings_len = string_offsets.len() as u64 * 4 + string_bytes;
    let layout = Layout::new(hashes, names.len() as u32, labels.len() as u32, strings_len);

    let mut feed_counts = vec![0u64; names.len()];
    let buckets = 1usize << layout.prefix_bits;
    let mut prefix = vec![0u32; buckets + 1];
    for r in &records {
        feed_counts[usize::from(r.feed)] += 1;
        prefix[bucket_of(&r.hash, layout.prefix_bits) + 1] += 1;
    }
    for i in 1..prefix.len() {
        prefix[i] += prefix[i - 1];
    }

    let tmp = tmp_path(out);
    let result = write_index(&tmp, &layout, |w| {
        w.pad_to(layout.feeds_off)?;
        for c in &feed_counts {
            w.put(&c.to_le_bytes())?;
        }
        w.pad_to(layout.prefix_off)?;
        for p in &prefix {
            w.put(&p.to_le_bytes())?;
        }
        w.pad_to(layout.hashes_off)?;
        for r in &records {
            w.put(&r.hash)?;
        }
        w.pad_to(layout.entries_off)?;
        for r in &records {
            w.put(&r.feed.to_le_bytes())?;
            w.put(&r.label.to_le_bytes())?;
        }
        w.pad_to(layout.strings_off)?;
        for o in &string_offsets {
            w.put(&o.to_le_bytes())?;
        }
        for s in names.iter().chain(labels.iter()) {
            w.put(s.as_bytes())?;
        }
        Ok(())
    })
    .and_then(|sum| {
        std::fs::rename(&tmp, out).map_err(|source| IndexError::Write {
            path: out.to_path_buf(),
            cause: source,
        })?;
        sync_parent(out)?;
        Ok(sum)
    });
    let body_sha256 = match result {
        Ok(sum) => sum,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    Ok(IndexStats {
        format_version: FORMAT_VERSION,
        hashes,
        labels: labels.len() as u64,
        feeds: names
            .into_iter()
            .zip(feed_counts)
            .map(|(name, hashes)| FeedStats { name, hashes })
            .collect(),
        file_bytes: layout.file_len,
        prefix_bits: layout.prefix_bits,
        body_sha256,
        source: Some(SourceStats {
            lines,
            bytes,
            rows,
            duplicates: rows - hashes,
        }),
    })
}

/// `<out>.<pid>.tmp`: unique per compiling process, so two compiles never write one file.
fn tmp_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    PathBuf::from(name)
}

fn write_index(
    tmp: &Path,
    layout: &Layout,
    body: impl FnOnce(&mut BodyWriter) -> Result<(), IndexError>,
) -> Result<[u8; 32], IndexError> {
    let werr = |source| IndexError::Write {
        path: tmp.to_path_buf(),
        cause: source,
    };
    // A stale temporary of a crashed compile with our pid: nobody maps temporaries.
    let _ = std::fs::remove_file(tmp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(tmp)
        .map_err(werr)?;
    let mut w = BodyWriter {
        file,
        path: tmp.to_path_buf(),
        sha: Sha256::new(),
        buf: Vec::with_capacity(1 << 20),
        pos: HEADER_LEN as u64,
    };
    w.file.write_all(&[0u8; HEADER_LEN]).map_err(werr)?;
    body(&mut w)?;
    w.flush()?;
    if w.pos != layout.file_len {
        return Err(werr(io::Error::other(format!(
            "wrote {} bytes, the layout says {}",
            w.pos, layout.file_len
        ))));
    }
    let body_sha: [u8; 32] = w.sha.finalize().into();
    let mut header = layout.encode();
    header[96..128].copy_from_slice(&body_sha);
    let header_sum: [u8; 32] = Sha256::digest(&header[..HEADER_SUMMED]).into();
    header[HEADER_SUMMED..HEADER_SUMMED + 32].copy_from_slice(&header_sum);
    let mut file = w.file;
    file.seek(SeekFrom::Start(0)).map_err(werr)?;
    file.write_all(&header).map_err(werr)?;
    file.sync_all().map_err(werr)?;
    Ok(body_sha)
}

fn sync_parent(out: &Path) -> Result<(), IndexError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|source| IndexError::Write {
            path: parent.to_path_buf(),
            cause: source,
        })
}

fn bucket_of(hash: &[u8; 32], bits: u32) -> usize {
    (u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) >> (32 - bits)) as usize
}

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map_readonly(file: &File) -> io::Result<Mmap> {
    // SAFETY: memmap2 requires that the mapped file is not modified or truncated while mapped.
    // The file was opened read-only and is mapped MAP_PRIVATE + PROT_READ, so this process never
    // writes it. Index files are only ever replaced by `compile`, which writes a new temporary
    // file and renames it over the old path; the old inode (and our mapping) stays intact. No
    // code in scrun opens an index for writing. Someone truncating the file in place (e.g.
    // `cp new.idx index`) would make a later access SIGBUS; the README says to install indexes
    // with `scrun intel compile` or `mv` only.
    unsafe { MmapOptions::new().map_copy_read_only(file) }
}

/// Identity of the file an index was opened from, to notice a rename over its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileId {
    fn of(m: &std::fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

/// An opened, mapped index. Cheap to open (no parsing), safe to share between threads.
#[derive(Debug)]
pub struct CompiledIndex {
    map: Mmap,
    path: PathBuf,
    layout: Layout,
    id: FileId,
}

/// The raw match of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Position of the hash in the sorted array.
    pub position: u64,
    /// Index of the feed (priority order).
    pub feed: u16,
    /// Index of the label, if the entry has one.
    pub label: Option<u32>,
}

impl CompiledIndex {
    /// Opens and maps `path`, checking the header checksum, the format version, the sizes and
    /// the file length. The body is not hashed (see [`CompiledIndex::verify`]).
    pub fn open(path: &Path) -> Result<CompiledIndex, IndexError> {
        let open_err = |source| IndexError::Open {
            path: path.to_path_buf(),
            cause: source,
        };
        let corrupt = |reason: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        if !meta.is_file() {
            return Err(corrupt("not a regular file".into()));
        }
        if meta.len() < HEADER_LEN as u64 {
            return Err(corrupt(format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte header (truncated)",
                meta.len()
            )));
        }
        let map = map_readonly(&file).map_err(open_err)?;
        let h = &map[..HEADER_LEN];
        if &h[..8] != MAGIC {
            return Err(corrupt("no SCRUNIDX magic: not a scrun intel index".into()));
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != FORMAT_VERSION {
            return Err(IndexError::Version {
                path: path.to_path_buf(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        let sum: [u8; 32] = Sha256::digest(&h[..HEADER_SUMMED]).into();
        if sum[..] != h[HEADER_SUMMED..HEADER_SUMMED + 32] {
            return Err(corrupt("header checksum mismatch".into()));
        }
        let layout = Layout::decode(h, map.len() as u64).map_err(corrupt)?;
        let idx = CompiledIndex {
            map,
            path: path.to_path_buf(),
            layout,
            id: FileId::of(&meta),
        };
        let last = idx.prefix(1usize << layout.prefix_bits);
        if idx.prefix(0) != Some(0) || last != Some(layout.hashes as u32) {
            return Err(corrupt("prefix table does not span the hashes".into()));
        }
        Ok(idx)
    }

    /// The file this index was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Distinct hashes.
    pub fn len(&self) -> u64 {
        self.layout.hashes
    }

    /// True when the index holds no hash.
    pub fn is_empty(&self) -> bool {
        self.layout.hashes == 0
    }

    fn u32_at(&self, off: u64) -> Option<u32> {
        let o = usize::try_from(off).ok()?;
        let b = self.map.get(o..o.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn prefix(&self, bucket: usize) -> Option<u32> {
        self.u32_at(self.layout.prefix_off + bucket as u64 * 4)
    }

    fn hash_at(&self, i: u64) -> Option<&[u8]> {
        let o = usize::try_from(self.layout.hashes_off + i * 32).ok()?;
        self.map.get(o..o + 32)
    }

    fn string(&self, i: u64) -> Option<Cow<'_, str>> {
        let l = &self.layout;
        if i >= l.strings() {
            return None;
        }
        let start = self.u32_at(l.strings_off + i * 4)?;
        let end = self.u32_at(l.strings_off + (i + 1) * 4)?;
        let base = l.strings_off + (l.strings() + 1) * 4;
        let s = usize::try_from(base + u64::from(start)).ok()?;
        let e = usize::try_from(base + u64::from(end)).ok()?;
        let bytes = self.map.get(s..e)?;
        Some(String::from_utf8_lossy(bytes))
    }

    /// The name of feed `i`.
    pub fn feed_name(&self, i: u16) -> Option<Cow<'_, str>> {
        (u32::from(i) < self.layout.feeds)
            .then(|| self.string(u64::from(i)))
            .flatten()
    }

    /// Label `i`.
    pub fn label(&self, i: u32) -> Option<Cow<'_, str>> {
        (i < self.layout.labels)
            .then(|| self.string(u64::from(self.layout.feeds) + u64::from(i)))
            .flatten()
    }

    /// Finds `sha256`: a prefix-table bucket, then a binary search inside it.
    pub fn find(&self, sha256: &[u8; 32]) -> Option<Hit> {
        let l = &self.layout;
        let b = bucket_of(sha256, l.prefix_bits);
        let mut lo = u64::from(self.prefix(b)?);
        let mut hi = u64::from(self.prefix(b + 1)?).min(l.hashes);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.hash_at(mid)?.cmp(&sha256[..]) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let o = usize::try_from(l.entries_off + mid * ENTRY_LEN as u64).ok()?;
                    let e = self.map.get(o..o + ENTRY_LEN)?;
                    let label = u32::from_le_bytes([e[2], e[3], e[4], e[5]]);
                    return Some(Hit {
                        position: mid,
                        feed: u16::from_le_bytes([e[0], e[1]]),
                        label: (label != NO_LABEL).then_some(label),
                    });
                }
            }
        }
        None
    }

    /// Counts, feeds and sizes, from the header and the small tables (no body scan).
    pub fn stats(&self) -> IndexStats {
        let l = &self.layout;
        let mut body_sha256 = [0u8; 32];
        body_sha256.copy_from_slice(&self.map[96..128]);
        let feeds = (0..l.feeds)
            .map(|i| {
                let o = usize::try_from(l.feeds_off + u64::from(i) * 8).unwrap_or(usize::MAX);
                let hashes = self
                    .map
                    .get(o..o.saturating_add(8))
                    .map(|b| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(b);
                        u64::from_le_bytes(a)
                    })
                    .unwrap_or(0);
                FeedStats {
                    name: self
                        .feed_name(i as u16)
                        .map(Cow::into_owned)
                        .unwrap_or_default(),
                    hashes,
                }
            })
            .collect();
        IndexStats {
            format_version: FORMAT_VERSION,
            hashes: l.hashes,
            labels: u64::from(l.labels),
            feeds,
            file_bytes: l.file_len,
            prefix_bits: l.prefix_bits,
            body_sha256,
            source: None,
        }
    }

    /// Full check: the body's SHA-256, hashes sorted and distinct, the prefix table, entries
    /// in range, feed counts, string table offsets and UTF-8. Reads the whole file.
    pub fn verify(&self) -> Result<(), IndexError> {
        let corrupt = |reason: String| IndexError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let l = &self.layout;
        let sum: [u8; 32] = Sha256::digest(&self.map[HEADER_LEN..]).into();
        if sum[..] != self.map[96..128] {
            return Err(corrupt("body checksum mismatch".into()));
        }
        let stats = self.stats();
        let mut counts = vec![0u64; l.feeds as usize];
        let mut prev: Option<&[u8]> = None;
        let mut bucket = 0usize;
        for i in 0..l.hashes {
            let h = self
                .hash_at(i)
                .ok_or_else(|| corrupt("hash array out of bounds".into()))?;
            if prev.is_some_and(|p| p >= h) {
                return Err(corrupt(format!("hash {i} is not above its predecessor")));
            }
            prev = Some(h);
            let mut a = [0u8; 32];
            a.copy_from_slice(h);
            let b = bucket_of(&a, l.prefix_bits);
            while bucket <= b {
                if self.prefix(bucket) != Some(i as u32) {
                    return Err(corrupt(format!("prefix table wrong at bucket {bucket}")));
                }
                bucket += 1;
            }
            let hit = self
                .find(&a)
                .ok_or_else(|| corrupt(format!("hash {i} not found by lookup")))?;
            if usize::from(hit.feed) >= counts.len() {
                return Err(corrupt(format!("entry {i} names feed {}", hit.feed)));
            }
            counts[usize::from(hit.feed)] += 1;
            if hit.label.is_some_and(|x| x >= l.labels) {
                return Err(corrupt(format!("entry {i} names a missing label")));
            }
        }
        while bucket <= 1usize << l.prefix_bits {
            if self.prefix(bucket) != Some(l.hashes as u32) {
                return Err(corrupt(format!("prefix table wrong at bucket {bucket}")));
            }
            bucket += 1;
        }
        if stats
            .feeds
            .iter()
            .map(|f| f.hashes)
            .ne(counts.iter().copied())
        {
            return Err(corrupt("per-feed counts do not match the entries".into()));
        }
        let base = l.strings_off + (l.strings() + 1) * 4;
        let mut last = 0u32;
        for i in 0..=l.strings() {
            let o = self
                .u32_at(l.strings_off + i * 4)
                .ok_or_else(|| corrupt("string offsets out of bounds".into()))?;
            if o < last || base + u64::from(o) > l.file_len {
                return Err(corrupt(format!("string offset {i} out of order or range")));
            }
            if i > 0 {
                let (s, e) = (
                    (base + u64::from(last)) as usize,
                    (base + u64::from(o)) as usize,
                );
                if std::str::from_utf8(&self.map[s..e]).is_err() {
                    return Err(corrupt(format!("string {} is not UTF-8", i - 1)));
                }
            }
            last = o;
        }
        if base + u64::from(last) != l.file_len {
            return Err(corrupt("string table does not end the file".into()));
        }
        Ok(())
    }

    fn to_match(&self, hit: Hit) -> IntelMatch {
        IntelMatch {
            feed: self
                .feed_name(hit.feed)
                .map(Cow::into_owned)
                .unwrap_or_else(|| format!("feed-{}", hit.feed)),
            label: hit.label.and_then(|i| self.label(i)).map(Cow::into_owned),
        }
    }
}

impl Intel for CompiledIndex {
    fn lookup(&self, sha256: &[u8; 32]) -> Option<IntelMatch> {
        self.find(sha256).map(|hit| self.to_match(hit))
    }
}

/// An index that follows its path: at most once per interval (1 s by default), a lookup
/// stats the path and, when (dev, ino, mtime) changed (a new index was renamed over it),
/// opens the new file. Lookups in flight keep the old mapping until they finish. If the new
/// file cannot be opened, the old index stays in use and a warning is logged.
#[derive(Debug)]
pub struct SharedIndex {
    path: PathBuf,
    current: RwLock<Arc<CompiledIndex>>,
    interval: Duration,
    epoch: Instant,
    next_check_ns: AtomicU64,
    /// Bumped on every reload (see [`Intel::generation`]).
    generation: AtomicU64,
}

impl SharedIndex {
    /// Opens `path`, re-checking it at most once per second.
    pub fn open(path: &Path) -> Result<SharedIndex, IndexError> {
        SharedIndex::with_interval(path, Duration::from_secs(1))
    }

    /// Opens `path`, re-checking it at most once per `interval` (zero: on every lookup).
    pub fn with_interval(path: &Path, interval: Duration) -> Result<SharedIndex, IndexError> {
        let idx = CompiledIndex::open(path)?;
        let epoch = Instant::now();
        Ok(SharedIndex {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(idx)),
            interval,
            epoch,
            next_check_ns: AtomicU64::new(interval.as_nanos() as u64),
            generation: AtomicU64::new(0),
        })
    }

    /// The index in use now.
    pub fn current(&self) -> Arc<CompiledIndex> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks the path now; reopens it if another file was put there. Returns true when the
    /// index was replaced.
    pub fn refresh(&self) -> Result<bool, IndexError> {
        let meta = std::fs::metadata(&self.path).map_err(|source| IndexError::Open {
            path: self.path.clone(),
            cause: source,
        })?;
        if FileId::of(&meta) == self.current().id {
            return Ok(false);
        }
        let new = Arc::new(CompiledIndex::open(&self.path)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = new;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(true)
    }

    fn maybe_refresh(&self) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let next = self.next_check_ns.load(Ordering::Relaxed);
        if now < next {
            return;
        }
        let after = now.saturating_add(self.interval.as_nanos() as u64);
        // One thread per interval does the check.
        if self
            .next_check_ns
            .compare_exchange(next, after, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        match self.refresh() {
            Ok(true) => tracing::info!(path = %self.path.display(), "intel index reloaded"),
            Ok(false) => {}
            // At most once per interval: the check itself is rate-limited.
            Err(e) => tracing::warn!(error = %e, "intel index not reloaded, keeping the old one"),
        }
    }
}

impl Intel for SharedIndex {
    fn lookup(&self, sha256: &[u8; 32]) -> Option<IntelMatch> {
        self.maybe_refresh();
        self.current().lookup(sha256)
    }

    fn generation(&self) -> u64 {
        self.maybe_refresh();
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// `scrun intel` subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntelCommand {
    /// Compile feeds into an index file.
    Compile {
        /// The feeds, in priority order.
        feeds: Vec<FeedSpec>,
        /// The index to write (replaced atomically).
        out: PathBuf,
    },
    /// Print an index's counts and verify its checksum.
    Stat {
        /// The index file.
        index: PathBuf,
    },
    /// Look one SHA-256 up.
    Lookup {
        /// The index file.
        index: PathBuf,
        /// 64 hex digits.
        sha256: String,
    },
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Runs one `scrun intel` subcommand, writing human output to `out` (compile progress goes to
/// stderr). Returns `Ok(false)` only for a lookup that found nothing (exit status 1), `Ok(true)`
/// otherwise; errors (exit status 2 or more) include a corrupt index in `stat`.
pub fn run_intel_command(cmd: IntelCommand, out: &mut impl Write) -> Result<bool, IndexError> {
    let w = |r: io::Result<()>| r.map_err(IndexError::Output);
    match cmd {
        IntelCommand::Compile { feeds, out: path } => {
            let start = Instant::now();
            let progress = |lines: u64, bytes: u64| {
                eprintln!("intel compile: {lines} lines, {} read", mb(bytes));
            };
            let s = compile(&feeds, &path, Some(&progress))?;
            let src = s.source.clone().unwrap_or(SourceStats {
                lines: 0,
                bytes: 0,
                rows: 0,
                duplicates: 0,
            });
            w(writeln!(
                out,
                "compiled {}: {} hashes from {} feed(s), {} labels ({} lines, {} entries, {} duplicates, {} read) in {:.2} s",
                path.display(),
                s.hashes,
                s.feeds.len(),
                s.labels,
                src.lines,
                src.rows,
                src.duplicates,
                mb(src.bytes),
                start.elapsed().as_secs_f64()
            ))?;
            w(writeln!(
                out,
                "index size {} ({:.1} bytes per hash)",
                mb(s.file_bytes),
                s.bytes_per_hash()
            ))?;
            Ok(true)
        }
        IntelCommand::Stat { index } => {
            let idx = CompiledIndex::open(&index)?;
            let s = idx.stats();
            w(writeln!(out, "index: {}", index.display()))?;
            w(writeln!(out, "format version: {}", s.format_version))?;
            w(writeln!(out, "hashes: {}", s.hashes))?;
            w(writeln!(out, "labels: {}", s.labels))?;
            w(writeln!(out, "feeds: {}", s.feeds.len()))?;
            for f in &s.feeds {
                w(writeln!(out, "  {}: {} hashes", f.name, f.hashes))?;
            }
            w(writeln!(
                out,
                "size: {} bytes ({:.1} bytes per hash), prefix table 2^{}",
                s.file_bytes,
                s.bytes_per_hash(),
                s.prefix_bits
            ))?;
            idx.verify()?;
            w(writeln!(
                out,
                "checksum: OK (body sha256 {})",
                hex::encode(s.body_sha256)
            ))?;
            Ok(true)
        }
        IntelCommand::Lookup { index, sha256 } => {
            let digest = parse_sha256(sha256.trim()).ok_or(IndexError::BadDigest {
                input: sha256.clone(),
            })?;
            let idx = CompiledIndex::open(&index)?;
            match idx.lookup(&digest) {
                Some(m) => {
                    match &m.label {
                        Some(l) => w(writeln!(out, "malicious: feed {} label {l}", m.feed))?,
                        None => w(writeln!(out, "malicious: feed {}", m.feed))?,
                    }
                    Ok(true)
                }
                None => {
                    w(writeln!(out, "not found"))?;
                    Ok(false)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::{FeedFormat, FeedSet};
    use crate::testdata::SplitMix;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn csv_line(h: &[u8; 32], signature: &str) -> String {
        format!(
            "\"2024-01-01 00:00:00\", \"{}\", \"900150983cd24fb0d6963f7d28e17f72\", \"a9993e364706816aba3e25717850c26c9cd0d89d\", \"abuse_ch\", \"x, \"\"y\"\".elf\", \"elf\", \"application/x-executable\", \"{signature}\", \"n/a\", \"n/a\", \"n/a\", \"n/a\", \"n/a\"\n",
            hex::encode(h)
        )
    }

    /// Three feeds: a labelled list, a MalwareBazaar CSV overlapping it, a list with a default
    /// label and duplicates inside itself. Returns the specs and every hash listed.
    fn generated_feeds(dir: &Path, n: usize) -> (Vec<FeedSpec>, Vec<[u8; 32]>) {
        let mut rng = SplitMix(42);
        let mut all = Vec::new();
        let mut a = String::from("# feed a\n\n");
        for i in 0..n {
            let h = rng.hash();
            let hex = hex::encode(h);
            match i % 3 {
                0 => a.push_str(&format!("{hex}  family-{}\n", i % 7)),
                1 => a.push_str(&format!("{}\n", hex.to_uppercase())),
                _ => a.push_str(&format!("{hex} *file-{i}.bin\n")),
            }
            all.push(h);
        }
        let mut b = String::from("# \"first_seen_utc\",\"sha256_hash\",...\n");
        for i in 0..n {
            // Every fourth CSV row repeats a hash of feed a: a must win.
            let h = if i % 4 == 0 { all[i] } else { rng.hash() };
            b.push_str(&csv_line(&h, if i % 2 == 0 { "Mirai" } else { "n/a" }));
            all.push(h);
        }
        let mut c = String::new();
        for i in 0..n / 2 {
            let h = rng.hash();
            c.push_str(&format!("{}\n", hex::encode(h)));
            if i % 5 == 0 {
                c.push_str(&format!("{} later-label\n", hex::encode(h)));
            }
            all.push(h);
        }
        let specs = vec![
            FeedSpec::new(write(dir, "a.txt", &a)),
            FeedSpec {
                name: Some("malwarebazaar".into()),
                ..FeedSpec::new(write(dir, "mb.csv", &b))
            },
            FeedSpec {
                label: Some("c-default".into()),
                format: FeedFormat::Sha256List,
                ..FeedSpec::new(write(dir, "c.list", &c))
            },
        ];
        (specs, all)
    }

    #[test]
    fn compiled_index_answers_like_feedset() {
        let d = tempfile::tempdir().unwrap();
        let (specs, all) = generated_feeds(d.path(), 3000);
        let out = d.path().join("intel.idx");
        let stats = compile(&specs, &out, None).unwrap();
        let set = FeedSet::load(&specs).unwrap();
        assert_eq!(stats.hashes, set.len() as u64);
        let src = stats.source.clone().unwrap();
        assert_eq!(src.rows, 3000 + 3000 + 1500 + 300);
        assert_eq!(src.duplicates, 750 + 300);
        assert_eq!(
            stats
                .feeds
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "malwarebazaar", "c"]
        );
        assert_eq!(
            stats.feeds.iter().map(|f| f.hashes).collect::<Vec<_>>(),
            [3000, 2250, 1500]
        );
        let idx = CompiledIndex::open(&out).unwrap();
        let mut st = idx.stats();
        st.source = stats.source.clone();
        assert_eq!(st, stats);
        idx.verify().unwrap();
        let mut misses = SplitMix(7);
        for h in all.iter().copied().chain((0..2000).map(|_| misses.hash())) {
            assert_eq!(idx.lookup(&h), set.lookup(&h), "{}", hex::encode(h));
        }
        // Spot checks of what the differential test covers.
        assert_eq!(
            idx.lookup(&all[0]).unwrap().label.as_deref(),
            Some("family-0")
        );
        assert_eq!(
            idx.lookup(&all[2]).unwrap().label.as_deref(),
            Some("file-2.bin")
        );
        let m = idx.lookup(&all[3001]).unwrap();
        assert_eq!((m.feed.as_str(), m.label), ("malwarebazaar", None));
        let m = idx.lookup(&all[6000]).unwrap();
        assert_eq!(
            (m.feed.as_str(), m.label.as_deref()),
            ("c", Some("c-default"))
        );
        // No temporary left behind.
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn empty_feed_gives_an_empty_valid_index() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "empty.txt", "# nothing\n");
        let out = d.path().join("e.idx");
        let stats = compile(&[FeedSpec::new(p)], &out, None).unwrap();
        assert_eq!(stats.hashes, 0);
        let idx = CompiledIndex::open(&out).unwrap();
        assert!(idx.is_empty());
        assert_eq!(idx.lookup(&[0u8; 32]), None);
        assert_eq!(idx.lookup(&[0xffu8; 32]), None);
        idx.verify().unwrap();
    }

    fn corrupt_reason(path: &Path) -> String {
        match CompiledIndex::open(path) {
            Err(e @ IndexError::Corrupt { .. }) => e.to_string(),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("{} opened", path.display()),
        }
    }

    #[test]
    fn truncated_or_corrupt_index_is_rejected() {
        let d = tempfile::tempdir().unwrap();
        let (specs, all) = generated_feeds(d.path(), 500);
        let out = d.path().join("good.idx");
        compile(&specs, &out, None).unwrap();
        let good = std::fs::read(&out).unwrap();
        let bad = d.path().join("bad.idx");

        std::fs::write(&bad, &good[..good.len() - 1]).unwrap();
        let e = corrupt_reason(&bad);
        assert!(e.contains("truncated") && e.contains("bad.idx"), "{e}");
        assert!(e.contains("scrun intel compile"), "{e}");
        std::fs::write(&bad, &good[..100]).unwrap();
        assert!(corrupt_reason(&bad).contains("shorter than"));
        std::fs::write(&bad, b"").unwrap();
        assert!(corrupt_reason(&bad).contains("truncated"));

        let mut b = good.clone();
        b[20] ^= 1; // the hash count
        std::fs::write(&bad, &b).unwrap();
        assert!(corrupt_reason(&bad).contains("header checksum"));

        let mut b = good.clone();
        b[0] = b'X';
        std::fs::write(&bad, &b).unwrap();
        assert!(corrupt_reason(&bad).contains("magic"));

        let mut b = good.clone();
        b[8] = 9;
        std::fs::write(&bad, &b).unwrap();
        let e = CompiledIndex::open(&bad).unwrap_err();
        assert!(
            matches!(
                e,
                IndexError::Version {
                    found: 9,
                    expected: 1,
                    ..
                }
            ),
            "{e}"
        );

        // A body flip passes the cheap open check and fails verify().
        let mut b = good.clone();
        let mid = b.len() / 2;
        b[mid] ^= 0x40;
        std::fs::write(&bad, &b).unwrap();
        let idx = CompiledIndex::open(&bad).unwrap();
        let e = idx.verify().unwrap_err().to_string();
        assert!(e.contains("body checksum"), "{e}");

        // Garbage under a valid header: refused at open, or answers without panicking.
        let mut rng = SplitMix(3);
        let mut b = good.clone();
        for x in &mut b[HEADER_LEN..] {
            *x = rng.next_u64() as u8;
        }
        std::fs::write(&bad, &b).unwrap();
        if let Ok(idx) = CompiledIndex::open(&bad) {
            for h in &all {
                let _ = idx.lookup(h);
            }
            let _ = idx.stats();
            assert!(idx.verify().is_err());
        }
        // Crafted headers with a valid checksum: absurd sizes are refused, not overflowed.
        let reseal = |b: &mut Vec<u8>| {
            let sum: [u8; 32] = Sha256::digest(&b[..HEADER_SUMMED]).into();
            b[HEADER_SUMMED..HEADER_SUMMED + 32].copy_from_slice(&sum);
        };
        for (off, value) in [(80usize, u64::MAX), (88, u64::MAX), (16, 1 << 40), (56, 0)] {
            let mut b = good.clone();
            b[off..off + 8].copy_from_slice(&value.to_le_bytes());
            reseal(&mut b);
            std::fs::write(&bad, &b).unwrap();
            corrupt_reason(&bad);
        }
        let mut b = good.clone();
        let prefix_off = HEADER_LEN + 64; // 3 feeds: one 64-byte block of counts
        b[prefix_off..prefix_off + 4].copy_from_slice(&7u32.to_le_bytes());
        std::fs::write(&bad, &b).unwrap();
        assert!(corrupt_reason(&bad).contains("prefix table"));
    }

    #[test]
    fn malformed_feed_line_names_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let h = hex::encode([1u8; 32]);
        let good = write(d.path(), "good.txt", &format!("{h}\n"));
        let bad = write(d.path(), "bad.txt", &format!("{h}\n# ok\nnot-a-hash\n"));
        let out = d.path().join("x.idx");
        let e = compile(&[FeedSpec::new(&good), FeedSpec::new(&bad)], &out, None).unwrap_err();
        assert!(
            matches!(&e, IndexError::Feed(FeedError::Malformed { path, line: 3, .. }) if path == &bad),
            "{e}"
        );
        assert!(e.to_string().contains("bad.txt line 3"), "{e}");
        assert!(!out.exists());
        let csv = write(d.path(), "x.csv", "\"a\", \"b\n");
        let e = compile(&[FeedSpec::new(&csv)], &out, None).unwrap_err();
        assert!(e.to_string().contains("x.csv line 1"), "{e}");
        let e = compile(&[FeedSpec::new(d.path().join("nope"))], &out, None).unwrap_err();
        assert!(matches!(e, IndexError::Feed(FeedError::Read { .. })), "{e}");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 3);
    }

    #[test]
    fn shared_index_follows_atomic_rename() {
        let d = tempfile::tempdir().unwrap();
        let h = [0x5au8; 32];
        let v1 = write(d.path(), "v1.txt", &format!("{} old\n", hex::encode(h)));
        let v2 = write(d.path(), "v2.txt", &format!("{} new\n", hex::encode(h)));
        let out = d.path().join("intel.idx");
        compile(&[FeedSpec::new(&v1)], &out, None).unwrap();

        let shared = SharedIndex::with_interval(&out, Duration::ZERO).unwrap();
        assert_eq!(shared.lookup(&h).unwrap().feed, "v1");
        let old = shared.current();
        compile(&[FeedSpec::new(&v2)], &out, None).unwrap();
        let m = shared.lookup(&h).unwrap();
        assert_eq!((m.feed.as_str(), m.label.as_deref()), ("v2", Some("new")));
        // The old mapping is still whole: the rename left its inode alone.
        assert_eq!(old.lookup(&h).unwrap().feed, "v1");
        old.verify().unwrap();

        // A corrupt file renamed in is refused; the last good index stays in use.
        let junk = d.path().join("junk");
        std::fs::write(&junk, vec![0u8; 4096]).unwrap();
        std::fs::rename(&junk, &out).unwrap();
        assert_eq!(shared.lookup(&h).unwrap().feed, "v2");
        assert!(matches!(shared.refresh(), Err(IndexError::Corrupt { .. })));

        // With the default interval, refresh() reloads on demand.
        compile(&[FeedSpec::new(&v1)], &out, None).unwrap();
        let slow = SharedIndex::open(&out).unwrap();
        assert!(!slow.refresh().unwrap());
        compile(&[FeedSpec::new(&v2)], &out, None).unwrap();
        assert!(slow.refresh().unwrap());
        assert_eq!(slow.current().lookup(&h).unwrap().feed, "v2");
    }

    #[test]
    fn intel_commands_print_and_report_outcome() {
        let d = tempfile::tempdir().unwrap();
        let h = hex::encode([7u8; 32]);
        let feed = write(d.path(), "bad.txt", &format!("{h} Mirai\n"));
        let idx = d.path().join("i.idx");
        let run = |cmd| {
            let mut out = Vec::new();
            let r = run_intel_command(cmd, &mut out);
            (r, String::from_utf8(out).unwrap())
        };
        let (r, text) = run(IntelCommand::Compile {
            feeds: vec![FeedSpec::new(&feed)],
            out: idx.clone(),
        });
        assert!(r.unwrap());
        assert!(text.contains("1 hashes from 1 feed(s)"), "{text}");
        let (r, text) = run(IntelCommand::Stat { index: idx.clone() });
        assert!(r.unwrap());
        assert!(text.contains("format version: 1"), "{text}");
        assert!(text.contains("  bad: 1 hashes"), "{text}");
        assert!(text.contains("checksum: OK"), "{text}");
        let (r, text) = run(IntelCommand::Lookup {
            index: idx.clone(),
            sha256: h.to_uppercase(),
        });
        assert!(r.unwrap());
        assert_eq!(text, "malicious: feed bad label Mirai\n");
        let (r, text) = run(IntelCommand::Lookup {
            index: idx.clone(),
            sha256: hex::encode([8u8; 32]),
        });
        assert!(!r.unwrap());
        assert_eq!(text, "not found\n");
        let (r, _) = run(IntelCommand::Lookup {
            index: idx.clone(),
            sha256: "abc".into(),
        });
        assert!(matches!(r, Err(IndexError::BadDigest { .. })));
        // stat fails on a body that does not match its checksum.
        let mut b = std::fs::read(&idx).unwrap();
        let last = b.len() - 1;
        b[last] ^= 1;
        std::fs::write(&idx, &b).unwrap();
        let (r, _) = run(IntelCommand::Stat { index: idx });
        assert!(matches!(r, Err(IndexError::Corrupt { .. })));
    }
}
