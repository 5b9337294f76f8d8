"""The eligibility criteria of schemas/eligibility.toml, and the pure rule that
turns a screening's answers into a result with reasons."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from vpslog.curriculum import Invalid, check_entries, load_data_file, schemas_dir

KEYS = {"id": "code", "kind": "code", "question": "text", "required": "code", "reason": "text"}


@dataclass(frozen=True)
class Criterion:
    id: str
    kind: str  # inclusion or exclusion
    question: str
    required: bool  # the answer that passes: yes (True) or no (False)
    reason: str  # said when the answer does not pass


@dataclass(frozen=True)
class Criteria:
    items: tuple[Criterion, ...]
    version: str  # content hash of the file, recorded with each screening

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.items)


def _check(data: dict) -> dict:
    for key in sorted(data.keys() - {"criterion"}):
        raise Invalid(f"{key}: unknown key")
    entries = check_entries("criterion", data.get("criterion"), KEYS, unique="id")
    for index, entry in enumerate(entries):
        if entry["kind"] not in ("inclusion", "exclusion"):
            raise Invalid(f"criterion[{index}].kind: {entry['kind']!r} is not inclusion or exclusion")
        if entry["required"] not in ("yes", "no"):
            raise Invalid(f"criterion[{index}].required: {entry['required']!r} is not yes or no")
    return data


def load_criteria(folder: Path | None = None) -> Criteria:
    path = (folder or schemas_dir()) / "eligibility.toml"
    data = load_data_file(path, _check)
    items = tuple(Criterion(e["id"], e["kind"], e["question"], e["required"] == "yes", e["reason"])
                  for e in data["criterion"])
    return Criteria(items, hashlib.sha256(path.read_bytes()).hexdigest()[:16])


def assess(criteria: Criteria, answers: dict[str, bool]) -> tuple[bool, tuple[str, ...]]:
    """Eligible when every criterion's answer is the required one; else the reasons why not."""
    reasons = tuple(c.reason for c in criteria.items if answers[c.id] != c.required)
    return not reasons, reasons


def parse_answer(text: str) -> bool:
    from vpslog.errors import InputError
    from vpslog.parsing import quoted

    value = text.strip().lower()
    if value in ("yes", "y", "true"):
        return True
    if value in ("no", "n", "false"):
        return False
    raise InputError(f"answer {quoted(text)} not understood: use yes or no")
