"""The research side of the store: fidelity streams, report aggregates, bulk
import and export. A mixin of Store, so that all SQL stays in the store package."""

from __future__ import annotations

import secrets
from operator import itemgetter

from vpslog.errors import StoreError
from vpslog.store.sql import day as _day
from vpslog.store.sql import export_cell as _export_cell
from vpslog.store.sql import ranks as _ranks
from vpslog.store.sql import plain_cells as _plain_cells
from vpslog.store.sql import shifted_day as _shifted_day
from vpslog.store.sql import where as _where


COUNTED = "p.enrolled_on <= ?"
"""Who counts as of a date, in fidelity and in every report: enrolled on or before it (a missing
or late consent does not hide anyone: the eligible-consented rule flags it)."""


BATCH_TEXT = 8 << 20
"""About how many characters of lines an export batch holds (several copies of it are in memory at once)."""
_LOWEST, _HIGHEST = -(1 << 63), (1 << 63) - 1
"""The smallest and largest rowid SQLite allows."""


def _line(plan: list[tuple[str, object]], sentinel: str = "") -> str:
    """The SQL for one CSV line of an export plan (see export_lines)."""
    cells = [_export_cell(kind, argument, sentinel) for kind, argument in plan]
    return "printf('" + ",".join("%s" for _ in cells) + "', " + ", ".join(cells) + ")"


