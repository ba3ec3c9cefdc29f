#!/usr/bin/env python3
"""Interleaved timing harness for bench/lifecycle.sh and bench/execstorm.sh.

Runs each runtime CLI with posix_spawn + wait4: wall time (perf_counter around spawn..reap), CPU
time (ru_utime + ru_stime of the CLI and every child it waited for) and peak RSS (ru_maxrss, the
max over the same tree). The harness is a child subreaper, so processes that a runtime leaves
behind (scrun's detached supervisor, a container init after `create` exits) are re-parented to it;
they are reaped here and a process whose comm is `scrun` (or `exe`) is accounted as the supervisor (its CPU
and ru_maxrss), everything else as the container. Rows go to a CSV file.
"""
import argparse, csv, ctypes, glob, json, os, re, sys, time

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")

DEVNULL = "/dev/null"
TMP = "/tmp"


class Runtime:
    def __init__(self, spec, state_base, scrun_run_dir):
        # name=binary[,config]
        name, rest = spec.split("=", 1)
        parts = rest.split(",")
        self.name, self.bin = name, parts[0]
        self.config = parts[1] if len(parts) > 1 else None
        self.root = os.path.join(state_base, name)
        os.makedirs(self.root, exist_ok=True)
        self.env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        self.is_scrun = self.config is not None
        if self.is_scrun:
            self.env["SCRUN_CONFIG"] = self.config
            self.env["SCRUN_RUN_DIR"] = scrun_run_dir

    def argv(self, *args):
        return [self.bin, "--root", self.root, *args]


orphans = []  # (comm, rusage) reaped since last collect()


