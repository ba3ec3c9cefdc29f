#!/usr/bin/env bash
# On a fresh Debian 12 machine: install what is needed, build scrun, start a private dockerd with
# scrun registered, run containers that execute a built-in "malicious" binary (audit, then
# enforce) and an added binary, and show the findings. Needs root. Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) != 0 ]]; then echo "run as root (sudo $0)" >&2; exit 1; fi
bash scripts/install-deps.sh
cargo build --release -p scrun
SCRUN="$PWD/target/x86_64-unknown-linux-gnu/release/scrun"

D=$(mktemp -d /tmp/scrun-demo.XXXXXX)
SOCK="$D/docker.sock"
cleanup() {
  [[ -f $D/dockerd.pid ]] && kill "$(cat "$D/dockerd.pid")" 2>/dev/null && sleep 2
  grep " $D" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT

# A harmless stand-in for malware: a tiny static program that only prints a line; the demo feed
# lists its SHA-256 as malicious.
mkdir -p "$D/rootfs/bin" "$D/rootfs/etc" "$D/rootfs/tmp" "$D/rootfs/usr/local/bin"
cp /bin/busybox "$D/rootfs/bin/busybox"
chroot "$D/rootfs" /bin/busybox --install -s /bin
printf '#include <stdio.h>\nint main(void){puts("cryptominer: pretending to mine (harmless scrun demo)");return 0;}\n' > "$D/miner.c"
gcc -static -O2 -o "$D/rootfs/usr/local/bin/cryptominer" "$D/miner.c"
echo "root:x:0:0:root:/root:/bin/sh" > "$D/rootfs/etc/passwd"
BAD=$(sha256sum "$D/rootfs/usr/local/bin/cryptominer" | cut -d' ' -f1)
echo "$BAD demo-cryptominer" > "$D/feed.txt"
cat > "$D/scrun.toml" <<TOML
mode = "audit"
[intel]
feeds = ["$D/feed.txt"]
[findings]
path = "$D/findings.jsonl"
TOML
tar -C "$D/rootfs" -cf "$D/rootfs.tar" .

SCRUN_CONFIG="$D/scrun.toml" dockerd --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/dockerd.pid" \
  -H "unix://$SOCK" --iptables=false --bridge=none --add-runtime "scrun=$SCRUN" >"$D/dockerd.log" 2>&1 &
export DOCKER_HOST="unix://$SOCK"
for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker info >/dev/null || { cat "$D/dockerd.log"; exit 1; }
docker import -c 'CMD ["sh"]' "$D/rootfs.tar" scrun-demo/app:1 >/dev/null

echo "== audit mode: the built-in malicious binary runs, and a finding is written"
docker run --rm --runtime=scrun scrun-demo/app:1 sh -c 'cryptominer; cp /bin/busybox /tmp/busybox-dropped; /tmp/busybox-dropped echo "an added binary ran"' || true
echo "== enforce mode (label scrun.mode=enforce): the same exec fails with EPERM"
docker run --rm --runtime=scrun --label scrun.mode=enforce scrun-demo/app:1 sh -c 'cryptominer; echo "exit code $?"' || true
echo "== findings"
"$SCRUN" findings --file "$D/findings.jsonl"
echo "== the first finding as SCC JSON"
head -n1 "$D/findings.jsonl" | jq .
