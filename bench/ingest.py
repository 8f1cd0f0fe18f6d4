"""bench/ingest: 1 KB error events over keep-alive connections into `vigil ingest` on one core,
from wrk on the other core (a Lua script gives every request its own event id).

Same-run references, at the same concurrency: a minimal endpoint that only parses the envelope's
JSON and XADDs the event (bench/minimal_ingest.py, same server stack, same core, same load), and
`redis-benchmark` XADD of the same payload straight into Redis.

    python bench/ingest.py [--connections 32] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
KEY, PROJECT = "0123456789abcdef0123456789abcdef", 42

# About 1 KB once framed: an exception with in-app frames, tags, a user, a release.
EVENT = {
    "platform": "python", "level": "error", "release": "backend@1.4.0", "environment": "production",
    "server_name": "web-1", "transaction": "POST /checkout",
    "tags": {"region": "eu-west-1", "customer_tier": "gold"},
    "user": {"id": "4711", "email": "ada@example.com"},
    "exception": {"values": [{"type": "CheckoutError", "value": "cart vanished during checkout",
                              "module": "shop.checkout",
                              "stacktrace": {"frames": [
                                  {"filename": f"shop/{n}.py", "module": f"shop.{n}", "function": f"{n}_handler",
                                   "lineno": 10 + i, "in_app": True, "context_line": f"    return {n}(request)"}
                                  for i, n in enumerate(["views", "checkout", "cart", "payment"])]}}]},
    "extra": {"order_id": "ord_0000000000000000", "items": 3},
}  # fmt: skip

LUA = """
local payload = %s
local header = '{"sent_at":"2026-12-03T00:00:00Z"}'
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-sentry-envelope"
wrk.headers["X-Sentry-Auth"] = "Sentry sentry_version=7, sentry_client=bench/1.0, sentry_key=%s"
local n = 0
request = function()
  n = n + 1
  local id = string.format("%%08x%%08x%%08x%%08x", math.random(0, 0x7fffffff), n, math.random(0, 0x7fffffff), os.time())
  local body = '{"event_id":"' .. id .. '"}\\n{"type":"event","length":' .. #payload .. '}\\n' .. payload .. '\\n'
  return wrk.format(nil, nil, nil, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"bench: {url} did not come up")


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    """Requests/s and latency percentiles (ms) from wrk on core 1; every answer must be 2xx."""
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout  # fmt: skip
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"bench: errors under load:\n{out}")
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M)}
    return {"rps": float(re.search(r"Requests/sec:\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": pct["50"], "p99_ms": pct["99"]}  # fmt: skip


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def serve(argv: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """A server pinned to core 0, as a sidecar would get one core."""
    with log.open("wb") as out:
        proc = subprocess.Popen(["taskset", "-c", "0", *argv], stdout=out, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    for tool in ("wrk", "redis-server", "redis-benchmark", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is missing (make deps installs wrk and redis-server)")
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    payload = json.dumps(EVENT, separators=(",", ":"))
    script = tmp / "envelope.lua"
    script.write_text(LUA % (json.dumps(payload), KEY))

    redis_port = free_port()
    redis_proc = subprocess.Popen(["taskset", "-c", "1", "redis-server", "--port", str(redis_port), "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL)  # fmt: skip
    url = f"redis://127.0.0.1:{redis_port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    client.hset("vigil:keys", KEY, json.dumps({"project_id": PROJECT, "namespace": "bench", "project": "bench",
                                               "rate_limit": None}))  # fmt: skip
    results: dict[str, dict[str, float]] = {}
    try:
        for name, argv in {
            "minimal": [sys.executable, str(HERE / "minimal_ingest.py")],
            "ingest": [sys.executable, "-m", "vigil", "ingest", "--host", "127.0.0.1"],
        }.items():
            port = free_port()
            proc = serve([*argv, "--port", str(port), "--redis-url", url], port, tmp / f"{name}.log")
            try:
                wrk(f"http://127.0.0.1:{port}/api/{PROJECT}/envelope/", script, args.connections, 2)  # warm-up
                results[name] = wrk(f"http://127.0.0.1:{port}/api/{PROJECT}/envelope/", script, args.connections,
                                    args.seconds)  # fmt: skip
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        saved = client.xlen(f"vigil:{{p{PROJECT}}}:events")
        bench = subprocess.run(["taskset", "-c", "1", "redis-benchmark", "-p", str(redis_port), "-c",
                                str(args.connections), "-n", "200000", "-q", "XADD", "vigil:bench", "MAXLEN", "~",
                                "100000", "*", "payload", payload], capture_output=True, text=True, check=True)  # fmt: skip
        xadd = float(re.search(r"([\d.]+) requests per second", bench.stdout).group(1))  # type: ignore[union-attr]
    finally:
        client.close()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
    full, minimal = results["ingest"], results["minimal"]
    print(json.dumps({"connections": args.connections, "payload_bytes": len(payload), "ingest": full,
                      "minimal": minimal, "redis_benchmark_xadd_rps": xadd, "events_saved": saved,
                      "ratio_to_minimal": round(full["rps"] / minimal["rps"], 2),
                      "ratio_to_redis_xadd": round(full["rps"] / xadd, 3)}))  # fmt: skip
    print(f"ingest: {full['rps']:.0f} events/s (p50 {full['p50_ms']:.1f} ms, p99 {full['p99_ms']:.1f} ms); "
          f"minimal endpoint {minimal['rps']:.0f}/s (p50 {minimal['p50_ms']:.1f} ms, p99 {minimal['p99_ms']:.1f} ms), "
          f"ratio {full['rps'] / minimal['rps']:.2f}; redis-benchmark XADD {xadd:.0f}/s, "
          f"ratio {full['rps'] / xadd:.3f}")


if __name__ == "__main__":
    main()
