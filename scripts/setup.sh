#!/usr/bin/env bash
# Installs whatever is missing for building and testing Frontdesk on a
# Debian/Ubuntu machine, and nothing that is already there. Sourced by run.sh
# and test.sh; safe to run again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages the build and the tests need: the TLS/crypto headers the
# SQLCipher cache links against, Node for the JavaScript Socket.IO peers, and a
# D-Bus session bus with gnome-keyring (the real Secret Service) for the
# keyring tests.
apt_packages=(pkg-config libssl-dev nodejs npm dbus gnome-keyring
  # the desktop app (Tauri 2 on WebKitGTK) and its end-to-end tests
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev
  xvfb webkit2gtk-driver dbus-x11 dunst xdotool
  # reading the app's screenshots back (a locked desk shows no patient's name)
  tesseract-ocr)

need_apt=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
# Node may come from elsewhere (nvm, a tarball); only install it if absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
  need_apt=("${need_apt[@]/nodejs}")
  need_apt=("${need_apt[@]/npm}")
fi
mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | grep -v '^$' || true)
if ((${#need_apt[@]})); then
  echo "==> installing ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "Rust (cargo) is not installed: install it from https://rustup.rs and run this again." >&2
  exit 1
fi

# The UI (Svelte + Vite), pinned by package-lock.json; the app embeds ui/dist,
# so it is built before any cargo build.
if [ ! -d "$root/ui/node_modules/svelte" ] || [ "$root/ui/package-lock.json" -nt "$root/ui/node_modules" ]; then
  echo "==> npm ci (ui)"
  (cd "$root/ui" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "==> building the UI (ui/dist)"
(cd "$root/ui" && npm run --silent build >/dev/null)

# The JavaScript Socket.IO peers the tests talk to, pinned by package-lock.json.
if [ ! -d "$root/tests/js/node_modules/socket.io-client" ] || [ "$root/tests/js/package-lock.json" -nt "$root/tests/js/node_modules" ]; then
  echo "==> npm ci (tests/js)"
  (cd "$root/tests/js" && npm ci --no-audit --no-fund --loglevel=error)
fi

# tauri-driver: the WebDriver front the end-to-end tests drive the real app
# through (it starts WebKitWebDriver from webkit2gtk-driver).
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v tauri-driver >/dev/null; then
  echo "==> cargo install tauri-driver"
  cargo install --locked tauri-driver@^2
fi
