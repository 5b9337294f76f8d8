"""The records vpslog keeps, as pydantic models: the single source of truth for
validation, for the JSON Schemas in schemas/ and for the store's rows.

Codes are checked against the curriculum when a Catalog is passed in the
validation context (``Model.model_validate(data, context={"catalog": c})``);
rows read back from the store skip that check. Cross-record rules (a session
after enrollment, an active participant) belong to the core, not here.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime, time
from functools import cache
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from vpslog.fieldrules import (check_codes, code_case, criterion_ids, local_time, no_nul, participant_id,
                               split_codes)
from vpslog.parsing import ACTOR_PATTERN, MINUTES, quoted

SENSITIVE = frozenset({"note", "detail", "exit_reason", "reason", "location", "supervisor", "void_reason",
                       "reviewers", "evidence", "name"})
"""Free-text fields: never echoed in errors or logs (and marked x-free-text: dropped when de-identified)."""


def _known(kind: str, label: str) -> tuple:
    """Marks a field whose code (or codes) must be in a catalog list (`x-codes` in the
    JSON Schema); Record.codes_are_known checks them all in one pass per record.
    Use as `Annotated[str, *_known(...)]`. Codes are read in any case."""
    return (Field(json_schema_extra={"x-codes": kind, "x-label": label}), BeforeValidator(code_case))


@cache
def _coded_fields(model: type) -> tuple[tuple[str, str, str], ...]:
    """(field, catalog list, label) of each field marked with _known."""
    return tuple((name, info.json_schema_extra["x-codes"], info.json_schema_extra["x-label"])
                 for name, info in model.model_fields.items()
                 if isinstance(info.json_schema_extra, dict) and "x-codes" in info.json_schema_extra)


Codes = Annotated[tuple[str, ...], BeforeValidator(split_codes)]
LocalId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]
ParticipantId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=32),
    AfterValidator(participant_id),
]
RecordId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
Minutes = Annotated[int, Field(ge=MINUTES[0], le=MINUTES[1])]
Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(no_nul)]
FreeText = Annotated[str, Field(max_length=20_000, json_schema_extra={"x-free-text": True}), AfterValidator(no_nul)]
PersonalText = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra={"x-free-text": True}),
                         AfterValidator(no_nul)]
"""Short free text that may name or describe a person or place (a reason, a location)."""


AGES = (16, 120)
"""The ages at enrollment a participant can have (given as the age, or as a birth year)."""


class Record(BaseModel):
    """Every record: strict about unknown fields, immutable, and documented per field
    (the descriptions become the JSON Schema and the codebook). Field descriptions are
    given with Field(): attribute docstrings would make pydantic parse this file's
    source at every start-up."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)

    @model_validator(mode="after")
    def codes_are_known(self, info: ValidationInfo):
        """Every coded field against the catalog in the validation context (if any)."""
        catalog = (info.context or {}).get("catalog")
        if catalog is not None:
            check_codes(self, _coded_fields(type(self)), catalog)
        return self


class Site(Record):
    """A program site (an agency or an office)."""

    id: LocalId = Field(description="Site code.")
    name: Text = Field(description="Site name.")


class Specialist(Record):
    """A peer specialist who delivers VPS sessions."""

    id: LocalId = Field(description="Specialist code.")
    site_id: LocalId = Field(description="The site the specialist works at.")
    name: PersonalText | None = Field(None, description="Display name (staff; dropped when de-identified).")
    trained_on: date | None = Field(None, description="Date trained to criterion on the curriculum.")
    active: bool = Field(True, description="Still delivering sessions.")


