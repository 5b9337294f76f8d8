"""The field rules of the models (vpslog/models.py) that are Python functions, kept free of pydantic.

The models call them as validators; quick entry (vpslog/modelchecks.py) calls the very same functions
without building a model, so a rule lives here once. Each raises ValueError, which pydantic turns
into the model's message.
"""

from __future__ import annotations

from vpslog.parsing import did_you_mean, quoted


def split_codes(value):
    """The store keeps code lists as `a;b`; accept that form as well as a list."""
    if isinstance(value, str):
        return tuple(part for part in value.split(";") if part)
    return value


def code_case(value):
    """Codes are lower case (the catalogs allow nothing else): `Phone` or `CAREER` typed into a
    spreadsheet is that code, as it is on the command line."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, (tuple, list)):
        return tuple(item.lower() if isinstance(item, str) else item for item in value)
    return value


def participant_id(value: str, info) -> str:
    """A study code matches the catalog's pattern (checked when a catalog is in the context)."""
    catalog = (info.context or {}).get("catalog")
    if catalog is not None and not catalog.participant_pattern.fullmatch(value):
        raise ValueError(
            f"{quoted(value)} is not a study code: use a pseudonymous code like {catalog.participant_example} "
            f"(pattern {catalog.participant_pattern.pattern}), never a name"
        )
    return value


def local_time(value):
    """A session's start time is the local clock, to the second: a zone or a fraction of a second
    (`14:30Z`, `14:30:15.5`) would be stored as typed in a field every report reads as local time."""
    if value.tzinfo is not None or value.microsecond:
        raise ValueError("must be a local clock time, HH:MM:SS (no time zone, no fraction of a second)")
    return value


def criterion_ids(answers: dict) -> dict:
    """A screening's answers are keyed by criterion ids, never by free text (a name, an address typed
    into an imported file would pass into every export, de-identified ones too)."""
    from vpslog.curriculum import CODE

    for key in answers:
        if not CODE.fullmatch(key):
            raise ValueError("each key is a criterion id of schemas/eligibility.toml (lower-case letters, digits "
                             "and -), not text")
    return answers


def no_nul(value: str) -> str:
    """A NUL cannot be exported (CSV cuts the cell there) nor shown: refused in every text field."""
    if "\x00" in value:
        raise ValueError("contains a NUL character (\\x00), which no text field may hold")
    return value


def check_codes(values, coded_fields, catalog) -> None:
    """Every coded field (name, catalog list, label) of `values` (a record or a mapping) is in the
    catalog's list."""
    get = values.get if isinstance(values, dict) else lambda name: getattr(values, name)
    for name, kind, label in coded_fields:
        value = get(name)
        accepted = catalog.codes(kind)
        for code in value if isinstance(value, tuple) else () if value is None else (value,):
            if code not in accepted:
                raise ValueError(f"{name}: unknown {label} {quoted(code)}{did_you_mean(code, accepted)}")
