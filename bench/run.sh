#!/usr/bin/env bash
# The benchmark of BENCHMARKS.md, from one run: builds in release, starts the TDS test server
# with realistic data (bench-server), then the service, loads it with wrk, prints one table
# and the ratios issue #11 sets targets for:
#   (a) cached Status, (b) uncached Status, (c) a bare actix-web endpoint with the same bytes,
#   (d) the same status query in a bare tiberius loop over one connection (the driver's floor),
#   (e) the log route's cached `top=1000` hit, (f) a bare actix-web endpoint with (e)'s bytes.
#
#   bench/run.sh            # 2 threads, 50 connections, 10 s per case, 3000 log rows
#   bench/run.sh --smoke    # 2 s per case, 10 connections, 300 rows: proves the script works
#
# Needs wrk (Debian: apt-get install -y wrk) and curl. Ports: BENCH_PORT (default 18080) and
# the next two. RUST_LOG for the service defaults to `info`, as in production; its log goes to
# a file.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10s CONNECTIONS=50 THREADS=2 ROWS=3000
if [ "${1:-}" = "--smoke" ]; then DURATION=2s CONNECTIONS=10 ROWS=300; fi
PORT=${BENCH_PORT:-18080}
CONTROL_PORT=$((PORT + 2))
SERVICE_LOG=${RUST_LOG:-info}
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool (apt-get install -y $tool)" >&2; exit 1; }
done

# shellcheck source=bench/common.sh
. bench/common.sh
start_bench_server
CONTROL="http://127.0.0.1:$CONTROL_PORT"
CONNECTION_STRING="Server=tcp:127.0.0.1,$TDS_PORT;Database=QoEArchive;User Id=qoe_service;Password=test-password;Encrypt=DANGER_PLAINTEXT"

tds_requests() { curl -fsS "$CONTROL/stats" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p'; }

SERVICE_PID=
start_service() { # ttl_ms port
  QOE_DATABASE__CONNECTION_STRING="$CONNECTION_STRING" QOE_INTEGRATION_LOG__ENABLED=true \
    QOE_CACHE__TTL_MS="$1" QOE_HTTP__LISTEN="127.0.0.1:$2" RUST_LOG="$SERVICE_LOG" \
    "$BIN/qoe-data-service" serve 2>>"$WORK/service.log" &
  SERVICE_PID=$!
  PIDS+=("$SERVICE_PID")
  wait_for curl -fsS "http://127.0.0.1:$2/healthz"
}
stop_service() { kill "$SERVICE_PID"; wait "$SERVICE_PID" 2>/dev/null || true; }
peak_rss_kb() { awk '/^VmHWM/ {print $2}' "/proc/$SERVICE_PID/status"; }
# CPU time (user + system, clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

ROWS_OUT=()
# Runs wrk on a URL and appends a table row: label, req/s, p50, p99, server CPU per request,
# round trips, RSS.
measure() { # label url measure_db(yes|no) key server_pid
  local before=0 after=0 trips="—" rss="—" cpu_before cpu_after
  curl -fsS -o /dev/null "$2" # warm: pool connection, cache
  [ "$3" = yes ] && before=$(tds_requests)
  cpu_before=$(cpu_ticks "$5")
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2" >"$WORK/wrk.out"
  cpu_after=$(cpu_ticks "$5")
  [ "$3" = yes ] && after=$(tds_requests)
  if grep -q "Non-2xx" "$WORK/wrk.out"; then echo "errors during $1:" >&2; cat "$WORK/wrk.out" >&2; exit 1; fi
  local rps p50 p99 total
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")
  total=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  if [ "$3" = yes ]; then
    trips=$(awk -v d=$((after - before)) -v n="$total" 'BEGIN {printf "%.2f", d / n}')
    echo "$1: $((after - before)) database requests for $total answered HTTP requests" >>"$WORK/notes"
    rss="$(( $(peak_rss_kb) / 1024 )) MB"
  fi
  local cpu
  cpu=$(awk -v t=$(((cpu_after - cpu_before) * TICK_US)) -v n="$total" 'BEGIN {printf "%.1f", t / n}')
  ROWS_OUT+=("| $1 | ${rps%.*} | $p50 | $p99 | $cpu µs | $trips | $rss |")
  echo "${rps%.*}" >"$WORK/rps-$4"
  echo "$cpu" >"$WORK/cpu-$4"
  micros "$p99" >"$WORK/p99-$4"
}
# wrk's latency (`472.00us`, `4.67ms`, `1.02s`) in microseconds.
micros() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else print n * 1000000 }'; }

