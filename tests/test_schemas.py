"""schemas/: the curriculum as data, and JSON Schemas that stay in step with the models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import snapshot
from vpslog.curriculum import Catalog, schemas_dir
from vpslog.errors import DataFileError
from vpslog.schemas import json_schemas

REPO_SCHEMAS = Path(__file__).parent.parent / "schemas"


def test_committed_json_schemas_match_the_models():
    """Fails when a model changed and `vpslog schema dump` was not run."""
    for name, content in json_schemas().items():
        path = REPO_SCHEMAS / name
        assert path.exists(), f"{name} missing: run `vpslog schema dump`"
        assert path.read_text(encoding="utf-8") == content, f"{name} is stale: run `vpslog schema dump`"


def test_schema_dump_writes_one_file_per_record(cli, tmp_path):
    result = cli.ok("schema", "dump", "--out", str(tmp_path / "out"))
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(json_schemas())
    assert "session.schema.json" in result.stdout


def test_the_curriculum_has_the_default_components_and_vocational_group():
    catalog = Catalog()
    assert len(catalog.components) == 16
    assert catalog.vocational_components == {
        "career-exploration", "job-search", "resume", "interview-prep", "employer-contact",
        "benefits-info", "education-training", "job-keeping"}
    assert catalog.codes("session_type") == ("individual", "group", "collateral", "no-show")


@pytest.fixture
def own_schemas(tmp_path, monkeypatch):
    folder = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), folder)
    monkeypatch.setenv("VPSLOG_SCHEMAS", str(folder))
    return folder


@pytest.mark.parametrize("old,new,message", [
    ('group = "core-connections"\nvocational = false\ndescription = "Open talk',
     'group = "core-connexions"\nvocational = false\ndescription = "Open talk',
     "component[1].group: unknown group 'core-connexions'; accepted: core-connections"),
    ('code = "hope"', 'code = "Hope!"', "component[15].code: string should match pattern"),
    ('code = "hope"', 'code = "hope\\n"', "component[15].code: string should match pattern"),  # `$` took it
    ('code = "resume"', 'code = "hope"', "component: duplicate component code hope"),
    ('vocational = true\ndescription = "Resumes', 'vocational = "sometimes"\ndescription = "Resumes',
     "component[8].vocational: input should be a valid boolean"),
    ('[[mode]]\ncode = "text"', '[[mode]]\ncode = "text"\ncolour = "blue"', "mode[3].colour: unknown key"),
    # two unknown keys: the first in sorted order, the same one every run (a set's order varied)
    ('[[mode]]\ncode = "text"', '[[mode]]\ncode = "text"\nzeta = 1\nalpha = 2\nmid = 3', "mode[3].alpha: unknown key"),
    ('[[phase]]\ncode = "keep"', '[[phase\ncode = "keep"', "not valid TOML"),
])
def test_a_malformed_curriculum_is_refused_naming_the_file_and_key(own_schemas, old, new, message):
    path = own_schemas / "curriculum.toml"
    refusal = _refusal(path, old, new, Catalog)
    assert refusal.startswith(f"{path}: ") and message in refusal


def _refusal(path: Path, old: str, new: str, load) -> str:
    """What `load` refuses once `old` in the data file at `path` reads `new`."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DataFileError) as refused:
        load()
    return str(refused.value)


@pytest.mark.parametrize("old,new,message", [
    # taken as they were: `true` as 1 minute a unit, and a negative top code gave every age as -4
    ("minutes_per_unit = 15", "minutes_per_unit = true", "units.minutes_per_unit: must be a whole number of minutes from 1 to 480 (got True)"),
    ("round_up_from = 8", "round_up_from = 16", "units.round_up_from: must be a whole number of minutes from 1 to 15 (got 16)"),
    ("top_code_above = 89", "top_code_above = -5", "deidentify.top_code_above: must be a whole number of years from 16 to 120 (got -5)"),
    ("top_code_above = 89", "top_code_above = 89\ntop_code_below = 18", "deidentify.top_code_below: unknown key"),
    ("[units]", "[billing]\nrate = 1\n\n[units]", "billing: unknown table; accepted: units, deidentify"),
])
def test_a_malformed_reports_file_is_refused_naming_the_file_and_key(own_schemas, old, new, message):
    from vpslog.export import load_settings

    path = own_schemas / "reports.toml"
    assert _refusal(path, old, new, lambda: load_settings(Catalog())) == f"{path}: {message}"


def test_a_malformed_curriculum_stops_the_cli_with_one_line(cli, program_db, own_schemas):
    path = own_schemas / "curriculum.toml"
    path.write_text(path.read_text().replace('code = "phone"', 'code = "phone"\ncode2 = 1'))
    before = snapshot(program_db)
    result = cli("log", "P-0001", "45")
    assert result.exit_code == 1
    assert result.stderr == f"error: {path}: mode[1].code2: unknown key\n"
    assert snapshot(program_db) == before


