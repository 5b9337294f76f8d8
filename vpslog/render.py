"""One renderer per output format for listings: table (rich), json, csv, markdown.

json is one array of objects whose keys are the listing's columns, in order,
so scripts can rely on them; csv has the same columns as its header, and a text
cell a spreadsheet would run as a formula gets the exports' `'` guard.

Stored text is never read as rich markup, and control characters (ESC, OSC,
bidi overrides, ...) reach a terminal only escaped (`\x1b`).

A table fits the terminal (piped: $COLUMNS, else 80 characters): cells of one
word (ids, dates, codes) are never broken, text wraps between words, and when
that is not enough whole columns are left out, in the order the listing states
(else from the right), and named under the table.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Sequence
from enum import Enum

from vpslog.errors import printable


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def emit(rows: Sequence[dict], columns: Sequence[str], fmt: Format, title: str | None = None,
         drop: Sequence[str] = ()) -> None:
    """Write `rows` (only `columns`, in that order) to standard output; `drop` is the order in
    which a table too wide for the terminal leaves columns out (the rest go from the right)."""
    records = [{c: row.get(c) for c in columns} for row in rows]
    if fmt is Format.json:
        _json(records)
    elif fmt is Format.csv:
        _csv(records, columns)
    elif fmt is Format.markdown:
        _markdown(records, columns, title)
    else:
        _table(records, columns, title, drop)


def emit_record(record: dict, fmt: Format, title: str | None = None) -> None:
    """One record: as a field/value table, or as a single json object."""
    if fmt is Format.json:
        _json(record)
    elif fmt is Format.csv:
        emit([record], list(record), fmt)
    else:
        emit([{"field": k, "value": v} for k, v in record.items()], ("field", "value"), fmt, title)


def json_text(value) -> str:
    """`value` as indented JSON whose every invisible character (DEL, the C1 controls such as CSI,
    bidirectional marks, which json.dumps leaves raw when not ensure_ascii) is a `\\u` escape: what
    reaches a terminal or a viewer is never run or reordered."""
    return visible_json(json.dumps(value, ensure_ascii=False, indent=2))


def visible_json(text: str) -> str:
    """JSON text (not ensure_ascii) with every invisible character but a line break as its `\\u`
    escape; json itself escapes the line breaks in strings, so those left are the layout's."""
    if (text.isascii() and "\x7f" not in text) or text.replace("\n", "").isprintable():  # nearly always
        return text  # (json escapes every ASCII control but DEL; isascii is free, a million lines ask it)
    return "".join(c if c.isprintable() or c == "\n" else json.dumps(c)[1:-1] for c in text)


def _json(value) -> None:
    sys.stdout.write(json_text(value) + "\n")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return printable(str(value))


def _csv(records: list[dict], columns: Sequence[str]) -> None:
    write = csv_writer(columns)
    for record in records:
        write(record)


def csv_writer(columns: Sequence[str]) -> Callable[[dict], None]:
    """Writes the csv header now and returns the function that writes one record, for output that
    streams: formula triggers guarded as in exports; on a terminal, control characters escaped too."""
    from vpslog.deid import neutralize

    shown = printable if sys.stdout.isatty() else str
    writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    return lambda record: writer.writerow({c: neutralize(shown(v)) if isinstance(v, str) else v
                                           for c, v in record.items()})


