"""An AlertRule's status after a reconcile, pure: derived from the previous status, the plan and
what the reconcile did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vigil.conditions import drop_condition, set_condition
from vigil.models.alertrule import AlertRuleStatus, DetectionStatus, LastChange, RuleStatus
from vigil.models.base import ConditionStatus
from vigil.plan import Plan


def reconciled(
    previous: AlertRuleStatus | None,
    plan: Plan,
    *,
    generation: int,
    now: datetime,
    open_incidents: int,
    snapshot: str | None,
) -> AlertRuleStatus:
    """The status once `plan` is applied; `snapshot` names the snapshot this reconcile wrote."""
    base = previous or AlertRuleStatus()
    conditions = drop_condition(drop_condition(base.conditions, "Reconciling"), "Stalled")
    conditions = set_condition(
        conditions, "Ready", ConditionStatus.TRUE, "Reconciled", plan.summary or "up to date", generation, now
    )
    update: dict[str, Any] = {
        "observed_generation": generation,
        "conditions": conditions,
        "rule_status": base.rule_status or RuleStatus.PENDING,
        "detection": DetectionStatus(
            type=plan.detection_type,
            sensitivity=plan.sensitivity,
            seasonality=plan.seasonality,
            comparison_delta=plan.comparison_delta,
        ),
        "resolution": plan.resolution,
        "triggers": list(plan.triggers),
        "open_incidents": open_incidents,
    }
    if plan.changed:
        update["last_change"] = LastChange(
            generation=generation,
            at=now,
            summary=plan.summary,
            fields=list(plan.changed_fields),
            series_restarted=plan.series_restarted,
        )
    if snapshot:
        update |= {"last_snapshot": snapshot, "snapshot_count": base.snapshot_count + 1}
    return base.model_copy(update=update)


def stalled(previous: AlertRuleStatus | None, *, generation: int, now: datetime, reason: str, message: str) -> AlertRuleStatus:
    """The status of a rule the operator cannot act on: Ready=False and Stalled=True, with why."""
    base = previous or AlertRuleStatus()
    conditions = set_condition(base.conditions, "Ready", ConditionStatus.FALSE, reason, message, generation, now)
    conditions = set_condition(conditions, "Stalled", ConditionStatus.TRUE, reason, message, generation, now)
    return base.model_copy(update={"observed_generation": generation, "conditions": conditions})