def test_a_program_can_add_its_own_component_without_code(cli, program_db, own_schemas):
    path = own_schemas / "curriculum.toml"
    path.write_text(path.read_text() + '\n[[component]]\ncode = "transport"\nname = "Transport"\n'
                    'group = "versatile-approach"\nvocational = false\ndescription = "Getting there."\n')
    cli.ok("log", "P-0001", "45", "-c", "trans")


def test_participant_pattern_and_demographic_codes_come_from_the_schemas(cli, program_db, own_schemas):
    path = own_schemas / "participants.toml"
    text = path.read_text().replace('pattern = "[A-Z]+-?[0-9]+"', 'pattern = "VPS[0-9]{3}"')
    text = text.replace('example = "P-0017"', 'example = "VPS017"')
    path.write_text(text.replace('"other"]\nrace', '"other", "two-spirit"]\nrace'))
    cli.ok("participant", "add", "VPS001", "--site", "S1", "--enrolled", "2026-01-01", "--gender", "two-spirit")
    result = cli("participant", "add", "P-0003", "--site", "S1", "--enrolled", "2026-01-01")
    assert result.exit_code == 1 and "is not a study code: use a pseudonymous code like VPS017 (pattern VPS[0-9]{3})" in result.stderr


@pytest.mark.parametrize("old,new,message", [
    # accepted before: a code given twice was listed twice (`did you mean female or female?`)
    ('gender = ["female", "male"', 'gender = ["female", "female"', "demographics.gender[1]: 'female' is given twice"),
    ('education = [', 'religion = ["none"]\neducation = [',
     "demographics.religion: unknown key; accepted: gender, race, residence, marital, education"),
    ("[id]", "[other]\nx = 1\n\n[id]", "other: unknown key"),
    ('example = "P-0017"', 'example = "P-0017"\nfoo = 1', "id.foo: unknown key"),
])
def test_a_malformed_participants_file_is_refused_naming_the_file_and_key(own_schemas, old, new, message):
    path = own_schemas / "participants.toml"
    assert _refusal(path, old, new, Catalog) == f"{path}: {message}"


def _schema(name: str) -> dict:
    import json

    return json.loads((REPO_SCHEMAS / name).read_text(encoding="utf-8"))


def _commands_with_a_format() -> set[tuple[str, ...]]:
    """Every command of the typer app (as its words) that takes --format."""
    import typer.main

    from vpslog.cli import app

    found = set()

    def walk(command, words: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):  # a group (typer 0.29 vendors click: no isinstance check)
            for name, sub in command.commands.items():
                walk(sub, (*words, name))
        elif any("--format" in param.opts for param in command.params):
            found.add(words)

    walk(typer.main.get_command(app), ())
    return found


