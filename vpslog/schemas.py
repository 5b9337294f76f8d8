"""JSON Schema files generated from the record models (a test keeps them fresh)."""

from __future__ import annotations

import json
from pathlib import Path

from vpslog.models import RECORDS


def json_schemas() -> dict[str, str]:
    """File name -> content of each record's JSON Schema."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, model in RECORDS.items()
    }


def write_json_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in json_schemas().items():
        path = folder / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
