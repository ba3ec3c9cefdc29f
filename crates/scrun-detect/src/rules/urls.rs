//! Offline URL feeds for `Malicious URL Observed`: the URLhaus CSV export
//! (`"id","dateadded","url",...` rows, `#` comments) or one URL a line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Error loading a URL feed.
#[derive(Debug, thiserror::Error)]
#[error("cannot load URL feed {path}: {cause}")]
pub struct UrlFeedError {
    /// The file.
    pub path: PathBuf,
    /// The IO error (in the message, not a `source()`: printed once).
    pub cause: std::io::Error,
}

/// A set of URLs, normalised (scheme and host lower-cased, fragment and trailing `/` dropped).
#[derive(Debug, Default, Clone)]
pub struct UrlSet {
    set: HashSet<String>,
}

/// The normal form URLs are compared in.
pub fn normalize(url: &str) -> String {
    let url = url.trim();
    let url = url.split('#').next().unwrap_or_default();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => (String::from("http"), url),
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = path.trim_end_matches('/');
    format!("{scheme}://{}{path}", host.to_ascii_lowercase())
}

/// The URL of one feed line, if it has one.
fn parse_line(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    if line.starts_with('"') {
        // URLhaus CSV: the third quoted field is the URL. URLs cannot hold `"` unescaped.
        let url = line.split("\",\"").nth(2)?;
        return Some(url.trim_matches('"').to_owned());
    }
    let first = line.split_ascii_whitespace().next()?;
    first.contains("://").then(|| first.to_owned())
}

impl UrlSet {
    /// Loads and merges the feeds.
    pub fn load(paths: &[PathBuf]) -> Result<UrlSet, UrlFeedError> {
        let mut set = UrlSet::default();
        for p in paths {
            set.add_file(p)?;
        }
        Ok(set)
    }

    fn add_file(&mut self, path: &Path) -> Result<(), UrlFeedError> {
        let text = std::fs::read_to_string(path).map_err(|cause| UrlFeedError {
            path: path.to_path_buf(),
            cause,
        })?;
        self.add_text(&text);
        Ok(())
    }

    /// Adds the URLs of a feed's text.
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            if let Some(u) = parse_line(line) {
                self.set.insert(normalize(&u));
            }
        }
    }

    /// True when the feed lists `url`.
    pub fn contains(&self, url: &str) -> bool {
        self.set.contains(&normalize(url))
    }

    /// How many URLs are listed.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlhaus_csv_and_plain_lines() {
        let mut s = UrlSet::default();
        s.add_text(
            "################\n# URLhaus Database Dump (CSV)\n# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n\
             \"3312044\",\"2024-11-20 10:01:02\",\"http://198.51.100.7/bins/x86\",\"online\",\"2024-11-20 10:01:02\",\"malware_download\",\"elf,mirai\",\"https://urlhaus.abuse.ch/url/3312044/\",\"geenensp\"\n",
        );
        s.add_text("https://Evil.Example/Payload.sh/\n# comment\n\nnot a url\n");
        assert_eq!(s.len(), 2);
        assert!(s.contains("http://198.51.100.7/bins/x86"));
        assert!(s.contains("HTTPS://evil.example/Payload.sh"));
        assert!(s.contains("https://evil.example/Payload.sh#frag"));
        assert!(
            !s.contains("https://evil.example/payload.sh"),
            "paths are case-sensitive"
        );
        assert!(!s.contains("http://198.51.100.7/bins/arm"));
    }
}
