//! Threat-intelligence (and allowlist) SHA-256 feeds.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What a feed says about a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelMatch {
    /// The feed's name.
    pub feed: String,
    /// The entry's label (malware family, signature), if any.
    pub label: Option<String>,
}

/// A source of hash verdicts. Kept behind a trait so a compiled, mmap'd index can replace
/// [`FeedSet`] without touching the engine.
pub trait Intel: Send + Sync {
    /// The match for `sha256`, if any.
    fn lookup(&self, sha256: &[u8; 32]) -> Option<IntelMatch>;

    /// Changes whenever the answers may have changed (a reloaded index); callers that cache
    /// answers re-ask when it moves. Sources that never change keep the default.
    fn generation(&self) -> u64 {
        0
    }
}

/// The format of a feed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// CSV if some line contains a `"` and a comma, else a SHA-256 list.
    #[default]
    Auto,
    /// One SHA-256 hex per line, an optional label after whitespace, `#` comments.
    Sha256List,
    /// The MalwareBazaar CSV export.
    MalwarebazaarCsv,
}

/// One feed file to load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSpec {
    /// The file.
    pub path: PathBuf,
    /// The name reported in findings (default: the file stem).
    #[serde(default)]
    pub name: Option<String>,
    /// A label for entries that carry none.
    #[serde(default)]
    pub label: Option<String>,
    /// The file format.
    #[serde(default)]
    pub format: FeedFormat,
}

impl FeedSpec {
    /// A spec for `path` with every other field defaulted.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FeedSpec {
            path: path.into(),
            name: None,
            label: None,
            format: FeedFormat::Auto,
        }
    }

    /// The name reported in findings: `name`, else the file stem.
    pub fn feed_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.path.display().to_string())
        })
    }
}

/// Errors from loading feeds.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The file could not be read.
    #[error(
        "cannot read threat feed {path}: {cause}; check the path in [intel] of the scrun config"
    )]
    Read {
        /// The feed file.
        path: PathBuf,
        /// The IO error.
        cause: std::io::Error,
    },
    /// A line is malformed; nothing of the feed is loaded.
    #[error(
        "threat feed {path} line {line}: {reason}; fix or remove the line (the feed was not loaded)"
    )]
    Malformed {
        /// The feed file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Hashes a SHA-256 key by its first 8 bytes: it already is a uniform hash.
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut b = [0u8; 8];
        let n = bytes.len().min(8);
        b[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(17) ^ u64::from_le_bytes(b);
    }

    fn write_usize(&mut self, _len: usize) {}
}

#[derive(Debug, Clone)]
struct Entry {
    feed: u32,
    label: Option<Arc<str>>,
}

/// All loaded feeds, in memory. The first feed that lists a hash wins.
#[derive(Debug, Default)]
pub struct FeedSet {
    names: Vec<String>,
    entries: HashMap<[u8; 32], Entry, BuildHasherDefault<PrefixHasher>>,
}

impl FeedSet {
    /// An empty set (matches nothing).
    pub fn empty() -> Self {
        FeedSet::default()
    }

    /// Loads every feed; any error fails the whole load (a feed is never half-loaded).
    pub fn load(specs: &[FeedSpec]) -> Result<FeedSet, FeedError> {
        let mut set = FeedSet::default();
        for spec in specs {
            set.load_one(spec)?;
        }
        Ok(set)
    }

    /// Distinct hashes loaded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The feed names, in load order.
    pub fn feed_names(&self) -> &[String] {
        &self.names
    }

    fn load_one(&mut self, spec: &FeedSpec) -> Result<(), FeedError> {
        let default_label: Option<Arc<str>> = spec.label.as_deref().map(Arc::from);
        let feed = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        // Parsed whole before anything is inserted: a feed is never half-loaded.
        let mut parsed: Vec<([u8; 32], Option<Arc<str>>)> = Vec::new();
        parse_feed(spec, &mut |row| {
            let label = match (row.label, &default_label) {
                (Some(l), Some(d)) if l == &**d => Some(Arc::clone(d)),
                (l, _) => l.map(Arc::from),
            };
            parsed.push((row.sha256, label));
        })?;
        self.names.push(spec.feed_name());
        self.entries.reserve(parsed.len());
        for (hash, label) in parsed {
            self.entries.entry(hash).or_insert(Entry { feed, label });
        }
        Ok(())
    }
}

impl Intel for FeedSet {
    fn lookup(&self, sha256: &[u8; 32]) -> Option<IntelMatch> {
        let e = self.entries.get(sha256)?;
        Some(IntelMatch {
            feed: self.names.get(e.feed as usize).cloned().unwrap_or_default(),
            label: e.label.as_deref().map(str::to_owned),
        })
    }
}

