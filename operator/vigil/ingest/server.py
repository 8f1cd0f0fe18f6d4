"""`vigil ingest`: Sentry's store and envelope endpoints over aiohttp.

A request is read (size-capped before and after decompression), authenticated against the keys
the operator mirrors to Redis, rate limited, parsed, normalized and grouped (the pure core in
this package), then saved. Saves of concurrent requests are batched into one Redis round trip;
a request is answered 200 only once Redis accepted its event."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.exceptions
from aiohttp import web

from vigil.ingest import protocol
from vigil.ingest.errors import BadRequest, Forbidden, IngestError, RateLimited, TooLarge, Unavailable
from vigil.ingest.event import Event
from vigil.ingest.grouping import grouping_hash
from vigil.ingest.metrics import Metrics
from vigil.ingest.normalize import normalize
from vigil.store import KeyInfo, SaveRequest, SaveResult, Store

RETRY_SECONDS = 5  # what a 503 asks SDKs to wait while Redis is away


@dataclass(frozen=True)
class Limits:
    """Relay's defaults: an event 1 MiB, an envelope 100 MiB (compressed and decompressed)."""

    max_event_bytes: int = 1 << 20
    max_envelope_bytes: int = 100 << 20
    key_cache_seconds: float = 5.0
    batch_size: int = 256


