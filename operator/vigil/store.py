"""The Redis adapter: event saving (one Lua script per event), project keys, rate limits, reads.

Key layout. Everything about a project carries the hash tag `{p<id>}`, so a Redis Cluster keeps a
project's keys in one slot and the save script (which declares all its keys) can run there:

    vigil:{p<id>}:seen:<event_id>        dedupe marker, EX dedupe_seconds
    vigil:{p<id>}:group:<hash>           hash: first_seen last_seen times_seen title culprit level status
    vigil:{p<id>}:group:<hash>:envs      hash: environment ("" = none) -> first seen
    vigil:{p<id>}:groups                 sorted set: hash by last_seen
    vigil:{p<id>}:environments           hash: environment -> first seen
    vigil:{p<id>}:releases               hash: release -> first seen
    vigil:{p<id>}:release-envs           hash: "release\\0environment" ("" = none) -> first seen
    vigil:{p<id>}:users                  HyperLogLog of `sentry:user` values
    vigil:{p<id>}:tags:<key>             sorted set: value -> times seen (bounded)
    vigil:{p<id>}:events                 stream of errors (and every non-transaction)
    vigil:{p<id>}:transactions           stream of transactions
    vigil:keys                           hash: public key -> KeyInfo JSON (mirrored by the operator)
    vigil:rl:{<public key>}:<window>:<start>   fixed-window rate-limit counter

Retries and "200 means saved". The seen marker makes a save idempotent: a batch re-sent after a
lost reply (by the caller, or by redis-py's own connection retry) answers `duplicate` for every
event the first attempt stored. A duplicate therefore means "already saved within the dedupe
window", which is the truth a client needs; the ingest may acknowledge it with 200.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

log = logging.getLogger(__name__)

Kind = Literal["error", "transaction"]

KEYS_HASH = "vigil:keys"
TAG_LENGTH_MAX = 200  # Sentry's limit on a tag value; longer ones are not counted per key
TAG_VALUES_MAX = 1000  # distinct values counted per tag key, so a request-id tag cannot grow a key forever
EVENT_ID = re.compile(r"[0-9a-f]{32}")

# Stream fields the store writes itself; `SaveRequest.fields` may not shadow them (except `type`).
RESERVED_FIELDS = frozenset({
    "event_id", "timestamp", "received", "group", "environment", "release", "dist", "level", "user",
    "tags", "payload", "is_new", "is_regression", "is_new_group_environment",
})

# One event, atomically. KEYS and ARGV are laid out by `_script_call` below.
SAVE_LUA = r"""
-- KEYS: 1 seen, 2 stream, 3 environments, 4 releases, 5 release-envs, 6 users,
--       [7 group, 8 groups, 9 group envs: errors only], then one key per counted tag.
-- ARGV: 1 dedupe_seconds, 2 maxlen, 3 timestamp, 4 title, 5 culprit, 6 level, 7 environment,
--       8 release, 9 user, 10 group hash ('' for transactions), 11 ntags, 12 tag values max,
--       then ntags tag values (matching the tag keys), then the stream's field/value pairs as one
--       JSON array (decoded here, in C: cheaper than sending each as an argument), then the payload.
local seen, stream = KEYS[1], KEYS[2]
local ts, env, release, user, group = ARGV[3], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local ntags = tonumber(ARGV[11])
local HEADER = 12

-- A duplicate writes nothing. The marker is checked first but set last: a script that fails
-- halfway (Redis does not roll back) leaves the event retryable instead of falsely "seen".
if redis.call('EXISTS', seen) == 1 then
  return 0
end

-- The group: created (is_new), or counted, with a resolved one coming back (is_regression).
local function save_group(gkey, groups, genvs)
  local is_new, is_regression, is_new_ge = 0, 0, 0
  local old = redis.call('HMGET', gkey, 'first_seen', 'last_seen', 'status')
  if not old[1] then
    is_new = 1
    redis.call('HSET', gkey, 'first_seen', ts, 'last_seen', ts, 'title', ARGV[4], 'culprit', ARGV[5],
               'level', ARGV[6], 'status', 'unresolved')
  else
    if old[3] == 'resolved' then
      is_regression = 1
      redis.call('HSET', gkey, 'status', 'unresolved')
    end
    if tonumber(ts) < tonumber(old[1]) then  -- events can arrive out of order
      redis.call('HSET', gkey, 'first_seen', ts)
    end
    if tonumber(ts) >= tonumber(old[2]) then  -- the newest event names the group
      redis.call('HSET', gkey, 'last_seen', ts, 'title', ARGV[4], 'culprit', ARGV[5], 'level', ARGV[6])
    end
  end
  redis.call('HINCRBY', gkey, 'times_seen', 1)
  redis.call('ZADD', groups, 'GT', ts, group)  -- GT: last_seen only moves forward
  is_new_ge = redis.call('HSETNX', genvs, env, ts)  -- '' stands for "no environment"
  return is_new, is_regression, is_new_ge
