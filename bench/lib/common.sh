# Shared setup for bench/*.sh: temp dir, bundle, scrun configs, cgroup warmer, cleanup.
# Sourced, not run. Everything lives under $BENCH_TMP and is removed by bench_cleanup (trap).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB=$BENCH_DIR/lib
SCRUN=${SCRUN:-$BENCH_DIR/../target/x86_64-unknown-linux-gnu/release/scrun}
RUNC=${RUNC:-/usr/sbin/runc}
CRUN=${CRUN:-/usr/bin/crun}
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
# The real interpreter, not a pyenv shim (a shim would add its own start-up to nothing timed, but
# keep the harness lean anyway).
PY=$(python3 -c 'import sys; print(sys.executable)')
# The harness (and so every runtime and supervisor it starts) runs at this niceness, so that
# other jobs on a shared machine disturb the comparison less. BENCH_NICE=0 to turn it off.
NICE=(nice -n "${BENCH_NICE:--15}")

BENCH_TMP=""
WARM_PID=""
FLOOR_BIN=""
WARM_CG=""
MOUNTED_HUGETLB=0

log() { echo "[bench] $*" >&2; }

bench_cleanup() {
    local rc=$?
    set +e
    if [ -n "$WARM_PID" ]; then kill "$WARM_PID" 2>/dev/null; wait "$WARM_PID" 2>/dev/null; fi
    if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
        # Containers left by an interrupted run: delete -f under each runtime's private root.
        local st rt id
        for st in "$BENCH_TMP"/state/*; do
            [ -d "$st" ] || continue
            rt=$(basename "$st")
            for id in $(ls "$st" 2>/dev/null); do
                [ -d "$st/$id" ] || continue
                case $rt in
                    runc) "$RUNC" --root "$st" delete -f "$id" ;;
                    crun) "$CRUN" --root "$st" delete -f "$id" ;;
                    scrun*) SCRUN_RUN_DIR="$BENCH_TMP/scrun.d" "$SCRUN" --root "$st" delete -f "$id" ;;
                    libcontainer) [ -n "$FLOOR_BIN" ] && "$FLOOR_BIN" --root "$st" delete -f "$id" ;;
                esac >/dev/null 2>&1
            done
        done
        # Supervisors still alive (by the pid they recorded, and only if it is still scrun).
        local pf pid
        for pf in "$BENCH_TMP"/scrun.d/*/sup.pid; do
            [ -f "$pf" ] || continue
            pid=$(cat "$pf")
            if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "supervise $BENCH_TMP"; then
                kill "$pid" 2>/dev/null
            fi
        done
        umount "$BENCH_TMP/bundle/rootfs" 2>/dev/null
        umount "$BENCH_TMP/state" "$BENCH_TMP/scrun.d" 2>/dev/null
        rm -rf "$BENCH_TMP"
    fi
    if [ -n "$WARM_CG" ]; then rmdir "$WARM_CG/a" "$WARM_CG/b" "$WARM_CG" 2>/dev/null; fi
    if [ "$MOUNTED_HUGETLB" = 1 ] && [ "${KEEP_HUGETLB:-0}" != 1 ]; then
        umount /sys/fs/cgroup/hugetlb 2>/dev/null && rmdir /sys/fs/cgroup/hugetlb 2>/dev/null
    fi
    exit $rc
}

