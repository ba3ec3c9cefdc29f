#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]

pub mod attribution;
pub mod engine;
pub mod event;
pub mod feeds;
pub mod hash;
pub mod hashpool;
pub mod index;
pub mod layer_digest;
pub mod layers;
pub mod policy;
pub mod provenance;
pub mod report;
pub mod rules;
#[doc(hidden)]
pub mod testdata;

pub use engine::{
    ContainerIdentity, Decision, Engine, ExecEvent, ProcessInfo, Verdict, category_for,
};
pub use feeds::{FeedError, FeedFormat, FeedSet, FeedSpec, Intel, IntelMatch};
pub use hash::{Digest, FileKey, HashCache, hash_file};
pub use layers::{Layer, LayerKind, LayersError, Overlay, Rootfs, rootfs_from_mountinfo};
pub use policy::{Action, Config, ConfigError, Mode, OnError};
pub use provenance::{AddedOn, Provenance, Target, classify};
pub use report::render;
pub use scrun_kernel::bounded;
