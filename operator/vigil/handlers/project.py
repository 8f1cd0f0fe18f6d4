"""Kopf handlers for Projects: each key's Secret (created with a random public key when missing),
the keys mirrored to Redis for the ingest, and the DSNs published in status.

A timer re-syncs every project, so a rotated Secret or a Redis that lost its data is repaired
within a minute without anyone touching the Project."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import kopf

from vigil import projects
from vigil.handlers import alertrule
from vigil.kube import Body, Kube
from vigil.models import GROUP, VERSION
from vigil.models.project import KeyStatus, ProjectSpec, ProjectStatus

RESOURCE = (GROUP, VERSION, "projects")
# How often every project is re-synced; tests shorten it to see a rotation land quickly.
RESYNC_SECONDS = float(os.environ.get("VIGIL_PROJECT_RESYNC_SECONDS", "60"))
# What a public key may look like: it is put in URLs (the DSN) and in Redis hash fields.
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


class KeyProblem(Exception):
    """A key the operator cannot publish: (reason, message)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def _write_status(kube: Kube, body: Body, status: ProjectStatus) -> None:
    await asyncio.to_thread(kube.update_status, body, "projects", status.wire())


async def _check_unique_id(kube: Kube, body: Body, spec: ProjectSpec) -> None:
    me = (body["metadata"]["namespace"], body["metadata"]["name"])
    clashes = [
        f"{p['metadata']['namespace']}/{p['metadata']['name']}"
        for p in await asyncio.to_thread(kube.list_all, "projects")
        if p["spec"].get("id") == spec.id and (p["metadata"]["namespace"], p["metadata"]["name"]) != me
    ]
    if clashes:
        raise KeyProblem("DuplicateProjectId", f"project id {spec.id} is also used by {', '.join(sorted(clashes))}")


async def _public_key(kube: Kube, body: Body, key: Any) -> str:
    """The key's public key, creating its Secret with a random one when the Secret is missing."""
    namespace, project = body["metadata"]["namespace"], body["metadata"]["name"]
    secret, data_key = projects.secret_location(project, key)
    value = await asyncio.to_thread(kube.secret_value, namespace, secret, data_key)
    if value is None:
        await asyncio.to_thread(kube.create_secret, namespace, secret, {data_key: secrets.token_hex(16)}, body)
        value = await asyncio.to_thread(kube.secret_value, namespace, secret, data_key)
    if value is None:
        raise KeyProblem("SecretKeyMissing", f"Secret {secret} has no key {data_key!r}")
    if not KEY_RE.match(value.strip()):
        raise KeyProblem("InvalidPublicKey", f"Secret {secret} key {data_key!r} is not a usable public key "
                                             "(8-128 letters, digits, - or _)")  # fmt: skip
    return value.strip()


async def sync(body: Body, memo: Any) -> None:
    """Publish every key of the project and drop the ones it no longer has."""
    kube: Kube = memo.kube
    meta = body["metadata"]
    namespace, name, generation = meta["namespace"], meta["name"], meta["generation"]
    previous = ProjectStatus.model_validate(body["status"]) if body.get("status") else None
    spec = ProjectSpec.model_validate(dict(body["spec"]))
    try:
        if memo.store is None:
            raise KeyProblem("NoRedis", "the operator runs without --redis-url: keys are not published")
        await _check_unique_id(kube, body, spec)
        published: list[KeyStatus] = []
        public_keys = set()
        for key in spec.keys:
            public = await _public_key(kube, body, key)
            limit = projects.rate_limit(spec, key)
            await memo.store.put_key(public, project_id=spec.id, namespace=namespace, project=name, rate_limit=limit)
            public_keys.add(public)
            published.append(KeyStatus(name=key.name, dsn=projects.dsn(memo.ingest_url, public, spec.id)))
        for stale in set(await memo.store.keys_of(namespace, name)) - public_keys:
            await memo.store.delete_key(stale)  # a rotated or removed key stops working
    except KeyProblem as problem:
        await _write_status(kube, body, projects.not_ready(previous, reason=problem.reason, message=str(problem),
                                                          generation=generation, now=_now()))  # fmt: skip
        if previous is None or not any(c.reason == problem.reason for c in previous.conditions):
            kopf.warn(body, reason=problem.reason, message=str(problem))
        return
    await _write_status(kube, body, projects.ready(previous, published, generation=generation, now=_now()))
    await _release_waiting_rules(kube, namespace, name)


async def _release_waiting_rules(kube: Kube, namespace: str, project: str) -> None:
    """Rules refused because this project did not exist yet (applied in the same `kubectl apply -f
    dir/`, in the wrong order) are taken into service now, without waiting for a spec change."""
    for rule in await asyncio.to_thread(kube.list, namespace, "alertrules"):
        if alertrule.waiting_for_project(rule, project):
            try:
                await asyncio.to_thread(alertrule.establish, kube, rule)
            except kopf.PermanentError:
                pass  # refused again for another reason; establish said why


@kopf.on.create(*RESOURCE, backoff=5)
@kopf.on.update(*RESOURCE, field="spec", backoff=5)
@kopf.on.resume(*RESOURCE, backoff=5)
async def project_changed(body: Body, memo: Any, **_: Any) -> None:
    await sync(body, memo)


@kopf.timer(*RESOURCE, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def project_resync(body: Body, memo: Any, **_: Any) -> None:
    await sync(body, memo)


@kopf.on.delete(*RESOURCE, backoff=5)
async def project_deleted(body: Body, memo: Any, **_: Any) -> None:
    """The project's keys stop working; its Secrets go with it (ownerReferences)."""
    if memo.store is not None:
        meta = body["metadata"]
        for public in await memo.store.keys_of(meta["namespace"], meta["name"]):
            await memo.store.delete_key(public)
