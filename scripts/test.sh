#!/usr/bin/env bash
# The test command: every unit and integration test, with every optional feature on.
# (For quick work on one module: `cargo test --lib rsm::`.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
# Without root, setup-librealsense.sh installs into ~/.local: let pkg-config and the loader find it.
if [ "$(id -u)" -ne 0 ] && [ -f "$HOME/.local/lib/pkgconfig/realsense2.pc" ]; then
  export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$HOME/.local/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
cargo test --all-features "$@"
