#!/usr/bin/env bash
# The Docker path's cost (issue 17): a private dockerd with runtimes runc, crun and scrun, the
# debootstrap'd Debian image of the integration tests (cached in /var/cache/scrun-test), and
#   - the exec storm inside `docker run` (/bin/true, sh -c :, python3 -c pass: dynamic glibc
#     binaries on the overlay rootfs), runc / crun / scrun audit / scrun enforce, ABBA rounds;
#   - `docker run --rm IMAGE /bin/true` end-to-end latency;
#   - C concurrent scrun containers x E execs each of a binary added at run time: no finding may
#     be lost (exit 1 otherwise), and the supervisors' total memory while all are alive.
#
#   bench/docker.sh [-n ROUNDS] [-N EXECS] [-l LATENCY_RUNS] [-c CONTAINERS] [-e EXECS_EACH]
#   bench/docker.sh -s        # smoke: 1 round of 5 execs, 2 latency runs, 3 containers x 20
#
# Prints the markdown tables on stdout. Env: SCRUN (default the release build), CRUN, BENCH_NICE.
# Not part of the test suite except its smoke mode (integration/tests/bench_smoke.rs).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SCRUN=${SCRUN:-$ROOT/target/x86_64-unknown-linux-gnu/release/scrun}
CRUN=${CRUN:-/usr/bin/crun}
ROUNDS=5 N=500 L=10 C=100 E=1000
while getopts n:N:l:c:e:s o; do
    case $o in
        n) ROUNDS=$OPTARG ;; N) N=$OPTARG ;; l) L=$OPTARG ;; c) C=$OPTARG ;; e) E=$OPTARG ;;
        s) ROUNDS=1 N=5 L=2 C=3 E=20 ;;
        *) sed -n 2,15p "$0"; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for b in "$SCRUN" "$CRUN"; do
    [ -x "$b" ] || { echo "missing executable $b (cargo build --release -p scrun)" >&2; exit 1; }
done
# The Debian image tarball, built (once per machine) by the integration harness's recipe.
IMAGE_TAR=${IMAGE_TAR:-$(cd "$ROOT" && cargo run -q -p scrun-integration --bin scrun-it-image -- debian)}
REAPER=${SCRUN_IT_REAPER:-$ROOT/target/x86_64-unknown-linux-gnu/debug/scrun-it-reaper}
[ -x "$REAPER" ] || (cd "$ROOT" && cargo build -q -p scrun-integration --bin scrun-it-reaper)
# A workdir the integration harness's reaper knows how to clean (stop engines, unmount, remove).
TMP=$(mktemp -d /tmp/scrun-it-bench-XXXXXX)
# owner: this shell's pid and start time, so other test runs' sweeps leave the directory alone.
echo "$$ $(sed 's/.*) //' /proc/$$/stat | awk '{print $20}')" > "$TMP/owner"
mkdir -p "$TMP/pids"
cleanup() { "$REAPER" "$TMP" < /dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
PY=$(python3 -c 'import sys; print(sys.executable)')
echo "* machine: $(nproc) CPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), load before $(cut -d' ' -f1-3 /proc/loadavg)"
echo "* dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,); runc: $(runc --version | head -1); crun: $($CRUN --version | head -1); scrun: $SCRUN ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "* command: \`bench/docker.sh -n $ROUNDS -N $N -l $L -c $C -e $E\`"
echo
rc=0
nice -n "${BENCH_NICE:--15}" "$PY" "$HERE/lib/docker_bench.py" --tmp "$TMP" --scrun "$SCRUN" --crun "$CRUN" \
    --image-tar "$IMAGE_TAR" --rounds "$ROUNDS" --n "$N" --latency-runs "$L" \
    --containers "$C" --execs "$E" || rc=$?
echo
echo "* load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
