#!/usr/bin/env bash
# Installs what edge-screen needs to build and test on a Debian machine. Idempotent.
# Needs: the Rust toolchain (cargo, rustfmt, clippy) already on PATH.
set -euo pipefail
need_apt=()
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v cc >/dev/null || need_apt+=(build-essential)
# The uplink tests (tests/uplink.rs) run a real MQTT broker; Debian puts it in /usr/sbin.
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto mosquitto-clients)
# The clock-jump test moves the daemon's wall clock with libfaketime.
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || [ "$(uname -m)" != x86_64 ] \
  || need_apt+=(libfaketime)
# The mqtts:// test makes its certificates with the openssl command.
command -v openssl >/dev/null || need_apt+=(openssl)
# The review page's test (tests/review_web.rs) drives headless Chromium through chromedriver.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "setup: please install: ${need_apt[*]} (apt-get install, as root)" >&2
    exit 1
  fi
fi
command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust (rustup) first" >&2; exit 1; }
cargo --version
# librealsense 2.56 for the `realsense` feature (tests run with every feature on): Intel's packages
# if pkg-config finds them, otherwise the library inside the pyrealsense2 wheel (x86_64).
bash "$(dirname "$0")/setup-librealsense.sh"
