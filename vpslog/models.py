"""The records vpslog keeps, as pydantic models: the single source of truth for
validation, for the JSON Schemas in schemas/ and for the store's rows.

Codes are checked against the curriculum when a Catalog is passed in the
validation context (``Model.model_validate(data, context={"catalog": c})``);
rows read back from the store skip that check. Cross-record rules (a session
after enrollment, an active participant) belong to the core, not here.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from vpslog.parsing import did_you_mean

SENSITIVE = frozenset({"note", "detail", "exit_reason", "reason", "location", "supervisor", "void_reason"})
"""Free-text fields: never echoed in errors or logs (and marked x-free-text: dropped when de-identified)."""


def _known(kind: str, label: str) -> tuple:
    """Checks a code (or a tuple of codes) against the catalog in the context; the
    JSON Schema names the code list (`x-codes`). Use as `Annotated[str, *_known(...)]`."""

    def check(value, info: ValidationInfo):
        catalog = (info.context or {}).get("catalog")
        if catalog is None or value is None:
            return value
        accepted = catalog.codes(kind)
        for code in value if isinstance(value, tuple) else (value,):
            if code not in accepted:
                raise ValueError(f"unknown {label} {code!r}{did_you_mean(code, accepted)}")
        return value

    return AfterValidator(check), Field(json_schema_extra={"x-codes": kind})


def _split_codes(value):
    """The store keeps code lists as `a;b`; accept that form as well as a list."""
    if isinstance(value, str):
        return tuple(part for part in value.split(";") if part)
    return value


def _participant_id(value: str, info: ValidationInfo) -> str:
    catalog = (info.context or {}).get("catalog")
    if catalog is not None and not catalog.participant_pattern.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a study code: use a pseudonymous code like {catalog.participant_example} "
            f"(pattern {catalog.participant_pattern.pattern}), never a name"
        )
    return value


Codes = Annotated[tuple[str, ...], BeforeValidator(_split_codes)]
LocalId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]
ParticipantId = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
    Field(min_length=1, max_length=32),
    AfterValidator(_participant_id),
]
RecordId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
Minutes = Annotated[int, Field(ge=1, le=480)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
FreeText = Annotated[str, Field(max_length=20_000, json_schema_extra={"x-free-text": True})]
PersonalText = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra={"x-free-text": True})]
"""Short free text that may name or describe a person or place (a reason, a location)."""


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)


class Site(Record):
    """A program site (an agency or an office)."""

    id: LocalId
    name: Text


class Specialist(Record):
    """A peer specialist who delivers VPS sessions."""

    id: LocalId
    site_id: LocalId
    name: PersonalText | None = None
    trained_on: date | None = Field(None, description="Date trained to criterion on the curriculum.")
    active: bool = True


class Participant(Record):
    """A person receiving services, known only by a pseudonymous study code."""

    id: ParticipantId
    site_id: LocalId
    enrolled_on: date
    arm: Literal["vps", "control"] | None = None
    consent_on: date | None = None
    status: Literal["active", "exited"] = "active"
    exited_on: date | None = None
    exit_reason: PersonalText | None = None
    age: Annotated[int, Field(ge=16, le=120)] | None = Field(None, description="Age at enrollment.")
    birth_year: Annotated[int, Field(ge=1900, le=2100)] | None = None
    gender: Annotated[str | None, *_known("gender", "gender")] = None
    race: Annotated[str | None, *_known("race", "race")] = None
    residence: Annotated[str | None, *_known("residence", "residence")] = None
    marital: Annotated[str | None, *_known("marital", "marital status")] = None
    education: Annotated[str | None, *_known("education", "education")] = None
    working: bool | None = Field(None, description="Working for pay at baseline.")
    ssdi_ssi: bool | None = Field(None, description="Receiving SSDI or SSI at baseline.")
    psych_meds: bool | None = Field(None, description="Taking psychotropic medication at baseline.")

    @model_validator(mode="after")
    def consistent(self) -> Participant:
        if self.age is not None and self.birth_year is not None:
            raise ValueError("give the age at enrollment or the birth year, not both")
        if (self.status == "exited") != (self.exited_on is not None):
            raise ValueError("an exited participant needs an exit date, and only an exited one")
        if self.status == "exited" and not self.exit_reason:
            raise ValueError("an exit needs a reason")
        if self.exited_on is not None and self.exited_on < self.enrolled_on:
            raise ValueError(f"exit date {self.exited_on} is before enrollment on {self.enrolled_on}")
        return self


class Entered(Record):
    """What every logged event carries: who entered it, when, and whether it was voided."""

    id: RecordId
    entered_at: datetime
    entered_by: Text
    voided: bool = False
    void_reason: PersonalText | None = None


class Session(Entered):
    """One contact between a specialist and a participant."""

    participant_id: ParticipantId
    specialist_id: LocalId
    date: date
    start_time: time | None = None
    minutes: Minutes
    type: Annotated[str, *_known("session_type", "session type")]
    mode: Annotated[str, *_known("mode", "mode")]
    location: PersonalText | None = None
    components: Annotated[Codes, *_known("component", "component")] = ()
    supports: Annotated[Codes, *_known("support_type", "support type")] = ()
    phase: Annotated[str | None, *_known("phase", "phase")] = None
    clinical: bool = Field(False, description="A clinical service was given (VPS must not).")
    note: FreeText | None = Field(None, description="Free text; sensitive, never exported de-identified.")


class Supervision(Entered):
    """A supervision meeting of a specialist."""

    specialist_id: LocalId
    supervisor: PersonalText
    date: date
    minutes: Minutes
    group: bool = False
    topics: Annotated[Codes, *_known("supervision_topic", "supervision topic")] = ()
    note: FreeText | None = None


class Milestone(Entered):
    """A vocational milestone of a participant (goal set, interview, job start...)."""

    participant_id: ParticipantId
    date: date
    kind: Annotated[str, *_known("milestone_kind", "milestone kind")]
    detail: FreeText | None = None


def _json_object(value):
    """The store keeps a mapping as JSON text; accept that as well as a dict."""
    import json

    return json.loads(value) if isinstance(value, str) else value


class Screening(Record):
    """An eligibility screening: the answers, the result, and the rules version it used."""

    id: RecordId
    participant_id: ParticipantId
    date: date
    answers: Annotated[dict[str, bool], BeforeValidator(_json_object)]
    eligible: bool
    reasons: Annotated[str, Field(max_length=2000)] = Field("", description="Why not eligible, `; `-joined.")
    rules_version: Text
    entered_at: datetime
    entered_by: Text


class Allocation(Record):
    """A randomized allocation: the n-th at its site, by permuted blocks."""

    id: RecordId
    participant_id: ParticipantId
    site_id: LocalId
    number: int = Field(ge=1, description="Allocation number within the site, from 1.")
    arm: Literal["vps", "control"]
    allocated_at: datetime


class AuditEntry(Record):
    """One append-only, hash-chained line of the audit trail."""

    seq: int = Field(ge=1)
    at: datetime
    actor: Text
    action: Text
    table: Text
    record_id: Text
    before: dict | None = None
    after: dict | None = None
    reason: FreeText | None = None
    prev_hash: str
    hash: str


RECORDS: dict[str, type[Record]] = {
    "site": Site,
    "specialist": Specialist,
    "participant": Participant,
    "session": Session,
    "supervision": Supervision,
    "milestone": Milestone,
    "screening": Screening,
    "allocation": Allocation,
    "audit": AuditEntry,
}


def describe(exc: ValidationError) -> str:
    """The first problem of a ValidationError as one line, never echoing free text."""
    error = exc.errors()[0]
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    bounds = {"greater_than_equal": "must be at least {ge}", "less_than_equal": "must be at most {le}"}
    if error["type"] in bounds:
        message = bounds[error["type"]].format(**error["ctx"])
    elif error["type"] == "extra_forbidden":
        message = "unknown key"
    else:
        message = error["msg"].removeprefix("Value error, ")
        message = message[0].lower() + message[1:]
    shown = (field.split(".")[0] not in SENSITIVE and error["type"] not in ("value_error", "missing", "extra_forbidden")
             and not isinstance(error["input"], dict))
    got = f" (got {error['input']!r})" if shown else ""
    return f"{field}: {message}{got}" if field else message
