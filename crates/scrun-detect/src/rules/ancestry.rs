//! Per-container process ancestry, filled from the execs scrun sees.
//!
//! Every exec the supervisor lets through is recorded under its pid: the binary, the name it was
//! invoked by, and when it was seen (boot-time clock ticks, the unit of `/proc/<pid>/stat`'s
//! start time). Recording costs no `/proc` read. A lookup reads the exec'ing process's `stat`
//! (its ppid) and the parent's (its start time): the table's entry for the parent pid is that
//! parent only if the parent started no later than the entry was seen: a reused pid belongs to a
//! process that started after the old one exec'd (and died). The check is exact once a lookup
//! has learnt the entry's own start time, which it then keeps. Only a parent scrun never saw
//! exec (a fork that did not exec, or a process from before the supervisor) is read from `/proc`
//! (`exe`, `comm`), and it is then recorded too. Ancestors above the parent (only for rules that
//! ask for them) follow the links lookups learnt (a process's ppid and start time), with one
//! `stat` read per link not learnt yet; a learnt link is not re-read, so a process reparented
//! after its parent died may still show the old parent above it.

use scrun_kernel::bounded::Bounded;

use super::ProcRef;

/// Default bound of a table.
pub const ANCESTRY_CAPACITY: usize = 8192;
/// Ancestors followed at most.
pub const MAX_DEPTH: usize = 16;

/// What is known about the image a pid runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Start time (clock ticks since boot), 0 until a lookup learnt it.
    pub start: u64,
    /// When the exec was seen (clock ticks since boot).
    pub seen_at: u64,
    /// The binary (in-container path).
    pub binary: String,
    /// The name it was invoked by.
    pub name: String,
    /// Parent pid, 0 until known.
    pub ppid: u32,
}

impl Node {
    /// True when this entry describes the process that started at `start`.
    fn is(&self, start: u64) -> bool {
        if self.start != 0 {
            self.start == start
        } else {
            start <= self.seen_at
        }
    }
}

/// Reads `/proc` for what the table does not know (a trait so the logic is testable).
pub trait ProcReader {
    /// (ppid, start time) of `pid`.
    fn stat(&self, pid: u32) -> Option<(u32, u64)>;
    /// The binary of `pid`.
    fn exe(&self, pid: u32) -> Option<String>;
    /// `comm` of `pid`.
    fn comm(&self, pid: u32) -> Option<String>;
}

/// The table: pid -> the newest image seen under that pid, bounded (oldest evicted).
#[derive(Debug)]
pub struct Ancestry {
    map: Bounded<u32, Node>,
}

impl Default for Ancestry {
    fn default() -> Self {
        Ancestry::new(ANCESTRY_CAPACITY)
    }
}

/// The exec'ing process as a lookup found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its parent pid.
    pub ppid: u32,
    /// Its start time.
    pub start: u64,
}

impl Ancestry {
    /// An empty table of at most `capacity` processes.
    pub fn new(capacity: usize) -> Self {
        Ancestry {
            map: Bounded::new(capacity),
        }
    }

    /// Records that `pid` now runs `node`.
    pub fn record(&mut self, pid: u32, node: Node) {
        // Removed first, so that a pid exec'ing again becomes the newest entry.
        self.map.remove(&pid);
        self.map.insert(pid, node);
    }

    /// The image of `pid` if the table's entry is the process that started at `start`.
    pub fn get(&self, pid: u32, start: u64) -> Option<&Node> {
        self.map.peek(&pid).filter(|n| n.is(start))
    }

    /// Number of processes known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Pins the entry of (`pid`, `start`) to that start time and its parent; false when the
    /// table has no entry for that process.
    fn learn(&mut self, pid: u32, start: u64, ppid: u32) -> bool {
        match self.map.get_mut(&pid) {
            Some(n) if n.is(start) => {
                n.start = start;
                n.ppid = ppid;
                true
            }
            _ => false,
        }
    }

