//! `scrun intel compile|stat|lookup`: the compiled, shared threat-feed index (scrun-detect's
//! `index` module does the work).

use std::path::PathBuf;

use anyhow::{Context, Result};
use scrun_detect::feeds::FeedSpec;
use scrun_detect::index::{IntelCommand, run_intel_command};

use crate::cli::Intel;

fn default_index(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    crate::supervisor::load_policy()?
        .config
        .intel
        .index
        .context("no index given and the config has no [intel] index")
}

fn feed_spec(arg: &str) -> FeedSpec {
    match arg.split_once('=') {
        Some((name, path)) if !name.contains('/') => {
            let mut s = FeedSpec::new(path);
            s.name = Some(name.to_string());
            s
        }
        _ => FeedSpec::new(arg),
    }
}

pub fn intel(a: Intel) -> Result<u8> {
    let cmd = match a {
        Intel::Compile { out, feeds } => {
            let feeds = if feeds.is_empty() {
                crate::supervisor::load_policy()?.config.intel.feeds
            } else {
                feeds.iter().map(|f| feed_spec(f)).collect()
            };
            IntelCommand::Compile {
                feeds,
                out: default_index(out)?,
            }
        }
        Intel::Stat { index } => IntelCommand::Stat {
            index: default_index(index)?,
        },
        Intel::Lookup { index, sha256 } => IntelCommand::Lookup {
            index: default_index(index)?,
            sha256,
        },
    };
    let mut out = std::io::stdout().lock();
    let found = run_intel_command(cmd, &mut out).context("scrun intel")?;
    Ok(if found { 0 } else { 1 })
}
