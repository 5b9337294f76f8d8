"""Quick entry (vpslog/quick.py) is `vpslog log` without typer: the same outcome, line for line.

The property test drives both paths with the same generated command lines on identical fresh
stores, with the same clock and session id, and compares everything a user or an auditor sees.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time
from pathlib import Path

import pydantic
import pytest
import typer.main
from hypothesis import event, given, settings
from hypothesis import strategies as st

from conftest import days_ago, open_db, session_rows, snapshot, write_key_file
from vpslog import config, modelchecks, quick
from vpslog.cli import app
from vpslog.curriculum import Catalog
from vpslog.models import Session
from vpslog.store.base import Store

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
SESSION_ID = uuid.UUID("0123456789abcdef0123456789abcdef")


@pytest.fixture
def template(cli, program_db, tmp_path) -> Path:
    """program_db, plus an exited participant (P-0003), an inactive specialist (PS3) and a session
    (for amend and void)."""
    cli.ok("log", "P-0001", "45", "-d", days_ago(20), "-c", "hope", "-s", "emotional", "-n", "first note",
           "--at", "10:15")
    cli.ok("participant", "add", "P-0003", "--site", "S1", "--enrolled", days_ago(90), "--arm", "vps")
    cli.ok("participant", "exit", "P-0003", "--on", days_ago(10), "--reason", "moved away")
    cli.ok("specialist", "add", "PS3", "--site", "S1")
    conn = open_db(program_db)
    conn.execute("UPDATE specialist SET active = 0 WHERE id = 'PS3'")
    conn.commit()
    conn.close()
    return program_db


@pytest.fixture
def fast_checks(monkeypatch) -> Counter:
    """Counts the sessions quick entry's compiled checks were asked about ("asked") and accepted
    ("accepted"), so a test can tell they were used, not silently left to the model every time."""
    counts: Counter = Counter()
    real = modelchecks.accepted

    def counted(checks, data, context):
        checked = real(checks, data, context)
        counts["asked"] += 1
        counts["accepted"] += checked is not None
        return checked

    monkeypatch.setattr(modelchecks, "accepted", counted)
    return counts


@pytest.fixture
def same_clock(monkeypatch):
    """Both paths enter the session at the same instant with the same id (and `-e` finds an editor
    that fails at once, where typer takes it)."""
    monkeypatch.setenv("EDITOR", "false")
    monkeypatch.setattr("vpslog.core._now", lambda: NOW)
    monkeypatch.setattr("vpslog.store.base.utc_stamp", lambda moment=None: NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    monkeypatch.setattr(uuid, "uuid4", lambda: SESSION_ID)


def fresh_copy(source: Path, dest: Path) -> Path:
    """`dest` made anew as a copy of the closed store `source` (plain or encrypted: its files as they
    are), with no witness of an earlier store there."""
    for old in (dest, dest.with_name(dest.name + "-wal"), dest.with_name(dest.name + "-shm"), config.witness_path(dest)):
        old.unlink(missing_ok=True)
    for suffix in ("", "-wal"):
        if (file := source.with_name(source.name + suffix)).exists():
            shutil.copyfile(file, dest.with_name(dest.name + suffix))
    return dest


def by_typer(cli, db: Path, args: list[str]) -> tuple[int, str, str]:
    result = cli.runner.invoke(app, ["--db", str(db), *args])
    return result.exit_code, result.stdout, result.stderr


def by_quick(cli, db: Path, args: list[str]) -> tuple[int, str, str]:
    """What the console script does: quick entry, else typer (exactly as quick.main)."""
    out, err = io.StringIO(), io.StringIO()
    code = quick.run(["--db", str(db), *args], out, err)
    if code is None:
        return by_typer(cli, db, args)
    return code, out.getvalue(), err.getvalue()


def outcome(path, cli, template: Path, db: Path, args: list[str]):
    """What `args` gives by `path` on a fresh copy of the template at `db`: the output, every table, the witness."""
    result = path(cli, fresh_copy(template, db), args)
    return result, snapshot(db), witness(db)


def witness(db: Path) -> tuple[int, str] | None:
    path = config.witness_path(db)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return data["seq"], data["hash"]


# -- the command lines ---------------------------------------------------------------------------

VALUES = {  # (valid, refused or doubtful), per option
    "date": (["today", "yesterday", "mon", "fri", "-3d", days_ago(5), " today "],
             ["-400d", days_ago(100), "2999-01-01", "20261120", "someday", ""]),
    "codes": (["career,hope", "job-s", "CAREER", "hope,hope", " career , hope ", "", "res", "emp"],
              ["job", "xyz", ",,"]),
    "support": (["emotional", "emo", "link,tang"], ["e", "nope"]),
    "mode": (["phone", "ph", "video", ""], ["in", "x"]),
    "type": (["indiv", "group", "no-show"], ["n", "zz"]),
    "phase": (["get", "ch", "keep"], ["q", "g"]),
    "note": (["private words", "  padded  ", "", "line\nbreak", "caf\u00e9 \u2003"], ["x" * 20_001, "a\x00b"]),
    "specialist": (["PS1", "ps2", "P"], ["PS3", "PS9", ""]),
    "at": (["14:30", "9:05", "14:30:15", " 07:45 "], ["25:00", "noon", "14:30:15.5", "14:30+01:00", "14:30Z", "1430"]),
    "location": (["room 2, floor 3", "\u00a0hall\u00a0", "\x1b[31mred"], [" ", "x" * 201]),
}
SPELLINGS = {"date": ("-d", "--date"), "codes": ("-c", "--codes"), "support": ("-s", "--support"),
             "mode": ("-m", "--mode"), "type": ("-t", "--type"), "phase": ("-p", "--phase"),
             "note": ("-n", "--note"), "specialist": ("--specialist",), "at": ("--at",),
             "location": ("--location",)}
BAD = [["--bogus"], ["-x"], ["--clinical=yes"], ["-e"], ["-i"], ["--"], ["--help"], ["--cod", "x"], ["-d"],
       ["--debug"], ["-h"]]


def mostly(valid: list, other: list, weight: int = 6):
    """Values drawn from `valid` `weight` times as often as from `other`."""
    return st.sampled_from(valid * weight + other)


@st.composite
def option(draw, refused: bool = False) -> list[str]:
    key = draw(st.sampled_from(sorted(VALUES)))
    value = draw(st.sampled_from(VALUES[key][refused]))
    name = draw(st.sampled_from(SPELLINGS[key]))
    if draw(st.booleans()):
        return [name, value]
    return [f"{name}={value}"] if name.startswith("--") else [name + value]


command_lines = st.builds(
    lambda participant, duration, options, refused, flags, bad, order: [
        *([participant] if participant is not None else []),
        *([duration] if duration is not None else []),
        *[token for group in order(options + refused + flags + bad) for token in group]],
    mostly(["P-0001", "p-0001", "P-0002", " P-0001 "], ["P-0003", "P-0009", "P-00", "", None]),
    mostly(["45", "45m", "1h", "1h15m", "1:15", "480"], ["0", "481", "99999999999", "abc", "", "-5", None]),
    st.lists(option(), max_size=5),
    st.lists(option(refused=True), max_size=1),  # at most one value that is refused or doubtful
    st.lists(st.sampled_from([["--clinical"], ["--no-clinical"]]), max_size=2),
    mostly([[]], [[bad] for bad in BAD], weight=60),
    st.sampled_from([lambda groups: groups, lambda groups: groups[::-1]]),
)


def same_outcome(cli, template: Path, db: Path, args: list[str], fast_checks: Counter) -> None:
    """Both paths give the same outcome for `args`; counts the sessions quick entry wrote ("written")
    and those of them its compiled checks accepted ("fast")."""
    accepted = fast_checks["accepted"]
    fast = outcome(by_quick, cli, template, db, args)
    assert fast == outcome(by_typer, cli, template, db, args)
    quick_path = quick.parse(args) is not None
    if quick_path and fast[0][0] == 0:
        fast_checks["written"] += 1
        fast_checks["fast"] += fast_checks["accepted"] > accepted
    event(f"{args[0]}: exit {fast[0][0]}, {'quick entry' if quick_path else 'typer'}")


def test_quick_entry_and_typer_give_the_same_outcome(cli, template, same_clock, tmp_path, fast_checks):
    """Same exit code, stdout and stderr, the same rows (session and audit entry, hash chain
    included) and the same witness, for every command line, valid or not; and most sessions quick
    entry wrote were accepted by the compiled checks (else the test would compare the model with itself)."""
    db = tmp_path / "case.db"  # one path for both, since messages name it

    @settings(max_examples=200, deadline=None)
    @given(args=command_lines)
    def check(args):
        same_outcome(cli, template, db, ["log", *args], fast_checks)

    check()
    assert fast_checks["written"] >= 20 and fast_checks["fast"] >= 0.6 * fast_checks["written"], fast_checks


@st.composite
def corrections(draw) -> list[str]:
    """`amend` and `void` command lines; ID stands for the template session's id."""
    session = draw(mostly(["ID", "ID8", "id4"], ["ffff", "", "ID-x"]))
    reason = draw(mostly([["--reason", "wrong length"], ["--reason=typo"]], [["--reason", ""], ["--reason", " "], []]))
    if draw(st.booleans()):
        return ["void", session, *reason, *draw(mostly([[]], [["-c", "x"], ["extra"]], weight=10))]
    duration = draw(st.lists(mostly(["50", "1h"], ["0", "x"]), max_size=1))
    moved = draw(mostly([[]], [["--participant", "P-0002"], ["--participant", "P-0003"], ["--participant", "P-9"]]))
    options = draw(st.lists(option(), max_size=3)) + draw(st.lists(option(refused=True), max_size=1))
    flags = draw(st.lists(st.sampled_from([["--clinical"], ["--no-clinical"]]), max_size=1))
    bad = draw(mostly([[]], [[bad] for bad in BAD], weight=30))
    groups = [reason, moved, *options, *flags, *bad]
    return ["amend", session, *duration, *[token for group in draw(st.permutations(groups)) for token in group]]