class ResearchQueries:
    """Queries over many rows at once; `self` is an open Store."""

    # -- fidelity: streams and aggregates as of a date ------------------------

    @staticmethod
    def _scope(as_of: str, site: str | None, participant: str | None, specialist: str | None) -> dict:
        """Conditions (over participant p) for the participants a fidelity check covers."""
        return {
            COUNTED: as_of,
            "p.site_id = ?": site,
            "p.id = ?": participant,
            "p.id IN (SELECT participant_id FROM session WHERE specialist_id = ? AND voided = 0)": specialist,
        }

    def fidelity_participants(self, as_of: str, site=None, participant=None, specialist=None) -> list[tuple]:
        """(id, site, arm, enrolled, consent, exited, first eligible screening) as days, by id."""
        sql, params = _where(self._scope(as_of, site, participant, specialist))
        return self.conn.execute(
            f"""SELECT p.id, p.site_id, p.arm, {_day('p.enrolled_on')}, {_day('p.consent_on')},
                       CASE WHEN p.exited_on <= ? THEN {_day('p.exited_on')} END,
                       (SELECT min({_day('date')}) FROM screening
                        WHERE participant_id = p.id AND eligible = 1 AND date <= ?)
                FROM participant p{sql} ORDER BY p.id""", [as_of, as_of, *params]).fetchall()

    def fidelity_sessions(self, as_of: str, site=None, participant=None, specialist=None):
        """Every non-voided session dated on or before `as_of`, ordered by participant and date, a day's
        sessions in the order they were entered (entered_at, then id: from the records alone, so a store
        and its merged or imported copies agree; runs and "first sessions" rules read this order):
        (participant, id, date, type, components, specialist, clinical, entered date).
        A cursor, so memory stays flat; the participant table is joined only to filter by site."""
        sql, params = _where({
            "s.voided = 0": True, "s.date <= ?": as_of, "p.site_id = ?": site, "s.participant_id = ?": participant,
            "s.participant_id IN (SELECT participant_id FROM session WHERE specialist_id = ? AND voided = 0)": specialist,
        })
        join = " JOIN participant p ON p.id = s.participant_id" if site else ""
        return self.conn.execute(
            f"""SELECT s.participant_id, s.id, s.date, s.type, s.components, s.specialist_id, s.clinical,
                       substr(s.entered_at, 1, 10)
                FROM session s{join}{sql} ORDER BY s.participant_id, s.date, s.entered_at, s.id""", params)

    def fidelity_specialist_days(self, as_of: str, delivered: tuple[str, ...], site=None, specialist=None):
        """(id, site, training day, a day with a session delivered) by id and day, one row per such day
        up to `as_of` (one row with day NULL for a specialist who delivered none): what the specialist
        rules read as of any date up to `as_of`, in one query (a cursor). The training day is not cut at `as_of`."""
        sql, params = _where({"sp.site_id = ?": site, "sp.id = ?": specialist})
        marks = ", ".join("?" * len(delivered)) or "NULL"
        return self.conn.execute(
            f"""SELECT sp.id, sp.site_id, {_day('sp.trained_on')}, {_day('s.date')}
                FROM specialist sp LEFT JOIN session s ON s.specialist_id = sp.id AND s.voided = 0 AND s.date <= ?
                                                         AND s.type IN ({marks})
                {sql} GROUP BY sp.id, s.date ORDER BY sp.id, s.date""", [as_of, *delivered, *params])

    def individual_supervision_days(self, as_of: str) -> list[tuple[str, int]]:
        return self.conn.execute(
            f"""SELECT specialist_id, {_day('date')} FROM supervision
                WHERE "group" = 0 AND voided = 0 AND date <= ? ORDER BY specialist_id, date""", [as_of]).fetchall()

    def caseload_history(self, days: list[str], window_days: int, specialists: list[str] | None = None) -> list[tuple]:
        """(specialist, day, caseload) for each of `days` and each specialist (or each of `specialists`):
        the active participants (as of that day) seen in the last `window_days` days."""
        ends = " UNION ALL ".join("SELECT ? AS day" for _ in days)
        only = f" AND s.specialist_id IN ({', '.join('?' * len(specialists))})" if specialists else ""
        return self.conn.execute(
            f"""SELECT s.specialist_id, e.day, count(DISTINCT s.participant_id)
                FROM ({ends}) e JOIN session s ON s.date <= e.day AND s.date > date(e.day, ?)
                JOIN participant p ON p.id = s.participant_id
                WHERE s.voided = 0 AND p.enrolled_on <= e.day AND (p.exited_on IS NULL OR p.exited_on > e.day){only}
                GROUP BY s.specialist_id, e.day ORDER BY s.specialist_id, e.day""",
            [*days, f"-{window_days} days", *(specialists or [])]).fetchall()

    def caseload_of(self, specialist_id: str, as_of: str) -> set[str]:
        """Active participants (as of the date) whose latest session was with this specialist."""
        rows = self.conn.execute(
            """SELECT s.participant_id FROM session s JOIN participant p ON p.id = s.participant_id
               WHERE s.voided = 0 AND s.date <= ? AND p.enrolled_on <= ? AND (p.exited_on IS NULL OR p.exited_on > ?)
               GROUP BY s.participant_id HAVING max(s.date) = max(CASE WHEN s.specialist_id = ? THEN s.date END)""",
            [as_of, as_of, as_of, specialist_id]).fetchall()
        return {row[0] for row in rows}

    # -- the HTML report: the records behind its charts ------------------------

    def contact_history(self, participants: list[str], as_of: str) -> list[tuple[str, str, str]]:
        """(participant, date, type) of the non-voided sessions up to `as_of`, by participant and date."""
        marks = ", ".join("?" * len(participants))
        return self.conn.execute(
            f"""SELECT participant_id, date, type FROM session
                WHERE voided = 0 AND date <= ? AND participant_id IN ({marks})
                ORDER BY participant_id, date, entered_at, id""", [as_of, *participants]).fetchall()

    def supervision_history(self, specialists: list[str], as_of: str) -> list[tuple[str, str, int]]:
        """(specialist, date, group) of the non-voided supervisions up to `as_of`, by specialist and date."""
        marks = ", ".join("?" * len(specialists))
        return self.conn.execute(
            f"""SELECT specialist_id, date, "group" FROM supervision
                WHERE voided = 0 AND date <= ? AND specialist_id IN ({marks})
                ORDER BY specialist_id, date""", [as_of, *specialists]).fetchall()

    def components_delivered(self, specialists: list[str], since: str, as_of: str,
                             delivered: tuple[str, ...]) -> list[tuple[str, str, int]]:
        """(specialist, `;`-joined components, sessions) of the sessions delivered from `since` to `as_of`."""
        marks = ", ".join("?" * len(specialists))
        types = ", ".join("?" * len(delivered)) or "NULL"
        return self.conn.execute(
            f"""SELECT specialist_id, components, count(*) FROM session
                WHERE voided = 0 AND date >= ? AND date <= ? AND specialist_id IN ({marks}) AND type IN ({types})
                GROUP BY specialist_id, components""", [since, as_of, *specialists, *delivered]).fetchall()

    # -- research reports ------------------------------------------------------

    def participant_totals(self, as_of: str, delivered: tuple[str, ...]) -> dict[str, dict]:
        """Per participant: individual sessions and minutes of the sessions delivered (of the
        `delivered` types; non-voided, up to as_of)."""
        marks = ", ".join("?" * len(delivered)) or "NULL"
        rows = self.conn.execute(
            f"""SELECT participant_id, coalesce(sum(type = 'individual'), 0),
                       coalesce(sum(CASE WHEN type IN ({marks}) THEN minutes ELSE 0 END), 0)
               FROM session WHERE voided = 0 AND date <= ? GROUP BY participant_id""",
            [*delivered, as_of]).fetchall()
        return {pid: {"individual_sessions": n, "minutes": m} for pid, n, m in rows}

    def counted_participants(self, as_of: str) -> list[dict]:
        """The participants counted as of a date, by the rule fidelity uses too (COUNTED), by id."""
        return [dict(row) for row in self.conn.execute(f"SELECT * FROM participant p WHERE {COUNTED} ORDER BY id",
                                                       [as_of])]

    def latest_screenings(self, as_of: str) -> list[dict]:
        """The latest screening (on or before as_of) of each participant screened."""
        return [dict(row) for row in self.conn.execute(
            """SELECT s.participant_id, s.eligible, s.reasons FROM screening s
               WHERE s.date <= ? AND s.rowid = (SELECT s2.rowid FROM screening s2 WHERE s2.participant_id = s.participant_id
                                               AND s2.date <= ? ORDER BY s2.date DESC, s2.rowid DESC LIMIT 1)""",
            [as_of, as_of])]

    def allocation_counts(self, as_of: str) -> list[tuple[str, str, int]]:
        return self.conn.execute(
            """SELECT site_id, arm, count(*) FROM allocation WHERE substr(allocated_at, 1, 10) <= ?
               GROUP BY site_id, arm ORDER BY site_id, arm""", [as_of]).fetchall()

    def units_by_month(self, as_of: str, minutes_per_unit: int, round_up_from: int, types) -> list[dict]:
        """Billable units per specialist and month, with the sessions and minutes they are of: the
        non-voided sessions of the billable types up to as_of (a no-show's minutes were counted beside
        units that left them out)."""
        units = _export_cell("units", (minutes_per_unit, round_up_from, types))
        marks = ", ".join("?" * len(types))
        return [dict(row) for row in self.conn.execute(
            f"""SELECT t.specialist_id AS specialist, substr(t.date, 1, 7) AS month, count(*) AS sessions,
                       sum(t.minutes) AS minutes, sum({units}) AS units
                FROM session t WHERE t.voided = 0 AND t.date <= ? AND t.type IN ({marks})
                GROUP BY t.specialist_id, month ORDER BY t.specialist_id, month""", [as_of, *types])]

    # -- bulk: import ----------------------------------------------------------

    def prepare_bulk(self) -> None:
        """A 48 MiB page cache for this connection: a large insert touches many index pages. (64 MiB
        took a 1M-session import to 143 MiB peak with the covering indexes, against the 150 MB aim,
        and was no faster: 72.9 s against 70.4 and 71.6 s.)"""
        self.conn.execute("PRAGMA cache_size = -49152")

    def rows_by_id(self, table: str, ids: list[str]) -> dict[str, dict]:
        found = {}
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found |= {row["id"]: dict(row) for row in self.conn.execute(
                f'SELECT * FROM "{table}" WHERE id IN ({marks})', chunk)}
        return found

    def insert_rows(self, table: str, rows: list[dict], schema: str = "main") -> list[tuple[int, str]]:
        """Insert rows (inside the caller's transaction); returns (index, problem) for
        each row the constraints refused, having inserted all the others."""
        if not rows:
            return []
        columns = list(rows[0])
        sql = f'INSERT INTO {schema}."{table}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) VALUES ({", ".join("?" * len(columns))})'
        values = itemgetter(*columns)  # a tuple per row, in C
        self.conn.execute("SAVEPOINT bulk")
        try:
            self.conn.executemany(sql, map(values, rows))
            self.conn.execute("RELEASE bulk")
            return []
        except self.dbapi.IntegrityError:
            self.conn.execute("ROLLBACK TO bulk")
            self.conn.execute("RELEASE bulk")
        refused = []
        for index, row in enumerate(rows):  # find the culprits one by one
            try:
                self.conn.execute(sql, values(row))
            except self.dbapi.IntegrityError as exc:
                refused.append((index, str(exc)))
        return refused

    # -- export ----------------------------------------------------------------

    def load_pseudonyms(self, participants, codes) -> None:
        """Temporary (connection-only) maps for a de-identified export, never written to the file:
        participants as (id, pseudonym, shift), and (kind, value, pseudonym) for staff, sites and
        records. Iterables, consumed as they load; two values of a kind with one pseudonym are refused.
        Called inside the export's read transaction, so the maps cover exactly the rows exported."""
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS deid_participant "
                          "(id TEXT PRIMARY KEY, pseudonym TEXT UNIQUE, shift INTEGER)")
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS deid_code (kind TEXT, value TEXT, pseudonym TEXT, "
                          "PRIMARY KEY (kind, value), UNIQUE (kind, pseudonym)) WITHOUT ROWID")
        self.conn.execute("DELETE FROM temp.deid_participant")
        self.conn.execute("DELETE FROM temp.deid_code")
        try:
            self.conn.executemany("INSERT INTO temp.deid_participant VALUES (?, ?, ?)", participants)
            self.conn.executemany("INSERT INTO temp.deid_code VALUES (?, ?, ?)", codes)
        except self.dbapi.IntegrityError:
            raise StoreError("two ids got the same pseudonym; this export cannot be de-identified safely") from None

    def staff_values(self) -> list[str]:
        """Every specialist id and every actor that entered a record (for pseudonyms)."""
        rows = self.conn.execute(
            """SELECT id FROM specialist UNION SELECT entered_by FROM session UNION SELECT entered_by FROM supervision
               UNION SELECT entered_by FROM milestone UNION SELECT entered_by FROM screening""").fetchall()
        return [row[0] for row in rows]

    def each_id(self, table: str):
        """The ids of a table, one at a time (a record table may hold millions)."""
        for (value,) in self.conn.execute(f'SELECT id FROM "{table}"'):
            yield value

    def export_lines(self, table: str, plan: list[tuple[str, object]], *, participant_column: str | None,
                     date_column: str | None, deidentified: bool = False, site=None, arm=None, since=None,
                     until=None, batch: int = 2_000, shifted_through: str | None = None):
        """CSV lines built by SQLite itself for speed, in batches: (the batch's lines joined by
        newlines, without the last one; how many lines).

        `plan` is (kind, argument) per output column: text (quoted when needed, and
        a leading formula trigger neutralized with `'`), plain (a code, id, date or number:
        written as stored unless the guard is needed after all), participant or
        pseudonym (kind, column) (keyed pseudonyms), withheld (free text), shift_date /
        shift_datetime (moved back by the shift of the row's participant, or of the participant of
        the `shifted_through` record it names), shifted_rank (site,
        date-time, id: the order within the site on the shifted timeline), age
        (top-coded), units (minutes_per_unit, round_up_from, types), flag (a component
        code). De-identified, a participant's rows are filtered on their shifted dates
        (the dates the recipient sees) and rows come in the order of the first
        (pseudonymous) column, not in the order they were entered. Streams: memory stays flat.
        """
        shifts = bool(participant_column or shifted_through) and deidentified
        joins = ""
        if participant_column and (site or arm):
            joins += f" JOIN participant p ON p.id = t.{participant_column}"
        if shifts:
            whose = (f"t.{participant_column}" if participant_column else
                     f'(SELECT participant_id FROM "{shifted_through}" WHERE id = t.{shifted_through}_id)')
            joins += f" LEFT JOIN temp.deid_participant dp ON dp.id = {whose}"
        day = _shifted_day(f"t.{date_column}") if shifts and date_column else f"substr(t.{date_column}, 1, 10)"
        of_review = "t.review_id IN (SELECT id FROM review WHERE site_id = ?)"  # a review's parts: by its site
        by_site = {"specialist": "t.site_id = ?", "site": "t.id = ?", "review": "t.site_id = ?",
                   "supervision": "t.specialist_id IN (SELECT id FROM specialist WHERE site_id = ?)",
                   "review_item": of_review, "review_observation": of_review, "review_finding": of_review}
        conditions = {
            "p.site_id = ?" if participant_column else by_site.get(table): site,
            "p.arm = ?": arm if participant_column else None,
            f"{day} >= ?": since if date_column else None,
            f"{day} <= ?": until if date_column else None,
        }
        conditions = {k: v for k, v in conditions.items() if k}
        sql, params = _where(conditions)
        guarded = _line([("any" if kind == "plain" else kind, argument) for kind, argument in plan])
        if deidentified:  # in the order of the first (pseudonymous) column; every cell guarded
            ranked = _ranks(plan, participant_column)
            source = (f'(SELECT u.*, {", ".join(ranked)} FROM "{table}" u LEFT JOIN temp.deid_participant du '
                      f'ON du.id = u."{participant_column}")' if ranked else f'"{table}"')
            cursor = self.conn.cursor()
            cursor.row_factory = None  # plain tuples: a Row per line costs a tenth of the export
            cursor.execute(f'SELECT {guarded} FROM {source} t{joins}{sql} ORDER BY {_export_cell(*plan[0])}', params)
            while rows := cursor.fetchmany(batch):
                yield "\n".join([row[0] for row in rows]), len(rows)
            return
        # In storage order, a batch at a time, its lines joined by SQLite (a Python string per line
        # would cost a sixth of the export); CROSS JOIN keeps the table the outer loop. The plain
        # cells (codes, ids, dates, numbers) are written as stored, and each batch is checked by
        # another thread while SQLite builds the next: a batch with a cell that needs the guard
        # after all (a store edited outside vpslog) is built again with every cell guarded.
        if batch < 1:
            raise ValueError("a batch holds at least one line")
        source = f'"{table}" t{joins.replace(" JOIN ", " CROSS JOIN ")}'
        filters, _ = _where(conditions, prefix=" AND ")

        def between(line: str, low: int, high: int, limit: str = ""):
            """(lines joined, how many, first rowid, last rowid) of the rows from `low` to `high`."""
            inner = (f"SELECT t.rowid AS r, {line} AS line FROM {source} WHERE t.rowid BETWEEN ? AND ?{filters} "
                     f"ORDER BY t.rowid{limit}")
            try:
                return [self.conn.execute(f"SELECT group_concat(line, char(10)), count(*), min(r), max(r) FROM ({inner})",
                                          (low, high, *params)).fetchone()]
            except self.dbapi.DataError:  # more than SQLite's longest string: these rows line by line
                return ((text, 1, rowid, rowid) for rowid, text in self.conn.execute(inner, (low, high, *params)))

        sentinel = "\x02" + secrets.token_hex(8) + "\x03"
        fast = _line(plan, sentinel)

        def checked(lines: int, first: int, last: int, plain):
            """The batch as checked, or its rows again with every cell guarded."""
            text = plain.result()
            if text is not None:
                return [(text, lines)]
            return [(again, count) for again, count, _, _ in between(guarded, first, last) if count]

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="vpslog-export-check") as checker:
            waiting, start, limit = None, _LOWEST, batch
            while True:
                count = last = size = 0
                for text, lines, first, last in between(fast, start, _HIGHEST, f" LIMIT {int(limit)}"):
                    if not lines:
                        continue
                    count, size = count + lines, size + len(text)
                    if waiting:  # checked while SQLite built this batch
                        yield from checked(*waiting)
                    # checked while SQLite builds the next (not while the previous is written: the
                    # two would take turns at Python's lock)
                    waiting = (lines, first, last, checker.submit(_plain_cells, text, len(plan), lines, sentinel))
                if count < limit or last == _HIGHEST:
                    break
                start = last + 1
                # as many lines as make about BATCH_TEXT (long notes make fewer), `batch` at most, and
                # twice the last at most (long notes after short ones are not all taken at once)
                limit = max(1, min(batch, 2 * limit, count * BATCH_TEXT // max(size, 1)))
            if waiting:
                yield from checked(*waiting)
