#!/usr/bin/env python3
"""The Docker path's cost: a private dockerd with runtimes runc, crun and scrun (audit; enforce by
the `scrun.mode=enforce` label), the debootstrap'd Debian image of the tests, and three measures:

* exec storm inside `docker run`: N x (/bin/true | sh -c : | python3 -c pass), dynamic glibc
  binaries on the overlay rootfs, timed inside the container with `date +%s%N`; interleaved ABBA
  per round, ratios to runc per round;
* `docker run --rm IMAGE /bin/true` end-to-end wall time from the host;
* C concurrent scrun containers x E execs of a binary copied at run time (one *Added Binary
  Executed* finding each): findings counted per container (none may be lost), supervisors'
  total memory (sum of PSS and of RSS of every `scrun supervise` process) while all are alive.

Prints markdown on stdout; progress on stderr. Run by bench/docker.sh.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time


def log(*a):
    print("[docker-bench]", *a, file=sys.stderr, flush=True)


class Dockerd:
    def __init__(self, tmp, scrun, crun, config):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "docker.sock")
        self.logf = open(os.path.join(tmp, "dockerd.log"), "w")
        with open(os.path.join(tmp, "daemon.json"), "w") as f:
            json.dump({"runtimes": {"scrun": {"path": scrun}, "crun": {"path": crun}}}, f)
        env = dict(os.environ, SCRUN_CONFIG=config)
        self.proc = subprocess.Popen(
            ["dockerd", "--config-file", os.path.join(tmp, "daemon.json"),
             "--data-root", os.path.join(tmp, "data"), "--exec-root", os.path.join(tmp, "exec"),
             "--pidfile", os.path.join(tmp, "pids", "dockerd.pid"), "-H", "unix://" + self.sock,
             "--iptables=false", "--ip-masq=false", "--bridge=none", "--shutdown-timeout=2"],
            stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("dockerd exited; see " + self.logf.name)
            if os.path.exists(self.sock) and self.run(["info"], check=False).returncode == 0:
                return
            time.sleep(0.25)
        raise SystemExit("dockerd not ready in 60 s")

    def cmd(self, args):
        return ["docker", "-H", "unix://" + self.sock] + args

    def run(self, args, check=True, timeout=600):
        env = dict(os.environ, DOCKER_CONFIG=os.path.join(self.tmp, "client"),
                   DOCKER_API_VERSION="1.41")
        env.pop("DOCKER_CONTEXT", None)
        p = subprocess.run(self.cmd(args), capture_output=True, text=True, env=env,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise SystemExit(f"docker {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def stop(self):
        ids = self.run(["ps", "-aq"], check=False).stdout.split()
        if ids:
            self.run(["rm", "-f"] + ids, check=False)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# Runtime variants: (name, --runtime, extra docker run flags).
VARIANTS = [
    ("runc", "runc", []),
    ("crun", "crun", []),
    ("scrun-audit", "scrun", []),
    ("scrun-enforce", "scrun", ["--label", "scrun.mode=enforce"]),
]
WORKLOADS = [("/bin/true", "/bin/true"), ("sh -c :", "sh -c :"),
             ("python3 -c pass", "python3 -c pass")]


MOUNTED_HUGETLB = False


def probe_crun(d, image):
    """crun 1.8 refuses hybrid cgroups while a controller (hugetlb here) is only in cgroup2 (perf
    note). With CRUN_FIX_CGROUP=1 the hugetlb v1 hierarchy is mounted for the run (unmounted at
    exit); otherwise crun is left out and the report says why."""
    global MOUNTED_HUGETLB
    p = d.run(["run", "--rm", "--runtime", "crun", image, "/bin/true"], check=False)
    if p.returncode == 0:
        return ""
    if "hybrid mode" in p.stderr and os.environ.get("CRUN_FIX_CGROUP") == "1" \
            and not os.path.ismount("/sys/fs/cgroup/hugetlb"):
        os.makedirs("/sys/fs/cgroup/hugetlb", exist_ok=True)
        subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup",
                        "/sys/fs/cgroup/hugetlb"], check=True)
        MOUNTED_HUGETLB = True
        log("crun refused hybrid cgroups: mounted the hugetlb v1 hierarchy for the run")
        if d.run(["run", "--rm", "--runtime", "crun", image, "/bin/true"], check=False).returncode == 0:
            return "crun needed the hugetlb v1 hierarchy mounted (done for the run, undone after)"
    VARIANTS[:] = [v for v in VARIANTS if v[0] != "crun"]
    return ("crun left out: " + p.stderr.strip().splitlines()[0] +
            " (CRUN_FIX_CGROUP=1 mounts the hugetlb v1 hierarchy for the run)")


def storm_script(cmd, n):
    return (f"t0=$(date +%s%N); i=0; while [ $i -lt {n} ]; do {cmd} || exit 9; i=$((i+1)); done; "
            f"t1=$(date +%s%N); echo $((t1-t0))")


def pct(v, q):
    v = sorted(v)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def fmt_ratio(v):
    return f"{statistics.median(v):.3f} [{pct(v, 0.1):.3f}-{pct(v, 0.9):.3f}]"


def storm(d, image, rounds, n):
    # per workload: per variant: [us per exec per round]
    res = {w: {v[0]: [] for v in VARIANTS} for w, _ in WORKLOADS}
    for r in range(-1, rounds):  # round -1: warm-up, untimed (fills the hash cache)
        order = VARIANTS if r % 2 == 0 else list(reversed(VARIANTS))
        for wname, cmd in WORKLOADS:
            for name, rt, flags in order:
                p = d.run(["run", "--rm", "--runtime", rt] + flags +
                          [image, "sh", "-c", storm_script(cmd, n)])
                ns = int(p.stdout.strip().splitlines()[-1])
                if r >= 0:
                    res[wname][name].append(ns / n / 1000.0)
        log(f"storm round {r + 1}/{rounds} done")
    return res


def latency(d, image, runs):
    res = {v[0]: [] for v in VARIANTS}
    for r in range(-1, runs):
        order = VARIANTS if r % 2 == 0 else list(reversed(VARIANTS))
        for name, rt, flags in order:
            t0 = time.perf_counter()
            d.run(["run", "--rm", "--runtime", rt] + flags + [image, "/bin/true"])
            if r >= 0:
                res[name].append((time.perf_counter() - t0) * 1000.0)
    return res


def supervisors(config):
    """Pids of this run's `scrun supervise` processes (keeper and worker): those whose
    environment names this run's SCRUN_CONFIG (other scrun users on the machine are not ours)."""
    out = []
    mark = ("SCRUN_CONFIG=" + config).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cl = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not cl.startswith("scrun supervise"):
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    out.append(int(pid))
        except OSError:
            continue
    return out


