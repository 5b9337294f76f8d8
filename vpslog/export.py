"""Research exports: one CSV per table, a Frictionless Data Package descriptor,
a codebook and a manifest, optionally de-identified. Audited.

The CSV lines are built by SQLite (Store.export_lines) and streamed to the
files, so memory stays flat however many rows there are. A folder export is
written whole into a private temp folder beside --out and moved into place
only when complete, so --out never holds CSVs without their manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Callable
from itertools import chain
from dataclasses import dataclass, replace
from pathlib import Path

from vpslog import __version__
from vpslog.curriculum import Catalog, Invalid, load_data_file
from vpslog.deid import (FORMULA_TRIGGERS, date_shift, participant_pseudonym, record_pseudonym,
                         site_pseudonym, staff_pseudonym)
from vpslog.errors import InputError
from vpslog.files import create_private_temp_folder, leftovers, link_refusal, name_refusal, open_new_private
from vpslog.parsing import utc_stamp
from vpslog.tables import Column, TableSpec


@dataclass(frozen=True)
class ReportSettings:
    minutes_per_unit: int
    round_up_from: int
    unit_types: tuple[str, ...]
    top_code_above: int


def load_settings(catalog: Catalog) -> ReportSettings:
    """schemas/reports.toml: the billing-unit rule and the age top-code."""

    from vpslog.models import AGES

    def check(data: dict) -> ReportSettings:
        units, deid = data.get("units"), data.get("deidentify")
        if not isinstance(units, dict) or not isinstance(deid, dict):
            raise Invalid("needs [units] and [deidentify] tables")
        for key in sorted(data.keys() - {"units", "deidentify"}):
            raise Invalid(f"{key}: unknown table; accepted: units, deidentify")
        for table, keys in (("units", units.keys() - {"minutes_per_unit", "round_up_from", "session_types"}),
                            ("deidentify", deid.keys() - {"top_code_above"})):
            for key in sorted(keys):
                raise Invalid(f"{table}.{key}: unknown key")
        for key, most in (("minutes_per_unit", 480), ("round_up_from", units.get("minutes_per_unit"))):
            if type(units.get(key)) is not int or not 1 <= units[key] <= most:
                raise Invalid(f"units.{key}: must be a whole number of minutes from 1 to {most} (got {units.get(key)!r})")
        types = units.get("session_types")
        if not isinstance(types, list) or any(t not in catalog.codes("session_type") for t in types):
            raise Invalid(f"units.session_types: must list session types ({', '.join(catalog.codes('session_type'))})")
        if type(deid.get("top_code_above")) is not int or not AGES[0] <= deid["top_code_above"] <= AGES[1]:
            raise Invalid(f"deidentify.top_code_above: must be a whole number of years from {AGES[0]} to {AGES[1]} "
                          f"(got {deid.get('top_code_above')!r})")
        return ReportSettings(units["minutes_per_unit"], units["round_up_from"], tuple(types), deid["top_code_above"])

    return load_data_file(Path(catalog.folder) / "reports.toml", check)


def plan(spec: TableSpec, catalog: Catalog, settings: ReportSettings, *, deidentify: bool, wide: bool
         ) -> list[tuple[Column, str, object]]:
    """Each output column of a table with how the store renders it (see Store.export_lines)."""
    out = []
    for column in spec.columns:
        name, pseudonym = column.name, spec.pseudonym_kind(column.name)
        if deidentify and name == "birth_year":
            continue
        if name == "units":
            out.append((column, "units", (settings.minutes_per_unit, settings.round_up_from, settings.unit_types)))
        elif deidentify and pseudonym:
            out.append((_described(column, "Pseudonym (keyed hash)."),
                        "participant" if pseudonym == "participant" else "pseudonym", (pseudonym, name)))
        elif deidentify and column.free_text:
            out.append((_described(column, "Free text: `withheld` where the store has a value."), "withheld", name))
        elif deidentify and name == "number" and spec.name == "allocations":
            out.append((replace(column, description="Order of allocation within the site on the shifted timeline "
                                                    "(the real allocation number is not exported)."),
                        "shifted_rank", ("site_id", "allocated_at", "id")))
        elif deidentify and spec.shifted_through and column.type == "datetime":
            out.append((_described(column, f"De-identified: the day of its {spec.shifted_through}, shifted (its own "
                                           "time would link the real dates of its review to the shifted ones)."),
                        "through_day", spec.shifted_through))
        elif deidentify and spec.shifts_dates and column.type in ("date", "datetime"):
            out.append((_described(column, "Shifted back by the participant's offset" + (
                ", to the day; its seconds only keep the order of the participant's entries that day (no time "
                "of day is left)." if column.type == "datetime" else ".")),
                f"shift_{column.type}", name))
        elif deidentify and column.type == "datetime":
            out.append((_described(column, "De-identified: the day only (a time of day would match a "
                                            "participant's shifted one entered in the same sitting)."),
                        "day_datetime", name))
        elif deidentify and name == "age":
            out.append((replace(column, description=f"Age at enrollment; over {settings.top_code_above} "
                                                    f"reported as {settings.top_code_above + 1}."),
                        "age", (name, settings.top_code_above)))
        else:
            out.append((column, "text" if _typed_by_people(column) else "plain", name))
    if wide and spec.name == "sessions":
        for code in catalog.components:
            flag = Column(f"c_{code.replace('-', '_')}", "integer", f"1 when component {code} was addressed.",
                          minimum=0, maximum=1, derived=True)
            out.append((flag, "flag", code))
    return out


def _described(column: Column, addition: str) -> Column:
    return replace(column, description=f"{column.description} {addition}")


def _typed_by_people(column: Column) -> bool:
    """Free text and JSON often need CSV quoting or the formula guard: SQLite tests each of their cells.
    The other cells (codes, dates, numbers, and ids such as a participant's study code or the account
    that entered a record) are written as stored and checked a batch at a time (Store.export_lines),
    which costs far less where, as from vpslog, they never need it."""
    return column.type == "object" or (column.free_text and column.type == "string")


def _pseudonyms(store, specs: list[TableSpec]) -> None:
    """Load the keyed pseudonyms (and date shifts) of everyone and everything a de-identified
    export names; record ids only for the record tables exported and those their rows name
    (a review item names its review, an observation its session)."""
    from vpslog.tables import RECORD_REFERENCES

    secret = store.secret()
    participants = ((pid, participant_pseudonym(secret, pid), date_shift(secret, pid))
                    for pid in store.each_id("participant"))
    records = sorted({spec.table for spec in specs if spec.id_kind == "record"}
                     | {RECORD_REFERENCES[c.name] for spec in specs for c in spec.columns if c.name in RECORD_REFERENCES})
    codes = chain(
        (("staff", value, staff_pseudonym(secret, value))
         for value in sorted({*store.staff_values(), *store.review_staff_values()})),
        (("site", value, site_pseudonym(secret, value)) for value in store.each_id("site")),
        (("record", value, record_pseudonym(secret, value)) for table in records for value in store.each_id(table)))
    store.load_pseudonyms(participants, codes)


EXPORT_FILES = ("datapackage.json", "codebook.md", "manifest.json")
"""Beside the CSVs, the files an export writes (and the only ones an earlier export folder may hold)."""


def export(prog, specs: list[TableSpec], out: Path | None, *, deidentify: bool = False, wide: bool = False,
           since: str | None = None, until: str | None = None, site: str | None = None,
           arm: str | None = None, notify: Callable[[str], None] = lambda text: None) -> dict:
    """Write the tables to `out` (a folder; None means one table to standard output). Returns the manifest.

    A folder is refused before any work unless it is new, empty or an earlier export; the export is
    built in a temp folder (with its audit entry and manifest) that replaces `out` only when complete
    and is removed on any failure.
    """
    if out is None and len(specs) != 1:
        raise InputError("--out - writes one table to standard output: name exactly one table")
    if out is not None:
        _refuse_unless_replaceable(out)
        out = Path(os.path.abspath(out))  # `.` and `..` have no name to put a folder beside
        _tidy(out, notify)
    settings = load_settings(prog.catalog)
    folder = None if out is None else _temp_folder(out)
    try:
        manifest = _write_export(prog, specs, folder, settings, deidentify=deidentify, wide=wide,
                                 filters={"since": since, "until": until, "site": site, "arm": arm})
        if out is not None:
            _move_into_place(folder, out)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return manifest


def _write_export(prog, specs: list[TableSpec], folder: Path | None, settings: ReportSettings, *,
                  deidentify: bool, wide: bool, filters: dict) -> dict:
    """The CSVs (one read snapshot), the audit entry, then descriptor, codebook and manifest, into
    `folder` (None: the one table to standard output). Returns the manifest."""
    store = prog.store
    written, stopped = [], None
    with store.snapshot():  # one consistent snapshot of every table
        try:
            if deidentify:
                _pseudonyms(store, specs)
            for spec in specs:
                columns = plan(spec, prog.catalog, settings, deidentify=deidentify, wide=wide)
                cells = [(kind, argument) for _, kind, argument in columns]
                lines = store.export_lines(
                    spec.table, cells, participant_column=("id" if spec.name == "participants" else "participant_id")
                    if spec.participant_linked else None, shifted_through=spec.shifted_through,
                    date_column=spec.date_column, deidentified=deidentify, **filters)
                header = ",".join(column.name for column, _, _ in columns)
                target = folder / f"{spec.name}.csv" if folder is not None else None
                written.append({"table": spec.name, "path": f"{spec.name}.csv", "rows": 0, "sha256": None,
                                "columns": [column for column, _, _ in columns]})
                _write(target, header, lines, written[-1])
        except BaseException as exc:
            if folder is not None or not written:
                raise  # nothing went out (the temp folder goes)
            stopped = exc  # rows on standard output have left (a reader gone, Ctrl-C): audited all the same
    export_id = uuid.uuid4().hex
    record = {"tables": [w["table"] for w in written], "rows": {w["table"]: w["rows"] for w in written},
              "deidentified": deidentify, "wide": wide, "filters": filters, **({"stopped": True} if stopped else {})}
    with store.transaction():
        store.append_audit("export", "export", export_id, record, actor=prog.actor)
    if stopped is not None:
        raise stopped
    head = store.audit_head()
    manifest = {
        "export_id": export_id, "exported_at": utc_stamp(),
        "vpslog_version": __version__, "audit_head": {"seq": head[0], "hash": head[1]}, **record,
        "files": [{k: w[k] for k in ("table", "path", "rows", "sha256")} for w in written],
        "transformations": _transformations(deidentify, settings),
    }
    if deidentify:  # the real time of export against the latest shifted entry would narrow each shift
        del manifest["exported_at"]
        manifest["filters"] = {**filters, "site": filters["site"] and site_pseudonym(store.secret(), filters["site"])}
    if folder is not None:
        package = datapackage(written, prog.catalog, filtered=any(filters.values()))
        _write_private(folder / "datapackage.json", json.dumps(package, indent=2) + "\n")
        _write_private(folder / "codebook.md", codebook(written, prog.catalog, deidentify, settings))
        _write_private(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def _transformations(deidentify: bool, settings: ReportSettings) -> list[str]:
    steps = ["text cells starting with = + - @ tab CR or LF are prefixed with ' (spreadsheet formula neutralization)"]
    if deidentify:
        steps += [
            "participant ids replaced by keyed pseudonyms R-nnnnnnnnnnnn (HMAC-SHA-256 with the project secret)",
            "specialist ids and the actors who entered records replaced by keyed pseudonyms SP-xxxxxxxxxx, "
            "site ids by ST-xxxxxxxxxx, record ids by 32 hex digits (stable across exports of the same store)",
            "every date and time of a participant shifted back by the same per-participant offset of 0-364 days; "
            "--since/--until select on the shifted dates; rows sorted by their pseudonymous id",
            "allocation numbers replaced by the order of allocation within the site on the shifted timeline",
            "every free-text field (names, notes, details, reasons, locations, supervisors, rules versions) "
            "withheld: `withheld` where the store has a value",
            "birth years dropped; the manifest holds no time of export",
            f"ages over {settings.top_code_above} reported as {settings.top_code_above + 1}",
        ]
    return steps


def _refuse_unless_replaceable(out: Path) -> None:
    """Refuse an --out that the export would not replace whole: a link, a file, or a folder that
    is neither empty nor an earlier vpslog export (so nothing of anyone else's is ever removed)."""
    if refusal := link_refusal(out) or name_refusal(out):
        raise InputError(f"--out {refusal}; use another --out")
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder; use another --out")
    here = Path.cwd().resolve()
    if out.resolve() in (here, *here.parents):  # `--out .`, `--out ""`: replaced, it would leave you nowhere
        raise InputError(f"--out {out} is the folder you are in (or holds it), which an export would replace "
                         "whole; use another --out")
    if why := _not_an_export(out):
        raise InputError(f"--out {out} is not empty and not an earlier vpslog export ({why}); "
                         "an export replaces only those: use another --out")


def _not_an_export(folder: Path) -> str | None:
    """None when `folder` is empty or holds only plain files an export writes, with a manifest.json
    that has an export_id; else the first reason it is not."""
    entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    if not entries:
        return None
    for entry in entries:
        if entry.is_symlink():
            return f"{entry.name} is a symbolic link"
        if not entry.is_file() or not (entry.name.endswith(".csv") or entry.name in EXPORT_FILES):
            return f"{entry.name} is not a file an export writes"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or not manifest.get("export_id"):
        return "no manifest.json with an export_id"
    return None


def _tidy(out: Path, notify: Callable[[str], None]) -> None:
    """Before an export to `out` begins, what a killed export to `out` left beside it (`leftovers`):
    its temp folder (files in clear) is removed; the earlier export it had renamed aside is put back
    as `out` when `out` is gone (a crash between `_move_into_place`'s two renames), so that it stays
    until this export replaces it. Each said through `notify`; links are left alone."""
    for entry, suffix in leftovers(out):
        if entry.is_symlink() or not entry.is_dir():
            continue
        if suffix == ".old" and not os.path.lexists(out):
            os.rename(entry, out)
            notify(f"put back {out}, the earlier export an interrupted vpslog export had set aside as {entry}")
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not os.path.lexists(entry):
            notify(f"removed {entry}, left by an interrupted vpslog export (its files were in clear)")


def _temp_folder(out: Path) -> Path:
    """A new private (0700) folder beside `out`, its parents created 0700 when missing; named with this
    process's id, so that the next export to `out` removes it if this one is killed."""
    return create_private_temp_folder(out)


def _move_into_place(folder: Path, out: Path) -> None:
    """Rename the finished `folder` to `out`. An earlier export there is renamed aside, then
    removed: two renames, so a crash between them leaves no `out` and both folders beside it."""
    _refuse_unless_replaceable(out)  # again: it may have changed while the export was written
    if not out.exists():
        os.rename(folder, out)
        return
    aside = folder.with_name(folder.name + ".old")
    os.rename(out, aside)
    try:
        os.rename(folder, out)
    except OSError:
        os.rename(aside, out)
        raise
    shutil.rmtree(aside)


def _open_private(path: Path):
    """A text stream on a new 0600 file (never an existing one, never through a link)."""
    return os.fdopen(open_new_private(path), "w", encoding="utf-8", newline="")


def _write_private(path: Path, text: str) -> None:
    with _open_private(path) as file:
        file.write(text)


def _write(target: Path | None, header: str, batches, written: dict) -> None:
    """Stream header and lines to a new 0600 file (or stdout), counting in `written` the rows handed
    to it so far and, once all are, the file's sha256. An export to stdout that stops (a reader gone,
    Ctrl-C) audits that count: at most what left, never less (a batch is counted before it is
    written, as a write that fails may have sent part of it), so that the trail errs on disclosure."""
    digest = hashlib.sha256()
    if target is None:
        sys.stdout.flush()
    stream = sys.stdout.buffer if target is None else os.fdopen(open_new_private(target), "wb")

    def out(data: bytes) -> None:
        stream.write(data)
        digest.update(data)

    counted = _counted(chain([(header, 0)], batches), written)  # lazily: one batch in memory at a time
    try:
        if target is None:
            for data in counted:
                out(data)
            stream.flush()  # a reader gone shows here, before the entry says the export was whole
        else:
            _write_behind(out, counted)
    finally:
        if target is not None:
            stream.close()
    written["sha256"] = digest.hexdigest()


def _counted(batches, written: dict):
    """Each batch as the bytes written, its rows counted in `written` before they go."""
    for lines, count in batches:
        data = (lines + "\n").encode("utf-8")
        written["rows"] += count
        yield data


def _write_behind(out: Callable[[bytes], None], batches) -> None:
    """Each batch handed to `out` in a second thread while SQLite builds the next (writing and hashing
    let go of Python's lock); one batch waits at most. Standard output is written in this thread: a
    write there may wait for its reader as long as it likes."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="vpslog-export-write") as writer:
        pending = None
        for data in batches:
            if pending is not None:
                pending.result()  # the batch before is out (or its error is raised here)
            pending = writer.submit(out, data)
        if pending is not None:
            pending.result()


def _field(column: Column, catalog: Catalog) -> dict:
    field = {"name": column.name, "type": column.type, "description": column.description}
    constraints: dict = {}
    if column.required:
        constraints["required"] = True
    codes = catalog.codes(column.codes) if column.codes else column.enum
    if codes and column.is_list:
        choice = "|".join(codes)
        constraints["pattern"] = f"({choice})(;({choice}))*"
    elif codes:
        constraints["enum"] = list(codes)
    for key in ("minimum", "maximum"):
        if getattr(column, key) is not None:
            constraints[key] = getattr(column, key)
    if column.pattern and not codes:
        constraints["pattern"] = column.pattern.removeprefix("^").removesuffix("$")
    if constraints:
        field["constraints"] = constraints
    if column.type == "boolean":
        field |= {"trueValues": ["1"], "falseValues": ["0"]}
    return field


def datapackage(written: list[dict], catalog: Catalog, *, filtered: bool = False) -> dict:
    """A Frictionless Tabular Data Package: one resource (with its Table Schema) per CSV. A filtered
    export declares no foreign keys: each table is filtered on its own terms (its own date, its own
    participant or site), so a session may name a participant enrolled before `--since`, or a
    review's observation a session of the other arm, left out."""
    from vpslog.tables import TABLES

    included = set() if filtered else {w["table"] for w in written}
    resources = []
    for w in written:
        names = {c.name for c in w["columns"]}
        keys = [{"fields": column, "reference": {"resource": table, "fields": "id"}}
                for column, table in TABLES[w["table"]].references.items() if table in included and column in names]
        schema = {"fields": [_field(c, catalog) for c in w["columns"]], "primaryKey": ["id"], "missingValues": [""]}
        if keys:
            schema["foreignKeys"] = keys
        resources.append({"name": w["table"], "path": w["path"], "profile": "tabular-data-resource",
                          "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                          "hash": f"sha256:{w['sha256']}", "schema": schema})
    package = {"name": "vpslog-export", "profile": "tabular-data-package", "resources": resources}
    if filtered:
        package["description"] = ("A filtered export (--since, --until, --site, --arm): each table is filtered on "
                                  "its own terms, so a row may name one the filters left out; no foreign keys are "
                                  "declared.")
    return package


def codebook(written: list[dict], catalog: Catalog, deidentify: bool, settings: ReportSettings) -> str:
    """The human codebook, generated from the models and the curriculum."""
    lines = [
        "# vpslog export codebook", "",
        f"Generated by vpslog {__version__}. {'De-identified export. ' if deidentify else ''}"
        "Files are UTF-8 CSV with a header row; an empty cell is a missing value.", "",
        "- Dates are ISO 8601 (`YYYY-MM-DD`), date-times UTC (`YYYY-MM-DDThh:mm:ssZ`), times `hh:mm:ss`.",
        "- Lists of codes are joined with `;` (`career-exploration;hope`).",
        "- Booleans are `1` (yes) and `0` (no).",
        "- A text cell that starts with " + ", ".join(repr(t) for t in FORMULA_TRIGGERS) +
        " (or with `'` itself) is prefixed with `'` so that a spreadsheet shows it instead of running it as a "
        "formula; numeric columns are typed and left alone. `vpslog import` removes the prefix again.",
        f"- `units` (sessions): billable units, a unit for each full {settings.minutes_per_unit} minutes plus one "
        f"more when the remainder is at least {settings.round_up_from} minutes, for session types "
        f"{', '.join(settings.unit_types)}; 0 otherwise.",
    ]
    if deidentify:
        lines += ["", "## De-identification", ""] + [f"- {step}" for step in _transformations(True, settings)[1:]]
    for w in written:
        lines += ["", f"## {w['table']} ({w['path']}, {w['rows']} rows)", "",
                  "| column | type | required | allowed values | description |", "|---|---|---|---|---|"]
        for column in w["columns"]:
            codes = catalog.codes(column.codes) if column.codes else column.enum or ()
            allowed = ("; ".join(f"`{c}`" for c in codes) + (" (`;`-joined list)" if column.is_list else "")) if codes else (
                f"{column.minimum if column.minimum is not None else ''}–{column.maximum if column.maximum is not None else ''}"
                if column.minimum is not None or column.maximum is not None else "")
            lines.append(f"| `{column.name}` | {column.type} | {'yes' if column.required else ''} | {allowed} | "
                         f"{column.description.replace('|', '/')} |")
    lines += ["", "## Curriculum components", "", "| code | group | vocational | description |", "|---|---|---|---|"]
    for component in catalog.curriculum["component"]:
        lines.append(f"| `{component['code']}` | {component['group']} | {'yes' if component['vocational'] else 'no'} | "
                     f"{component['description']} |")
    return "\n".join(lines) + "\n"
