"""`vpslog import`: CSV rows in, validated by the same models and rules as the
CLI, all or nothing.

Rows stream through in batches into connection-private staging tables, with no
write lock held: every bad row is reported as FILE:LINE: column: problem, and if
there is any, nothing is written. A row whose id exists with identical content
is skipped, so an import can be re-run. Each row inserted gets its own audit
entry (so the replay can vouch for it), and the import one more (file name, its
sha256, rows inserted and skipped).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from vpslog.deid import restore
from vpslog.errors import InputError
from vpslog.models import describe
from vpslog.parsing import plural
from vpslog.store import to_row
from vpslog.store.staging import StagedRowRefused
from vpslog.tables import TableSpec

BATCH = 5_000
SHOWN = 50
RETRIES = 3
"""Validations of the whole file without the lock before the last one is made under it."""


class ImportRefused(InputError):
    """Some rows are bad; the message lists them (up to SHOWN) and nothing was written."""


@dataclass(frozen=True)
class ImportResult:
    table: str
    inserted: int
    skipped: int
    sha256: str


class _Hashed(io.RawIOBase):
    """A binary file that hashes what is read from it, so the rows imported are known to be the
    bytes whose sha256 the audit trail records."""

    def __init__(self, file) -> None:
        self.file, self.digest = file, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.file.readinto(buffer)
        self.digest.update(memoryview(buffer)[:count])
        return count


def _rows(path: Path, spec: TableSpec, sha256: str) -> Iterator[tuple[int, list[str] | str]]:
    """(1, the header), then (line, cells) per record, or (line, problem) for a record with the
    wrong number of cells; after checking the file is text CSV with the right header. The file
    must still be the one hashed (`sha256`) when its end is read: one changed meanwhile (a sync
    tool, a spreadsheet saving) is refused, as its rows are not what the trail would name."""
    try:
        raw = open(path, "rb", buffering=0)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    hashed = _Hashed(raw)
    with raw, io.TextIOWrapper(io.BufferedReader(hashed, 1 << 16), encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: the file is empty; expected a header row")
            _check_header(path, header, spec)
            yield 1, header
            start = reader.line_num + 1
            for cells in reader:
                if not cells:  # a blank line (an editor's or a spreadsheet's last one): no record
                    start = reader.line_num + 1
                    continue
                if "\x00" in "".join(cells):
                    raise InputError(f"{path}:{start}: contains a NUL byte; not a text CSV file")
                yield start, cells if len(cells) == len(header) else f"{len(cells)} cells, the header has {len(header)}"
                start = reader.line_num + 1
            if hashed.digest.hexdigest() != sha256:
                raise InputError(f"{path}: the file changed while it was being imported; nothing was imported: "
                                 "import it again once it is saved")
        except csv.Error as exc:
            problem = str(exc)
            if "unexpected end of data" in problem or "EOF" in problem:
                problem = "a quoted cell is never closed"
            raise InputError(f"{path}:{reader.line_num}: {problem}; not a well-formed CSV file") from None
        except UnicodeDecodeError:
            line, byte = _first_undecodable(path)  # the reader decodes ahead of the record it is at
            raise InputError(f"{path}:{line}: not UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8 CSV") from None


def _first_undecodable(path: Path) -> tuple[int, int]:
    """The line and the byte of the first bytes of `path` that are not UTF-8 (a line at a time: no
    UTF-8 character spans a line break)."""
    with open(path, "rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, raw[exc.start]
    return 0, 0


class _Parser:
    """A CSV record of one file as a validated record and its store row.

    Each record goes first through the validator compiled from the model (vpslog.bulk), as a
    tuple; one it refuses (or a model it cannot serve) goes through the model itself, which
    gives the message. Either way an empty cell stands for the field's default, and text loses
    its formula guard."""

    def __init__(self, spec: TableSpec, header: list[str], catalog):
        from vpslog.bulk import compile_rows
        from vpslog.models import RECORDS

        self.model, self.context = RECORDS[spec.table], {"catalog": catalog}
        columns = {c.name: c for c in spec.columns}
        self.moments = [index for index, name in enumerate(header) if name in spec.moments]
        self.kept = [(index, name, columns[name].type in ("string", "object")) for index, name in enumerate(header)
                     if name in columns and not columns[name].derived]
        self.compiled = compile_rows(self.model, catalog)
        if self.compiled is not None:
            position = {name: index for index, name, _ in self.kept}
            text = {name for _, name, is_text in self.kept if is_text}
            self.take = [(position.get(name, -1), default, name in text)
                         for name, default in zip(self.compiled.fields, self.compiled.defaults)]

    def parse(self, cells: list[str]):
        """(record, row) of a record's cells; the model's ValidationError when it is not valid."""
        for index in self.moments:
            if (cell := cells[index]) and (not cell.endswith("Z") or "." in cell):  # else as vpslog writes them
                cells[index] = _in_utc(cell)
        compiled = self.compiled
        if compiled is not None:
            cells.append("")  # what a column missing from the file reads as
            values = tuple([(restore(cell) if text and cell[0] == "'" else cell) if (cell := cells[index]) else default
                            for index, default, text in self.take])
            try:
                values = compiled.validator.validate_python(values, context=self.context)
            except ValidationError:
                pass
            else:
                return compiled.record._make(values), dict(zip(compiled.fields,
                                                               compiled.serializer.to_python(values, mode="json")))
        raw = {name: restore(cell) if text and cell[0] == "'" else cell for index, name, text in self.kept
               if (cell := cells[index])}
        record = self.model.model_validate(raw, context=self.context)
        return record, to_row(record)


def _in_utc(cell: str) -> str:
    """A date-time cell as vpslog writes one, in UTC to the second (`…:05Z`): without its zone (a
    spreadsheet drops the Z) it is read as UTC, one in another zone is moved to UTC, and a fraction of
    a second is dropped (it was kept, and written back as `.500000Z`); anything else is left to the model."""
    try:
        moment = datetime.fromisoformat(cell)
    except ValueError:
        return cell
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _check_header(path: Path, header: list[str], spec: TableSpec) -> None:
    from vpslog.parsing import did_you_mean

    known = [c.name for c in spec.columns]
    for name in header:
        if name not in known and not (spec.name == "sessions" and name.startswith("c_")):
            raise InputError(f"{path}:1: unknown column {name!r} for {spec.name}{did_you_mean(name, known)}")
    if len(set(header)) != len(header):
        raise InputError(f"{path}:1: a column appears twice in the header")
    missing = [c.name for c in spec.columns if c.required and c.name not in header]
    if missing:
        raise InputError(f"{path}:1: missing column {', '.join(missing)} for {spec.name}")


def import_csv(prog, spec: TableSpec, path: Path) -> ImportResult:
    """Validate every row of `path` as `spec`'s model and insert the new ones, all or nothing.

    The file is validated and staged without the write lock, so others keep logging
    meanwhile; then one write transaction inserts what was staged and chains an audit entry per row after the head of that moment. If someone
    changed a participant, a specialist or a site in between, or added a row with a
    staged id, the file is validated again first.
    """
    store = prog.store
    prog.check_actor()  # each row's entry names who imported it
    store.check_key()  # a wrong secret or a cut trail: refuse before reading the file
    digest = _sha256(path)
    store.prepare_bulk()
    try:
        head = store.audit_head()
        for attempt in range(RETRIES):
            counts = _stage(prog, spec, path, digest)
            with store.transaction():
                now = store.audit_head()
                if now != head and store.changed_since(head[0] if head else 0, spec.table):
                    head = now
                    if attempt < RETRIES - 1:
                        continue  # validate again, without the lock, against what changed
                    counts = _stage(prog, spec, path, digest)  # it keeps changing: the last try holds the lock
                return _commit(prog, spec, path, digest, *counts)
    finally:
        store.drop_staged()


def _commit(prog, spec: TableSpec, path: Path, digest: str, inserted: int, skipped: int,
            lines: array) -> ImportResult:
    """Inside the write transaction: the staged rows and their entries, then the import's own entry."""
    try:
        prog.store.commit_staged(spec.table)
    except StagedRowRefused as exc:
        raise InputError(f"{path}:{lines[exc.position - 1]}: {exc}" if exc.position else str(exc)) from None
    prog.store.append_audit("import", spec.table, digest, {"file": path.name, "sha256": digest, "inserted": inserted,
                                                          "skipped": skipped}, actor=prog.actor)
    return ImportResult(spec.name, inserted, skipped, digest)


