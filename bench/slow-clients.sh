#!/usr/bin/env bash
# Slow keep-alive clients (issue #21): starts the service with its defaults and opens 1,100
# connections that each finish one request, then send the next head one byte every 3-4 s.
# A new client asks /healthz at 2, 12, 22 and 32 s; prints how long each answer took, how
# many slow connections the service cut and when, and its peak RSS.
# Loopback only; bounded: 40 s of slow clients, the whole run under two minutes.
#
#   bench/slow-clients.sh              # release build, 1,100 slow clients
#   bench/slow-clients.sh --smoke      # 100 slow clients, 15 s: proves the script works
#   SERVICE_BIN=target/debug/qoe-data-service bench/slow-clients.sh   # an existing binary
#
# Port: BENCH_PORT (default 18095). Raises the open-file limit to 16384.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=1100 SECONDS_SLOW=40
if [ "${1:-}" = "--smoke" ]; then CLIENTS=100 SECONDS_SLOW=15; fi
PORT=${BENCH_PORT:-18095}
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [ -z "${SERVICE_BIN:-}" ]; then
  cargo build --release --locked -p qoe-data-service >&2
  SERVICE_BIN=${CARGO_TARGET_DIR:-target}/release/qoe-data-service
fi
LOG=$(mktemp)
QOE_DATABASE__CONNECTION_STRING="Server=tcp:127.0.0.1,1;User Id=u;Password=unused" \
  QOE_HTTP__LISTEN="127.0.0.1:$PORT" RUST_LOG=info env -u SERVICE_BIN "$SERVICE_BIN" serve 2>>"$LOG" &
SERVICE_PID=$!
trap 'kill "$SERVICE_PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 200); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done

timeout $((SECONDS_SLOW + 60)) python3 - "$PORT" "$CLIENTS" "$SECONDS_SLOW" <<'PY'
import asyncio, random, sys, time

port, clients, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
start = time.monotonic()
cut_after = []  # seconds from a slow head's first byte to the service closing

async def read_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length"))
    await reader.readexactly(length)

async def slow_client():
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
        writer.write(REQUEST)
        await asyncio.wait_for(read_answer(reader), 30)
    except Exception:
        return
    began = time.monotonic()
    for byte in (b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100):
        try:
            writer.write(bytes([byte]))
            await writer.drain()
            if await asyncio.wait_for(reader.read(1), random.uniform(3, 4)) == b"":
                cut_after.append(time.monotonic() - began)
                break
        except asyncio.TimeoutError:
            pass
        except Exception:
            cut_after.append(time.monotonic() - began)
            break
        if time.monotonic() - start > seconds:
            break
    writer.close()

async def new_client(at):
    await asyncio.sleep(at - (time.monotonic() - start))
    asked = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 8)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await asyncio.wait_for(read_answer(reader), 8)
        writer.close()
        return f"{at:.0f} s: answered in {time.monotonic() - asked:.3f} s"
    except Exception:
        return f"{at:.0f} s: NO ANSWER within 8 s"

async def main():
    slow = [asyncio.create_task(slow_client()) for _ in range(clients)]
    probes = [asyncio.create_task(new_client(at)) for at in (2, 12, 22, 32) if at < seconds]
    for line in await asyncio.gather(*probes):
        print("new client at", line)
    await asyncio.gather(*slow)
    cut = sorted(cut_after)
    if cut:
        print(f"slow connections cut by the service: {len(cut)} of {clients}; "
              f"after {cut[0]:.1f}-{cut[-1]:.1f} s (median {cut[len(cut) // 2]:.1f} s)")
    else:
        print(f"slow connections cut by the service: 0 of {clients}")

asyncio.run(main())
PY
echo "service peak RSS (VmHWM): $(awk '/VmHWM/ {print $2 / 1024 " MB"}' "/proc/$SERVICE_PID/status")"
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null && echo "the service still answers /healthz"
echo "protocol error log lines: $(grep -c 'protocol error' "$LOG" || true); $(nproc) CPUs"