bench_init() {
    [ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
    for b in "$SCRUN" "$RUNC" "$CRUN" "$BUSYBOX"; do
        [ -x "$b" ] || { echo "missing executable $b (build scrun: cargo build --release -p scrun)" >&2; exit 1; }
    done
    BENCH_TMP=$(mktemp -d /tmp/scrun-bench.XXXXXX)
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$BENCH_TMP/state" "$BENCH_TMP/scrun.d" "$BENCH_TMP/bin"
    # Every runtime's state (its --root, scrun's per-container directory and metrics) on a tmpfs,
    # as under /run on a usual host. On this VM /run is on the root ext4 filesystem, where
    # creating an inode after much churn (test suites) cost 0.07-0.4 ms each: a runtime that
    # keeps more state files (scrun: ~12 per container, runc/crun: 2-3) would be measured on the
    # filesystem rather than on its own work. BENCH_STATE_TMPFS=0 keeps them on disk.
    if [ "${BENCH_STATE_TMPFS:-1}" = 1 ]; then
        mount -t tmpfs -o size=256m,mode=0700 scrun-bench-state "$BENCH_TMP/state"
        mount -t tmpfs -o size=256m,mode=0700 scrun-bench-run "$BENCH_TMP/scrun.d"
    fi
    export SCRUN_RUN_DIR=$BENCH_TMP/scrun.d
}

# crun 1.8 refuses hybrid cgroups while a controller (hugetlb here) is still only in cgroup2
# (perf note, "Host change made for crun"). Probe crun once; only if it refuses, mount hugetlb as
# a v1 hierarchy for the run (undone at exit unless KEEP_HUGETLB=1). Call after make_bundle.
fix_cgroup_for_crun() {
    local b=$1 st=$BENCH_TMP/state/crun-probe err
    err=$("$CRUN" --root "$st" run --bundle "$b" probe-$$ 2>&1 </dev/null >/dev/null) || true
    "$CRUN" --root "$st" delete -f probe-$$ >/dev/null 2>&1 || true
    if echo "$err" | grep -q "hybrid mode" && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
        log "crun: '$err' -- mounting the hugetlb v1 hierarchy (undone at exit)"
        mkdir -p /sys/fs/cgroup/hugetlb
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
        MOUNTED_HUGETLB=1
    fi
}

# Static helpers compiled once per run (gcc present on this host).
# libcontainer with nothing of scrun (bench/libcontainer-floor): prints its path, or nothing when
# it cannot be built (FLOOR=0 skips it). The first build takes ~1.5 min; later ones are cached.
build_floor() {
    [ "${FLOOR:-1}" = 0 ] && return 0
    local dir=$BENCH_DIR/libcontainer-floor target=$BENCH_DIR/../target/bench-floor
    if cargo build --release --quiet --manifest-path "$dir/Cargo.toml" --target-dir "$target" >&2; then
        local f
        for f in "$target"/*/release/libcontainer-floor "$target"/release/libcontainer-floor; do
            if [ -x "$f" ]; then echo "$f"; return 0; fi
        done
    else
        log "could not build $dir; the libcontainer floor is left out"
    fi
}

build_helpers() {
    gcc -O2 -o "$BENCH_TMP/bin/cgwarm" "$LIB/cgwarm.c"
    gcc -O2 -static -o "$BENCH_TMP/bin/nsclock" "$LIB/nsclock.c"
    gcc -O2 -static -o "$BENCH_TMP/bin/rusage-run" "$LIB/rusage-run.c"
}

# A busybox bundle like an engine's: the rootfs is an overlay mount (read-only image layer with
# /bin/busybox + applet symlinks, a per-bundle upper dir), config from `runc spec`.
# $1 = bundle dir, $2 = JSON args array.
make_bundle() {
    local b=$1 args=$2
    mkdir -p "$b/layer/bin" "$b/layer/proc" "$b/layer/dev" "$b/layer/sys" "$b/layer/tmp" \
        "$b/upper" "$b/work" "$b/rootfs"
    cp "$BUSYBOX" "$b/layer/bin/busybox"
    chroot "$b/layer" /bin/busybox --install -s /bin
    [ -x "$BENCH_TMP/bin/nsclock" ] && cp "$BENCH_TMP/bin/nsclock" "$b/layer/bin/nsclock"
    # A script may add files to the image layer (bench/mapstorm.sh: a dynamic program and its
    # libraries) by defining bundle_layer_extra.
    if declare -F bundle_layer_extra >/dev/null; then bundle_layer_extra "$b/layer"; fi
    mount -t overlay overlay -o "lowerdir=$b/layer,upperdir=$b/upper,workdir=$b/work" "$b/rootfs"
    (cd "$b" && "$RUNC" spec)
    "$PY" - "$b/config.json" "$args" <<'PYEOF'
import json, sys
p, args = sys.argv[1], json.loads(sys.argv[2])
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = args
json.dump(c, open(p, "w"), indent=2)
PYEOF
}

# scrun config files: $1 = name, $2 = mode, $3 = hash cache dir, $4 = [supervisor] mappings
# (optional; absent: the mode's).
make_scrun_config() {
    local name=$1 mode=$2 cache=$3 mappings=${4:-}
    mkdir -p "$BENCH_TMP/scrun-cfg" "$cache"
    : > "$BENCH_TMP/scrun-cfg/feed.txt"
    # One unrelated digest so the intel path is exercised like a real deployment (no match).
    echo "0000000000000000000000000000000000000000000000000000000000000001" > "$BENCH_TMP/scrun-cfg/feed.txt"
    cat > "$BENCH_TMP/scrun-cfg/$name.toml" <<TOML
mode = "$mode"
[findings]
path = "$BENCH_TMP/scrun-cfg/$name.findings.jsonl"
[supervisor]
hash_cache_dir = "$cache"
metrics_dir = "$BENCH_TMP/scrun.d/metrics"
[intel]
feeds = ["$BENCH_TMP/scrun-cfg/feed.txt"]
TOML
    if [ -n "$mappings" ]; then
        sed -i "s/^\[supervisor\]\$/[supervisor]\nmappings = \"$mappings\"/" "$BENCH_TMP/scrun-cfg/$name.toml"
    fi
    # RULES=0: without the built-in exec rules (the A/B of their per-exec cost).
    if [ "${RULES:-1}" = 0 ]; then
        printf '[rules]\ndefault = false\n' >> "$BENCH_TMP/scrun-cfg/$name.toml"
    fi
    echo "$BENCH_TMP/scrun-cfg/$name.toml"
}

# cgroup grace-period warmer (perf note §1, -W): hop between two pids cgroups every 2 ms.
start_warmer() {
    WARM_CG=/sys/fs/cgroup/pids/scrun-bench-warm.$$
    mkdir -p "$WARM_CG/a" "$WARM_CG/b"
    "$BENCH_TMP/bin/cgwarm" "$WARM_CG/a" "$WARM_CG/b" 2000 &
    WARM_PID=$!
    sleep 0.2
}
stop_warmer() {
    if [ -n "$WARM_PID" ]; then kill "$WARM_PID" 2>/dev/null; wait "$WARM_PID" 2>/dev/null || true; WARM_PID=""; fi
    if [ -n "$WARM_CG" ]; then rmdir "$WARM_CG/a" "$WARM_CG/b" "$WARM_CG" 2>/dev/null || true; WARM_CG=""; fi
}

machine_line() {
    echo "$(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME"), load $(cut -d' ' -f1-3 /proc/loadavg)"
}
