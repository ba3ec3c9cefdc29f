//! Where findings go: a JSON-lines file (atomic appends, optional rotation), stdout, a
//! generic writer, or several of these at once.

use std::fs::{self, DirBuilder, File as FsFile, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::fcntl::{Flock, FlockArg};

use crate::model::Finding;

/// The largest line a sink writes, newline excluded. Below `PIPE_BUF`-like limits that
/// matter here: one `write(2)` of < 64 KiB to a regular file opened `O_APPEND` is not
/// interleaved with other appenders.
pub const MAX_LINE: usize = 60 * 1024;

/// Errors from emitting a finding.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The directory of the findings file could not be created.
    #[error(
        "cannot create findings directory {path}: {cause}; check permissions or choose another findings path"
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// The findings file could not be opened.
    #[error(
        "cannot open findings file {path}: {cause}; check permissions or choose another findings path"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// The finding could not be serialized.
    #[error("cannot serialize finding {id}: {cause}")]
    Serialize {
        /// The finding id.
        id: String,
        /// The serializer's error.
        cause: serde_json::Error,
    },
    /// The finding stays larger than [`MAX_LINE`] after truncating args, env and contents.
    #[error(
        "finding {id} is {size} bytes after truncation, more than the {max} byte line limit; shorten its source properties or description"
    )]
    TooLarge {
        /// The finding id.
        id: String,
        /// Serialized size after truncation.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Writing the line failed.
    #[error("cannot append to findings file {path}: {cause}; check free space and permissions")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// Taking the rotation lock failed.
    #[error("cannot lock findings file {path} for rotation: {cause}")]
    Lock {
        /// The file.
        path: PathBuf,
        /// The errno.
        cause: nix::errno::Errno,
    },
    /// Renaming during rotation failed.
    #[error(
        "cannot rotate findings file {from} to {to}: {cause}; check permissions of the findings directory"
    )]
    Rotate {
        /// Rename source.
        from: PathBuf,
        /// Rename target.
        to: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// A webhook URL is not usable.
    #[error("invalid webhook url {url}: {message}")]
    Endpoint {
        /// The URL without path, query or credentials.
        url: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A background thread could not be started.
    #[error("cannot start the {what}: {cause}")]
    Spawn {
        /// The thread.
        what: &'static str,
        /// The OS error.
        cause: io::Error,
    },
    /// A hook pipe could not be set up.
    #[error("cannot make the hook pipe non-blocking: {cause}; pass the write end of a pipe")]
    Pipe {
        /// The errno.
        cause: nix::errno::Errno,
    },
    /// Writing to a writer (stdout, ...) failed.
    #[error("cannot write finding to {target}: {cause}")]
    Writer {
        /// What was written to, e.g. "stdout".
        target: &'static str,
        /// The OS error.
        cause: io::Error,
    },
}

/// Something that takes findings.
pub trait Sink: Send + Sync {
    /// Emits one finding.
    fn emit(&self, finding: &Finding) -> Result<(), SinkError>;
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn emit(&self, finding: &Finding) -> Result<(), SinkError> {
        (**self).emit(finding)
    }
}

impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn emit(&self, finding: &Finding) -> Result<(), SinkError> {
        (**self).emit(finding)
    }
}

/// Serializes `finding` as one JSON line (with `\n`) of at most `max` bytes plus the newline.
///
/// When the finding is too large, a copy is shrunk step by step and re-serialized: file
/// `contents` are cut to 1 KiB, then the environment is dropped, then args are cut (fewer
/// and shorter each step), then `contents` are dropped and `description`/`nextSteps` cut.
/// `argumentsTruncated`/`envVariablesTruncated` are set when args/env lose anything.
pub fn encode_line(finding: &Finding, max: usize) -> Result<Vec<u8>, SinkError> {
    let ser = |f: &Finding| {
        serde_json::to_vec(f).map_err(|source| SinkError::Serialize {
            id: f.id().to_owned(),
            cause: source,
        })
    };
    let mut buf = ser(finding)?;
    if buf.len() > max {
        let mut f = finding.clone();
        for step in SHRINK_STEPS {
            step.apply(&mut f);
            buf = ser(&f)?;
            if buf.len() <= max {
                break;
            }
        }
        if buf.len() > max {
            return Err(SinkError::TooLarge {
                id: finding.id().to_owned(),
                size: buf.len(),
                max,
            });
        }
    }
    buf.push(b'\n');
    Ok(buf)
}

