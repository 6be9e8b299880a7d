#!/usr/bin/env bash
# Sets up, builds and runs the kiosk daemon: on the first RealSense camera if one is connected,
# otherwise on the simulated camera playing a queue of visitors (an empty chair, then three people
# one after another, each sitting for about two minutes and getting one screening result). Events
# print as JSON lines on standard output, the readout is refreshed in out/readout.png, and chest
# X-rays dropped into out/xray-inbox are screened and joined to the person being measured (results
# in out/xray-inbox/done/, heatmaps in out/xray-heatmaps/). Stop it with Ctrl-C.
# Extra arguments go to edge-screen, e.g.: scripts/demo.sh --speed 4,
# scripts/demo.sh --visits empty:5,cheyne_stokes:180, scripts/demo.sh --pattern biots (one person),
# scripts/demo.sh --replay recording.bag, or scripts/demo.sh --camera 838212073161.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
if [ "$(id -u)" -ne 0 ] && [ -f "$HOME/.local/lib/pkgconfig/realsense2.pc" ]; then
  export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$HOME/.local/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
cargo build --release --quiet --features realsense
bin=target/release/edge-screen
source_args=()
case " $* " in
  *" --camera "* | *" --replay "*) ;;  # the caller chose the source
  *)
    if [ "$("$bin" cameras --json 2>/dev/null | tr -d ' \n')" != "[]" ] && "$bin" cameras --json >/dev/null 2>&1; then
      source_args=(--camera 0)
      echo "edge-screen: RealSense camera 0: $("$bin" cameras | sed -n 2p)" >&2
    else
      source_args=(--camera sim)
      case " $* " in
        *" --visits "* | *" --pattern "* | *" --rate "*) ;;  # the caller chose the person
        *) source_args+=(--visits "empty:10,eupnea@15:120,empty:15,tachypnea@28:120,empty:15,central_apnea:150,empty:10") ;;
      esac
      echo "edge-screen: no RealSense camera connected: simulated camera ${source_args[*]:2}" >&2
    fi
    ;;
esac
mkdir -p out/xray-inbox
echo "edge-screen: readout in out/readout.png; chest X-rays dropped into out/xray-inbox are screened" \
  "(e.g. cp ../shared/data/xray/covid/*.png out/xray-inbox/); records in out/records.db" \
  "($bin --records out/records.db records list; ... status); metrics on http://127.0.0.1:9754/metrics;" \
  "Ctrl-C to stop" >&2
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
printf '[xray]\nheatmap_dir = "%s/out/xray-heatmaps"\n' "$PWD" > "$cfg"
"$bin" --config "$cfg" --records out/records.db "${source_args[@]}" --display png:out/readout.png \
  --xray-inbox out/xray-inbox "$@"
