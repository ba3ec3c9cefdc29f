#!/usr/bin/env bash
# Does one exec wait on another exec's hash? In one scrun container (enforce mode, overlay
# rootfs, warm cache for /bin/true), time ROUNDS x N small execs (posix_spawn /bin/true, each
# timed: lib/execlat.c) alone, and again while a fresh (cold) 1 GiB executable on the rootfs is
# being exec'd and hashed (max_hash_bytes = 1 GiB). Target (issue 14): p50 and p99 with the big
# exec <= 1.2 x without.
#
#   bench/hashstall.sh [-n ROUNDS] [-N EXECS]
. "$(dirname "$0")/lib/common.sh"

ROUNDS=5 N=400
while getopts n:N: o; do
    case $o in
        n) ROUNDS=$OPTARG ;; N) N=$OPTARG ;;
        *) sed -n 2,9p "$0"; exit 2 ;;
    esac
done

bench_init
build_helpers
gcc -O2 -static -o "$BENCH_TMP/bin/execlat" "$LIB/execlat.c"
# Each round: warm-up, alone, then with a fresh big file exec'd in the background.
LOOP='for r in $(seq '"$ROUNDS"'); do
  /bin/execlat 50 >/dev/null
  echo "alone $(/bin/execlat '"$N"')"
  cp /bin/busybox /busybox-big$r && dd if=/dev/zero of=/busybox-big$r bs=1M count=0 seek=1024 2>/dev/null && chmod 755 /busybox-big$r
  t0=$(/bin/nsclock); (/busybox-big$r true; echo "big_exec_us=$(( ($(/bin/nsclock) - t0) / 1000 ))") & sleep 0.01
  echo "beside-big $(/bin/execlat '"$N"')"
  wait; rm -f /busybox-big$r
done'
ARGS=$("$PY" -c 'import json,sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1]]))' "$LOOP")
make_bundle "$BENCH_TMP/bundle" "$ARGS"
# The big files are written into the container's upper layer.
"$PY" - "$BENCH_TMP/bundle/config.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["root"]["readonly"] = False
json.dump(c, open(sys.argv[1], "w"), indent=2)
PYEOF
cp "$BENCH_TMP/bin/execlat" "$BENCH_TMP/bundle/layer/bin/execlat"
CFG=$(make_scrun_config enforce enforce "$BENCH_TMP/hashcache")
sed -i "s/^\\[supervisor\\]$/[supervisor]\\nmax_hash_bytes = ${MAX_HASH:-1073741824}/" "$CFG"
log "hash stall: $ROUNDS rounds of $N execs, alone and beside a cold 1 GiB exec"
OUT=$(SCRUN_CONFIG="$CFG" "${NICE[@]}" "$SCRUN" --root "$BENCH_TMP/state/scrun" run \
    --bundle "$BENCH_TMP/bundle" "hashstall-$$")
echo "$OUT"
echo "Machine: $(machine_line)"
echo "$OUT" | "$PY" -c '
import re, statistics, sys
rows = {"alone": [], "beside-big": []}
for line in sys.stdin:
    m = re.match(r"(alone|beside-big) p50_us=([\d.]+) p99_us=([\d.]+)", line)
    if m:
        rows[m.group(1)].append((float(m.group(2)), float(m.group(3))))
a, b = rows["alone"], rows["beside-big"]
if not a or not b:
    sys.exit("no results")
for i, name in ((0, "p50"), (1, "p99")):
    ma, mb = statistics.median(x[i] for x in a), statistics.median(x[i] for x in b)
    print(f"{name}: alone {ma:.1f} us, beside a cold 1 GiB exec {mb:.1f} us, ratio {mb/ma:.2f}")
'