#[derive(Clone, Copy)]
enum Shrink {
    Contents(usize),
    DropEnv,
    Args { count: usize, each: usize },
    Text(usize),
}

const SHRINK_STEPS: [Shrink; 6] = [
    Shrink::Contents(1024),
    Shrink::DropEnv,
    Shrink::Args {
        count: 256,
        each: 1024,
    },
    Shrink::Args {
        count: 32,
        each: 256,
    },
    Shrink::Args { count: 8, each: 64 },
    Shrink::Text(1024),
];

impl Shrink {
    fn apply(self, f: &mut Finding) {
        match self {
            Shrink::Contents(max) => {
                for file in all_files(f) {
                    if let Some(c) = file.contents.as_mut() {
                        truncate_str(c, max);
                    }
                }
            }
            Shrink::DropEnv => {
                for p in &mut f.processes {
                    if !p.env_variables.is_empty() {
                        p.env_variables.clear();
                        p.env_variables_truncated = true;
                    }
                }
            }
            Shrink::Args { count, each } => {
                for p in &mut f.processes {
                    let mut cut = p.args.len() > count;
                    p.args.truncate(count);
                    for a in &mut p.args {
                        cut |= truncate_str(a, each);
                    }
                    p.arguments_truncated |= cut;
                }
            }
            Shrink::Text(max) => {
                for file in all_files(f) {
                    file.contents = None;
                }
                truncate_str(&mut f.description, max);
                truncate_str(&mut f.next_steps, max);
            }
        }
    }
}

fn all_files(f: &mut Finding) -> impl Iterator<Item = &mut crate::model::File> {
    f.processes
        .iter_mut()
        .flat_map(|p| p.binary.iter_mut().chain(p.script.iter_mut()))
        .chain(f.files.iter_mut())
}

/// Cuts `s` to at most `max` bytes on a char boundary; true if it cut anything.
fn truncate_str(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone, Copy)]
struct Rotation {
    max_bytes: u64,
    keep: usize,
}

/// Appends findings as JSON lines to a file, one `write(2)` per finding.
///
/// Several processes (one supervisor per container) may append to the same file: each line
/// is written with a single write on an `O_APPEND` descriptor and is at most [`MAX_LINE`]
/// bytes, so lines never interleave. With [`FileSink::with_rotation`], a writer that would
/// grow the file past `max_bytes` takes an exclusive `flock` on it, checks that nobody
/// rotated it meanwhile, and renames `path.{keep-1}` -> `path.{keep}` ... `path` -> `path.1`.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: Mutex<FsFile>,
    rotation: Option<Rotation>,
}

