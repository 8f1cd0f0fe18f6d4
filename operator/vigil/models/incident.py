"""Incident: one episode of a rule's aggregate crossing its thresholds (Sentry's Incident with its
triggers and activity). Incidents are the operator's own records."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from vigil.models.base import AGE, Model, ObjectName, PrinterColumn, Resource


class RuleKind(StrEnum):
    ALERT_RULE = "AlertRule"
    ALERT_RULE_SNAPSHOT = "AlertRuleSnapshot"


class IncidentType(StrEnum):
    ALERT_TRIGGERED = "AlertTriggered"
    DETECTED = "Detected"


class IncidentStatus(StrEnum):
    OPEN = "Open"
    WARNING = "Warning"
    CRITICAL = "Critical"
    CLOSED = "Closed"


class StatusMethod(StrEnum):
    RULE_TRIGGERED = "RuleTriggered"
    RULE_UPDATED = "RuleUpdated"
    MANUAL = "Manual"


class TriggerState(StrEnum):
    ACTIVE = "Active"
    RESOLVED = "Resolved"


class ActivityType(StrEnum):
    CREATED = "Created"
    DETECTED = "Detected"
    STATUS_CHANGE = "StatusChange"
    COMMENT = "Comment"


class RuleRef(Model):
    """The rule an incident belongs to: the live rule, or the snapshot it moved to."""

    kind: RuleKind = Field(description="AlertRule, or AlertRuleSnapshot once the rule changed.")
    name: ObjectName = Field(description="Name of that object in this namespace.")


class IncidentSpec(Model):
    """What the incident is about."""

    alert_rule_ref: RuleRef = Field(description="The rule (or snapshot) the incident belongs to.")
    identifier: int = Field(ge=1, description="Sequential number of the incident in its namespace.")
    title: str = Field(min_length=1, max_length=512, description="Short description, usually the rule's name.")
    type: IncidentType = Field(IncidentType.ALERT_TRIGGERED, description="AlertTriggered or Detected.")
    date_started: datetime = Field(description="When the breach began.")
    date_detected: datetime | None = Field(None, description="When the breach was detected.")


class IncidentTrigger(Model):
    """A trigger's state on this incident."""

    label: str = Field(max_length=64, description="The trigger's label.")
    state: TriggerState = Field(description="Active or Resolved.")


class Activity(Model):
    """One entry in the incident's history."""

    type: ActivityType = Field(description="Created, Detected, StatusChange or Comment.")
    value: str | None = Field(None, max_length=64, description="The new status, for a StatusChange.")
    previous_value: str | None = Field(None, max_length=64, description="The status before, for a StatusChange.")
    comment: str | None = Field(None, max_length=4096, description="Why, or a user's comment.")
    at: datetime = Field(description="When it happened.")


class NotificationState(StrEnum):
    PENDING = "Pending"
    SENT = "Sent"


class Notification(Model):
    """A notification the incident owes (or sent): one action, one transition. The deliverer sends
    each Pending one once and marks it Sent, so a retry never notifies twice."""

    action_id: str = Field(max_length=64, description="Id of the rule's action (as in the rule's status).")
    trigger: str = Field(max_length=64, description="Label of the trigger whose copy of the action is used.")
    type: str = Field(max_length=32, description="The action type.")
    target_type: str = Field(max_length=32, description="The action's target type.")
    target_identifier: str | None = Field(None, max_length=512, description="The action's target.")
    integration: str | None = Field(None, max_length=253, description="The action's integration.")
    event: str = Field(max_length=16, description="fire or resolve.")
    state: NotificationState = Field(NotificationState.PENDING, description="Pending until delivered, then Sent.")
    at: datetime = Field(description="When the notification became owed.")


class IncidentStatusBlock(Model):
    """Where the incident stands."""

    status: IncidentStatus = Field(IncidentStatus.OPEN, description="Open, Warning, Critical or Closed.")
    status_method: StatusMethod | None = Field(None, description="How the status was last set.")
    date_closed: datetime | None = Field(None, description="When the incident closed.")
    triggers: list[IncidentTrigger] = Field(default_factory=list, description="The rule's triggers on this incident.")
    activity: list[Activity] = Field(default_factory=list, description="History, oldest first.")
    notifications: list[Notification] = Field(
        default_factory=list, description="Notifications owed or sent for this incident's transitions."
    )


class Incident(Resource):
    """An episode of a rule breaching its thresholds, from open to closed."""

    kind: ClassVar[str] = "Incident"
    plural: ClassVar[str] = "incidents"
    short_names: ClassVar[tuple[str, ...]] = ("inc",)
    printer_columns: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Rule", ".spec.alertRuleRef.name"),
        PrinterColumn("Status", ".status.status"),
        PrinterColumn("Method", ".status.statusMethod"),
        PrinterColumn("Started", ".spec.dateStarted", "date"),
        PrinterColumn("Closed", ".status.dateClosed", "date"),
        AGE,
    )

    spec: IncidentSpec
    status: IncidentStatusBlock | None = None
