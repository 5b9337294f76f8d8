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
    ('code = "resume"', 'code = "hope"', "component: duplicate component code hope"),
    ('vocational = true\ndescription = "Resumes', 'vocational = "sometimes"\ndescription = "Resumes',
     "component[8].vocational: input should be a valid boolean"),
    ('[[mode]]\ncode = "text"', '[[mode]]\ncode = "text"\ncolour = "blue"', "mode[3].colour: unknown key"),
    ('[[phase]]\ncode = "keep"', '[[phase\ncode = "keep"', "not valid TOML"),
])
def test_a_malformed_curriculum_is_refused_naming_the_file_and_key(own_schemas, old, new, message):
    path = own_schemas / "curriculum.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DataFileError) as refused:
        Catalog()
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)


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
    path.write_text(text.replace('"other"]\nrace', '"other", "two-spirit"]\nrace'))
    cli.ok("participant", "add", "VPS001", "--site", "S1", "--enrolled", "2026-01-01", "--gender", "two-spirit")
    result = cli("participant", "add", "P-0003", "--site", "S1", "--enrolled", "2026-01-01")
    assert result.exit_code == 1 and "is not a study code: use a pseudonymous code like P-0017 (pattern VPS[0-9]{3})" in result.stderr


def _schema(name: str) -> dict:
    import json

    return json.loads((REPO_SCHEMAS / name).read_text(encoding="utf-8"))


def test_every_command_json_output_validates_against_a_published_schema(cli, program_db):
    """What a script reads from --format json is what schemas/ says: JSON types, arrays for lists."""
    import json

    from jsonschema import Draft202012Validator

    from conftest import days_ago

    cli.ok("log", "P-0001", "45", "-d", days_ago(3), "-c", "career,hope", "-s", "emotional", "--location", "Room 1",
           "-n", "a note")
    cli.ok("log", "P-0001", "30", "-d", days_ago(2), "-t", "no-show")
    cli.ok("supervision", "log", "PS1", "1h", "-d", days_ago(5), "--supervisor", "Supervisor A", "-c", "bound,lived")
    cli.ok("milestone", "P-0001", "goal-set", "-d", days_ago(4), "-n", "a detail")
    cli.ok("participant", "add", "P-0003", "--site", "S1", "--enrolled", days_ago(90), "--arm", "vps")
    cli.ok("log", "P-0003", "45", "-d", days_ago(60))  # overdue: `due` lists it
    outputs = {
        ("sessions", "--all"): ("sessions.listing.schema.json", "session.schema.json"),
        ("supervision", "list"): ("supervision.listing.schema.json", "supervision.schema.json"),
        ("milestones",): ("milestones.listing.schema.json", "milestone.schema.json"),
        ("participant", "list"): (None, "participant.schema.json"),
        ("specialist", "list"): (None, "specialist.schema.json"),
        ("site", "list"): (None, "site.schema.json"),
        ("fidelity",): ("fidelity.report.schema.json", None),
        ("fidelity", "--explain", "adequate-dose"): ("fidelity-explain.listing.schema.json", None),
        ("due", "--specialist", "PS1"): ("due.listing.schema.json", None),
    }
    for command, (document, record) in outputs.items():
        output = json.loads(cli.ok(*command, "--format", "json").stdout)
        assert output, command
        if document:
            problems = [e.message for e in Draft202012Validator(_schema(document)).iter_errors(output)]
            assert problems == [], (command, problems[:3])
        for item in output if record else ():
            problems = [e.message for e in Draft202012Validator(_schema(record)).iter_errors(item)]
            assert problems == [], (command, problems[:3])
    [first, _] = json.loads(cli.ok("sessions", "--participant", "P-0001", "--format", "json").stdout)
    assert first["components"] == [] and first["clinical"] is False and "note" not in first
    session = json.loads(cli.ok("show", first["id"], "--format", "json").stdout)
    assert not list(Draft202012Validator(_schema("session.schema.json")).iter_errors(session))
    assert session["components"] == [] and session["entered_by"] == "PS1"
    [meeting] = json.loads(cli.ok("supervision", "list", "--format", "json").stdout)
    assert meeting["topics"] == ["boundaries", "lived-experience"] and meeting["group"] is False
