#!/usr/bin/env bash
# Checks firmware-config/edge-screen.service offline, without a running systemd and without the
# binary installed:
#   1. `systemd-analyze verify`: the unit parses, every key is known, the units it names exist. The
#      one complaint expected off a kiosk, that /usr/local/bin/edge-screen does not exist, is
#      ignored; any other output fails the check.
#   2. `systemd-analyze security --offline=true`: the overall exposure score must be at most
#      MAX_SCORE (default 2.0; 0 = fully locked down, 10 = fully exposed). The score is printed.
# Installs nothing, except systemd itself (for systemd-analyze) when it is missing and we are root
# on Debian, as in CI. Usage: scripts/check-unit.sh [UNIT_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
unit=${1:-firmware-config/edge-screen.service}
max=${MAX_SCORE:-2.0}
exec_path=/usr/local/bin/edge-screen

[ -f "$unit" ] || { echo "check-unit: $unit: no such file" >&2; exit 1; }
if ! command -v systemd-analyze >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && [ -f /etc/debian_version ]; then
    echo "check-unit: installing systemd (for systemd-analyze)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
  else
    echo "check-unit: systemd-analyze not found: install systemd (apt-get install systemd)" >&2
    exit 1
  fi
fi
systemd-analyze --version | head -1

# 1. verify. Its exit status is 1 for the missing binary alone, so the verdict comes from the output.
set +e
verify_out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$unit" 2>&1)
verify_rc=$?
set -e
problems=$(printf '%s\n' "$verify_out" | grep -v -F "Command $exec_path is not executable" | grep -v '^$' || true)
if [ -n "$problems" ]; then
  echo "check-unit: systemd-analyze verify $unit (exit status $verify_rc):" >&2
  printf '%s\n' "$problems" >&2
  exit 1
fi
echo "verify: $unit: OK (missing $exec_path ignored)"

# 2. security score. --threshold=100 keeps the exit status for real failures (the score is
# compared here, to the tenth, with the limit printed next to it).
set +e
security_out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze security --offline=true --threshold=100 \
  --no-pager "$unit" 2>&1)
security_rc=$?
set -e
# The last line reads: → Overall exposure level for edge-screen.service: 1.4 OK 🙂
score=$(printf '%s\n' "$security_out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p' | tail -1)
if [ "$security_rc" -ne 0 ] || [ -z "$score" ]; then
  printf '%s\n' "$security_out" >&2
  echo "check-unit: systemd-analyze security $unit: no score (exit status $security_rc)" >&2
  exit 1
fi
# Compare in tenths, as integers: 1.4 -> 14.
tenths() { local whole=${1%.*} frac=${1#*.}; echo $((10#$whole * 10 + 10#${frac:0:1})); }
if [ "$(tenths "$score")" -gt "$(tenths "$max")" ]; then
  printf '%s\n' "$security_out" | grep '✗' >&2 || true
  echo "check-unit: $unit: exposure $score is above $max (the settings marked ✗ above raise it)" >&2
  exit 1
fi
echo "security: $unit: exposure $score (at most $max): OK"
