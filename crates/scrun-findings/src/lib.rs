#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod catalogue;
pub mod category;
pub mod hooks;
pub mod model;
pub mod props;
pub mod query;
pub mod ratelimit;
pub mod sink;
pub mod taxonomy;
pub mod webhook;

pub use category::{Category, ParseCategoryError};
pub use hooks::{HookSpec, HookStats, PipeSink, run_hook_loop};
pub use model::{
    Container, EnvVariable, File, Finding, FindingClass, Indicator, Label, MitreAttack, Process,
    Severity, State, Tactic, Technique,
};
pub use query::{
    CategoryMatch, Filter, QueryArgs, QueryError, QueryReport, ReadOutcome, SkippedLine,
    find_by_id, parse_duration, parse_since, read_findings, related, render_json, render_table,
    run_query,
};
pub use sink::{FileSink, MultiSink, Sink, SinkError, StdoutSink, WriterSink};
pub use webhook::{WebhookOptions, WebhookSink};
