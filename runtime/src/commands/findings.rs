//! `scrun findings`: the query over the findings file (the logic lives in scrun-findings).

use anyhow::{Context, Result};
use scrun_findings::query::{self, CategoryMatch, Filter, QueryArgs};

use crate::cli::Findings;

pub fn findings(a: Findings) -> Result<()> {
    let path = match a.file {
        Some(p) => p,
        None => crate::supervisor::load_policy()?
            .config
            .findings
            .path
            .clone()
            .context("the config has no [findings] path; pass --file")?,
    };
    let filter = Filter {
        container: a.container,
        image: a.image,
        category: a
            .category
            .map(|c| c.parse::<CategoryMatch>().unwrap_or(CategoryMatch::Text(c))),
        severity: a
            .severity
            .map(|s| s.parse())
            .transpose()
            .context("invalid --severity")?,
        since: a
            .since
            .map(|s| query::parse_since(&s))
            .transpose()
            .context("invalid --since")?,
    };
    let args = QueryArgs {
        path,
        filter,
        related: a.related,
        window: query::parse_duration(&a.window).context("invalid --window")?,
        json: a.json,
    };
    let mut out = std::io::stdout().lock();
    let report = query::run_query(&args, &mut out)
        .with_context(|| format!("cannot query findings in {}", args.path.display()))?;
    for s in &report.skipped {
        eprintln!("scrun: skipped a malformed line: {s:?}");
    }
    Ok(())
}
