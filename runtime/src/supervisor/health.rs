//! The supervisor's health as `scrun state` shows it (annotation `io.github.scrun.supervisor`).
//! If the supervisor is gone, the kernel fails every exec in the container with ENOSYS: users must
//! be able to see that.

use std::fs;
use std::path::Path;

use crate::scrun_dir::ScrunDir;

pub fn mark(sdir: &ScrunDir, status: &str) {
    let _ = fs::write(sdir.status_file(), status);
}

/// The pid recorded in `pid_file` if that process is still this container's supervisor (the
/// keeper or the worker): pids get reused, so its command line must name `scrun supervise DIR`.
pub fn live_pid(sdir: &ScrunDir, pid_file: &Path) -> Option<i32> {
    let pid = fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline);
    (cmdline.contains("supervise") && cmdline.contains(&*sdir.path.to_string_lossy()))
        .then_some(pid)
}

/// Records a contained failure of a supervisor thread (a panic while deciding an exec): the
/// count and the last message are shown by `scrun state`.
pub fn note_failure(sdir: &ScrunDir, msg: &str) {
    let path = sdir.failures_file();
    let count = fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.split_once(' ').and_then(|(n, _)| n.parse::<u64>().ok()))
        .unwrap_or(0);
    let _ = fs::write(&path, format!("{} {msg}", count + 1));
}

fn failures(sdir: &ScrunDir) -> Option<String> {
    let s = fs::read_to_string(sdir.failures_file()).ok()?;
    let (n, last) = s.split_once(' ')?;
    Some(format!(
        "; {n} contained supervisor failure(s), last: {last}"
    ))
}

/// `None` when the container has no scrun directory (created by another runtime).
pub fn describe(sdir: &ScrunDir) -> Option<String> {
    if !sdir.exists() {
        return None;
    }
    let status = fs::read_to_string(sdir.status_file()).unwrap_or_default();
    let pid = fs::read_to_string(sdir.supervisor_pid())
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok());
    let keeper = live_pid(sdir, &sdir.supervisor_pid());
    let worker = live_pid(sdir, &sdir.worker_pid());
    let failed = failures(sdir).unwrap_or_default();
    let guard = fs::read_to_string(sdir.guard_file()).unwrap_or_default();
    let guard = if guard.is_empty() {
        String::new()
    } else {
        format!("; exec guard: {}", guard.trim())
    };
    Some(match pid {
        Some(p) if keeper == Some(p) => match worker {
            Some(w) => format!("{status} (keeper pid {p}, worker pid {w}){guard}{failed}"),
            None => {
                format!("{status} (keeper pid {p}, worker down: execs wait until it is restarted)")
            }
        },
        Some(p) if status.starts_with("exited") => format!("{status} (pid {p})"),
        Some(p) => format!("dead (pid {p}): execs in this container fail with ENOSYS"),
        None => "not started".to_string(),
    })
}