def mem_kib(pid, key):
    path = f"/proc/{pid}/smaps_rollup" if key == "Pss" else f"/proc/{pid}/status"
    field = "Pss:" if key == "Pss" else "VmRSS:"
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def concurrency(d, image, findings, config, containers, execs, timeout):
    script = (f"cp /bin/true /tmp/t-added && i=0; while [ $i -lt {execs} ]; do /tmp/t-added || "
              f"exit 9; i=$((i+1)); done; echo finished; exec sleep 3600")
    before = count_findings(findings)
    ids = []
    t0 = time.perf_counter()
    for i in range(containers):
        p = d.run(["run", "-d", "--runtime", "scrun", image, "sh", "-c", script])
        ids.append(p.stdout.strip())
    started = time.perf_counter() - t0
    want = containers * execs
    deadline = time.time() + timeout
    while time.time() < deadline and sum(count_findings(findings, ids).values()) < want:
        time.sleep(0.5)
    elapsed = time.perf_counter() - t0
    per = count_findings(findings, ids)
    finished = sum(1 for c in ids
                   if "finished" in d.run(["logs", c], check=False).stdout)
    sups = supervisors(config)
    pss = sum(mem_kib(p, "Pss") for p in sups)
    rss = sum(mem_kib(p, "Rss") for p in sups)
    d.run(["rm", "-f"] + ids, check=False)
    got = sum(per.values())
    return {
        "containers": containers, "execs": execs, "want": want, "got": got,
        "lost": want - got, "short_containers": sum(1 for c in ids if per.get(c, 0) != execs),
        "finished": finished, "supervisors": len(sups), "pss_mib": pss / 1024.0,
        "rss_mib": rss / 1024.0, "start_s": started, "elapsed_s": elapsed,
        "other_findings": count_findings(findings) - before - got,
    }