def test_quick_amend_and_void_give_the_same_outcome_as_typer(cli, template, same_clock, tmp_path, fast_checks):
    """The same for `amend` and `void` of a session of the template (whose rows the store keeps as
    text and 0/1, which the checks read as the model does)."""
    [[session_id]] = sqlite3.connect(template).execute("SELECT id FROM session").fetchall()
    names = {"ID": session_id, "ID8": session_id[:8], "id4": session_id[:4].upper(), "ID-x": session_id + "x"}
    db = tmp_path / "case.db"

    @settings(max_examples=120, deadline=None)
    @given(args=corrections())
    def check(args):
        same_outcome(cli, template, db, [names.get(arg, arg) for arg in args], fast_checks)

    check()
    assert fast_checks["written"] >= 10 and fast_checks["fast"] >= 0.6 * fast_checks["written"], fast_checks


def test_the_plain_forms_take_the_quick_path_and_others_go_to_typer():
    assert quick.parse(["log", "P-0001", "45m", "-c", "career,hope", "-scareer", "--note=a=b", "--clinical"]) == (
        None, "log", ["P-0001", "45m"], {"codes": ["career,hope"], "support": ["career"], "note": "a=b",
                                         "clinical": True})
    assert quick.parse(["--db", "x.db", "log", "P-0001", "45", "-d", "-3d", "-c=x"])[3] == {
        "date": "-3d", "codes": ["=x"]}  # click reads -c=x as the value "=x"
    assert quick.parse(["amend", "3f9c", "50m", "--reason", "r", "--participant", "P-2"])[1:] == (
        "amend", ["3f9c", "50m"], {"reason": "r", "participant": "P-2"})
    assert quick.parse(["void", "3f9c", "--reason=r"])[1:] == ("void", ["3f9c"], {"reason": "r"})
    for args in (["log"], ["log", "P-0001", "45", "extra"], ["--debug", "log", "P-0001", "45"], ["sessions"],
                 ["log", "P-0001", "45", "-e"], ["log", "P-0001", "45", "--"], ["--db=", "log", "P-0001", "45"],
                 ["log", "P-0001", "45", "--help"], ["--version"], ["log", "P-0001", "\udcff"],
                 ["amend", "3f9c", "50"], ["void", "3f9c"], ["void", "3f9c", "--reason", "r", "-c", "x"],
                 ["log", "P-0001", "45", "--reason", "r"], ["amend", "3f9c", "-e", "--reason", "r"]):
        assert quick.parse(args) is None, args