    /// The exec'ing process (`pid`) and its ancestors, parent first: only the parent unless
    /// `full`. `now` is the current boot-time tick (for entries recorded from `/proc`).
    pub fn lookup(
        &mut self,
        pid: u32,
        full: bool,
        now: u64,
        reader: &dyn ProcReader,
    ) -> (Option<Found>, Vec<ProcRef>) {
        let Some((ppid, start)) = reader.stat(pid) else {
            return (None, Vec::new());
        };
        let found = Some(Found { ppid, start });
        let mut out = Vec::new();
        let (mut cur, mut cur_start) = (ppid, 0);
        // Walk up: each step needs the current pid's (ppid, start).
        while cur != 0 && out.len() < MAX_DEPTH {
            let known = self.map.get(&cur);
            let (pp, st) = match known {
                // A link the table pinned earlier: no read.
                Some(n) if n.start != 0 && n.start == cur_start && cur_start != 0 => {
                    (n.ppid, n.start)
                }
                _ => match reader.stat(cur) {
                    Some(x) => x,
                    None => break,
                },
            };
            if !self.learn(cur, st, pp) {
                let node = Node {
                    start: st,
                    seen_at: now,
                    binary: reader.exe(cur).unwrap_or_default(),
                    name: reader.comm(cur).unwrap_or_default(),
                    ppid: pp,
                };
                self.record(cur, node);
            }
            let n = self.get(cur, st).expect("learnt or recorded above");
            out.push(ProcRef {
                pid: i64::from(cur),
                binary: n.binary.clone(),
                name: n.name.clone(),
            });
            if !full {
                break;
            }
            // The next link's start time is known only if the table pinned it before.
            cur_start = self.map.peek(&pp).map_or(0, |n| n.start);
            cur = pp;
        }
        (found, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Fake {
        procs: std::collections::HashMap<u32, (u32, u64, String, String)>,
        reads: RefCell<Vec<String>>,
    }

    impl ProcReader for Fake {
        fn stat(&self, pid: u32) -> Option<(u32, u64)> {
            self.reads.borrow_mut().push(format!("stat {pid}"));
            self.procs.get(&pid).map(|p| (p.0, p.1))
        }
        fn exe(&self, pid: u32) -> Option<String> {
            self.reads.borrow_mut().push(format!("exe {pid}"));
            self.procs.get(&pid).map(|p| p.2.clone())
        }
        fn comm(&self, pid: u32) -> Option<String> {
            self.reads.borrow_mut().push(format!("comm {pid}"));
            self.procs.get(&pid).map(|p| p.3.clone())
        }
    }

    fn seen(seen_at: u64, binary: &str, name: &str) -> Node {
        Node {
            start: 0,
            seen_at,
            binary: binary.into(),
            name: name.into(),
            ppid: 0,
        }
    }

    #[test]
    fn parent_from_the_table_costs_two_stat_reads() {
        let mut t = Ancestry::default();
        t.record(1, seen(150, "/usr/sbin/nginx", "nginx"));
        // The shell pid 7 was exec'd (as "sh" through busybox) at tick 210.
        t.record(7, seen(210, "/bin/busybox", "sh"));
        let mut f = Fake::default();
        f.procs
            .insert(9, (7, 300, "/bin/busybox".into(), "nc".into()));
        f.procs
            .insert(7, (1, 200, "/bin/busybox".into(), "ash".into()));
        f.procs
            .insert(1, (0, 100, "/usr/sbin/nginx".into(), "nginx".into()));
        let (me, chain) = t.lookup(9, false, 400, &f);
        assert_eq!(
            me,
            Some(Found {
                ppid: 7,
                start: 300
            })
        );
        assert_eq!(chain.len(), 1);
        assert_eq!((chain[0].pid, chain[0].name.as_str()), (7, "sh"));
        assert_eq!(*f.reads.borrow(), ["stat 9", "stat 7"]);
        // The full chain: nginx from the table, one more stat read.
        f.reads.borrow_mut().clear();
        let (_, chain) = t.lookup(9, true, 400, &f);
        let names: Vec<_> = chain.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["sh", "nginx"]);
        assert_eq!(*f.reads.borrow(), ["stat 9", "stat 7", "stat 1"]);
        // Both links are pinned now: a sibling's full chain reads only its own stat... and its
        // parent's, which the first link needs for the start time.
        f.procs.insert(10, (7, 301, String::new(), String::new()));
        f.reads.borrow_mut().clear();
        let (_, chain) = t.lookup(10, true, 400, &f);
        assert_eq!(chain.len(), 2);
        assert_eq!(*f.reads.borrow(), ["stat 10", "stat 7"]);
    }

    #[test]
    fn reused_pid_is_not_mistaken_for_the_old_process() {
        let mut t = Ancestry::default();
        // pid 7 ran socat, seen at tick 250; it died and pid 7 is now a fork of python (started
        // at tick 850) that never exec'd.
        t.record(7, seen(250, "/usr/bin/socat", "socat"));
        let mut f = Fake::default();
        f.procs.insert(9, (7, 900, String::new(), String::new()));
        f.procs
            .insert(7, (1, 850, "/usr/bin/python3.11".into(), "python3".into()));
        let (_, chain) = t.lookup(9, false, 1000, &f);
        assert_eq!(chain[0].name, "python3");
        assert_eq!(chain[0].binary, "/usr/bin/python3.11");
        // Now recorded: a second child of the same fork needs no exe/comm read.
        f.procs.insert(10, (7, 901, String::new(), String::new()));
        f.reads.borrow_mut().clear();
        let (_, chain) = t.lookup(10, false, 1000, &f);
        assert_eq!(chain[0].name, "python3");
        assert_eq!(*f.reads.borrow(), ["stat 10", "stat 7"]);
    }

    #[test]
    fn bounded_and_gone_processes() {
        let mut t = Ancestry::new(2);
        for pid in 1..=5 {
            t.record(pid, seen(u64::from(pid), "/bin/x", "x"));
        }
        assert_eq!(t.len(), 2);
        assert!(t.get(5, 5).is_some() && t.get(1, 1).is_none());
        let f = Fake::default();
        assert_eq!(t.lookup(42, true, 10, &f), (None, Vec::new()));
    }
}
