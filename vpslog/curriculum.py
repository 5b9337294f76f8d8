"""Loads schemas/curriculum.toml and schemas/participants.toml into a Catalog.

The codes a session may carry live in those files, never in code, so a program
can add its own. A malformed file is refused with its path and the key. The
checks are plain Python on purpose: building pydantic models for these files
cost ~70 ms on every `vpslog log`, more than the rest of the command.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import cached_property
from pathlib import Path

from vpslog.errors import DataFileError

CODE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DEMOGRAPHICS = ("gender", "race", "residence", "marital", "education")
CHOICE = {"code": "code", "description": "text?"}
CURRICULUM = {
    "group": {"code": "code", "name": "text"},
    "component": {"code": "code", "name": "text", "group": "code", "vocational": "bool", "description": "text"},
    "support_type": CHOICE,
    "phase": CHOICE,
    "session_type": {"code": "code", "description": "text?", "delivered": "bool"},
    "mode": CHOICE,
    "supervision_topic": CHOICE,
    "milestone_kind": CHOICE,
}
"""Each list of curriculum.toml, and the keys (with their kinds) of its entries."""


class Invalid(Exception):
    """A problem at a key of a data file; `load_data_file` adds the file's path."""


def check_value(where: str, kind: str, value) -> None:
    if kind == "table":
        if not isinstance(value, dict):
            raise Invalid(f"{where}: must be a table")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise Invalid(f"{where}: input should be a valid boolean (true or false)")
    elif not isinstance(value, str) or (kind == "code" and not CODE.fullmatch(value)):
        wanted = "a code of lower-case words joined by dashes" if kind == "code" else "a string"
        raise Invalid(f"{where}: string should match pattern: {wanted} (got {value!r})")


def check_entries(section: str, entries, keys: dict[str, str], unique: str = "code") -> list[dict]:
    """Each entry of a `[[section]]` list has exactly `keys` (kind `code`, `text`,
    `bool`; a `?` marks an optional one), and its `unique` key is unique."""
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise Invalid(f"{section}: needs at least one [[{section}]] entry")
    for index, entry in enumerate(entries):
        for key in sorted(entry.keys() - keys.keys()):
            raise Invalid(f"{section}[{index}].{key}: unknown key")
        for key, kind in keys.items():
            if key not in entry:
                if not kind.endswith("?"):
                    raise Invalid(f"{section}[{index}].{key}: field required")
                continue
            check_value(f"{section}[{index}].{key}", kind.rstrip("?"), entry[key])
    codes = [entry[unique] for entry in entries]
    if duplicates := sorted({c for c in codes if codes.count(c) > 1}):
        raise Invalid(f"{section}: duplicate {section.replace('_', ' ')} {unique} {', '.join(duplicates)}")
    return entries


def _check_curriculum(data: dict) -> dict:
    for key in sorted(data.keys() - CURRICULUM.keys()):
        raise Invalid(f"{key}: unknown key")
    for section, keys in CURRICULUM.items():
        if section not in data:
            raise Invalid(f"{section}: field required")
        check_entries(section, data[section], keys)
    groups = [g["code"] for g in data["group"]]
    for index, component in enumerate(data["component"]):
        if component["group"] not in groups:
            raise Invalid(f"component[{index}].group: unknown group {component['group']!r}; "
                           f"accepted: {', '.join(groups)}")
    return data


def _check_participants(data: dict) -> dict:
    """As strict as the curriculum: no unknown key, each code list's codes distinct. (The example is not
    held to the pattern: programs changed the pattern alone, and refusing would stop every command.)"""
    for key in sorted(data.keys() - {"id", "demographics"}):
        raise Invalid(f"{key}: unknown key")
    rule = data.get("id")
    if not isinstance(rule, dict) or not isinstance(rule.get("pattern"), str) or not isinstance(rule.get("example"), str):
        raise Invalid("id: needs pattern and example strings")
    for key in sorted(rule.keys() - {"pattern", "example"}):
        raise Invalid(f"id.{key}: unknown key")
    try:
        re.compile(rule["pattern"])
    except re.error as exc:
        raise Invalid(f"id.pattern: not a regular expression: {exc}") from None
    lists = data.get("demographics")
    if not isinstance(lists, dict):
        raise Invalid("demographics: field required")
    for name in sorted(lists.keys() - set(DEMOGRAPHICS)):
        raise Invalid(f"demographics.{name}: unknown key; accepted: {', '.join(DEMOGRAPHICS)}")
    for name in DEMOGRAPHICS:
        if not isinstance(lists.get(name), list) or not lists[name]:
            raise Invalid(f"demographics.{name}: needs a non-empty list of codes")
        for index, code in enumerate(lists[name]):
            check_value(f"demographics.{name}[{index}]", "code", code)
            if code in lists[name][:index]:
                raise Invalid(f"demographics.{name}[{index}]: {code!r} is given twice")
    return data


def schemas_dir() -> Path:
    """`VPSLOG_SCHEMAS`, else the copy installed with the package, else the source tree's."""
    if override := os.environ.get("VPSLOG_SCHEMAS"):
        return Path(override)
    packaged = Path(__file__).parent / "schemas"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "schemas"


def load_data_file(path: Path, check):
    """Parse a TOML file of schemas/ and return what `check` makes of it; any
    problem becomes one DataFileError naming the file and the key."""
    try:
        return check(tomllib.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found (set VPSLOG_SCHEMAS to the folder that holds it)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: not valid TOML: {exc}") from None
    except Invalid as exc:
        raise DataFileError(f"{path}: {exc}") from None


class Catalog:
    """Every code list vpslog validates against, read from one schemas folder."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or schemas_dir()
        self._codes: dict[str, tuple[str, ...]] = {}  # validation asks for the same lists per row
        self.curriculum: dict = load_data_file(self.folder / "curriculum.toml", _check_curriculum)
        self.participants: dict = load_data_file(self.folder / "participants.toml", _check_participants)

    @cached_property
    def components(self) -> tuple[str, ...]:
        return self.codes("component")

    @cached_property
    def component_groups(self) -> dict[str, str]:
        return {c["code"]: c["group"] for c in self.curriculum["component"]}

    @cached_property
    def vocational_components(self) -> frozenset[str]:
        return frozenset(c["code"] for c in self.curriculum["component"] if c["vocational"])

    @cached_property
    def delivered_types(self) -> tuple[str, ...]:
        """Session types that took place (SPEC 5): they carry content, count as delivered and
        as minutes of service; the others (a no-show) are contact attempts."""
        return tuple(t["code"] for t in self.curriculum["session_type"] if t["delivered"])

    def codes(self, kind: str) -> tuple[str, ...]:
        """Codes of one list: support_type, phase, session_type, mode, ... or a demographic."""
        found = self._codes.get(kind)
        if found is None:
            listed = self.participants["demographics"][kind] if kind in DEMOGRAPHICS else (
                item["code"] for item in self.curriculum[kind])
            found = self._codes[kind] = tuple(listed)
        return found

    @cached_property
    def participant_pattern(self) -> re.Pattern[str]:
        return re.compile(self.participants["id"]["pattern"])

    @property
    def participant_example(self) -> str:
        return self.participants["id"]["example"]