LEFT_TO_TYPER = {"edit", "interactive"}
"""Options whose command line quick entry leaves whole to typer (-e opens an editor, -i prompts)."""


def test_the_quick_grammar_is_what_click_declares():
    """quick.py's tables of `log`, `amend` and `void` match the typer commands' click parameters, so
    an option added to or changed in vpslog/commands/ fails here until quick entry reads it alike."""
    group = typer.main.get_command(app)
    assert [(p.opts, p.is_flag) for p in group.params if p.name == "db"] == [(["--db"], False)]
    repeated = set()
    for name, (fewest, most, value_options, flags) in quick.COMMANDS.items():
        params = group.commands[name].params
        arguments = [p for p in params if p.param_type_name == "argument"]
        options = [p for p in params if p.param_type_name == "option" and p.name not in LEFT_TO_TYPER]
        assert all(p.nargs == 1 for p in arguments) and most == len(arguments), name
        assert fewest == max(1, sum(p.required for p in arguments)), name  # `log` with no participant prompts
        assert value_options == {opt: p.name for p in options if not p.is_flag for opt in p.opts}, name
        assert (quick.FLAGS if flags else {}) == {
            opt: (p.name, value) for p in options if p.is_flag
            for opts, value in ((p.opts, True), (p.secondary_opts, False)) for opt in opts}, name
        assert {p.name for p in options if p.required} == ({quick.REQUIRED[name]} if name in quick.REQUIRED else set())
        repeated |= {p.name for p in options if p.multiple}
    assert quick.REPEATED == repeated


