"""Who changed a spec, from metadata.managedFields (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil.kube import FIELD_MANAGER


def spec_manager(managed_fields: Sequence[dict[str, Any]] | None) -> str | None:
    """The field manager that last wrote the spec (kubectl-client-side-apply, argocd-controller,
    kustomize-controller, ...), not counting Vigil itself; None when nobody is recorded."""
    writers = [
        entry
        for entry in managed_fields or ()
        if entry.get("manager") != FIELD_MANAGER
        and entry.get("subresource", "") == ""
        and "f:spec" in (entry.get("fieldsV1") or {})
    ]
    if not writers:
        return None
    return max(writers, key=lambda e: e.get("time") or "").get("manager")
