#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod hash;
pub mod layers;
pub mod provenance;

pub use hash::{Digest, FileKey, HashCache, hash_file};
pub use layers::{Layer, LayerKind, LayersError, Overlay, Rootfs, rootfs_from_mountinfo};
pub use provenance::{AddedOn, Provenance, Target, classify};