end

local is_new, is_regression, is_new_ge = 0, 0, 0
if group ~= '' then
  is_new, is_regression, is_new_ge = save_group(KEYS[7], KEYS[8], KEYS[9])
end

-- Registrations: first seen per environment, release and release-environment; users.
if env ~= '' then
  redis.call('HSETNX', KEYS[3], env, ts)
end
if release ~= '' then
  redis.call('HSETNX', KEYS[4], release, ts)
  redis.call('HSETNX', KEYS[5], release .. '\0' .. env, ts)
end
if user ~= '' then
  redis.call('PFADD', KEYS[6], user)
end

-- Tag values per key, bounded: a new value is counted only while the key has room.
local first_tag_key, tag_values_max = #KEYS - ntags, tonumber(ARGV[12])
for i = 1, ntags do
  local key, value = KEYS[first_tag_key + i], ARGV[HEADER + i]
  if redis.call('ZSCORE', key, value) or redis.call('ZCARD', key) < tag_values_max then
    redis.call('ZINCRBY', key, 1, value)
  end
end

-- The stream entry: the computed flags, then the caller's flat fields and payload.
local xadd = {'XADD', stream, 'MAXLEN', '~', ARGV[2], '*', 'is_new', is_new, 'is_regression', is_regression,
              'is_new_group_environment', is_new_ge}
