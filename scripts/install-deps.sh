#!/usr/bin/env bash
# Installs what scrun's build, demo and tests need on Debian 12 (idempotent). Run as root.
set -euo pipefail
pkgs=(docker.io containerd runc crun podman busybox-static umoci skopeo libseccomp-dev
      jq protobuf-compiler pkg-config iproute2 util-linux attr gcc libc6-dev
      debootstrap musl-tools python3-venv)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is required (the Rust toolchain, rust-version 1.85 or newer)" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# Google's own Security Command Center client, the tests' oracle for the finding schema
# (integration/tests/distro.rs feeds every category scrun emits to Finding.from_json).
venv=${SCRUN_TEST_VENV:-/opt/scrun-test-venv}
scc=google-cloud-securitycenter==1.48.0
if ! "$venv/bin/python" -c 'from google.cloud import securitycenter_v2' 2>/dev/null; then
  echo "installing $scc into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$scc"
fi
