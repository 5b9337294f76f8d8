"""A realistic synthetic VPS program for demonstrations and benchmarks.

Everything here is invented: sites and specialists are named by letter,
participants by study code. The same seed and `today` give the same records
(randomization uses a key derived from the seed, not the project secret).

The demo lives in a store of its own and only ever replaces a store that holds
nothing but an earlier demo (see `replace_refusal`).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from vpslog import config
from vpslog.core import Program
from vpslog.errors import InputError
from vpslog.files import create_private_temp_file, link_refusal, name_refusal
from vpslog.store import Store
from vpslog.store.base import key_for, open_connection

SITES = (("NORTH", "North site"), ("SOUTH", "South site"))
EXIT_REASONS = ("moved away", "withdrew", "lost contact", "reached goal")
CRITERIA_PASS = {"smi": True, "wants-peer-support": True, "vocational-goal": True, "data-collection": True,
                 "in-peer-support": False, "cannot-consent": False}


@dataclass
class DemoSummary:
    sites: int = 0
    specialists: int = 0
    screened: int = 0
    participants: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    supervisions: int = 0
    milestones: int = 0
    exits: int = 0
    late_entries: int = 0
    first_date: date | None = None
    last_date: date | None = None


def build_demo(prog: Program, seed: int = 1, participants: int = 88, days: int = 280) -> DemoSummary:
    """Fill `prog`'s store with one synthetic program, in a single transaction.

    The meta key `demo` records the seed, whether the store was empty before, and the audit head
    after the last record: a store whose head has moved since holds records the demo did not make.
    """
    rng = random.Random(seed)
    key = hashlib.sha256(f"vpslog-demo-{seed}".encode()).digest()
    today = prog.today
    yesterday = today - timedelta(days=1)  # entries up to today's midnight keep the demo deterministic
    start = today - timedelta(days=days)
    summary = DemoSummary()
    store = prog.store
    with store.transaction():
        empty = store.audit_head() is None and not any(store.record_counts().values())
        caseloads = _staff(prog, rng, start, yesterday, summary)
        for number in range(1, participants + 12):
            person = _intake(prog, rng, key, f"P-{number:04d}", start, days, summary)
            if person is not None and (person.arm == "vps" or rng.random() < 0.03):  # rarely, a control gets VPS
                _deliver(prog, rng, person, caseloads[person.site_id], yesterday, summary)
        _reviews(prog, rng, today)
        head_seq, head_hash = store.audit_head()
        store.set_meta("demo", json.dumps({"seed": seed, "into_empty_store": empty,
                                           "head_seq": head_seq, "head_hash": head_hash}))
    return summary


def replace_refusal(path: Path) -> str | None:
    """Why the demo may not be built at `path`; None when nothing is there or only an earlier demo.

    Only a pure demo store is ever replaced: built into an empty store, with no audit entry
    since that could change a record (exports are the only entries allowed: they change none).
    """
    if refusal := link_refusal(path) or name_refusal(path):  # (it is built under a longer temp name)
        return f"{refusal}; use another --db"
    if not path.exists():
        return None
    not_a_store = f"{path} is not a vpslog store; the demo replaces only its own earlier demo store: use another --db"
    store = Store(path, open_connection(path)[0], None)  # reads only; closed cleanly
    try:
        marker, records = store.meta("demo"), sum(store.record_counts().values())
        built = _marker(marker) if marker else None
        at_build = built and store.audit_entry(built["head_seq"])
        changes = store.changes_since(built["head_seq"]) if built else None
    except store.dbapi.DatabaseError:
        return not_a_store
    finally:
        store.close()
    if marker is None:
        return (f"{path} is a vpslog store with {records} records that the demo did not build; the demo never "
                "replaces real records: use another --db")
    if built is None or not built["into_empty_store"]:
        return (f"{path} holds demo records mixed with others; the demo never replaces real records: "
                "use another --db")
    if not at_build or at_build["hash"] != built["head_hash"]:
        return (f"{path} is a demo store whose audit trail no longer holds the entry it was built to; "
                "the demo never replaces real records: use another --db")
    if changes:
        return (f"{path} is a demo store whose records have changed since it was built ({changes} audit "
                f"entr{'y' if changes == 1 else 'ies'} since); the demo never replaces real records: use another --db")
    return None


def _refuse_unless_replaceable(path: Path) -> None:
    if refusal := replace_refusal(path):
        raise InputError(refusal)


def _marker(text: str) -> dict | None:
    """The meta `demo` record, or None when it is not one (an older vpslog stored only the seed)."""
    try:
        built = json.loads(text)
    except ValueError:
        return None
    keys = {"into_empty_store", "head_seq", "head_hash"}
    return built if isinstance(built, dict) and keys <= built.keys() else None


def build_demo_store(path: Path, seed: int, *, encrypt: bool = False) -> DemoSummary:
    """Build the demo into a new private file beside `path`, then rename it over `path`.

    Refused when `path` holds anything but an earlier demo. An encrypted earlier demo stays
    encrypted, under its key; `encrypt` makes a new key for a plain one (or none there yet), kept
    as `init --encrypt` keeps it, and put back if the build fails. A killed build leaves `path` as
    it was (the new store is complete before the rename) and only a `.NAME.tmp-…` file beside it.
    """
    from contextlib import nullcontext

    _refuse_unless_replaceable(path)
    key = key_for(path)
    if key is None and encrypt:
        from vpslog import keys

        key = keys.new_key(path)
        keeping = keys.kept(path, key)
    else:
        keeping = nullcontext()
    tmp = create_private_temp_file(path)
    witness = config.witness_path(tmp)  # the audit head kept outside the store, filed by the store's path
    try:
        with keeping:
            prog = Program.open(tmp, create=True, key=key)
            try:
                summary = build_demo(prog, seed=seed)
            finally:
                prog.close()
            _refuse_unless_replaceable(path)  # again: someone may have written to it while the demo was built
            for suffix in ("-wal", "-shm"):  # the earlier demo's; its connections are all closed
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            os.replace(tmp, path)
        if witness.exists():  # the new store's head, under its final name (an earlier store's no longer applies)
            os.replace(witness, config.witness_path(path))
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm"), witness):
            leftover.unlink(missing_ok=True)  # (a full disk stops the build with its log beside it)
    return summary


def _staff(prog: Program, rng: random.Random, start: date, until: date, summary: DemoSummary) -> dict:
    """Sites, six specialists (one trained late, one rarely supervised) and their supervision."""
    caseloads: dict[str, list[str]] = {}
    for site_id, name in SITES:
        prog.add_site(site_id, name)
        caseloads[site_id] = []
    for index, letter in enumerate("ABCDEF"):
        site_id, specialist = SITES[index % 2][0], f"PS{index + 1:02d}"
        trained = start + timedelta(days=40) if index == 5 else start - timedelta(days=rng.randint(10, 60))
        prog.add_specialist(specialist, site_id, f"Specialist {letter}", trained)
        caseloads[site_id].append(specialist)
        spacing = (30, 50) if index == 4 else (10, 30)
        day = start - timedelta(days=rng.randint(0, 20))
        while day <= until:
            prog.log_supervision(specialist, supervisor=f"Supervisor {'XY'[index % 2]}", minutes=rng.choice((30, 45, 60)),
                                 on=day, topics=rng.sample(prog.catalog.codes("supervision_topic"), 2))
            summary.supervisions += 1
            day += timedelta(days=rng.randint(*spacing))
    summary.sites, summary.specialists = len(SITES), 6
    return caseloads


def _intake(prog: Program, rng: random.Random, key: bytes, pid: str, start: date, days: int, summary: DemoSummary):
    """Add, screen and (when eligible) enroll one participant with randomized arm; None if screened out."""
    codes = prog.catalog.codes
    site_id = SITES[int(pid[-4:]) % 2][0]
    referred = start + timedelta(days=rng.randint(0, days - 60))
    age_or_year = {"age": rng.randint(19, 64)} if rng.random() < 0.8 else {"birth_year": prog.today.year - rng.randint(20, 64)}
    prog.add_participant(
        pid, site_id, referred, gender=rng.choice(codes("gender")), race=rng.choice(codes("race")),
        residence=rng.choice(codes("residence")), marital=rng.choice(codes("marital")),
        education=rng.choice(codes("education")), working=rng.random() < 0.2, ssdi_ssi=rng.random() < 0.6,
        psych_meds=rng.random() < 0.8, **age_or_year)
    answers = dict(CRITERIA_PASS)
    if rng.random() < 0.11:
        failing = rng.choice(sorted(answers))
        answers[failing] = not answers[failing]
    screening = prog.screen(pid, referred, answers)
    summary.screened += 1
    if not screening.eligible:
        prog.exit_participant(pid, referred, "screened out")
        summary.exits += 1
        return None
    person = prog.enroll(pid, referred + timedelta(days=rng.randint(0, 3)), sequence_key=key)
    summary.participants[person.arm] = summary.participants.get(person.arm, 0) + 1
    return person


def _deliver(prog: Program, rng: random.Random, person, specialists: list[str], until: date,
             summary: DemoSummary) -> None:
    """Irregular sessions from enrollment on; some participants drift away or exit."""
    codes, catalog = prog.catalog.codes, prog.catalog
    vocational = sorted(catalog.vocational_components)
    other = [c for c in catalog.components if c not in catalog.vocational_components]
    specialist = rng.choice(specialists)
    pace = rng.choice((5, 6, 7, 8, 10, 12, 14))  # mean days between contacts
    day = person.consent_on + timedelta(days=rng.randint(0, 5))
    leaves = rng.random() < 0.1
    stop = min(until, person.enrolled_on + timedelta(days=rng.randint(40, 200))) if leaves else until
    midnight = datetime.combine(until + timedelta(days=1), time(0)).astimezone(UTC)  # today began (local): past
    last = None
    while day <= stop:
        kind = "no-show" if rng.random() < 0.1 else ("collateral" if rng.random() < 0.04 else "individual")
        lag = rng.choice((0, 0, 0, 1, 1, 2)) if rng.random() < 0.97 else rng.randint(4, 20)
        entered = datetime.combine(day + timedelta(days=lag), time(17, rng.randint(0, 59)), UTC)
        content = {}  # a no-show records none
        if kind in catalog.delivered_types:
            content = {"components": rng.sample(vocational, rng.randint(0, 2) if rng.random() < 0.8 else 0)
                       + rng.sample(other, rng.randint(1, 2)),
                       "supports": rng.sample(codes("support_type"), rng.randint(1, 2)), "phase": rng.choice(codes("phase"))}
        prog.log_session(
            person.id, specialist=specialist, minutes=rng.choice((15, 30, 45, 45, 60, 60, 90)), on=day,
            type=kind, mode=rng.choices(codes("mode"), (6, 3, 1, 1))[0], **content,
            clinical=rng.random() < 0.003, entered_at=min(entered, midnight), session_id=f"{rng.getrandbits(128):032x}")
        summary.sessions[kind] = summary.sessions.get(kind, 0) + 1
        summary.late_entries += lag > 3
        summary.first_date = min(summary.first_date or day, day)
        summary.last_date = max(summary.last_date or day, day)
        last = day
        day += timedelta(days=max(1, round(rng.expovariate(1 / pace))))
        if rng.random() < 0.15:
            milestone = rng.choice(codes("milestone_kind"))
            prog.log_milestone(person.id, milestone, on=last)
            summary.milestones += 1
    if last and leaves and stop < until:
        prog.exit_participant(person.id, stop, rng.choice(EXIT_REASONS))
        summary.exits += 1


REVIEW_ITEMS = ("core-connections", "role-modeling", "versatile-approach", "vocational-content",
                "emotional-supports", "supervision-quality")
"""The default scale's reviewer items, which the demo's reviewers score."""


def _reviews(prog: Program, rng: random.Random, today: date) -> None:
    """A signed review of the first site four months ago, its action plan partly followed up, and
    the follow-up review of the same site in progress (half its reviewer items scored)."""
    from vpslog.review.program import Reviews

    reviews, site = Reviews(prog), SITES[0][0]
    first = reviews.start(["Reviewer A", "Reviewer B"], site=site, as_of=today - timedelta(days=120))
    _observe(prog, reviews, rng, first, 3)
    for item in REVIEW_ITEMS:
        reviews.score(first.id, item, rng.choice((2, 3, 3, 4)), rng.choice(("interview", "observation")),
                      "synthetic evidence from the demo")
    reviews.find(first.id, "strength", "Side-by-side relationships; participants feel heard", item="core-connections")
    done = reviews.find(first.id, "recommendation", "Discuss purposeful self-disclosure in supervision",
                        item="role-modeling", owner="PS01", due=today - timedelta(days=60))
    reviews.find(first.id, "recommendation", "Offer benefits counselling information to every participant",
                 item="vocational-content", owner="PS03", due=today - timedelta(days=30))
    reviews.sign(first.id)
    reviews.follow_up(done.id, "done", today - timedelta(days=70), "added to the supervision agenda")
    second = reviews.start(["Reviewer A"], site=site, as_of=today - timedelta(days=1))
    _observe(prog, reviews, rng, second, 2)
    for item in REVIEW_ITEMS[:3]:
        reviews.score(second.id, item, rng.choice((3, 4, 4, 5)), "observation", "synthetic evidence from the demo")


def _observe(prog: Program, reviews, rng: random.Random, review, count: int) -> None:
    """Observe `count` individual sessions of the review's site in its last month."""
    site_of = {row["id"]: row["site_id"] for row in prog.store.participants(site=review.site_id)}
    sessions = [row for row in prog.store.sessions(since=(review.as_of - timedelta(days=30)).isoformat(),
                                                   until=review.as_of.isoformat())
                if row["participant_id"] in site_of and row["type"] == "individual"]
    components = prog.catalog.components
    for row in rng.sample(sessions, min(count, len(sessions))):
        present = tuple(code for code in components if code in row["components"].split(";"))
        absent = tuple(rng.sample([code for code in components if code not in present], 2))
        reviews.observe(review.id, row["id"], present or absent[:1], absent[1:] if not present else absent)

