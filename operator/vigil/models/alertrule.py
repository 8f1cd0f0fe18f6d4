"""AlertRule: a metric alert with its triggers and their actions (Sentry's AlertRule,
AlertRuleTrigger and AlertRuleTriggerAction), and the validation Sentry's serializers apply."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from vigil.models.base import AGE, Condition, Model, ObjectName, PrinterColumn, Resource, Rule, SecretRef


class Dataset(StrEnum):
    EVENTS = "events"
    TRANSACTIONS = "transactions"


class EventType(StrEnum):
    ERROR = "error"
    DEFAULT = "default"
    TRANSACTION = "transaction"


class ThresholdType(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    ABOVE_AND_BELOW = "above_and_below"


class DetectionType(StrEnum):
    STATIC = "static"
    PERCENT = "percent"
    DYNAMIC = "dynamic"


class Sensitivity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Seasonality(StrEnum):
    AUTO = "auto"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    HOURLY_DAILY = "hourly_daily"
    HOURLY_WEEKLY = "hourly_weekly"
    HOURLY_DAILY_WEEKLY = "hourly_daily_weekly"
    DAILY_WEEKLY = "daily_weekly"


class ActionType(StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    PAGERDUTY = "pagerduty"
    MSTEAMS = "msteams"
    OPSGENIE = "opsgenie"
    DISCORD = "discord"
    SENTRY_APP = "sentry_app"
    WEBHOOK = "webhook"


class TargetType(StrEnum):
    USER = "user"
    TEAM = "team"
    SPECIFIC = "specific"
    SENTRY_APP = "sentry_app"


class RuleStatus(StrEnum):
    PENDING = "Pending"
    DISABLED = "Disabled"
    NOT_ENOUGH_DATA = "NotEnoughData"


CRITICAL = "critical"
WARNING = "warning"

# Which event types each dataset can hold.
DATASET_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    Dataset.EVENTS: (EventType.DEFAULT, EventType.ERROR),
    Dataset.TRANSACTIONS: (EventType.TRANSACTION,),
}

# Which target types each action type can address.
ACTION_TARGETS: dict[str, tuple[str, ...]] = {
    ActionType.EMAIL: (TargetType.USER, TargetType.TEAM),
    ActionType.SLACK: (TargetType.SPECIFIC,),
    ActionType.MSTEAMS: (TargetType.SPECIFIC,),
    ActionType.PAGERDUTY: (TargetType.SPECIFIC,),
    ActionType.OPSGENIE: (TargetType.SPECIFIC,),
    ActionType.DISCORD: (TargetType.SPECIFIC,),
    ActionType.SENTRY_APP: (TargetType.SENTRY_APP,),
    ActionType.WEBHOOK: (TargetType.SPECIFIC,),
}

PRIORITIES: dict[str, tuple[str, ...]] = {
    ActionType.PAGERDUTY: ("critical", "warning", "error", "info"),
    ActionType.OPSGENIE: ("P1", "P2", "P3", "P4", "P5"),
}
NEEDS_INTEGRATION = (ActionType.SLACK, ActionType.DISCORD)

# The aggregates the evaluator computes; the events dataset has no durations or outcomes.
AGGREGATE_RE = r"^(count\(\)|count_unique\(user\)|failure_rate\(\)|(avg|p50|p75|p95|p99|max)\(transaction\.duration\)|apdex\([1-9][0-9]{0,6}\))$"
EVENTS_AGGREGATE_RE = r"^(count\(\)|count_unique\(user\))$"
AGGREGATES_DOC = (
    "count(), count_unique(user), failure_rate(), avg|p50|p75|p95|p99|max(transaction.duration), apdex(<ms>)"
)

DYNAMIC_WINDOWS = (5, 15, 30, 60)
THRESHOLD_LIMIT = 1e12  # keeps CEL's int() of a threshold in range

# --- rules on one action -------------------------------------------------------------------


def _fmt(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(values) + "]"


def _cel_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _target_pairs_cel() -> str:
    return " || ".join(
        f"(self.type == '{t}' && self.targetType in {_cel_list(targets)})" for t, targets in ACTION_TARGETS.items()
    )


def _target_message_cel() -> str:
    branches = " : ".join(
        f"self.type == '{t}' ? '{_fmt(targets)}'" for t, targets in ACTION_TARGETS.items()
    )
    return f"'Invalid target type for ' + self.type + '. Valid types are ' + ({branches} : '[]')"


def _check_target(a: Action) -> str | None:
    valid = ACTION_TARGETS[a.type]
    if a.target_type not in valid:
        return f"Invalid target type for {a.type}. Valid types are {_fmt(valid)}"
    return None


def _check_priority_owner(a: Action) -> str | None:
    if a.priority is not None and a.type not in PRIORITIES:
        return "Can only be set for Pagerduty or Opsgenie"
    return None


def _check_priority_value(a: Action) -> str | None:
    valid = PRIORITIES.get(a.type)
    if a.priority is not None and valid and a.priority not in valid:
        return f"Invalid priority {a.priority} for {a.type}. Valid priorities are {_fmt(valid)}"
    return None


ACTION_RULES = (
    Rule(
        cel=_target_pairs_cel(),
        message="Invalid target type for this action type",
        message_expression=_target_message_cel(),
        check=_check_target,
    ),
    Rule(
        cel="has(self.targetIdentifier) && size(self.targetIdentifier) > 0",
        message="One or more of your actions is missing a target identifier.",
        check=lambda a: None if a.target_identifier else "One or more of your actions is missing a target identifier.",
    ),
    Rule(
        cel="!has(self.priority) || self.type in ['pagerduty', 'opsgenie']",
        message="Can only be set for Pagerduty or Opsgenie",
        check=_check_priority_owner,
    ),
    Rule(
        cel="!has(self.priority) || "
        + " && ".join(f"(self.type != '{t}' || self.priority in {_cel_list(v)})" for t, v in PRIORITIES.items()),
        message="Invalid priority for this action type",
        message_expression="'Invalid priority ' + self.priority + ' for ' + self.type + '. Valid priorities are ' + "
        + "(self.type == 'pagerduty' ? '"
        + _fmt(PRIORITIES[ActionType.PAGERDUTY])
        + "' : '"
        + _fmt(PRIORITIES[ActionType.OPSGENIE])
        + "')",
        check=_check_priority_value,
    ),
    Rule(
        cel="!(self.type in ['slack', 'discord']) || (has(self.integration) && size(self.integration) > 0)",
        message="Slack and Discord actions need an integration",
        message_expression="self.type + ' actions need an integration'",
        check=lambda a: f"{a.type} actions need an integration"
        if a.type in NEEDS_INTEGRATION and not a.integration
        else None,
    ),
    Rule(
        cel="self.type != 'webhook' || has(self.secretRef)",
        message="webhook actions need a secretRef naming the Secret key that holds the URL",
        check=lambda a: "webhook actions need a secretRef naming the Secret key that holds the URL"
        if a.type == ActionType.WEBHOOK and a.secret_ref is None
        else None,
    ),
)


class Action(Model):
    """What happens when a trigger fires or resolves: a notification to one target."""

    rules: ClassVar[tuple[Rule, ...]] = ACTION_RULES

    name: str | None = Field(
        None,
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Stable identity of the action across applies. With a name, changing the target "
        "updates the action in place; without one, the identity is type + targetType + targetIdentifier "
        "+ integration, so a changed target is a new action.",
    )
    type: ActionType = Field(description="How to notify: email, slack, pagerduty, msteams, opsgenie, discord, "
                             "sentry_app or webhook.")
    target_type: TargetType = Field(
        description="What the target identifier names: user or team (email), specific (slack, msteams, "
        "pagerduty, opsgenie, discord, webhook), sentry_app (sentry_app)."
    )
    target_identifier: str | None = Field(
        None,
        max_length=512,
        description="The target: a user or team name, a channel name or id, a PagerDuty service, an "
        "Opsgenie team, a Sentry app. Required.",
    )
    input_channel_id: str | None = Field(
        None, max_length=256, description="Channel id as given by the user (Slack, Discord), when it differs from the target."
    )
    integration: str | None = Field(
        None, max_length=253, description="Name of the workspace integration to send through; required for slack and discord."
    )
    priority: str | None = Field(
        None,
        max_length=16,
        description="Only for pagerduty (critical, warning, error, info) and opsgenie (P1-P5).",
    )
    secret_ref: SecretRef | None = Field(
        None,
        description="The Secret key holding the webhook URL, routing key or token. Required for webhook.",
    )


def action_identity(action: Action) -> tuple[str, ...]:
    """Who an action is across applies: its name, else what and whom it notifies."""
    if action.name:
        return ("name", action.name)
    return ("target", action.type, action.target_type, action.target_identifier or "", action.integration or "")


# --- rules on one trigger ------------------------------------------------------------------

_CEL_IDENTITY_EQ = (
    "(has(a.name) ? (has(b.name) && a.name == b.name) : (!has(b.name) && a.type == b.type && "
    "a.targetType == b.targetType && "
    "(has(a.targetIdentifier) ? a.targetIdentifier : '') == (has(b.targetIdentifier) ? b.targetIdentifier : '') && "
    "(has(a.integration) ? a.integration : '') == (has(b.integration) ? b.integration : '')))"
)
NO_ACTION = "Each trigger must have an associated action for this alert to fire."
DUPLICATE_ACTION = "Each action of a trigger must be distinct: two actions share a name, or type, target and integration"


def _check_unique_actions(t: Trigger) -> str | None:
    ids = [action_identity(a) for a in t.actions]
    return DUPLICATE_ACTION if len(set(ids)) != len(ids) else None


TRIGGER_RULES = (
    Rule(cel="size(self.actions) > 0", message=NO_ACTION, check=lambda t: None if t.actions else NO_ACTION),
    Rule(
        cel=f"self.actions.all(a, self.actions.exists_one(b, {_CEL_IDENTITY_EQ}))",
        message=DUPLICATE_ACTION,
        check=_check_unique_actions,
    ),
)


class Trigger(Model):
    """A threshold that opens or escalates an incident: `critical`, then optionally `warning`."""

    rules: ClassVar[tuple[Rule, ...]] = TRIGGER_RULES

    label: str = Field(
        min_length=1,
        max_length=64,
        description="critical for the first trigger, warning for the optional second. Identity of the trigger.",
    )
    alert_threshold: float = Field(
        ge=-THRESHOLD_LIMIT,
        le=THRESHOLD_LIMIT,
        description="Value of the aggregate that fires the trigger. For percent rules, a percentage change "
        "against comparisonDelta ago (above 50 = 50% higher). Must be 0 for dynamic rules.",
    )
    actions: list[Action] = Field(
        max_length=10, description="Notifications sent when the trigger fires and when it resolves (1-10)."
    )


# --- rules on the whole spec ---------------------------------------------------------------

CEL_DETECTION = "(has(self.detectionType) ? self.detectionType : (has(self.comparisonDelta) ? 'percent' : 'static'))"
CEL_PERCENT = f"({CEL_DETECTION} == 'percent')"


def _cel_stored(x: str) -> str:
    """CEL for a threshold as Sentry stores it: percent rules keep 100 +/- the percentage."""
    return f"(!{CEL_PERCENT} ? {x} : (self.thresholdType == 'above' ? {x} + 100.0 : 100.0 - {x}))"


def _cel_is_int(x: str) -> str:
    return f"({x} == double(int({x})))"


def _cel_resolve_ok(t: str) -> str:
    a, r = _cel_stored(f"{t}.alertThreshold"), _cel_stored("self.resolveThreshold")
    both_int = f"({_cel_is_int(a)} && {_cel_is_int(r)})"
    above = f"({both_int} ? {a} >= {r} - 1.0 : {a} > {r})"
    below = f"({both_int} ? {a} <= {r} + 1.0 : {a} < {r})"
    return f"(self.thresholdType == 'above' ? {above} : {below})"


def effective_detection_type(spec: AlertRuleSpec) -> DetectionType:
    """Sentry's inference: without an explicit type, a comparisonDelta makes the rule percent."""
    if spec.detection_type:
        return DetectionType(spec.detection_type)
    return DetectionType.PERCENT if spec.comparison_delta is not None else DetectionType.STATIC