/// One entry of a feed, as streamed by [`parse_feed`].
#[derive(Debug)]
pub struct FeedRow<'a> {
    /// 1-based line number.
    pub line: u64,
    /// Bytes of the file consumed so far, this line included.
    pub offset: u64,
    /// The digest.
    pub sha256: [u8; 32],
    /// The entry's label, else the spec's default label.
    pub label: Option<&'a str>,
}

/// Streams one feed's entries with the parsers [`FeedSet::load`] uses (same formats, same
/// errors naming file and line), without holding the file in memory. Used by the compiled index.
pub fn parse_feed(spec: &FeedSpec, row: &mut dyn FnMut(FeedRow<'_>)) -> Result<(), FeedError> {
    let read_err = |source| FeedError::Read {
        path: spec.path.clone(),
        cause: source,
    };
    let format = match spec.format {
        FeedFormat::Auto => detect_format(&spec.path).map_err(read_err)?,
        f => f,
    };
    let mut reader =
        BufReader::with_capacity(1 << 16, std::fs::File::open(&spec.path).map_err(read_err)?);
    let mut buf = String::new();
    let (mut line, mut offset) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                malformed(spec, line as usize + 1, "not valid UTF-8".into())
            } else {
                read_err(e)
            }
        })?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        offset += n as u64;
        let text = buf.strip_suffix('\n').unwrap_or(&buf);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let parsed = match format {
            FeedFormat::MalwarebazaarCsv => parse_csv_line(text),
            _ => parse_list_line(text),
        }
        .map_err(|reason| malformed(spec, line as usize, reason))?;
        if let Some((sha256, label)) = parsed {
            row(FeedRow {
                line,
                offset,
                sha256,
                label: label.as_deref().or(spec.label.as_deref()),
            });
        }
    }
}

fn malformed(spec: &FeedSpec, line: usize, reason: String) -> FeedError {
    FeedError::Malformed {
        path: spec.path.clone(),
        line,
        reason,
    }
}

fn detect_format(path: &Path) -> std::io::Result<FeedFormat> {
    let file = std::fs::File::open(path)?;
    for line in BufReader::new(file).lines() {
        let line = match line {
            Ok(l) => l,
            // Let the real parse report the line number.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => break,
            Err(e) => return Err(e),
        };
        if line.contains('"') && line.contains(',') {
            return Ok(FeedFormat::MalwarebazaarCsv);
        }
    }
    Ok(FeedFormat::Sha256List)
}

/// Parses 64 hex digits (any case).
pub(crate) fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

type Row = Option<([u8; 32], Option<String>)>;

fn parse_list_line(line: &str) -> Result<Row, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (hash, rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    let sha = parse_sha256(hash).ok_or_else(|| format!("{hash:?} is not a SHA-256 hex digest"))?;
    // `sha256sum` output marks binary mode with a leading `*`.
    let rest = rest.trim_start_matches('*');
    Ok(Some((sha, (!rest.is_empty()).then(|| rest.to_owned()))))
}

/// Splits one CSV line: fields separated by commas (spaces around them ignored), optionally
/// quoted with `"`, `""` inside quotes for a quote.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field".into()),
                }
            }
            while chars
                .peek()
                .is_some_and(|c| *c == ' ' || *c == '\t' || *c == '\r')
            {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("unexpected {c:?} after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim().to_owned());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field.trim().to_owned());
        }
    }
}

const MB_SHA256: usize = 1;
const MB_SIGNATURE: usize = 8;

