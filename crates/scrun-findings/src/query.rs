//! The library behind `scrun findings`: read the findings file(s), filter, correlate, render.

use std::fs::{self, File as FsFile};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::category::Category;
use crate::model::{Finding, Severity};
use crate::props;
use crate::sink::rotated_path;

/// Lines longer than this are skipped by the reader (scrun writes at most 60 KiB).
pub const MAX_READ_LINE: usize = 1 << 20;
/// The default correlation window of [`QueryArgs`].
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Errors from querying findings.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Neither the findings file nor a rotated copy exists.
    #[error(
        "no findings file at {path}: no finding has been written yet, or pass the path scrun writes findings to"
    )]
    NoFindings {
        /// The path asked for.
        path: PathBuf,
    },
    /// A findings file could not be read.
    #[error(
        "cannot read findings file {path}: {cause}; check permissions (findings are root-readable only)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// The directory of the findings file could not be listed to find rotated files.
    #[error("cannot list {path} for rotated findings files: {cause}")]
    ListDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// A `--since` value could not be parsed.
    #[error(
        "invalid time {input:?}: use a duration ago like 30s, 10m, 2h, 1d, 1w or an RFC 3339 time like 2026-11-26T15:32:08Z"
    )]
    BadSince {
        /// What was given.
        input: String,
    },
    /// A duration could not be parsed.
    #[error("invalid duration {input:?}: use a number and a unit, like 30s, 10m, 2h, 1d or 1w")]
    BadDuration {
        /// What was given.
        input: String,
    },
    /// No finding has the given id (or id prefix).
    #[error("no finding with id {id:?}: run `scrun findings` to list finding ids")]
    UnknownFinding {
        /// The id asked for.
        id: String,
    },
    /// The id prefix matches several findings.
    #[error("finding id prefix {id:?} matches {count} findings: give more characters of the id")]
    AmbiguousFinding {
        /// The prefix asked for.
        id: String,
        /// How many findings it matches.
        count: usize,
    },
    /// Writing the output failed.
    #[error("cannot write findings output: {cause}")]
    Output {
        /// The OS error.
        cause: io::Error,
    },
}

/// A line the reader skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// The file it is in.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// What [`read_findings`] found.
#[derive(Debug, Clone, Default)]
pub struct ReadOutcome {
    /// The findings, oldest `eventTime` first.
    pub findings: Vec<Finding>,
    /// The files read, oldest first.
    pub files: Vec<PathBuf>,
    /// Malformed, truncated or overlong lines.
    pub skipped: Vec<SkippedLine>,
}

/// Reads the findings at `path` and its rotated copies (`path.N` … `path.1`, then `path`).
///
/// Tolerant: a line that is not a finding (a torn last line, garbage, a line over
/// [`MAX_READ_LINE`]) is skipped and reported; blank lines are ignored. The result is
/// sorted by `eventTime` (stable, so equal times keep file order).
pub fn read_findings(path: impl AsRef<Path>) -> Result<ReadOutcome, QueryError> {
    let path = path.as_ref();
    let mut files = rotated_files(path)?;
    if path.exists() {
        files.push(path.to_path_buf());
    }
    if files.is_empty() {
        return Err(QueryError::NoFindings {
            path: path.to_path_buf(),
        });
    }
    let mut out = ReadOutcome::default();
    for file in &files {
        read_one(file, &mut out)?;
    }
    out.files = files;
    out.findings.sort_by_key(|f| f.event_time);
    Ok(out)
}

