"""metav1.Condition bookkeeping, pure: a condition's lastTransitionTime moves only when its
status does, so re-reconciling an unchanged object writes an identical list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from vigil.models.base import Condition, ConditionStatus


def set_condition(
    conditions: Sequence[Condition],
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """`conditions` with `type` set; other types are kept in their order."""
    previous = next((c for c in conditions if c.type == type), None)
    moved = previous is None or previous.status != status
    new = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now if moved else previous.last_transition_time,  # type: ignore[union-attr]
        observed_generation=generation,
    )
    kept = [c for c in conditions if c.type != type]
    return [new, *kept] if type == "Ready" else [*kept, new]


def drop_condition(conditions: Sequence[Condition], type: str) -> list[Condition]:
    return [c for c in conditions if c.type != type]
