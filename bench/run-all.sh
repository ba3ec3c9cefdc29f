#!/usr/bin/env bash
# Run bench/lifecycle.sh, bench/execstorm.sh and bench/docker.sh (the Docker path) and print one
# markdown report on stdout, ending with the summary table (bench/lib/summary.py).
#   bench/run-all.sh [-n LIFECYCLE_ROUNDS] [-s STORM_ROUNDS] [-N EXECS] [-d DOCKER_ARGS] [-u] [-o REPORT]
# -u: also write the summary table into README.md (between its bench-table markers) and the
#     whole report to bench/results/DATE-run-all.md. -d "": skip the Docker path.
# Defaults (15 lifecycle rounds per variant, 8 storm rounds of 2000 execs, QUIET_MAX=3 s of
# waiting for a quiet machine per round, Docker path `-n 3 -N 200 -l 10 -c 20 -e 500`) take
# ~15 minutes on 2 cores. Progress goes to stderr.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LN=15 SN=8 N=2000 DOCKER="-n 3 -N 200 -l 10 -c 20 -e 500" UPDATE=0 OUT=""
export QUIET_MAX=${QUIET_MAX:-3}
while getopts n:s:N:d:uo: o; do
    case $o in
        n) LN=$OPTARG ;; s) SN=$OPTARG ;; N) N=$OPTARG ;; d) DOCKER=$OPTARG ;; u) UPDATE=1 ;;
        o) OUT=$OPTARG ;; *) sed -n 2,9p "$0"; exit 2 ;;
    esac
done
if [ "$UPDATE" = 1 ] && [ -z "$OUT" ]; then
    OUT=$HERE/results/$(date -u +%Y-%m-%d-%H%M)-run-all.md
fi
if [ -n "$OUT" ]; then
    # Everything below once more into the report file (stdout still shows it).
    exec > >(tee "$OUT")
fi
SCRUN=${SCRUN:-$HERE/../target/x86_64-unknown-linux-gnu/release/scrun}
echo "# scrun vs crun vs runc ($(date -u +%Y-%m-%dT%H:%MZ))"
echo
echo "* machine: $(nproc) CPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME")"
echo "* runc: $(/usr/sbin/runc --version | head -1); crun: $(/usr/bin/crun --version | head -1); scrun: $SCRUN ($(cd "$HERE/.." && git rev-parse --short HEAD 2>/dev/null || echo '?'), built $(date -u -r "$SCRUN" +%H:%MZ))"
echo "* harness niceness: ${BENCH_NICE:--15}; wait for ≤15 % busy before each round: up to ${QUIET_MAX} s"
echo "* load before start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## Lifecycle: \`bench/lifecycle.sh -n $LN\`"
echo
"$HERE/lifecycle.sh" -n "$LN"
echo
echo "## Exec storm: \`bench/execstorm.sh -n $SN -N $N\`"
echo
"$HERE/execstorm.sh" -n "$SN" -N "$N"
if [ -n "$DOCKER" ]; then
    echo
    echo "## The Docker path: \`bench/docker.sh $DOCKER\`"
    echo
    # shellcheck disable=SC2086 # DOCKER is a list of options
    "$HERE/docker.sh" $DOCKER
fi
echo
echo "* load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## Summary"
echo
if [ -n "$OUT" ]; then
    sleep 1 # let tee catch up before the summary reads the file
    if [ "$UPDATE" = 1 ]; then
        python3 "$HERE/lib/summary.py" "$OUT" --readme "$HERE/../README.md" | tail -n +3
    else
        python3 "$HERE/lib/summary.py" "$OUT" | tail -n +3
    fi
fi
