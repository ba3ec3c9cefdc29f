#!/usr/bin/env bash
# Exec storm: one container per runtime whose shell runs N fork+exec of the static busybox
# `/bin/true` applet (ash forks and execs it; it is not a builtin), timed inside the container
# with a static nsclock helper (perf note §2). Variants, interleaved ABBA per round:
#   crun, runc, scrun-audit / scrun-enforce with a warm on-disk hash cache (filled by an untimed
#   warm-up round), scrun-audit-cold / scrun-enforce-cold with a fresh hash_cache_dir every run.
#
#   bench/execstorm.sh [-n ROUNDS] [-N EXECS] [-g GAP_S] [-o CSV]
#
# Prints the markdown summary on stdout. Env: SCRUN, RUNC, CRUN, BUSYBOX.
. "$(dirname "$0")/lib/common.sh"

ROUNDS=10 N=2000 GAP=0.2 OUT=""
while getopts n:N:g:o: o; do
    case $o in
        n) ROUNDS=$OPTARG ;; N) N=$OPTARG ;; g) GAP=$OPTARG ;; o) OUT=$OPTARG ;;
        *) sed -n 2,10p "$0"; exit 2 ;;
    esac
done

bench_init
build_helpers
LOOP='t0=$(/bin/nsclock); i=0; f=0; while [ $i -lt '"$N"' ]; do /bin/true || f=$((f+1)); i=$((i+1)); done; t1=$(/bin/nsclock); echo storm_ns=$((t1-t0)) failed=$f'
ARGS=$("$PY" -c 'import json,sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1]]))' "$LOOP")
make_bundle "$BENCH_TMP/bundle" "$ARGS"
fix_cgroup_for_crun "$BENCH_TMP/bundle"
AUDIT=$(make_scrun_config audit audit "$BENCH_TMP/hashcache")
ENFORCE=$(make_scrun_config enforce enforce "$BENCH_TMP/hashcache")
AUDIT_COLD=$(make_scrun_config audit-cold audit "$BENCH_TMP/coldcache")
ENFORCE_COLD=$(make_scrun_config enforce-cold enforce "$BENCH_TMP/coldcache")
CSV=${OUT:-$BENCH_TMP/execstorm.csv}
rm -f "$CSV"

log "exec storm: $ROUNDS rounds of $N execs"
"${NICE[@]}" "$PY" "$LIB/harness.py" execstorm --bundle "$BENCH_TMP/bundle" --tmp "$BENCH_TMP" \
    --scrun-run-dir "$SCRUN_RUN_DIR" --rusage-run "$BENCH_TMP/bin/rusage-run" --quiet-max "${QUIET_MAX:-10}" --out "$CSV" --variant storm --rounds "$ROUNDS" --gap "$GAP" --n "$N" \
    --rt "crun=$CRUN" --rt "scrun-audit=$SCRUN,$AUDIT" --rt "scrun-enforce=$SCRUN,$ENFORCE" \
    --rt "scrun-audit-cold=$SCRUN,$AUDIT_COLD" --rt "scrun-enforce-cold=$SCRUN,$ENFORCE_COLD" \
    --rt "runc=$RUNC"

echo "Machine: $(machine_line)"
echo
echo "Command: \`RT --root R run --bundle B ID\` with process args"
echo
echo "    /bin/sh -c '$LOOP'"
"$PY" "$LIB/stats.py" "$CSV"
echo
echo "hash cache: $(find "$BENCH_TMP/hashcache" -type f | wc -l) file(s) in the warm hash_cache_dir after the run"
for f in "$BENCH_TMP"/scrun-cfg/*.findings.jsonl; do
    [ -f "$f" ] && echo && echo "findings written by $(basename "$f" .findings.jsonl): $(wc -l < "$f")"
done
exit 0
