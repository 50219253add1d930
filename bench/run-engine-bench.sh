#!/usr/bin/env bash
# Runs the engine benchmark (crates/bench, `engine-bench`) and writes its
# results into docs/benchmarks.md: apply throughput into the encrypted cache,
# resync of 10,000 missed events, commit → subscriber latency at 100 events/s,
# time back to live after a server restart, and engine memory with 10,000
# cached appointments. Everything runs on 127.0.0.1. About 2 minutes after
# the build.
#
# Usage: bench/run-engine-bench.sh [engine-bench flags…]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
echo "building release binaries…" >&2
cargo build --release -p frontdesk-bench --bin engine-bench
target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec "$target_dir/release/engine-bench" --write docs/benchmarks.md "$@"
