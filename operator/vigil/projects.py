"""Projects and their DSN keys, pure: where a key's Secret lives, what DSN SDKs get, the status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from vigil.conditions import set_condition
from vigil.models.base import ConditionStatus
from vigil.models.project import KeyStatus, ProjectKey, ProjectSpec, ProjectStatus

PUBLIC_KEY = "publicKey"


def secret_location(project: str, key: ProjectKey) -> tuple[str, str]:
    """(Secret name, data key) holding the key's public key: secretRef, else <project>-<key>."""
    if key.secret_ref is not None:
        return key.secret_ref.name, key.secret_ref.key
    return f"{project}-{key.name}", PUBLIC_KEY


def dsn(public_url: str, public_key: str, project_id: int) -> str:
    """Sentry's DSN form: {scheme}://{public_key}@{host}{path}/{project_id}."""
    url = urlsplit(public_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(f"ingest URL {public_url!r} is not an http(s) URL")
    return f"{url.scheme}://{public_key}@{url.netloc}{url.path.rstrip('/')}/{project_id}"


def rate_limit(spec: ProjectSpec, key: ProjectKey) -> tuple[int, int] | None:
    """(count, window seconds) for a key: its own limit, else the project's, else none."""
    limit = key.rate_limit or spec.rate_limit
    return (limit.count, limit.window) if limit else None


def ready(previous: ProjectStatus | None, keys: Sequence[KeyStatus], *, generation: int, now: datetime) -> ProjectStatus:
    base = previous or ProjectStatus()
    message = f"{len(keys)} key(s) published to the ingest"
    conditions = set_condition(base.conditions, "Ready", ConditionStatus.TRUE, "KeysPublished", message, generation, now)
    return base.model_copy(
        update={"observed_generation": generation, "conditions": conditions, "keys": list(keys),
                "dsn": keys[0].dsn if keys else None}  # fmt: skip
    )


def not_ready(previous: ProjectStatus | None, *, reason: str, message: str, generation: int,
              now: datetime) -> ProjectStatus:  # fmt: skip
    base = previous or ProjectStatus()
    conditions = set_condition(base.conditions, "Ready", ConditionStatus.FALSE, reason, message, generation, now)
    return base.model_copy(update={"observed_generation": generation, "conditions": conditions})
