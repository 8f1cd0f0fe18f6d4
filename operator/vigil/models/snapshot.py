"""AlertRuleSnapshot: an archived version of an AlertRule, written before an update or delete
of a rule that has incidents (Sentry's snapshot_alert_rule). History outlives the rule."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from vigil.models.alertrule import Action, AlertRuleSpec, Trigger
from vigil.models.base import AGE, Model, ObjectName, PrinterColumn, Resource, Rule


class SnapshotReason(StrEnum):
    RULE_UPDATED = "RuleUpdated"
    RULE_DELETED = "RuleDeleted"


# Archived parts carry their ids and no validation rules: history must stay writable even when
# the rules of a later Vigil are stricter than those the rule was accepted under.
class ArchivedAction(Action):
    """An action as it was, with the id it had."""

    rules: ClassVar[tuple[Rule, ...]] = ()

    id: str = Field(max_length=64, description="The id the action had on the live rule.")


class ArchivedTrigger(Trigger):
    """A trigger as it was, with the id it had."""

    rules: ClassVar[tuple[Rule, ...]] = ()

    id: str = Field(max_length=64, description="The id the trigger had on the live rule.")
    actions: list[ArchivedAction] = Field(max_length=10, description="The trigger's actions as they were.")


class ArchivedRule(AlertRuleSpec):
    """The rule's spec as it was, with trigger and action ids."""

    rules: ClassVar[tuple[Rule, ...]] = ()

    triggers: list[ArchivedTrigger] = Field(max_length=2, description="The triggers as they were.")


class RuleReference(Model):
    """The live rule a snapshot archives."""

    name: ObjectName = Field(description="Name of the AlertRule.")
    uid: str = Field(max_length=64, description="UID of the AlertRule, so a re-created rule of the same name differs.")
    generation: int = Field(ge=1, description="The metadata.generation the snapshot archives.")


class AlertRuleSnapshotSpec(Model):
    """What the rule was when it was archived, and why."""

    alert_rule: RuleReference = Field(description="The rule this snapshot archives.")
    rule: ArchivedRule = Field(description="The archived spec, with the ids its triggers and actions had.")
    reason: SnapshotReason = Field(description="RuleUpdated or RuleDeleted.")
    changed_by: str | None = Field(None, max_length=256, description="The field manager of the change, when known.")
    created_at: datetime = Field(description="When the snapshot was written.")


class AlertRuleSnapshotStatus(Model):
    """The incidents moved onto this snapshot."""

    incidents: list[ObjectName] = Field(default_factory=list, description="Names of the Incidents re-pointed here.")
    incident_count: int = Field(0, ge=0, description="How many incidents were re-pointed here.")


class AlertRuleSnapshot(Resource):
    """An archived version of an AlertRule, kept with the incidents it raised."""

    kind: ClassVar[str] = "AlertRuleSnapshot"
    plural: ClassVar[str] = "alertrulesnapshots"
    short_names: ClassVar[tuple[str, ...]] = ("ars",)
    printer_columns: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Rule", ".spec.alertRule.name"),
        PrinterColumn("Generation", ".spec.alertRule.generation", "integer"),
        PrinterColumn("Reason", ".spec.reason"),
        PrinterColumn("Incidents", ".status.incidentCount", "integer"),
        AGE,
    )

    spec: AlertRuleSnapshotSpec
    status: AlertRuleSnapshotStatus | None = None
