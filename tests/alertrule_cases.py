"""AlertRule specs that must be refused, one per rule of SENTRY_SEMANTICS.md "Validation", and
boundary specs that must be accepted. The unit tests run them against the models, the e2e tests
through `kubectl apply` against the real API server: model and CRD cannot disagree."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

Spec = dict[str, Any]


def base_spec() -> Spec:
    """A valid rule with a critical and a warning trigger; each case changes one thing."""
    return {
        "name": "Errors",
        "query": "",
        "aggregate": "count()",
        "timeWindow": 10,
        "thresholdType": "above",
        "triggers": [
            {
                "label": "critical",
                "alertThreshold": 100,
                "actions": [{"type": "email", "targetType": "user", "targetIdentifier": "alice"}],
            },
            {
                "label": "warning",
                "alertThreshold": 50,
                "actions": [
                    {"type": "slack", "targetType": "specific", "targetIdentifier": "#ops", "integration": "acme"}
                ],
            },
        ],
    }


@dataclass(frozen=True)
class Case:
    """`change` turns the base spec into the case. A refused case names what the error must say:
    `message` (our rule's text, from model and API server alike) or `field` (the path of a
    schema-level error, e.g. spec.timeWindow)."""

    id: str
    change: Callable[[Spec], None]
    message: str | None = None
    field: str | None = None

    def spec(self) -> Spec:
        spec = copy.deepcopy(base_spec())
        self.change(spec)
        return spec


def _set(**values: Any) -> Callable[[Spec], None]:
    return lambda s: s.update(values)


def _drop(key: str) -> Callable[[Spec], None]:
    return lambda s: s.pop(key)


def _trigger(i: int, **values: Any) -> Callable[[Spec], None]:
    return lambda s: s["triggers"][i].update(values)


def _action(i: int, **values: Any) -> Callable[[Spec], None]:
    def change(s: Spec) -> None:
        action = s["triggers"][i]["actions"][0]
        action.update(values)
        for key in [k for k, v in values.items() if v is None]:
            action.pop(key)

    return change


def _all(*changes: Callable[[Spec], None]) -> Callable[[Spec], None]:
    def change(s: Spec) -> None:
        for c in changes:
            c(s)

    return change


def _only_critical(s: Spec) -> None:
    del s["triggers"][1]


def _thresholds(kind: str, critical: float, resolve: float | None = None, warning: float | None = None,
                **more: Any) -> Callable[[Spec], None]:  # fmt: skip
    """A rule of `kind` with these thresholds (no warning trigger unless given)."""

    def change(s: Spec) -> None:
        s.update(thresholdType=kind, **more)
        if resolve is not None:
            s["resolveThreshold"] = resolve
        s["triggers"][0]["alertThreshold"] = critical
        if warning is None:
            del s["triggers"][1]
        else:
            s["triggers"][1]["alertThreshold"] = warning

    return change


def _add_trigger(s: Spec) -> None:
    s["triggers"].append(copy.deepcopy(s["triggers"][1]) | {"label": "extra"})


def _duplicate_action(named: bool) -> Callable[[Spec], None]:
    def change(s: Spec) -> None:
        first = s["triggers"][0]["actions"][0]
        if named:
            first["name"] = "mail"
            other = {"name": "mail", "type": "email", "targetType": "team", "targetIdentifier": "ops"}
        else:
            other = dict(first)
        s["triggers"][0]["actions"].append(other)

    return change


DYNAMIC = {"detectionType": "dynamic", "sensitivity": "medium"}

REFUSED: tuple[Case, ...] = (
    # required fields
    Case("missing-name", _drop("name"), field="spec.name"),
    Case("missing-time-window", _drop("timeWindow"), field="spec.timeWindow"),
    Case("missing-query", _drop("query"), field="spec.query"),
    Case("missing-triggers", _drop("triggers"), field="spec.triggers"),
    Case("missing-aggregate", _drop("aggregate"), field="spec.aggregate"),
    Case("missing-threshold-type", _drop("thresholdType"), field="spec.thresholdType"),
    # ranges, at their boundaries
    Case("name-empty", _set(name=""), field="spec.name"),
    Case("name-257-chars", _set(name="x" * 257), field="spec.name"),
    Case("time-window-0", _set(timeWindow=0), field="spec.timeWindow"),
    Case("time-window-1441", _set(timeWindow=1441), field="spec.timeWindow"),
    Case("threshold-period-0", _set(thresholdPeriod=0), field="spec.thresholdPeriod"),
    Case("threshold-period-21", _set(thresholdPeriod=21), field="spec.thresholdPeriod"),
    Case("comparison-delta-0", _set(comparisonDelta=0), field="spec.comparisonDelta"),
    Case("comparison-delta-128161", _set(comparisonDelta=128161), field="spec.comparisonDelta"),
    # enums and formats
    Case("unknown-dataset", _set(dataset="logs"), field="spec.dataset"),
    Case("unknown-threshold-type", _set(thresholdType="sideways"), field="spec.thresholdType"),
    Case("unknown-sensitivity", _set(sensitivity="extreme"), field="spec.sensitivity"),
    Case("owner-without-kind", _set(owner="alice"), field="spec.owner"),
    Case("threshold-not-a-number", _trigger(0, alertThreshold="high"), field="spec.triggers[0].alertThreshold"),
    Case("unknown-field", _set(treshold=5), field="treshold"),
    Case("unknown-action-type", _action(0, type="carrier-pigeon"), field="spec.triggers[0].actions[0].type"),
    # dataset and event types
    Case("transaction-on-events", _set(eventTypes=["error", "transaction"]),
         message="Invalid event types for dataset events. Valid event types are [default, error]"),
    Case("error-on-transactions", _set(dataset="transactions", eventTypes=["error"]),
         message="Invalid event types for dataset transactions. Valid event types are [transaction]"),
    Case("unsupported-aggregate", _set(aggregate="sum(foo)"), message="Unsupported aggregate sum(foo)"),
    Case("duration-on-events", _set(aggregate="p95(transaction.duration)"),
         message="Aggregate p95(transaction.duration) needs the transactions dataset"),
    # triggers
    Case("no-triggers", _set(triggers=[]),
         message="Must send 1 or 2 triggers - A critical trigger, and an optional warning trigger"),
    Case("three-triggers", _add_trigger, field="spec.triggers"),
    Case("first-trigger-not-critical", _trigger(0, label="warning"), message='First trigger must be labeled "critical"'),
    Case("second-trigger-not-warning", _trigger(1, label="critical"), message='Second trigger must be labeled "warning"'),
    Case("label-65-chars", _trigger(1, label="w" * 65), field="spec.triggers[1].label"),
    Case("trigger-without-actions", _trigger(1, actions=[]),
         message="Each trigger must have an associated action for this alert to fire."),
    Case("trigger-without-threshold", lambda s: s["triggers"][0].pop("alertThreshold"),
         field="spec.triggers[0].alertThreshold"),
    # resolve threshold (Sentry's own cases)
    Case("above-resolve-2-critical-0", _thresholds("above", critical=0, resolve=2),
         message="critical alert threshold must be above resolution threshold"),
    Case("above-resolve-500-critical-200", _thresholds("above", critical=200, resolve=500),
         message="critical alert threshold must be above resolution threshold"),
    Case("below-resolve-0-critical-2", _thresholds("below", critical=2, resolve=0),
         message="critical alert threshold must be below resolution threshold"),
    Case("above-fractional-equal", _thresholds("above", critical=1.5, resolve=1.5),
         message="critical alert threshold must be above resolution threshold"),
    Case("warning-under-resolve", _thresholds("above", critical=100, resolve=60, warning=10),
         message="warning alert threshold must be above resolution threshold"),
    # critical against warning
    Case("above-critical-under-warning", _thresholds("above", critical=50, warning=100),
         message="Critical trigger must have an alert threshold above warning trigger"),
    Case("below-critical-over-warning", _thresholds("below", critical=100, warning=50),
         message="Critical trigger must have an alert threshold below warning trigger"),
    # percent rules: thresholds compare after Sentry's 100 +/- x translation
    Case("percent-above-and-below", _thresholds("above_and_below", critical=50, comparisonDelta=60),
         message="Percent (comparison) alerts cannot use the above_and_below threshold type"),
    Case("percent-below-critical-milder", _thresholds("below", critical=40, warning=50, comparisonDelta=60),
         message="Critical trigger must have an alert threshold below warning trigger"),
    Case("percent-without-delta", _set(detectionType="percent"), message="Percent alerts need comparisonDelta"),
    # dynamic rules
    Case("dynamic-window-10", _thresholds("above", critical=0, **DYNAMIC),
         message="Invalid time window for dynamic alert (valid windows are 5, 15, 30, 60 minutes)"),
    Case("dynamic-nonzero-threshold", _thresholds("above", critical=5, timeWindow=15, **DYNAMIC),
         message="Dynamic alerts cannot have a nonzero alert threshold"),
    Case("dynamic-is-unresolved", _thresholds("above", critical=0, timeWindow=15, query="is:unresolved", **DYNAMIC),
         message="Dynamic alerts do not support 'is:unresolved' queries"),
    # actions
    Case("slack-to-user", _action(1, targetType="user"), message="Invalid target type for slack. Valid types are [specific]"),
    Case("email-to-specific", _action(0, targetType="specific"),
         message="Invalid target type for email. Valid types are [user, team]"),
    Case("sentry-app-to-team", _action(0, type="sentry_app", targetType="team"),
         message="Invalid target type for sentry_app. Valid types are [sentry_app]"),
    Case("missing-target", _action(0, targetIdentifier=None),
         message="One or more of your actions is missing a target identifier."),
    Case("empty-target", _action(0, targetIdentifier=""),
         message="One or more of your actions is missing a target identifier."),
    Case("priority-on-slack", _action(1, priority="P1"), message="Can only be set for Pagerduty or Opsgenie"),
    Case("pagerduty-priority-p1", _action(0, type="pagerduty", targetType="specific", priority="P1"),
         message="Invalid priority P1 for pagerduty. Valid priorities are [critical, warning, error, info]"),
    Case("opsgenie-priority-critical", _action(0, type="opsgenie", targetType="specific", priority="critical"),
         message="Invalid priority critical for opsgenie. Valid priorities are [P1, P2, P3, P4, P5]"),
    Case("slack-without-integration", _action(1, integration=None), message="slack actions need an integration"),
    Case("discord-without-integration", _action(0, type="discord", targetType="specific"),
         message="discord actions need an integration"),
    Case("webhook-without-secret", _action(0, type="webhook", targetType="specific"),
         message="webhook actions need a secretRef naming the Secret key that holds the URL"),
    Case("duplicate-action-name", _duplicate_action(named=True),
         message="Each action of a trigger must be distinct"),
    Case("duplicate-action-target", _duplicate_action(named=False),
         message="Each action of a trigger must be distinct"),
)  # fmt: skip

ACCEPTED: tuple[Case, ...] = (
    Case("base", lambda s: None),
    Case("critical-only", _only_critical),
    Case("above-resolve-2-critical-1", _thresholds("above", critical=1, resolve=2)),
    Case("below-resolve-0-critical-1", _thresholds("below", critical=1, resolve=0)),
    Case("above-fractional", _thresholds("above", critical=1.6, resolve=1.5)),
    Case("above-critical-equals-warning", _thresholds("above", critical=50, warning=50)),
    Case("boundaries-low", _set(name="x", timeWindow=1, thresholdPeriod=1, comparisonDelta=1)),
    Case("boundaries-high", _set(name="x" * 256, timeWindow=1440, thresholdPeriod=20, comparisonDelta=128160)),
    Case("percent-above", _thresholds("above", critical=50, resolve=10, warning=40, comparisonDelta=60)),
    Case("percent-below", _thresholds("below", critical=50, resolve=10, warning=40, comparisonDelta=60)),
    Case("static-ignores-delta",
         _thresholds("above_and_below", critical=50, warning=100, detectionType="static", comparisonDelta=60)),
    Case("dynamic", _thresholds("above_and_below", critical=0, warning=0, timeWindow=30, seasonality="auto",
                                **DYNAMIC)),
    Case("transactions", _set(dataset="transactions", eventTypes=["transaction"], aggregate="p95(transaction.duration)")),
    Case("apdex", _set(dataset="transactions", aggregate="apdex(300)")),
    Case("owner-team", _set(owner="team:backend", environment="production", projects=["backend"])),
    Case("pagerduty-and-opsgenie", _all(
        _action(0, type="pagerduty", targetType="specific", priority="critical", name="pd"),
        lambda s: s["triggers"][0]["actions"].append(
            {"type": "opsgenie", "targetType": "specific", "targetIdentifier": "ops", "priority": "P2"}),
    )),
    Case("webhook", _action(0, type="webhook", targetType="specific", secretRef={"name": "hook", "key": "url"})),
)  # fmt: skip