def count_findings(path, ids=None):
    if not os.path.exists(path):
        return {} if ids is not None else 0
    if ids is None:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    want = set(ids)
    per = {}
    with open(path) as f:
        for line in f:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            cid = j.get("sourceProperties", {}).get("scrun_container_id")
            if cid in want and j.get("processes", [{}])[0].get("binary", {}).get("path") == "/tmp/t-added":
                per[cid] = per.get(cid, 0) + 1
    return per


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--scrun", required=True)
    ap.add_argument("--crun", required=True)
    ap.add_argument("--image-tar", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--latency-runs", type=int, default=10)
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--execs", type=int, default=1000)
    ap.add_argument("--timeout", type=int, default=1800)
    a = ap.parse_args()

    findings = os.path.join(a.tmp, "findings.jsonl")
    config = os.path.join(a.tmp, "scrun.toml")
    feed = os.path.join(a.tmp, "feed.txt")
    with open(feed, "w") as f:
        f.write("0000000000000000000000000000000000000000000000000000000000000001\n")
    with open(config, "w") as f:
        f.write(f'mode = "audit"\n[findings]\npath = "{findings}"\n[supervisor]\n'
                f'hash_cache_dir = "{a.tmp}/hashcache"\n[intel]\nfeeds = ["{feed}"]\n')
    d = Dockerd(a.tmp, a.scrun, a.crun, config)
    try:
        image = "scrun-bench/debian:1"
        d.run(["import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               a.image_tar, image])
        crun_note = probe_crun(d, image)
        log(f"exec storm: {a.rounds} rounds x {a.n} execs x {len(WORKLOADS)} workloads")
        st = storm(d, image, a.rounds, a.n)
        storm_findings = count_findings(findings)
        log(f"docker run latency: {a.latency_runs} runs")
        lat = latency(d, image, a.latency_runs)
        log(f"concurrency: {a.containers} containers x {a.execs} execs")
        conc = concurrency(d, image, findings, config, a.containers, a.execs, a.timeout)
    finally:
        d.stop()
        if MOUNTED_HUGETLB:
            subprocess.run(["umount", "/sys/fs/cgroup/hugetlb"], check=False)
            subprocess.run(["rmdir", "/sys/fs/cgroup/hugetlb"], check=False)

    names = [v[0] for v in VARIANTS]
    print(f"### Exec storm inside `docker run` (Debian bookworm minbase, overlay rootfs; "
          f"{a.rounds} rounds x {a.n} execs, ABBA, after an untimed warm-up round)\n")
    print("| workload | " + " | ".join(f"{n} µs/exec" for n in names) +
          " | scrun-audit ÷ runc | scrun-enforce ÷ runc | crun ÷ runc |")
    print("|---" * (len(names) + 4) + "|")
    na = "–"
    for wname, _ in WORKLOADS:
        r = st[wname]
        ratio = {n: [x / y for x, y in zip(r[n], r["runc"])] for n in names}
        print(f"| `{wname}` | " + " | ".join(f"{statistics.median(r[n]):.1f}" for n in names) +
              f" | {fmt_ratio(ratio['scrun-audit'])} | {fmt_ratio(ratio['scrun-enforce'])} | "
              f"{fmt_ratio(ratio['crun']) if 'crun' in ratio else na} |")
    print(f"\nFindings written during the storm (benign image binaries): {storm_findings}\n")
    if crun_note:
        print(f"Note: {crun_note}\n")
    print(f"### `docker run --rm IMAGE /bin/true`, wall ms from the host ({a.latency_runs} runs each, ABBA)\n")
    print("| | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    print("| median [p10-p90] | " + " | ".join(
        f"{statistics.median(lat[n]):.0f} [{pct(lat[n], .1):.0f}-{pct(lat[n], .9):.0f}]" for n in names) + " |")
    print("| ÷ runc (median) | " + " | ".join(
        f"{statistics.median(lat[n]) / statistics.median(lat['runc']):.2f}" for n in names) + " |")
    c = conc
    print(f"\n### {c['containers']} concurrent scrun containers x {c['execs']} execs of a binary added at run time\n")
    print("| findings expected | written | lost | containers short | containers finished | "
          "supervisor processes | supervisors' PSS MiB (per container) | RSS MiB (sum) | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {c['want']} | {c['got']} | **{c['lost']}** | {c['short_containers']} | "
          f"{c['finished']}/{c['containers']} | {c['supervisors']} | "
          f"{c['pss_mib']:.1f} ({c['pss_mib'] / max(c['containers'], 1):.2f}) | {c['rss_mib']:.1f} | "
          f"{c['elapsed_s']:.0f} (starting: {c['start_s']:.0f}) |")
    print(f"\nlost findings: {c['lost']}")
    return 0 if c["lost"] == 0 and c["short_containers"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
