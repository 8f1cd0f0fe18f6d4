"""Incident status changes (Sentry's update_incident_status), pure: status in, status out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from vigil.models.alertrule import WARNING, TriggerStatus
from vigil.models.incident import (
    Activity,
    ActivityType,
    IncidentStatus,
    IncidentStatusBlock,
    IncidentTrigger,
    Notification,
    StatusMethod,
    TriggerState,
)

AUTO_RESOLVED = "This alert was auto-resolved because the rule that triggered it was modified or deleted."


def change_status(
    current: IncidentStatusBlock, new: IncidentStatus, method: StatusMethod, at: datetime, comment: str | None = None
) -> IncidentStatusBlock | None:
    """The incident after moving to `new`, or None when it is there already (nothing happens)."""
    if current.status == new:
        return None
    entry = Activity(
        type=ActivityType.STATUS_CHANGE, value=new, previous_value=current.status, comment=comment, at=at
    )
    return current.model_copy(
        update={
            "status": new,
            "status_method": method,
            "date_closed": at if new == IncidentStatus.CLOSED else None,
            "activity": [*current.activity, entry],
        }
    )


def resolve_notifications(triggers: Sequence[TriggerStatus], at: datetime) -> list[Notification]:
    """One `resolve` per distinct target among the rule's actions; where the critical and the
    warning trigger notify the same target, the warning trigger's copy is the one sent."""
    chosen: dict[tuple[str, ...], Notification] = {}
    for trigger in sorted(triggers, key=lambda t: t.label != WARNING):  # warning first
        for action in trigger.actions:
            key = (action.type, action.target_type, action.target_identifier or "", action.integration or "")
            chosen.setdefault(
                key,
                Notification(
                    action_id=action.id,
                    trigger=trigger.label,
                    type=action.type,
                    target_type=action.target_type,
                    target_identifier=action.target_identifier,
                    integration=action.integration,
                    event="resolve",
                    at=at,
                ),
            )
    return list(chosen.values())


def close_for_rule_change(
    current: IncidentStatusBlock, rule_triggers: Sequence[TriggerStatus], at: datetime
) -> IncidentStatusBlock | None:
    """Close an incident because its rule changed or went away: its triggers resolve and each of
    the rule's actions owes one `resolve`. None when it is closed already, so a retry adds nothing."""
    closed = change_status(current, IncidentStatus.CLOSED, StatusMethod.RULE_UPDATED, at, AUTO_RESOLVED)
    if closed is None:
        return None
    return closed.model_copy(
        update={
            "triggers": [IncidentTrigger(label=t.label, state=TriggerState.RESOLVED) for t in closed.triggers],
            "notifications": [*closed.notifications, *resolve_notifications(rule_triggers, at)],
        }
    )
