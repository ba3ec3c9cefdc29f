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

pub fn events(args: Events, root: &Path) -> Result<()> {
    let interval = parse_interval(&args.interval)?;
    let mut container = load_container(root, &args.container_id)?;
    let secs = interval.as_secs().max(1) as u32;
    container
        .events(secs, args.stats)
        .with_context(|| format!("cannot read events of container {}", args.container_id))
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