class Participant(Record):
    """A person receiving services, known only by a pseudonymous study code."""

    id: ParticipantId = Field(description="Pseudonymous study code (never a name).")
    site_id: LocalId = Field(description="The site the participant is served at.")
    enrolled_on: date = Field(description="Date of enrollment (entry into the program).")
    arm: Literal["vps", "control"] | None = Field(None, description="Study arm: vps (vocational peer support) or control (peer support as usual); empty until enrolled.")
    consent_on: date | None = Field(None, description="Date consent was given.")
    status: Literal["active", "exited"] = Field("active", description="active, or exited (with exit date and reason).")
    exited_on: date | None = Field(None, description="Date the participant left the program.")
    exit_reason: PersonalText | None = Field(None, description="Why the participant left (free text; dropped when de-identified).")
    age: Annotated[int, Field(ge=AGES[0], le=AGES[1])] | None = Field(None, description="Age at enrollment, in years.")
    birth_year: Annotated[int, Field(ge=1900, le=2100)] | None = Field(None, description="Year of birth (instead of the age; dropped when de-identified).")
    gender: Annotated[str | None, *_known("gender", "gender")] = Field(None, description="Gender.")
    race: Annotated[str | None, *_known("race", "race")] = Field(None, description="Race/ethnicity.")
    residence: Annotated[str | None, *_known("residence", "residence")] = Field(None, description="Residential status at baseline.")
    marital: Annotated[str | None, *_known("marital", "marital status")] = Field(None, description="Marital status at baseline.")
    education: Annotated[str | None, *_known("education", "education")] = Field(None, description="Education at baseline.")
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

    id: RecordId = Field(description="Record id (32 hex digits; any unique prefix names it on the command line).")
    entered_at: datetime = Field(description="When the record was entered (UTC).")
    entered_by: Text = Field(description="Who entered it: the configured specialist, else the OS user.")
    voided: bool = Field(False, description="Voided records stay in the store but never count.")
    void_reason: PersonalText | None = Field(None, description="Why it was voided (free text; dropped when de-identified).")


class Session(Entered):
    """One contact between a specialist and a participant."""

    participant_id: ParticipantId = Field(description="The participant's study code.")
    specialist_id: LocalId = Field(description="The specialist who delivered the session.")
    date: dt.date = Field(description="Date of the session.")
    start_time: Annotated[time, AfterValidator(local_time)] | None = Field(None, description="Start time (local).")
    minutes: Minutes = Field(description="Length in minutes (1-480).")
    type: Annotated[str, *_known("session_type", "session type")] = Field(description="Session type; only individual sessions count toward the dose.")
    mode: Annotated[str, *_known("mode", "mode")] = Field(description="How the contact took place.")
    location: PersonalText | None = Field(None, description="Where (free text; dropped when de-identified).")
    components: Annotated[Codes, *_known("component", "component")] = Field((), description="Curriculum components addressed.")
    supports: Annotated[Codes, *_known("support_type", "support type")] = Field((), description="Types of support given.")
    phase: Annotated[str | None, *_known("phase", "phase")] = Field(None, description="Vocational phase of the participant's goal.")
    clinical: bool = Field(False, description="A clinical service was given (VPS must not).")
    note: FreeText | None = Field(None, description="Free-text note (sensitive; never in logs, errors or de-identified exports).")


class Supervision(Entered):
    """A supervision meeting of a specialist."""

    specialist_id: LocalId = Field(description="The specialist supervised.")
    supervisor: PersonalText = Field(description="Who supervised (free text; dropped when de-identified).")
    date: dt.date = Field(description="Date of the meeting.")
    minutes: Minutes = Field(description="Length in minutes (1-480).")
    group: bool = Field(False, description="A group meeting (only individual supervision counts for the cadence rule).")
    topics: Annotated[Codes, *_known("supervision_topic", "supervision topic")] = Field((), description="Topics discussed.")
    note: FreeText | None = Field(None, description="Free-text note (sensitive).")


class Milestone(Entered):
    """A vocational milestone of a participant (goal set, interview, job start...)."""

    participant_id: ParticipantId = Field(description="The participant's study code.")
    date: dt.date = Field(description="Date of the milestone.")
    kind: Annotated[str, *_known("milestone_kind", "milestone kind")] = Field(description="What happened.")
    detail: FreeText | None = Field(None, description="Free detail (sensitive; dropped when de-identified).")


def _json_object(value):
    """The store keeps a mapping as JSON text; accept that as well as a dict."""
    import json

    return json.loads(value) if isinstance(value, str) else value


