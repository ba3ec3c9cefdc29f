#!/bin/sh
# scrun node installer for containerd (run by the DaemonSet's privileged init container, or by
# hand on a node). Idempotent: a second run changes nothing and does not restart containerd.
#
#   install.sh install     copy scrun to the node, register runtime `scrun` in containerd's
#                          config, restart containerd (only if something changed)
#   install.sh uninstall   remove the block and the binary, restart containerd
#
# Environment (defaults are for the DaemonSet, which mounts the node's / at /host):
#   HOST_ROOT          where the node's root is mounted                    (/host)
#   SCRUN_SOURCE       the scrun binary to install                         (/opt/scrun/scrun)
#   SCRUN_INSTALL_DIR  directory on the node, as the node sees it          (/usr/local/bin)
#                      (not /usr/bin: Slurm's slurm-client ships an unrelated /usr/bin/scrun)
#   CONTAINERD_CONFIG  containerd's config, as the node sees it   (/etc/containerd/config.toml)
#   RESTART_CMD        how to restart containerd on the node
#                      (nsenter -t 1 -m -u -i -n -p -- systemctl restart containerd)
#
# The runtime block goes between two marker lines at the end of the config, in the section name
# of the file's config version (1: plugins.cri, 2: io.containerd.grpc.v1.cri, 3:
# io.containerd.cri.v1.runtime); a missing file is created as version 2, which containerd 1.6,
# 1.7 and 2.x all read. Uninstall removes exactly the marked lines, so the file is as before.
# A config that already names a `scrun` runtime outside the markers is left alone.
set -eu

HOST_ROOT=${HOST_ROOT-/host}
SCRUN_SOURCE=${SCRUN_SOURCE:-/opt/scrun/scrun}
SCRUN_INSTALL_DIR=${SCRUN_INSTALL_DIR:-/usr/local/bin}
CONTAINERD_CONFIG=${CONTAINERD_CONFIG:-/etc/containerd/config.toml}
RESTART_CMD=${RESTART_CMD:-nsenter -t 1 -m -u -i -n -p -- systemctl restart containerd}
BEGIN='# BEGIN scrun runtime (managed by scrun install.sh; remove with `install.sh uninstall`)'
END='# END scrun runtime'

root=${HOST_ROOT%/}
bin="$root$SCRUN_INSTALL_DIR/scrun"
config="$root$CONTAINERD_CONFIG"
changed=0

log() { echo "scrun-install: $*" >&2; }

# The config version declared at the top level of the file (1 when absent, as containerd reads it).
config_version() {
  v=$(sed -n 's/^[[:space:]]*version[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1)
  echo "${v:-1}"
}

cri_section() {
  case "$1" in
    1) echo 'plugins.cri' ;;
    2) echo 'plugins."io.containerd.grpc.v1.cri"' ;;
    *) echo 'plugins."io.containerd.cri.v1.runtime"' ;;
  esac
}

has_block() { grep -qxF "$BEGIN" "$1" 2>/dev/null; }

# The file without the marked block (and nothing else changed).
strip_block() {
  awk -v b="$BEGIN" -v e="$END" '$0 == b { skip = 1; next } skip && $0 == e { skip = 0; next } !skip' "$1"
}

install_binary() {
  [ -f "$SCRUN_SOURCE" ] || { log "no scrun binary at $SCRUN_SOURCE"; exit 1; }
  if [ -f "$bin" ] && cmp -s "$SCRUN_SOURCE" "$bin"; then
    log "$SCRUN_INSTALL_DIR/scrun is up to date"
    return
  fi
  mkdir -p "$root$SCRUN_INSTALL_DIR"
  # Copy then rename, so a running shim never sees a half-written binary.
  cp "$SCRUN_SOURCE" "$bin.new.$$"
  chmod 0755 "$bin.new.$$"
  mv -f "$bin.new.$$" "$bin"
  log "installed $SCRUN_INSTALL_DIR/scrun"
  changed=1
}

install_config() {
  mkdir -p "$(dirname "$config")"
  if [ ! -e "$config" ]; then
    printf 'version = 2\n' > "$config"
    log "created $CONTAINERD_CONFIG (version 2)"
  fi
  section="$(cri_section "$(config_version "$config")").containerd.runtimes.scrun"
  block=$(printf '%s\n[%s]\n  runtime_type = "io.containerd.runc.v2"\n[%s.options]\n  BinaryName = "%s"\n%s' \
    "$BEGIN" "$section" "$section" "$SCRUN_INSTALL_DIR/scrun" "$END")
  if has_block "$config"; then
    current=$(awk -v b="$BEGIN" -v e="$END" '$0 == b { p = 1 } p { print } p && $0 == e { p = 0 }' "$config")
    if [ "$current" = "$block" ]; then
      log "$CONTAINERD_CONFIG already registers scrun"
      return
    fi
    strip_block "$config" > "$config.new.$$"
  elif grep -q 'runtimes\.scrun[]."]' "$config" || grep -q 'runtimes\.scrun$' "$config"; then
    log "$CONTAINERD_CONFIG already names a scrun runtime outside scrun's markers: left alone"
    return
  else
    cp "$config" "$config.new.$$"
  fi
  # A file without a final newline gets one, so the block starts on its own line.
  if [ -s "$config.new.$$" ] && [ "$(tail -c 1 "$config.new.$$" | od -An -c | tr -d ' ')" != '\n' ]; then
    echo >> "$config.new.$$"
  fi
  printf '%s\n' "$block" >> "$config.new.$$"
  cat "$config.new.$$" > "$config"   # keep the file's inode, owner and mode
  rm -f "$config.new.$$"
  log "registered runtime scrun in $CONTAINERD_CONFIG"
  changed=1
}

uninstall() {
  if has_block "$config"; then
    strip_block "$config" > "$config.new.$$"
    cat "$config.new.$$" > "$config"
    rm -f "$config.new.$$"
    log "removed runtime scrun from $CONTAINERD_CONFIG"
    changed=1
  fi
  if [ -e "$bin" ]; then
    rm -f "$bin"
    log "removed $SCRUN_INSTALL_DIR/scrun"
    changed=1
  fi
}

restart() {
  if [ "$changed" = 1 ]; then
    log "restarting containerd: $RESTART_CMD"
    sh -c "$RESTART_CMD"
  else
    log "nothing changed; containerd not restarted"
  fi
}

case "${1:-install}" in
  install) install_binary; install_config; restart ;;
  uninstall) uninstall; restart ;;
  *) echo "usage: $0 [install|uninstall]" >&2; exit 2 ;;
esac