def test_an_argument_that_is_not_utf8_is_refused_alike(cli, program_db):
    before = snapshot(program_db)
    args = ["log", "P-0001", "45", "-n", "private caf\udce9"]
    assert by_quick(cli, program_db, args) == by_typer(cli, program_db, args) == (
        1, "", "error: the value of -n is not valid UTF-8 text (it is not shown: it may be a note); "
               "type it again as UTF-8\n")
    assert snapshot(program_db) == before


def test_ctrl_c_ends_quick_entry_as_it_ends_typer(cli, program_db, monkeypatch):
    """Ctrl-C (say while `log` waits for a lock) exits 130 with nothing printed on both paths (no
    traceback), and nothing is written."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "insert", interrupted)
    before = snapshot(program_db), witness(program_db)
    args = ["log", "P-0001", "45", "-n", "private words"]
    try:
        fast = by_quick(cli, program_db, args)
    except KeyboardInterrupt:
        pytest.fail("quick entry let Ctrl-C through as a traceback")
    assert fast == by_typer(cli, program_db, args) == (quick.INTERRUPTED, "", "")
    assert (snapshot(program_db), witness(program_db)) == before


def console(path: str, *args: str, **env: str) -> tuple[int, bytes, bytes]:
    """The console script (`quick`: vpslog.quick, as installed) or the typer CLI alone, in a process."""
    code = "from vpslog.quick import main as run" if path == "quick" else "from vpslog.cli import run"
    done = subprocess.run([sys.executable, "-c", f"{code}; run()", *args], env={**os.environ, **env},
                          capture_output=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_output_is_written_as_click_writes_it_where_the_terminal_says_ascii(program_db):
    """With PYTHONIOENCODING=ascii click writes UTF-8; quick entry writes the same bytes (not `\\xe9`
    on stderr, nor a UnicodeEncodeError on stdout)."""
    before = snapshot(program_db)
    refused = ["log", "P-0001", "45", "-c", "caf\u00e9"]
    fast = console("quick", *refused, PYTHONIOENCODING="ascii")
    assert fast == console("typer", *refused, PYTHONIOENCODING="ascii")
    assert fast[:2] == (1, b"") and fast[2].startswith("error: unknown component 'caf\u00e9'".encode())
    assert snapshot(program_db) == before
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="ascii")  # what Python makes of PYTHONIOENCODING=ascii
    quick.echo("caf\u00e9 \u2615", stdout)
    assert stdout.buffer.getvalue() == "caf\u00e9 \u2615\n".encode()


@pytest.mark.parametrize("store_kind", ["encrypted"], indirect=True)  # skipped, saying why, without sqlcipher3
def test_quick_entry_on_an_encrypted_store_writes_what_typer_writes(cli, template, same_clock, tmp_path, monkeypatch):
    """The same row and audit entry as the typer path; a wrong key the same one line, exit 3, nothing written."""
    db = tmp_path / "case.db"
    args = ["log", "P-0001", "45", "-c", "career", "-n", "private words"]
    fast = outcome(by_quick, cli, template, db, args)
    assert fast == outcome(by_typer, cli, template, db, args)
    assert fast[0][0] == 0 and len(fast[1]["session"]) == 2
    fresh_copy(template, db)
    before = snapshot(db), witness(db)
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(write_key_file(tmp_path / "other.key")))
    for path in (by_quick, by_typer):
        assert path(cli, db, ["log", "P-0001", "30"]) == (3, "", f"error: {db}: wrong key or not a vpslog store\n")
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(tmp_path / "store.key"))
    assert (snapshot(db), witness(db)) == before


# -- the compiled checks against the model -----------------------------------------------------------

def session_data(**changes) -> dict:
    return {"id": SESSION_ID.hex, "entered_at": NOW, "entered_by": "PS1", "participant_id": "P-0001",
            "specialist_id": "PS1", "date": date(2026, 11, 20), "minutes": 45, "type": "individual",
            "mode": "in-person", **changes}


text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    [" a ", "\u00a0a", "a\u2003", "\x1cx", "ß", "p-0001", "P-0001\n", "x" * 201, "", " "])


records = st.fixed_dictionaries({}, optional={
    "participant_id": text, "specialist_id": text, "minutes": st.integers(-5, 500), "type": text,
    "mode": st.sampled_from(["phone", "video", "x"]), "location": text | st.none(), "note": text | st.none(),
    "phase": st.sampled_from(["get", "nope"]) | st.none(), "entered_by": text,
    "components": st.lists(st.sampled_from(["hope", "career-exploration", "nope"]), max_size=3).map(tuple),
    "start_time": st.times() | st.none() | st.sampled_from(["14:30:00", "24:00:00", "14:30"]),
    "date": st.sampled_from(["2026-03-02", "2026-02-30", "2026-3-2", "20260302"]),
    "entered_at": st.sampled_from(["2026-03-02T10:00:00Z", "2026-03-02T10:00:00", "2026-03-02T25:00:00Z"]),
    "clinical": st.booleans() | st.integers(-1, 2), "voided": st.integers(0, 2) | st.just("1"),
    "supports": st.sampled_from(["emotional;linking", "", "nope;emotional", ";"]), "bogus": st.just(1)}).map(
    lambda changes: session_data(**changes))


def test_what_the_compiled_checks_accept_the_model_accepts_and_stores_alike():
    """Never a rule given up: a record the checks accept (as the command line or the store gives it) is
    one the model accepts, with the same row; and they accept a good share of what the model accepts."""
    catalog = Catalog()
    checks = modelchecks.compile_model(Session)
    counts = Counter()

    @settings(max_examples=300, deadline=None)
    @given(data=records)
    def check(data):
        checked = modelchecks.accepted(checks, data, {"catalog": catalog})
        try:
            model = Session.model_validate(data, context={"catalog": catalog})
        except pydantic.ValidationError:
            assert checked is None
            return
        counts["valid"] += 1
        if checked is not None:
            counts["accepted"] += 1
            assert checked.model_dump(mode="json") == model.model_dump(mode="json")

    check()
    assert counts["valid"] >= 20 and counts["accepted"] >= 0.5 * counts["valid"], counts


@pytest.mark.parametrize("extra", ["forbid", "ignore", "allow"])
def test_only_a_model_that_forbids_or_ignores_extra_fields_is_compiled(extra):
    """A model that keeps extra fields (extra="allow") is left to the model, not checked as if it ignored them."""
    class Record(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra=extra)
        minutes: int

    if extra == "allow":
        with pytest.raises(modelchecks.Unsupported, match="extra='allow'"):
            modelchecks.compile_model(Record)
    else:
        assert modelchecks.compile_model(Record)["forbid_extra"] is (extra == "forbid")


def test_the_compiled_checks_accept_a_plain_session():
    checked = modelchecks.accepted(modelchecks.compile_model(Session), session_data(start_time=time(14, 30)),
                                {"catalog": Catalog()})
    assert checked is not None and checked.model_dump()["start_time"] == "14:30:00"


def test_whitespace_the_checks_strip_is_whitespace_to_pydantic_too():
    """The checks give up on a value that ends in a character Python calls a space unless it is ASCII;
    that is safe only if pydantic strips nothing Python does not call a space."""
    from pydantic_core import SchemaValidator

    strip = SchemaValidator({"type": "str", "strip_whitespace": True})
    stripped_by_pydantic = [c for c in map(chr, range(0x110000))
                            if not 0xD800 <= ord(c) <= 0xDFFF and strip.validate_python(c + "x") == "x"]
    assert all(c.isspace() for c in stripped_by_pydantic)


# -- the cache ---------------------------------------------------------------------------------------

def test_a_stale_cache_never_lets_a_rule_pass(cli, program_db, env, tmp_path):
    """A cache compiled from other models (here: one that would take 1000 minutes) is compiled anew,
    so the refusal is the model's."""
    lax = modelchecks.compile_model(Session)
    lax["fields"]["minutes"]["le"] = 1000
    cache = config.config_dir() / "cache" / "session.checks.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": "from an older vpslog", "checks": lax}))
    before = snapshot(program_db)
    out, err = io.StringIO(), io.StringIO()
    assert quick.run(["log", "P-0001", "600"], out, err) == 1
    assert (out.getvalue(), err.getvalue()) == ("", "error: minutes: must be at most 480 (got 600)\n")
    assert snapshot(program_db) == before
    assert json.loads(cache.read_text())["key"] == modelchecks.cache_key()