/// Rotated copies of `path` that exist, oldest (highest N) first.
fn rotated_files(path: &Path) -> Result<Vec<PathBuf>, QueryError> {
    let (Some(name), dir) = (path.file_name(), path.parent()) else {
        return Ok(Vec::new());
    };
    let dir = match dir {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(QueryError::ListDir {
                path: dir.to_path_buf(),
                cause: source,
            });
        }
    };
    let mut prefix = name.to_os_string();
    prefix.push(".");
    let prefix = prefix.to_string_lossy().into_owned();
    let mut numbered: Vec<usize> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name();
            let n = n.to_str()?;
            let digits = n.strip_prefix(prefix.as_str())?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok().filter(|&n| n > 0)
        })
        .collect();
    numbered.sort_unstable_by(|a, b| b.cmp(a));
    Ok(numbered
        .into_iter()
        .map(|n| rotated_path(path, n))
        .collect())
}

fn read_one(path: &Path, out: &mut ReadOutcome) -> Result<(), QueryError> {
    let read_err = |source| QueryError::Read {
        path: path.to_path_buf(),
        cause: source,
    };
    let file = match FsFile::open(path) {
        Ok(f) => f,
        // rotated away between listing and opening
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(read_err(e)),
    };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_READ_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(read_err)?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        if buf.len() > MAX_READ_LINE && buf.last() != Some(&b'\n') {
            reader.skip_until(b'\n').map_err(read_err)?;
            out.skipped.push(SkippedLine {
                file: path.to_path_buf(),
                line,
                reason: format!("line longer than {MAX_READ_LINE} bytes"),
            });
            continue;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Finding>(&buf) {
            Ok(f) => out.findings.push(f),
            Err(e) => out.skipped.push(SkippedLine {
                file: path.to_path_buf(),
                line,
                reason: e.to_string(),
            }),
        }
    }
}

/// A category filter: one of scrun's categories exactly, or a case-insensitive substring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CategoryMatch {
    /// Exactly this category.
    Known(Category),
    /// Categories containing this text (lower-cased).
    Text(String),
}

impl CategoryMatch {
    /// Whether the SCC category string `category` matches.
    pub fn matches(&self, category: &str) -> bool {
        match self {
            CategoryMatch::Known(c) => category == c.as_str(),
            CategoryMatch::Text(t) => category.to_lowercase().contains(t.as_str()),
        }
    }
}

impl std::str::FromStr for CategoryMatch {
    type Err = std::convert::Infallible;

    /// A [`Category`] (exact string, slug or API name) if it is one, else a substring.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<Category>() {
            Ok(c) => CategoryMatch::Known(c),
            Err(_) => CategoryMatch::Text(s.to_lowercase()),
        })
    }
}

/// Which findings to show. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// A container name (exact, leading `/` ignored) or a prefix of the scrun container id.
    pub container: Option<String>,
    /// A substring of the image URI or image id.
    pub image: Option<String>,
    /// The category.
    pub category: Option<CategoryMatch>,
    /// At least this severe.
    pub severity: Option<Severity>,
    /// `eventTime` at or after this.
    pub since: Option<DateTime<Utc>>,
}

impl Filter {
    /// Whether `f` passes the filter.
    pub fn matches(&self, f: &Finding) -> bool {
        if let Some(c) = self.container.as_deref() {
            let want = c.trim_start_matches('/');
            let by_name = f
                .containers
                .iter()
                .map(|k| k.name.as_str())
                .chain(f.prop_str(props::CONTAINER_NAME))
                .any(|n| !want.is_empty() && n.trim_start_matches('/') == want);
            let by_id = f
                .prop_str(props::CONTAINER_ID)
                .is_some_and(|id| !c.is_empty() && id.starts_with(c));
            if !by_name && !by_id {
                return false;
            }
        }
        if let Some(i) = self.image.as_deref() {
            let hit = f
                .containers
                .iter()
                .flat_map(|k| [k.uri.as_str(), k.image_id.as_str()])
                .chain(f.prop_str(props::CONTAINER_IMAGE_URI))
                .any(|s| s.contains(i));
            if !hit {
                return false;
            }
        }
        if let Some(c) = &self.category {
            if !c.matches(&f.category) {
                return false;
            }
        }
        if let Some(s) = self.severity {
            if f.severity < s {
                return false;
            }
        }
        if let Some(t) = self.since {
            if f.event_time < t {
                return false;
            }
        }
        true
    }
}

