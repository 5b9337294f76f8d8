"""Eligibility screening, enrollment with consent, and randomized allocation."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import days_ago, open_db, snapshot
from vpslog.curriculum import schemas_dir
from vpslog.randomization import allocate, site_sequence

YES = ["smi", "wants-peer-support", "vocational-goal", "data-collection"]
NO = ["in-peer-support", "cannot-consent"]


def answers(**override) -> list[str]:
    given = {**{k: "yes" for k in YES}, **{k: "no" for k in NO}, **{k.replace("_", "-"): v for k, v in override.items()}}
    return [arg for key, value in given.items() for arg in ("--answer", f"{key}={value}")]


@pytest.fixture
def newcomers(cli, program_db):
    """Three participants without an arm yet."""
    for n in (3, 4, 5):
        cli.ok("participant", "add", f"P-000{n}", "--site", "S1", "--enrolled", days_ago(20))
    return program_db


def screenings(db):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM screening ORDER BY entered_at, rowid")]
    finally:
        conn.close()


def test_screen_stores_answers_result_and_rules_version(cli, newcomers):
    result = cli.ok("screen", "P-0003", "-d", days_ago(19), *answers())
    [row] = screenings(newcomers)
    assert result.stdout == f"P-0003 is eligible (screened {days_ago(19)}, rules {row['rules_version']})\n"
    assert json.loads(row["answers"]) == {"smi": True, "wants-peer-support": True, "vocational-goal": True,
                                          "data-collection": True, "in-peer-support": False, "cannot-consent": False}
    assert (row["eligible"], row["reasons"], row["date"]) == (1, "", days_ago(19))
    assert len(row["rules_version"]) == 16


def test_screen_gives_every_reason_for_an_ineligible_result(cli, newcomers):
    result = cli.ok("screen", "P-0003", *answers(vocational_goal="no", in_peer_support="yes"))
    assert "is not eligible" in result.stdout
    assert result.stdout.rstrip().endswith(
        "not interested in pursuing a vocational goal; already actively involved in peer support services")
    assert screenings(newcomers)[0]["eligible"] == 0


def test_screen_asks_each_question_when_no_answers_are_given(cli, newcomers):
    result = cli.ok("screen", "P-0003", input="y\ny\ny\ny\nn\nn\n")
    assert "Is the person interested in receiving peer support?" in result.stdout
    assert "P-0003 is eligible" in result.stdout


def test_the_rules_version_follows_the_content_of_the_file(cli, newcomers, tmp_path, monkeypatch):
    cli.ok("screen", "P-0003", *answers())
    folder = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), folder)
    path = folder / "eligibility.toml"
    path.write_text(path.read_text().replace("periodic data collection?", "data collection every 3 months?"))
    monkeypatch.setenv("VPSLOG_SCHEMAS", str(folder))
    cli.ok("screen", "P-0004", *answers())
    first, second = screenings(newcomers)
    assert first["rules_version"] != second["rules_version"]


SCREEN_REFUSALS = [
    (["screen", "P-0003", "--answer", "smi=yes"],
     "error: no answer for wants-peer-support, vocational-goal, data-collection, in-peer-support, cannot-consent: "
     "every criterion needs yes or no"),
    (["screen", "P-0003", *answers(), "--answer", "smj=yes"], "error: unknown criterion 'smj'; did you mean smi?"),
    (["screen", "P-0003", *answers(smi="maybe")], "error: answer 'maybe' not understood: use yes or no"),
    (["screen", "P-0003", "--answer", "smi"], "error: --answer 'smi' not understood: use ID=yes or ID=no"),
    (["screen", "P-0003", *answers(), "--answer", "smi=no"], "error: criterion smi is answered both yes and no; give it once"),
    (["screen", "P-0099", *answers()], "error: unknown participant 'P-0099'"),
    (["screen", "P-0003", "-d", "2999-01-01", *answers()], "error: screening date 2999-01-01 is in the future"),
]


@pytest.mark.parametrize("args,message", SCREEN_REFUSALS, ids=range(len(SCREEN_REFUSALS)))
def test_screen_refuses_bad_answers_and_writes_nothing(cli, newcomers, args, message):
    before = snapshot(newcomers)
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert snapshot(newcomers) == before


def test_enroll_refuses_without_a_passing_screening_or_consent(cli, newcomers):
    before = snapshot(newcomers)
    result = cli("enroll", "P-0003", "--consent", days_ago(5), "--arm", "vps")
    assert result.exit_code == 1 and result.stderr == "error: P-0003 has no screening: run `vpslog screen P-0003` first\n"
    assert snapshot(newcomers) == before
    cli.ok("screen", "P-0003", "-d", days_ago(6), *answers(smi="no"))
    before = snapshot(newcomers)
    result = cli("enroll", "P-0003", "--consent", days_ago(5), "--randomize")
    assert result.exit_code == 1
    assert result.stderr == (f"error: P-0003 was not eligible at screening on {days_ago(6)}: "
                             "no serious mental illness sufficient for public mental health services\n")
    result = cli("enroll", "P-0003", "--randomize")
    assert result.exit_code == 2 and "--consent" in result.output
    assert snapshot(newcomers) == before


def test_enroll_needs_exactly_one_of_arm_or_randomize(cli, newcomers):
    cli.ok("screen", "P-0003", *answers())
    before = snapshot(newcomers)
    for extra in ([], ["--arm", "vps", "--randomize"]):
        result = cli("enroll", "P-0003", "--consent", days_ago(1), *extra)
        assert result.exit_code == 2
        assert result.stderr == "error: give exactly one of --arm vps|control or --randomize\n"
    assert snapshot(newcomers) == before


def test_enroll_with_an_arm_records_consent_and_is_audited(cli, newcomers):
    cli.ok("screen", "P-0003", *answers())
    result = cli.ok("enroll", "P-0003", "--consent", days_ago(2), "--arm", "control")
    assert result.stdout == f"P-0003 enrolled (consent {days_ago(2)}), assigned to the control arm\n"
    person = json.loads(cli.ok("participant", "show", "P-0003", "--format", "json").stdout)
    assert (person["arm"], person["consent_on"]) == ("control", days_ago(2))
    history = json.loads(cli.ok("history", "P-0003", "--format", "json").stdout)
    assert history[-1]["action"] == "enroll"
    result = cli("enroll", "P-0003", "--consent", days_ago(2), "--arm", "vps")
    assert result.exit_code == 1 and result.stderr == "error: P-0003 is already allocated to the control arm\n"


def test_randomize_follows_the_secret_sequence_of_the_site_and_audits_it(cli, newcomers, env):
    secret = bytes.fromhex((env.parent.parent / "config" / "secret").read_text().strip())
    arms = []
    for n in (3, 4, 5):
        cli.ok("screen", f"P-000{n}", *answers())
        out = cli.ok("enroll", f"P-000{n}", "--consent", days_ago(1), "--randomize").stdout
        arms.append(out.rstrip().split(" the ")[1].split(" ")[0])
    assert arms == [allocate(secret, "S1", k) for k in (1, 2, 3)]
    conn = sqlite3.connect(env)
    rows = conn.execute("SELECT participant_id, number, arm FROM allocation ORDER BY number").fetchall()
    audited = conn.execute("SELECT count(*) FROM audit WHERE action = 'randomize'").fetchone()[0]
    conn.close()
    assert rows == [("P-0003", 1, arms[0]), ("P-0004", 2, arms[1]), ("P-0005", 3, arms[2])]
    assert audited == 3
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


@given(st.binary(min_size=32, max_size=32), st.text(min_size=1, max_size=8), st.integers(1, 60))
def test_every_completed_block_is_balanced(secret, site, n):
    """Permuted blocks of 2 and 4: the arms never differ by more than 2."""
    sequence = site_sequence(secret, site)
    counts = Counter(next(sequence) for _ in range(n))
    assert abs(counts["vps"] - counts["control"]) <= 2
    assert set(counts) <= {"vps", "control"}


def test_sites_have_their_own_sequences_and_secrets_matter():
    secret = b"s" * 32
    first = [allocate(secret, "NORTH", k) for k in range(1, 41)]
    assert first == [allocate(secret, "NORTH", k) for k in range(1, 41)]
    assert first != [allocate(secret, "SOUTH", k) for k in range(1, 41)]
    assert first != [allocate(b"t" * 32, "NORTH", k) for k in range(1, 41)]


def test_a_randomized_participants_arm_cannot_be_edited_away_from_its_allocation(cli, newcomers):
    cli.ok("screen", "P-0003", "-d", days_ago(6), *answers())
    cli.ok("enroll", "P-0003", "--consent", days_ago(5), "--randomize")
    allocation = dict(open_db(newcomers).execute("SELECT * FROM allocation WHERE participant_id = 'P-0003'").fetchone())
    other = "control" if allocation["arm"] == "vps" else "vps"
    before = snapshot(newcomers)
    result = cli("participant", "edit", "P-0003", "--arm", other, "--reason", "randomization entered wrongly")
    assert (result.exit_code, result.stderr) == (1, (
        f"error: P-0003 was randomized to {allocation['arm']} (allocation {allocation['number']} at S1): "
        "the arm is the allocation's and cannot be edited\n"))
    assert snapshot(newcomers) == before
    cli.ok("participant", "edit", "P-0003", "--age", "40", "--reason", "age")  # the arm untouched: no refusal
    cli.ok("participant", "edit", "P-0003", "--arm", allocation["arm"], "--age", "41", "--reason", "the same arm")


def test_screen_asks_until_each_answer_is_yes_or_no(cli, newcomers):
    """Enter alone meant no, which passed an exclusion criterion (`cannot-consent`) unread."""
    result = cli.ok("screen", "P-0003", input="y\ny\ny\ny\n\n\nn\nmaybe\nno\n")
    assert "P-0003 is eligible" in result.stdout
    assert result.stdout.count("in-peer-support:") == 3 and result.stdout.count("cannot-consent:") == 2  # asked again
    assert "answer 'maybe' not understood: use yes or no" in result.stderr
    assert json.loads(screenings(newcomers)[-1]["answers"])["cannot-consent"] is False


@pytest.mark.parametrize("args,message", [
    (["screen", "P-0099"], "error: unknown participant 'P-0099'"),
    (["screen", "P-0003", "-d", "2999-01-01"], "error: screening date 2999-01-01 is in the future"),
    # a re-screen after enrollment: `report flow` then counted an allocated participant as ineligible
    (["screen", "P-0001", "-d", days_ago(10)], f"error: P-0001 is enrolled in the vps arm (on {days_ago(120)}): a "
                                               "screening after that day would change who was eligible"),
])
def test_screen_checks_the_participant_and_the_date_before_asking_anything(cli, newcomers, args, message):
    before = snapshot(newcomers)
    result = cli(*args, input="y\n" * 6)
    assert result.exit_code == 1 and result.stderr.startswith(message) and "smi:" not in result.stdout
    assert snapshot(newcomers) == before


def test_screenings_made_before_an_enrollment_by_hand_can_still_be_recorded(cli, newcomers):
    """A participant given an arm by hand (an older program) may have the screenings made before it
    recorded, eligible or not, as long as an ineligible one would not become the one that counts (one
    dated between the eligible screening and the consent flipped an allocated participant to
    ineligible in the flow, randomized or not)."""
    cli.ok("screen", "P-0002", "-d", days_ago(70), *answers())
    cli.ok("screen", "P-0002", "-d", days_ago(90), *answers(vocational_goal="no"))  # before the latest: history
    cli.ok("screen", "P-0002", "-d", days_ago(60), *answers())  # the enrollment day's, eligible
    cli.ok("screen", "P-0002", "-d", days_ago(65), *answers(vocational_goal="no"))  # before the latest: history
    before = snapshot(newcomers)
    result = cli("screen", "P-0002", "-d", days_ago(60), *answers(vocational_goal="no"))  # it would be the latest
    assert (result.exit_code, result.stderr) == (1, (
        "error: P-0002 is enrolled in the control arm: this screening is not eligible, and as their latest it "
        "would count, making them ineligible at enrollment (an earlier ineligible one is recorded once the "
        "eligible screening that followed it is); nothing was written\n"))
    asked = cli("screen", "P-0002", "-d", days_ago(60), input="y\ny\nn\ny\nn\nn\n")  # said before the questions
    assert asked.stderr.startswith(f"note: P-0002 is enrolled: a screening on {days_ago(60)} would become their "
                                   "latest, so only an eligible one can be recorded\n") and asked.exit_code == 1
    assert snapshot(newcomers) == before


def test_a_randomized_participant_is_not_made_ineligible_by_a_screening_before_their_consent(cli, newcomers):
    """Screened eligible on one day, consented two days later: an ineligible screening dated between
    became the latest, and the flow counted an allocated participant as ineligible."""
    cli.ok("screen", "P-0003", "-d", days_ago(10), *answers())
    cli.ok("enroll", "P-0003", "--consent", days_ago(8), "--randomize")
    before = snapshot(newcomers)
    result = cli("screen", "P-0003", "-d", days_ago(9), *answers(vocational_goal="no"))
    assert result.exit_code == 1 and "this screening is not eligible, and as their latest it would count" in result.stderr
    assert snapshot(newcomers) == before
    cli.ok("screen", "P-0003", "-d", days_ago(9), *answers())  # an eligible one changes nothing that counts


def test_an_allocation_brought_in_is_kept_and_later_numbers_follow_it(cli, newcomers, tmp_path):
    """An allocation imported with number 8 at a site that had 1: randomizing took the count plus one,
    2, then 3 ... until 8, refused by the store for every participant after; and `enroll --arm`
    gave its participant the other arm, against the allocation."""
    for n in (3, 4, 5):
        cli.ok("screen", f"P-000{n}", *answers())
    cli.ok("enroll", "P-0003", "--consent", days_ago(1), "--randomize")  # number 1
    path = tmp_path / "allocations.csv"
    path.write_text("id,participant_id,site_id,number,arm,allocated_at\n"
                    f"{'9' * 32},P-0004,S1,8,vps,{days_ago(2)}T10:00:00Z\n", encoding="utf-8")
    cli.ok("import", "allocations", str(path))
    before = snapshot(newcomers)
    result = cli("enroll", "P-0004", "--consent", days_ago(1), "--arm", "control")
    assert (result.exit_code, result.stderr) == (1, "error: P-0004 was randomized to vps (allocation 8 at S1): "
                                                    "enroll with --arm vps, the allocation's\n")
    assert snapshot(newcomers) == before
    cli.ok("enroll", "P-0004", "--consent", days_ago(1), "--arm", "vps")
    cli.ok("enroll", "P-0005", "--consent", days_ago(1), "--randomize")
    numbers = open_db(newcomers).execute("SELECT participant_id, number FROM allocation ORDER BY number").fetchall()
    assert [tuple(row) for row in numbers] == [("P-0003", 1), ("P-0004", 8), ("P-0005", 9)]