@pytest.mark.parametrize("source", ["models.py", "fieldrules.py", "modelchecks.py", "pydantic"])
def test_the_cache_key_follows_every_source_of_the_checks(monkeypatch, source):
    """The key digests the sources the checks come from (the models, the field rules, the compiler,
    pydantic's version): a change to any makes a new key, so stale checks never match it."""
    key = modelchecks.cache_key()
    changed = (Path(pydantic.__file__).with_name("version.py") if source == "pydantic"
               else Path(modelchecks.__file__).with_name(source))
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: real_read(self) + b"# changed" if self == changed else real_read(self))
    assert modelchecks.cache_key() != key


def test_the_cache_key_follows_the_vpslog_version(monkeypatch):
    import vpslog

    key = modelchecks.cache_key()
    monkeypatch.setattr(vpslog, "__version__", vpslog.__version__ + ".post1")
    assert modelchecks.cache_key() != key


def test_checks_compiled_while_a_source_changes_are_not_cached(tmp_path, monkeypatch):
    """models.py changed between computing the key and importing the models: the checks (of the
    models this run imported) are used, but not cached under the older key."""
    keys = iter(["key before the change", "key after the change"])
    monkeypatch.setattr(modelchecks, "cache_key", lambda: next(keys))
    assert modelchecks.checks_for("session", tmp_path) == modelchecks.compile_model(Session)
    assert not (tmp_path / "session.checks.json").exists()


