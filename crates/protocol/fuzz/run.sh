#!/usr/bin/env bash
# Fuzz the Engine.IO / Socket.IO decoders for N seconds (default 60).
# Needs a nightly toolchain and cargo-fuzz (`cargo install --locked cargo-fuzz`).
# Crashes land in crates/protocol/fuzz/artifacts/decode/ (git-ignored).
# Usage: crates/protocol/fuzz/run.sh [seconds] [extra libFuzzer args...]
set -euo pipefail

seconds="${1:-60}"
shift || true

cd "$(dirname "$0")/.."
exec cargo +nightly fuzz run decode -- -max_total_time="$seconds" -dict=fuzz/decode.dict "$@"
