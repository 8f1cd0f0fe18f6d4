"""Project: where events come from (Sentry's project and its DSN keys)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from vigil.models.base import AGE, Condition, Model, ObjectName, PrinterColumn, Resource, Rule, SecretRef

DUPLICATE_KEY = "Key names must be unique within a project"


class RateLimit(Model):
    """How many events a key may send per window; beyond it the ingest answers 429."""

    count: int = Field(ge=0, le=1_000_000_000, description="Events accepted per window; 0 blocks the key.")
    window: int = Field(60, ge=1, le=86400, description="Window length in seconds (1-86400).")


class ProjectKey(Model):
    """A DSN key. The operator creates its Secret, holding a random public key, when missing."""

    name: ObjectName = Field(description="Name of the key within the project.")
    secret_ref: SecretRef | None = Field(
        None,
        description="Where the public key lives; default Secret <project>-<key>, key publicKey.",
    )
    rate_limit: RateLimit | None = Field(None, description="This key's own limit; the project's when unset.")


class ProjectSpec(Model):
    """A source of events and its keys."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="!has(self.keys) || self.keys.all(a, self.keys.exists_one(b, b.name == a.name))",
            message=DUPLICATE_KEY,
            check=lambda p: DUPLICATE_KEY if len({k.name for k in p.keys}) != len(p.keys) else None,
        ),
    )

    id: int = Field(ge=1, le=2**31 - 1, description="Numeric project id used in DSNs; unique in the cluster.")
    platform: str | None = Field(None, max_length=64, description="SDK platform, e.g. python, javascript.")
    keys: list[ProjectKey] = Field(
        default_factory=lambda: [ProjectKey(name="default")],
        min_length=1,
        max_length=10,
        description="DSN keys (1-10); one key named default when unset.",
    )
    rate_limit: RateLimit | None = Field(None, description="Limit for every key without its own.")


class KeyStatus(Model):
    """A key as published to SDKs."""

    name: str = Field(max_length=253, description="The key's name.")
    dsn: str = Field(max_length=2048, description="The DSN an SDK is configured with.")


class ProjectStatus(Model):
    """What the operator published for the project."""

    observed_generation: int | None = Field(None, description="The metadata.generation last handled.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready when every key has its Secret and is mirrored to the ingest.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    dsn: str | None = Field(None, max_length=2048, description="The DSN of the first key.")
    keys: list[KeyStatus] = Field(default_factory=list, description="The DSN of every key.")


class Project(Resource):
    """A source of events: SDKs send to its DSN, rules watch its events."""

    kind: ClassVar[str] = "Project"
    plural: ClassVar[str] = "projects"
    short_names: ClassVar[tuple[str, ...]] = ("vproj",)
    printer_columns: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("ID", ".spec.id", "integer"),
        PrinterColumn("Platform", ".spec.platform"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("DSN", ".status.dsn", priority=1),
        AGE,
    )

    spec: ProjectSpec
    status: ProjectStatus | None = None