def stored_threshold(spec: AlertRuleSpec, value: float) -> float:
    """A threshold as Sentry stores it: percent rules compare against 100 +/- the percentage."""
    if effective_detection_type(spec) is not DetectionType.PERCENT:
        return value
    return value + 100 if spec.threshold_type == ThresholdType.ABOVE else 100 - value


def resolve_threshold_ok(spec: AlertRuleSpec, alert: float) -> bool:
    """Sentry's check of an alert threshold against the resolve threshold (integers get slack of 1)."""
    if spec.resolve_threshold is None:
        return True
    a, r = stored_threshold(spec, alert), stored_threshold(spec, spec.resolve_threshold)
    both_int = a == int(a) and r == int(r)
    if spec.threshold_type == ThresholdType.ABOVE:
        return a >= r - 1 if both_int else a > r
    return a <= r + 1 if both_int else a < r


def _direction(spec: AlertRuleSpec) -> str:
    return "above" if spec.threshold_type == ThresholdType.ABOVE else "below"


def _check_resolve(s: AlertRuleSpec) -> str | None:
    for t in s.triggers:
        if not resolve_threshold_ok(s, t.alert_threshold):
            return f"{t.label} alert threshold must be {_direction(s)} resolution threshold"
    return None


def _check_critical_vs_warning(s: AlertRuleSpec) -> str | None:
    if len(s.triggers) < 2:
        return None
    crit, warn = (stored_threshold(s, t.alert_threshold) for t in s.triggers[:2])
    ok = crit >= warn if s.threshold_type == ThresholdType.ABOVE else crit <= warn
    return None if ok else f"Critical trigger must have an alert threshold {_direction(s)} warning trigger"


