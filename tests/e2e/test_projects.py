"""Projects: the operator creates each key's Secret, mirrors the keys to Redis for the ingest,
publishes DSNs, follows key rotation and removal, and refuses a project id used twice."""

from __future__ import annotations

import base64
import json
import random
import subprocess
from collections.abc import Callable
from typing import Any

import redis
import yaml

from tests.e2e.conftest import Operator
from tests.support import wait_until

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def new_id() -> int:
    """Project ids are unique cluster-wide, and namespaces of earlier tests linger (no controller
    deletes their objects here): every test takes ids no other test has."""
    return random.randint(100_000, 2**31 - 1)


def apply_project(kubectl: Kubectl, name: str, spec: dict[str, Any]) -> None:
    doc = {"apiVersion": "vigil.dev/v1alpha1", "kind": "Project", "metadata": {"name": name}, "spec": spec}
    kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))


def status(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return json.loads(kubectl("get", "project", name, "-o", "json").stdout).get("status") or {}


def ready(kubectl: Kubectl, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        st = status(kubectl, name)
        conds = {c["type"]: c for c in st.get("conditions", [])}
        return st if conds.get("Ready", {}).get("status") == "True" else None

    return wait_until(check, 30, f"project/{name} to be Ready")  # type: ignore[return-value]


def secret(kubectl: Kubectl, name: str, key: str = "publicKey") -> str:
    data = json.loads(kubectl("get", "secret", name, "-o", "json").stdout)["data"]
    return base64.b64decode(data[key]).decode()


def mirrored(cluster: Any) -> dict[str, dict[str, Any]]:
    client = redis.Redis.from_url(cluster.redis_url)
    try:
        return {k.decode(): json.loads(v) for k, v in client.hgetall("vigil:keys").items()}
    finally:
        client.close()


def test_keys_get_secrets_redis_entries_and_dsns(kubectl: Kubectl, operator: Operator, cluster: Any,
                                                 namespace: str) -> None:  # fmt: skip
    pid = new_id()
    apply_project(kubectl, "backend", {"id": pid, "platform": "python", "rateLimit": {"count": 10, "window": 60},
                                       "keys": [{"name": "default"}, {"name": "ci"}]})  # fmt: skip
    st = ready(kubectl, "backend")
    default, ci = secret(kubectl, "backend-default"), secret(kubectl, "backend-ci")
    assert st["dsn"] == f"https://{default}@ingest.example.test/{pid}"
    assert [k["dsn"] for k in st["keys"]] == [st["dsn"], f"https://{ci}@ingest.example.test/{pid}"]
    keys = mirrored(cluster)
    assert keys[default]["project_id"] == pid and keys[default]["namespace"] == namespace
    assert keys[default]["rate_limit"] == [10, 60] and ci in keys


def test_removing_a_key_stops_it(kubectl: Kubectl, operator: Operator, cluster: Any) -> None:
    pid = new_id()
    apply_project(kubectl, "backend", {"id": pid, "keys": [{"name": "default"}, {"name": "ci"}]})
    ready(kubectl, "backend")
    ci = secret(kubectl, "backend-ci")
    apply_project(kubectl, "backend", {"id": pid, "keys": [{"name": "default"}]})
    wait_until(lambda: ci not in mirrored(cluster), 30, "the removed key to leave Redis")
    assert len(ready(kubectl, "backend")["keys"]) == 1


def test_a_given_secret_is_used_and_deleting_the_project_removes_its_keys(
    kubectl: Kubectl, operator: Operator, cluster: Any
) -> None:
    kubectl("create", "secret", "generic", "mine", "--from-literal=dsnKey=abcdef0123456789")
    pid = new_id()
    apply_project(kubectl, "web", {"id": pid, "keys": [{"name": "default", "secretRef": {"name": "mine",
                                                                                          "key": "dsnKey"}}]})  # fmt: skip
    assert ready(kubectl, "web")["dsn"] == f"https://abcdef0123456789@ingest.example.test/{pid}"
    assert "abcdef0123456789" in mirrored(cluster)
    kubectl("delete", "project", "web", "--timeout=30s")
    assert "abcdef0123456789" not in mirrored(cluster)


def test_a_project_id_used_twice_is_not_ready(kubectl: Kubectl, operator: Operator) -> None:
    pid = new_id()
    apply_project(kubectl, "one", {"id": pid})
    ready(kubectl, "one")
    apply_project(kubectl, "two", {"id": pid})

    def refused() -> bool:
        conds = {c["type"]: c for c in status(kubectl, "two").get("conditions", [])}
        return conds.get("Ready", {}).get("reason") == "DuplicateProjectId"

    wait_until(refused, 30, "DuplicateProjectId")


def test_a_rotated_secret_replaces_the_key(kubectl: Kubectl, operator: Operator, cluster: Any) -> None:
    pid = new_id()
    apply_project(kubectl, "backend", {"id": pid})
    ready(kubectl, "backend")
    old = secret(kubectl, "backend-default")
    new = "fedcba9876543210fedcba9876543210"
    patch = json.dumps({"stringData": {"publicKey": new}})
    kubectl("patch", "secret", "backend-default", "--type=merge", "-p", patch)
    wait_until(lambda: new in mirrored(cluster) and old not in mirrored(cluster), 30, "the rotated key in Redis")
    wait_until(lambda: status(kubectl, "backend").get("dsn") == f"https://{new}@ingest.example.test/{pid}", 30,
               "the new DSN")  # fmt: skip
