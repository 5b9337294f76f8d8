"""Loads schemas/curriculum.toml and schemas/participants.toml into a typed Catalog.

The codes a session may carry live in those files, never in code, so a program
can add its own. A malformed file is refused with its path and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vpslog.errors import DataFileError

Code = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)]
DEMOGRAPHICS = ("gender", "race", "residence", "marital", "education")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Spec):
    code: Code
    description: str = ""


class Group(_Spec):
    code: Code
    name: str


class Component(_Spec):
    code: Code
    name: str
    group: Code
    vocational: bool
    description: str


def _unique(items: list, what: str) -> list:
    codes = [item.code for item in items]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise ValueError(f"duplicate {what} code {', '.join(duplicates)}")
    return items


class Curriculum(_Spec):
    group: list[Group] = Field(min_length=1)
    component: list[Component] = Field(min_length=1)
    support_type: list[Choice] = Field(min_length=1)
    phase: list[Choice] = Field(min_length=1)
    session_type: list[Choice] = Field(min_length=1)
    mode: list[Choice] = Field(min_length=1)
    supervision_topic: list[Choice] = Field(min_length=1)
    milestone_kind: list[Choice] = Field(min_length=1)

    @field_validator("*")
    @classmethod
    def codes_are_unique(cls, items: list, info) -> list:
        return _unique(items, info.field_name.replace("_", " "))

    @model_validator(mode="after")
    def components_name_known_groups(self) -> "Curriculum":
        groups = [g.code for g in self.group]
        for index, component in enumerate(self.component):
            if component.group not in groups:
                raise ValueError(
                    f"component[{index}].group: unknown group {component.group!r}; "
                    f"accepted: {', '.join(groups)}"
                )
        return self


class IdRule(_Spec):
    pattern: str
    example: str

    @field_validator("pattern")
    @classmethod
    def compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return pattern


class Participants(_Spec):
    id: IdRule
    demographics: dict[str, list[Code]]

    @field_validator("demographics")
    @classmethod
    def every_characteristic_listed(cls, lists: dict[str, list[str]]) -> dict[str, list[str]]:
        missing = [name for name in DEMOGRAPHICS if not lists.get(name)]
        if missing:
            raise ValueError(f"needs a non-empty list for {', '.join(missing)}")
        return lists


def schemas_dir() -> Path:
    """`VPSLOG_SCHEMAS`, else the copy installed with the package, else the source tree's."""
    if override := os.environ.get("VPSLOG_SCHEMAS"):
        return Path(override)
    packaged = Path(__file__).parent / "schemas"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "schemas"


def _load(path: Path, model: type[_Spec]) -> _Spec:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found (set VPSLOG_SCHEMAS to the folder that holds it)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: not valid TOML: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in first["loc"]).replace(".[", "[")
        problem = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            problem = "unknown key"
        raise DataFileError(f"{path}: {key or 'top level'}: {problem}") from None


class Catalog:
    """Every code list vpslog validates against, read from one schemas folder."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or schemas_dir()
        self.curriculum: Curriculum = _load(self.folder / "curriculum.toml", Curriculum)
        self.participants: Participants = _load(self.folder / "participants.toml", Participants)

    @cached_property
    def components(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.curriculum.component)

    @cached_property
    def vocational_components(self) -> frozenset[str]:
        return frozenset(c.code for c in self.curriculum.component if c.vocational)

    def codes(self, kind: str) -> tuple[str, ...]:
        """Codes of one list: support_type, phase, session_type, mode, ... or a demographic."""
        if kind in DEMOGRAPHICS:
            return tuple(self.participants.demographics[kind])
        return tuple(item.code for item in getattr(self.curriculum, kind))

    @cached_property
    def participant_pattern(self) -> re.Pattern[str]:
        return re.compile(self.participants.id.pattern)