def _check_event_types(s: AlertRuleSpec) -> str | None:
    valid = DATASET_EVENT_TYPES[s.dataset]
    if any(e not in valid for e in s.event_types or ()):
        return f"Invalid event types for dataset {s.dataset}. Valid event types are {_fmt(valid)}"
    return None


def _check_aggregate(s: AlertRuleSpec) -> str | None:
    if not re.match(AGGREGATE_RE, s.aggregate):
        return f"Unsupported aggregate {s.aggregate}. Supported: {AGGREGATES_DOC}"
    if s.dataset == Dataset.EVENTS and not re.match(EVENTS_AGGREGATE_RE, s.aggregate):
        return f"Aggregate {s.aggregate} needs the transactions dataset"
    return None


def _is_dynamic(s: AlertRuleSpec) -> bool:
    return effective_detection_type(s) is DetectionType.DYNAMIC


TRIGGER_COUNT = "Must send 1 or 2 triggers - A critical trigger, and an optional warning trigger"
FIRST_LABEL = 'First trigger must be labeled "critical"'
SECOND_LABEL = 'Second trigger must be labeled "warning"'
PERCENT_BOTH_WAYS = "Percent (comparison) alerts cannot use the above_and_below threshold type"
PERCENT_NEEDS_DELTA = "Percent alerts need comparisonDelta"
DYNAMIC_WINDOW = "Invalid time window for dynamic alert (valid windows are 5, 15, 30, 60 minutes)"
DYNAMIC_THRESHOLD = "Dynamic alerts cannot have a nonzero alert threshold"
DYNAMIC_UNRESOLVED = "Dynamic alerts do not support 'is:unresolved' queries"

