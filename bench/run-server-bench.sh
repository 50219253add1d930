#!/usr/bin/env bash
# Runs the clinic-server benchmark (crates/bench, `server-bench`) and writes the
# results into docs/benchmarks.md.
#
# Installs what is missing (Node and npm from Debian packages when run as
# root; the pinned socket.io with `npm ci`), builds the release binaries, then
# runs the benchmark with its default sizes: 10,000 held connections against
# clinic-server and against a Node socket.io server, broadcast latency to
# 1,000 clients, and committed events per second. About 2 to 3 minutes of
# measuring on a 2-core machine, after the build. All traffic stays on
# 127.0.0.1.
#
# Usage: bench/run-server-bench.sh [server-bench flags…]
#   e.g. bench/run-server-bench.sh --connections 2000 --skip-node
# Flags are passed on after `--write docs/benchmarks.md`; see
# `server-bench --help`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing nodejs and npm (Debian packages)…" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "error: node and npm are needed for the Node comparison (or pass --skip-node)" >&2
        exit 1
    fi
fi

if [ ! -d bench/node/node_modules/socket.io ]; then
    echo "installing the Node reference server's dependencies (npm ci)…" >&2
    (cd bench/node && npm ci --no-audit --no-fund)
fi

echo "building release binaries…" >&2
cargo build --release -p clinic-server -p frontdesk-bench

target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec "$target_dir/release/server-bench" --write docs/benchmarks.md "$@"
