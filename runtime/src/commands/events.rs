use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::load_container;
use crate::cli::Events;

/// Parse `5s`, `500ms`, `1m` or a bare number of seconds.
pub fn parse_interval(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid interval {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("invalid interval {s:?}: use e.g. 5s, 500ms, 1m"),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// runc's event line: `{"type":"stats","id":…,"data":{…}}`, one JSON object per line (the data
/// carries libcgroups' statistics: cpu, memory, pids, blkio, hugetlb).
pub fn events(args: Events, root: &Path) -> Result<()> {
    use libcgroups::common::CgroupManager;
    use std::io::Write;
    let interval = parse_interval(&args.interval)?;
    let container = load_container(root, &args.container_id)?;
    if container.status() != libcontainer::container::ContainerStatus::Running
        && container.status() != libcontainer::container::ContainerStatus::Paused
    {
        bail!("container {} not running", args.container_id);
    }
    let cg = super::ps::cgroup_manager(&container)?;
    let mut out = std::io::stdout().lock();
    loop {
        let stats = cg.stats().with_context(|| {
            format!(
                "cannot read the statistics of container {}",
                args.container_id
            )
        })?;
        let line = serde_json::json!({"type": "stats", "id": args.container_id, "data": stats});
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            return Ok(()); // the reader went away
        }
        if args.stats {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("7").unwrap(), Duration::from_secs(7));
        assert_eq!(parse_interval("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_interval("5x").is_err());
    }
}
