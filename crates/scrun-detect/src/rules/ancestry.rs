//! Per-container process ancestry, filled from the execs scrun sees.
//!
//! Every exec the supervisor lets through is recorded under (pid, start time): the binary, the
//! name it was invoked by and its parent (pid and start time). The parent of a new exec is then
//! one `/proc/<pid>/stat` read away (its ppid and start time) plus one for the parent's start
//! time, which tells a live entry from a reused pid; grandparents and further come from the
//! table alone, each link checked by the start time recorded with it. Only a parent scrun never
//! saw exec (a fork that did not exec, or a process from before the container's supervisor) is
//! read from `/proc` (`exe`, `comm`), and it is then recorded too.

use std::collections::{HashMap, VecDeque};

use super::ProcRef;

/// Default bound of a table.
pub const ANCESTRY_CAPACITY: usize = 8192;
/// Ancestors followed at most.
pub const MAX_DEPTH: usize = 16;

/// What is known about one process image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Start time (clock ticks since boot, `/proc/<pid>/stat` field 22).
    pub start: u64,
    /// The binary (in-container path).
    pub binary: String,
    /// The name it was invoked by.
    pub name: String,
    /// Parent pid (0: none or unknown).
    pub ppid: u32,
    /// The parent's start time (0: unknown).
    pub parent_start: u64,
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
    capacity: usize,
    map: HashMap<u32, Node>,
    order: VecDeque<(u32, u64)>,
    /// `/proc` reads made (for tests and the bench).
    pub proc_reads: u64,
}

impl Default for Ancestry {
    fn default() -> Self {
        Ancestry::new(ANCESTRY_CAPACITY)
    }
}

impl Ancestry {
    /// An empty table of at most `capacity` processes.
    pub fn new(capacity: usize) -> Self {
        Ancestry {
            capacity: capacity.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
            proc_reads: 0,
        }
    }

    /// Records `pid` (started at `start`) as now running `node`.
    pub fn record(&mut self, pid: u32, node: Node) {
        let start = node.start;
        if self.map.insert(pid, node).is_none() {
            self.order.push_back((pid, start));
            while self.map.len() > self.capacity {
                let Some((old, old_start)) = self.order.pop_front() else {
                    break;
                };
                // A pid re-recorded since keeps its newer entry.
                if self.map.get(&old).is_some_and(|n| n.start == old_start) {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// The image of `pid` if the table knows the process started at `start`.
    pub fn get(&self, pid: u32, start: u64) -> Option<&Node> {
        self.map.get(&pid).filter(|n| n.start == start)
    }

    /// Number of processes known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The exec'ing process's (ppid, start) and its ancestors, parent first.
    pub fn lookup(
        &mut self,
        pid: u32,
        reader: &dyn ProcReader,
    ) -> (Option<(u32, u64, u64)>, Vec<ProcRef>) {
        self.proc_reads += 1;
        let Some((ppid, start)) = reader.stat(pid) else {
            return (None, Vec::new());
        };
        if ppid == 0 {
            return (Some((0, start, 0)), Vec::new());
        }
        self.proc_reads += 1;
        let Some((pppid, pstart)) = reader.stat(ppid) else {
            return (Some((ppid, start, 0)), Vec::new());
        };
        let mut out = Vec::new();
        let (mut cur_pid, mut cur_start) = (ppid, pstart);
        if self.get(ppid, pstart).is_none() {
            // Not seen exec: a fork of an image the table may know, or a process from before.
            self.proc_reads += 2;
            let binary = reader.exe(ppid).unwrap_or_default();
            let name = reader.comm(ppid).unwrap_or_default();
            let grand_start = if pppid == 0 {
                0
            } else {
                self.proc_reads += 1;
                reader.stat(pppid).map_or(0, |(_, s)| s)
            };
            self.record(
                ppid,
                Node {
                    start: pstart,
                    binary,
                    name,
                    ppid: pppid,
                    parent_start: grand_start,
                },
            );
        }
        while out.len() < MAX_DEPTH {
            let Some(n) = self.get(cur_pid, cur_start) else {
                break;
            };
            out.push(ProcRef {
                pid: i64::from(cur_pid),
                binary: n.binary.clone(),
                name: n.name.clone(),
            });
            if n.ppid == 0 || n.parent_start == 0 {
                break;
            }
            (cur_pid, cur_start) = (n.ppid, n.parent_start);
        }
        (Some((ppid, start, pstart)), out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Fake {
        procs: HashMap<u32, (u32, u64, String, String)>,
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

    fn node(start: u64, binary: &str, name: &str, ppid: u32, parent_start: u64) -> Node {
        Node {
            start,
            binary: binary.into(),
            name: name.into(),
            ppid,
            parent_start,
        }
    }

    #[test]
    fn known_chain_costs_two_stat_reads() {
        let mut t = Ancestry::default();
        t.record(1, node(100, "/usr/sbin/nginx", "nginx", 0, 0));
        t.record(7, node(200, "/bin/busybox", "sh", 1, 100));
        let mut f = Fake::default();
        f.procs
            .insert(9, (7, 300, "/bin/busybox".into(), "nc".into()));
        f.procs
            .insert(7, (1, 200, "/bin/busybox".into(), "sh".into()));
        let (me, chain) = t.lookup(9, &f);
        assert_eq!(me, Some((7, 300, 200)));
        let names: Vec<_> = chain.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["sh", "nginx"]);
        assert_eq!(*f.reads.borrow(), ["stat 9", "stat 7"]);
    }

    #[test]
    fn reused_pid_is_not_mistaken_for_the_old_process() {
        let mut t = Ancestry::default();
        // pid 7 once ran socat; it died and pid 7 now is a fork of python that never exec'd.
        t.record(7, node(200, "/usr/bin/socat", "socat", 1, 100));
        t.record(1, node(100, "/usr/bin/python3", "python3", 0, 0));
        let mut f = Fake::default();
        f.procs.insert(9, (7, 900, String::new(), String::new()));
        f.procs
            .insert(7, (1, 850, "/usr/bin/python3".into(), "python3".into()));
        f.procs
            .insert(1, (0, 100, "/usr/bin/python3".into(), "python3".into()));
        let (_, chain) = t.lookup(9, &f);
        assert_eq!(chain[0].name, "python3");
        assert_eq!(chain[0].binary, "/usr/bin/python3");
        assert_eq!(chain[1].pid, 1);
        // Now known: a second child of the same fork needs no exe/comm read.
        f.procs.insert(10, (7, 901, String::new(), String::new()));
        f.reads.borrow_mut().clear();
        let (_, chain) = t.lookup(10, &f);
        assert_eq!(chain[0].name, "python3");
        assert_eq!(*f.reads.borrow(), ["stat 10", "stat 7"]);
    }

    #[test]
    fn bounded_and_gone_processes() {
        let mut t = Ancestry::new(2);
        for pid in 1..=5 {
            t.record(pid, node(u64::from(pid), "/bin/x", "x", 0, 0));
        }
        assert_eq!(t.len(), 2);
        assert!(t.get(5, 5).is_some() && t.get(1, 1).is_none());
        let f = Fake::default();
        assert_eq!(t.lookup(42, &f), (None, Vec::new()));
    }
}
