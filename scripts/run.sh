#!/usr/bin/env bash
# Installs whatever is missing, then runs Frontdesk on the embedded demo clinic.
# For now this starts the demo clinic server; the desktop app joins it next.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/setup.sh
data="${FRONTDESK_DATA:-$root/.demo}"
mkdir -p "$data"
cargo build --release --locked -p clinic-server
exec target/release/clinic-server --demo --db "$data/clinic.db" --listen "${FRONTDESK_LISTEN:-127.0.0.1:7420}"
