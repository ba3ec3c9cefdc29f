#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod hash;
pub mod layers;

pub use hash::{Digest, FileKey, HashCache, hash_file};
pub use layers::{Layer, LayerKind, LayersError, Overlay, Rootfs, rootfs_from_mountinfo};
