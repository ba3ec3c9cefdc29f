#!/usr/bin/env bash
# Run bench/lifecycle.sh and bench/execstorm.sh and print one markdown report on stdout.
#   bench/run-all.sh [-n LIFECYCLE_ROUNDS] [-s STORM_ROUNDS] [-N EXECS]
# Defaults (15 lifecycle rounds per variant, 8 storm rounds of 2000 execs, QUIET_MAX=3 s of
# waiting for a quiet machine per round) take ~5-8 minutes on 2 cores. Progress goes to stderr.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LN=15 SN=8 N=2000
export QUIET_MAX=${QUIET_MAX:-3}
while getopts n:s:N: o; do
    case $o in n) LN=$OPTARG ;; s) SN=$OPTARG ;; N) N=$OPTARG ;; *) sed -n 2,5p "$0"; exit 2 ;; esac
done
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
echo
echo "* load after: $(cut -d' ' -f1-3 /proc/loadavg)"
