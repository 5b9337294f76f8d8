"""JSON Schema files generated from the record models and the command output shapes
(vpslog/shapes.py); a test keeps them fresh."""

from __future__ import annotations

import json
from pathlib import Path

from vpslog.models import RECORDS


def json_schemas() -> dict[str, str]:
    """File name -> content of each record's JSON Schema, and of each command output's."""
    from vpslog.shapes import json_schemas as output_schemas

    documents = {f"{name}.schema.json": model.model_json_schema() for name, model in RECORDS.items()}
    return {name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
            for name, schema in {**documents, **output_schemas()}.items()}


def write_json_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in json_schemas().items():
        path = folder / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
