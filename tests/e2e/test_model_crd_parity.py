"""Property: for any generated spec, the models and the real API server reach the same verdict.
What the models accept the API server accepts and stores unchanged, and vice versa."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from tests.strategies import Spec, specs, valid_specs
from vigil.models import GROUP, VERSION, AlertRuleSpec

Cluster = Any  # conftest.Cluster


@pytest.fixture
def api(cluster: Cluster) -> Iterator[kubernetes.client.CustomObjectsApi]:
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield kubernetes.client.CustomObjectsApi(client)
    client.close()


def server_verdict(api: kubernetes.client.CustomObjectsApi, namespace: str, spec: Spec) -> tuple[bool, Any]:
    """(accepted, stored spec or the API server's message), by a dry-run create."""
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AlertRule", "metadata": {"name": "parity"}, "spec": spec}
    try:
        stored = api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "alertrules", body, dry_run="All", field_validation="Strict"
        )
    except kubernetes.client.ApiException as err:
        # 422: the schema or a rule refused it; 400: strict decoding refused an unknown field.
        assert err.status in (400, 422), err.body
        return False, json.loads(err.body)["message"]
    return True, stored["spec"]


def model_verdict(spec: Spec) -> tuple[bool, Any]:
    try:
        return True, AlertRuleSpec.model_validate(spec).wire()
    except ValidationError as err:
        return False, str(err)


def live(examples: int) -> settings:
    """Settings for examples that each make an API call."""
    return settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@live(400)
@given(spec=specs())
def test_same_verdict_on_any_spec(spec: Spec, api: kubernetes.client.CustomObjectsApi, namespace: str) -> None:
    server_ok, server = server_verdict(api, namespace, spec)
    model_ok, model = model_verdict(spec)
    assert server_ok == model_ok, f"API server: {server}\nmodel: {model}"
    if server_ok:
        assert server == model


@live(60)
@given(spec=valid_specs())
def test_valid_specs_stored_unchanged(spec: Spec, api: kubernetes.client.CustomObjectsApi, namespace: str) -> None:
    server_ok, server = server_verdict(api, namespace, spec)
    assert server_ok, server
    assert server == AlertRuleSpec.model_validate(spec).wire()
