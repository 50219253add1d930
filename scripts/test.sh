#!/usr/bin/env bash
# Installs whatever is missing, then runs every check and test Frontdesk has.
# Exits non-zero on the first failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/setup.sh

# One build from scratch (as CI's is) gains nothing from incremental
# compilation, which roughly doubles what target/ holds; disk is shared.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "==> UI: type check and unit tests"
(cd ui && npm run --silent check && npm test --silent)

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo build (binaries the tests drive: clinic-server, frontdesk-cli)"
cargo build --workspace --bins --locked

echo "==> cargo test"
cargo test --workspace --locked

# cargo test wrote the TypeScript types generated from the Rust ones; what the
# UI was checked against above must be exactly those.
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "==> generated UI types match the Rust definitions"
  stale="$(git -C "$root" status --porcelain -- ui/src/generated)"
  if [ -n "$stale" ]; then
    echo "ui/src/generated differs from what the Rust types generate (run cargo test and commit it):" >&2
    echo "$stale" >&2
    exit 1
  fi
fi

# The codec fuzzer, briefly, where a nightly toolchain is available (cargo fuzz
# needs one). FUZZ_SECONDS=0 skips it.
fuzz_seconds="${FUZZ_SECONDS:-30}"
if [ "$fuzz_seconds" -gt 0 ] && rustup run nightly rustc --version >/dev/null 2>&1; then
  command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
  echo "==> cargo fuzz (${fuzz_seconds}s)"
  crates/protocol/fuzz/run.sh "$fuzz_seconds"
else
  echo "==> cargo fuzz skipped (no nightly toolchain or FUZZ_SECONDS=0)"
fi
echo "==> all checks passed"
