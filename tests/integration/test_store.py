"""vigil.store against a real redis-server: saving events, project keys, rate limits."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from vigil import store as store_module
from vigil.store import KeyInfo, SaveRequest, Store, project_key

P = 1
T0 = 1_700_000_000.25


def eid() -> str:
    return uuid.uuid4().hex


def error(event_id: str | None = None, *, group: str = "a" * 32, ts: float = T0, project_id: int = P,
          environment: str | None = "production", release: str | None = "app@1.0", **kw: Any) -> SaveRequest:
    base: dict[str, Any] = dict(
        project_id=project_id, event_id=event_id or eid(), kind="error", group=group, title="ValueError: boom",
        culprit="app.views in index", level="error", timestamp=ts, received=ts + 0.5, environment=environment,
        release=release, dist="42", user="id:7", tags=(("browser", "Firefox"), ("level", "error")),
        fields={"logger": "app"}, payload=b'{"message":"boom"}',
    )
    return SaveRequest(**{**base, **kw})


def transaction(event_id: str | None = None, *, ts: float = T0, **kw: Any) -> SaveRequest:
    base: dict[str, Any] = dict(
        project_id=P, event_id=event_id or eid(), kind="transaction", group=None, title="GET /", culprit="GET /",
        level="info", timestamp=ts, received=ts + 0.5, environment="production", release="app@1.0", dist=None,
        user="id:8", tags=(("transaction", "GET /"),), fields={"transaction": "GET /", "duration": "12.5"},
        payload=b'{"type":"transaction"}',
    )
    return SaveRequest(**{**base, **kw})


async def xlen(store: Store, kind: str = "error") -> int:
    return await store.redis.xlen(store_module.stream_key(P, kind))  # type: ignore[arg-type]


# --- saving: errors and groups --------------------------------------------------------------------


async def test_first_error_creates_group_and_stream_entry(store: Store) -> None:
    req = error()
    [res] = await store.save([req])
    assert not res.duplicate and res.is_new and res.is_new_group_environment and not res.is_regression
    group = await store.group(P, req.group or "")
    assert group == {"first_seen": T0, "last_seen": T0, "times_seen": 1, "title": "ValueError: boom",
                     "culprit": "app.views in index", "level": "error", "status": "unresolved"}
    [(stream_id, fields)] = await store.stream_entries(P, "error")
    assert stream_id == res.stream_id
    assert fields == {
        "event_id": req.event_id, "type": "error", "timestamp": repr(T0), "received": repr(T0 + 0.5),
        "group": req.group, "environment": "production", "release": "app@1.0", "dist": "42", "level": "error",
        "user": "id:7", "tags": '[["browser","Firefox"],["level","error"]]', "logger": "app",
        "payload": '{"message":"boom"}', "is_new": "1", "is_regression": "0", "is_new_group_environment": "1",
    }
    assert await store.redis.zscore(project_key(P, "groups"), req.group or "") == T0
    assert await xlen(store, "transaction") == 0


async def test_every_key_carries_the_project_hash_tag(store: Store) -> None:
    await store.save([error(), transaction()])
    keys = [k.decode() for k in await store.redis.keys("*")]
    assert keys and all(k.startswith("vigil:{p1}:") for k in keys), keys


async def test_same_event_id_again_is_a_duplicate_and_writes_nothing(store: Store) -> None:
    req = error()
    await store.save([req])
    size, length = await store.redis.dbsize(), await xlen(store)
    [again] = await store.save([error(req.event_id, group="b" * 32, environment="staging")])
    assert again.duplicate and again.stream_id is None and not again.is_new
    assert (await store.redis.dbsize(), await xlen(store)) == (size, length)
    assert (await store.group(P, req.group or ""))["times_seen"] == 1  # type: ignore[index]
    assert await store.group(P, "b" * 32) is None and await store.environments(P) == {"production"}


async def test_duplicate_within_one_batch(store: Store) -> None:
    req = error()
    first, second = await store.save([req, req])
    assert not first.duplicate and second.duplicate and await xlen(store) == 1


async def test_dedupe_marker_expires_after_dedupe_seconds(store: Store) -> None:
    req = error()
    await store.save([req])
    ttl = await store.redis.ttl(project_key(P, "seen", req.event_id))
    assert 3590 < ttl <= 3600
    short = Store(store.redis, dedupe_seconds=5)
    other = error()
    await short.save([other])
    assert 0 < await store.redis.ttl(project_key(P, "seen", other.event_id)) <= 5


async def test_the_same_event_id_in_another_project_is_not_a_duplicate(store: Store) -> None:
    req = error()
    first, other = await store.save([req, error(req.event_id, project_id=2)])
    assert not first.duplicate and not other.duplicate


async def test_second_event_of_a_group_counts_and_moves_last_seen(store: Store) -> None:
    await store.save([error(ts=T0)])
    [res] = await store.save([error(ts=T0 + 60, title="ValueError: boom again")])
    assert not res.duplicate and not res.is_new and not res.is_regression and not res.is_new_group_environment
    group = await store.group(P, "a" * 32)
    assert group is not None
    assert (group["times_seen"], group["first_seen"], group["last_seen"]) == (2, T0, T0 + 60)
    assert group["title"] == "ValueError: boom again"  # the newest event names the group
    assert await store.redis.zscore(project_key(P, "groups"), "a" * 32) == T0 + 60


async def test_an_older_event_moves_first_seen_but_not_last_seen(store: Store) -> None:
    await store.save([error(ts=T0)])
    await store.save([error(ts=T0 - 30, title="older")])
    group = await store.group(P, "a" * 32)
    assert group is not None
    assert (group["times_seen"], group["first_seen"], group["last_seen"], group["title"]) == (
        2, T0 - 30, T0, "ValueError: boom")
    assert await store.redis.zscore(project_key(P, "groups"), "a" * 32) == T0


async def test_an_event_of_a_resolved_group_is_a_regression(store: Store) -> None:
    await store.save([error()])
    await store.redis.hset(project_key(P, "group", "a" * 32), "status", "resolved")
    [res] = await store.save([error(ts=T0 + 5)])
    assert res.is_regression and not res.is_new
    assert (await store.group(P, "a" * 32))["status"] == "unresolved"  # type: ignore[index]
    [_, (_, fields)] = await store.stream_entries(P, "error")
    assert fields["is_regression"] == "1"
    [after] = await store.save([error(ts=T0 + 6)])
    assert not after.is_regression


async def test_an_ignored_group_is_not_a_regression(store: Store) -> None:
    await store.save([error()])
    await store.redis.hset(project_key(P, "group", "a" * 32), "status", "ignored")
    [res] = await store.save([error(ts=T0 + 5)])
    assert not res.is_regression
    assert (await store.group(P, "a" * 32))["status"] == "ignored"  # type: ignore[index]


# --- transactions ---------------------------------------------------------------------------------


async def test_transactions_go_to_their_stream_without_a_group(store: Store) -> None:
    req = transaction()
    [res] = await store.save([req])
    assert not res.duplicate and not res.is_new and not res.is_new_group_environment
    assert await xlen(store, "error") == 0
    [(stream_id, fields)] = await store.stream_entries(P, "transaction")
    assert stream_id == res.stream_id
    assert "group" not in fields
    assert (fields["type"], fields["transaction"], fields["duration"], fields["dist"]) == (
        "transaction", "GET /", "12.5", "")
    assert not await store.redis.exists(project_key(P, "groups"))
    assert await store.environments(P) == {"production"} and set(await store.releases(P)) == {"app@1.0"}


async def test_a_caller_type_names_the_event_more_precisely(store: Store) -> None:
    await store.save([error(fields={"type": "default"})])
    [(_, fields)] = await store.stream_entries(P, "error")
    assert fields["type"] == "default"


# --- registrations --------------------------------------------------------------------------------


async def test_environment_release_and_group_environment_registration(store: Store) -> None:
    g = "a" * 32
    results = await store.save([
        error(ts=T0, environment="production", release="app@1.0"),
        error(ts=T0 + 1, environment="staging", release="app@1.0"),
        error(ts=T0 + 2, environment="staging", release="app@2.0"),
        error(ts=T0 + 3, environment=None, release=None),
        error(ts=T0 + 4, environment=None, release=None),
    ])
    assert [r.is_new_group_environment for r in results] == [True, True, False, True, False]
    assert await store.environments(P) == {"production", "staging"}
    assert await store.releases(P) == {"app@1.0": T0, "app@2.0": T0 + 2}  # first seen is kept
    assert await store.release_environments(P) == {
        ("app@1.0", "production"), ("app@1.0", "staging"), ("app@2.0", "staging")}
    assert await store.group_environments(P, g) == {"production": T0, "staging": T0 + 1, "": T0 + 3}


async def test_a_known_environment_is_new_for_another_group(store: Store) -> None:
    first, other = await store.save([error(group="a" * 32), error(group="b" * 32)])
    assert first.is_new and other.is_new and first.is_new_group_environment and other.is_new_group_environment


async def test_users_are_counted_once_each(store: Store) -> None:
    await store.save([error(user="id:1"), error(user="id:2"), error(user="id:1"), error(user=None)])
    assert await store.redis.pfcount(project_key(P, "users")) == 2


async def test_tag_values_are_counted_and_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    long = "x" * 201
    await store.save([error(tags=(("browser", "Firefox"),)), error(tags=(("browser", "Firefox"),)),
                      error(tags=(("browser", "Chrome"), ("trace", long)))])
    browsers = await store.redis.zrange(project_key(P, "tags", "browser"), 0, -1, withscores=True)
    assert browsers == [(b"Chrome", 1.0), (b"Firefox", 2.0)]
    assert not await store.redis.exists(project_key(P, "tags", "trace"))  # over 200 chars: not counted
    monkeypatch.setattr(store_module, "TAG_VALUES_MAX", 2)
    await store.save([error(tags=(("browser", "Safari"),)), error(tags=(("browser", "Firefox"),))])
    browsers = await store.redis.zrange(project_key(P, "tags", "browser"), 0, -1, withscores=True)
    assert browsers == [(b"Chrome", 1.0), (b"Firefox", 3.0)]  # no room for a third value; known ones count
    [*_, (_, fields)] = await store.stream_entries(P, "error")
    assert json.loads(fields["tags"]) == [["browser", "Firefox"]]


# --- streams: trimming, batches, concurrency, scripts ---------------------------------------------


async def test_maxlen_trims_the_stream_approximately(store: Store) -> None:
    small = Store(store.redis, maxlen=10)
    # `MAXLEN ~` only drops whole stream nodes, so up to one node (stream-node-max-entries) more
    # than maxlen may stay; write well past one node so trimming must have happened.
    node = int((await store.redis.config_get("stream-node-max-entries"))["stream-node-max-entries"])
    written = 3 * node
    for start in range(0, written, 100):
        await small.save([error(ts=T0 + i) for i in range(start, min(start + 100, written))])
    length = await xlen(store)
    assert 10 <= length <= 10 + node and length < written
    entries = await store.stream_entries(P, "error", count=written)
    assert entries[-1][1]["timestamp"] == repr(T0 + written - 1)  # the newest are kept


async def test_a_batch_of_500_is_one_round_trip_with_results_in_order(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    [warmup] = await store.save([error()])  # a connection in the pool and the script loaded: no handshake below
    reqs = [error(group=f"{i % 7:032x}") if i % 3 else transaction() for i in range(500)]
    reqs[250] = reqs[10]  # a duplicate inside the batch
    before = await _evalsha_calls(store)
    sends = 0
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        nonlocal sends
        sends += 1
        await original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    results = await store.save(reqs)
    monkeypatch.undo()
    assert sends == 1
    assert await _evalsha_calls(store) - before == 500
    assert len(results) == 500 and results[250].duplicate
    fresh = [r for i, r in enumerate(results) if i != 250]
    assert all(not r.duplicate and r.stream_id for r in fresh)
    first_of_group = {req.group: i for i, req in reversed(list(enumerate(reqs))) if req.group}
    assert [i for i, r in enumerate(results) if r.is_new] == sorted(first_of_group.values())
    by_id = {(req.kind, r.stream_id): req.event_id for r, req in zip(results, reqs) if not r.duplicate}
    for kind in ("error", "transaction"):
        for stream_id, fields in await store.stream_entries(P, kind, count=1000):  # type: ignore[arg-type]
            if (kind, stream_id) != ("error", warmup.stream_id):  # ids are per stream
                assert by_id.pop((kind, stream_id)) == fields["event_id"]
    assert not by_id


async def _evalsha_calls(store: Store) -> int:
    stats = await store.redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_concurrent_saves_of_one_event_store_it_once(store: Store) -> None:
    req = error()
    results = await asyncio.gather(*(store.save([req]) for _ in range(20)))
    assert sum(not r.duplicate for [r] in results) == 1
    assert await xlen(store) == 1 and (await store.group(P, "a" * 32))["times_seen"] == 1  # type: ignore[index]


async def test_concurrent_events_of_one_group_are_all_counted(store: Store) -> None:
    results = await asyncio.gather(*(store.save([error(ts=T0 + i)]) for i in range(50)))
    assert sum(r.is_new for [r] in results) == 1
    group = await store.group(P, "a" * 32)
    assert group is not None and (group["times_seen"], group["last_seen"]) == (50, T0 + 49)


async def test_the_script_is_reloaded_after_script_flush(store: Store) -> None:
    await store.save([error()])
    await store.redis.script_flush()
    results = await store.save([error(), transaction(), error()])
    assert [r.duplicate for r in results] == [False, False, False]
    assert await store.redis.script_exists(hashlib.sha1(store_module.SAVE_LUA.encode()).hexdigest()) == [True]


async def test_a_retried_batch_answers_duplicate_for_what_was_saved(store: Store) -> None:
    batch = [error(), transaction(), error(group="b" * 32)]
    await store.save(batch)
    size = await store.redis.dbsize()
    assert all(r.duplicate for r in await store.save(batch))
    assert await store.redis.dbsize() == size


async def test_a_failed_save_leaves_the_event_retryable(store: Store) -> None:
    req = error()
    await store.redis.set(store_module.stream_key(P, "error"), "not a stream")  # XADD fails mid-script
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await store.save([req])
    assert not await store.redis.exists(project_key(P, "seen", req.event_id))
    await store.redis.delete(store_module.stream_key(P, "error"))
    [res] = await store.save([req])
    assert not res.duplicate and await xlen(store) == 1


def test_requests_that_cannot_be_stored_are_refused() -> None:
    with pytest.raises(ValueError, match="event_id"):
        error("not-hex")
    with pytest.raises(ValueError, match="grouping hash"):
        error(group=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grouping hash"):
        transaction(group="a" * 32)
    with pytest.raises(ValueError, match="event_id"):
        error(fields={"event_id": eid()})


async def test_an_empty_batch_sends_nothing(store: Store) -> None:
    assert await store.save([]) == []


# --- project keys ---------------------------------------------------------------------------------


async def test_project_keys_put_get_delete_and_list(store: Store) -> None:
    await store.put_key("k1", project_id=3, namespace="ns", project="web", rate_limit=(100, 60))
    await store.put_key("k2", project_id=3, namespace="ns", project="web", rate_limit=None)
    await store.put_key("k3", project_id=4, namespace="other", project="web", rate_limit=None)
    assert await store.get_key("k1") == KeyInfo("k1", 3, "ns", "web", (100, 60))
    assert await store.get_key("k2") == KeyInfo("k2", 3, "ns", "web", None)
    assert await store.get_key("missing") is None
    assert await store.keys_of("ns", "web") == ["k1", "k2"]
    await store.put_key("k1", project_id=3, namespace="ns", project="web", rate_limit=(5, 1))  # an update
    assert (await store.get_key("k1")).rate_limit == (5, 1)  # type: ignore[union-attr]
    await store.delete_key("k1")
    assert await store.get_key("k1") is None and await store.keys_of("ns", "web") == ["k2"]
    assert await store.keys_of("ns", "none") == []


async def test_a_malformed_key_entry_reads_as_unknown(store: Store) -> None:
    await store.redis.hset(store_module.KEYS_HASH, "bad", "{not json")
    assert await store.get_key("bad") is None and await store.keys_of("ns", "web") == []


# --- rate limits ----------------------------------------------------------------------------------


async def test_rate_limit_allows_limit_hits_per_window(store: Store) -> None:
    now = 1_000_040.0  # 20 s into the 60 s window starting at 1_000_020
    assert [await store.hit_rate_limit("k", 3, 60, now) for _ in range(3)] == [None, None, None]
    assert await store.hit_rate_limit("k", 3, 60, now + 5) == pytest.approx(35.0)
    assert await store.hit_rate_limit("other", 3, 60, now) is None  # per key
    assert await store.hit_rate_limit("k", 3, 60, now + 40) is None  # the next window starts afresh
    ttls = [await store.redis.ttl(k) for k in await store.redis.keys("vigil:rl:*")]
    assert ttls and all(0 < t <= 61 for t in ttls)


async def test_rate_limit_zero_blocks_everything(store: Store) -> None:
    assert await store.hit_rate_limit("k", 0, 10, 105.0) == pytest.approx(5.0)
    assert await store.hit_rate_limit("k", 0, 10, 100.0) == pytest.approx(10.0)


async def test_ping(store: Store) -> None:
    assert await store.ping()
    dead = Store.from_url("redis://127.0.0.1:1/0")
    assert not await dead.ping()
    await dead.close()