_DYNAMIC = f"({CEL_DETECTION} == 'dynamic')"

SPEC_RULES = (
    # Too many is maxItems; the API server skips CEL rules once a schema error is found.
    Rule(
        cel="size(self.triggers) >= 1",
        message=TRIGGER_COUNT,
        check=lambda s: None if s.triggers else TRIGGER_COUNT,
    ),
    Rule(
        cel="size(self.triggers) < 1 || self.triggers[0].label == 'critical'",
        message=FIRST_LABEL,
        check=lambda s: FIRST_LABEL if s.triggers and s.triggers[0].label != CRITICAL else None,
    ),
    Rule(
        cel="size(self.triggers) < 2 || self.triggers[1].label == 'warning'",
        message=SECOND_LABEL,
        check=lambda s: SECOND_LABEL if len(s.triggers) > 1 and s.triggers[1].label != WARNING else None,
    ),
    Rule(
        cel=f"!has(self.resolveThreshold) || self.triggers.all(t, {_cel_resolve_ok('t')})",
        message="alert threshold must be on the alerting side of the resolution threshold",
        # At most two triggers: name the first that breaks the rule (no filter(): cheaper for CEL).
        message_expression=f"({_cel_resolve_ok('self.triggers[0]')} ? self.triggers[1].label : self.triggers[0].label)"
        " + ' alert threshold must be ' + (self.thresholdType == 'above' ? 'above' : 'below')"
        " + ' resolution threshold'",
        check=_check_resolve,
    ),
    Rule(
        cel=f"size(self.triggers) < 2 || (self.thresholdType == 'above' ? "
        f"{_cel_stored('self.triggers[0].alertThreshold')} >= {_cel_stored('self.triggers[1].alertThreshold')} : "
        f"{_cel_stored('self.triggers[0].alertThreshold')} <= {_cel_stored('self.triggers[1].alertThreshold')})",
        message="Critical trigger must have an alert threshold on the alerting side of the warning trigger",
        message_expression="'Critical trigger must have an alert threshold ' + "
        "(self.thresholdType == 'above' ? 'above' : 'below') + ' warning trigger'",
        check=_check_critical_vs_warning,
    ),
    Rule(
        cel="!has(self.eventTypes) || self.eventTypes.all(e, self.dataset == 'events' ? "
        "e in ['default', 'error'] : e in ['transaction'])",
        message="Invalid event types for this dataset",
        message_expression="'Invalid event types for dataset ' + self.dataset + '. Valid event types are ' + "
        "(self.dataset == 'events' ? '[default, error]' : '[transaction]')",
        check=_check_event_types,
    ),
    Rule(
        cel=f"self.aggregate.matches(r'{AGGREGATE_RE}') && "
        f"(self.dataset != 'events' || self.aggregate.matches(r'{EVENTS_AGGREGATE_RE}'))",
        message="Unsupported aggregate",
        message_expression=f"!self.aggregate.matches(r'{AGGREGATE_RE}') ? "
        f"'Unsupported aggregate ' + self.aggregate + '. Supported: {AGGREGATES_DOC}' : "
        "'Aggregate ' + self.aggregate + ' needs the transactions dataset'",
        check=_check_aggregate,
    ),
    Rule(
        cel=f"!{CEL_PERCENT} || self.thresholdType != 'above_and_below'",
        message=PERCENT_BOTH_WAYS,
        check=lambda s: PERCENT_BOTH_WAYS
        if effective_detection_type(s) is DetectionType.PERCENT and s.threshold_type == ThresholdType.ABOVE_AND_BELOW
        else None,
    ),
    Rule(
        cel=f"!{CEL_PERCENT} || has(self.comparisonDelta)",
        message=PERCENT_NEEDS_DELTA,
        check=lambda s: PERCENT_NEEDS_DELTA
        if effective_detection_type(s) is DetectionType.PERCENT and s.comparison_delta is None
        else None,
    ),
    Rule(
        cel=f"!{_DYNAMIC} || self.timeWindow in {list(DYNAMIC_WINDOWS)}",
        message=DYNAMIC_WINDOW,
        check=lambda s: DYNAMIC_WINDOW if _is_dynamic(s) and s.time_window not in DYNAMIC_WINDOWS else None,
    ),
    Rule(
        cel=f"!{_DYNAMIC} || self.triggers.all(t, t.alertThreshold == 0.0)",
        message=DYNAMIC_THRESHOLD,
        check=lambda s: DYNAMIC_THRESHOLD
        if _is_dynamic(s) and any(t.alert_threshold != 0 for t in s.triggers)
        else None,
    ),
    Rule(
        cel=f"!{_DYNAMIC} || !self.query.contains('is:unresolved')",
        message=DYNAMIC_UNRESOLVED,
        check=lambda s: DYNAMIC_UNRESOLVED if _is_dynamic(s) and "is:unresolved" in s.query else None,
    ),
)


