#!/usr/bin/env bash
# Installs whatever is missing, then opens Frontdesk on the embedded demo clinic
# (the clinic server runs inside the app, signed in as reception, with other
# desks simulated so it looks like a working morning).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/setup.sh
cargo build --release --locked -p frontdesk-app --features tauri/custom-protocol
exec target/release/frontdesk --demo "$@"
