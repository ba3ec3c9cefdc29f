#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod category;
pub mod model;
pub mod props;
pub mod query;
pub mod sink;

pub use category::{Category, ParseCategoryError};
pub use model::{
    Container, EnvVariable, File, Finding, FindingClass, Indicator, Label, MitreAttack, Process,
    Severity, State, Tactic, Technique,
};
pub use sink::{FileSink, MultiSink, Sink, SinkError, StdoutSink, WriterSink};