def _markdown(records: list[dict], columns: Sequence[str], title: str | None) -> None:
    lines = [f"### {markdown_text(title)}", ""] if title else []  # a title may name a stored id
    lines.append("| " + " | ".join(markdown_text(_label(c)) for c in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for record in records:
        lines.append("| " + " | ".join(markdown_text(_cell(record[c])) for c in columns) + " |")
    sys.stdout.write("\n".join(lines) + "\n\n")


_MARKUP = re.compile(r"[\\`*_\[\]<>!|&~]")
"""What markdown reads as markup inside a line: escapes, code, emphasis, links and images, HTML,
table cells, entities, strikethrough."""


_BLOCK = re.compile(r"([#+=-])|([0-9]+)([.)])")
"""What markdown reads as a block when a line starts with it: a heading, a list item, a setext
underline, a numbered list (text may begin a line: a review's strengths are listed one a line)."""
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|(?<=\bwww)(\.)")
"""Where a GitHub-flavoured viewer turns bare text into a link (`https://…`, `www.…`)."""


def markdown_text(text: str) -> str:
    """Stored text in a markdown document: shown as it is, never read as markup (an image fetched, a
    link, a tag, emphasis), each such character after a backslash; control characters escaped."""
    return _AUTOLINK.sub(_escaped, _MARKUP.sub(_escaped, printable(text)))


def markdown_line(text: str) -> str:
    """Stored text that begins a block (a list item's own text): `markdown_text`, and a mark that would
    start a heading or a list after a backslash (`\\#`, `\\-`, `1\\.`), leading spaces as entities
    (four would start a code block). Table cells never begin a block: their numbers stay as they are."""
    text = markdown_text(text)
    body = text.lstrip(" ")
    lead = "&#32;" * (len(text) - len(body))
    if block := _BLOCK.match(body):
        body = (f"\\{block[1]}" if block[1] else f"{block[2]}\\{block[3]}") + body[block.end():]
    return lead + body


def _escaped(found: re.Match) -> str:
    return "\\" + found[0]


LONGEST_WORD = 32
"""A word up to this long (an id, a date, a code) is never broken; a longer one folds."""
NARROWEST = 40
"""Tables are drawn at least this wide, whatever the terminal or $COLUMNS says: the first column whole."""


def _label(column: str) -> str:
    """A column's header: a field name, or stored text (a site id heads a by-site column), so shown escaped."""
    return printable(column.removesuffix("_id").replace("_", " "))


def _reader_gone() -> None:
    """rich exits 1 when the reader goes away (`vpslog sessions | head`); raised as Python raises it,
    the command stops quietly and ends well (cli), as with every other output."""
    raise BrokenPipeError


def _table(records: list[dict], columns: Sequence[str], title: str | None, drop: Sequence[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(soft_wrap=False, highlight=False)
    if console.width < NARROWEST:  # `COLUMNS=0` drew nothing at all (exit 0), 5 cut the first column
        console.width = NARROWEST
    console.on_broken_pipe = _reader_gone
    if not records:
        console.print(Text(f"{printable(title or 'nothing')}: none", style="dim"))
        return
    cells = {c: [_cell(record[c]) for record in records] for c in columns}
    one_word = {c: all(" " not in cell for cell in cells[c]) for c in columns}
    narrowest = {c: min(LONGEST_WORD, max(len(word) for text in (_label(c), *cells[c]) for word in text.split() or [""]))
                 for c in columns}
    shown = _fitting(columns, narrowest, drop, console.width)
    table = Table(title=Text(printable(title)) if title else None, header_style="bold")
    for column in shown:
        table.add_column(Text(_label(column)), no_wrap=one_word[column] and narrowest[column] < LONGEST_WORD,
                         min_width=narrowest[column], overflow="fold")
    for row in zip(*(cells[c] for c in shown)):
        table.add_row(*map(Text, row))
    console.print(table)
    if left_out := [_label(c) for c in columns if c not in shown]:
        console.print(Text(f"not shown (too narrow): {', '.join(left_out)}; --format csv has every column",
                           style="dim"))


def _fitting(columns: Sequence[str], narrowest: dict[str, int], drop: Sequence[str], width: int) -> list[str]:
    """The columns that fit in `width` at their narrowest, leaving out `drop` in order, then from
    the right; the first column (the id) always stays. A column costs its width plus 3 (rules, padding)."""
    order = [c for c in drop if c in columns[1:]] + [c for c in reversed(columns[1:]) if c not in drop]
    shown = list(columns)
    while sum(narrowest[c] + 3 for c in shown) + 1 > width and order:
        shown.remove(order.pop(0))
    return shown