for _, item in ipairs(cjson.decode(ARGV[HEADER + ntags + 1])) do
  xadd[#xadd + 1] = item
end
xadd[#xadd + 1] = 'payload'
xadd[#xadd + 1] = ARGV[HEADER + ntags + 2]
local id = redis.call(unpack(xadd))

redis.call('SET', seen, '1', 'EX', ARGV[1])
return {id, is_new, is_regression, is_new_ge}
"""

# Fixed window: the first hit of a window starts its counter, which expires with the window.
RATE_LIMIT_LUA = r"""
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
"""


@dataclass(frozen=True)
class SaveRequest:
    """One normalized event, ready to be written."""

    project_id: int
    event_id: str  # 32 lower-case hex digits
    kind: Kind
    group: str | None  # grouping hash; None for transactions
    title: str
    culprit: str
    level: str
    timestamp: float
    received: float
    environment: str | None
    release: str | None
    dist: str | None
    user: str | None  # the `sentry:user` tag value
    tags: tuple[tuple[str, str], ...]
    fields: dict[str, str] = field(default_factory=dict)  # extra flat stream fields (transaction, duration...)
    payload: bytes = b""  # normalized event JSON

    def __post_init__(self) -> None:
        # Refuse what would write a wrong key or a stream entry consumers cannot read.
        if not EVENT_ID.fullmatch(self.event_id):
            raise ValueError(f"event_id must be 32 lower-case hex digits, not {self.event_id!r}")
        if self.kind not in ("error", "transaction"):
            raise ValueError(f"kind must be 'error' or 'transaction', not {self.kind!r}")
        if (self.kind == "error") != (self.group is not None):
            raise ValueError("an error needs a grouping hash and a transaction has none")
        if clash := RESERVED_FIELDS & self.fields.keys():
            raise ValueError(f"fields may not replace the store's own: {sorted(clash)}")


@dataclass(frozen=True)
class SaveResult:
    duplicate: bool
    stream_id: str | None
    is_new: bool
    is_regression: bool
    is_new_group_environment: bool


DUPLICATE = SaveResult(duplicate=True, stream_id=None, is_new=False, is_regression=False,
                       is_new_group_environment=False)


@dataclass(frozen=True)
class KeyInfo:
    """A DSN public key as the operator mirrors it: which project it sends to, and its limit."""

    public_key: str
    project_id: int
    namespace: str
    project: str
    rate_limit: tuple[int, int] | None  # (count, window seconds)


def project_key(project_id: int, *parts: str) -> str:
    return ":".join((f"vigil:{{p{project_id}}}", *parts))


def stream_key(project_id: int, kind: Kind) -> str:
    return project_key(project_id, "transactions" if kind == "transaction" else "events")


def _num(value: float) -> str:
    return repr(float(value))  # round-trips exactly through Lua's tonumber


def _counted_tags(tags: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in tags if 0 < len(k) <= TAG_LENGTH_MAX and len(v) <= TAG_LENGTH_MAX]


def _stream_fields(req: SaveRequest) -> list[str | bytes]:
    flat: dict[str, str | bytes] = {
        "event_id": req.event_id,
        "type": req.kind,  # a caller's `fields["type"]` (e.g. "default") is more specific and wins
        "timestamp": _num(req.timestamp),
        "received": _num(req.received),
        **({"group": req.group} if req.group is not None else {}),
        "environment": req.environment or "",
        "release": req.release or "",
        "dist": req.dist or "",
        "level": req.level,
        "user": req.user or "",
        "tags": json.dumps([list(t) for t in req.tags], separators=(",", ":")),
        **req.fields,
    }
    # One argument for all the flat fields, one for the payload (bytes, sent as they are).
    return [json.dumps([x for pair in flat.items() for x in pair], separators=(",", ":")), req.payload]


def _script_call(req: SaveRequest, maxlen: int, dedupe_seconds: int) -> tuple[list[str], list[str | bytes]]:
    """KEYS and ARGV of SAVE_LUA for one event (the layout is documented at the top of the script)."""
    p = req.project_id
    keys = [project_key(p, "seen", req.event_id), stream_key(p, req.kind), project_key(p, "environments"),
            project_key(p, "releases"), project_key(p, "release-envs"), project_key(p, "users")]
    if req.group is not None:
        gkey = project_key(p, "group", req.group)
        keys += [gkey, project_key(p, "groups"), f"{gkey}:envs"]
    tags = _counted_tags(req.tags)
    keys += [project_key(p, "tags", k) for k, _ in tags]
    header: list[str | bytes] = [
        str(dedupe_seconds), str(maxlen), _num(req.timestamp), req.title, req.culprit, req.level,
        req.environment or "", req.release or "", req.user or "", req.group or "", str(len(tags)),
        str(TAG_VALUES_MAX),
    ]
    return keys, [*header, *(v for _, v in tags), *_stream_fields(req)]


def _result(raw: Any) -> SaveResult:
    if raw == 0:
        return DUPLICATE
    stream_id, is_new, is_regression, is_new_ge = raw
    return SaveResult(duplicate=False, stream_id=stream_id.decode(), is_new=bool(is_new),
                      is_regression=bool(is_regression), is_new_group_environment=bool(is_new_ge))


def _decode(mapping: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in mapping.items()}


class Store:
    """Vigil's Redis: ingest writes events through it, the operator mirrors keys, the evaluator reads."""

    def __init__(self, client: aioredis.Redis, *, maxlen: int = 100_000, dedupe_seconds: int = 3600) -> None:
        if maxlen < 1 or dedupe_seconds < 1:
            raise ValueError("maxlen and dedupe_seconds must be positive")
        self._redis = client
        self.maxlen = maxlen
        self.dedupe_seconds = dedupe_seconds
        # Registered once; the SHA is what goes over the wire (EVALSHA), the text only after NOSCRIPT.
        self._save = client.register_script(SAVE_LUA)
        self._rate_limit = client.register_script(RATE_LIMIT_LUA)

    @classmethod
    def from_url(cls, url: str, *, maxlen: int = 100_000, dedupe_seconds: int = 3600) -> Store:
        # Raw bytes (no decode_responses): payloads stay bytes, and we decode only what is text.
        return cls(aioredis.Redis.from_url(url), maxlen=maxlen, dedupe_seconds=dedupe_seconds)

    @property
    def redis(self) -> aioredis.Redis:
        """The underlying client, for tests and diagnostics."""
        return self._redis

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    # --- saving ---------------------------------------------------------------------------------

    async def save(self, requests: Sequence[SaveRequest]) -> list[SaveResult]:
        """Save a batch: one EVALSHA per event, all in one pipeline round trip, results in order.

        Each script call is atomic on its own (no MULTI: one event's failure must not hold back
        the others, and concurrent ingest processes interleave only between events). A script
        missing on the server (restart, SCRIPT FLUSH, failover) is loaded and only the events
        that got NOSCRIPT are sent again: NOSCRIPT means their script never ran. Any other error
        is raised; the events already stored answer `duplicate` when the caller retries.
        """
        calls = [_script_call(r, self.maxlen, self.dedupe_seconds) for r in requests]
        replies: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for attempt in range(2):
            got = await self._evalsha_all([calls[i] for i in pending])
            for i, reply in zip(pending, got):
                replies[i] = reply
            pending = [i for i in pending if isinstance(replies[i], NoScriptError)]
            if not pending:
                break
            if attempt == 0:
                await self._redis.script_load(SAVE_LUA)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [_result(r) for r in replies]

    async def _evalsha_all(self, calls: Sequence[tuple[list[str], list[str | bytes]]]) -> list[Any]:
        if not calls:
            return []
        # Plain evalsha, not the Script object: a pipeline holding Script calls first sends
        # SCRIPT EXISTS, a second round trip on every batch.
        pipe = self._redis.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(self._save.sha, len(keys), *keys, *args)
        return await pipe.execute(raise_on_error=False)

    # --- project keys (mirrored by the operator) -----------------------------------------------

    async def put_key(self, public_key: str, *, project_id: int, namespace: str, project: str,
                      rate_limit: tuple[int, int] | None) -> None:
        info = {"project_id": project_id, "namespace": namespace, "project": project,
                "rate_limit": list(rate_limit) if rate_limit is not None else None}
        await self._redis.hset(KEYS_HASH, public_key, json.dumps(info, separators=(",", ":")))

    async def delete_key(self, public_key: str) -> None:
        await self._redis.hdel(KEYS_HASH, public_key)

    async def get_key(self, public_key: str) -> KeyInfo | None:
        raw = await self._redis.hget(KEYS_HASH, public_key)
        return None if raw is None else _key_info(public_key, raw)

    async def keys_of(self, namespace: str, project: str) -> list[str]:
        """The public keys of one project. A scan of all keys: a handful per project, read on reconcile."""
        found: list[str] = []
        async for public, raw in self._redis.hscan_iter(KEYS_HASH):
            info = _key_info(public.decode(), raw)
            if info is not None and (info.namespace, info.project) == (namespace, project):
                found.append(info.public_key)
        return sorted(found)

    # --- rate limits ----------------------------------------------------------------------------

    async def hit_rate_limit(self, public_key: str, limit: int, window: int, now: float) -> float | None:
        """Count one hit; None when allowed, else seconds until the window ends (Retry-After).

        Windows are aligned to multiples of `window` seconds of `now`, so every ingest process
        shares a counter; a limit of 0 blocks without counting.
        """
        if window < 1:
            raise ValueError("window must be at least 1 second")
        start = math.floor(now / window) * window
        retry_after = max(start + window - now, 0.001)  # never 0: Retry-After must make the client wait
        if limit <= 0:
            return retry_after
        key = f"vigil:rl:{{{public_key}}}:{window}:{start}"
        hits = await self._rate_limit(keys=[key], args=[window + 1])  # +1: outlive the window's end
        return None if int(hits) <= limit else retry_after

    # --- reads (tests, evaluator) ---------------------------------------------------------------

    async def group(self, project_id: int, hash: str) -> dict[str, Any] | None:
        raw = await self._redis.hgetall(project_key(project_id, "group", hash))
        if not raw:
            return None
        group: dict[str, Any] = _decode(raw)
        for name in ("first_seen", "last_seen"):
            group[name] = float(group[name])
        group["times_seen"] = int(group["times_seen"])
        return group

    async def stream_entries(self, project_id: int, kind: Kind, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        """The oldest `count` entries of the project's events or transactions stream."""
        entries = await self._redis.xrange(stream_key(project_id, kind), count=count)
        return [(entry_id.decode(), _decode(fields)) for entry_id, fields in entries]

    async def environments(self, project_id: int) -> set[str]:
        return {e.decode() for e in await self._redis.hkeys(project_key(project_id, "environments"))}

    async def releases(self, project_id: int) -> dict[str, float]:
        raw = await self._redis.hgetall(project_key(project_id, "releases"))
        return {k.decode(): float(v) for k, v in raw.items()}

    async def release_environments(self, project_id: int) -> set[tuple[str, str]]:
        raw = await self._redis.hkeys(project_key(project_id, "release-envs"))
        return {(release, env) for release, _, env in (k.decode().partition("\0") for k in raw)}

    async def group_environments(self, project_id: int, hash: str) -> dict[str, float]:
        raw = await self._redis.hgetall(project_key(project_id, "group", hash, "envs"))
        return {k.decode(): float(v) for k, v in raw.items()}


def _key_info(public_key: str, raw: bytes) -> KeyInfo | None:
    # A malformed entry is treated as an unknown key (the ingest answers 403) rather than a crash.
    try:
        data = json.loads(raw)
        limit = data.get("rate_limit")
        return KeyInfo(public_key=public_key, project_id=int(data["project_id"]), namespace=data["namespace"],
                       project=data["project"], rate_limit=(int(limit[0]), int(limit[1])) if limit else None)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        log.warning("ignoring malformed entry for key %s in %s: %s", public_key, KEYS_HASH, e)
        return None
