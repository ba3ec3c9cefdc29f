//! Whether a container's init is really alive: its pid names a live process (not a zombie) whose
//! start time is the one recorded at create, as runc checks (`InitProcessStartTime`). The recorded
//! status alone can lag (a short-lived container that has just exited) or lie (the pid reused by
//! another process); `state`, `kill`, `delete` and every other verb see the status this gives.

use std::path::Path;

use libcontainer::container::{Container, ContainerStatus};

use crate::scrun_dir::ScrunDir;

use crate::init_record::stat_of;

/// Whether `pid` is the container's live init: present, not a zombie, and (when create recorded
/// it) started at the recorded time.
pub fn init_alive(root: &Path, id: &str, pid: i32) -> bool {
    alive_as_recorded(
        pid,
        crate::init_record::read(&ScrunDir::for_container(root, id)),
    )
}

fn alive_as_recorded(pid: i32, recorded: Option<(i32, u64)>) -> bool {
    let Some((state, start)) = stat_of(pid) else {
        return false;
    };
    if matches!(state, 'Z' | 'X' | 'x') {
        return false;
    }
    // The process with the init's pid must have started when the init did (runc compares the
    // same two numbers).
    recorded.is_none_or(|(_, s)| s == start)
}

/// Mark the container stopped (in memory) when its recorded status says it has a process but that
/// process is gone. Returns whether it did.
pub fn correct(container: &mut Container, root: &Path) -> bool {
    let has_process = matches!(
        container.status(),
        ContainerStatus::Creating
            | ContainerStatus::Created
            | ContainerStatus::Running
            | ContainerStatus::Paused
    );
    if !has_process {
        return false;
    }
    let alive = container
        .pid()
        .is_some_and(|pid| init_alive(root, container.id(), pid.as_raw()));
    if !alive {
        container.set_status(ContainerStatus::Stopped);
    }
    !alive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id() as i32;
        let (state, start) = stat_of(me).unwrap();
        assert_ne!(state, 'Z');
        assert!(alive_as_recorded(me, Some((me, start))));
        assert!(!alive_as_recorded(me, Some((1, start + 7))));
        assert!(
            alive_as_recorded(me, None),
            "nothing recorded: the pid decides"
        );
        assert!(
            !alive_as_recorded(me, Some((me, start + 1))),
            "a reused pid is not the init"
        );
        assert!(!alive_as_recorded(i32::MAX, None), "no such process");
    }

    #[test]
    fn a_zombie_is_not_alive() {
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Not reaped: a zombie once it has exited.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stat_of(pid).is_some_and(|(s, _)| s != 'Z') && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(stat_of(pid).map(|(s, _)| s), Some('Z'));
        assert!(!alive_as_recorded(pid, None));
        drop(child);
    }
}
