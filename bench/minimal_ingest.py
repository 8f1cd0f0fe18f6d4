"""The floor for bench/ingest: an endpoint that only parses the envelope's JSON and XADDs the
event, on the same server stack as `vigil ingest` (aiohttp, redis.asyncio). No auth, no
normalization, no grouping, no batching: what the full ingest adds is what the ratio measures."""

from __future__ import annotations

import argparse
import json

import redis.asyncio
from aiohttp import web


def app(url: str) -> web.Application:
    client = redis.asyncio.Redis.from_url(url)

    async def envelope(request: web.Request) -> web.Response:
        header, _, rest = (await request.read()).partition(b"\n")
        _, _, payload = rest.partition(b"\n")
        event_id = json.loads(header)["event_id"]
        event = json.loads(payload)
        await client.xadd("vigil:minimal", {"event_id": event_id, "payload": json.dumps(event)},
                          maxlen=100_000, approximate=True)  # fmt: skip
        return web.json_response({"id": event_id})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    application = web.Application()
    application.add_routes([web.post("/api/{project_id}/envelope/", envelope), web.get("/healthz", healthz)])
    return application


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    web.run_app(app(args.redis_url), host="127.0.0.1", port=args.port, access_log=None, print=None)
