//! The one file identity key of the project: a file whose (dev, ino, size, mtime, ctime) did
//! not change did not change its content (as far as anything short of hashing can tell). The
//! path cache of [`crate::resolve`], the hash and verdict caches of scrun-detect and the
//! supervisor's per-pid decisions and vetted files all key on it.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use serde::{Deserialize, Serialize};

/// A file's identity for caching: if none of these changed, neither did the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileKey {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_mtime` in nanoseconds.
    pub mtime_ns: i64,
    /// `st_ctime` in nanoseconds.
    pub ctime_ns: i64,
}

impl FileKey {
    /// The key of a file from its metadata.
    pub fn from_metadata(m: &Metadata) -> Self {
        FileKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
        }
    }
}
