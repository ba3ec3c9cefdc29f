#!/usr/bin/env bash
# Container lifecycle cost of crun, scrun (audit, enforce) and runc, interleaved (ABBA rounds).
#
#   bench/lifecycle.sh [-n ROUNDS] [-g GAP_S] [-m isolated|warm|both] [-o CSV]
#
# Per round and runtime: `run` of a busybox `/bin/true` container, then create / start /
# (untimed poll of `state` until stopped) / delete of a second one. Each timed command is preceded
# by GAP_S of idle (default 0.1 s, like the perf note's -g 0.1). Two variants:
#   isolated  no help: every run/create pays the host's cgroup v1 RCU grace-period wait (4-20 ms
#             on the first cgroup.procs write after idle) -- what a user sees on this host;
#   warm      a background process hops between two pids cgroups every 2 ms (perf note -W), so
#             no attach waits for a grace period -- each runtime's own latency.
# Prints the markdown summary (bench/lib/stats.py) on stdout; raw rows go to CSV (-o, default
# a temp file that is removed).
# A fifth runtime, "libcontainer", is libcontainer 0.7 alone (bench/libcontainer-floor, built here;
# FLOOR=0 leaves it out): the floor of what scrun can cost, since scrun builds containers with it.
# Env: SCRUN (default target/x86_64-unknown-linux-gnu/release/scrun), RUNC, CRUN, BUSYBOX, QUIET_MAX (seconds to wait for
# a quiet machine (<= 15 % busy) before each round, default 10).
. "$(dirname "$0")/lib/common.sh"

ROUNDS=30 GAP=0.1 MODES=both OUT=""
while getopts n:g:m:o: o; do
    case $o in
        n) ROUNDS=$OPTARG ;; g) GAP=$OPTARG ;; m) MODES=$OPTARG ;; o) OUT=$OPTARG ;;
        *) sed -n 2,18p "$0"; exit 2 ;;
    esac
done

bench_init
build_helpers
make_bundle "$BENCH_TMP/bundle" '["/bin/true"]'
fix_cgroup_for_crun "$BENCH_TMP/bundle"
AUDIT=$(make_scrun_config audit audit "$BENCH_TMP/hashcache")
ENFORCE=$(make_scrun_config enforce enforce "$BENCH_TMP/hashcache")
CSV=${OUT:-$BENCH_TMP/lifecycle.csv}
rm -f "$CSV"

RTS=(--rt "crun=$CRUN" --rt "scrun-audit=$SCRUN,$AUDIT" --rt "scrun-enforce=$SCRUN,$ENFORCE" --rt "runc=$RUNC")
FLOOR_BIN=$(build_floor)
[ -n "$FLOOR_BIN" ] && RTS+=(--rt "libcontainer=$FLOOR_BIN")

run_variant() {
    log "lifecycle ($1): $ROUNDS rounds, gap $GAP s"
    "${NICE[@]}" "$PY" "$LIB/harness.py" lifecycle --bundle "$BENCH_TMP/bundle" --tmp "$BENCH_TMP" \
        --scrun-run-dir "$SCRUN_RUN_DIR" --rusage-run "$BENCH_TMP/bin/rusage-run" --quiet-max "${QUIET_MAX:-10}" --out "$CSV" --variant "$1" --rounds "$ROUNDS" --gap "$GAP" "${RTS[@]}"
}

case $MODES in
    isolated|both) run_variant "isolated (no warmer: includes the cgroup v1 grace-period wait)" ;;
esac
case $MODES in
    warm|both) start_warmer
               run_variant "warm (cgroup warmer on: runtime's own latency)"
               stop_warmer ;;
esac

echo "Machine: $(machine_line)"
echo
echo "Commands (stdio /dev/null, state under a private --root per runtime; \`scrun\` with SCRUN_CONFIG=<audit|enforce>.toml):"
echo
echo "    RT --root R run --bundle B ID"
echo "    RT --root R create --bundle B ID ; RT --root R start ID ; (poll state until stopped, untimed) ; RT --root R delete ID"
"$PY" "$LIB/stats.py" "$CSV"
for f in "$BENCH_TMP"/scrun-cfg/*.findings.jsonl; do
    [ -f "$f" ] && echo && echo "findings written by $(basename "$f" .findings.jsonl): $(wc -l < "$f")"
done
exit 0
