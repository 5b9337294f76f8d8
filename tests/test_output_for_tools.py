"""Output that fits the tools people use: spreadsheets, terminals of any width, --help, scripts."""

from __future__ import annotations

import html
import json
import os
import re
import sqlite3
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import days_ago, session_rows, snapshot, tamper
from vpslog.errors import printable
from vpslog.parsing import unique_prefix_length


MARKUP = '![seen](http://example.invalid/pixel.png) <img src=x onerror=alert(1)> [link](http://example.invalid) **bold** `code` &lt; a|b \\'
"""Text a markdown viewer would fetch, run or format, typed into vpslog as a name or a reviewer's text."""


def test_stored_text_in_markdown_is_shown_as_it_is_never_read_as_markup(cli, program_db):
    """`--format markdown` (listings, fidelity) and the review report: a name or a reviewer's text shows
    as typed when the document is rendered; no image is fetched, no tag or link made (CommonMark with
    tables, as markdown-it renders it)."""
    from markdown_it import MarkdownIt

    cli.ok("site", "add", "S2", "--name", MARKUP)
    conn = sqlite3.connect(program_db)  # an id as another tool could write it: a listing's title names it
    with conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute("UPDATE participant SET id = ? WHERE id = 'P-0002'", (MARKUP.upper(),))  # ids are upper case
    conn.close()
    review = re.search(r"review ([0-9a-f]{8})", cli.ok("review", "start", "--site", "S1", "--reviewer", "R. One").stdout)[1]
    cli.ok("review", "strength", review, MARKUP)
    cli.ok("review", "recommend", review, MARKUP, "--owner", "PS1", "--due", "2099-01-01")
    for document in (cli.ok("site", "list", "--format", "markdown").stdout,
                     cli.ok("participant", "show", MARKUP.upper(), "--format", "markdown").stdout,  # in its title
                     cli.ok("review", "report", review, "--format", "markdown").stdout):
        page = MarkdownIt("commonmark").enable("table").render(document)
        assert not re.search(r"<(img|a)\b", page), page  # (the report's own bold and code spans are its own)
        shown = html.unescape(re.sub(r"<[^>]+>", "", page))  # what the reader sees: as typed
        assert MARKUP in shown or MARKUP.upper() in shown, page


BLOCKS = ["# a heading", "1. a numbered list", "- a list", "    four spaces: a code block", "===", "> quoted"]
"""Text markdown reads as a block when it begins a line, as a review's strengths and actions do."""


def test_stored_text_that_begins_a_line_in_markdown_is_never_read_as_a_block(cli, program_db):
    from markdown_it import MarkdownIt

    review = re.search(r"review ([0-9a-f]{8})", cli.ok("review", "start", "--site", "S1", "--reviewer", "R. One").stdout)[1]
    for text in BLOCKS:
        cli.ok("review", "strength", review, "--", text)
    cli.ok("review", "strength", review, "see https://example.invalid and www.example.invalid")
    document = cli.ok("review", "report", review, "--format", "markdown").stdout
    page = MarkdownIt("commonmark").render(document)
    shown = html.unescape(re.sub(r"<[^>]+>", "", page))
    for text in BLOCKS:
        assert text.strip() in shown, text
    for tag in ("<h1>", "<ol>", "<pre>", "<blockquote>", "<hr"):
        assert tag not in page.split("Strengths")[-1].split("</ul>")[0], (tag, page)
    assert "https\\://example.invalid and www\\.example.invalid" in document  # no bare link for a GFM viewer
    listing = cli.ok("review", "list", "--format", "markdown").stdout  # table cells begin no block
    assert re.search(r"\| 0\.\d+ \|", listing) and "\\." not in listing and "\\-" not in listing, listing


@pytest.mark.parametrize("command", [["site", "list"], ["specialist", "list"], ["supervision", "list"],
                                     ["history", "P-0003"], ["participant", "list"]])
def test_listing_csv_guards_cells_a_spreadsheet_would_run(cli, program_db, command):
    cli.ok("site", "add", "S2", "--name", '=HYPERLINK("http://x")')
    cli.ok("specialist", "add", "PS3", "--site", "S2", "--name", "+1+1")
    cli.ok("supervision", "log", "PS1", "45", "--supervisor", "@SUM(A1)")
    cli.ok("participant", "add", "P-0003", "--site", "S2", "--enrolled", days_ago(3))
    cli.ok("participant", "exit", "P-0003", "--on", days_ago(1), "--reason", "-2+3")
    out = cli.ok(*command, "--format", "csv").stdout
    assert not re.search(r"(^|,)\"?[-=+@]", out, re.MULTILINE), out
    assert re.search(r"(^|,)\"?'[-=+@]", out, re.MULTILINE), out