/// Parses `30s`, `10m`, `2h`, `1d`, `1w`.
pub fn parse_duration(s: &str) -> Result<Duration, QueryError> {
    let bad = || QueryError::BadDuration {
        input: s.to_owned(),
    };
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).map(Duration::from_secs).ok_or_else(bad)
}

/// Parses a `--since` value relative to now: a duration ago (`10m`, `2h`, `1d`) or an
/// RFC 3339 time.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, QueryError> {
    parse_since_at(s, Utc::now())
}

/// [`parse_since`] relative to `now`.
pub fn parse_since_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, QueryError> {
    let bad = || QueryError::BadSince {
        input: s.to_owned(),
    };
    if let Ok(d) = parse_duration(s) {
        let d = TimeDelta::from_std(d).map_err(|_| bad())?;
        return now.checked_sub_signed(d).ok_or_else(bad);
    }
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad())
}

/// The finding whose id is `id`, or the only one whose id starts with `id`.
pub fn find_by_id<'a>(all: &'a [Finding], id: &str) -> Result<&'a Finding, QueryError> {
    if let Some(f) = all.iter().find(|f| f.id() == id) {
        return Ok(f);
    }
    let mut hits: Vec<&Finding> = all
        .iter()
        .filter(|f| !id.is_empty() && f.id().starts_with(id))
        .collect();
    hits.sort_by(|a, b| a.name.cmp(&b.name));
    hits.dedup_by(|a, b| a.name == b.name);
    match hits.as_slice() {
        [] => Err(QueryError::UnknownFinding { id: id.to_owned() }),
        [one] => Ok(one),
        many => Err(QueryError::AmbiguousFinding {
            id: id.to_owned(),
            count: many.len(),
        }),
    }
}

/// Other findings of the same container as finding `id` (same non-empty `resourceName` or
/// same `scrun_container_id`) whose `eventTime` is within ±`window` of it.
pub fn related<'a>(
    all: &'a [Finding],
    id: &str,
    window: Duration,
) -> Result<Vec<&'a Finding>, QueryError> {
    let anchor = find_by_id(all, id)?;
    let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
    let anchor_cid = anchor
        .prop_str(props::CONTAINER_ID)
        .filter(|s| !s.is_empty());
    Ok(all
        .iter()
        .filter(|f| f.name != anchor.name)
        .filter(|f| {
            let same_resource =
                !anchor.resource_name.is_empty() && f.resource_name == anchor.resource_name;
            let same_id = anchor_cid.is_some() && f.prop_str(props::CONTAINER_ID) == anchor_cid;
            same_resource || same_id
        })
        .filter(|f| (f.event_time - anchor.event_time).abs() <= window)
        .collect())
}