def _stage(prog, spec: TableSpec, path: Path, digest: str) -> tuple[int, int, array]:
    """Validate every row against the store as it is now and stage the new ones; refuse
    (nothing staged) listing every bad row. (staged, skipped, the file line of each staged row)."""
    store = prog.store
    problems: list[tuple[int, str]] = []
    fresh = store.count(spec.table) == 0  # then only the file itself can repeat an id
    known = {"site": {site_id.upper(): site_id for site_id in store.ids("site")},
             "specialist": {row["id"].upper(): row for row in store.rows("specialist")}}
    people = {row["id"]: row for row in store.rows("participant")} if spec.table != "participant" else {}
    with store.staging(spec.table, actor=prog.actor, reason=f"import {path.name} ({digest[:12]})"):
        staged = skipped = 0
        batch: list[tuple[int, dict]] = []
        lines = array("L")  # the file line of each staged row, by its position in the staging table
        rows = _rows(path, spec, digest)
        parser = _Parser(spec, next(rows)[1], prog.catalog)
        for line, cells in rows:
            try:
                if isinstance(cells, str):
                    raise InputError(cells)
                record, row = parser.parse(cells)
                _check_references(prog, spec, record, row, known, people)
            except ValidationError as exc:
                problems.append((line, describe(exc)))
                continue
            except InputError as exc:
                problems.append((line, str(exc)))
                continue
            batch.append((line, row))
            if len(batch) >= BATCH:
                added, same = _stage_batch(store, spec, batch, problems, fresh, lines)
                staged, skipped, batch = staged + added, skipped + same, []
        if batch:
            added, same = _stage_batch(store, spec, batch, problems, fresh, lines)
            staged, skipped = staged + added, skipped + same
        for position, record_id in store.index_staged():
            problems.append((lines[position - 1], f"id {record_id} appears twice in the file"))
    problems.sort()
    if problems:
        shown = [f"{path}:{line}: {text}" for line, text in problems[:SHOWN]]
        shown += [f"... and {len(problems) - SHOWN} more"] if len(problems) > SHOWN else []
        raise ImportRefused(f"{len(problems)} bad {plural(len(problems), 'row')} in {path}; nothing was imported:\n" + "\n".join(shown))
    return staged, skipped, lines


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        mode = os.stat(path).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a folder is refused as one when opened
            raise InputError(f"{path}: not a regular file (a pipe or a device: it is read more than once, and "
                             "a pipe would be empty or wait forever); save the CSV to a file and import that")
        with open(path, "rb") as file:
            while block := file.read(1 << 20):  # in blocks: memory must not grow with the file
                digest.update(block)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    return digest.hexdigest()


