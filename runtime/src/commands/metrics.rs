//! `scrun metrics`: the node's exec supervision metrics in Prometheus text, summed over the
//! snapshots every supervisor writes (see `crate::metrics` for the shape and why).

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::cli::Metrics;
use crate::metrics::{NodeMetrics, collect, render, write_atomic};

/// Seconds since `path` last changed.
fn age_secs(path: &Path) -> Option<f64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default()
            .as_secs_f64(),
    )
}

pub fn metrics(a: Metrics) -> Result<()> {
    let config = crate::supervisor::load_policy()?.config;
    let dir = match a.dir {
        Some(d) => d,
        None => config
            .supervisor
            .metrics_dir
            .clone()
            .filter(|d| !d.as_os_str().is_empty())
            .context("metrics are off: [supervisor] metrics_dir is empty")?,
    };
    let (totals, live) =
        collect(&dir).with_context(|| format!("cannot read metrics in {}", dir.display()))?;
    let intel = &config.intel;
    let feed_age_secs = intel
        .feeds
        .iter()
        .chain(&intel.allow_feeds)
        .map(|f| f.path.clone())
        .chain(intel.index.clone())
        .chain(intel.allow_index.clone())
        .filter_map(|p| Some((p.display().to_string(), age_secs(&p)?)))
        .collect();
    let text = render(NodeMetrics {
        totals,
        live_supervisors: live,
        feed_age_secs,
    });
    match a.textfile {
        Some(path) => write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
