"""Operator-wide Kopf settings and the shared Kubernetes client."""

from __future__ import annotations

from typing import Any

import kopf
import kubernetes

from vigil.kube import Kube
from vigil.store import Store

FINALIZER = "vigil.dev/finalizer"


MAX_WORKERS = 16  # sync handlers run in a pool of this size


def api_client() -> kubernetes.client.ApiClient:
    """In a pod: its ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    config = kubernetes.client.Configuration.get_default_copy()
    # One kept-alive connection per handler thread: a smaller pool discards connections and pays
    # a TLS handshake per request beyond it.
    config.connection_pool_maxsize = MAX_WORKERS * 2
    return kubernetes.client.ApiClient(config)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    # Our own names for what Kopf stores on objects, so users recognise them.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="vigil.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="vigil.dev", key="last-handled-configuration"
    )
    # Reconnect watches that went quiet (zombie connections) instead of waiting forever.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # Sync handlers run in this pool: enough to reconcile many rules at once.
    settings.execution.max_workers = MAX_WORKERS
    memo.kube = Kube(api_client())
    memo.store = Store.from_url(memo.redis_url) if memo.get("redis_url") else None
    memo.setdefault("ingest_url", "http://localhost:8000")


@kopf.on.cleanup()
async def close(memo: Any, **_: Any) -> None:
    if memo.get("store") is not None:
        await memo.store.close()
