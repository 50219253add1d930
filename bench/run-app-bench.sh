#!/usr/bin/env bash
# Runs the desktop app benchmark (crates/bench, `app-bench`) and writes its
# results into docs/benchmarks.md: cold start to the first screen (the lock
# screen of a desk on its stored sign-in), the typed password to the cached
# schedule, idle memory of the app with its WebKit processes (PSS), a minute
# of 100 events/s (how far the window falls behind, memory over the minute),
# and a one-day clinic beside a year-old one (memory, CPU per event,
# notifications).
# The app runs under Xvfb on a private session bus with gnome-keyring and
# dunst, against the demo clinic on 127.0.0.1; run scripts/setup.sh first on
# a fresh machine. About 8 minutes after the build.
#
# Usage: bench/run-app-bench.sh [app-bench flags…]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
echo "building the UI and release binaries…" >&2
(cd ui && npm run --silent build >/dev/null)
cargo build --release -p frontdesk-app -p frontdesk-bench --bin frontdesk --bin app-bench
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec "$target_dir/release/app-bench" --write docs/benchmarks.md "$@"
