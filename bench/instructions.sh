#!/usr/bin/env bash
# The figure that decides (BENCHMARKS.md): instructions per request, counted by callgrind,
# which do not move with the load of a shared machine the way CPU time and req/s do.
#
# For each case the measured process runs under `valgrind --tool=callgrind` twice: once for
# N1 and once for N2 requests (bench-requests: one keep-alive connection, one request after
# another, the same request bytes whoever answers), after one warm-up request each time. Its
# instructions per request are (I(N2) - I(N1)) / (N2 - N1), so start-up, warm-up and
# shutdown cancel out.
#   (a) cached Status            the service, /QoEDataService/IntegrationLog/Status, ttl 1 h
#   (b) uncached Status          the same with cache.ttl_ms = 0
#   (c) bare actix-web           bench-server answering the same path with the same bytes
#   (d) bare tiberius loop       bench-tds-loop: the status query N times on one connection
#   (e) cached log top=1000      the service, /QoEDataService/IntegrationLog?top=1000
#   (f) bare actix-web, log      bench-server answering (e)'s path with the same bytes
#
#   bench/instructions.sh              # all six cases, N1=200, N2=2200
#   bench/instructions.sh a c          # some cases
#   N1=100 N2=1100 bench/instructions.sh
#   SERVICE_BIN=/tmp/old/release/qoe-data-service bench/instructions.sh a b e   # another build
#   KEEP=/tmp/cg bench/instructions.sh # keep the callgrind files, for `callgrind_annotate
#                                      # /tmp/cg/callgrind.a.2200` (minus callgrind.a.200)
#
# Needs valgrind and curl. Ports: BENCH_PORT (default 18400) and the next one. RUST_LOG for
# the service defaults to `info`, as in production.
set -euo pipefail
cd "$(dirname "$0")/.."

N1=${N1:-200} N2=${N2:-2200}
ROWS=3000
CONTROL_PORT=${BENCH_PORT:-18400}
PORT=$((CONTROL_PORT + 1))
SERVICE_LOG=${RUST_LOG:-info}
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(a c e f b d)
for tool in valgrind curl; do
  command -v "$tool" >/dev/null || { echo "bench/instructions.sh needs $tool (apt-get install -y $tool)" >&2; exit 1; }
done

# shellcheck source=bench/common.sh
. bench/common.sh
SERVICE_BIN=${SERVICE_BIN:-$BIN/qoe-data-service}
start_bench_server
CONNECTION_STRING="Server=tcp:127.0.0.1,$TDS_PORT;Database=QoEArchive;User Id=qoe_service;Password=test-password;Encrypt=DANGER_PLAINTEXT"
STATUS=/QoEDataService/IntegrationLog/Status
LOG_1000=/QoEDataService/IntegrationLog?top=1000

# Waits up to 5 minutes (valgrind starts slowly) for a command to succeed, while process
# `pid` lives.
wait_long() { # pid command...
  local pid=$1 deadline=$((SECONDS + 300))
  shift
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited; see $WORK/valgrind.log" >&2; tail -5 "$WORK/valgrind.log" >&2; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for: $*" >&2; exit 1; }
    sleep 0.2
  done
}

# The instructions a callgrind run counted, all threads together.
total() { sed -n 's/^totals: *//p; s/^summary: *//p' "$1" | head -1; }

