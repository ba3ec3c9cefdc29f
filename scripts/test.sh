#!/usr/bin/env bash
# The whole test suite: unit tests of every crate and the end-to-end tests against real dockerd,
# containerd (ctr and CRI) and podman, each started privately under /tmp. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) != 0 ]]; then echo "run as root: the tests start container engines" >&2; exit 1; fi
bash scripts/install-deps.sh
# What reviewers check, first: formatting, lints (warnings are errors), the API docs (broken
# intra-doc links are errors), and the layering (runtime/tests/layering.rs: no crate or module
# import cycle), so a regression fails CI before the long end-to-end tests run.
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --workspace
cargo test -p scrun --test layering
cargo build -p scrun
export SCRUN_BIN="$PWD/target/x86_64-unknown-linux-gnu/debug/scrun"
cargo test --workspace -- --test-threads=2
