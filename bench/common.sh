# Sourced by bench/run.sh, abuse.sh, query-rate.sh and slow-readers.sh: a release build (or BENCH_BIN), a work folder, the processes
# started (stopped on exit), waiting for readiness and the TDS test server with $ROWS rows.
# BENCH_BIN=DIR: use the binaries already in DIR instead of building (e.g. target/debug).
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$BENCH_BIN
else
  cargo build --release --locked -p qoe-data-service -p qoe-bench >&2
  BIN=${CARGO_TARGET_DIR:-target}/release
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Waits up to 10 s for a command to succeed.
wait_for() {
  local deadline=$((SECONDS + 10))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for: $*" >&2; exit 1; }
    sleep 0.05
  done
}

# Starts the service on $PORT over the TDS test server with the integration log on, plus any
# QOE_… variables given as arguments (NAME=value); sets SERVICE_PID and waits until it answers.
start_service_over_tds() {
  env "$@" QOE_DATABASE__CONNECTION_STRING="Server=tcp:127.0.0.1,$TDS_PORT;Database=QoEArchive;User Id=qoe_service;Password=test-password;Encrypt=DANGER_PLAINTEXT" \
    QOE_INTEGRATION_LOG__ENABLED=true QOE_HTTP__LISTEN="127.0.0.1:$PORT" RUST_LOG=info \
    "$BIN/qoe-data-service" serve 2>>"$WORK/service.log" &
  SERVICE_PID=$!
  PIDS+=("$SERVICE_PID")
  wait_for curl -fsS "http://127.0.0.1:$PORT/healthz"
}

# Starts bench-server on $CONTROL_PORT; sets BENCH_SERVER_PID and TDS_PORT.
start_bench_server() {
  "$BIN/bench-server" --rows "$ROWS" --port "$CONTROL_PORT" >"$WORK/bench-server.out" 2>"$WORK/bench-server.err" &
  BENCH_SERVER_PID=$!
  PIDS+=("$BENCH_SERVER_PID")
  wait_for grep -q tds_port "$WORK/bench-server.out"
  TDS_PORT=$(sed -n 's/.*"tds_port":\([0-9]*\).*/\1/p' "$WORK/bench-server.out")
}
