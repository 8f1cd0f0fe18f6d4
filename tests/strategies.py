"""Hypothesis strategies for AlertRule specs in wire form (camelCase dicts, as in YAML).

`specs()` wanders over the edges of every rule, so most of what it draws is invalid; `valid_specs()`
builds specs the rules accept. Unit tests use them on the models; e2e tests send them to the API
server and require the same verdict."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.alertrule_cases import REFUSED
from vigil.models.alertrule import ACTION_TARGETS, DYNAMIC_WINDOWS, PRIORITIES

Spec = dict[str, Any]

NUMBERS = st.sampled_from([-1, 0, 1, 2, 10, 49, 50, 51, 100, 500, 0.5, 1.5, 99.9])
ACTION_TYPES = sorted(ACTION_TARGETS)
TARGET_TYPES = ["user", "team", "specific", "sentry_app"]


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _without_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@st.composite
def actions(draw: st.DrawFn) -> Spec:
    return _without_none(
        {
            "name": draw(_optional(st.sampled_from(["a", "b"]))),
            "type": draw(st.sampled_from(ACTION_TYPES)),
            "targetType": draw(st.sampled_from(TARGET_TYPES)),
            "targetIdentifier": draw(_optional(st.sampled_from(["", "ops", "#alerts"]))),
            "integration": draw(_optional(st.sampled_from(["", "acme"]))),
            "priority": draw(_optional(st.sampled_from(["critical", "info", "P1", "P5", "urgent"]))),
            "secretRef": draw(_optional(st.just({"name": "hook", "key": "url"}))),
        }
    )


@st.composite
def triggers(draw: st.DrawFn) -> Spec:
    return {
        "label": draw(st.sampled_from(["critical", "warning", "other"])),
        "alertThreshold": draw(NUMBERS),
        "actions": draw(st.lists(actions(), max_size=3)),
    }


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    """A valid spec with up to three of its parts (fields, a trigger, an action) replaced by values
    near the rules' edges: about half of what it draws is invalid."""
    spec = draw(valid_specs())
    wild = draw(wild_specs())
    for key in draw(st.lists(st.sampled_from(sorted(wild)), max_size=2, unique=True)):
        spec[key] = wild[key]
    # One of the hand-written refusals, so that every rule is met often, in company.
    case = draw(st.sampled_from(REFUSED)) if draw(st.booleans()) else None
    if case is not None:
        try:
            case.change(spec)
        except (IndexError, KeyError, TypeError, AttributeError):
            pass  # the case needs a part this spec lacks
    if draw(st.booleans()):
        trigger = draw(st.sampled_from(spec["triggers"])) if spec.get("triggers") else None
        if trigger is not None and trigger.get("actions"):
            i = draw(st.integers(0, len(trigger["actions"]) - 1))
            trigger["actions"][i] = draw(actions())
    return spec


@st.composite
def wild_specs(draw: st.DrawFn) -> Spec:
    """Every field drawn near the rules' edges; nearly always invalid."""
    dataset = draw(_optional(st.sampled_from(["events", "transactions"])))
    return _without_none(
        {
            "name": draw(st.sampled_from(["", "x", "Errors", "x" * 256, "x" * 257])),
            "owner": draw(_optional(st.sampled_from(["team:a", "user:b", "c"]))),
            "dataset": dataset,
            "eventTypes": draw(_optional(st.lists(st.sampled_from(["error", "default", "transaction"]),
                                                  unique=True, max_size=3))),
            "query": draw(st.sampled_from(["", "level:error", "is:unresolved"])),
            "aggregate": draw(st.sampled_from(["count()", "count_unique(user)", "p95(transaction.duration)",
                                               "apdex(300)", "sum(x)"])),
            "timeWindow": draw(st.sampled_from([0, 1, 5, 10, 15, 30, 60, 1440, 1441])),
            "thresholdType": draw(st.sampled_from(["above", "below", "above_and_below"])),
            "thresholdPeriod": draw(_optional(st.sampled_from([0, 1, 20, 21]))),
            "resolveThreshold": draw(_optional(NUMBERS)),
            "comparisonDelta": draw(_optional(st.sampled_from([0, 1, 60, 128160, 128161]))),
            "detectionType": draw(_optional(st.sampled_from(["static", "percent", "dynamic"]))),
            "sensitivity": draw(_optional(st.sampled_from(["low", "high"]))),
            "seasonality": draw(_optional(st.sampled_from(["auto", "daily"]))),
            "triggers": draw(st.lists(triggers(), max_size=3)),
        }
    )  # fmt: skip


@st.composite
def valid_actions(draw: st.DrawFn, index: int) -> Spec:
    kind = draw(st.sampled_from(ACTION_TYPES))
    action = {
        "name": f"action-{index}",
        "type": kind,
        "targetType": draw(st.sampled_from(ACTION_TARGETS[kind])),
        "targetIdentifier": draw(st.sampled_from(["ops", "#alerts", "backend"])),
    }
    if kind in ("slack", "discord") or draw(st.booleans()):
        action["integration"] = "acme"
    if kind in PRIORITIES and draw(st.booleans()):
        action["priority"] = draw(st.sampled_from(PRIORITIES[kind]))
    if kind == "webhook" or draw(st.booleans()):
        action["secretRef"] = {"name": "secret", "key": "token"}
    return action


@st.composite
def valid_specs(draw: st.DrawFn) -> Spec:
    """Specs every rule accepts: static, percent or dynamic, one or two triggers."""
    detection = draw(st.sampled_from(["static", "percent", "dynamic"]))
    kind = draw(st.sampled_from(["above", "below"] + (["above_and_below"] if detection != "percent" else [])))
    spec: Spec = {
        "name": draw(st.text(alphabet="abc XYZ-", min_size=1, max_size=256)),
        "query": draw(st.sampled_from(["", "level:error", "environment:prod"])),
        "aggregate": "count()",
        "timeWindow": draw(st.sampled_from(DYNAMIC_WINDOWS if detection == "dynamic" else (1, 10, 120, 1440))),
        "thresholdType": kind,
        "thresholdPeriod": draw(st.integers(1, 20)),
    }
    count = draw(st.sampled_from((1, 2, 2)))
    if detection == "dynamic":
        spec |= {"detectionType": "dynamic", "sensitivity": draw(st.sampled_from(["low", "medium", "high"]))}
        thresholds = [0] * count
    else:
        # Strictly ordered, integer thresholds with a gap, so the resolve rule holds either way.
        values = sorted(draw(st.lists(st.integers(0, 1000), min_size=count, max_size=count, unique=True)))
        higher_first = (kind == "above") != (detection == "percent" and kind == "below")
        thresholds = values[::-1] if higher_first else values
        if detection == "percent":
            spec["comparisonDelta"] = draw(st.integers(1, 128160))
        if draw(st.booleans()):
            last = thresholds[-1]
            spec["resolveThreshold"] = last - 2 if higher_first else last + 2
    spec["triggers"] = [
        {"label": label, "alertThreshold": value,
         "actions": [draw(valid_actions(i)) for i in range(draw(st.integers(1, 3)))]}
        for label, value in zip(("critical", "warning"), thresholds)
    ]  # fmt: skip
    return spec
