"""Checks compiled from a record's pydantic model, for quick entry.

Validating with the model means importing pydantic and building the model's validator (about
90 ms), more than all the rest of `vpslog log`. So the model's core schema is compiled once into
plain data (per field: its type, bounds and pattern, and the functions of vpslog.fieldrules it
calls), cached in the config folder under a key of everything it was compiled from (the models,
the field rules, this module, vpslog's and pydantic's versions) with a digest of the checks (a
damaged or edited cache is compiled anew), and applied in plain Python. The
catalogs are not compiled in: the code checks read the live catalog, as the model does.

The compiled checks only ever say "the model accepts this as it is": they judge a value only in
the plain form the command line gives (a str, an int, a date, a UTC time without microseconds...)
or the store keeps (ISO dates and times, 0/1), and give up on anything else. What they do not accept (a value the model refuses, one they cannot
judge, a model they cannot compile) goes to the model itself, so every refusal is the model's own
message, and a missing, damaged or stale cache costs time, never a rule.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import SimpleNamespace

from vpslog import fieldrules

ASCII_SPACE = " \t\n\r\x0b\x0c"
MODEL_CONFIG = {"extra_fields_behavior", "str_strip_whitespace", "title"}
"""The model config keys the checks apply (any other makes the model judge)."""
PLAIN = {"bool": bool, "date": date, "time": time, "datetime": datetime}
_patterns: dict[str, re.Pattern] = {}


class Unsupported(Exception):
    """A part of a model's schema that the checks cannot apply: the model judges every record."""


class NotAccepted(Exception):
    """A value the checks do not accept (the model may refuse it, or accept it in a form they cannot judge)."""


# -- compiling (imports pydantic, through the model) ------------------------------------------------

def compile_model(model) -> dict:
    """The checks of `model` as plain data, from its core schema; Unsupported if any part is unknown."""
    from vpslog.models import Record, _coded_fields

    model.model_rebuild()
    node = model.__pydantic_core_schema__
    model_checks = []
    while node["type"] == "function-after":  # model validators, the outermost last
        function = node["function"]["function"]
        if function is not Record.__pydantic_decorators__.model_validators["codes_are_known"].func:
            raise Unsupported(f"model validator {function.__qualname__}")
        model_checks.append(["codes", [list(field) for field in _coded_fields(model)]])
        node = node["schema"]
    _known_keys(node, {"type", "cls", "config", "custom_init", "root_model", "post_init", "schema", "ref", "metadata"})
    if node["type"] != "model" or node.get("custom_init") or node.get("root_model") or node.get("post_init"):
        raise Unsupported(node["type"])
    config = node.get("config", {})
    _known_keys(config, MODEL_CONFIG)
    if config.get("extra_fields_behavior", "ignore") not in ("forbid", "ignore"):
        raise Unsupported(f"extra={config['extra_fields_behavior']!r}")  # "allow" keeps the extra fields
    fields = node["schema"]
    _known_keys(fields, {"type", "fields", "model_name", "computed_fields"})
    if fields["type"] != "model-fields" or fields.get("computed_fields"):
        raise Unsupported(fields["type"])
    compiled = {}
    for name, field in fields["fields"].items():
        _known_keys(field, {"type", "schema", "metadata"})
        compiled[name] = _compile(field["schema"])
    return {"fields": compiled, "forbid_extra": config.get("extra_fields_behavior") == "forbid",
            "strip": bool(config.get("str_strip_whitespace")), "model_checks": model_checks}


def _known_keys(node: dict, known: set[str]) -> None:
    if unknown := node.keys() - known:
        raise Unsupported(", ".join(sorted(unknown)))


