"""One renderer per output format for listings: table (rich), json, csv, markdown.

json is one array of objects whose keys are the listing's columns, in order,
so scripts can rely on them; csv has the same columns as its header.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from enum import Enum


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def emit(rows: Sequence[dict], columns: Sequence[str], fmt: Format, title: str | None = None) -> None:
    """Write `rows` (only `columns`, in that order) to standard output."""
    records = [{c: row.get(c) for c in columns} for row in rows]
    if fmt is Format.json:
        sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
    elif fmt is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    elif fmt is Format.markdown:
        _markdown(records, columns, title)
    else:
        _table(records, columns, title)


def emit_record(record: dict, fmt: Format, title: str | None = None) -> None:
    """One record: as a field/value table, or as a single json object."""
    if fmt is Format.json:
        sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
    elif fmt is Format.csv:
        emit([record], list(record), fmt)
    else:
        emit([{"field": k, "value": v} for k, v in record.items()], ("field", "value"), fmt, title)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _markdown(records: list[dict], columns: Sequence[str], title: str | None) -> None:
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(c.removesuffix("_id").replace("_", " ") for c in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for record in records:
        lines.append("| " + " | ".join(_cell(record[c]).replace("|", "\\|") for c in columns) + " |")
    sys.stdout.write("\n".join(lines) + "\n\n")


def _table(records: list[dict], columns: Sequence[str], title: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column.removesuffix("_id").replace("_", " "), overflow="fold")
    for record in records:
        table.add_row(*(_cell(record[c]) for c in columns))
    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)
    if records:
        console.print(table)
    else:
        console.print(f"{title or 'nothing'}: none", style="dim")