class Screening(Record):
    """An eligibility screening: the answers, the result, and the rules version it used."""

    id: RecordId = Field(description="Record id.")
    participant_id: ParticipantId = Field(description="The participant's study code.")
    date: dt.date = Field(description="Date of the screening.")
    answers: Annotated[dict[str, bool], BeforeValidator(_json_object), AfterValidator(criterion_ids)] = Field(description="Answer (true = yes) to each criterion of schemas/eligibility.toml, as JSON.")
    eligible: bool = Field(description="Every criterion had the required answer.")
    reasons: Annotated[str, Field(max_length=2000)] = Field("", description="Why not eligible, `; `-joined (generated from the criteria).")
    rules_version: Text = Field(description="Content hash of the eligibility.toml the result was computed under.")
    entered_at: datetime = Field(description="When the screening was entered (UTC).")
    entered_by: Text = Field(description="Who entered it.")


class Allocation(Record):
    """A randomized allocation: the n-th at its site, by permuted blocks."""

    id: RecordId = Field(description="Record id.")
    participant_id: ParticipantId = Field(description="The participant's study code.")
    site_id: LocalId = Field(description="The stratum: allocation sequences are per site.")
    number: int = Field(ge=1, description="Allocation number within the site, from 1.")
    arm: Literal["vps", "control"] = Field(description="The arm allocated.")
    allocated_at: datetime = Field(description="When the allocation was made (UTC).")


ItemCode = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
"""A review item id of schemas/review.toml."""
Score = Annotated[int, Field(ge=1, le=5)]
EvidenceSource = Literal["records", "interview", "observation", "documents"]


class Review(Record):
    """A fidelity review of a site (or of the whole program): reviewer-rated and record-based items."""

    id: RecordId = Field(description="Record id.")
    site_id: LocalId | None = Field(None, description="The site reviewed; empty for the whole program.")
    as_of: dt.date = Field(description="The review date: record-based items are scored as of it.")
    reviewers: PersonalText = Field(description="Who reviewed, `; `-joined (free text; dropped when de-identified).")
    scale_version: Text = Field(description="Content hash of the review.toml the review used.")
    rules_version: Text = Field(description="Content hash of the fidelity.toml the record-based items were scored under.")
    status: Literal["open", "signed"] = Field("open", description="open, or signed (locked: later changes only as addenda).")
    signed_at: datetime | None = Field(None, description="When it was signed (UTC).")
    signed_by: Annotated[str, Field(pattern=f"^{ACTOR_PATTERN}$")] | None = Field(
        None, description="Who signed it: a user or specialist id, never a name.")
    entered_at: datetime = Field(description="When the review was started (UTC).")
    entered_by: Text = Field(description="Who started it.")

    @model_validator(mode="after")
    def signed_when_signed(self) -> Review:
        if (self.status == "signed") != (self.signed_at is not None and self.signed_by is not None):
            raise ValueError("a signed review needs signed_at and signed_by, and only a signed one")
        return self


class ReviewItem(Record):
    """One item of a review: its score, the sources it rests on and the evidence."""

    id: RecordId = Field(description="Record id.")
    review_id: RecordId = Field(description="The review.")
    item: ItemCode = Field(description="The item id of schemas/review.toml.")
    score: Score | None = Field(None, description="The score given, 1-5; empty until scored (or, from records, when nothing could be judged).")
    sources: Annotated[tuple[EvidenceSource, ...], BeforeValidator(split_codes)] = Field((), description="Evidence sources the score rests on.")
    computed_score: Score | None = Field(None, description="For a record-based item, the score the fidelity engine gave on the review date (kept when overridden).")
    computed_evidence: Annotated[str, Field(max_length=2000)] | None = Field(None, description="The fidelity counts behind the computed score.")
    evidence: FreeText | None = Field(None, description="The reviewers' evidence, one `source: text` line each (free text; dropped when de-identified).")
    entered_at: datetime = Field(description="When the item was created (UTC).")
    entered_by: Text = Field(description="Who created it.")