# Runs one case for n requests under callgrind; prints the instructions counted.
count() { # case n
  local case=$1 n=$2 out="$WORK/callgrind.$1.$2" path=$STATUS ttl=3600000 pid
  local callgrind=(valgrind --tool=callgrind --callgrind-out-file="$out")
  case $case in
    d)
      "${callgrind[@]}" "$BIN/bench-tds-loop" --tds-port "$TDS_PORT" --queries "$n" >/dev/null 2>>"$WORK/valgrind.log"
      ;;
    a | b | e | c | f)
      [ "$case" = b ] && ttl=0
      [ "$case" = e ] || [ "$case" = f ] && path=$LOG_1000
      if [ "$case" = c ] || [ "$case" = f ]; then
        "${callgrind[@]}" "$BIN/bench-server" --rows "$ROWS" --port "$PORT" >/dev/null 2>>"$WORK/valgrind.log" &
      else
        QOE_DATABASE__CONNECTION_STRING="$CONNECTION_STRING" QOE_INTEGRATION_LOG__ENABLED=true \
          QOE_CACHE__TTL_MS="$ttl" QOE_HTTP__LISTEN="127.0.0.1:$PORT" RUST_LOG="$SERVICE_LOG" \
          "${callgrind[@]}" "$SERVICE_BIN" serve 2>>"$WORK/valgrind.log" &
      fi
      pid=$!
      # count runs in a subshell ($(...)): stop the server here if a step fails.
      trap 'kill "$pid" 2>/dev/null || true' EXIT
      # Warm (pool, cache), keeping the answer to compare the service's with the bare one's.
      wait_long "$pid" curl -fsS -D "$WORK/head.$case" -o "$WORK/body.$case" "http://127.0.0.1:$PORT$path"
      "$BIN/bench-requests" --port "$PORT" --path "$path" --count "$n" >/dev/null
      kill -TERM "$pid"
      wait "$pid" 2>/dev/null || true
      trap - EXIT
      ;;
    *) echo "unknown case $case" >&2; exit 2 ;;
  esac
  [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP"; cp "$out" "$KEEP/"; }
  total "$out"
  rm -f "$out"
}

declare -A PER
for case in "${CASES[@]}"; do
  low=$(count "$case" "$N1")
  high=$(count "$case" "$N2")
  PER[$case]=$(awk -v h="$high" -v l="$low" -v n=$((N2 - N1)) 'BEGIN {printf "%.0f", (h - l) / n}')
  echo "($case) ${PER[$case]} instructions per request ($low for $N1, $high for $N2)" >&2
done

# The bare endpoint must send the service's bytes: the same body and headers (but `date`,
# and the request id's digits), or it is not a floor for the service.
same_answer() { # service case, bare case
  [ -f "$WORK/body.$1" ] && [ -f "$WORK/body.$2" ] || return 0
  headers() { tr -d '\r' <"$WORK/head.$1" | grep -iv '^date:' | sed -E 's/^(x-request-id:) [[:graph:]]{32}$/\1 (32 digits)/I' | sort; }
  cmp -s "$WORK/body.$1" "$WORK/body.$2" || { echo "($2) sends another body than ($1)" >&2; exit 1; }
  diff <(headers "$1") <(headers "$2") >&2 || { echo "($2) sends other headers than ($1)" >&2; exit 1; }
}
same_answer a c
same_answer e f

label() {
  case $1 in
    a) echo "(a) Status, cache on" ;;
    b) echo "(b) Status, cache.ttl_ms = 0" ;;
    c) echo "(c) bare actix-web, Status path and bytes" ;;
    d) echo "(d) bare tiberius loop, same status query (per query)" ;;
    e) echo "(e) IntegrationLog?top=1000, cache on" ;;
    f) echo "(f) bare actix-web, log path and bytes" ;;
  esac
}
echo
echo "| case | instructions per request |"
echo "|---|---:|"
for case in a c e f b d; do
  [ -n "${PER[$case]:-}" ] && echo "| $(label "$case") | ${PER[$case]} |"
done
echo
ratio() { # x y target
  [ -n "${PER[$1]:-}" ] && [ -n "${PER[$2]:-}" ] || return 0
  awk -v x="${PER[$1]}" -v y="${PER[$2]}" -v t="$3" -v name="($1)/($2)" \
    'BEGIN {r = x / y; printf "%s = %.3f (target <= %.2f): %s\n", name, r, t, r <= t ? "met" : "MISSED"}'
}
ratio a c 1.15
ratio e f 1.10
ratio b d 1.15
echo "callgrind, N2 - N1 = $((N2 - N1)) requests on one keep-alive connection, $ROWS log rows, RUST_LOG=$SERVICE_LOG"