fn parse_csv_line(line: &str) -> Result<Row, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let fields = split_csv(t)?;
    let Some(hash) = fields.get(MB_SHA256) else {
        return Err(format!(
            "expected the MalwareBazaar columns (sha256_hash is column 2), found {} field(s)",
            fields.len()
        ));
    };
    let sha = parse_sha256(hash.trim())
        .ok_or_else(|| format!("sha256_hash {hash:?} is not a SHA-256 hex digest"))?;
    let label = fields
        .get(MB_SIGNATURE)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("n/a"))
        .map(str::to_owned);
    Ok(Some((sha, label)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const H2: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn sha(h: &str) -> [u8; 32] {
        parse_sha256(h).unwrap()
    }

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn sha256_list_with_labels_comments_and_case() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "bad.txt",
            &format!("# comment\n\n{}  Mirai variant\n{H2}\n", H1.to_uppercase()),
        );
        let mut spec = FeedSpec::new(&p);
        spec.label = Some("test-default".into());
        let set = FeedSet::load(&[spec]).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(
            set.lookup(&sha(H1)),
            Some(IntelMatch {
                feed: "bad".into(),
                label: Some("Mirai variant".into())
            })
        );
        assert_eq!(
            set.lookup(&sha(H2)).unwrap().label.as_deref(),
            Some("test-default")
        );
        assert_eq!(set.lookup(&[0u8; 32]), None);
    }

    #[test]
    fn malwarebazaar_csv_auto_detected() {
        let d = tempfile::tempdir().unwrap();
        let body = format!(
            "################################################################\n\
             # MalwareBazaar full data dump (CSV)                           #\n\
             # Number of entries: 2                                         #\n\
             ################################################################\n\
             #\n\
             # \"first_seen_utc\",\"sha256_hash\",\"md5_hash\",\"sha1_hash\",\"reporter\",\"file_name\",\"file_type_guess\",\"mime_type\",\"signature\",\"clamav\",\"vtpercent\",\"imphash\",\"ssdeep\",\"tlsh\"\n\
             \"2024-01-01 00:00:00\", \"{H1}\", \"900150983cd24fb0d6963f7d28e17f72\", \"a9993e364706816aba3e25717850c26c9cd0d89d\", \"abuse_ch\", \"x.elf\", \"elf\", \"application/x-executable\", \"Mirai\", \"n/a\", \"n/a\", \"n/a\", \"n/a\", \"n/a\"\n\
             \"2024-01-01 00:00:01\", \"{H2}\", \"d41d8cd98f00b204e9800998ecf8427e\", \"da39a3ee5e6b4b0d3255bfef95601890afd80709\", \"anon\", \"a, \"\"b\"\".sh\", \"sh\", \"text/plain\", \"n/a\", \"n/a\", \"n/a\", \"n/a\", \"n/a\", \"n/a\"\n"
        );
        let p = write(d.path(), "mb.csv", &body);
        let spec = FeedSpec {
            name: Some("malwarebazaar".into()),
            ..FeedSpec::new(&p)
        };
        let set = FeedSet::load(&[spec]).unwrap();
        assert_eq!(set.len(), 2);
        let m = set.lookup(&sha(H1)).unwrap();
        assert_eq!(
            (m.feed.as_str(), m.label.as_deref()),
            ("malwarebazaar", Some("Mirai"))
        );
        assert_eq!(set.lookup(&sha(H2)).unwrap().label, None);
    }

    #[test]
    fn malformed_line_fails_whole_load_with_line_number() {
        let d = tempfile::tempdir().unwrap();
        let good = write(d.path(), "good.txt", &format!("{H1}\n"));
        let bad = write(d.path(), "bad.txt", &format!("{H2}\n# ok\nnot-a-hash\n"));
        let err = FeedSet::load(&[FeedSpec::new(&good), FeedSpec::new(&bad)]).unwrap_err();
        match &err {
            FeedError::Malformed { path, line, .. } => {
                assert_eq!(path, &bad);
                assert_eq!(*line, 3);
            }
            other => panic!("unexpected {other}"),
        }
        assert!(err.to_string().contains("bad.txt line 3"), "{err}");
        let csv = write(d.path(), "x.csv", "\"a\", \"b\n");
        let err = FeedSet::load(&[FeedSpec::new(&csv)]).unwrap_err();
        assert!(matches!(err, FeedError::Malformed { line: 1, .. }), "{err}");
        let short = write(d.path(), "short.txt", &format!("{}\n", &H1[..63]));
        assert!(FeedSet::load(&[FeedSpec::new(&short)]).is_err());
        let missing = FeedSet::load(&[FeedSpec::new(d.path().join("nope"))]).unwrap_err();
        assert!(matches!(missing, FeedError::Read { .. }));
    }

    #[test]
    fn first_feed_wins_and_spec_deserializes() {
        let d = tempfile::tempdir().unwrap();
        let a = write(d.path(), "a.txt", &format!("{H1} from-a\n"));
        let b = write(d.path(), "b.txt", &format!("{H1} from-b\n"));
        let set = FeedSet::load(&[FeedSpec::new(&a), FeedSpec::new(&b)]).unwrap();
        assert_eq!(set.lookup(&sha(H1)).unwrap().feed, "a");
        assert_eq!(set.feed_names(), ["a", "b"]);
        let spec: FeedSpec =
            toml::from_str("path = \"/x.csv\"\nformat = \"malwarebazaar-csv\"").unwrap();
        assert_eq!(spec.format, FeedFormat::MalwarebazaarCsv);
        assert!(toml::from_str::<FeedSpec>("path = \"/x\"\nformat = \"xml\"").is_err());
    }
}
