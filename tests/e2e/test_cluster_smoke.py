"""The local control plane is what the other e2e tests assume: matching versions, RBAC, Redis."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import redis
import yaml

Kubectl = Callable[..., subprocess.CompletedProcess[str]]  # the `kubectl` fixture of conftest.py
Cluster = Any  # conftest.Cluster: kubeconfig, kubectl, redis_url, bin_dir


def test_server_and_kubectl_versions_match(kubectl: Kubectl) -> None:
    versions = json.loads(kubectl("version", "--output=json").stdout)
    assert versions["serverVersion"]["gitVersion"] == versions["clientVersion"]["gitVersion"]


def test_anonymous_requests_are_refused(cluster: Cluster) -> None:
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]
    with tempfile.NamedTemporaryFile("wb", suffix=".crt") as ca:
        ca.write(base64.b64decode(server["certificate-authority-data"]))
        ca.flush()
        ctx = ssl.create_default_context(cafile=ca.name)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
    try:
        opener.open(f"{server['server']}/api/v1/namespaces/default/secrets", timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code in (401, 403)
    else:
        raise AssertionError("an unauthenticated client listed secrets")


def test_rbac_denies_a_serviceaccount_without_bindings(kubectl: Kubectl, namespace: str) -> None:
    res = kubectl("auth", "can-i", "list", "secrets", f"--as=system:serviceaccount:{namespace}:nobody", check=False)
    assert res.stdout.strip() == "no", res.stdout + res.stderr
    assert kubectl("get", "namespace", namespace, "--output=name").stdout.strip() == f"namespace/{namespace}"


def test_redis_answers(cluster: Cluster) -> None:
    client = redis.Redis.from_url(cluster.redis_url, socket_timeout=5)
    try:
        assert client.ping()
    finally:
        client.close()
