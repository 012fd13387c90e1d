#!/usr/bin/env bash
# The query rate clients can cause (issue 28): builds in release, starts the TDS test server with
# realistic data and the service (cache defaults), then wrk runs 20 clients for 10 s of each
# workload, once without and once with API keys (the clients send a valid key): ClearCache
# then Status, in turn; `/readyz`; the log with a random `top` (1..1000), one request in four
# also with `category=CubeProcessingFailed`. Prints, per run, the answers and the queries the
# TDS test server received (its own count), and queries per second.
# Loopback only; bounded: six runs of 10 s, the whole run about a minute after the build.
#
#   bench/query-rate.sh              # 20 clients x 10 s per workload
#   bench/query-rate.sh --smoke      # 2 s per workload: proves the script works
#   SERVICE_BIN=path/to/qoe-data-service bench/query-rate.sh   # another build, e.g. an older one
#   BENCH_BIN=target/debug bench/query-rate.sh                  # binaries already built there
#
# Ports: BENCH_PORT (default 18100) and the next one. Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10 CLIENTS=20 ROWS=3000
if [ "${1:-}" = "--smoke" ]; then DURATION=2; fi
PORT=${BENCH_PORT:-18100}
CONTROL_PORT=$((PORT + 1))
KEY=bench-query-rate-key-0123456789abcdef

# shellcheck source=bench/common.sh
. bench/common.sh
SERVICE_BIN=${SERVICE_BIN:-$BIN/qoe-data-service}
start_bench_server

cat >"$WORK/clear-then-status.lua" <<'LUA'
local sent = 0
request = function()
  sent = sent + 1
  if sent % 2 == 1 then return wrk.format("POST", "/QoEDataService/ClearCache") end
  return wrk.format("GET", "/QoEDataService/IntegrationLog/Status")
end
LUA
cat >"$WORK/readyz.lua" <<'LUA'
request = function() return wrk.format("GET", "/readyz") end
LUA
cat >"$WORK/random-top.lua" <<'LUA'
math.randomseed(os.time())
request = function()
  local path = "/QoEDataService/IntegrationLog?top=" .. math.random(1, 1000)
  if math.random(1, 4) == 1 then path = path .. "&category=CubeProcessingFailed" end
  return wrk.format("GET", path)
end
LUA
cat >"$WORK/key.lua" <<'LUA'
local key = os.getenv("BENCH_API_KEY")
if key and key ~= "" then wrk.headers["X-Api-Key"] = key end
LUA

tds_queries() { curl -fsS "http://127.0.0.1:$CONTROL_PORT/stats" | sed 's/.*"requests":\([0-9]*\).*/\1/'; }

echo "| workload | API keys | answers (non-2xx) | queries | queries/s |"
echo "|---|---|---:|---:|---:|"
for keys in off on; do
  api_keys=()
  [ "$keys" = on ] && api_keys=(QOE_HTTP__API_KEYS="$KEY")
  env QOE_DATABASE__CONNECTION_STRING="Server=tcp:127.0.0.1,$TDS_PORT;Database=QoEArchive;User Id=qoe_service;Password=test-password;Encrypt=DANGER_PLAINTEXT" \
    QOE_INTEGRATION_LOG__ENABLED=true QOE_HTTP__LISTEN="127.0.0.1:$PORT" RUST_LOG=warn "${api_keys[@]}" \
    "$SERVICE_BIN" serve 2>>"$WORK/service.log" &
  SERVICE_PID=$!
  PIDS+=("$SERVICE_PID")
  wait_for curl -fsS "http://127.0.0.1:$PORT/healthz"
  sleep 1 # the readiness check at start
  for workload in clear-then-status readyz random-top; do
    cat "$WORK/key.lua" "$WORK/$workload.lua" >"$WORK/run.lua"
    before=$(tds_queries)
    output=$(BENCH_API_KEY=$([ "$keys" = on ] && echo "$KEY" || true) \
      timeout $((DURATION + 30)) wrk -t 2 -c "$CLIENTS" -d "${DURATION}s" -s "$WORK/run.lua" "http://127.0.0.1:$PORT")
    after=$(tds_queries)
    answers=$(echo "$output" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
    non2xx=$(echo "$output" | sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')
    queries=$((after - before))
    echo "| $workload | $keys | $answers (${non2xx:-0}) | $queries | $(awk -v q="$queries" -v s="$DURATION" 'BEGIN { printf "%.1f", q / s }') |"
  done
  kill "$SERVICE_PID"
  wait "$SERVICE_PID" 2>/dev/null || true
done
echo "$CLIENTS clients x ${DURATION} s per run (wrk, 2 threads), $ROWS log rows, cache defaults; $(nproc) CPUs"