def test_sessions_fit_a_100_column_terminal_without_breaking_ids_or_dates(cli, program_db, monkeypatch):
    for n in range(3):
        cli.ok("log", "P-0001", "45", "-d", days_ago(n), "-c", "career,job-s,resume,hope", "-s", "emo,info,link")
    monkeypatch.setenv("COLUMNS", "100")
    lines = cli.ok("sessions").stdout.splitlines()
    assert max(map(len, lines)) <= 100
    assert all(days_ago(n) in "\n".join(lines) for n in range(3))
    assert all(row["id"][:8] in "\n".join(lines) for row in session_rows(program_db))
    assert lines[-1] == "not shown (too narrow): specialist, mode, supports, phase, voided; --format csv has every column"


def test_a_limit_past_sqlites_integers_is_a_usage_error_not_a_store_problem(cli, program_db):
    result = cli("sessions", "--limit", "99999999999999999999")  # it was exit 3, "datatype mismatch"
    assert result.exit_code == 2 and "Invalid value for '--limit'" in result.stderr


@pytest.mark.parametrize("columns", ["0", "5"])
def test_a_terminal_too_narrow_for_anything_still_gets_the_table(cli, program_db, monkeypatch, columns):
    """`COLUMNS=0` drew nothing (exit 0), and 5 cut the first column's ids: tables are at least 40 wide."""
    cli.ok("log", "P-0001", "45")
    monkeypatch.setenv("COLUMNS", columns)
    out = cli.ok("sessions").stdout
    assert session_rows(program_db)[0]["id"][:8] in out and max(map(len, out.splitlines())) <= 40


def test_show_and_history_wrap_code_lists_between_codes_never_inside_one(cli, program_db, monkeypatch):
    """`show` and history's changes joined code lists with `;`, one long word that an 80-column table
    broke inside a code (`normal` / `ization`) or left out whole."""
    codes = ["employer-contact", "education-training", "flexible-contact", "normalization"]
    session = cli.ok("log", "P-0001", "45", "-c", ",".join(codes)).stdout.split()[2].rstrip(":")
    monkeypatch.setenv("COLUMNS", "80")
    shown = cli.ok("show", session).stdout
    cli.ok("amend", session, "-c", "resume,hope", "--reason", "wrong codes")
    history = cli.ok("history", session).stdout
    for out in (shown, history):
        assert all(code in out for code in codes), out
    assert "resume, hope" in history
    assert "resume, hope" in cli.ok("history", session, "--format", "markdown").stdout  # for people too
    assert "resume;hope" in cli.ok("history", session, "--format", "csv").stdout  # for tools: as stored