class AlertRuleSpec(Model):
    """The desired alert rule, whole: Vigil takes the spec as written on every apply."""

    rules: ClassVar[tuple[Rule, ...]] = SPEC_RULES

    name: str = Field(min_length=1, max_length=256, description="Display name of the rule (1-256 characters).")
    description: str | None = Field(None, max_length=4096, description="Free text shown with notifications.")
    owner: str | None = Field(
        None,
        max_length=256,
        pattern=r"^(user|team):[^:\s]+$",
        description="Who owns the rule: user:<name> or team:<name>.",
    )
    projects: list[ObjectName] | None = Field(
        None,
        max_length=50,
        description="Names of the Project resources in this namespace whose events the rule watches.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    environment: str | None = Field(
        None, min_length=1, max_length=64, description="Only events of this environment count; all when unset."
    )
    dataset: Dataset = Field(
        Dataset.EVENTS, description="events (errors and messages) or transactions (performance data)."
    )
    event_types: list[EventType] | None = Field(
        None,
        max_length=3,
        description="Event types counted: error and/or default for events, transaction for transactions. "
        "All of the dataset's types when unset.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    query: str = Field(
        max_length=4096, description="Sentry search syntax filtering the events, e.g. 'level:error'. May be empty."
    )
    aggregate: str = Field(
        max_length=64, description=f"The function computed over each time window: {AGGREGATES_DOC}."
    )
    time_window: int = Field(
        ge=1,
        le=1440,
        description="Minutes per evaluation window, 1-1440 (usual: 1, 5, 10, 15, 30, 60, 120, 240, 1440).",
    )
    threshold_type: ThresholdType = Field(
        description="Fire when the aggregate goes above, below, or (dynamic rules) above_and_below the threshold."
    )
    threshold_period: int = Field(
        1, ge=1, le=20, description="Consecutive breaching windows needed to fire, and non-breaching to resolve (1-20)."
    )
    resolve_threshold: float | None = Field(
        None,
        ge=-THRESHOLD_LIMIT,
        le=THRESHOLD_LIMIT,
        description="Value that resolves the incident; when unset, the alert threshold itself.",
    )
    comparison_delta: int | None = Field(
        None,
        ge=1,
        le=128160,
        description="Minutes to look back for percent rules (1-128160): thresholds become percent changes "
        "against the value this long ago. Setting it makes the rule percent unless detectionType says otherwise.",
    )
    detection_type: DetectionType | None = Field(
        None,
        description="static, percent or dynamic. When unset: percent with comparisonDelta, else static.",
    )
    sensitivity: Sensitivity | None = Field(None, description="Dynamic rules only: low, medium or high.")
    seasonality: Seasonality | None = Field(
        None, description="Dynamic rules only: the periods to model; auto when unset."
    )
    triggers: list[Trigger] = Field(
        max_length=2, description="The critical trigger, then an optional warning trigger, each with its actions."
    )


