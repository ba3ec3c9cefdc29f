#!/usr/bin/env python3
"""The README's cost table, from one bench/run-all.sh report (markdown on stdin or a file).

    summary.py REPORT.md                 # print the table
    summary.py REPORT.md --readme README.md   # replace the table between its markers

Every number comes from the report: the lifecycle (`run` of a `true` container, warm and
isolated), the exec storm of the busybox bundle, and the Docker path (`bench/docker.sh`: the
storm inside `docker run` on the Debian image, `docker run` latency, concurrent containers).
"""
import re
import sys

BEGIN = "<!-- bench-table:begin (bench/run-all.sh -u) -->"
END = "<!-- bench-table:end -->"


def tables(text):
    """(heading, header cells, rows) for every markdown table, with the nearest heading above."""
    out, heading, lines = [], "", text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$", lines[i + 1]):
            header = cells(line)
            rows, j = [], i + 2
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(cells(lines[j]))
                j += 1
            out.append((heading, header, rows))
            i = j
            continue
        i += 1
    return out


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def median(cell):
    """The leading number of a cell like `1.13 [1.12–1.16]`."""
    m = re.match(r"\**\s*(-?[0-9.]+)", cell or "")
    return float(m.group(1)) if m else None


def col(header, *names):
    for n in names:
        for k, h in enumerate(header):
            if h.startswith(n):
                return k
    return None


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def summarize(text):
    rows = []  # (what, audit, enforce, note)
    for heading, header, body in tables(text):
        h = heading.lower()
        if header and header[0] == "phase" and "lifecycle" in h:
            kind = "warm" if h.startswith("lifecycle, warm") else "isolated"
            wc, cc = col(header, "wall ÷ crun"), col(header, "CPU+sup ÷ crun")
            got = {r[1]: r for r in body if r[0] == "run"}
            a, e = got.get("scrun-audit"), got.get("scrun-enforce")
            if a and e:
                rows.append((f"`scrun run` of `true`, wall ÷ crun ({kind})", median(a[wc]), median(e[wc]), "target ≤ 1.3"))
                rows.append((f"`scrun run` of `true`, CPU incl. supervisor ÷ crun ({kind})", median(a[cc]), median(e[cc]), "target ≤ 1.3"))
            r = got.get("runc")
            if a and e and r:
                rc = col(header, "wall ÷ runc")
                rows.append((f"`scrun run` of `true`, wall ÷ runc ({kind})", median(a[rc]), median(e[rc]), ""))
        elif header and header[0] == "runtime" and "supervisor ru_maxrss" in header:
            k = col(header, "supervisor ru_maxrss")
            got = {r[0]: r for r in body}
            a, e = got.get("scrun-audit"), got.get("scrun-enforce")
            if a and e:
                rows.append(("supervisor peak RSS, MiB (the larger of keeper and worker; mostly the binary's shared text)", median(a[k]), median(e[k]), "target ≤ 4"))
        elif header and header[0] == "variant" and "÷ runc" in " ".join(header):
            rc, cc = col(header, "÷ runc"), col(header, "÷ crun")
            got = {r[0]: r for r in body}
            a, e = got.get("scrun-audit"), got.get("scrun-enforce")
            if a and e:
                rows.append(("exec storm, static busybox `true` (bundle), ÷ runc", median(a[rc]), median(e[rc]), "targets ≤ 1.05 / ≤ 1.10"))
                rows.append(("exec storm, static busybox `true` (bundle), ÷ crun", median(a[cc]), median(e[cc]), ""))
        elif header and header[0] == "workload":
            k_r, k_c = col(header, "runc µs"), col(header, "crun µs")
            k_a, k_e = col(header, "scrun-audit µs"), col(header, "scrun-enforce µs")
            ka, ke = col(header, "scrun-audit ÷ runc"), col(header, "scrun-enforce ÷ runc")
            for r in body:
                crun = median(r[k_c])
                rows.append((f"Docker path storm {r[0]} (Debian, dynamic), ÷ runc", median(r[ka]), median(r[ke]), "targets ≤ 1.05 / ≤ 1.10"))
                if crun:
                    rows.append((f"Docker path storm {r[0]}, ÷ crun", median(r[k_a]) / crun, median(r[k_e]) / crun, ""))
        elif header and header[0] == "" and "runc" in header and "scrun-audit" in header:
            for r in body:
                if r[0].startswith("÷ runc"):
                    rows.append(("`docker run --rm IMAGE /bin/true`, wall ÷ runc", median(r[header.index("scrun-audit")]), median(r[header.index("scrun-enforce")]), ""))
                    crun = median(r[header.index("crun")])
                    if crun:
                        rows.append(("`docker run --rm IMAGE /bin/true`, wall ÷ crun",
                                     median(r[header.index("scrun-audit")]) / crun,
                                     median(r[header.index("scrun-enforce")]) / crun, ""))
        elif header and header[0] == "findings expected":
            r = body[0]
            k = col(header, "supervisors' PSS")
            rows.append((f"concurrent containers: findings lost of {r[0]}", None, None, f"**{r[2].strip('*')}** lost; supervisors' PSS {r[k] if k is not None else '?'} MiB"))
    out = ["| measure | scrun audit | scrun enforce | note |", "|---|---|---|---|"]
    for what, a, e, note in rows:
        out.append(f"| {what} | {fmt(a)} | {fmt(e)} | {note} |")
    return "\n".join(out)


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 and sys.argv[1] != "-" else sys.stdin.read()
    table = summarize(text)
    stamp = re.search(r"^# scrun vs crun vs runc \((.*)\)", text, re.M)
    src = sys.argv[1] if len(sys.argv) > 1 else "stdin"
    if "/bench/results/" in src:
        src = "bench/results/" + src.split("/bench/results/", 1)[1]
    table = f"From `{src}`" + (f" ({stamp.group(1)})" if stamp else "") + ":\n\n" + table
    if "--readme" in sys.argv:
        path = sys.argv[sys.argv.index("--readme") + 1]
        readme = open(path).read()
        if BEGIN not in readme or END not in readme:
            sys.exit(f"{path}: no {BEGIN} … {END} markers")
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        open(path, "w").write(head + BEGIN + "\n" + table + "\n" + END + tail)
    print(table)


if __name__ == "__main__":
    main()
