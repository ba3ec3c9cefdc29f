//! SHA-256 of exec targets, and a cache keyed by file identity.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::bounded::Bounded;

/// The read buffer: small enough that the copy out of the page cache stays in this core's L2
/// (1 MiB here) while it is hashed. Measured on the 1 GiB bench file: 64 KiB 1.60 GB/s, 128 KiB
/// 1.62, 512 KiB 1.52-1.56 (CPU ceiling 1.81).
const BUF_SIZE: usize = 128 * 1024;

/// The SHA-256 of a file's first `hashed_size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// SHA-256 of the first `hashed_size` bytes.
    #[serde(with = "hex_32")]
    pub sha256: [u8; 32],
    /// The file size when hashing started.
    pub size: u64,
    /// How many bytes were hashed.
    pub hashed_size: u64,
    /// True when only a prefix was hashed (the file is larger than the limit).
    pub partial: bool,
}

impl Digest {
    /// Lower-case hex of `sha256`.
    pub fn hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

mod hex_32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

/// Files bigger than this are read with `O_DIRECT` when the filesystem allows it: hashing a
/// big file then does not fill the page cache (measured: reading 1 GiB through the page cache
/// raised the p99 of the container's other execs several times; `bench/hashstall.sh`).
const DIRECT_FROM: u64 = 16 << 20;
/// `O_DIRECT` needs buffers, offsets and lengths aligned to the logical block size.
const DIRECT_ALIGN: usize = 4096;

/// Hashes `file` from offset 0 with `pread`, at most `max_bytes` bytes; the fd offset is not moved.
pub fn hash_file(file: &File, max_bytes: u64) -> io::Result<Digest> {
    let size = file.metadata()?.len();
    if size > DIRECT_FROM {
        if let Some(direct) = reopen_direct(file) {
            if let Ok(d) = hash_with(file, &direct, true, size, max_bytes) {
                return Ok(d);
            }
        }
    }
    hash_with(file, file, false, size, max_bytes)
}

/// The same inode opened again with `O_DIRECT` (through our own `/proc/self/fd` link), if the
/// filesystem supports it.
fn reopen_direct(file: &File) -> Option<File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::DIRECT | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .ok()
}

fn hash_with(file: &File, src: &File, direct: bool, size: u64, limit: u64) -> io::Result<Digest> {
    let mut hasher = Sha256::new();
    let mut raw = vec![0u8; BUF_SIZE + DIRECT_ALIGN];
    let start = raw.as_ptr().align_offset(DIRECT_ALIGN).min(DIRECT_ALIGN);
    let buf = &mut raw[start..start + BUF_SIZE];
    let mut off: u64 = 0;
    while off < limit {
        let want = usize::try_from((limit - off).min(BUF_SIZE as u64)).unwrap_or(BUF_SIZE);
        // O_DIRECT reads whole aligned blocks; only `want` bytes of them are hashed.
        let len = if direct { BUF_SIZE } else { want };
        let n = match src.read_at(&mut buf[..len], off) {
            Ok(0) => break,
            Ok(n) => n.min(want),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        off += n as u64;
        // A short direct read is the end of the file (or unaligned from here: start over).
        if direct && n < want {
            if off < size.min(limit) {
                return Err(io::Error::other("short O_DIRECT read"));
            }
            break;
        }
    }
    // The file may have grown past the limit while we read: check for one more byte.
    let mut partial = off < size;
    if !partial && off == limit {
        let mut one = [0u8; 1];
        partial = matches!(file.read_at(&mut one, off), Ok(1));
    }
    Ok(Digest {
        sha256: hasher.finalize().into(),
        size,
        hashed_size: off,
        partial,
    })
}

pub use scrun_kernel::file_key::FileKey;

/// The on-disk store's file name of `key`.
fn entry_name(key: &FileKey) -> String {
    format!(
        "{:x}-{:x}-{:x}-{}-{}.json",
        key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns
    )
}

/// Errors from the persistent hash store (logged, never returned: the store is an optimization).
#[derive(Debug, thiserror::Error)]
pub enum HashCacheError {
    /// A stored entry could not be parsed or does not match its key.
    #[error("corrupt hash cache entry {path}: {reason}; it is ignored and will be rewritten")]
    Corrupt {
        /// The entry file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing an entry failed.
    #[error("hash cache entry {path}: {cause}")]
    Io {
        /// The entry file.
        path: PathBuf,
        /// The IO error.
        cause: io::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    key: FileKey,
    digest: Digest,
}

/// A thread-safe, bounded cache of file digests with an optional on-disk store for immutable files.
pub struct HashCache {
    capacity: usize,
    persistent_dir: Option<PathBuf>,
    inner: Mutex<Bounded<FileKey, Digest>>,
    tmp_seq: AtomicU64,
    /// Files being hashed now: a second caller for the same file waits for that hash instead
    /// of reading the file again (at most one hash per file identity in flight).
    in_flight: Mutex<std::collections::HashSet<FileKey>>,
    done: std::sync::Condvar,
}

/// Removes a key from the in-flight set (also when the hash panics) and wakes its waiters.
struct InFlight<'a> {
    cache: &'a HashCache,
    key: FileKey,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut g = self
            .cache
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        g.remove(&self.key);
        drop(g);
        self.cache.done.notify_all();
    }
}

impl std::fmt::Debug for HashCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashCache")
            .field("capacity", &self.capacity)
            .field("persistent_dir", &self.persistent_dir)
            .field("len", &self.len())
            .finish()
    }
}

