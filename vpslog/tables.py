"""The research tables: what each exported CSV holds, in a stable column order.

Everything here is derived from the pydantic models (their JSON Schemas name
types, bounds, code lists and free-text fields), so the CSVs, the Data Package
descriptor, the codebook and the importer cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from vpslog.models import (
    Allocation, Entered, Milestone, Participant, Record, Review, ReviewFinding, ReviewItem, ReviewObservation, Screening,
    Session, Site, Specialist, Supervision,
)

REFERENCES = {"participant_id": "participants", "specialist_id": "specialists", "site_id": "sites",
              "owner": "specialists", "review_id": "reviews", "session_id": "sessions"}
RECORD_REFERENCES = {"review_id": "review", "session_id": "session"}
"""Columns that name a record of another table (by its store table): record pseudonyms when de-identified."""
PSEUDONYMS = {"participant_id": "participant", "specialist_id": "staff", "site_id": "site", "entered_by": "staff",
              "owner": "staff", "signed_by": "staff", **{column: "record" for column in RECORD_REFERENCES}}
"""Columns that name a participant, a member of staff, a site or a record: keyed pseudonyms when de-identified."""
ID_KINDS = {"sites": "site", "specialists": "staff", "participants": "participant"}
"""What a table's own id names; every other table's id is a record id."""
DATE_COLUMNS = {"sites": None, "specialists": None, "participants": "enrolled_on", "screenings": "date",
                "allocations": "allocated_at", "sessions": "date", "supervision": "date", "milestones": "date",
                "reviews": "as_of", "review_items": None, "review_observations": None, "review_findings": None}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Table Schema type: string, integer, boolean, date, datetime, time, object
    description: str = ""
    required: bool = False
    codes: str | None = None  # the catalog list its values come from
    is_list: bool = False  # `;`-joined codes
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    free_text: bool = False  # withheld from de-identified exports
    derived: bool = False  # computed on export (units); ignored on import


@dataclass(frozen=True)
class TableSpec:
    name: str  # file stem and CLI name
    table: str  # store table
    model: type[Record]
    participant_linked: bool  # its dates are shifted when de-identified
    shifted_through: str | None = None
    """The table whose participant a row's dates belong to, through its `<table>_id` column (an
    observation is of a session): shifted by that participant's offset when de-identified."""

    @property
    def shifts_dates(self) -> bool:
        return self.participant_linked or self.shifted_through is not None

    @property
    def columns(self) -> tuple[Column, ...]:
        return _columns(self.model) + ((UNITS,) if self.name == "sessions" else ())

    @property
    def moments(self) -> frozenset[str]:
        """Its date-time columns."""
        return frozenset(column.name for column in self.columns if column.type == "datetime")

    @property
    def id_kind(self) -> str:
        """participant, staff, site or record: which pseudonym its ids get when de-identified."""
        return ID_KINDS.get(self.name, "record")

    def pseudonym_kind(self, column: str) -> str | None:
        """The pseudonym a column gets when de-identified (None: it names no one)."""
        return self.id_kind if column == "id" else PSEUDONYMS.get(column)

    @property
    def date_column(self) -> str | None:
        return DATE_COLUMNS[self.name]

    @property
    def references(self) -> dict[str, str]:
        own = {"participants": "participant_id", "sites": "site_id", "specialists": "specialist_id"}
        return {c.name: REFERENCES[c.name] for c in self.columns
                if c.name in REFERENCES and own.get(self.name) != c.name}


UNITS = Column("units", "integer", "Billable units (HCPCS H0038 style), by the rule in schemas/reports.toml "
               "(15 minutes each as shipped); 0 for session types that are not billable.", minimum=0, derived=True)

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (
    TableSpec("sites", "site", Site, False),
    TableSpec("specialists", "specialist", Specialist, False),
    TableSpec("participants", "participant", Participant, True),
    TableSpec("screenings", "screening", Screening, True),
    TableSpec("allocations", "allocation", Allocation, True),
    TableSpec("sessions", "session", Session, True),
    TableSpec("supervision", "supervision", Supervision, False),
    TableSpec("milestones", "milestone", Milestone, True),
    TableSpec("reviews", "review", Review, False),
    TableSpec("review_items", "review_item", ReviewItem, False),
    TableSpec("review_observations", "review_observation", ReviewObservation, False, shifted_through="session"),
    TableSpec("review_findings", "review_finding", ReviewFinding, False),
)}
"""In dependency order: a table only refers to tables before it."""


@cache
def _columns(model: type[Record]) -> tuple[Column, ...]:
    """The id, the record's own fields, then the bookkeeping of entry (entered_at ... void_reason)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    bookkeeping = [name for name in Entered.model_fields if name != "id"]
    names = sorted(schema["properties"], key=lambda n: (n != "id", n in bookkeeping))
    return tuple(_column(name, schema["properties"][name], name in required) for name in names)


def _column(name: str, prop: dict, required: bool) -> Column:
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    inner = {**options[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    kind = inner.get("type", "string")
    formats = {"date": "date", "date-time": "datetime", "time": "time"}
    table_type = {"array": "string", "object": "object"}.get(kind, formats.get(inner.get("format"), kind))
    return Column(
        name=name, type=table_type, description=inner.get("description", ""), required=required,
        codes=inner.get("x-codes"), is_list=kind == "array", enum=tuple(inner["enum"]) if "enum" in inner else None,
        minimum=inner.get("minimum"), maximum=inner.get("maximum"), pattern=inner.get("pattern"),
        free_text=bool(inner.get("x-free-text")) or (_unconstrained_text(inner) and not _names_someone(name)))


def _names_someone(column: str) -> bool:
    """Ids and the columns that name a participant, staff or site: pseudonymized, not withheld."""
    return column == "id" or column in PSEUDONYMS


def _unconstrained_text(prop: dict) -> bool:
    """A string that no code list, enum, pattern or format constrains can hold anything a person
    types (a site's name, an imported screening's reasons): free text, whatever table it is in and
    whether or not the model marks it."""
    return prop.get("type") == "string" and not any(key in prop for key in ("x-codes", "enum", "pattern", "format"))


def resolve_tables(names: list[str]) -> list[TableSpec]:
    """Tables by name (plural or singular, any unique prefix), in dependency order; all when none given."""
    from vpslog.parsing import resolve_code

    if not names:
        return list(TABLES.values())
    aliases = {spec.table: spec.name for spec in TABLES.values()} | {name: name for name in TABLES}
    wanted = {aliases[resolve_code(name, sorted(aliases), "table")] for name in names}
    return [spec for spec in TABLES.values() if spec.name in wanted]
