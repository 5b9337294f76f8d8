"""The JSON that commands print, and the JSON Schemas it follows (published in schemas/).

A listing (`sessions`, `supervision list`, `milestones`) prints records of a model,
restricted to the listing's columns, in JSON types: code lists as arrays, booleans,
ISO dates. The store keeps lists as `a;b` text; the model reads that back, so the
listing and the record schema cannot disagree. The fidelity report's shape is
described by the small models below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vpslog.models import Milestone, Record, Session, Supervision


@dataclass(frozen=True)
class Listing:
    name: str  # schemas/<name>.listing.schema.json
    model: type[Record]
    columns: tuple[str, ...]  # every key of every json object (and the csv header), in order
    table: tuple[str, ...]  # the terminal's compact view

    def records(self, rows: list[dict]) -> list[dict]:
        """Store rows as JSON-typed objects with exactly the listing's keys."""
        keep = set(self.columns)
        dumped = (self.model.model_validate(row).model_dump(mode="json", include=keep) for row in rows)
        return [{column: record[column] for column in self.columns} for record in dumped]

    def schema(self) -> dict:
        """A JSON array of the model's records cut to the listing's columns, each always present."""
        record = self.model.model_json_schema()
        item = {**record, "properties": {c: record["properties"][c] for c in self.columns},
                "required": list(self.columns)}
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"vpslog {self.name} --format json",
                "type": "array", "items": item}


ENTERED = ("entered_at", "entered_by")
SESSIONS = Listing("sessions", Session, (
    "id", "date", "participant_id", "specialist_id", "minutes", "type", "mode", "components", "supports", "phase",
    "clinical", "voided", *ENTERED), table=(
    "id", "date", "participant_id", "specialist_id", "minutes", "type", "mode", "components", "supports", "phase",
    "clinical", "voided"))
"""Free-text notes and locations are shown only by `vpslog show`."""
SUPERVISION = Listing("supervision", Supervision, (
    "id", "date", "specialist_id", "supervisor", "minutes", "group", "topics", *ENTERED), table=(
    "id", "date", "specialist_id", "supervisor", "minutes", "group", "topics"))
"""Notes stay in the store."""
MILESTONES = Listing("milestones", Milestone, ("id", "date", "participant_id", "kind", *ENTERED),
                     table=("id", "date", "participant_id", "kind"))
"""The free detail stays in the store."""
LISTINGS = (SESSIONS, SUPERVISION, MILESTONES)


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


Status = Literal["pass", "warn", "fail", "pending"]
Scope = Literal["participant", "session", "specialist"]


class Tally(_Shape):
    pass_: int = Field(alias="pass", ge=0)
    warn: int = Field(ge=0)
    fail: int = Field(ge=0)
    pending: int = Field(ge=0)


class RuleSummary(Tally):
    rule: str
    title: str
    scope: Scope
    severity: Literal["fail", "warn"]
    pass_rate: float | None = Field(description="pass / (pass + warn + fail); null when nothing was judged.")
    item_score: int | None = Field(description="1-5 from the pass rate, by the item bands of fidelity.toml.")


class SiteTally(Tally):
    site: str
    rule: str


class ItemBand(_Shape):
    min_rate: float
    score: int


class TotalBand(_Shape):
    min_share: float
    label: str


class Scale(_Shape):
    total: int
    max: int
    share: float
    band: str | None
    item_bands: list[ItemBand]
    total_bands: list[TotalBand]


class Result(_Shape):
    rule: str
    scope: Scope
    subject: str = Field(description="Participant id, specialist id or session id.")
    site: str
    status: Status
    evidence: str = Field(description="The evidence in words.")
    numbers: dict = Field(description="The evidence as numbers; keys depend on the rule's kind.")


class FidelityReport(_Shape):
    """`vpslog fidelity --format json`: every participant and specialist result, and the session
    results that need attention (session passes are only counted)."""

    as_of: str = Field(json_schema_extra={"format": "date"})
    rules_version: str
    filters: dict[str, str | None]
    summary: list[RuleSummary]
    sites: list[SiteTally]
    scale: Scale
    results: list[Result]


class Due(_Shape):
    """One row of `vpslog due --format json`."""

    participant: str
    last_contact: str | None = Field(json_schema_extra={"format": "date"})
    days_since: int | None
    needed: str = Field(description="What the dose still needs, by when; empty when on track.")
    why: str


def _array(title: str, item: type[_Shape]) -> dict:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "type": "array",
            "items": item.model_json_schema()}


def json_schemas() -> dict[str, dict]:
    """File name -> JSON Schema of each command output that has one."""
    return {**{f"{listing.name}.listing.schema.json": listing.schema() for listing in LISTINGS},
            "fidelity.report.schema.json": FidelityReport.model_json_schema(by_alias=True),
            "fidelity-explain.listing.schema.json": _array("vpslog fidelity --explain RULE --format json", Result),
            "due.listing.schema.json": _array("vpslog due --format json", Due)}