def test_a_piped_table_is_80_columns_wide(cli, program_db, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    cli.ok("log", "P-0001", "45", "-c", "career,job-s,resume,hope", "-s", "emo,info,link")
    assert max(map(len, cli.ok("sessions").stdout.splitlines())) <= 80


@given(st.lists(st.text("0123456789abcdef", min_size=32, max_size=32), min_size=1, unique=True), st.data())
def test_the_shown_prefix_of_an_id_names_no_other_id(ids, data):
    universe = sorted(ids)
    listed = data.draw(st.lists(st.sampled_from(universe)))
    length = unique_prefix_length(listed, universe)
    assert length >= 8
    for wanted in listed:
        assert [i for i in universe if i.startswith(wanted[:length])] == [wanted]


def test_help_shows_no_type_for_flags_and_lists_the_codes(cli):
    log_help = re.sub(r"[\s│]+", " ", cli.ok("log", "--help").stdout)
    assert "<bool>" not in log_help
    assert "tangible, emotional, informational, linking" in log_help
    fidelity_help = re.sub(r"[\s│]+", " ", cli.ok("fidelity", "--help").stdout)
    assert "Only this participant (study code)." in fidelity_help
    assert "adequate-dose, continuity, eligible-consented," in fidelity_help
    participant_help = re.sub(r"[\s│]+", " ", cli.ok("participant", "add", "--help").stdout)
    assert "Gender: female, male, nonbinary, other." in participant_help
    assert "american-indian-alaska-native," in participant_help


def test_version(cli):
    from vpslog import __version__

    assert cli.ok("--version").stdout == f"vpslog {__version__}\n"


def test_a_usage_error_is_one_line(cli, program_db):
    result = cli("log", "P-0001", "45", "--bogus")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert re.fullmatch(r"error: No such option: --bogus \(see \S+ log --help\)\n", result.stderr), result.stderr


@pytest.mark.parametrize("args,option,choices", [
    (["participant", "add", "P-0111", "--site", "S1", "--enrolled", "2026-03-01", "--arm", "v"], "--arm", "'vps', 'control'"),
    (["participant", "list", "--status", "bogus"], "--status", "'active', 'exited'"),
])
def test_a_choice_not_offered_is_a_usage_error_in_words(cli, program_db, args, option, choices):
    """typer checks a choice through pydantic, and its refusal began "Value error, "."""
    value = args[-1]
    result = cli(*args)
    assert result.exit_code == 2
    assert re.fullmatch(rf"error: Invalid value for '{option}': '{value}' is not one of {choices}\. "
                        r"\(see \S+ [a-z ]+ --help\)\n", result.stderr), result.stderr


NOTE = "felt low after the interview, talked about a relative's illness"
"""A note a tired user types without -n (synthetic)."""


def test_a_note_typed_without_its_option_is_never_echoed_in_a_usage_error(cli, program_db):
    """Usage errors keep the promise other errors keep: a note is never shown, and what was typed is
    cut at 40 characters. Extra arguments (where a note typed without -n lands) are not shown at all."""
    from conftest import snapshot

    before = snapshot(program_db)
    result = cli("log", "P-0001", "45", "-c", "hope", NOTE)
    assert result.exit_code == 2 and re.fullmatch(
        r"error: Got unexpected extra argument\(s\), not shown \(they may be a note: a note goes after -n, in quotes\) "
        r"\(see \S+ log --help\)\n", result.stderr), result.stderr
    for option in (["--format", NOTE], [f"--format={NOTE}"]):
        result = cli("sessions", *option)
        assert result.exit_code == 2 and NOTE not in result.stderr and "relative" not in result.stderr
        assert '"[text with spaces, not shown]" is not one of' in result.stderr
    assert snapshot(program_db) == before


@pytest.mark.parametrize("debug", [[], ["--debug"]])  # the quick path, and the full command line
@pytest.mark.parametrize("args", [["log", "P-0001", NOTE], ["log", NOTE, "45"], ["amend", "{id}", NOTE, "--reason", "r"],
                                  ["log", "P-0001", "45", "-d", NOTE], ["log", "P-0001", "45", "-c", NOTE]])
def test_a_note_typed_where_a_value_goes_is_never_echoed(cli, program_db, debug, args):
    """A note typed without -n lands in the duration (or the participant) more often than among the
    extra arguments: its first 40 characters were shown there. Text with a space inside never is."""
    session = cli.ok("log", "P-0001", "30").stdout.split()[2].rstrip(":")
    before = snapshot(program_db)
    result = cli(*debug, *[part.format(id=session) for part in args])
    assert result.exit_code == 1 and "[text with spaces, not shown]" in result.stderr, result.stderr
    assert not any(word in result.stderr for word in ("felt", "low after", "relative"))
    assert snapshot(program_db) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=20, max_size=40)
       .map(lambda text: (text + " felt low, talked about a relative's illness; ") * 5),
       st.sampled_from([("fidelity", "--by", "{}"), ("participant", "add", "P-0999", "--arm", "{}"),
                        ("participant", "{}"), ("sessions", "--format={}"), ("log", "P-0001", "--{}=x")]))
def test_no_usage_error_shows_more_than_40_characters_of_what_was_typed(cli, program_db, text, command):
    """However a usage error shows a value (as typed, its control characters, quotes or backslashes
    escaped), no more than 40 characters of it reach the terminal."""
    result = cli(*[part.format(text) for part in command])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1 and len(result.stderr) < 320, result.stderr
    typed = text[:41]  # one character more than is ever shown, in each way it may be shown
    escaped = re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m[0]):02x}", typed)
    for form in (typed, escaped, typed.encode("unicode_escape").decode("ascii"), repr(typed)[1:-1]):
        assert printable(form) not in result.stderr


def test_interactive_log_refuses_a_bad_date_at_the_date_prompt_then_saves_after_the_summary(cli, program_db):
    """A length out of bounds is asked again at its prompt too: it was taken, shown in the summary,
    then refused after the confirmation, and everything typed (the note too) was lost."""
    answers = ["P-0001", "999", "0", "45", days_ago(121), "2999-01-01", days_ago(2), "", "", "career", "", "", "", "y"]
    result = cli.ok("log", input="\n".join(answers) + "\n")
    before_note = result.stdout.split("Note:")[0]
    assert "minutes: must be at most 480 (got 999)" in before_note and "minutes: must be at least 1 (got 0)" in before_note
    assert f"session date {days_ago(121)} is before P-0001 enrolled on {days_ago(120)}" in before_note
    assert "session date 2999-01-01 is in the future" in before_note
    assert f"to save: P-0001; {days_ago(2)}; 45m; individual; in-person; specialist PS1; " \
           "components: career-exploration" in " ".join(result.stdout.split())
    [row] = session_rows(program_db)
    assert row["date"] == days_ago(2)


