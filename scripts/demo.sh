#!/usr/bin/env bash
# Sets up, builds and runs the kiosk daemon. With no RealSense support built in (this version),
# it runs on the simulated camera: a seated person breathing, events as JSON lines on standard
# output, the readout refreshed in out/readout.png. Stop it with Ctrl-C.
# Extra arguments go to edge-screen, e.g.: scripts/demo.sh --pattern cheyne_stokes --speed 4
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cargo build --release --quiet
mkdir -p out
echo "edge-screen: simulated camera; readout in out/readout.png; Ctrl-C to stop" >&2
exec target/release/edge-screen --camera sim --display png:out/readout.png "$@"
