"""`vpslog config set|show`: the defaults `vpslog log` uses."""

from typing import Annotated

import typer

from vpslog.commands.common import FormatOption, program, say
from vpslog.render import Format, emit

app = typer.Typer(help="Your defaults for `vpslog log` (specialist, mode, type).", no_args_is_help=True)


@app.command("set")
def set_(ctx: typer.Context, key: Annotated[str, typer.Argument(help="specialist, mode or type.")],
         value: Annotated[str, typer.Argument()]) -> None:
    """Set a default; the value is checked against the store and the curriculum."""
    from vpslog import config
    from vpslog.parsing import resolve_code

    config.check_key(key)
    with program(ctx) as prog:
        if key == "specialist":
            value = prog.resolve("specialist", value)
        else:
            kind = "session_type" if key == "type" else key
            value = resolve_code(value, prog.catalog.codes(kind), key)
    settings = config.load()
    settings[key] = value
    path = config.save(settings)
    say(f"{key} = {value} (saved in {path})")


@app.command("show")
def show(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """Show the defaults and where the store, config and schemas are."""
    from vpslog import config
    from vpslog.curriculum import schemas_dir

    settings = config.load()
    rows = [{"key": key, "value": settings.get(key), "meaning": meaning} for key, meaning in config.KEYS.items()]
    rows += [
        {"key": "db", "value": str(ctx.find_root().obj.db_path), "meaning": "store file (--db, VPSLOG_DB)"},
        {"key": "config_dir", "value": str(config.config_dir()), "meaning": "config and secret (VPSLOG_CONFIG_DIR)"},
        {"key": "schemas", "value": str(schemas_dir()), "meaning": "curriculum and rules (VPSLOG_SCHEMAS)"},
    ]
    if fmt is Format.json:  # as schemas/config.listing.schema.json describes it
        from vpslog.shapes import ConfigEntry, as_json

        rows = as_json(ConfigEntry, rows)
    emit(rows, ("key", "value", "meaning"), fmt, "configuration")