# --- status ---------------------------------------------------------------------------------


class ActionStatus(Model):
    """An action as the operator tracks it: the id it keeps while its identity stays."""

    id: str = Field(max_length=64, description="Operator-assigned id, stable across applies.")
    name: str | None = Field(None, max_length=63, description="The action's name, when it has one.")
    type: ActionType = Field(description="The action type.")
    target_type: TargetType = Field(description="The target type.")
    target_identifier: str | None = Field(None, max_length=512, description="The target.")
    integration: str | None = Field(None, max_length=253, description="The integration, when any.")


class TriggerStatus(Model):
    """A trigger as the operator tracks it."""

    id: str = Field(max_length=64, description="Operator-assigned id, stable while the label stays.")
    label: str = Field(max_length=64, description="The trigger's label.")
    alert_threshold: float = Field(description="The threshold as stored: percent rules keep 100 +/- the percentage.")
    actions: list[ActionStatus] = Field(default_factory=list, description="The trigger's actions with their ids.")


class LastChange(Model):
    """What the last spec change did to the rule."""

    generation: int = Field(ge=0, description="The generation that made the change.")
    at: datetime = Field(description="When the operator handled it.")
    summary: str = Field(max_length=4096, description="One line naming what changed.")
    fields: list[str] = Field(default_factory=list, description="Rule fields whose value changed.")
    series_restarted: bool = Field(
        False, description="Whether the change starts a fresh evaluation series (query, aggregate, window ...)."
    )