class ReviewObservation(Record):
    """A session observed during a review, checked against the curriculum components."""

    id: RecordId = Field(description="Record id.")
    review_id: RecordId = Field(description="The review.")
    session_id: RecordId = Field(description="The session observed.")
    present: Annotated[Codes, *_known("component", "component")] = Field((), description="Components seen in the session.")
    absent: Annotated[Codes, *_known("component", "component")] = Field((), description="Components looked for and not seen.")
    entered_at: datetime = Field(description="When the observation was entered (UTC).")
    entered_by: Text = Field(description="Who entered it.")

    @model_validator(mode="after")
    def checklist(self) -> ReviewObservation:
        if not self.present and not self.absent:
            raise ValueError("an observation needs components --present or --absent")
        if both := [c for c in self.present if c in self.absent]:
            raise ValueError(f"{', '.join(both)} cannot be both present and absent")
        return self


class ReviewFinding(Record):
    """A strength or a recommendation of a review; a recommendation is an action item followed up."""

    id: RecordId = Field(description="Record id.")
    review_id: RecordId = Field(description="The review.")
    kind: Literal["strength", "recommendation"] = Field(description="strength or recommendation.")
    item: ItemCode | None = Field(None, description="The review item it concerns, if one.")
    detail: FreeText = Field(min_length=1, description="What the reviewers wrote (free text; dropped when de-identified).")
    owner: LocalId | None = Field(None, description="The specialist who owns the action, if one.")
    due: dt.date | None = Field(None, description="When the action is due.")
    status: Literal["open", "done", "dropped"] | None = Field(None, description="A recommendation's follow-up: open, done or dropped.")
    closed_on: dt.date | None = Field(None, description="When it was done or dropped.")
    note: FreeText | None = Field(None, description="What was done, or why it was dropped (free text; dropped when de-identified).")
    entered_at: datetime = Field(description="When the finding was entered (UTC).")
    entered_by: Text = Field(description="Who entered it.")

    @model_validator(mode="after")
    def follow_up(self) -> ReviewFinding:
        if self.kind == "strength" and (self.owner or self.due or self.status):
            raise ValueError("a strength has no owner, due date or follow-up")
        if self.kind == "recommendation" and self.status is None:
            raise ValueError("a recommendation needs a status")
        if (self.status in ("done", "dropped")) != (self.closed_on is not None):
            raise ValueError("a done or dropped action needs the date, and only such an action")
        return self


class AuditEntry(Record):
    """One append-only, hash-chained line of the audit trail."""

    seq: int = Field(ge=1, description="Position in the chain, from 1.")
    at: datetime = Field(description="When (UTC).")
    actor: Text = Field(description="Who.")
    action: Text = Field(description="insert, amend, void, exit, enroll, randomize, export, import, merge.")
    table: Text = Field(description="The table the record belongs to.")
    record_id: Text = Field(description="The record's id.")
    before: dict | None = Field(None, description="The changed fields before (notes as keyed digests).")
    after: dict | None = Field(None, description="The changed fields after (notes as keyed digests).")
    reason: FreeText | None = Field(None, description="Why (amendments, voids, exits).")
    prev_hash: str = Field(description="Hash of the previous entry.")
    hash: str = Field(description="HMAC-SHA-256 of this entry and the previous hash, keyed with the project secret.")


RECORDS: dict[str, type[Record]] = {
    "site": Site,
    "specialist": Specialist,
    "participant": Participant,
    "session": Session,
    "supervision": Supervision,
    "milestone": Milestone,
    "screening": Screening,
    "allocation": Allocation,
    "review": Review,
    "review_item": ReviewItem,
    "review_observation": ReviewObservation,
    "review_finding": ReviewFinding,
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
    shown = (field.split(".")[0] not in SENSITIVE and not isinstance(error["input"], dict) and error["type"] not in (
        "value_error", "missing", "extra_forbidden", "string_too_long"))  # (a length is all a length error needs)
    got = f" (got {quoted(error['input']) if isinstance(error['input'], str) else repr(error['input'])[:40]})" if shown else ""
    return f"{field}: {message}{got}" if field else message
