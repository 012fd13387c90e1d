#!/usr/bin/env bash
# Memory under abuse (BENCHMARKS.md, issue #10): builds in release, starts the TDS test server
# with realistic data and the service, then bench-abuse opens 5,000 connections that each send
# a 120 KB request head that never ends, and asks 7,000 distinct IntegrationLog queries
# (top 1..1000 x no category and each of the 6 categories). Prints the service's peak RSS.
# Loopback only; bounded: every step has a time limit, the whole run a few minutes at most.
#
#   bench/abuse.sh              # defaults of the service
#   bench/abuse.sh --smoke      # 500 connections, 700 queries: proves the script works
#
# Ports: BENCH_PORT (default 18090) and the next one. Raises the open-file limit to 16384.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=5000 QUERIES=7000 ROWS=3000
if [ "${1:-}" = "--smoke" ]; then CONNECTIONS=500 QUERIES=700 ROWS=300; fi
PORT=${BENCH_PORT:-18090}
CONTROL_PORT=$((PORT + 1))
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# shellcheck source=bench/common.sh
. bench/common.sh
start_bench_server
start_service_over_tds

timeout 300 "$BIN/bench-abuse" --port "$PORT" --pid "$SERVICE_PID" \
  --connections "$CONNECTIONS" --head-kb 120 --queries "$QUERIES" --seconds 180
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null && echo "the service still answers /healthz"
echo "service defaults: http.max_request_head_bytes 16384, http.max_connections 2048, http.client_request_timeout_ms 5000, cache.log_max_entries 256; $ROWS log rows; $(nproc) CPUs"
