#!/usr/bin/env bash
# Soak test: the daemon on a long queue of simulated visits at --speed max, with the record store
# and the MQTT uplink to a local mosquitto (a subscriber listening), for HOURS hours. Every
# INTERVAL seconds it samples the daemon's resident memory, open file descriptors, database size
# and outbox size into OUT/soak.csv, then checks the bounds below (after a warm-up of the first
# fifth of the run) and exits 1 when one is exceeded.
#
#   scripts/soak.sh HOURS [OUT]        e.g. scripts/soak.sh 1 out/soak-1h;  scripts/soak.sh 0.034 (2 min, CI)
#
# Environment: BIN (default target/release/edge-screen, else target/debug/edge-screen),
# INTERVAL (s, default 5; 2 when the run is under 10 minutes),
# MAX_RSS_GROWTH_KB (default 16384), MAX_FD_GROWTH (default 4), MAX_OUTBOX (default 50).
# Needs mosquitto (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:?usage: scripts/soak.sh HOURS [OUT]}
out=${2:-out/soak}
secs=$(awk -v h="$hours" 'BEGIN { s = int(h * 3600); if (s < 30) s = 30; print s }')
interval=${INTERVAL:-$(( secs < 600 ? 2 : 5 ))}
max_rss_growth_kb=${MAX_RSS_GROWTH_KB:-16384}
max_fd_growth=${MAX_FD_GROWTH:-4}
max_outbox=${MAX_OUTBOX:-50}
bin=${BIN:-}
if [ -z "$bin" ]; then
  for b in target/release/edge-screen target/debug/edge-screen; do
    [ -x "$b" ] && { bin=$b; break; }
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "soak: no edge-screen binary (cargo build first, or set BIN)" >&2; exit 2; }
mosq=$(command -v mosquitto || true); [ -n "$mosq" ] || mosq=/usr/sbin/mosquitto
[ -x "$mosq" ] || { echo "soak: mosquitto not found (bash scripts/setup.sh installs it)" >&2; exit 2; }

rm -rf "$out"; mkdir -p "$out"
out=$(cd "$out" && pwd)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18883)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$out/mosquitto.conf"
"$mosq" -c "$out/mosquitto.conf" > "$out/mosquitto.log" 2>&1 &
mosq_pid=$!
pids=("$mosq_pid")
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
sleep 0.5
if command -v mosquitto_sub >/dev/null; then
  mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t 'edge-screen/+/sessions' > "$out/received.jsonl" 2>/dev/null &
  pids+=($!)
fi

# Far more visits than the run can reach (in the config file: too long for a command line); the
# daemon is stopped by SIGTERM at the end.
queue="empty:8"
# 166 x 6 items: under the 1000-item limit, ~25 h of stream time (more than an hour at --speed max here).
for _ in $(seq 1 166); do
  queue="$queue,eupnea@15:120,empty:60,tachypnea@30:120,empty:60,central_apnea@12:120,empty:60"
done
cat > "$out/kiosk.toml" <<EOF
[simulation]
visits = "$queue"
[records]
path = "$out/records.db"
retention_count = 1000
[metrics]
listen = ""
[status]
interval_s = 1.0
EOF
"$bin" --config "$out/kiosk.toml" --camera sim --speed max \
  --uplink "mqtt://127.0.0.1:$port" --device-id soak --events "$out/events.jsonl" \
  2> "$out/daemon.log" &
pid=$!
pids+=("$pid")

echo "t_s,rss_kb,fds,db_kb,outbox,records,results" > "$out/soak.csv"
start=$(date +%s)
while :; do
  sleep "$interval"
  t=$(( $(date +%s) - start ))
  [ -d /proc/$pid ] || { echo "soak: the daemon exited early:" >&2; tail -20 "$out/daemon.log" >&2; exit 1; }
  rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status)
  fds=$(ls /proc/$pid/fd | wc -l)
  db=$(( ( $(stat -c %s "$out/records.db" 2>/dev/null || echo 0) + $(stat -c %s "$out/records.db-wal" 2>/dev/null || echo 0) ) / 1024 ))
  st=$("$bin" --config "$out/kiosk.toml" status --json 2>/dev/null || true)
  outbox=$(printf '%s' "$st" | sed -n 's/.*"outbox":{"pending":\([0-9]*\).*/\1/p')
  saved=$(printf '%s' "$st" | sed -n 's/.*"saved_total":\([0-9]*\).*/\1/p')
  results=$(grep -c '"session_result"' "$out/events.jsonl" || true)
  echo "$t,$rss,$fds,$db,${outbox:-0},${saved:-0},$results" >> "$out/soak.csv"
  printf '%6ss  rss %6s kB  fds %3s  db %6s kB  outbox %4s  saved %6s\n' "$t" "$rss" "$fds" "$db" "${outbox:-?}" "${saved:-?}"
  [ "$t" -ge "$secs" ] && break
done
kill -TERM "$pid"
wait "$pid" || true

# Bounds, after the warm-up (first fifth of the samples).
awk -F, -v rssg="$max_rss_growth_kb" -v fdg="$max_fd_growth" -v maxo="$max_outbox" '
  NR == 1 { next }
  { n++; t[n] = $1; rss[n] = $2; fd[n] = $3; db[n] = $4; ob[n] = $5; rec[n] = $6 }
  END {
    w = int(n / 5) + 1
    r0 = rss[w]; f0 = fd[w]; rmax = 0; fmax = 0; omax = 0
    for (i = w; i <= n; i++) {
      if (rss[i] > rmax) rmax = rss[i]; if (fd[i] > fmax) fmax = fd[i]; if (ob[i] > omax) omax = ob[i]
    }
    printf "soak: %d s, %d results saved; RSS %d -> max %d kB (growth %d kB, bound %d); fds %d -> max %d (bound +%d); outbox max %d (bound %d); db %d kB at the end\n",
      t[n], rec[n], r0, rmax, rmax - r0, rssg, f0, fmax, fdg, omax, maxo, db[n]
    bad = 0
    if (rmax - r0 > rssg) { print "soak: FAIL: memory grew beyond the bound"; bad = 1 }
    if (fmax - f0 > fdg) { print "soak: FAIL: open file descriptors grew"; bad = 1 }
    if (omax > maxo) { print "soak: FAIL: the outbox backed up"; bad = 1 }
    if (rec[n] < 1) { print "soak: FAIL: no result was saved"; bad = 1 }
    exit bad
  }' "$out/soak.csv" | tee "$out/summary.txt"
status=${PIPESTATUS[0]}
results=$(grep -c '"session_result"' "$out/events.jsonl" || true)
records=$("$bin" --records "$out/records.db" records verify --json)
echo "soak: $results session_result events; store: $records"
exit "$status"