def test_a_cache_with_the_current_key_and_ill_formed_checks_is_compiled_anew(cli, program_db, env):
    """Was a crash (exit 70) on every quick `log`."""
    cache = config.config_dir() / "cache" / "session.checks.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": modelchecks.cache_key(), "checks": {"fields": {}}}))
    out, err = io.StringIO(), io.StringIO()
    assert quick.run(["log", "P-0001", "45"], out, err) == 0
    assert out.getvalue().startswith("logged session") and err.getvalue() == ""
    assert json.loads(cache.read_text())["checks"] == modelchecks.compile_model(Session)


COMPILED = modelchecks.compile_model(Session)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8)
ill_formed_checks = json_values | st.builds(  # the compiled checks with a part removed or replaced
    lambda part, value: {**{k: v for k, v in COMPILED.items() if k != part}, **({} if value is None else {part: value})},
    st.sampled_from(sorted(COMPILED)), json_values)


def test_a_cache_whose_checks_are_not_as_compiled_is_compiled_anew(tmp_path):
    """Whatever JSON stands in the cache under the current key (with or without a digest), the checks
    used are the model's as compiled; and applying ill-formed checks leaves the record to the model
    instead of crashing."""
    cache = tmp_path / "session.checks.json"
    key = modelchecks.cache_key()

    @settings(max_examples=150, deadline=None)
    @given(checks=ill_formed_checks, digest=st.none() | json_values)
    def check(checks, digest):
        cache.write_text(json.dumps({"key": key, "checks": checks, **({} if digest is None else {"digest": digest})}))
        assert modelchecks.checks_for("session", tmp_path) == COMPILED
        checked = modelchecks.accepted(checks, session_data(), {"catalog": Catalog()})
        assert checked is None or isinstance(checked, modelchecks.Checked)

    check()


