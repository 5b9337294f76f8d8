"""Row validators compiled from the models for one catalog, for bulk work (`vpslog import`).

A record arrives as a tuple of its field values, in the model's field order, and
pydantic-core alone validates it and turns it into its store row: no model instance,
no Python validator per code. Everything is derived from the model's own core schema,
so there is no second copy of the rules: the coded fields become Literals of the
catalog's codes (what the model validator `codes_are_known` checks), and the store's
forms that `store.to_row` gives (code lists `;`-joined, booleans 0/1, mappings as
sorted JSON) become the serialization. A model with a rule across fields (a model
validator of its own, like Participant's) gets no compiled validator: its records go
through the model.
"""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import dataclass
from functools import partial

from pydantic_core import SchemaSerializer, SchemaValidator, core_schema

from vpslog.models import Record, _coded_fields

_STORE_FORMS = {
    "tuple": ";".join,
    "bool": int,
    "dict": partial(json.dumps, sort_keys=True),
}
"""How store.to_row keeps a value of each kind (see there)."""


@dataclass(frozen=True)
class CompiledRows:
    fields: tuple[str, ...]
    defaults: tuple
    """Per field, the value a missing or empty cell stands for (None for a required field,
    which the validator then refuses, leaving the message to the model)."""
    validator: SchemaValidator
    serializer: SchemaSerializer
    record: type
    """A named tuple of the validated values that the rules of core.Program read as they
    read the model (same attribute names and values)."""


def compile_rows(model: type[Record], catalog) -> CompiledRows | None:
    """The tuple validator of `model` under `catalog`, or None when the model has a rule
    across fields (only the model applies it)."""
    if set(model.__pydantic_decorators__.model_validators) != {"codes_are_known"}:
        return None
    model.model_rebuild()  # the models defer building their schema until first used
    schema = model.__pydantic_core_schema__
    while schema["type"] != "model":  # the model validators wrapped around it
        schema = schema["schema"]
    config, fields = schema["config"], schema["schema"]["fields"]
    coded = {name: catalog.codes(kind) for name, kind, _ in _coded_fields(model)}
    names = tuple(model.model_fields)
    items = [_store_form(_with_codes(fields[name]["schema"], coded[name]) if name in coded else fields[name]["schema"])
             for name in names]
    tuple_schema = core_schema.tuple_schema(items)
    defaults = tuple(None if info.is_required() else info.default for info in model.model_fields.values())
    base = namedtuple(model.__name__, names)
    record = type(model.__name__, (base,), {"__slots__": (), "model_fields": model.model_fields})
    return CompiledRows(names, defaults, SchemaValidator(tuple_schema, config), SchemaSerializer(tuple_schema, config),
                        record)


def _inner(schema: dict) -> dict:
    """The value's own schema under its default, nullable and function wrappers."""
    while schema["type"] in ("default", "nullable", "function-after", "function-before", "function-wrap"):
        schema = schema["schema"]
    return schema


def _with_codes(schema: dict, codes: tuple[str, ...]) -> dict:
    """A copy of a coded field's schema whose string (each string of a code list) must, once
    validated as the model validates it, be one of `codes`."""
    if schema["type"] == "str":
        return core_schema.chain_schema([schema, core_schema.literal_schema(list(codes))])
    if schema["type"] == "tuple":
        return {**schema, "items_schema": [_with_codes(item, codes) for item in schema["items_schema"]]}
    return {**schema, "schema": _with_codes(schema["schema"], codes)}


def _store_form(schema: dict) -> dict:
    """The field's schema, serialized as store.to_row keeps it."""
    form = _STORE_FORMS.get(_inner(schema)["type"])
    if form is None:
        return schema
    return {**schema, "serialization": core_schema.plain_serializer_function_ser_schema(form, when_used="unless-none")}
