#!/usr/bin/env bash
# Mapping storm: what supervising executable file mappings ([supervisor] mappings, issue 14)
# costs. The exec storm's loop (bench/execstorm.sh), but of a *dynamic* program: the host's
# /bin/true (or /bin/ls -d /, three libraries) copied with its loader and libraries into the bench
# image layer, so that every exec is followed by ld.so mapping libc (and the others) with
# PROT_EXEC, one trapped mmap each. Variants, interleaved ABBA per round, warm hash cache:
#   runc; scrun-enforce-nomap (enforce mode, mappings = "off": no mapping rule installed);
#   scrun-enforce (mappings follow the mode: enforce); scrun-audit (mappings audit).
#
#   bench/mapstorm.sh [-n ROUNDS] [-N EXECS] [-g GAP_S] [-P true|ls] [-o CSV]
#
# Prints the markdown summary on stdout. Env: SCRUN, RUNC, BUSYBOX (see bench/README.md).
. "$(dirname "$0")/lib/common.sh"

ROUNDS=8 N=1000 GAP=0.2 PROG=true OUT=""
while getopts n:N:g:P:o: o; do
    case $o in
        n) ROUNDS=$OPTARG ;; N) N=$OPTARG ;; g) GAP=$OPTARG ;; P) PROG=$OPTARG ;; o) OUT=$OPTARG ;;
        *) sed -n 2,11p "$0"; exit 2 ;;
    esac
done
case $PROG in
    true) HOSTBIN=/bin/true CMD=/bin/dprog ;;
    ls) HOSTBIN=/bin/ls CMD="/bin/dprog -d /" ;;
    *) echo "-P true|ls" >&2; exit 2 ;;
esac

# The dynamic program, its loader and every library ldd names, at their own paths.
bundle_layer_extra() {
    local layer=$1 lib
    install -D -m 755 "$HOSTBIN" "$layer/bin/dprog"
    for lib in $(ldd "$HOSTBIN" | grep -o '/[^ ]*'); do
        install -D -m 755 "$lib" "$layer$lib"
    done
}

bench_init
build_helpers
LOOP='t0=$(/bin/nsclock); i=0; f=0; while [ $i -lt '"$N"' ]; do '"$CMD"' > /dev/null || f=$((f+1)); i=$((i+1)); done; t1=$(/bin/nsclock); echo storm_ns=$((t1-t0)) failed=$f'
ARGS=$("$PY" -c 'import json,sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1]]))' "$LOOP")
make_bundle "$BENCH_TMP/bundle" "$ARGS"
NOMAP=$(make_scrun_config enforce-nomap enforce "$BENCH_TMP/hashcache" off)
ENFORCE=$(make_scrun_config enforce enforce "$BENCH_TMP/hashcache")
AUDIT=$(make_scrun_config audit audit "$BENCH_TMP/hashcache")
CSV=${OUT:-$BENCH_TMP/mapstorm.csv}
rm -f "$CSV"

log "mapping storm: $ROUNDS rounds of $N execs of a dynamic $HOSTBIN"
"${NICE[@]}" "$PY" "$LIB/harness.py" execstorm --bundle "$BENCH_TMP/bundle" --tmp "$BENCH_TMP" \
    --scrun-run-dir "$SCRUN_RUN_DIR" --rusage-run "$BENCH_TMP/bin/rusage-run" --quiet-max "${QUIET_MAX:-10}" \
    --out "$CSV" --variant "mapstorm-$PROG" --rounds "$ROUNDS" --gap "$GAP" --n "$N" \
    --rt "scrun-enforce-nomap=$SCRUN,$NOMAP" --rt "scrun-enforce=$SCRUN,$ENFORCE" \
    --rt "scrun-audit=$SCRUN,$AUDIT" --rt "runc=$RUNC"

echo "Machine: $(machine_line)"
echo
echo "Command: \`RT --root R run --bundle B ID\` with process args"
echo
echo "    /bin/sh -c '$LOOP'"
echo
echo "\`/bin/dprog\` is the host's $HOSTBIN ($(ldd "$HOSTBIN" | grep -c '=>') librar(y/ies) besides the loader); each exec maps them with PROT_EXEC."
"$PY" "$LIB/stats.py" "$CSV"
for f in "$BENCH_TMP"/scrun-cfg/*.findings.jsonl; do
    [ -f "$f" ] && echo && echo "findings written by $(basename "$f" .findings.jsonl): $(wc -l < "$f")"
done
exit 0