def test_a_damaged_cache_is_compiled_anew(cli, program_db, env):
    cache = config.config_dir() / "cache" / "session.checks.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("{not json")
    assert quick.run(["log", "P-0001", "45"], io.StringIO(), io.StringIO()) == 0
    assert json.loads(cache.read_text())["key"] == modelchecks.cache_key()


def test_a_cache_path_that_is_not_a_file_is_replaced_not_read(program_db):
    """A FIFO there would make every quick `log` wait forever for a writer."""
    cache = config.config_dir() / "cache" / "session.checks.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(cache, 0o600)
    done = subprocess.run([sys.executable, "-m", "vpslog", "log", "P-0001", "45"], env=os.environ.copy(),
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "") and done.stdout.startswith("logged session")
    assert cache.is_file() and json.loads(cache.read_text())["key"] == modelchecks.cache_key()


# -- what it costs -----------------------------------------------------------------------------------

def test_quick_entry_does_not_import_typer_click_rich_sqlite_utils_or_pydantic(program_db, tmp_path):
    """The point of the quick path (beside the test that `log` imports no report library), for log,
    amend and void; the first run compiles the checks (importing pydantic), later ones read them."""
    def run(*args: str) -> set[str]:
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "vpslog", *args], env=os.environ.copy(),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(("logged session", "amended session", "voided session")), done.stdout
        return {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}

    run("log", "P-0001", "45")
    [[session_id]] = sqlite3.connect(program_db).execute("SELECT id FROM session").fetchall()
    for args in (["log", "P-0001", "45", "-c", "career", "-n", "x"], ["amend", session_id[:8], "50", "--reason", "r"],
                 ["void", session_id[:8], "--reason", "twice"]):
        imported = run(*args)
        assert "vpslog" in imported
        assert not imported & {"typer", "click", "rich", "sqlite_utils", "pydantic", "pydantic_core", "sqlcipher3",
                               "keyring"}, args


