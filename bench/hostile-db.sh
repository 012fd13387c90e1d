#!/usr/bin/env bash
# Memory against a hostile database (BENCHMARKS.md, issue #28): builds in release, starts the
# TDS test server and, for each fault, a fresh service; four concurrent reads meet the fault
# (distinct `top`s, so that no read is shared), then the fault is lifted. Prints per fault the
# answers, how long they took, and the service's RSS idle, at its peak (VmHWM) and after.
# Loopback only; bounded: every read has a time limit, the whole run about a minute.
#
#   bench/hostile-db.sh
#
# Ports: BENCH_PORT (default 18094) and the next one.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=3000
PORT=${BENCH_PORT:-18094}
CONTROL_PORT=$((PORT + 1))

# shellcheck source=bench/common.sh
. bench/common.sh
start_bench_server

rss_kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

# One fault against a fresh service: fault name, then the paths of the four reads.
run_fault() {
  local fault=$1
  shift
  QOE_DATABASE__CONNECTION_STRING="Server=tcp:127.0.0.1,$TDS_PORT;Database=QoEArchive;User Id=qoe_service;Password=test-password;Encrypt=DANGER_PLAINTEXT" \
    QOE_INTEGRATION_LOG__ENABLED=true QOE_HTTP__LISTEN="127.0.0.1:$PORT" RUST_LOG=info \
    "$BIN/qoe-data-service" serve 2>>"$WORK/service.log" &
  local service=$!
  wait_for curl -fsS "http://127.0.0.1:$PORT/healthz"
  sleep 0.5
  local idle
  idle=$(rss_kb "$service" VmRSS)
  curl -fsS -X POST "http://127.0.0.1:$CONTROL_PORT/fault?kind=$fault"
  local answers=()
  for path in "$@"; do
    curl -s -o /dev/null -m 30 -w '%{http_code} in %{time_total}s' "http://127.0.0.1:$PORT$path" >"$WORK/answer.$#.${#answers[@]}" &
    answers+=($!)
  done
  wait "${answers[@]}"
  curl -fsS -X POST "http://127.0.0.1:$CONTROL_PORT/fault?kind=none"
  local after_read
  after_read=$(curl -s -o /dev/null -m 10 -w '%{http_code}' "http://127.0.0.1:$PORT/QoEDataService/IntegrationLog?top=5")
  sleep 2
  printf '%-14s idle %6d KB  peak %6d KB  after %6d KB  answers:' \
    "$fault" "$idle" "$(rss_kb "$service" VmHWM)" "$(rss_kb "$service" VmRSS)"
  for i in "${!answers[@]}"; do printf ' %s;' "$(cat "$WORK/answer.$#.$i")"; done
  printf '  then with the fault lifted: %s\n' "$after_read"
  kill "$service"
  wait "$service" 2>/dev/null || true
}

LOG=/QoEDataService/IntegrationLog
run_fault endless-rows "$LOG?top=1000" "$LOG?top=999" "$LOG?top=998" "$LOG?top=997"
run_fault endless-rows /QoEDataService/IntegrationLog/Status "$LOG?top=1000" "$LOG?top=999" "$LOG?top=998"
run_fault endless-rows /readyz /readyz /readyz /readyz
run_fault endless-value "$LOG?top=1000" "$LOG?top=999" "$LOG?top=998" "$LOG?top=997"
run_fault end-mid-row "$LOG?top=1000" "$LOG?top=999" /QoEDataService/IntegrationLog/Status /readyz
echo "each line: a fresh service (defaults: database.pool_max_size 10, command_timeout_ms 10000); answer byte budget $((4 * 1024 * 1024)) bytes per read; $(nproc) CPUs"