impl FileSink {
    /// Opens (creating it and its parent directories, mode 0750) `path` for appending
    /// (`O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC`, mode 0640).
    pub fn open(path: impl AsRef<Path>) -> Result<FileSink, SinkError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .map_err(|source| SinkError::CreateDir {
                    path: dir.to_path_buf(),
                    cause: source,
                })?;
        }
        let file = open_append(&path)?;
        Ok(FileSink {
            path,
            file: Mutex::new(file),
            rotation: None,
        })
    }

    /// Rotates the file when a line would make it larger than `max_bytes`, keeping `keep`
    /// old files (`path.1` newest). `keep == 0` discards the old content.
    pub fn with_rotation(mut self, max_bytes: u64, keep: usize) -> FileSink {
        self.rotation = Some(Rotation { max_bytes, keep });
        self
    }

    /// The path findings are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes sure `file` is the current `path` and has room for `incoming` bytes,
    /// rotating under an exclusive flock if it has not.
    fn prepare(&self, file: &mut FsFile, rot: Rotation, incoming: u64) -> Result<(), SinkError> {
        // Bounded: each pass either returns or follows a rotation made by someone else.
        for _ in 0..8 {
            if !self.is_current(file) {
                *file = open_append(&self.path)?;
            }
            if !self.needs_rotation(file, rot, incoming)? {
                return Ok(());
            }
            let dup = file.try_clone().map_err(|source| SinkError::Open {
                path: self.path.clone(),
                cause: source,
            })?;
            let guard = Flock::lock(dup, FlockArg::LockExclusive).map_err(|(_, source)| {
                SinkError::Lock {
                    path: self.path.clone(),
                    cause: source,
                }
            })?;
            // Under the lock: somebody may have rotated while we waited.
            if self.is_current(file) && self.needs_rotation(file, rot, incoming)? {
                self.rotate(rot)?;
                *file = open_append(&self.path)?;
                drop(guard);
                return Ok(());
            }
            drop(guard);
        }
        Ok(())
    }

    fn is_current(&self, file: &FsFile) -> bool {
        match (fs::metadata(&self.path), file.metadata()) {
            (Ok(p), Ok(f)) => p.dev() == f.dev() && p.ino() == f.ino(),
            _ => false,
        }
    }

    fn needs_rotation(
        &self,
        file: &FsFile,
        rot: Rotation,
        incoming: u64,
    ) -> Result<bool, SinkError> {
        let size = file
            .metadata()
            .map_err(|source| SinkError::Write {
                path: self.path.clone(),
                cause: source,
            })?
            .len();
        Ok(size > 0 && size.saturating_add(incoming) > rot.max_bytes)
    }

    fn rotate(&self, rot: Rotation) -> Result<(), SinkError> {
        if rot.keep == 0 {
            return fs::remove_file(&self.path).map_err(|source| SinkError::Rotate {
                from: self.path.clone(),
                to: PathBuf::from("/dev/null"),
                cause: source,
            });
        }
        for i in (1..rot.keep).rev() {
            let from = rotated_path(&self.path, i);
            let to = rotated_path(&self.path, i + 1);
            match fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(SinkError::Rotate {
                        from,
                        to,
                        cause: source,
                    });
                }
            }
        }
        let to = rotated_path(&self.path, 1);
        fs::rename(&self.path, &to).map_err(|source| SinkError::Rotate {
            from: self.path.clone(),
            to,
            cause: source,
        })
    }
}

/// `path.N`, the N-th rotated findings file (1 is the newest).
pub fn rotated_path(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn open_append(path: &Path) -> Result<FsFile, SinkError> {
    // std always adds O_CLOEXEC; append implies O_WRONLY|O_APPEND.
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|source| SinkError::Open {
            path: path.to_path_buf(),
            cause: source,
        })
}

impl Sink for FileSink {
    fn emit(&self, finding: &Finding) -> Result<(), SinkError> {
        let line = encode_line(finding, MAX_LINE)?;
        let mut file = lock(&self.file);
        if let Some(rot) = self.rotation {
            self.prepare(&mut file, rot, line.len() as u64)?;
        }
        // One write(2) of < 64 KiB on an O_APPEND regular file: atomic w.r.t. other appenders.
        file.write_all(&line).map_err(|source| SinkError::Write {
            path: self.path.clone(),
            cause: source,
        })
    }
}

/// Writes each finding as one JSON line to stdout.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn emit(&self, finding: &Finding) -> Result<(), SinkError> {
        let line = encode_line(finding, MAX_LINE)?;
        let stdout = io::stdout();
        let mut out = stdout.lock();
        out.write_all(&line)
            .and_then(|()| out.flush())
            .map_err(|source| SinkError::Writer {
                target: "stdout",
                cause: source,
            })
    }
}

/// Writes each finding as one JSON line to any writer (stderr, a pipe, a buffer in tests).
#[derive(Debug, Default)]
pub struct WriterSink<W> {
    out: Mutex<W>,
}

