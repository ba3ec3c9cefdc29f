#!/usr/bin/env python3
"""Summarise harness.py CSVs as markdown: median [p10-p90] per runtime, and per-round ratios
against crun and runc (the median of the ratios within each round, so slow phases of the machine
hit both sides)."""
import csv, sys
from collections import defaultdict


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def med(xs):
    return pct(xs, 0.5)


def fmt(xs, nd=2):
    if not xs:
        return "–"
    return f"{med(xs):.{nd}f} [{pct(xs, .1):.{nd}f}–{pct(xs, .9):.{nd}f}]"


def ratio(by_round, a, b, key):
    rs = [by_round[r][a][key] / by_round[r][b][key]
          for r in by_round if a in by_round[r] and b in by_round[r] and by_round[r][b][key] > 0]
    if not rs:
        return "–"
    return f"{med(rs):.2f} [{pct(rs, .1):.2f}–{pct(rs, .9):.2f}]"


def load(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            for r in csv.DictReader(f):
                for k in ("wall_ms", "cpu_ms", "maxrss_kib", "sup_cpu_ms", "sup_maxrss_kib",
                          "sup_vmhwm_kib", "per_exec_us"):
                    r[k] = float(r[k]) if r.get(k) not in (None, "") else 0.0
                r["tot_cpu_ms"] = r["cpu_ms"] + r["sup_cpu_ms"]
                rows.append(r)
    return rows


def busy_note(rows):
    b = [float(r["busy"]) for r in rows if r.get("busy") not in (None, "") and float(r["busy"]) >= 0]
    if not b:
        return ""
    return f"; CPU busy before a round (other load on the machine): median {med(b)*100:.0f} %, max {max(b)*100:.0f} %"


def runtimes_in(rows):
    seen = []
    for r in rows:
        if r["runtime"] not in seen:
            seen.append(r["runtime"])
    return seen


def lifecycle(rows):
    out = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        vr = [r for r in rows if r["variant"] == variant]
        rts = runtimes_in(vr)
        n = len({r["round"] for r in vr})
        out.append(f"\n#### lifecycle, {variant} ({n} interleaved rounds{busy_note(vr)})\n")
        out.append("| phase | runtime | wall ms | CPU ms (CLI + waited-for children) | CPU ms incl. reaped supervisor | wall ÷ crun | wall ÷ runc | CPU+sup ÷ crun | CPU+sup ÷ runc |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for phase in ("run", "create", "start", "delete", "create+start+delete"):
            pr = [r for r in vr if r["phase"] == phase]
            by_round = defaultdict(dict)
            for r in pr:
                by_round[r["round"]][r["runtime"]] = r
            for rt in rts:
                x = [r for r in pr if r["runtime"] == rt]
                sup = any(r["sup_cpu_ms"] > 0 for r in x)
                out.append(
                    f"| {phase} | {rt} | {fmt([r['wall_ms'] for r in x])} | {fmt([r['cpu_ms'] for r in x])} | "
                    f"{fmt([r['tot_cpu_ms'] for r in x]) if sup else '='} | "
                    f"{ratio(by_round, rt, 'crun', 'wall_ms')} | {ratio(by_round, rt, 'runc', 'wall_ms')} | "
                    f"{ratio(by_round, rt, 'crun', 'tot_cpu_ms')} | {ratio(by_round, rt, 'runc', 'tot_cpu_ms')} |")
    # memory, over all variants
    out.append("\n#### peak RSS (MiB, median [p10–p90] over all rounds)\n")
    out.append("| runtime | CLI `run` | CLI `create` | CLI `start` | CLI `delete` | supervisor ru_maxrss | supervisor VmHWM before delete |")
    out.append("|---|---|---|---|---|---|---|")
    for rt in runtimes_in(rows):
        x = [r for r in rows if r["runtime"] == rt]
        def m(ph, k="maxrss_kib"):
            v = [r[k] / 1024 for r in x if r["phase"] == ph and r[k] > 0]
            return fmt(v, 1) if v else "–"
        out.append(f"| {rt} | {m('run')} | {m('create')} | {m('start')} | {m('delete')} | "
                   f"{m('create+start+delete', 'sup_maxrss_kib')} | {m('create+start+delete', 'sup_vmhwm_kib')} |")
    return out


def execstorm(rows):
    out = []
    rts = runtimes_in(rows)
    n = len({r["round"] for r in rows})
    by_round = defaultdict(dict)
    for r in rows:
        by_round[r["round"]][r["runtime"]] = r
    out.append(f"\n#### exec storm ({n} interleaved rounds{busy_note(rows)})\n")
    out.append("| variant | µs per fork+exec | ÷ runc (per round) | ÷ crun (per round) | Δ vs runc µs/exec | whole `run` wall ms | CPU ms (runtime + supervisor + workload) | Δ CPU vs runc µs/exec | supervisor ru_maxrss MiB |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for rt in rts:
        x = [r for r in rows if r["runtime"] == rt]
        d = [by_round[k][rt]["per_exec_us"] - by_round[k]["runc"]["per_exec_us"]
             for k in by_round if rt in by_round[k] and "runc" in by_round[k]]
        execs = [float(r["storm_ns"]) / 1000 / r["per_exec_us"] for r in x if r["per_exec_us"] > 0]
        n_exec = med(execs) if execs else 1
        dc = [(by_round[k][rt]["tot_cpu_ms"] - by_round[k]["runc"]["tot_cpu_ms"]) * 1000 / n_exec
              for k in by_round if rt in by_round[k] and "runc" in by_round[k]]
        srss = [r["sup_maxrss_kib"] / 1024 for r in x if r["sup_maxrss_kib"] > 0]
        out.append(
            f"| {rt} | {fmt([r['per_exec_us'] for r in x], 1)} | {ratio(by_round, rt, 'runc', 'per_exec_us')} | "
            f"{ratio(by_round, rt, 'crun', 'per_exec_us')} | {fmt(d, 1) if d else '–'} | {fmt([r['wall_ms'] for r in x], 0)} | "
            f"{fmt([r['tot_cpu_ms'] for r in x], 0)} | {fmt(dc, 1) if dc else '–'} | "
            f"{fmt(srss, 1) if srss else '–'} |")
    return out


def main():
    rows = load(sys.argv[1:])
    lc = [r for r in rows if r["bench"] == "lifecycle"]
    es = [r for r in rows if r["bench"] == "execstorm"]
    out = []
    if lc:
        out += lifecycle(lc)
    if es:
        out += execstorm(es)
    print("\n".join(out))


if __name__ == "__main__":
    main()
