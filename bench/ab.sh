#!/usr/bin/env bash
# Compares builds of the service case by case, in alternating rounds against one TDS test
# server, so that a change is judged against the noise of this machine rather than against a
# figure from another hour. Prints, per round and case, the service's CPU per request, req/s
# and p99 (for `d`, the loop's CPU per query).
#
#   bench/ab.sh ROUNDS SECONDS CASE...
#     c         the bare actix-web endpoint of bench-server (the Status bytes)
#     f         the bare actix-web endpoint of bench-server with the log top=1000 bytes
#     d         the status query in a bare tiberius loop (bench-tds-loop)
#     a:DIR     cached Status, served by DIR/qoe-data-service
#     b:DIR     uncached Status (cache.ttl_ms = 0), served by DIR/qoe-data-service
#     e:DIR     the cached IntegrationLog?top=1000 hit, served by DIR/qoe-data-service
#
# bench-server and bench-tds-loop come from this checkout's release build. To compare with an
# older commit: `git worktree add /tmp/old REV && cargo build --release --manifest-path
# /tmp/old/Cargo.toml --target-dir /tmp/old-target`, then e.g.
#   bench/ab.sh 5 8 c a:/tmp/old-target/release a:target/release b:/tmp/old-target/release b:target/release d
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
ROUNDS=$1 SECS=$2
shift 2
ROWS=3000
CONTROL_PORT=${BENCH_PORT:-18300}

# shellcheck source=bench/common.sh
. bench/common.sh
start_bench_server
CONNECTION_STRING="Server=tcp:127.0.0.1,$TDS_PORT;Database=QoEArchive;User Id=qoe_service;Password=test-password;Encrypt=DANGER_PLAINTEXT"

declare -A PID URL
port=$((CONTROL_PORT + 1))
for case in "$@"; do
  kind=${case%%:*} dir=${case#*:}
  case $kind in
    c) PID[$case]=$BENCH_SERVER_PID URL[$case]="http://127.0.0.1:$CONTROL_PORT/bare" ;;
    f) PID[$case]=$BENCH_SERVER_PID URL[$case]="http://127.0.0.1:$CONTROL_PORT/bare-log" ;;
    d) ;;
    a | b | e)
      ttl=5000 path=/QoEDataService/IntegrationLog/Status
      [ "$kind" = b ] && ttl=0
      [ "$kind" = e ] && path="/QoEDataService/IntegrationLog?top=1000"
      QOE_DATABASE__CONNECTION_STRING="$CONNECTION_STRING" QOE_INTEGRATION_LOG__ENABLED=true \
        QOE_CACHE__TTL_MS=$ttl QOE_HTTP__LISTEN="127.0.0.1:$port" RUST_LOG="${RUST_LOG:-info}" \
        "$dir/qoe-data-service" serve 2>>"$WORK/service.log" &
      PIDS+=($!)
      PID[$case]=$! URL[$case]="http://127.0.0.1:$port$path"
      wait_for curl -fsS -o /dev/null "${URL[$case]}"
      port=$((port + 1))
      ;;
    *) echo "unknown case $case" >&2; exit 2 ;;
  esac
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
MICROS_PER_TICK=$((1000000 / $(getconf CLK_TCK)))
for round in $(seq "$ROUNDS"); do
  line="round $round:"
  for case in "$@"; do
    if [ "$case" = d ]; then
      out=$("$BIN/bench-tds-loop" --tds-port "$TDS_PORT" --seconds "$SECS")
      line="$line  d=$(echo "$out" | sed -n 's/.*cpu_us_per_query=\([0-9.]*\).*/\1/p')us"
      continue
    fi
    before=$(cpu_ticks "${PID[$case]}")
    wrk -t2 -c50 -d"${SECS}s" --latency "${URL[$case]}" >"$WORK/wrk.out"
    after=$(cpu_ticks "${PID[$case]}")
    requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
    rps=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$WORK/wrk.out")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")
    cpu=$(awk -v t=$(((after - before) * MICROS_PER_TICK)) -v n="$requests" 'BEGIN {printf "%.1f", t / n}')
    line="$line  $case=${cpu}us/${rps}rps/p99 $p99"
  done
  echo "$line"
done