impl HashCache {
    /// A cache holding at most `capacity` entries in memory (oldest evicted first), and, when
    /// `persistent_dir` is given, storing digests of immutable files there across processes.
    pub fn new(capacity: usize, persistent_dir: Option<PathBuf>) -> Self {
        HashCache {
            capacity: capacity.max(1),
            persistent_dir,
            inner: Mutex::new(Bounded::new(capacity)),
            tmp_seq: AtomicU64::new(0),
            in_flight: Mutex::default(),
            done: std::sync::Condvar::new(),
        }
    }

    /// Entries in memory.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is cached in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bounded<FileKey, Digest>> {
        // A panic while holding the lock cannot leave the map inconsistent in a way that matters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The digest of `file` (whose identity is `key`), from the cache or by hashing it.
    /// Returns `(digest, hit)`. `immutable` files (image layer files) also use the on-disk store.
    pub fn get_or_hash(
        &self,
        key: &FileKey,
        file: &File,
        max_bytes: u64,
        immutable: bool,
    ) -> io::Result<(Digest, bool)> {
        let expected_hashed = key.size.min(max_bytes);
        let valid = |d: &Digest| d.size == key.size && d.hashed_size == expected_hashed;
        if let Some(d) = self.lock().get(key).filter(valid) {
            return Ok((d, true));
        }
        // One hash per file identity: wait while another thread hashes this file, then take
        // its result (or hash it ourselves if that one failed or was cut short).
        let _claim = {
            let mut g = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            while g.contains(key) {
                g = self.done.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            if let Some(d) = self.lock().peek(key).copied().filter(valid) {
                return Ok((d, true));
            }
            g.insert(*key);
            InFlight {
                cache: self,
                key: *key,
            }
        };
        if immutable {
            if let Some(d) = self.load(key).filter(valid) {
                self.insert(*key, d);
                return Ok((d, true));
            }
        }
        let d = hash_file(file, max_bytes)?;
        // Only a hash taken of the file as the key describes it may be cached under that key.
        if d.size == key.size {
            self.insert(*key, d);
            if immutable {
                self.store(key, &d);
            }
        }
        Ok((d, false))
    }

    fn insert(&self, key: FileKey, d: Digest) {
        self.lock().insert(key, d);
    }

    fn entry_path(&self, key: &FileKey) -> Option<PathBuf> {
        self.persistent_dir
            .as_ref()
            .map(|d| d.join(entry_name(key)))
    }

    fn load(&self, key: &FileKey) -> Option<Digest> {
        let path = self.entry_path(key)?;
        match read_entry(&path, key) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "hash cache");
                None
            }
        }
    }

    fn store(&self, key: &FileKey, d: &Digest) {
        let Some(path) = self.entry_path(key) else {
            return;
        };
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = write_entry(&path, key, d, seq) {
            tracing::warn!(error = %e, "hash cache");
        }
    }
}

