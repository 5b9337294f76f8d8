"""The JSON that commands print, and the JSON Schemas it follows (published in schemas/).

A listing (`sessions`, `supervision list`, `milestones`) prints records of a model,
restricted to the listing's columns, in JSON types: code lists as arrays, booleans,
ISO dates. The store keeps lists as `a;b` text; the model reads that back, so the
listing and the record schema cannot disagree. The other outputs (the fidelity
report, `due`, `history`, `audit events`, `participant show`, `config show`, each `report`) are
described by the small models below, and their json is dumped through them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vpslog.models import Milestone, Participant, Record, Session, Supervision


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


class AttentionRow(_Shape):
    subject: str = Field(description="Participant or specialist id, or `N sessions` for a session rule.")
    site: str
    rule: str
    status: Literal["warn", "fail"]
    evidence: str


class Attention(_Shape):
    open: list[AttentionRow] = Field(description="What a supervisor can still act on as of the date.")
    past: list[AttentionRow] = Field(description="History: ended gaps, late entries, ...")


class FidelityReport(_Shape):
    """`vpslog fidelity --format json`: every participant and specialist result, and the session
    results that need attention (session passes are only counted)."""

    as_of: str = Field(json_schema_extra={"format": "date"})
    rules_version: str
    filters: dict[str, str | None]
    summary: list[RuleSummary]
    sites: list[SiteTally]
    scale: Scale
    attention: Attention
    results: list[Result]


class TrendRate(Tally):
    site: str | None = Field(description="null: the program (every site in scope).")
    rule: str
    pass_rate: float | None


class ScaleScore(_Shape):
    points: int
    maximum: int
    percent: float
    band: str | None


class TrendPeriod(_Shape):
    period: str = Field(description="2026-03, or 2026-Q1.")
    end: str = Field(json_schema_extra={"format": "date"}, description="The day the period was judged as of.")
    scale: ScaleScore
    rates: list[TrendRate]


class FidelityTrend(_Shape):
    """`vpslog fidelity --by month|quarter --format json`."""

    by: Literal["month", "quarter"]
    since: str = Field(json_schema_extra={"format": "date"})
    until: str = Field(json_schema_extra={"format": "date"})
    rules_version: str
    filters: dict[str, str | None]
    periods: list[TrendPeriod]


class MatrixCell(_Shape):
    passed: int
    judged: int
    failing: int
    rate: float | None


class MatrixRow(_Shape):
    specialist: str = Field(description="A specialist id, or `program` for the last row.")
    cells: dict[str, MatrixCell] = Field(description="Rule id -> cell.")


class FidelityMatrix(_Shape):
    """`vpslog fidelity --matrix --format json`."""

    as_of: str = Field(json_schema_extra={"format": "date"})
    rules_version: str
    filters: dict[str, str | None]
    rules: list[str]
    rows: list[MatrixRow]


class Due(_Shape):
    """One row of `vpslog due --format json`."""

    participant: str
    last_contact: str | None = Field(json_schema_extra={"format": "date"})
    days_since: int | None
    needed: str = Field(description="What the dose still needs, by when; empty when on track.")
    why: str


class HistoryEntry(_Shape):
    """One row of `vpslog history ID --format json`: an audit entry of the record, oldest first."""

    seq: int = Field(ge=1, description="Position in the audit chain.")
    at: str = Field(json_schema_extra={"format": "date-time"}, description="When (UTC).")
    actor: str = Field(description="Who.")
    action: str = Field(description="insert, amend, void, exit, enroll, randomize, ...")
    changes: str = Field(description="`field: before -> after` for each field changed (notes as keyed digests); "
                                     "`created (N fields)` for an insert.")
    reason: str | None = Field(description="Why (amendments, voids, exits).")


class AuditEvent(_Shape):
    """One row of `vpslog audit events --format json`: an entry of the trail for an event that is not a
    change of one record, oldest first."""

    seq: int = Field(ge=1, description="Position in the audit chain.")
    at: str = Field(json_schema_extra={"format": "date-time"}, description="When (UTC).")
    actor: str = Field(description="Who.")
    action: str = Field(description="import, export (a plain copy made by `decrypt` too), merge, encrypt, rekey, "
                                    "repair, accept-head.")
    subject: str = Field(description="`TABLE ID` of the entry: the table imported, the export, the store file.")
    details: dict = Field(description="What the entry records (files, counts, where the key is kept); never a "
                                      "key or a note.")
    reason: str | None = Field(description="Why (repairs, accepted heads).")


class ParticipantShown(Participant):
    """`vpslog participant show ID --format json`: the participant record, with its session counts
    and first and last contact (voided sessions left out)."""

    sessions: int = Field(ge=0, description="Sessions of every type.")
    individual: int = Field(ge=0, description="Individual sessions.")
    minutes: int = Field(ge=0, description="Minutes of all sessions.")
    first_session: date | None = Field(description="Date of the first session.")
    last_session: date | None = Field(description="Date of the last session.")


class ConfigEntry(_Shape):
    """One row of `vpslog config show --format json`."""

    key: str
    value: str | None = Field(description="The setting (null when not set).")
    meaning: str


class DoseRow(_Shape):
    """One row of `vpslog report dose --format json`."""

    participant: str
    site: str
    arm: Literal["vps", "control"]
    enrolled_on: str = Field(json_schema_extra={"format": "date"})
    individual_sessions: int = Field(ge=0)
    best_window: int | None = Field(ge=0, description="Most individual sessions in one window of the dose rule.")
    reached_on: str | None = Field(json_schema_extra={"format": "date"}, description="When the dose was reached.")
    dose: Literal["pass", "warn", "fail", "pending", "n/a"] = Field(
        description="The dose rule's status (n/a: the participant is not in its scope).")
    minutes: int = Field(ge=0, description="Minutes of the sessions delivered.")


class FlowRow(_Shape):
    """One row of `vpslog report flow --format json`."""

    step: str
    detail: str = Field(description="The reason, for ineligible and exited; else empty.")
    vps: int | None = Field(ge=0, description="Count in the vps arm (null for steps before allocation).")
    control: int | None = Field(ge=0, description="Count in the control arm (null for steps before allocation).")
    total: int = Field(ge=0)


_CELL = "The table's cell: a count, `mean ± SD`, or `n (%)` as a paper prints it."


class BaselineRow(_Shape):
    """One row of `vpslog report baseline --format json`: each cell as the baseline table prints it."""

    characteristic: str
    category: str
    vps: str = Field(description=_CELL)
    control: str = Field(description=_CELL)
    overall: str = Field(description=_CELL)


class UnitsRow(_Shape):
    """One row of `vpslog report units --format json`."""

    specialist: str
    month: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$")
    sessions: int = Field(ge=0, description="Sessions of the billable types (schemas/reports.toml [units]).")
    minutes: int = Field(ge=0, description="Their minutes.")
    units: int = Field(ge=0, description="Billable units (schemas/reports.toml [units]).")


class AllocationRow(_Shape):
    """One row of `vpslog report allocation --format json`."""

    site: str
    vps: int = Field(ge=0)
    control: int = Field(ge=0)
    difference: int = Field(description="vps minus control.")


REPORT_ROWS: dict[str, type[_Shape]] = {"dose": DoseRow, "flow": FlowRow, "baseline": BaselineRow,
                                        "units": UnitsRow, "allocation": AllocationRow}
"""The row shape of each `vpslog report` (vpslog/reports.py builds the rows)."""


def as_json(shape: type[BaseModel], rows: list[dict]) -> list[dict]:
    """Rows in JSON types, checked against their published shape (a drift fails loudly, not silently)."""
    return [shape.model_validate(row).model_dump(mode="json") for row in rows]


def _array(title: str, item: type[BaseModel]) -> dict:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "type": "array",
            "items": item.model_json_schema()}


def _object(title: str, model: type[BaseModel]) -> dict:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema(), "title": title}


def json_schemas() -> dict[str, dict]:
    """File name -> JSON Schema of each command output that has one."""
    return {**{f"{listing.name}.listing.schema.json": listing.schema() for listing in LISTINGS},
            "fidelity.report.schema.json": FidelityReport.model_json_schema(by_alias=True),
            "fidelity-trend.schema.json": _object("vpslog fidelity --by month --format json", FidelityTrend),
            "fidelity-matrix.schema.json": _object("vpslog fidelity --matrix --format json", FidelityMatrix),
            "fidelity-explain.listing.schema.json": _array("vpslog fidelity --explain RULE --format json", Result),
            "due.listing.schema.json": _array("vpslog due --format json", Due),
            "history.listing.schema.json": _array("vpslog history ID --format json", HistoryEntry),
            "audit-events.listing.schema.json": _array("vpslog audit events --format json", AuditEvent),
            "participant-show.schema.json": _object("vpslog participant show ID --format json", ParticipantShown),
            "config.listing.schema.json": _array("vpslog config show --format json", ConfigEntry),
            **{f"report-{name}.listing.schema.json": _array(f"vpslog report {name} --format json", shape)
               for name, shape in REPORT_ROWS.items()},
            **_review_schemas()}


def _review_schemas() -> dict[str, dict]:
    from vpslog.review.shapes import ReviewDue, ReviewItemRow, ReviewReport, ReviewRow

    return {"review-list.listing.schema.json": _array("vpslog review list --format json", ReviewRow),
            "review-show.listing.schema.json": _array("vpslog review show REVIEW --format json", ReviewItemRow),
            "review-due.listing.schema.json": _array("vpslog review due --format json", ReviewDue),
            "review-report.schema.json": _object("vpslog review report REVIEW --format json", ReviewReport)}
