#![doc = include_str!("../README.md")]

pub mod bounded;
pub mod bpf;
pub mod elf;
pub mod file_key;
pub mod gate;
pub mod limits;
pub mod listener;
pub mod maps;
pub mod memory;
pub mod mountinfo;
pub mod net;
pub mod notify;
pub mod proc_info;
pub mod process;
pub mod resolve;
pub mod sandbox;
pub mod sealed_exe;
pub mod signal;
pub mod stdio;
mod sys;
pub mod view;

pub use file_key::FileKey;