STATUS=/QoEDataService/IntegrationLog/Status
LOG_1000=/QoEDataService/IntegrationLog?top=1000
start_service 5000 "$PORT"
# The bare endpoints must send the service's bytes, or (c) and (f) are not floors for (a) and (e).
same_body() { # service path, bench-server path
  curl -fsS "http://127.0.0.1:$PORT$1" >"$WORK/service.body"
  curl -fsS "$CONTROL$2" >"$WORK/bare.body"
  cmp -s "$WORK/service.body" "$WORK/bare.body" || { echo "$CONTROL$2 differs from $1" >&2; exit 1; }
  wc -c <"$WORK/service.body"
}
STATUS_BYTES=$(same_body "$STATUS" /bare) BARE_BYTES=$STATUS_BYTES
LOG_BYTES=$(same_body "$LOG_1000" /bare-log) BARE_LOG_BYTES=$LOG_BYTES
measure "(a) Status, cache on (ttl 5 s)" "http://127.0.0.1:$PORT$STATUS" yes a "$SERVICE_PID"
RSS_A=$(peak_rss_kb)
# Right after (a), so both see the same background load on a shared machine (the service
# idles meanwhile).
measure "(c) bare actix-web, same $BARE_BYTES-byte body" "$CONTROL/bare" no c "$BENCH_SERVER_PID"
measure "(e) IntegrationLog?top=1000, cache on ($LOG_BYTES bytes)" "http://127.0.0.1:$PORT$LOG_1000" yes e "$SERVICE_PID"
measure "(f) bare actix-web, same $BARE_LOG_BYTES-byte body as (e)" "$CONTROL/bare-log" no f "$BENCH_SERVER_PID"
stop_service

start_service 0 "$PORT"
measure "(b) Status, cache.ttl_ms = 0" "http://127.0.0.1:$PORT$STATUS" yes b "$SERVICE_PID"
RSS_B=$(peak_rss_kb)
stop_service

# (d) The driver's floor: the same status query, one connection, one query after another;
# its CPU is the loop's own (the TDS test server's is in neither (b) nor (d)).
"$BIN/bench-tds-loop" --tds-port "$TDS_PORT" --seconds "${DURATION%s}" >"$WORK/loop.out"
LOOP=$(cat "$WORK/loop.out")
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$WORK/loop.out"; }
LOOP_QUERIES=$(field queries) LOOP_SECONDS=$(field seconds)
echo "$(field cpu_us_per_query)" >"$WORK/cpu-d"
ROWS_OUT+=("| (d) bare tiberius loop, same status query, 1 connection | $(awk -v q="$LOOP_QUERIES" -v s="$LOOP_SECONDS" 'BEGIN {printf "%d", q / s}') | $(field p50_us)us | $(field p99_us)us | $(cat "$WORK/cpu-d") µs | 1.00 | — |")

# 200 concurrent misses: a cold service, every database answer held for 1 s so that the 200
# connections' first requests all wait on the cache at once.
start_service 60000 "$((PORT + 1))"
curl -fsS -X POST "$CONTROL/stall?ms=1000"
before=$(tds_requests)
wrk -t"$THREADS" -c200 -d3s "http://127.0.0.1:$((PORT + 1))$STATUS" >"$WORK/wrk-misses.out"
MISS_QUERIES=$(( $(tds_requests) - before ))
RSS_MISSES=$(peak_rss_kb)
stop_service

echo
echo "| case | req/s | p50 | p99 | server CPU / request | DB round trips / request | service peak RSS |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS_OUT[0]}" "${ROWS_OUT[4]}" "${ROWS_OUT[1]}" "${ROWS_OUT[5]}" "${ROWS_OUT[2]}" "${ROWS_OUT[3]}"
echo
ratio() { awk -v x="$(cat "$WORK/$1")" -v y="$(cat "$WORK/$2")" 'BEGIN {printf "%.2f", x / y}'; }
echo "(a) vs (c) by CPU per request, c/a = $(ratio cpu-c cpu-a) (target >= 0.90)"
echo "(a) vs (c) by req/s, a/c = $(ratio rps-a rps-c) (target >= 0.90)"
echo "p99 (a) / p99 (c) = $(ratio p99-a p99-c) (target <= 1.20)"
echo "(b) / (d) CPU per request = $(ratio cpu-b cpu-d) (target <= 1.20)"
echo "(e) log top=1000 hit / (a) Status hit, CPU per request = $(ratio cpu-e cpu-a) (target <= 2.00)"
echo "(e) / (f), the log hit against a bare endpoint sending its bytes, CPU per request = $(ratio cpu-e cpu-f) (no target)"
echo "(d): $LOOP"
echo "200 concurrent misses on a cold cache -> $MISS_QUERIES database queries"
cat "$WORK/notes"
echo "(wrk counts only answered requests; up to $CONNECTIONS more were in flight when it stopped)"
echo "Status body $STATUS_BYTES bytes and log body $LOG_BYTES bytes, each byte for byte the same as its bare endpoint's"
echo "peak RSS (VmHWM): a $((RSS_A / 1024)) MB, b $((RSS_B / 1024)) MB, 200 misses $((RSS_MISSES / 1024)) MB"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROWS log rows, RUST_LOG=$SERVICE_LOG; $(nproc) CPUs: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
