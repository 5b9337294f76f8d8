"""Loads schemas/review.toml: the review items (sources, anchors, the fidelity rule or the
curriculum components that feed them), the bands, and the interval between reviews."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from vpslog.curriculum import Catalog, Invalid, check_entries, check_value, load_data_file
from vpslog.fidelity.rules import Scale, load_scale
from vpslog.parsing import did_you_mean

SOURCES = ("records", "interview", "observation", "documents")
"""Where a review item's evidence comes from; a reviewer scores from the last three."""
REVIEWER_SOURCES = SOURCES[1:]
ITEM_KEYS = {"id": "code", "title": "text"}
ITEM_LISTS = ("sources", "anchors", "components")


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    sources: tuple[str, ...]
    anchors: tuple[str, ...]  # the texts for scores 1..5
    rule: str | None = None  # scored from the records by this fidelity rule
    components: tuple[str, ...] = ()  # fed by session observations of these components

    @property
    def from_records(self) -> bool:
        return self.rule is not None


@dataclass(frozen=True)
class Interval:
    months: int
    months_when_good: int
    good: tuple[str, ...]

    def months_after(self, band: str | None) -> int:
        return self.months_when_good if band in self.good else self.months


@dataclass(frozen=True)
class ReviewScale:
    items: tuple[Item, ...]
    scale: Scale
    interval: Interval
    version: str  # content hash of review.toml, stored with each review

    def get(self, item_id: str) -> Item:
        """An item by its id or a unique prefix of it."""
        from vpslog.parsing import resolve_code

        wanted = resolve_code(item_id, [item.id for item in self.items], "review item")
        return next(item for item in self.items if item.id == wanted)


def _item(index: int, entry: dict, rules: tuple[str, ...], catalog: Catalog) -> Item:
    where = f"item[{index}]"
    for key in sorted(entry.keys() - {*ITEM_KEYS, *ITEM_LISTS, "rule"}):
        raise Invalid(f"{where}.{key}: unknown key")
    for key in ("sources", "anchors"):
        if not isinstance(entry.get(key), list):
            raise Invalid(f"{where}.{key}: needs a list")
    for key in ITEM_LISTS:
        for position, value in enumerate(entry.get(key, [])):
            check_value(f"{where}.{key}[{position}]", "text" if key == "anchors" else "code", value)
    if len(entry["anchors"]) != 5:
        raise Invalid(f"{where}.anchors: needs 5 texts, for scores 1 to 5 (got {len(entry['anchors'])})")
    for source in entry["sources"]:
        if source not in SOURCES:
            raise Invalid(f"{where}.sources: unknown source {source!r}; accepted: {', '.join(SOURCES)}")
    for code in entry.get("components", []):
        if code not in catalog.components:
            raise Invalid(f"{where}.components: unknown component {code!r}{did_you_mean(code, catalog.components)}")
    rule = entry.get("rule")
    if rule is not None:
        check_value(f"{where}.rule", "code", rule)
        if rule not in rules:
            raise Invalid(f"{where}.rule: no fidelity rule {rule!r} in fidelity.toml{did_you_mean(rule, rules)}")
    if (rule is not None) != ("records" in entry["sources"]):
        raise Invalid(f"{where}: an item scored from the records needs both `rule` and the source `records`")
    return Item(entry["id"], entry["title"], tuple(entry["sources"]), tuple(entry["anchors"]), rule,
                tuple(entry.get("components", [])))


MONTHS_MAX = 120
"""Ten years between reviews at most: a larger interval means none (and overflowed the dates: exit 70)."""


def _interval(data) -> Interval:
    if not isinstance(data, dict) or data.keys() != {"months", "months_when_good", "good"}:
        raise Invalid("interval: needs months, months_when_good and good")
    for key in ("months", "months_when_good"):
        if type(data[key]) is not int or not 1 <= data[key] <= MONTHS_MAX:
            raise Invalid(f"interval.{key}: must be a whole number of months from 1 to {MONTHS_MAX} (got {data[key]!r})")
    if not isinstance(data["good"], list) or not all(isinstance(label, str) for label in data["good"]):
        raise Invalid("interval.good: needs a list of band labels")
    return Interval(data["months"], data["months_when_good"], tuple(data["good"]))


def load_review_scale(catalog: Catalog) -> ReviewScale:
    """The items of `catalog.folder`/review.toml, checked against fidelity.toml and the curriculum."""
    from vpslog.fidelity.rules import load_rules

    path = Path(catalog.folder) / "review.toml"
    rules = tuple(rule.id for rule in load_rules(catalog).rules)

    def check(data: dict) -> ReviewScale:
        for key in sorted(data.keys() - {"scale", "interval", "item"}):
            raise Invalid(f"{key}: unknown key")
        entries = data.get("item")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise Invalid("item: needs at least one [[item]] entry")
        check_entries("item", [{k: v for k, v in e.items() if k in ITEM_KEYS} for e in entries], ITEM_KEYS, unique="id")
        bands = load_scale(data.get("scale"))
        interval = _interval(data.get("interval"))
        for label in interval.good:
            if label not in [name for _, name in bands.total_bands]:
                raise Invalid(f"interval.good: {label!r} is not a band of scale.total_bands")
        items = tuple(_item(index, entry, rules, catalog) for index, entry in enumerate(entries))
        return ReviewScale(items, bands, interval, hashlib.sha256(path.read_bytes()).hexdigest()[:16])

    return load_data_file(path, check)
