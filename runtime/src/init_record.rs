//! The container's init as `create` recorded it: pid and start time (clock ticks since boot, field
//! 22 of `/proc/<pid>/stat`) in `init.start` in the container's scrun directory. A pid alone can be
//! reused; pid and start time name one process. Read by `state`/`kill`/`delete` (is the init still
//! alive?) and by the keeper of a gate-only supervised container (which holds no seccomp listener
//! whose hang-up would say that the container is gone).

use std::fs;
use std::path::PathBuf;

use crate::scrun_dir::ScrunDir;

fn path(sdir: &ScrunDir) -> PathBuf {
    sdir.path.join("init.start")
}

/// The state letter and start time of a process, from `/proc/<pid>/stat`.
pub fn stat_of(pid: i32) -> Option<(char, u64)> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Fields after the command name (which may hold spaces and parentheses): state is the first,
/// starttime (field 22 of the line) the twentieth.
fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Record the init (after libcontainer built the container).
pub fn record(sdir: &ScrunDir, pid: i32) -> std::io::Result<()> {
    let Some((_, start)) = stat_of(pid) else {
        return Ok(());
    };
    fs::write(path(sdir), format!("{pid} {start}\n"))
}

/// The recorded pid and start time, if `create` got that far.
pub fn read(sdir: &ScrunDir) -> Option<(i32, u64)> {
    let text = fs::read_to_string(path(sdir)).ok()?;
    let (p, s) = text.trim().split_once(' ')?;
    Some((p.parse().ok()?, s.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_names() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some(('S', 98765)));
        assert_eq!(parse_stat("42 (x) Z"), None);
        assert_eq!(parse_stat(""), None);
    }
}
