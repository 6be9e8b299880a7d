#!/usr/bin/env bash
# Sets up, builds and runs the kiosk daemon. With no RealSense support built in (this version),
# it runs on the simulated camera: a seated person breathing, events as JSON lines on standard
# output, the readout refreshed in out/readout.png, and chest X-rays dropped into out/xray-inbox
# screened (results in out/xray-inbox/done/, heatmaps in out/xray-heatmaps/). Stop it with Ctrl-C.
# Extra arguments go to edge-screen, e.g.: scripts/demo.sh --pattern cheyne_stokes --speed 4
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cargo build --release --quiet
mkdir -p out/xray-inbox
echo "edge-screen: simulated camera; readout in out/readout.png; chest X-rays dropped into" \
  "out/xray-inbox are screened (e.g. cp ../shared/data/xray/covid/*.png out/xray-inbox/); Ctrl-C to stop" >&2
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
printf '[xray]\nheatmap_dir = "%s/out/xray-heatmaps"\n' "$PWD" > "$cfg"
target/release/edge-screen --config "$cfg" --camera sim --display png:out/readout.png \
  --xray-inbox out/xray-inbox "$@"
