#!/usr/bin/env bash
# Slow readers (issue 28.1): starts the TDS test server with realistic data and the service
# (release build, defaults, integration log on), then 2,100 clients that each pipeline 50
# requests for IntegrationLog?top=1000: half never read, half read 1 byte a second. While
# they hold on, a new client asks /healthz every 0.5 s. Prints how long the service took to
# close them, each /healthz answer's status and time, idle, peak and after-RSS.
# Loopback only; bounded: 25 s of clients, the whole run about a minute.
#
#   bench/slow-readers.sh              # 2,100 clients
#   bench/slow-readers.sh --smoke      # 200 clients, 10 s: proves the script works
#
# Ports: BENCH_PORT (default 18097) and the next one. Raises the open-file limit to 16384.
# BENCH_SERVICE_ENV="NAME=value …": environment for the service alone, e.g. the allocator's
# tunables (BENCH_SERVICE_ENV=MALLOC_ARENA_MAX=2).
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=2100 HOLD_S=25 ROWS=3000
if [ "${1:-}" = "--smoke" ]; then CLIENTS=200 HOLD_S=10; fi
PORT=${BENCH_PORT:-18097}
CONTROL_PORT=$((PORT + 1))
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# shellcheck source=bench/common.sh
. bench/common.sh
start_bench_server
# shellcheck disable=SC2086 # NAME=value words, split on purpose
start_service_over_tds ${BENCH_SERVICE_ENV:-}

timeout $((HOLD_S + 60)) python3 - "$PORT" "$SERVICE_PID" "$CLIENTS" "$HOLD_S" <<'PY'
import asyncio, os, socket, sys, time

port, pid, clients, hold = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
PATH = "/QoEDataService/IntegrationLog?top=1000"
PIPELINE = (f"GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n" * 50).encode()

def rss_mb(field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0

def open_sockets():
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed since the listing
            pass
    return count

async def get(path, limit):
    asked = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), limit)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), limit)
    writer.close()
    return int(answer.split()[1]), time.monotonic() - asked

closed_after = {"never": [], "1 byte/s": []}
answered_503 = 0
not_connected = 0

ESTABLISHED = 1  # tcp_info's first byte: the connection's TCP state

async def slow_reader(kind, stop):
    global answered_503, not_connected
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 10)
        await asyncio.wait_for(loop.sock_sendall(sock, PIPELINE), 10)
    except Exception:
        not_connected += 1
        sock.close()
        return
    began = time.monotonic()
    first = b""
    while not stop.is_set():
        # Never reading: only the TCP state says whether the service closed (FIN or reset).
        if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != ESTABLISHED:
            break
        if kind == "1 byte/s":
            try:
                byte = sock.recv(1)
            except BlockingIOError:
                byte = None
            except OSError:
                break
            if byte == b"":
                break
            if byte and len(first) < 12:
                first += byte
        await asyncio.sleep(1.0 if kind == "1 byte/s" else 0.25)
    else:
        sock.close()
        return
    if kind == "never":
        try:
            first = sock.recv(12, socket.MSG_PEEK)
        except OSError:
            pass
    if first.startswith(b"HTTP/1.1 503"):
        answered_503 += 1
    else:
        closed_after[kind].append(time.monotonic() - began)
    sock.close()

async def main():
    # Warm: the answer cached, the idle RSS after one such request.
    status, _ = await get(PATH, 10)
    await asyncio.sleep(1)
    idle = rss_mb()
    baseline_sockets = open_sockets()
    print(f"idle RSS after one {PATH}: {idle:.1f} MB (status {status})")
    stop = asyncio.Event()
    start = time.monotonic()
    readers = [asyncio.create_task(slow_reader("never" if i % 2 == 0 else "1 byte/s", stop))
               for i in range(clients)]
    peak, probes, sockets = idle, [], []
    while time.monotonic() - start < hold:
        at = time.monotonic() - start
        try:
            probes.append((at, *await get("/healthz", 1)))
        except Exception:
            probes.append((at, "NO ANSWER within 1 s", None))
        for _ in range(5):
            peak = max(peak, rss_mb())
            await asyncio.sleep(0.1)
        sockets.append((at, open_sockets() - baseline_sockets))
    stop.set()
    await asyncio.gather(*readers)
    await asyncio.sleep(5)
    after = rss_mb()
    statuses = {}
    for _, status, _ in probes:
        statuses[status] = statuses.get(status, 0) + 1
    slowest = max((took for _, status, took in probes if took is not None), default=0)
    print(f"{clients} clients x 50 pipelined {PATH}, half never reading, half 1 byte/s, for {hold:.0f} s")
    print(f"/healthz every 0.5 s from a new client: {statuses}; slowest answer {slowest:.3f} s")
    print("service's open client sockets: " + ", ".join(f"{at:.0f}s:{n}" for at, n in sockets[::4]))
    for kind, times in closed_after.items():
        if times:
            times.sort()
            print(f"closed by the service ({kind}): {len(times)}, after {times[0]:.1f}-{times[-1]:.1f} s (median {times[len(times)//2]:.1f} s)")
        else:
            print(f"closed by the service ({kind}): 0")
    print(f"answered 503 at the cap: {answered_503}; not connected within 10 s: {not_connected}")
    print(f"RSS: idle {idle:.1f} MB, peak {max(peak, rss_mb('VmHWM')):.1f} MB (VmHWM {rss_mb('VmHWM'):.1f}), 5 s after the clients left {after:.1f} MB ({after - idle:+.1f} MB)")

asyncio.run(main())
PY
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null && echo "the service still answers /healthz"
echo "service defaults: http.max_connections 2048, http.client_write_timeout_ms 5000; $ROWS log rows; $(nproc) CPUs; service environment: ${BENCH_SERVICE_ENV:-none}"