/// Writes each finding as one JSON line.
pub fn render_json<'a>(
    findings: impl IntoIterator<Item = &'a Finding>,
    out: &mut impl Write,
) -> io::Result<()> {
    for f in findings {
        serde_json::to_writer(&mut *out, f)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[derive(Clone, Copy)]
enum Cut {
    /// Keep the start: `Execution: Built in Mal…`
    End,
    /// Keep the end (paths): `…/bin/kdevtmpfsi`
    Start,
}

const COLUMNS: [(&str, usize, Cut); 8] = [
    ("FINDING ID", 12, Cut::End),
    ("TIME", 19, Cut::End),
    ("CATEGORY", 48, Cut::End),
    ("SEVERITY", 10, Cut::End),
    ("CONTAINER", 24, Cut::End),
    ("IMAGE", 40, Cut::End),
    ("BINARY", 40, Cut::Start),
    ("ACTION", 10, Cut::End),
];

fn cells(f: &Finding) -> [String; 8] {
    let container = f
        .containers
        .first()
        .map(|c| c.name.trim_start_matches('/'))
        .filter(|s| !s.is_empty())
        .or_else(|| f.prop_str(props::CONTAINER_NAME))
        .or_else(|| f.prop_str(props::CONTAINER_ID))
        .unwrap_or("-");
    let image = f
        .containers
        .first()
        .map(|c| {
            if c.uri.is_empty() {
                &c.image_id
            } else {
                &c.uri
            }
        })
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| f.prop_str(props::CONTAINER_IMAGE_URI))
        .unwrap_or("-");
    // The file the finding is about: for a library finding the library, else the binary.
    let binary = f
        .processes
        .first()
        .and_then(|p| p.libraries.first().or(p.binary.as_ref()))
        .map(|b| b.path.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("-");
    [
        f.id().chars().take(12).collect(),
        f.event_time.format("%Y-%m-%d %H:%M:%S").to_string(),
        f.category.clone(),
        f.severity.as_str().to_owned(),
        container.to_owned(),
        image.to_owned(),
        binary.to_owned(),
        f.prop_str(props::ACTION).unwrap_or("-").to_owned(),
    ]
}

/// Replaces control characters (terminal escapes in hostile paths) and cuts to `max` chars.
fn fit(s: &str, max: usize, cut: Cut) -> String {
    let clean: Vec<char> = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.len() <= max {
        return clean.into_iter().collect();
    }
    let keep = max.saturating_sub(1);
    match cut {
        Cut::End => clean[..keep].iter().chain(['…'].iter()).collect(),
        Cut::Start => ['…'].iter().chain(&clean[clean.len() - keep..]).collect(),
    }
}

/// Writes a `docker ps`-like table: FINDING ID (12 chars), TIME (UTC), CATEGORY, SEVERITY,
/// CONTAINER, IMAGE, BINARY (for a library finding, the library), ACTION. Column widths follow
/// the content up to a cap; longer cells end in `…` (BINARY keeps the end of the path). Control characters show as `?`.
pub fn render_table<'a>(
    findings: impl IntoIterator<Item = &'a Finding>,
    out: &mut impl Write,
) -> io::Result<()> {
    let rows: Vec<[String; 8]> = findings
        .into_iter()
        .map(|f| {
            let raw = cells(f);
            std::array::from_fn(|i| fit(&raw[i], COLUMNS[i].1, COLUMNS[i].2))
        })
        .collect();
    let mut widths: [usize; 8] = std::array::from_fn(|i| COLUMNS[i].0.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let header: [String; 8] = std::array::from_fn(|i| COLUMNS[i].0.to_owned());
    for r in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 3));
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

/// Everything `scrun findings` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryArgs {
    /// The findings file (rotated copies next to it are read too).
    pub path: PathBuf,
    /// Which findings to show.
    pub filter: Filter,
    /// Show this finding (id or unique id prefix) and the related ones (the filter applies
    /// to the related ones).
    pub related: Option<String>,
    /// Correlation window for `related`.
    pub window: Duration,
    /// JSON lines instead of a table.
    pub json: bool,
}

impl QueryArgs {
    /// Query everything at `path`, as a table, with the default window.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        QueryArgs {
            path: path.into(),
            filter: Filter::default(),
            related: None,
            window: DEFAULT_WINDOW,
            json: false,
        }
    }
}

/// What a query did, for the CLI to report (e.g. skipped lines on stderr).
#[derive(Debug, Clone, Default)]
pub struct QueryReport {
    /// Files read, oldest first.
    pub files: Vec<PathBuf>,
    /// Findings read.
    pub read: usize,
    /// Findings shown.
    pub shown: usize,
    /// Lines that were not findings.
    pub skipped: Vec<SkippedLine>,
}

