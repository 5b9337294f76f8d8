"""The JSON shapes of the review commands' output, published as JSON Schemas beside the others."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Score = int | None


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Total(_Shape):
    total: int = Field(ge=0, description="Sum of the item scores given.")
    max: int = Field(ge=0, description="5 for each item scored.")
    share: float = Field(ge=0, le=1, description="total / max.")
    band: str | None = Field(description="The band of review.toml the share reaches; null when nothing is scored.")


class ReviewRow(_Total):
    """A line of `vpslog review list`."""

    id: str
    site_id: str = Field(description="The site reviewed, or `(program)`.")
    as_of: date
    status: Literal["open", "signed"]
    reviewers: str


class ReviewItemRow(_Shape):
    """A line of `vpslog review show`."""

    item: str
    score: Score
    computed_score: Score = Field(description="What the records gave, for a record-based item.")
    sources: list[str]


class ReviewDue(_Shape):
    """A line of `vpslog review due`: a site whose review is due, or an overdue action item."""

    what: Literal["review", "action"]
    subject: str = Field(description="The site, or the action item's id.")
    since: date | None = Field(description="The last review's date (none: never reviewed).")
    due: date
    why: str


class _Action(_Shape):
    id: str
    item: str | None
    detail: str
    owner: str | None
    due: date | None
    status: Literal["open", "done", "dropped"]
    closed_on: date | None
    note: str | None


class _Observed(_Shape):
    sessions: int = Field(ge=0)
    present: int = Field(ge=0)


class _Item(_Shape):
    item: str
    title: str
    score: Score
    anchor: str | None
    computed_score: Score
    overridden: bool
    sources: list[Literal["records", "interview", "observation", "documents"]]
    computed_evidence: str | None
    evidence: str | None
    observed: _Observed | None


class _Observation(_Shape):
    session_id: str
    date: date
    present: list[str]
    absent: list[str]


class _Strength(_Shape):
    id: str
    item: str | None
    detail: str


class _Addendum(_Shape):
    at: datetime
    by: str
    record: str
    reason: str | None


class _Change(_Shape):
    item: str
    previous: Score
    score: Score
    change: Literal["up", "down", "same", "new", "not scored"]


class _Previous(_Total):
    id: str
    as_of: date
    items: list[_Change]
    open_actions: list[_Action]


class _Header(_Shape):
    id: str
    site_id: str | None
    as_of: date
    reviewers: str
    status: Literal["open", "signed"]
    signed_at: datetime | None
    signed_by: str | None
    scale_version: str
    rules_version: str


class ReviewReport(_Total):
    """`vpslog review report REVIEW --format json`."""

    review: _Header
    items: list[_Item]
    observations: list[_Observation]
    strengths: list[_Strength]
    recommendations: list[_Action]
    addenda: list[_Addendum]
    previous: _Previous | None
