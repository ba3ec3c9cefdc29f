//! The supervisor's health as `scrun state` shows it (annotation `io.github.scrun.supervisor`).
//! If the supervisor is gone, the kernel fails every exec in the container with ENOSYS: users must
//! be able to see that.

use std::fs;

use crate::scrun_dir::ScrunDir;

pub fn mark(sdir: &ScrunDir, status: &str) {
    let _ = fs::write(sdir.status_file(), status);
}

fn alive(pid: i32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("supervise"))
        .unwrap_or(false)
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
    let worker = fs::read_to_string(sdir.worker_pid())
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .filter(|w| alive(*w));
    Some(match pid {
        Some(p) if alive(p) => match worker {
            Some(w) => format!("{status} (keeper pid {p}, worker pid {w})"),
            None => {
                format!("{status} (keeper pid {p}, worker down: execs wait until it is restarted)")
            }
        },
        Some(p) if status.starts_with("exited") => format!("{status} (pid {p})"),
        Some(p) => format!("dead (pid {p}): execs in this container fail with ENOSYS"),
        None => "not started".to_string(),
    })
}
