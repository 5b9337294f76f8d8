"""`vpslog schema dump`: JSON Schema files generated from the models."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpslog.commands.common import say

app = typer.Typer(help="JSON Schemas of the records.", no_args_is_help=True)


@app.command("dump")
def dump(out: Annotated[Optional[Path], typer.Option("--out", help="Folder (default: the schemas folder).")] = None) -> None:
    """Write one <record>.schema.json per record model."""
    from vpslog.curriculum import schemas_dir
    from vpslog.schemas import write_json_schemas

    folder = out or schemas_dir()
    for path in write_json_schemas(folder):
        say(f"wrote {path}")