impl<W: Write + Send> WriterSink<W> {
    /// Wraps `out`.
    pub fn new(out: W) -> Self {
        WriterSink {
            out: Mutex::new(out),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl<W: Write + Send> Sink for WriterSink<W> {
    fn emit(&self, finding: &Finding) -> Result<(), SinkError> {
        let line = encode_line(finding, MAX_LINE)?;
        let mut out = lock(&self.out);
        out.write_all(&line)
            .and_then(|()| out.flush())
            .map_err(|source| SinkError::Writer {
                target: "writer",
                cause: source,
            })
    }
}

/// Emits to every sink; returns the first error after trying them all.
#[derive(Default)]
pub struct MultiSink(pub Vec<Box<dyn Sink>>);

impl Sink for MultiSink {
    fn emit(&self, finding: &Finding) -> Result<(), SinkError> {
        let mut first = None;
        for sink in &self.0 {
            if let Err(e) = sink.emit(finding) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Category;
    use crate::model::{EnvVariable, File, Process};
    use chrono::Utc;
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn finding(tag: &str, arg_bytes: usize) -> Finding {
        let mut f = Finding::new(Category::AddedBinaryExecuted, Utc::now());
        f.set_prop(crate::props::CONTAINER_ID, tag);
        f.processes.push(Process {
            name: "x".into(),
            args: vec!["/bin/x".into(), tag.repeat(arg_bytes / tag.len().max(1))],
            ..Process::default()
        });
        f
    }

    fn read_lines(path: &Path) -> Vec<Finding> {
        let r = BufReader::new(FsFile::open(path).unwrap());
        r.lines()
            .map(|l| {
                let l = l.unwrap();
                serde_json::from_str::<Finding>(&l)
                    .unwrap_or_else(|e| panic!("line does not parse ({e}): {:.200}", l))
            })
            .collect()
    }

    #[test]
    fn file_sink_creates_dirs_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/findings.jsonl");
        let sink = FileSink::open(&path).unwrap();
        sink.emit(&finding("t", 10)).unwrap();
        sink.emit(&finding("u", 10)).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        // umask can only remove bits
        assert_eq!(mode(&path) & !0o640, 0);
        assert_eq!(mode(dir.path().join("a").as_path()) & !0o750, 0);
        let all = read_lines(&path);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].prop_str(crate::props::CONTAINER_ID), Some("t"));
        assert_eq!(all[1].prop_str(crate::props::CONTAINER_ID), Some("u"));
    }

    #[test]
    fn open_fails_with_path_in_message() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let err = FileSink::open(blocker.join("sub/findings.jsonl")).unwrap_err();
        assert!(matches!(err, SinkError::CreateDir { .. }), "{err}");
        assert!(err.to_string().contains("file/sub"), "{err}");
    }

    #[test]
    fn oversized_finding_is_truncated_and_flagged() {
        let mut f = finding("big", 10);
        f.processes[0].args = (0..2000)
            .map(|i| format!("arg{i}-{}", "y".repeat(100)))
            .collect();
        f.processes[0].env_variables = (0..500)
            .map(|i| EnvVariable {
                name: format!("V{i}"),
                val: "z".repeat(200),
            })
            .collect();
        f.processes[0].binary = Some(File {
            path: "/bin/x".into(),
            contents: Some("c".repeat(100_000)),
            ..File::default()
        });
        let line = encode_line(&f, MAX_LINE).unwrap();
        assert!(line.len() <= MAX_LINE + 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let back: Finding = serde_json::from_slice(&line).unwrap();
        let p = &back.processes[0];
        assert!(p.arguments_truncated);
        assert!(p.env_variables_truncated);
        assert!(p.env_variables.is_empty());
        assert!(!p.args.is_empty() && p.args.len() < 2000);
        assert_eq!(p.args[0], "arg0-".to_owned() + &"y".repeat(100));
        assert_eq!(back.id(), f.id());
    }

    #[test]
    fn small_finding_is_untouched_and_multibyte_cut_is_safe() {
        let f = finding("ok", 100);
        let line = encode_line(&f, MAX_LINE).unwrap();
        let back: Finding = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, f);
        assert!(!back.processes[0].arguments_truncated);

        let mut s = "ééé".to_owned(); // 2 bytes each
        assert!(truncate_str(&mut s, 3));
        assert_eq!(s, "é");
    }

    #[test]
    fn unshrinkable_finding_is_an_error() {
        let mut f = finding("p", 1);
        f.set_prop("huge", "h".repeat(2 * MAX_LINE));
        let err = encode_line(&f, MAX_LINE).unwrap_err();
        assert!(matches!(err, SinkError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn concurrent_threads_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("findings.jsonl");
        let threads = 6;
        let per = 40;
        std::thread::scope(|s| {
            for t in 0..threads {
                let path = &path;
                s.spawn(move || {
                    // own sink = own open file description, like separate supervisors
                    let sink = FileSink::open(path).unwrap();
                    for i in 0..per {
                        sink.emit(&finding(&format!("t{t}"), 20_000 + i * 300))
                            .unwrap();
                    }
                });
            }
        });
        let all = read_lines(&path);
        assert_eq!(all.len(), threads * per);
    }

    const CHILD_ENV: &str = "SCRUN_FINDINGS_TEST_WRITER";

    /// Helper run as a child process by `concurrent_processes_never_interleave`.
    #[test]
    fn child_writer() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let (path, tag) = spec.split_once('|').unwrap();
        let sink = FileSink::open(path).unwrap();
        for i in 0..50 {
            sink.emit(&finding(tag, 30_000 + i * 500)).unwrap();
        }
    }

    #[test]
    fn concurrent_processes_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("findings.jsonl");
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..4)
            .map(|i| {
                Command::new(&exe)
                    .args(["--exact", "sink::tests::child_writer", "--test-threads=1"])
                    .env(CHILD_ENV, format!("{}|p{i}", path.display()))
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let all = read_lines(&path);
        assert_eq!(all.len(), 4 * 50);
        for i in 0..4 {
            let tag = format!("p{i}");
            let n = all
                .iter()
                .filter(|f| f.prop_str(crate::props::CONTAINER_ID) == Some(tag.as_str()))
                .count();
            assert_eq!(n, 50, "{tag}");
        }
    }

    #[test]
    fn rotation_keeps_every_line_and_rotates_once_per_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("findings.jsonl");
        let threads = 4;
        let per = 50;
        let max = 8 * 1024;
        std::thread::scope(|s| {
            for t in 0..threads {
                let path = &path;
                s.spawn(move || {
                    let sink = FileSink::open(path).unwrap().with_rotation(max, 1000);
                    for _ in 0..per {
                        sink.emit(&finding(&format!("r{t}"), 900)).unwrap();
                    }
                });
            }
        });
        let mut files = vec![path.clone()];
        let mut n = 1;
        while rotated_path(&path, n).exists() {
            files.push(rotated_path(&path, n));
            n += 1;
        }
        assert!(
            files.len() > 5,
            "expected several rotations, got {}",
            files.len()
        );
        let mut total = 0;
        for f in &files[1..] {
            let lines = read_lines(f);
            // a double rotation would leave an empty or tiny rotated file behind
            let size = fs::metadata(f).unwrap().len();
            assert!(size > max / 2, "{} has only {size} bytes", f.display());
            total += lines.len();
        }
        total += read_lines(&path).len();
        assert_eq!(total, threads * per);
    }

    #[test]
    fn rotation_drops_the_oldest_beyond_keep() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        let sink = FileSink::open(&path).unwrap().with_rotation(1500, 2);
        for i in 0..10 {
            sink.emit(&finding(&format!("k{i}"), 1000)).unwrap();
        }
        // each line is > 750 bytes: one line per file
        assert!(rotated_path(&path, 1).exists());
        assert!(rotated_path(&path, 2).exists());
        assert!(!rotated_path(&path, 3).exists());
        let tag = |p: &Path| {
            read_lines(p)[0]
                .prop_str(crate::props::CONTAINER_ID)
                .unwrap()
                .to_owned()
        };
        assert_eq!(tag(&path), "k9");
        assert_eq!(tag(&rotated_path(&path, 1)), "k8");
        assert_eq!(tag(&rotated_path(&path, 2)), "k7");
    }

    struct Failing(AtomicUsize);
    impl Sink for Failing {
        fn emit(&self, _: &Finding) -> Result<(), SinkError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(SinkError::Writer {
                target: "failing",
                cause: io::Error::other("boom"),
            })
        }
    }

    #[test]
    fn multi_sink_tries_all_and_reports_first_error() {
        let failing = Arc::new(Failing(AtomicUsize::new(0)));
        let buf = Arc::new(WriterSink::new(Vec::new()));
        let multi = MultiSink(vec![Box::new(failing.clone()), Box::new(buf.clone())]);
        let f = finding("m", 10);
        let err = multi.emit(&f).unwrap_err();
        assert!(err.to_string().contains("failing"), "{err}");
        assert_eq!(failing.0.load(Ordering::SeqCst), 1);
        drop(multi);
        let out = Arc::try_unwrap(buf).ok().unwrap().into_inner();
        let back: Finding = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, f);
        assert!(MultiSink::default().emit(&f).is_ok());
    }
}