/// Reads, filters (or correlates) and renders findings to `out`.
pub fn run_query(args: &QueryArgs, out: &mut impl Write) -> Result<QueryReport, QueryError> {
    let outcome = read_findings(&args.path)?;
    let all = &outcome.findings;
    let selected: Vec<&Finding> = match args.related.as_deref() {
        None => all.iter().filter(|f| args.filter.matches(f)).collect(),
        Some(id) => {
            let anchor = find_by_id(all, id)?;
            let mut v: Vec<&Finding> = related(all, id, args.window)?
                .into_iter()
                .filter(|f| args.filter.matches(f))
                .collect();
            v.push(anchor);
            v.sort_by_key(|f| f.event_time);
            v
        }
    };
    let written = if args.json {
        render_json(selected.iter().copied(), out)
    } else {
        render_table(selected.iter().copied(), out)
    };
    written.map_err(|source| QueryError::Output { cause: source })?;
    Ok(QueryReport {
        files: outcome.files,
        read: all.len(),
        shown: selected.len(),
        skipped: outcome.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Container, File, Process};
    use crate::sink::{FileSink, Sink};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn mk(id: &str, cat: Category, time: &str, cname: &str, cid: &str, image: &str) -> Finding {
        let mut f = Finding::with_id(cat, id, t(time));
        f.create_time = f.event_time;
        f.resource_name = format!("//scrun.local/containers/{cid}");
        f.set_prop(props::CONTAINER_ID, cid);
        f.set_prop(props::ACTION, props::ACTION_BLOCKED);
        f.containers.push(Container {
            name: cname.into(),
            uri: image.into(),
            image_id: "sha256:abcdef".into(),
            ..Container::default()
        });
        f.processes.push(Process {
            name: "evil".into(),
            binary: Some(File {
                path: "/usr/local/bin/evil".into(),
                ..File::default()
            }),
            ..Process::default()
        });
        f
    }

    fn sample() -> Vec<Finding> {
        vec![
            mk(
                "aaaa0000000000000000000000000001",
                Category::BuiltInMaliciousBinaryExecuted,
                "2026-11-26T15:00:00Z",
                "web",
                "c0ffee01",
                "nginx:1.27",
            ),
            mk(
                "aaaa0000000000000000000000000002",
                Category::AddedBinaryExecuted,
                "2026-11-26T15:02:00Z",
                "web",
                "c0ffee01",
                "nginx:1.27",
            ),
            mk(
                "bbbb0000000000000000000000000003",
                Category::FilelessMemfd,
                "2026-11-26T15:03:00Z",
                "db",
                "d00d02",
                "postgres:16",
            ),
            mk(
                "cccc0000000000000000000000000004",
                Category::AddedMaliciousBinaryExecuted,
                "2026-11-26T16:00:00Z",
                "web",
                "c0ffee01",
                "nginx:1.27",
            ),
        ]
    }

    fn ids<'a>(v: impl IntoIterator<Item = &'a Finding>) -> Vec<String> {
        v.into_iter().map(|f| f.id()[28..].to_owned()).collect()
    }

    #[test]
    fn filter_fields() {
        let all = sample();
        let run = |f: Filter| ids(all.iter().filter(|x| f.matches(x)));
        assert_eq!(run(Filter::default()).len(), 4);
        let by = |c: &str| Filter {
            container: Some(c.into()),
            ..Filter::default()
        };
        assert_eq!(run(by("db")), ["0003"]);
        assert_eq!(run(by("/db")), ["0003"]);
        assert_eq!(run(by("c0ffee")), ["0001", "0002", "0004"]);
        assert_eq!(run(by("d")), ["0003"]); // id prefix of d00d02
        assert!(run(by("we")).is_empty()); // names match exactly, not by prefix
        assert!(run(by("")).is_empty());
        let img = Filter {
            image: Some("postgres".into()),
            ..Filter::default()
        };
        assert_eq!(run(img), ["0003"]);
        let cat = Filter {
            category: Some("added-binary".parse().unwrap()),
            ..Filter::default()
        };
        assert_eq!(run(cat), ["0002"]);
        let text = Filter {
            category: Some("MALICIOUS".parse().unwrap()),
            ..Filter::default()
        };
        assert_eq!(run(text), ["0001", "0004"]);
        let sev = Filter {
            severity: Some(Severity::High),
            ..Filter::default()
        };
        assert_eq!(run(sev), ["0001", "0003", "0004"]);
        let since = Filter {
            since: Some(t("2026-11-26T15:02:00Z")),
            container: Some("web".into()),
            ..Filter::default()
        };
        assert_eq!(run(since), ["0002", "0004"]);
    }

    #[test]
    fn durations_and_since() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        for bad in ["", "m", "10", "10x", "-1m", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let now = t("2026-11-26T16:00:00Z");
        assert_eq!(
            parse_since_at("10m", now).unwrap(),
            t("2026-11-26T15:50:00Z")
        );
        assert_eq!(
            parse_since_at("1d", now).unwrap(),
            t("2026-11-25T16:00:00Z")
        );
        assert_eq!(
            parse_since_at("2026-11-26T17:00:00+01:00", now).unwrap(),
            t("2026-11-26T16:00:00Z")
        );
        let err = parse_since_at("yesterday", now).unwrap_err();
        assert!(err.to_string().contains("10m"), "{err}");
        assert!(parse_since_at("18446744073709551615w", now).is_err());
    }

    #[test]
    fn related_same_container_within_window() {
        let all = sample();
        let w = Duration::from_secs(5 * 60);
        let r = related(&all, "aaaa0000000000000000000000000001", w).unwrap();
        assert_eq!(ids(r), ["0002"]); // 0003 other container, 0004 an hour later
        let r = related(
            &all,
            "aaaa0000000000000000000000000002",
            Duration::from_secs(3600),
        )
        .unwrap();
        assert_eq!(ids(r), ["0001", "0004"]);
        let r = related(&all, "bbbb", w).unwrap();
        assert!(r.is_empty());
        assert!(matches!(
            related(&all, "aaaa", w),
            Err(QueryError::AmbiguousFinding { count: 2, .. })
        ));
        assert!(matches!(
            related(&all, "ffff", w),
            Err(QueryError::UnknownFinding { .. })
        ));
        assert!(matches!(
            related(&all, "", w),
            Err(QueryError::UnknownFinding { .. })
        ));
    }

    #[test]
    fn related_by_container_id_when_resource_differs() {
        let mut all = sample();
        all[1].resource_name.clear();
        let r = related(
            &all,
            "aaaa0000000000000000000000000001",
            Duration::from_secs(300),
        )
        .unwrap();
        assert_eq!(ids(r), ["0002"]);
        all[1].set_prop(props::CONTAINER_ID, "other");
        let r = related(
            &all,
            "aaaa0000000000000000000000000001",
            Duration::from_secs(300),
        )
        .unwrap();
        assert!(r.is_empty());
    }

    #[test]
    fn table_is_aligned_truncated_and_sanitized() {
        let mut all = sample();
        all[0].processes[0].binary.as_mut().unwrap().path =
            format!("/very/long/{}/evil\x1b[31m", "d".repeat(60));
        all[2].containers[0].uri = format!("registry.example.com/{}:tag", "x".repeat(80));
        let mut out = Vec::new();
        render_table(&all, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("FINDING ID     TIME"), "{}", lines[0]);
        let col = |l: &str, name: &str| -> usize {
            let h = lines[0].find(name).unwrap();
            // char offset of the header must equal char offset of the cell start
            l.char_indices()
                .nth(lines[0][..h].chars().count())
                .unwrap()
                .0
        };
        for l in &lines[1..] {
            let at = col(l, "ACTION");
            assert_eq!(&l[at..], "BLOCKED", "{l}");
            assert!(
                l.starts_with("aaaa00000000")
                    || l.starts_with("bbbb00000000")
                    || l.starts_with("cccc00000000")
            );
        }
        assert!(lines[1].contains("2026-11-26 15:00:00"));
        assert!(lines[1].contains("   …dddd"), "{}", lines[1]);
        assert!(
            lines[1].contains("dddd/evil?[31m   BLOCKED"),
            "{}",
            lines[1]
        );
        assert!(!text.contains('\x1b'));
        assert!(lines[3].contains("registry.example.com/xxx"));
        assert!(lines[3].contains("x…"), "{}", lines[3]);
        assert!(lines[1].contains("Execution: Built in Malicious Binary Executed"));
        assert!(lines[1].contains("CRITICAL"));
        // empty input: header only
        let mut out = Vec::new();
        render_table(std::iter::empty(), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
    }

    #[test]
    fn reads_rotated_files_and_skips_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("findings.jsonl");
        let all = sample();
        let line = |f: &Finding| serde_json::to_string(f).unwrap() + "\n";
        // newest in path, older in .1, oldest in .2; a stray non-numeric suffix is ignored
        fs::write(rotated_path(&path, 2), line(&all[0])).unwrap();
        fs::write(
            rotated_path(&path, 1),
            format!("{}not json\n\n{}", line(&all[1]), line(&all[2])),
        )
        .unwrap();
        let long = format!("{{\"x\":\"{}\"}}\n", "y".repeat(MAX_READ_LINE));
        fs::write(&path, format!("{long}{}{{\"name\":\"torn", line(&all[3]))).unwrap();
        fs::write(dir.path().join("findings.jsonl.bak"), line(&all[0])).unwrap();

        let got = read_findings(&path).unwrap();
        assert_eq!(ids(&got.findings), ["0001", "0002", "0003", "0004"]);
        assert_eq!(
            got.files,
            [rotated_path(&path, 2), rotated_path(&path, 1), path.clone()]
        );
        let skipped: Vec<(String, usize)> = got
            .skipped
            .iter()
            .map(|s| {
                (
                    s.file.file_name().unwrap().to_string_lossy().into_owned(),
                    s.line,
                )
            })
            .collect();
        assert_eq!(
            skipped,
            [
                ("findings.jsonl.1".to_owned(), 2),
                ("findings.jsonl".to_owned(), 1),
                ("findings.jsonl".to_owned(), 3)
            ]
        );
        assert!(got.skipped[1].reason.contains("longer than"));
    }

    #[test]
    fn missing_file_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_findings(dir.path().join("nope.jsonl")).unwrap_err();
        assert!(matches!(err, QueryError::NoFindings { .. }));
        assert!(err.to_string().contains("nope.jsonl"), "{err}");
    }

    #[test]
    fn run_query_end_to_end_through_a_file_sink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f/findings.jsonl");
        let sink = FileSink::open(&path).unwrap();
        for f in sample() {
            sink.emit(&f).unwrap();
        }
        let mut args = QueryArgs::new(&path);
        args.json = true;
        args.filter.container = Some("web".into());
        let mut out = Vec::new();
        let rep = run_query(&args, &mut out).unwrap();
        assert_eq!((rep.read, rep.shown), (4, 3));
        assert!(rep.skipped.is_empty());
        let back: Vec<Finding> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            back,
            [
                sample()[0].clone(),
                sample()[1].clone(),
                sample()[3].clone()
            ]
        );

        let mut args = QueryArgs::new(&path);
        args.related = Some("aaaa0000000000000000000000000002".into());
        let mut out = Vec::new();
        let rep = run_query(&args, &mut out).unwrap();
        assert_eq!(rep.shown, 2);
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert!(rows[0].starts_with("aaaa00000000"));
        assert!(rows[0].contains("15:00:00") && rows[1].contains("15:02:00"));

        args.related = Some("zzzz".into());
        assert!(matches!(
            run_query(&args, &mut Vec::new()),
            Err(QueryError::UnknownFinding { .. })
        ));
    }
}