class Batcher:
    """Collects the saves of concurrent requests and sends each batch in one Redis round trip."""

    def __init__(self, store: Store, size: int) -> None:
        self.store, self.size = store, size
        self.queue: asyncio.Queue[tuple[SaveRequest, asyncio.Future[SaveResult]]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()

    async def save(self, request: SaveRequest) -> SaveResult:
        future: asyncio.Future[SaveResult] = asyncio.get_running_loop().create_future()
        await self.queue.put((request, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                results = await self.store.save([r for r, _ in batch])
            except Exception as err:  # Redis down: every waiting request learns it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)


class KeyCache:
    """Public key -> KeyInfo for a few seconds, so a busy key costs no Redis read per request."""

    def __init__(self, store: Store, ttl: float) -> None:
        self.store, self.ttl = store, ttl
        self.entries: dict[str, tuple[float, KeyInfo | None]] = {}

    async def get(self, public_key: str) -> KeyInfo | None:
        now = time.monotonic()
        hit = self.entries.get(public_key)
        if hit and hit[0] > now:
            return hit[1]
        info = await self.store.get_key(public_key)
        if len(self.entries) > 100_000:
            self.entries.clear()
        self.entries[public_key] = (now + self.ttl, info)
        return info


class Ingest:
    def __init__(self, store: Store, limits: Limits = Limits()) -> None:
        self.store, self.limits = store, limits
        self.batcher = Batcher(store, limits.batch_size)
        self.keys = KeyCache(store, limits.key_cache_seconds)
        self.metrics = Metrics()

    # --- the two endpoints ---------------------------------------------------------------------

    async def envelope(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._from_envelope, self.limits.max_envelope_bytes, dsn_auth=True)

    async def store_endpoint(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._from_store, self.limits.max_event_bytes, dsn_auth=False)

    async def _handle(self, request: web.Request, extract: Callable[..., Awaitable[Any]], limit: int,
                      dsn_auth: bool) -> web.Response:  # fmt: skip
        try:
            project_id = _project_id(request)
            # Credentials in the headers or the query are checked before the body is read, so an
            # unknown client cannot make the ingest inflate anything.
            auth = protocol.parse_auth(request.headers, request.query)
            key = await self._authorize(auth.public_key, project_id) if auth else None
            if key is None and not dsn_auth:  # only an envelope can carry its key in its body
                raise Forbidden("missing authorization information")
            data = protocol.decode_body(await _read(request, limit), request.headers.get("Content-Encoding"), limit)
            event_id = await extract(request, project_id, key, data)
        except IngestError as err:
            self.metrics.rejected(type(err).__name__)
            status, headers, body = err.response()
            return web.json_response(body, status=status, headers=headers)
        return web.json_response({"id": event_id} if event_id else {})

    async def _from_envelope(self, request: web.Request, project_id: int, key: KeyInfo | None,
                             data: bytes) -> str | None:  # fmt: skip
        envelope = protocol.parse_envelope(data)
        if key is None:  # the envelope's own `dsn` header is the last way to authenticate
            from_dsn = protocol.envelope_auth(envelope)
            if from_dsn is not None and from_dsn[1] != project_id:
                raise Forbidden("the envelope's DSN names another project")
            key = await self._authorize(from_dsn[0].public_key if from_dsn else None, project_id)
        event_item = envelope.event_item()
        if event_item is None:
            await self._rate_limit(key)
            return envelope.event_id  # sessions, client reports, attachments alone: accepted, not stored
        if len(event_item.payload) > self.limits.max_event_bytes:
            raise TooLarge(f"event exceeds {self.limits.max_event_bytes} bytes")
        payload, item_type = protocol.event_payload(envelope)  # type: ignore[misc]
        return await self._save(request, key, payload, envelope.event_id, item_type, envelope.sent_at)

    async def _from_store(self, request: web.Request, project_id: int, key: KeyInfo | None,
                          data: bytes) -> str | None:  # fmt: skip
        assert key is not None  # _handle refused the request otherwise
        payload = protocol.store_payload(data, self.limits.max_event_bytes)
        return await self._save(request, key, payload, None, None, None)

    async def _authorize(self, public_key: str | None, project_id: int) -> KeyInfo:
        if not public_key:
            raise Forbidden("missing authorization information")
        try:
            info = await self.keys.get(public_key)
        except redis.exceptions.RedisError as err:
            raise Unavailable(RETRY_SECONDS, "event store unavailable") from err
        if info is None:
            raise Forbidden("unknown public key")
        if info.project_id != project_id:
            raise Forbidden("the key does not belong to this project")
        return info

    async def _rate_limit(self, key: KeyInfo) -> None:
        """Count the request against its key's limit: only once it is valid and about to be
        accepted, so a refused request spends no quota (and writes nothing)."""
        if key.rate_limit:
            count, window = key.rate_limit
            try:
                retry = await self.store.hit_rate_limit(key.public_key, count, window, time.time())
            except redis.exceptions.RedisError as err:
                raise Unavailable(RETRY_SECONDS, "event store unavailable") from err
            if retry is not None:
                raise RateLimited(retry, reason="key_quota")

    async def _save(self, request: web.Request, key: KeyInfo, payload: dict[str, Any], envelope_id: str | None,
                    item_type: str | None, sent_at: Any) -> str:  # fmt: skip
        received = time.time()
        # A fresh id only for an event that may need one: uuid4 is not free on every request.
        fallback = None if envelope_id else uuid.uuid4().hex
        event = normalize(payload, project_id=key.project_id, received=received, event_id=envelope_id,
                          fallback_id=fallback, item_type=item_type, sent_at=sent_at,
                          client_ip=request.remote)  # fmt: skip
        await self._rate_limit(key)
        started = time.perf_counter()
        try:
            result = await self.batcher.save(_save_request(event))
        except redis.exceptions.RedisError as err:
            raise Unavailable(RETRY_SECONDS, "event store unavailable") from err
        self.metrics.saved(time.perf_counter() - started, duplicate=result.duplicate)
        return event.event_id

    # --- health ------------------------------------------------------------------------------

    async def healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(self, _: web.Request) -> web.Response:
        try:
            ok = await self.store.ping()
        except redis.exceptions.RedisError:
            ok = False
        return web.Response(text="ok" if ok else "redis unreachable", status=200 if ok else 503)

    async def metrics_endpoint(self, _: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), content_type="text/plain")

    def app(self) -> web.Application:
        # Bodies are decoded by protocol.decode_body, which bounds the decompressed size; aiohttp
        # would otherwise inflate them first, unbounded.
        app = web.Application(client_max_size=self.limits.max_envelope_bytes + 1,
                              handler_args={"auto_decompress": False})
        app.add_routes([
            web.post("/api/{project_id}/envelope/", self.envelope),
            web.post("/api/{project_id}/store/", self.store_endpoint),
            web.get("/healthz", self.healthz),
            web.get("/readyz", self.readyz),
            web.get("/metrics", self.metrics_endpoint),
        ])  # fmt: skip
        app.on_startup.append(lambda _: self._start())
        app.on_cleanup.append(lambda _: self._stop())
        return app

    async def _start(self) -> None:
        self.batcher.start()

    async def _stop(self) -> None:
        await self.batcher.stop()
        await self.store.close()


def _project_id(request: web.Request) -> int:
    raw = request.match_info["project_id"]
    if not raw.isdigit():
        raise BadRequest(f"invalid project id {raw!r}")
    return int(raw)


async def _read(request: web.Request, limit: int) -> bytes:
    """The body, refused before reading when its declared length is over the limit."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body exceeds {limit} bytes")
        chunks.append(chunk)
    if not size:
        raise BadRequest("empty body")
    return b"".join(chunks)


def _save_request(event: Event) -> SaveRequest:
    """What the store writes for an event; the group flags are the store's to decide."""
    group = grouping_hash(event)
    return SaveRequest(
        project_id=event.project_id,
        event_id=event.event_id,
        kind="transaction" if event.type == "transaction" else "error",
        group=group,
        title=event.title,
        culprit=event.culprit or "",
        level=event.level,
        timestamp=event.timestamp,
        received=event.received,
        environment=event.environment,
        release=event.release,
        dist=event.dist,
        user=event.user_tag,
        tags=tuple((k, v) for k, v in event.tags),
        fields=event.descriptive_fields(),
        payload=event.to_json().encode(),
    )


def run(port: int, redis_url: str, host: str = "0.0.0.0", limits: Limits = Limits()) -> None:
    web.run_app(Ingest(Store.from_url(redis_url), limits).app(), host=host, port=port, access_log=None)