def test_interactive_log_saves_nothing_when_the_summary_is_declined(cli, program_db):
    before = snapshot(program_db)
    result = cli("log", input="P-0001\n45\n\n\n\n\n\n\nprivate words\nn\n")
    assert (result.exit_code, result.stderr) == (1, "error: not saved; nothing was logged\n")
    assert "private words" not in result.stdout.split("Note:")[-1]
    assert snapshot(program_db) == before


def test_fidelity_strict_says_which_fail_rules_failed(cli, program_db):
    cli.ok("log", "P-0002", "45")  # a control-arm participant given a VPS session
    result = cli("fidelity", "--strict")
    assert result.exit_code == 4
    assert result.stderr.splitlines()[-1].startswith("fidelity check failed: ")
    assert "arm-integrity (1 participant)" in result.stderr


def test_counts_of_one_are_singular(cli, program_db, tmp_path):
    for n in range(9):
        cli.ok("log", "P-0001", "45", "-d", days_ago(10 + n))
    assert "; 1 more individual session by " in cli.ok("fidelity", "--format", "json").stdout
    bad = tmp_path / "in.csv"
    bad.write_text("id,name\nS9,\n", encoding="utf-8")
    result = cli("import", "sites", str(bad))
    assert result.stderr.startswith(f"error: 1 bad row in {bad}; nothing was imported:")


@pytest.mark.parametrize("command", [["sessions"], ["fidelity"], ["site", "list"], ["--help"], ["log", "--help"],
                                     ["review", "--help"]])
def test_a_table_whose_reader_leaves_early_ends_quietly_and_well(cli, program_db, command):
    """`vpslog sessions | head`: the reader gone, the command stops with nothing on stderr and exit 0,
    as every other output does (rich would exit 1, which fails a script run with `set -o pipefail`)."""
    cli.ok("log", "P-0001", "45", "-c", "hope")
    table = subprocess.Popen([sys.executable, "-m", "vpslog", *command], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "120"})
    table.stdout.close()  # gone before the table is drawn
    assert (table.wait(timeout=60), table.stderr.read()) == (0, b"")


def test_fidelity_json_documents_show_invisible_characters_as_escapes(cli, program_db):
    """The matrix and trend documents wrote their text with json.dumps itself, leaving bidi marks raw,
    and so did the streamed report's head and results; a specialist id edited outside vpslog carries
    one here (into the results' evidence and the head's attention list)."""
    cli.ok("log", "P-0001", "45")
    tamper(program_db, "PRAGMA foreign_keys = OFF", "UPDATE specialist SET id = 'PS\u202e1' WHERE id = 'PS1'",
           "UPDATE session SET specialist_id = 'PS\u202e1' WHERE specialist_id = 'PS1'")
    for args in (["--matrix"], ["--by", "month"], []):
        out = cli.ok("fidelity", *args, "--format", "json").stdout
        assert "\u202e" not in out and ("PS\\u202e1" in out or args == ["--by", "month"])
        json.loads(out)


def test_a_by_site_column_headed_by_a_stored_site_id_is_shown_escaped(cli, program_db):
    """The pass rate by site has a column per site, headed by its id: the headers were written as they
    were (an ESC and a bidi mark raw in the table, a tag in the markdown; rich read `[...]` as style)."""
    odd = "S\u202e\x1b[31m<img src=x>[bold]"
    cli.ok("log", "P-0001", "45")
    cli.ok("site", "add", "S2", "--name", "Site two")  # by site: with two sites or more
    cli.ok("participant", "add", "P-0900", "--site", "S2", "--enrolled", days_ago(10))
    tamper(program_db, "PRAGMA foreign_keys = OFF", *(f"UPDATE {table} SET site_id = '{odd}' WHERE site_id = 'S1'"
                                                      for table in ("participant", "specialist")),
           f"UPDATE site SET id = '{odd}' WHERE id = 'S1'")
    table = cli.ok("fidelity").stdout
    markdown = cli.ok("fidelity", "--format", "markdown").stdout
    assert not any(c in out for c in "\u202e\x1b" for out in (table, markdown))
    assert re.search(r"(?<!\\)<img", markdown) is None
    assert "S\\u202e\\x1b[31m<img src=x>[bold]" in table
    assert "S\\\\u202e\\\\x1b\\[31m\\<img src=x\\>\\[bold\\]" in markdown


@given(st.recursive(st.none() | st.integers() | st.text(), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8), st.booleans())
def test_json_shows_every_invisible_character_as_an_escape_and_reads_back_the_same(value, indented):
    """What every json output goes through (a fidelity report's million result lines one by one, so
    its ASCII shortcut must not let DEL or a control through): the same value, nothing invisible."""
    from vpslog.render import visible_json

    text = visible_json(json.dumps(value, ensure_ascii=False, indent=2 if indented else None))
    assert json.loads(text) == value
    assert text.replace("\n", "").isprintable()