def _check_references(prog, spec: TableSpec, record, row: dict, known: dict, people: dict) -> None:
    """Ids named by the row exist, and the row meets the rules the CLI applies (core.Program's
    check_record, given the rows looked up here in bulk; `vpslog merge` applies the same).

    Site and specialist ids follow the CLI's case rule: a new one is upper-cased, and one that
    names an existing id in another case (an older store's `north`) is that id, so re-importing
    an export is still a no-op."""
    table = spec.table
    if table in ("site", "specialist"):
        taken = known[table].get(row["id"].upper())
        row["id"] = row["id"].upper() if taken is None else taken if table == "site" else taken["id"]
    if row.get("site_id") is not None and table != "site":  # a whole-program review has none
        if (site_id := known["site"].get(row["site_id"].upper())) is None:
            raise InputError(f"site_id: unknown site {row['site_id']!r}")
        row["site_id"] = site_id
    specialist = None
    if "specialist_id" in row and table != "specialist":
        if (specialist := known["specialist"].get(row["specialist_id"].upper())) is None:
            raise InputError(f"specialist_id: unknown specialist {row['specialist_id']!r}")
        row["specialist_id"] = specialist["id"]
    if row.get("owner") is not None:  # an action item's owner is a specialist, matched as specialist_id is
        if (owner := known["specialist"].get(row["owner"].upper())) is None:
            raise InputError(f"owner: unknown specialist {row['owner']!r}")
        row["owner"] = owner["id"]
    person = None
    if "participant_id" in row and (person := people.get(row["participant_id"])) is None:
        raise InputError(f"participant_id: unknown participant {row['participant_id']!r}")
    prog.check_record(table, record, person=person, specialist=specialist, opened=known.setdefault("open review", {}))
    if table == "site":
        known["site"].setdefault(row["id"].upper(), row["id"])
    elif table == "specialist":
        known["specialist"].setdefault(row["id"].upper(), row)


def _as_imported(spec: TableSpec, row: dict) -> dict:
    """A stored row as an import of it would now write it: a time with a fraction of a second (an
    earlier import kept one) to the second, so re-importing a store's own export stays a no-op."""
    return {name: _in_utc(value) if isinstance(value, str) and "." in value and name in spec.moments else value
            for name, value in row.items()}


def _stage_batch(store, spec: TableSpec, batch: list[tuple[int, dict]], problems: list[tuple[int, str]],
                 fresh: bool, lines: array) -> tuple[int, int]:
    """Stage the new rows of a batch (their lines appended to `lines`); skip identical existing
    ones; report conflicts."""
    existing = {} if fresh else store.rows_by_id(spec.table, [row["id"] for _, row in batch])
    new, skipped = [], 0
    for line, row in batch:
        before = existing.get(row["id"])
        if before is None:
            new.append(row)
            lines.append(line)
        elif before == row or _as_imported(spec, before) == row:
            skipped += 1
        else:
            changed = next(k for k in row if before.get(k) != row[k])
            problems.append((line, f"id {row['id']} already exists with different content ({changed})"))
    store.stage_rows(new)
    return len(new), skipped
