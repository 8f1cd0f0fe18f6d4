"""What every Vigil model shares: camelCase on the wire, no unknown fields, and rules that are
written once and enforced twice (CEL in the CRD, Python in the model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Callable, ClassVar

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

GROUP = "vigil.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "vigil"


# A Kubernetes object name (DNS-1123 subdomain).
ObjectName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]


class Model(BaseModel):
    """Base of every spec and status part: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
        validate_default=True,
    )

    # Rules checked on this object; each also becomes an x-kubernetes-validations entry.
    rules: ClassVar[tuple[Rule, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema = handler(core_schema)
        if cls.rules:
            handler.resolve_ref_schema(schema)["x-kubernetes-validations"] = [r.to_crd() for r in cls.rules]
        return schema

    @model_validator(mode="after")
    def _check_rules(self) -> Model:
        broken = [msg for rule in self.rules if (msg := rule.check(self))]
        if broken:
            raise ValueError("; ".join(broken))
        return self

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it: aliases, no unset optionals."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


@dataclass(frozen=True)
class Rule:
    """A cross-field rule in two spellings that must agree: `cel` for the API server (it holds
    when true) and `check` for the models (it returns the message when the rule is broken).

    `message_expression` is CEL that builds the message, for messages that name a trigger."""

    cel: str
    message: str
    check: Callable[[Any], str | None]
    message_expression: str | None = None

    def to_crd(self) -> dict[str, str]:
        entry = {"rule": self.cel, "message": self.message}
        if self.message_expression:
            entry["messageExpression"] = self.message_expression
        return entry


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Model):
    """One observation of the object's state, in the shape of metav1.Condition."""

    type: str = Field(description="Condition type in CamelCase, e.g. Ready, Reconciling, Stalled.", max_length=316)
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        description="Why the condition is in this state, a CamelCase word for machines.",
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    )
    message: str = Field("", description="The same, for humans.", max_length=32768)
    last_transition_time: datetime = Field(description="When the status last changed.")
    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation this condition was computed from."
    )


class SecretRef(Model):
    """Where a secret value lives; secrets are never written inline in a spec."""

    name: str = Field(description="Name of a Secret in the same namespace.", min_length=1, max_length=253)
    key: str = Field(description="Key inside the Secret's data.", min_length=1, max_length=253)


@dataclass(frozen=True)
class PrinterColumn:
    """One `kubectl get` column."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def to_crd(self) -> dict[str, Any]:
        col: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            col["description"] = self.description
        if self.priority:
            col["priority"] = self.priority
        return col


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


class Resource(BaseModel):
    """A whole custom resource. Subclasses set `spec`/`status` and the CRD facts below."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    kind: ClassVar[str]
    plural: ClassVar[str]
    short_names: ClassVar[tuple[str, ...]] = ()
    printer_columns: ClassVar[tuple[PrinterColumn, ...]] = ()

    api_version: str = Field(API_VERSION, alias="apiVersion")
    kind_: str | None = Field(None, alias="kind")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def singular(cls) -> str:
        return cls.kind.lower()