def reap_orphans(block_until=None, want_none_alive=False):
    """Reap re-parented children. If block_until is set, keep polling until then or until no
    child is left."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None:
            if block_until is None or time.monotonic() >= block_until:
                return
            time.sleep(0.002)
            continue
        pid = info.si_pid
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
        except OSError:
            comm = "?"
        _, _, ru = os.wait4(pid, 0)
        orphans.append((comm, ru))
        if os.environ.get("BENCH_DEBUG"):
            sys.stderr.write(f"[reaped {pid} {comm}]\n")


def collect():
    """Split reaped orphans into (supervisor cpu ms, supervisor maxrss KiB, count)."""
    global orphans
    cpu, rss, n = 0.0, 0, 0
    for comm, ru in orphans:
        if comm in ("exe", "scrun"):  # `scrun supervise` (older builds exec it as /proc/self/exe)
            cpu += (ru.ru_utime + ru.ru_stime) * 1000
            rss = max(rss, ru.ru_maxrss)
            n += 1
    orphans = []
    return cpu, rss, n


RUSAGE_RUN = None  # set in main(): path of the compiled rusage-run helper


def timed(argv, env, stdout=DEVNULL):
    """Run argv under rusage-run (fork+exec+wait4 in a small static parent)."""
    res = os.path.join(TMP, "rusage.txt")
    fa = [
        (os.POSIX_SPAWN_OPEN, 0, DEVNULL, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, stdout + ".err" if stdout != DEVNULL else DEVNULL,
         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    pid = os.posix_spawn(RUSAGE_RUN, [RUSAGE_RUN, res, *argv], env, file_actions=fa)
    _, status, _ = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"rusage-run failed for {argv}")
    wall_ns, ut, stt, rss, code = (int(x) for x in open(res).read().split())
    return {"wall_ms": wall_ns / 1e6, "cpu_ms": (ut + stt) / 1000, "maxrss_kib": rss, "rc": code}


def untimed(argv, env):
    import subprocess
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)


def wait_stopped(rt, cid, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        reap_orphans()
        r = untimed(rt.argv("state", cid), rt.env)
        if r.returncode == 0:
            try:
                if json.loads(r.stdout).get("status") == "stopped":
                    return True
            except ValueError:
                pass
        else:
            return False
        time.sleep(0.005)
    return False


def sup_vmhwm(scrun_run_dir):
    """VmHWM (KiB) of the live scrun supervisor(s) under our run dir (max), or 0."""
    best = 0
    for pf in glob.glob(os.path.join(scrun_run_dir, "*", "sup.pid")):
        try:
            pid = int(open(pf).read().strip())
            st = open(f"/proc/{pid}/status").read()
        except (OSError, ValueError):
            continue
        m = re.search(r"VmHWM:\s+(\d+) kB", st)
        if m:
            best = max(best, int(m.group(1)))
    return best


def cpu_busy(interval=0.5):
    """Share of non-idle CPU time over interval, all CPUs (from /proc/stat)."""
    def snap():
        v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return 0.0 if t1 == t0 else 1 - (i1 - i0) / (t1 - t0)


QUIET = (0.15, 0.0)  # (busy threshold, max seconds to wait); set in main()


def wait_quiet():
    """Wait (bounded) until the machine is quiet; returns the last busy share measured."""
    thr, limit = QUIET
    if limit <= 0:
        return -1.0
    end = time.monotonic() + limit
    while True:
        b = cpu_busy()
        if b <= thr or time.monotonic() >= end:
            return b


def order(runtimes, rnd):
    # ABBA: forward on even rounds, reversed on odd ones (crun first in round 0).
    return runtimes if rnd % 2 == 0 else list(reversed(runtimes))


def check(res, what, errfile=None):
    if res["rc"] != 0:
        msg = f"{what} failed with exit code {res['rc']}"
        if errfile and os.path.exists(errfile):
            msg += ": " + open(errfile).read()[-2000:]
        sys.exit(msg)


def lifecycle(a, runtimes, w):
    scrun_run_dir = a.scrun_run_dir
    for rnd in range(-a.warmup, a.rounds):
        busy = wait_quiet()
        for rt in order(runtimes, rnd):
            base = {"busy": round(busy, 3), "bench": "lifecycle", "variant": a.variant, "round": rnd, "runtime": rt.name}
            # 1. run
            cid = f"b{os.getpid()}-{rt.name}-{rnd + a.warmup}-r"
            time.sleep(a.gap)
            errf = os.path.join(a.tmp, "last.out")
            r = timed(rt.argv("run", "--bundle", a.bundle, cid), rt.env, errf)
            check(r, f"{rt.name} run", errf + ".err")
            reap_orphans(block_until=time.monotonic() + 3.0) if rt.is_scrun else reap_orphans()
            scpu, srss, _ = collect()
            rows = [dict(base, phase="run", **r, sup_cpu_ms=scpu, sup_maxrss_kib=srss, sup_vmhwm_kib=0)]
            # 2. create / start / delete
            cid = f"b{os.getpid()}-{rt.name}-{rnd + a.warmup}-c"
            time.sleep(a.gap)
            c = timed(rt.argv("create", "--bundle", a.bundle, cid), rt.env, errf)
            check(c, f"{rt.name} create", errf + ".err")
            hwm = sup_vmhwm(scrun_run_dir) if rt.is_scrun else 0
            time.sleep(a.gap)
            s = timed(rt.argv("start", cid), rt.env, errf)
            check(s, f"{rt.name} start", errf + ".err")
            if not wait_stopped(rt, cid):
                sys.exit(f"{rt.name}: container {cid} did not stop")
            if rt.is_scrun:
                hwm = max(hwm, sup_vmhwm(scrun_run_dir))
            time.sleep(a.gap)
            d = timed(rt.argv("delete", cid), rt.env, errf)
            check(d, f"{rt.name} delete", errf + ".err")
            reap_orphans(block_until=time.monotonic() + 3.0) if rt.is_scrun else reap_orphans()
            scpu, srss, _ = collect()
            for ph, x in (("create", c), ("start", s), ("delete", d)):
                rows.append(dict(base, phase=ph, **x, sup_cpu_ms=0, sup_maxrss_kib=0, sup_vmhwm_kib=0))
            rows.append(dict(base, phase="create+start+delete",
                             wall_ms=c["wall_ms"] + s["wall_ms"] + d["wall_ms"],
                             cpu_ms=c["cpu_ms"] + s["cpu_ms"] + d["cpu_ms"],
                             maxrss_kib=max(c["maxrss_kib"], s["maxrss_kib"], d["maxrss_kib"]),
                             rc=0, sup_cpu_ms=scpu, sup_maxrss_kib=srss, sup_vmhwm_kib=hwm))
            if rnd >= 0:
                for row in rows:
                    w.writerow(row)
        sys.stderr.write(f"\r[bench] lifecycle {a.variant}: round {rnd + 1}/{a.rounds}   ")
    sys.stderr.write("\n")


def execstorm(a, runtimes, w):
    import shutil
    for rnd in range(-a.warmup, a.rounds):
        busy = wait_quiet()
        for rt in order(runtimes, rnd):
            env = dict(rt.env)
            if rt.name.endswith("-cold"):
                # Fresh on-disk hash cache for every run: the first exec of each file hashes it.
                cold = os.path.join(a.tmp, "coldcache")
                shutil.rmtree(cold, ignore_errors=True)
                os.makedirs(cold)
                env["SCRUN_CONFIG"] = rt.config
            cid = f"s{os.getpid()}-{rt.name}-{rnd + a.warmup}"
            out = os.path.join(a.tmp, "storm.out")
            time.sleep(a.gap)
            r = timed(rt.argv("run", "--bundle", a.bundle, cid), env, out)
            check(r, f"{rt.name} run (exec storm)", out + ".err")
            reap_orphans(block_until=time.monotonic() + 3.0) if rt.is_scrun else reap_orphans()
            scpu, srss, _ = collect()
            text = open(out).read()
            m = re.search(r"storm_ns=(\d+)", text)
            if not m:
                sys.exit(f"{rt.name}: no storm_ns in output: {text[-500:]!r} {open(out + '.err').read()[-1000:]}")
            ns = int(m.group(1))
            fm = re.search(r"failed=(\d+)", text)
            if fm and int(fm.group(1)) != 0:
                sys.exit(f"{rt.name}: {fm.group(1)} of {a.n} execs failed inside the storm: "
                         f"{open(out + '.err').read()[-1000:]}")
            if rnd >= 0:
                w.writerow({"busy": round(busy, 3), "bench": "execstorm", "variant": a.variant, "round": rnd, "runtime": rt.name,
                            "phase": "storm", "wall_ms": r["wall_ms"], "cpu_ms": r["cpu_ms"],
                            "maxrss_kib": r["maxrss_kib"], "rc": r["rc"], "sup_cpu_ms": scpu,
                            "sup_maxrss_kib": srss, "sup_vmhwm_kib": 0,
                            "storm_ns": ns, "per_exec_us": ns / a.n / 1000})
        sys.stderr.write(f"\r[bench] execstorm: round {rnd + 1}/{a.rounds}   ")
    sys.stderr.write("\n")


FIELDS = ["bench", "variant", "round", "runtime", "phase", "wall_ms", "cpu_ms", "maxrss_kib", "rc",
          "sup_cpu_ms", "sup_maxrss_kib", "sup_vmhwm_kib", "storm_ns", "per_exec_us", "busy"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bench", choices=["lifecycle", "execstorm"])
    p.add_argument("--bundle", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--variant", default="")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--gap", type=float, default=0.1)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--scrun-run-dir", required=True)
    p.add_argument("--rt", action="append", required=True, help="name=binary[,scrun-config]")
    p.add_argument("--rusage-run", required=True)
    p.add_argument("--quiet", type=float, default=0.15, help="busy share to wait for before a round")
    p.add_argument("--quiet-max", type=float, default=0.0, help="max seconds to wait (0: no wait)")
    a = p.parse_args()
    global RUSAGE_RUN, TMP, QUIET
    QUIET = (a.quiet, a.quiet_max)
    RUSAGE_RUN, TMP = a.rusage_run, a.tmp
    runtimes = [Runtime(s, os.path.join(a.tmp, "state"), a.scrun_run_dir) for s in a.rt]
    new = not os.path.exists(a.out)
    with open(a.out, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        if new:
            w.writeheader()
        (lifecycle if a.bench == "lifecycle" else execstorm)(a, runtimes, w)


if __name__ == "__main__":
    main()
