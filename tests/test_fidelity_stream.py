"""`vpslog fidelity` writes its results as the engine judges them, so that a program whose every
session is flagged does not need the memory of all its results: the output is what the whole
report, kept in memory, gives."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

from hypothesis import given
from hypothesis import strategies as st

from test_fidelity_trend import TODAY
from vpslog.fidelity.engine import Result, evaluate
from vpslog.fidelity.report import RESULT, attention, result_json
from vpslog.fidelity.rules import load_rules

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3), max_leaves=8)


@given(texts=st.lists(st.text(), min_size=6, max_size=6),
       numbers=st.dictionaries(st.text(), JSON_VALUES, max_size=4)
       | st.dictionaries(st.text(), st.integers() | st.booleans(), max_size=4))
def test_a_result_is_written_exactly_as_json_dumps_writes_it(texts, numbers):
    """Quotes, backslashes, control characters, any Unicode, nested numbers, booleans (not ints)."""
    rule, scope, subject, site, status, evidence = texts
    result = Result(rule, scope, subject, site, status, evidence, numbers)
    expected = {key: value for key, value in asdict(result).items() if key != "open"}
    assert result_json(result) == json.dumps(expected, ensure_ascii=False)


def kept(demo_prog):
    return evaluate(demo_prog.store, demo_prog.catalog, load_rules(demo_prog.catalog), TODAY)


def test_the_json_report_holds_every_result_of_the_whole_evaluation_in_its_order(cli, demo_prog):
    whole = kept(demo_prog)
    assert any(r.scope == "session" for r in whole.results)  # the demo flags sessions too
    document = json.loads(cli.ok("fidelity", "--format", "json").stdout)
    assert document["results"] == [{key: value for key, value in asdict(r).items() if key != "open"}
                                   for r in whole.results]
    shown = {part: [row for row in attention(whole) if row["open"] == (part == "open")] for part in ("open", "past")}
    assert document["attention"] == {part: [{k: row[k] for k in ("subject", "site", "rule", "status", "evidence")}
                                            for row in rows] for part, rows in shown.items()}
    assert [row["rule"] for row in document["summary"]] == [row["rule"] for row in whole.summary()]


def test_the_csv_report_has_one_row_per_result_in_its_order(cli, demo_prog):
    whole = kept(demo_prog)
    rows = list(csv.DictReader(io.StringIO(cli.ok("fidelity", "--format", "csv").stdout)))
    assert [[row[key] for key in RESULT] for row in rows] == [[getattr(r, key) for key in RESULT] for r in whole.results]
    assert [row["attention"] for row in rows] == [
        ("open" if r.open else "past") if r.status in ("warn", "fail") else "" for r in whole.results]


def test_a_report_that_streams_keeps_no_result_but_what_needs_attention(demo_prog):
    whole = kept(demo_prog)
    streamed = []
    report = evaluate(demo_prog.store, demo_prog.catalog, load_rules(demo_prog.catalog), TODAY, sink=streamed.append)
    assert report.results == [] and streamed == whole.results
    assert report.counts == whole.counts
    assert attention(report) == attention(whole)
    assert all(r.scope != "session" and r.status in ("warn", "fail") for r in report.flagged)
    assert sum(count for count, _ in report.flagged_sessions.values()) == sum(
        r.scope == "session" for r in whole.results)


def test_an_empty_program_gives_a_complete_json_and_a_csv_header(cli, program_db):
    document = json.loads(cli.ok("fidelity", "--format", "json", "--participant", "P-0002").stdout)
    assert document["results"] == [] or all(r["subject"] == "P-0002" for r in document["results"])
    cli.ok("site", "add", "S9", "--name", "Site nine")
    empty = json.loads(cli.ok("fidelity", "--format", "json", "--site", "S9").stdout)
    assert empty["results"] == [] and empty["attention"] == {"open": [], "past": []}
    assert cli.ok("fidelity", "--format", "csv", "--site", "S9").stdout == ",".join((*RESULT, "attention")) + "\n"


def test_the_json_spool_has_no_name_on_disk_and_only_its_owner_could_read_it(cli, demo, tmp_path, monkeypatch):
    """The results wait in the spool while the summary is computed: a file another user could open,
    or one a killed run would leave behind with participant ids in it, is what this rules out."""
    import os
    import shutil
    import stat
    import tempfile

    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool_dir))
    seen = []
    copy = shutil.copyfileobj

    def copy_and_look(source, target, *args):
        seen.append((os.listdir(spool_dir), stat.S_IMODE(os.fstat(source.fileno()).st_mode)))
        return copy(source, target, *args)

    monkeypatch.setattr(shutil, "copyfileobj", copy_and_look)
    document = json.loads(cli.ok("fidelity", "--format", "json").stdout)
    assert document["results"] and seen == [([], 0o600)]
    assert os.listdir(spool_dir) == []


def test_fidelity_and_the_reports_read_sessions_from_the_indexes_alone(demo_prog):
    """Sessions are stored in the order they are logged, so a read by participant or specialist that
    went to the table would jump from page to page (on an encrypted store each page read is a page
    decrypted: 6x slower on 1M sessions). Every session read of fidelity (whole program, one site,
    one specialist, one participant, over time) and of `report html` is answered by a covering index."""
    from vpslog.report.gather import gather

    store = demo_prog.store
    site, specialist = store.conn.execute("SELECT site_id, id FROM specialist ORDER BY id").fetchone()
    participant = store.conn.execute("SELECT participant_id FROM session ORDER BY id").fetchone()[0]
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    book = load_rules(demo_prog.catalog)
    for scope in ({}, {"site": site}, {"specialist": specialist}, {"participant": participant}):
        evaluate(store, demo_prog.catalog, book, TODAY, **scope)
    gather(demo_prog, TODAY)
    gather(demo_prog, TODAY, specialist=specialist)
    store.participant_totals(TODAY.isoformat(), demo_prog.catalog.delivered_types)
    store.caseload_of(specialist, TODAY.isoformat())
    store.conn.set_trace_callback(None)
    reads = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT") and " session " in f"{sql} "]
    assert len(reads) >= 8
    for sql in reads:
        plan = [row[-1] for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        table_reads = [step for step in plan if step.startswith(("SCAN", "SEARCH")) and "COVERING" not in step
                       and ("session_by_" in step or step.split()[1] in ("s", "t", "session"))]
        assert not table_reads, (sql, plan)
