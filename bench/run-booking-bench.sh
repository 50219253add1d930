#!/usr/bin/env bash
# Runs the booking benchmark (crates/bench, `booking-bench`) and writes its
# results into docs/benchmarks.md: patient search over 100,000 patients on
# the server and the engine's local search, free slots for a provider-month,
# and the booking round trip, against the clinic server in-process on
# 127.0.0.1. About a minute after the build.
#
# Usage: bench/run-booking-bench.sh [booking-bench flags…]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
echo "building release binaries…" >&2
cargo build --release -p frontdesk-bench --bin booking-bench
target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec "$target_dir/release/booking-bench" --write docs/benchmarks.md "$@"
