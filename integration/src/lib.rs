#![doc = include_str!("../README.md")]

pub mod bundle;
pub mod containerd;
pub mod cri;
pub mod distro;
pub mod docker;
pub mod error;
pub mod image;
pub mod oci;
pub mod podman;
pub mod process;
pub mod runtime;
pub mod supervisor;
pub mod testdata;
pub mod workdir;

pub use containerd::Containerd;
pub use docker::Docker;
pub use error::{Error, Result, shared_env, write_file};
pub use podman::Podman;
pub use process::{run_ok, run_with_input, run_with_timeout};
pub use runtime::{Runtime, differential};
pub use workdir::Workdir;
