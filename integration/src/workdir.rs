//! Private scratch directories that clean up after themselves, even after a crash.
//!
//! A [`Workdir`] is `/tmp/scrun-it-<tag>-XXXXXX` with an `owner` file naming the test process.
//! Engines write their pid into `pids/<name>.pid` below it. [`cleanup`] stops those engines,
//! kills every process still referring to the directory, unmounts everything below it (deepest
//! first, `MNT_DETACH`) and removes it. It runs on drop, from the reaper process (for engines
//! kept in a `static`, which are never dropped), and from [`sweep_stale`] for leftovers of runs
//! that crashed.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{Error, Result, io};

/// Every workdir's name starts with this, under the system temp dir.
pub const PREFIX: &str = "scrun-it-";

/// A private scratch directory; see the module docs.
#[derive(Debug)]
pub struct Workdir {
    path: PathBuf,
    reaper: Option<(Child, ChildStdin)>,
}

impl Workdir {
    /// Sweep stale workdirs, then create a new one named after `tag`.
    pub fn new(tag: &str) -> Result<Workdir> {
        sweep_stale();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{tag}-"))
            .tempdir_in("/tmp")
            .map_err(io("create temp dir in", "/tmp"))?;
        let path = dir.keep();
        let me = std::process::id();
        let owner = format!("{me} {}\n", start_time(me).unwrap_or_default());
        // Written whole, then renamed into place: a sweep running in a parallel test reads an
        // empty or partial owner file as stale and would remove this directory under us.
        let partial = path.join("owner.partial");
        fs::write(&partial, owner).map_err(io("write owner file in", &path))?;
        fs::rename(&partial, path.join("owner")).map_err(io("rename owner file in", &path))?;
        fs::create_dir(path.join("pids")).map_err(io("create pids dir in", &path))?;
        Ok(Workdir { path, reaper: None })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path().join(rel)`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// Where an engine called `name` must write its pid so that cleanup stops it first.
    pub fn pidfile(&self, name: &str) -> PathBuf {
        self.path.join("pids").join(format!("{name}.pid"))
    }

    /// Start the reaper: a process that cleans this directory up when this process exits without
    /// dropping the workdir (engines shared through a `static` are never dropped).
    pub fn guard_with_reaper(&mut self) -> Result<()> {
        let exe = reaper_path()?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open("/tmp/scrun-it-reaper.log")
            .map_err(io("open", "/tmp/scrun-it-reaper.log"))?;
        let mut cmd = Command::new(&exe);
        cmd.arg(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            command: exe.display().to_string(),
            source,
        })?;
        let stdin = child.stdin.take().ok_or_else(|| Error::Spawn {
            command: exe.display().to_string(),
            source: std::io::Error::other("no stdin pipe"),
        })?;
        self.reaper = Some((child, stdin));
        Ok(())
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        for problem in cleanup(&self.path) {
            eprintln!("scrun-it cleanup of {}: {problem}", self.path.display());
        }
        if let Some((mut child, stdin)) = self.reaper.take() {
            drop(stdin);
            let _ = crate::process::wait_until(&mut child, Instant::now() + Duration::from_secs(5));
        }
    }
}

/// The reaper binary: `$SCRUN_IT_REAPER`, else `scrun-it-reaper` next to or above the test binary.
pub fn reaper_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SCRUN_IT_REAPER") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe().map_err(io("find own executable", "/proc/self/exe"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    [dir.join("scrun-it-reaper"), dir.join("../scrun-it-reaper")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Io {
            op: "find scrun-it-reaper (cargo builds it with `cargo test -p scrun-integration`) near",
            path: exe,
            source: std::io::ErrorKind::NotFound.into(),
        })
}

/// Clean up workdirs whose owning process is gone.
pub fn sweep_stale() {
    let Ok(entries) = fs::read_dir("/tmp") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(PREFIX) || !e.path().is_dir() {
            continue;
        }
        let stale = match fs::read_to_string(e.path().join("owner")) {
            Ok(owner) => {
                let mut it = owner.split_whitespace();
                let pid = it.next().and_then(|p| p.parse::<u32>().ok());
                let start = it.next().and_then(|s| s.parse::<u64>().ok());
                match (pid, start) {
                    (Some(pid), Some(start)) => start_time(pid) != Some(start),
                    _ => true,
                }
            }
            // No owner file yet: only stale when old (its creator may be writing it now).
            Err(_) => e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > Duration::from_secs(120)),
        };
        if stale {
            for problem in cleanup(&e.path()) {
                eprintln!("scrun-it sweep of {}: {problem}", e.path().display());
            }
        }
    }
}

/// Stop engines, kill processes, unmount and remove `path`. Returns what could not be done.
pub fn cleanup(path: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if !path.exists() {
        return problems;
    }
    let needle = path.to_string_lossy().into_owned();
    // 1. Engines, gracefully: SIGTERM, up to 20 s, then SIGKILL.
    let mut engines = Vec::new();
    if let Ok(rd) = fs::read_dir(path.join("pids")) {
        for e in rd.flatten() {
            let pid = fs::read_to_string(e.path())
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            if let Some(pid) = pid.filter(|&p| refers_to(p, &needle)) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                engines.push(pid);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while engines.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    for &p in engines.iter().filter(|&&p| alive(p)) {
        problems.push(format!("engine pid {p} ignored SIGTERM for 20 s; killed"));
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    // 2. Everything else that still refers to the directory (shims, conmon, containers).
    for _ in 0..3 {
        let victims = processes_referring_to(&needle);
        if victims.is_empty() {
            break;
        }
        for &p in &victims {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while victims.iter().any(|&p| alive(p)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
    }
    // 3. Mounts below it, deepest first.
    for _ in 0..5 {
        let mounts = mounts_below(path);
        if mounts.is_empty() {
            break;
        }
        for m in mounts {
            if let Err(e) = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH) {
                problems.push(format!("umount {}: {e}", m.display()));
            }
        }
    }
    // 4. The tree.
    if let Err(e) = fs::remove_dir_all(path) {
        thread::sleep(Duration::from_millis(200));
        if let Err(e2) = fs::remove_dir_all(path) {
            problems.push(format!("remove: {e}; retry: {e2}"));
        }
    }
    problems
}

/// Mount points at or below `path` in this mount namespace, deepest (and latest) first.
pub fn mounts_below(path: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: Vec<(usize, usize, PathBuf)> = Vec::new();
    for (idx, line) in info.lines().enumerate() {
        let Some(field) = line.split(' ').nth(4) else {
            continue;
        };
        let mp = PathBuf::from(unescape_mountinfo(field));
        if mp.starts_with(path) {
            found.push((mp.components().count(), idx, mp));
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse((f.0, f.1)));
    found.into_iter().map(|(_, _, p)| p).collect()
}

/// Undo mountinfo's octal escapes (`\040` space, `\011`, `\012`, `\134`).
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn alive(pid: i32) -> bool {
    // A zombie is dead for our purposes.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Process start time (clock ticks since boot), field 22 of `/proc/PID/stat`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Does process `pid` mention `needle` in its command line, or live (root or cwd) below it?
fn refers_to(pid: i32, needle: &str) -> bool {
    let mut cmdline = Vec::new();
    if let Ok(mut f) = fs::File::open(format!("/proc/{pid}/cmdline")) {
        let _ = f.read_to_end(&mut cmdline);
    }
    let needle_dir = format!("{needle}/");
    let under = |link: &str| {
        fs::read_link(format!("/proc/{pid}/{link}"))
            .map(|p| {
                let p = p.to_string_lossy().into_owned();
                p == needle || p.starts_with(&needle_dir)
            })
            .unwrap_or(false)
    };
    String::from_utf8_lossy(&cmdline).contains(needle) || under("root") || under("cwd")
}

/// Processes that refer to `needle`, plus all their descendants (a container's processes live in
/// their own mount namespace, where `/proc/PID/root` no longer names the workdir).
fn processes_referring_to(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let pids: Vec<i32> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|&p| p != me && p != 1 && alive(p))
        .collect();
    let parent = |pid: i32| -> Option<i32> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let parents: Vec<(i32, Option<i32>)> = pids.iter().map(|&p| (p, parent(p))).collect();
    let mut victims: Vec<i32> = pids
        .iter()
        .copied()
        .filter(|&p| refers_to(p, needle))
        .collect();
    let mut i = 0;
    while i < victims.len() {
        let v = victims[i];
        for &(child, pp) in &parents {
            if pp == Some(v) && !victims.contains(&child) {
                victims.push(child);
            }
        }
        i += 1;
    }
    victims
}

/// Writes `<wd>/scrun.toml` (findings and hash cache inside the workdir) and returns the
/// `SCRUN_CONFIG` variable that points an engine's scrun at it, so tests never write scrun's
/// system-wide defaults (`/var/log/scrun`, `/var/lib/scrun`).
pub fn scrun_test_config(wd: &Workdir) -> crate::error::Result<(String, String)> {
    let path = wd.join("scrun.toml");
    let text = format!(
        "[findings]\npath = \"{}\"\n[supervisor]\nhash_cache_dir = \"{}\"\n",
        wd.join("findings.jsonl").display(),
        wd.join("hashcache").display()
    );
    std::fs::write(&path, text).map_err(|source| crate::error::Error::Io {
        op: "write",
        path: path.clone(),
        source,
    })?;
    Ok(("SCRUN_CONFIG".to_string(), path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Workdir::new` sweeps stale directories, killing the processes in them: the test that
    /// plants a stale directory must not run while another test of this binary makes a workdir.
    static SWEEPS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo(r"/plain\0"), r"/plain\0");
    }

    #[test]
    fn workdir_is_removed_with_its_mounts() {
        let _one = SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        let wd = Workdir::new("selftest").expect("workdir");
        let path = wd.path().to_path_buf();
        let m = wd.join("m");
        fs::create_dir(&m).expect("mkdir");
        nix::mount::mount(
            Some("tmpfs"),
            &m,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount tmpfs");
        fs::create_dir(m.join("n")).expect("mkdir n");
        nix::mount::mount(
            Some("tmpfs"),
            &m.join("n"),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount nested tmpfs");
        assert_eq!(mounts_below(&path), vec![m.join("n"), m.clone()]);
        drop(wd);
        assert!(!path.exists());
        assert!(mounts_below(&path).is_empty());
    }

    #[test]
    fn stale_dirs_are_swept_and_processes_killed() {
        let _one = SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        let path = PathBuf::from(format!("/tmp/{PREFIX}stale-{}", std::process::id()));
        fs::create_dir_all(path.join("pids")).expect("mkdir");
        // pid 0 never exists: the owner is gone.
        fs::write(path.join("owner"), "0 0\n").expect("owner");
        let mut child = Command::new("sleep")
            .arg("100")
            .current_dir(&path)
            .spawn()
            .expect("sleep");
        // `sh` lives in the dir; its `sleep` child does not (cwd /) and must die with it.
        let mut tree = Command::new("sh")
            .args(["-c", "cd / && sleep 100 & wait"])
            .current_dir(&path)
            .spawn()
            .expect("sh");
        let deadline = Instant::now() + Duration::from_secs(5);
        let children = format!("/proc/{0}/task/{0}/children", tree.id());
        let grandchild = loop {
            let kids = fs::read_to_string(&children).unwrap_or_default();
            if let Some(k) = kids
                .split_whitespace()
                .next()
                .and_then(|k| k.parse::<i32>().ok())
            {
                break k;
            }
            assert!(Instant::now() < deadline, "sh never started its sleep");
            thread::sleep(Duration::from_millis(10));
        };
        sweep_stale();
        assert!(!path.exists());
        let status =
            crate::process::wait_until(&mut child, Instant::now() + Duration::from_secs(5));
        assert!(
            status.is_some_and(|s| !s.success()),
            "sleep in the stale dir was not killed"
        );
        let _ = crate::process::wait_until(&mut tree, Instant::now() + Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(grandchild) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !alive(grandchild),
            "the descendant of a process in the stale dir survived"
        );
    }
}
