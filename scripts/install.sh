#!/usr/bin/env bash
# Builds edge-screen for a kiosk and installs it (see README, "Installing on a kiosk"):
#   usr/local/bin/edge-screen                            the binary, stripped
#   usr/lib/debug/usr/local/bin/edge-screen.debug        its debug info (symbols, line tables),
#                                                        found by gdb/eu-stack/backtraces through
#                                                        the binary's .gnu_debuglink, and through
#   usr/lib/debug/.build-id/xx/rest.debug                its build ID (a link to it)
#   etc/edge-screen/kiosk.toml                           the shipped settings, unless one exists
#   etc/systemd/system/edge-screen.service               the unit
#   etc/udev/rules.d/99-edge-screen-realsense.rules      camera access for the plugdev group
# Usage: scripts/install.sh [--root DIR] [--no-realsense]
#   --root DIR       install under DIR instead of / (staging; default $DESTDIR, else /). Nothing
#                    outside DIR is touched then, apart from the build in the cargo target dir.
#   --no-realsense   build without RealSense cameras and .bag replays (simulated camera only; no
#                    librealsense needed).
# Installing to / needs root; it then also creates the video and plugdev groups if missing (the unit
# runs with them), and reloads systemd and udev when they are running (not in a container).
# Afterwards: systemctl enable --now edge-screen
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${DESTDIR:-/}
realsense=1

die() { echo "install: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --root) (($# >= 2)) || die "--root needs a directory"; root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --no-realsense) realsense=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$root" ] || die "--root: empty directory name"
root=$(realpath -m "$root")
if [ "$root" = / ] && [ "$(id -u)" -ne 0 ]; then
  die "installing to / needs root (or stage it: --root DIR)"
fi
for tool in cargo objcopy readelf install; do
  command -v "$tool" >/dev/null || die "$tool not found (objcopy: apt-get install binutils)"
done

# The framebuffer feature draws the readout on /dev/fb0 (`[display] target = "fb:/dev/fb0"`), which
# the unit grants; realsense needs librealsense 2.56 (scripts/setup-librealsense.sh).
features=framebuffer,mqtt-tls
if ((realsense)); then
  features+=",realsense"
  if command -v pkg-config >/dev/null && ! pkg-config --exists realsense2; then
    die "librealsense (pkg-config realsense2) not found: run scripts/setup-librealsense.sh, or use --no-realsense"
  fi
fi
cd "$repo"
echo "install: cargo build --release --locked --features $features --bin edge-screen"
cargo build --release --locked --features "$features" --bin edge-screen
target_dir=${CARGO_TARGET_DIR:-target}
built="$target_dir/release/edge-screen"
[ -x "$built" ] || die "$built: not found after the build"

# Split the debug info off: the .debug file keeps the symbols and line tables, the installed binary
# gets neither (it was 150 MB with them), and a debuglink (file name + CRC) points from one to the other.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$built" "$work/edge-screen.full"
objcopy --only-keep-debug --compress-debug-sections=zlib "$work/edge-screen.full" "$work/edge-screen.debug" \
  || die "objcopy --only-keep-debug $built failed"
objcopy --strip-debug --strip-unneeded "$work/edge-screen.full" "$work/edge-screen" \
  || die "objcopy --strip-debug --strip-unneeded $built failed"
# The link names the file only; debuggers look for it next to the binary, in .debug/ there, and under
# /usr/lib/debug/<the binary's directory>/, which is where it is installed.
(cd "$work" && objcopy --add-gnu-debuglink=edge-screen.debug edge-screen) \
  || die "objcopy --add-gnu-debuglink failed"

dest() { printf '%s/%s' "${root%/}" "$1"; }
install -D -m 0755 "$work/edge-screen" "$(dest usr/local/bin/edge-screen)"
install -D -m 0644 "$work/edge-screen.debug" "$(dest usr/lib/debug/usr/local/bin/edge-screen.debug)"
# Tools that look debug info up by build ID (gdb, eu-stack, systemd-coredump's stack traces) find it
# through /usr/lib/debug/.build-id/xx/rest.debug.
build_id=$(readelf -n "$work/edge-screen" | sed -n 's/^ *Build ID: \([0-9a-f]*\)$/\1/p' | head -1)
if [ -n "$build_id" ]; then
  link=$(dest "usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug")
  install -d "$(dirname "$link")"
  ln -sfn ../../usr/local/bin/edge-screen.debug "$link"
fi
config=$(dest etc/edge-screen/kiosk.toml)
if [ -e "$config" ]; then
  echo "install: $config exists: kept (the shipped one is firmware-config/kiosk.toml)"
else
  install -D -m 0644 firmware-config/kiosk.toml "$config"
fi
install -D -m 0644 firmware-config/edge-screen.service "$(dest etc/systemd/system/edge-screen.service)"
install -D -m 0644 firmware-config/99-edge-screen-realsense.rules \
  "$(dest etc/udev/rules.d/99-edge-screen-realsense.rules)"

size() { stat -c %s "$1"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo "install: sizes (features: $features):"
printf '  %-10s %12d bytes  %9s  %s\n' \
  unstripped "$(size "$built")" "$(mb "$(size "$built")")" "$built" \
  stripped "$(size "$work/edge-screen")" "$(mb "$(size "$work/edge-screen")")" \
  "$(dest usr/local/bin/edge-screen)" \
  debug "$(size "$work/edge-screen.debug")" "$(mb "$(size "$work/edge-screen.debug")")" \
  "$(dest usr/lib/debug/usr/local/bin/edge-screen.debug)"

if [ "$root" = / ]; then
  # SupplementaryGroups= in the unit fails the start if a group does not exist.
  for group in video plugdev; do
    getent group "$group" >/dev/null || { groupadd --system "$group" && echo "install: created group $group"; }
  done
  # Only where systemd and udev are running (not in a container or a chroot).
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
    echo "install: systemd reloaded; start with: systemctl enable --now edge-screen"
  else
    echo "install: systemd is not running here: no daemon-reload"
  fi
  if command -v udevadm >/dev/null && udevadm control --ping >/dev/null 2>&1; then
    udevadm control --reload-rules
    udevadm trigger --subsystem-match=usb --attr-match=idVendor=8086
    echo "install: udev rules reloaded"
  else
    echo "install: udev is not running here: no rule reload"
  fi
else
  echo "install: staged under $root (systemd, udev and groups left alone)"
fi
