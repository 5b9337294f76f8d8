"""Loads schemas/fidelity.toml: the rules (kind, scope, severity, parameters)
and the scale that turns pass rates into item scores and a total band."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from vpslog.curriculum import Catalog, Invalid, check_entries, load_data_file
from vpslog.fidelity.kinds import KINDS, Kind
from vpslog.parsing import did_you_mean

RULE_KEYS = {"id": "code", "title": "text", "kind": "text", "scope": "text", "severity": "text"}
SEVERITIES = ("fail", "warn")
CODE_LISTS = {"session_types": "session_type", "required_components": "component"}
COUNT_MAX = 36_500
"""The largest number a parameter takes (days, sessions, participants): a century of days; more
means nothing in a program, and overflows the date arithmetic."""
AT_LEAST_ONE = frozenset({"min_sessions", "window_days", "first_sessions"})
"""Parameters for which 0 means nothing (an empty window, a dose of none)."""


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    kind: str
    scope: str
    severity: str
    params: dict

    @property
    def check(self):
        return KINDS[self.kind].check


@dataclass(frozen=True)
class Scale:
    item_bands: tuple[tuple[float, int], ...]  # (min_rate, score), highest first
    total_bands: tuple[tuple[float, str], ...]  # (min_share, label), highest first

    def item_score(self, rate: float) -> int:
        return next(score for minimum, score in self.item_bands if rate >= minimum)

    def band(self, share: float) -> str:
        return next(label for minimum, label in self.total_bands if share >= minimum)


@dataclass(frozen=True)
class RuleBook:
    rules: tuple[Rule, ...]
    scale: Scale
    version: str

    def get(self, rule_id: str) -> Rule:
        """A rule by its id or a unique prefix of it."""
        from vpslog.parsing import resolve_code

        wanted = resolve_code(rule_id, [rule.id for rule in self.rules], "rule")
        return next(rule for rule in self.rules if rule.id == wanted)


def _params(where: str, kind: Kind, given, catalog: Catalog) -> dict:
    if not isinstance(given, dict):
        raise Invalid(f"{where}: must be a table of parameters")
    for key in sorted(given.keys() - kind.params.keys()):
        raise Invalid(f"{where}.{key}: unknown parameter{did_you_mean(key, kind.params)}")
    params = {**kind.params, **given}
    for key, default in kind.params.items():
        value = params[key]
        if type(value) is not type(default) or (isinstance(value, list) and not all(type(v) is str for v in value)):
            raise Invalid(f"{where}.{key}: must be {type(default).__name__} like {default!r} (got {value!r})")
        if type(value) is int and not (low := int(key in AT_LEAST_ONE)) <= value <= COUNT_MAX:
            raise Invalid(f"{where}.{key}: must be {low} to {COUNT_MAX} (got {value})")
        accepted = catalog.codes(CODE_LISTS[key]) if key in CODE_LISTS else ("vps", "control") if key == "arms" else None
        if accepted is not None:
            for index, code in enumerate(value):
                if code not in accepted:
                    raise Invalid(f"{where}.{key}: unknown code {code!r}{did_you_mean(code, accepted)}")
                if code in value[:index]:
                    raise Invalid(f"{where}.{key}: {code!r} is given twice")
    return {key: tuple(value) if isinstance(value, list) else value for key, value in params.items()}


def _bands(data: dict, key: str, fields: tuple[str, str], accepts, wanted: str) -> tuple:
    """A scale's bands, highest first: each a share from 0 to 1 where it starts, and what it gives
    (`accepts` says which values may be given: `wanted` in words)."""
    bands = data.get(key)
    if not isinstance(bands, list) or not bands:
        raise Invalid(f"scale.{key}: needs a list of bands")
    rows = []
    for index, band in enumerate(bands):
        if not isinstance(band, dict) or set(band) != set(fields):
            raise Invalid(f"scale.{key}[{index}]: needs {fields[0]} (a number) and {fields[1]}")
        start, value = band[fields[0]], band[fields[1]]
        if type(start) not in (int, float) or not 0 <= start <= 1:  # (nan is neither)
            raise Invalid(f"scale.{key}[{index}].{fields[0]}: must be a share from 0 to 1 (got {start!r})")
        if not accepts(value):
            raise Invalid(f"scale.{key}[{index}].{fields[1]}: must be {wanted} (got {value!r})")
        if float(start) in (row[0] for row in rows):
            raise Invalid(f"scale.{key}[{index}].{fields[0]}: another band starts at {start} too")
        rows.append((float(start), value))
    rows.sort(reverse=True)
    if rows[-1][0] != 0:
        raise Invalid(f"scale.{key}: the lowest band must start at 0")
    return tuple(rows)


def load_scale(scale) -> Scale:
    """The `[scale]` table of fidelity.toml (and review.toml): item scores 1-5 and the total's bands."""
    if not isinstance(scale, dict):
        raise Invalid("scale: field required")
    return Scale(_bands(scale, "item_bands", ("min_rate", "score"), lambda v: type(v) is int and 1 <= v <= 5,
                        "a whole score from 1 to 5"),
                 _bands(scale, "total_bands", ("min_share", "label"), lambda v: type(v) is str and v.strip() != "" and v.isprintable(),
                        "a label of visible text"))


def load_rules(catalog: Catalog) -> RuleBook:
    """The rules of `catalog.folder`/fidelity.toml, checked against the kinds and the curriculum."""
    path = Path(catalog.folder) / "fidelity.toml"

    def check(data: dict) -> RuleBook:
        for key in sorted(data.keys() - {"rule", "scale"}):
            raise Invalid(f"{key}: unknown key")
        entries = check_entries("rule", data.get("rule"), {**RULE_KEYS, "params": "table"}, unique="id")
        rules = []
        for index, entry in enumerate(entries):
            where = f"rule[{index}]"
            kind = KINDS.get(entry["kind"])
            if kind is None:
                raise Invalid(f"{where}.kind: unknown kind {entry['kind']!r}{did_you_mean(entry['kind'], KINDS)}")
            if entry["scope"] != kind.scope:
                raise Invalid(f"{where}.scope: kind {entry['kind']} is for scope {kind.scope!r}, not {entry['scope']!r}")
            if entry["severity"] not in SEVERITIES:
                raise Invalid(f"{where}.severity: {entry['severity']!r} is not fail or warn")
            params = _params(f"{where}.params", kind, entry["params"], catalog)
            rules.append(Rule(entry["id"], entry["title"], entry["kind"], entry["scope"], entry["severity"], params))
        return RuleBook(tuple(rules), load_scale(data.get("scale")), hashlib.sha256(path.read_bytes()).hexdigest()[:16])

    return load_data_file(path, check)