def test_a_write_whose_witness_the_system_refuses_says_it_was_saved(cli, program_db, monkeypatch):
    """The commit came first; a full disk under the config folder then failed the witness update, and
    the command said only "the system refused a read or write" (exit 74): a tired user logs it again."""
    import errno

    def full(path, text, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    args = ["log", "P-0001", "45"]
    with monkeypatch.context() as patched:
        patched.setattr("vpslog.store.base.write_private", full)
        fast = by_quick(cli, program_db, args)
        slow = by_typer(cli, program_db, args)
    for code, out, err in (fast, slow):
        assert (code, out) == (74, "")
        assert re.fullmatch(r"error: the change was saved, but the witness file \S+\.json could not be updated "
                            r"\(No space left on device\); the next write updates it\n", err), err
    assert len(session_rows(program_db)) == 2
    assert cli.ok("log", "P-0001", "30").exit_code == 0  # the witness one write behind, then caught up
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_amend_warns_as_log_does_on_both_paths(cli, program_db):
    """A session amended into what fidelity flags (clinical; moved to a control-arm participant) was
    amended without a word, where `log` warns."""
    cli.ok("log", "P-0001", "45")
    session = open_db(program_db).execute("SELECT id FROM session").fetchone()[0][:8]
    fast = by_quick(cli, program_db, ["amend", session, "--clinical", "--reason", "was clinical"])
    slow = by_typer(cli, program_db, ["amend", session, "--no-clinical", "--participant", "P-0002", "--reason", "moved"])
    assert fast == (0, f"amended session {session}\n", "warning: a clinical service was recorded, which "
                    "no-clinical-services flags: VPS does not provide one\n")
    assert slow[:2] == (0, f"amended session {session}\n")
    assert slow[2].startswith("warning: P-0002 is in the control arm: individual sessions break arm-integrity")


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_a_session_logged_with_standard_output_closed_ends_well_on_both_paths(program_db, debug):
    """`vpslog log ... >&-` (a cron job's habit): the quick path wrote its line to no stream and exited
    70 after saving, so a script that retries on failure logged the session twice; typer writes nothing."""
    done = subprocess.run([sys.executable, "-m", "vpslog", *debug, "log", "P-0001", "45"], env=os.environ.copy(),
                          capture_output=False, stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1), timeout=60)
    assert (done.returncode, done.stderr) == (0, b"")
    assert len(session_rows(program_db)) == 1


def test_ctrl_c_while_the_command_line_is_still_loading_ends_quietly(monkeypatch, capsys):
    """Ctrl-C in the first tenth of a second (vpslog still importing its modules) printed Python's
    traceback; later it ends with exit 130 and no message, and now from the start too."""
    from vpslog import quick

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(quick, "run", interrupted)
    monkeypatch.setattr(sys, "argv", ["vpslog", "sessions"])
    with pytest.raises(SystemExit) as ended:
        quick.main()
    assert ended.value.code == 130 and capsys.readouterr().err == ""


def test_the_vpslog_command_is_the_entry_point_that_guards_the_imports():
    """The console script is `vpslog:main` (which imports quick entry inside its Ctrl-C handler), and
    `python -m vpslog` runs the same."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"] == {"vpslog": "vpslog:main"}
    assert (root / "vpslog" / "__main__.py").read_text() == "from vpslog import main\n\nmain()\n"


def test_ctrl_c_while_vpslog_is_still_being_imported_ends_quietly(monkeypatch, capsys):
    """The `vpslog` command imports quick entry's modules inside its own handler: Ctrl-C there (the first
    tenth of a second) printed Python's traceback through `quick.py, line 18, in <module>`."""
    import types

    import vpslog

    class Importing(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt  # as if it came while the module was being imported

    monkeypatch.setitem(sys.modules, "vpslog.quick", Importing("vpslog.quick"))
    with pytest.raises(SystemExit) as ended:
        vpslog.main()
    assert ended.value.code == 130 and capsys.readouterr().err == ""