def test_every_command_json_output_validates_against_a_published_schema(cli, program_db):
    """What a script reads from --format json is what schemas/ says: JSON types, arrays for lists.
    Every command that takes --format is here: a new one fails this test until it has a schema."""
    import json

    from jsonschema import Draft202012Validator

    from conftest import days_ago

    cli.ok("log", "P-0001", "45", "-d", days_ago(3), "-c", "career,hope", "-s", "emotional", "--location", "Room 1",
           "-n", "a note")
    cli.ok("log", "P-0001", "30", "-d", days_ago(2), "-t", "no-show")
    cli.ok("supervision", "log", "PS1", "1h", "-d", days_ago(5), "--supervisor", "Supervisor A", "-c", "bound,lived")
    cli.ok("milestone", "P-0001", "goal-set", "-d", days_ago(4), "-n", "a detail")
    cli.ok("participant", "add", "P-0003", "--site", "S1", "--enrolled", days_ago(90), "--arm", "vps", "--age", "34",
           "--gender", "female", "--working")
    cli.ok("log", "P-0003", "45", "-d", days_ago(60))  # overdue: `due` lists it
    cli.ok("participant", "add", "P-0004", "--site", "S1", "--enrolled", days_ago(10))
    cli.ok("screen", "P-0004", "-d", days_ago(10), *[arg for answer in (
        "smi=yes", "wants-peer-support=yes", "vocational-goal=yes", "data-collection=yes", "in-peer-support=no",
        "cannot-consent=no") for arg in ("--answer", answer)])
    cli.ok("enroll", "P-0004", "--consent", days_ago(9), "--randomize")  # `report allocation` lists it
    cli.ok("participant", "exit", "P-0002", "--on", days_ago(1), "--reason", "moved away")
    session_id = json.loads(cli.ok("sessions", "--format", "json").stdout)[0]["id"]
    cli.ok("export", "sites", "--out", "-")  # an event: `audit events` lists it
    cli.ok("review", "start", "--reviewer", "Reviewer A")
    review_id = json.loads(cli.ok("review", "list", "--format", "json").stdout)[0]["id"]
    outputs = {  # command words: (arguments, schema of the whole output, schema of each item)
        ("sessions",): (["--all"], "sessions.listing.schema.json", "session.schema.json"),
        ("show",): ([session_id], "session.schema.json", None),
        ("history",): ([session_id], "history.listing.schema.json", None),
        ("audit", "events"): ([], "audit-events.listing.schema.json", None),
        ("supervision", "list"): ([], "supervision.listing.schema.json", "supervision.schema.json"),
        ("milestones",): ([], "milestones.listing.schema.json", "milestone.schema.json"),
        ("participant", "list"): ([], None, "participant.schema.json"),
        ("participant", "show"): (["P-0001"], "participant-show.schema.json", None),
        ("specialist", "list"): ([], None, "specialist.schema.json"),
        ("site", "list"): ([], None, "site.schema.json"),
        ("config", "show"): ([], "config.listing.schema.json", None),
        ("fidelity",): ([], "fidelity.report.schema.json", None),
        ("due",): (["--specialist", "PS1"], "due.listing.schema.json", None),
        **{("report", name): ([], f"report-{name}.listing.schema.json", None)
           for name in ("dose", "flow", "baseline", "units", "allocation")},
        ("review", "list"): ([], "review-list.listing.schema.json", None),
        ("review", "show"): ([review_id], "review-show.listing.schema.json", None),
        ("review", "report"): ([review_id], "review-report.schema.json", None),
        ("review", "due"): ([], "review-due.listing.schema.json", None),
    }
    assert _commands_with_a_format() == set(outputs)
    runs = [(words, *spec) for words, spec in outputs.items()]
    runs.append((("fidelity",), ["--explain", "adequate-dose"], "fidelity-explain.listing.schema.json", None))
    runs.append((("history",), ["P-0002"], "history.listing.schema.json", None))  # a participant's: added, exited
    for words, arguments, document, record in runs:
        output = json.loads(cli.ok(*words, *arguments, "--format", "json").stdout)
        assert output, words
        if document:
            problems = [e.message for e in Draft202012Validator(_schema(document)).iter_errors(output)]
            assert problems == [], (words, problems[:3])
        for item in output if record else ():
            problems = [e.message for e in Draft202012Validator(_schema(record)).iter_errors(item)]
            assert problems == [], (words, problems[:3])
    [first, _] = json.loads(cli.ok("sessions", "--participant", "P-0001", "--format", "json").stdout)
    assert first["components"] == [] and first["clinical"] is False and "note" not in first
    session = json.loads(cli.ok("show", first["id"], "--format", "json").stdout)
    assert session["components"] == [] and session["entered_by"] == "PS1"
    [meeting] = json.loads(cli.ok("supervision", "list", "--format", "json").stdout)
    assert meeting["topics"] == ["boundaries", "lived-experience"] and meeting["group"] is False


def test_json_outputs_use_json_types_for_numbers_booleans_and_missing_values(cli, program_db):
    """Counts are numbers, flags booleans, an absent value null: never their table text."""
    import json

    from conftest import days_ago

    cli.ok("participant", "edit", "P-0001", "--working", "--reason", "baseline entered late")
    cli.ok("log", "P-0001", "45", "-d", days_ago(3))
    shown = json.loads(cli.ok("participant", "show", "P-0001", "--format", "json").stdout)
    assert (shown["sessions"], shown["individual"], shown["minutes"]) == (1, 1, 45)
    assert shown["working"] is True and shown["psych_meds"] is None and shown["first_session"] == days_ago(3)
    [created, edited] = json.loads(cli.ok("history", "P-0001", "--format", "json").stdout)
    assert type(created["seq"]) is int and created["seq"] < edited["seq"]
    assert (created["action"], created["reason"]) == ("insert", None)
    assert edited["changes"] == "working: None -> 1" and edited["reason"] == "baseline entered late"
    [dose] = [row for row in json.loads(cli.ok("report", "dose", "--format", "json").stdout)
              if row["participant"] == "P-0001"]
    assert (dose["individual_sessions"], dose["best_window"], dose["minutes"]) == (1, 1, 45)
    [units] = json.loads(cli.ok("report", "units", "--format", "json").stdout)
    assert (units["sessions"], units["minutes"], units["units"]) == (1, 45, 3)
    flow = json.loads(cli.ok("report", "flow", "--format", "json").stdout)
    assert {"step": "screened", "detail": "", "vps": None, "control": None, "total": 0} in flow
    assert {row["step"]: row["vps"] for row in flow}["enrolled and allocated"] == 1
    specialist = json.loads(cli.ok("config", "show", "--format", "json").stdout)[0]
    assert specialist == {"key": "specialist", "value": "PS1", "meaning": specialist["meaning"]}
