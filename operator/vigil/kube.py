"""The Kubernetes adapter: everything the operator reads or writes, in one place.

The operator writes with its own field manager and never an AlertRule's spec. Writes are
idempotent: creating what exists is a no-op, status changes carry the resourceVersion they were
computed from, so a crash and a retry end in the same state."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes

from vigil.models import GROUP, VERSION

FIELD_MANAGER = "vigil-operator"
RULE_LABEL = f"{GROUP}/alert-rule"

Body = dict[str, Any]


def merge_patch(current: Body, desired: Body) -> Body:
    """The JSON merge patch (RFC 7386) that turns `current` into `desired`: what is gone becomes
    null, nested objects are diffed, lists and scalars are replaced."""
    patch: Body = {key: None for key in current if key not in desired}
    for key, value in desired.items():
        before = current.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            if nested := merge_patch(before, value):
                patch[key] = nested
        elif value != before:
            patch[key] = value
    return patch


class Conflict(Exception):
    """The object changed since it was read; read again and retry."""


class Kube:
    """Typed access to Vigil's resources through the Kubernetes API."""

    def __init__(self, client: kubernetes.client.ApiClient) -> None:
        self.api = kubernetes.client.CustomObjectsApi(client)
        self.core = kubernetes.client.CoreV1Api(client)

    # --- reads -------------------------------------------------------------------------------

    def list(self, namespace: str, plural: str, selector: str | None = None) -> list[Body]:
        kwargs = {"label_selector": selector} if selector else {}
        return self.api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural, **kwargs)["items"]

    def get(self, namespace: str, plural: str, name: str) -> Body | None:
        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except kubernetes.client.ApiException as err:
            if err.status == 404:
                return None
            raise

    def rule_incidents(self, namespace: str, rule: str, snapshot: str | None = None) -> list[Body]:
        """Incidents of `rule`: those still on it, and those a retried step already moved to
        `snapshot`."""
        mine = {("AlertRule", rule), ("AlertRuleSnapshot", snapshot)}
        return [
            inc
            for inc in self.list(namespace, "incidents", f"{RULE_LABEL}={rule}")
            if (inc["spec"]["alertRuleRef"]["kind"], inc["spec"]["alertRuleRef"]["name"]) in mine
        ]

    def list_all(self, plural: str) -> list[Body]:
        """Every object of a kind in the cluster (project ids are unique cluster-wide)."""
        return self.api.list_cluster_custom_object(GROUP, VERSION, plural)["items"]

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """A Secret's value, decoded; None when the Secret or the key is missing."""
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except kubernetes.client.ApiException as err:
            if err.status == 404:
                return None
            raise
        encoded = (secret.data or {}).get(key)
        return base64.b64decode(encoded).decode() if encoded is not None else None

    def create_secret(self, namespace: str, name: str, data: dict[str, str], owner: Body) -> bool:
        """Create a Secret owned by `owner`; False when it exists already (a retry, or a race)."""
        meta = owner["metadata"]
        body = {
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/managed-by": "vigil"},
                "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
                                     "uid": meta["uid"]}],  # fmt: skip
            },
            "stringData": data,
        }
        try:
            self.core.create_namespaced_secret(namespace, body, field_manager=FIELD_MANAGER)
        except kubernetes.client.ApiException as err:
            if err.status == 409:
                return False
            raise
        return True

    # --- writes ------------------------------------------------------------------------------

    def create_snapshot(self, namespace: str, body: Body) -> bool:
        """Create the snapshot; False when it exists (a retried step wrote it already)."""
        try:
            self.api.create_namespaced_custom_object(
                GROUP, VERSION, namespace, "alertrulesnapshots", body, field_manager=FIELD_MANAGER
            )
        except kubernetes.client.ApiException as err:
            if err.status == 409:
                return False
            raise
        return True

    def repoint_incident(self, namespace: str, name: str, kind: str, target: str) -> Body:
        """Move the incident to another rule object; the incident as it is now."""
        patch = {"spec": {"alertRuleRef": {"kind": kind, "name": target}}}
        return self.api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "incidents", name, patch, field_manager=FIELD_MANAGER
        )

    def update_status(self, body: Body, plural: str, desired: Body) -> None:
        """Bring an object's status to `desired` with one merge patch that also clears what no
        longer holds; nothing is sent when it is there already."""
        meta = body["metadata"]
        patch = merge_patch(dict(body.get("status") or {}), desired)
        if patch:
            self.patch_status(meta["namespace"], plural, meta["name"], patch, None)

    def patch_status(self, namespace: str, plural: str, name: str, status: Body, resource_version: str | None) -> Body:
        """Merge-patch the status; with a resourceVersion, only if the object is unchanged since."""
        patch: Body = {"status": status}
        if resource_version:
            patch["metadata"] = {"resourceVersion": resource_version}
        try:
            return self.api.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, plural, name, patch, field_manager=FIELD_MANAGER
            )
        except kubernetes.client.ApiException as err:
            if err.status == 409:
                raise Conflict(f"{plural}/{name} changed while being updated") from err
            raise