class DetectionStatus(Model):
    """The detection settings in effect, after Sentry's inference and clearing rules (static
    ignores sensitivity, seasonality and comparisonDelta; percent ignores sensitivity and
    seasonality; dynamic ignores comparisonDelta and defaults seasonality to auto)."""

    type: DetectionType = Field(description="static, percent or dynamic.")
    sensitivity: Sensitivity | None = Field(None, description="Dynamic rules: the sensitivity in effect.")
    seasonality: Seasonality | None = Field(None, description="Dynamic rules: the seasonality in effect.")
    comparison_delta: int | None = Field(None, description="Percent rules: minutes to look back.")


class AlertRuleStatus(Model):
    """What the operator observed and did; written only by the operator."""

    observed_generation: int | None = Field(None, description="The metadata.generation last handled.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, plus Reconciling and Stalled when they apply.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    rule_status: RuleStatus | None = Field(None, description="Pending, Disabled or NotEnoughData.")
    detection: DetectionStatus | None = Field(None, description="The detection settings in effect.")
    resolution: int | None = Field(None, description="Minutes between evaluations, derived from the window.")
    triggers: list[TriggerStatus] = Field(default_factory=list, description="Triggers and actions with their ids.")
    last_snapshot: str | None = Field(None, description="Name of the newest AlertRuleSnapshot of this rule.")
    snapshot_count: int = Field(0, ge=0, description="How many snapshots archive earlier versions of this rule.")
    open_incidents: int = Field(0, ge=0, description="Incidents of this rule that are not closed.")
    last_change: LastChange | None = Field(None, description="What the last update changed.")


class AlertRule(Resource):
    """A metric alert rule: an aggregate over a time window, compared to thresholds."""

    kind: ClassVar[str] = "AlertRule"
    plural: ClassVar[str] = "alertrules"
    short_names: ClassVar[tuple[str, ...]] = ("ar",)
    printer_columns: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Display name", ".spec.name"),
        PrinterColumn("Aggregate", ".spec.aggregate"),
        PrinterColumn("Window", ".spec.timeWindow", "integer", "Minutes per window"),
        PrinterColumn("Critical", ".spec.triggers[0].alertThreshold", "number", "Critical threshold"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Open incidents", ".status.openIncidents", "integer"),
        AGE,
    )

    spec: AlertRuleSpec
    status: AlertRuleStatus | None = None