def _compile(node: dict) -> dict:
    kind = node["type"]
    if kind == "default":
        _known_keys(node, {"type", "default", "schema", "metadata"})
        return {"kind": kind, "default": _encoded(node["default"]), "schema": _compile(node["schema"])}
    if kind == "nullable":
        _known_keys(node, {"type", "schema", "metadata"})
        return {"kind": kind, "schema": _compile(node["schema"])}
    if kind == "str":
        _known_keys(node, {"type", "pattern", "min_length", "max_length", "strip_whitespace", "to_upper", "metadata"})
        return {"kind": kind, **{k: v for k, v in node.items() if k not in ("type", "metadata")}}
    if kind == "int":
        _known_keys(node, {"type", "ge", "le", "metadata"})
        return {"kind": kind, "ge": node.get("ge"), "le": node.get("le")}
    if kind in PLAIN:
        _known_keys(node, {"type", "metadata", "microseconds_precision"})
        return {"kind": kind}
    if kind == "tuple":
        _known_keys(node, {"type", "items_schema", "variadic_item_index", "metadata"})
        if len(node["items_schema"]) != 1 or node.get("variadic_item_index") != 0:
            raise Unsupported("a tuple of fixed items")
        return {"kind": kind, "items": _compile(node["items_schema"][0])}
    if kind in ("function-before", "function-after"):
        _known_keys(node, {"type", "function", "schema", "metadata"})
        function = node["function"]["function"]
        if getattr(fieldrules, function.__name__, None) is not function:
            raise Unsupported(f"validator {function.__qualname__} (not in vpslog.fieldrules)")
        return {"kind": kind, "function": function.__name__, "info": node["function"]["type"] == "with-info",
                "schema": _compile(node["schema"])}
    raise Unsupported(kind)


def _encoded(default) -> dict:
    if isinstance(default, tuple) and all(_scalar(v) for v in default):
        return {"tuple": list(default)}
    if _scalar(default):
        return {"value": default}
    raise Unsupported(f"default {default!r}")


def _scalar(value) -> bool:
    return value is None or type(value) in (bool, int, str)


# -- the cache ----------------------------------------------------------------------------------

def cache_key() -> str | None:
    """A digest of everything the checks are compiled from; None when a source cannot be read
    (the model then judges every record)."""
    from vpslog import __version__

    here = Path(__file__).parent
    try:
        pydantic = next(folder for folder in (Path(entry or ".") / "pydantic" for entry in sys.path)
                        if (folder / "version.py").is_file())  # where `import pydantic` finds it
        sources = [here / "models.py", here / "fieldrules.py", here / "modelchecks.py", pydantic / "version.py"]
        digest = hashlib.sha256(__version__.encode())
        for source in sources:
            digest.update(source.read_bytes())
    except (OSError, StopIteration):
        return None
    return digest.hexdigest()


