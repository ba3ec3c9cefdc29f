//! `scrun kill`: raw signal numbers (real-time ones included, which libcontainer's `Signal` rejects),
//! and the container's status left alone (libcontainer marks it stopped after any signal).

use std::path::Path;

use anyhow::{Context, Result, bail};
use libcgroups::common::{CgroupManager, FreezerState};
use libcontainer::container::ContainerStatus;

use super::load_container;
use super::ps::cgroup_manager;
use crate::cli::Kill;

const NAMES: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// `SIGRTMIN` as the C library exposes it to programs (glibc reserves 32 and 33).
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// Parse `15`, `TERM`, `SIGTERM`, `sigterm`, `RTMIN+3`, `SIGRTMAX-2`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=RTMAX).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal {s:?}: numbers go from 1 to {RTMAX}");
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(&(_, n)) = NAMES.iter().find(|(k, _)| *k == name) {
        return Ok(n);
    }
    let rt = |base: i32, rest: &str| -> Option<i32> {
        let n = if rest.is_empty() {
            base
        } else {
            base + rest.parse::<i32>().ok()?
        };
        (RTMIN..=RTMAX).contains(&n).then_some(n)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        if let Some(n) = rt(RTMIN, rest.trim_start_matches('+')) {
            return Ok(n);
        }
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        if let Some(n) = rest
            .strip_prefix('-')
            .map_or(Some(RTMAX), |r| r.parse::<i32>().ok().map(|d| RTMAX - d))
        {
            if (RTMIN..=RTMAX).contains(&n) {
                return Ok(n);
            }
        }
    }
    bail!("invalid signal {s:?}")
}

pub fn kill(args: Kill, root: &Path) -> Result<()> {
    let signo = parse_signal(&args.signal)?;
    // load_container refreshed the status and checked that the init is really alive.
    let container = load_container(root, &args.container_id)?;
    let status = container.status();
    if args.all {
        let cg = cgroup_manager(&container)?;
        let _ = cg.freeze(FreezerState::Frozen);
        let pids = cg
            .get_all_pids()
            .context("cannot list the container's processes")?;
        for pid in &pids {
            let _ = scrun_kernel::signal::send(pid.as_raw(), signo);
        }
        if status != ContainerStatus::Paused || signo == 9 {
            let _ = cg.freeze(FreezerState::Thawed);
        }
        return Ok(());
    }
    if !matches!(
        status,
        ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
    ) {
        bail!("container {} not running", args.container_id);
    }
    let pid = container
        .pid()
        .context("container init pid not found in state")?;
    match scrun_kernel::signal::send(pid.as_raw(), signo) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            bail!(
                "container {} not running: no such process",
                args.container_id
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot send signal {signo} to {pid}")),
    }
    // A frozen cgroup v1 task cannot die: thaw for SIGKILL, as runc does.
    if status == ContainerStatus::Paused && signo == 9 {
        let _ = cgroup_manager(&container)?.freeze(FreezerState::Thawed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("37").unwrap(), 37);
        assert_eq!(parse_signal("RTMIN+3").unwrap(), 37);
        assert_eq!(parse_signal("SIGRTMAX-2").unwrap(), 62);
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("SIGNOPE").is_err());
    }
}