fn read_entry(path: &Path, key: &FileKey) -> Result<Option<Digest>, HashCacheError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(HashCacheError::Io {
                path: path.to_path_buf(),
                cause: source,
            });
        }
    };
    let corrupt = |reason: String| HashCacheError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let entry: StoredEntry = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if entry.key != *key {
        return Err(corrupt("the stored key differs from the file name".into()));
    }
    Ok(Some(entry.digest))
}

fn write_entry(path: &Path, key: &FileKey, d: &Digest, seq: u64) -> Result<(), HashCacheError> {
    let io_err = |source| HashCacheError::Io {
        path: path.to_path_buf(),
        cause: source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let tmp = dir.join(format!(".tmp-{}-{seq}", std::process::id()));
    let body = serde_json::to_vec(&StoredEntry {
        key: *key,
        digest: *d,
    })
    .map_err(|e| io_err(io::Error::other(e)))?;
    let res = std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn file_with(content: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        t.write_all(content).unwrap();
        let f = File::open(t.path()).unwrap();
        (t, f)
    }

    /// Many threads ask for the same cold file at once: it is read once, all get its digest.
    #[test]
    fn one_hash_per_file_in_flight() {
        let data = vec![7u8; 8 << 20];
        let (_t, f) = file_with(&data);
        let key = FileKey::from_metadata(&f.metadata().unwrap());
        let cache = std::sync::Arc::new(HashCache::new(16, None));
        let misses = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, misses) = (cache.clone(), misses.clone());
                let f = f.try_clone().unwrap();
                std::thread::spawn(move || {
                    let (d, hit) = cache.get_or_hash(&key, &f, u64::MAX, false).unwrap();
                    if !hit {
                        misses.fetch_add(1, Ordering::SeqCst);
                    }
                    d.sha256
                })
            })
            .collect();
        let want: [u8; 32] = Sha256::digest(&data).into();
        for t in threads {
            assert_eq!(t.join().unwrap(), want);
        }
        assert_eq!(misses.load(Ordering::SeqCst), 1, "hashed exactly once");
    }

    /// Big files take the O_DIRECT path (where the filesystem allows it) and hash the same.
    #[test]
    fn big_files_hash_the_same_read_directly() {
        let data: Vec<u8> = (0..(DIRECT_FROM as usize + 12_345))
            .map(|i| (i % 253) as u8)
            .collect();
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, &data).unwrap();
        let f = File::open(&p).unwrap();
        let want: [u8; 32] = Sha256::digest(&data).into();
        let d = hash_file(&f, u64::MAX).unwrap();
        assert_eq!(
            (d.sha256, d.hashed_size, d.partial),
            (want, data.len() as u64, false)
        );
        let cut = hash_file(&f, DIRECT_FROM + 100).unwrap();
        let want: [u8; 32] = Sha256::digest(&data[..DIRECT_FROM as usize + 100]).into();
        assert_eq!((cut.sha256, cut.partial), (want, true));
        assert!(reopen_direct(&f).is_some(), "O_DIRECT on /var/tmp");
    }

    #[test]
    fn known_vector_and_offset_untouched() {
        let (_t, mut f) = file_with(b"abc");
        f.seek(SeekFrom::Start(2)).unwrap();
        let d = hash_file(&f, 1 << 20).unwrap();
        assert_eq!(d.hex(), ABC);
        assert_eq!((d.size, d.hashed_size, d.partial), (3, 3, false));
        assert_eq!(f.stream_position().unwrap(), 2);
    }

    #[test]
    fn multi_buffer_and_partial() {
        let data: Vec<u8> = (0..(BUF_SIZE * 2 + 123)).map(|i| (i % 251) as u8).collect();
        let (_t, f) = file_with(&data);
        let d = hash_file(&f, u64::MAX).unwrap();
        let want: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(d.sha256, want);
        assert!(!d.partial);
        let p = hash_file(&f, 1000).unwrap();
        let want: [u8; 32] = Sha256::digest(&data[..1000]).into();
        assert_eq!(p.sha256, want);
        assert_eq!((p.hashed_size, p.partial), (1000, true));
        let exact = hash_file(&f, data.len() as u64).unwrap();
        assert!(!exact.partial);
    }

    #[test]
    fn cache_hits_and_key_changes() {
        let (t, f) = file_with(b"abc");
        let cache = HashCache::new(16, None);
        let key = FileKey::from_metadata(&f.metadata().unwrap());
        let (d, hit) = cache.get_or_hash(&key, &f, 1 << 20, false).unwrap();
        assert!(!hit);
        assert_eq!(d.hex(), ABC);
        assert!(cache.get_or_hash(&key, &f, 1 << 20, false).unwrap().1);
        // A different limit that would hash a different prefix is a miss.
        let (p, hit) = cache.get_or_hash(&key, &f, 2, false).unwrap();
        assert!(!hit);
        assert!(p.partial);
        // Changing the file changes the key.
        std::fs::write(t.path(), b"abcd").unwrap();
        let key2 = FileKey::from_metadata(&std::fs::metadata(t.path()).unwrap());
        assert_ne!(key, key2);
    }

    #[test]
    fn eviction_is_bounded() {
        let (_t, f) = file_with(b"abc");
        let cache = HashCache::new(3, None);
        let base = FileKey::from_metadata(&f.metadata().unwrap());
        for ino in 0..10 {
            let k = FileKey { ino, ..base };
            cache.get_or_hash(&k, &f, 1 << 20, false).unwrap();
        }
        assert_eq!(cache.len(), 3);
        // The newest survive, the oldest are gone.
        assert!(
            cache
                .get_or_hash(&FileKey { ino: 9, ..base }, &f, 1 << 20, false)
                .unwrap()
                .1
        );
        assert!(
            !cache
                .get_or_hash(&FileKey { ino: 0, ..base }, &f, 1 << 20, false)
                .unwrap()
                .1
        );
    }

    #[test]
    fn persistent_store_shared_and_corruption_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("hc");
        let (_t, f) = file_with(b"abc");
        let key = FileKey::from_metadata(&f.metadata().unwrap());
        let a = HashCache::new(16, Some(store.clone()));
        assert!(!a.get_or_hash(&key, &f, 1 << 20, true).unwrap().1);
        // A second cache (another supervisor) finds it on disk, without hashing.
        let b = HashCache::new(16, Some(store.clone()));
        let (d, hit) = b.get_or_hash(&key, &f, 1 << 20, true).unwrap();
        assert!(hit);
        assert_eq!(d.hex(), ABC);
        // Mutable files are never stored.
        let c = HashCache::new(16, Some(store.clone()));
        let k2 = FileKey {
            ino: key.ino + 1,
            ..key
        };
        c.get_or_hash(&k2, &f, 1 << 20, false).unwrap();
        assert!(!store.join(entry_name(&k2)).exists());
        // A corrupt entry is ignored and rewritten.
        std::fs::write(store.join(entry_name(&key)), b"{not json").unwrap();
        let e = HashCache::new(16, Some(store.clone()));
        let (d, hit) = e.get_or_hash(&key, &f, 1 << 20, true).unwrap();
        assert!(!hit);
        assert_eq!(d.hex(), ABC);
        let again = HashCache::new(16, Some(store.clone()));
        assert!(again.get_or_hash(&key, &f, 1 << 20, true).unwrap().1);
        // No temp files left behind.
        let leftovers = std::fs::read_dir(&store)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