def checks_for(table: str, cache_folder: Path) -> dict | None:
    """The compiled checks of `table`'s model, from the cache when its key is current and its checks
    are as compiled (their digest matches), else compiled (and cached); None when the model cannot
    be compiled."""
    key = cache_key()
    if key is None:
        return None
    path = cache_folder / f"{table}.checks.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}  # a FIFO would block
        if cached["key"] == key and cached["digest"] == _digest(cached["checks"]):
            return cached["checks"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        pass  # none yet, or damaged: compiled anew
    from vpslog.models import RECORDS

    try:
        checks = compile_model(RECORDS[table])
    except Unsupported:
        checks = None
    if cache_key() != key:  # a source changed while compiling: these checks may not be the key's
        return checks
    try:
        from vpslog.files import write_private

        write_private(path, json.dumps({"key": key, "digest": _digest(checks), "checks": checks}) + "\n")
    except Exception:  # noqa: BLE001 - an unwritable cache only means compiling again next time
        pass
    return checks


def _digest(checks) -> str:
    """What the checks as compiled digest to: a cache whose checks were damaged or edited, even under
    the current key, is compiled anew rather than applied."""
    return hashlib.sha256(json.dumps(checks, sort_keys=True).encode()).hexdigest()


# -- applying ---------------------------------------------------------------------------------------

class Checked:
    """A record the checks accepted: its fields as attributes, dumped as its model dumps them."""

    def __init__(self, values: dict):
        self.__dict__.update(values)
        self._fields = tuple(values)

    def model_dump(self, *, mode: str = "json") -> dict:
        if mode != "json":
            raise ValueError("a checked record dumps only as JSON values")
        return {name: _json(getattr(self, name)) for name in self._fields}


def _json(value):
    """A value the checks accepted as pydantic writes it in JSON mode (a UTC time as `...Z`)."""
    if type(value) is tuple:
        return [_json(v) for v in value]
    if type(value) is datetime:
        return value.replace(tzinfo=None).isoformat() + "Z"
    if type(value) in (date, time):
        return value.isoformat()
    return value


def accepted(checks: dict | None, data: dict, context: dict) -> Checked | None:
    """The record `data` makes when the checks accept it as it is; None when the model must judge."""
    if checks is None:
        return None
    info = SimpleNamespace(context=context)
    values = {}
    try:
        if checks["forbid_extra"] and data.keys() - checks["fields"].keys():
            return None
        for name, field in checks["fields"].items():
            if name in data:
                values[name] = _apply(field, data[name], checks["strip"], info)
            elif field["kind"] == "default":
                default = field["default"]
                values[name] = tuple(default["tuple"]) if "tuple" in default else default["value"]
            else:
                return None  # a required field is missing
        for kind, coded in checks["model_checks"]:
            if kind == "codes" and context.get("catalog") is not None:
                fieldrules.check_codes(values, coded, context["catalog"])
    except Exception:  # noqa: BLE001 - a value refused, a rule that failed, checks ill-formed: the model judges
        return None
    return Checked(values)


def _apply(node: dict, value, strip: bool, info):
    """`value` as the model makes it under `node`; NotAccepted when the model refuses it or the
    checks cannot tell."""
    kind = node["kind"]
    if kind == "default":
        return _apply(node["schema"], value, strip, info)
    if kind == "nullable":
        return None if value is None else _apply(node["schema"], value, strip, info)
    if kind == "function-before":
        return _apply(node["schema"], _call(node, value, info), strip, info)
    if kind == "function-after":
        return _call(node, _apply(node["schema"], value, strip, info), info)
    if kind == "str":
        return _text(node, value, strip)
    if kind == "int":
        if type(value) is not int or (node["ge"] is not None and value < node["ge"]) or (
                node["le"] is not None and value > node["le"]):
            raise NotAccepted
        return value
    if kind == "tuple":
        if type(value) is not tuple:
            raise NotAccepted
        return tuple(_apply(node["items"], item, strip, info) for item in value)
    value = _from_row(kind, value)
    if type(value) is not PLAIN[kind]:
        raise NotAccepted
    if kind in ("time", "datetime") and value.microsecond:
        raise NotAccepted
    if kind == "time" and value.tzinfo is not None or kind == "datetime" and value.tzinfo is not UTC:
        raise NotAccepted
    return value


ROW_FORMS = {"date": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "time": re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}"),
             "datetime": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")}
"""How the store keeps dates and times (what `amend` and `void` validate again): read exactly so."""


def _from_row(kind: str, value):
    """A value as the store keeps it (ISO text, 0/1) as the model reads it; anything else unchanged."""
    if kind == "bool" and type(value) is int and value in (0, 1):
        return bool(value)
    if kind in ROW_FORMS and type(value) is str and ROW_FORMS[kind].fullmatch(value):
        try:
            if kind == "datetime":
                return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
            return PLAIN[kind].fromisoformat(value)
        except ValueError:
            raise NotAccepted from None
    return value


def _call(node: dict, value, info):
    function = getattr(fieldrules, node["function"])
    try:
        return function(value, info) if node["info"] else function(value)
    except Exception:  # noqa: BLE001 - whatever a rule raises, the model says what it means
        raise NotAccepted from None


def _text(node: dict, value, strip: bool) -> str:
    """pydantic-core's string checks in its order (strip, length, pattern, upper case), on the
    values where Python and pydantic-core (Rust) agree: whitespace stripped is ASCII, a pattern or
    upper-casing is applied to ASCII without line breaks."""
    if type(value) is not str:
        raise NotAccepted
    if node.get("strip_whitespace", strip):
        value = value.strip(ASCII_SPACE)
        if value and (value[0].isspace() or value[-1].isspace()):
            raise NotAccepted
    if node.get("min_length") is not None and len(value) < node["min_length"]:
        raise NotAccepted
    if node.get("max_length") is not None and len(value) > node["max_length"]:
        raise NotAccepted
    if node.get("pattern") is not None or node.get("to_upper"):
        if not value.isascii() or "\n" in value or "\r" in value:
            raise NotAccepted
    if (pattern := node.get("pattern")) is not None:
        compiled = _patterns.get(pattern) or _patterns.setdefault(pattern, re.compile(pattern))
        if not compiled.search(value):
            raise NotAccepted
    return value.upper() if node.get("to_upper") else value
