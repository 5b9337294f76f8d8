"""A realistic synthetic VPS program for demonstrations and benchmarks.

Everything here is invented: sites and specialists are named by letter,
participants by study code. The same seed and `today` give the same records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from vpslog.core import Program

SITES = (("NORTH", "North site"), ("SOUTH", "South site"))
EXIT_REASONS = ("moved away", "withdrew", "lost contact", "reached goal")


@dataclass
class DemoSummary:
    sites: int = 0
    specialists: int = 0
    participants: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    exits: int = 0
    late_entries: int = 0
    first_date: date | None = None
    last_date: date | None = None


def build_demo(prog: Program, seed: int = 1, participants: int = 88, days: int = 300) -> DemoSummary:
    """Fill `prog`'s store with one synthetic program, in a single transaction."""
    rng = random.Random(seed)
    today = prog.today
    start = today - timedelta(days=days)
    summary = DemoSummary()
    codes = prog.catalog.codes
    vocational = sorted(prog.catalog.vocational_components)
    other = [c for c in prog.catalog.components if c not in prog.catalog.vocational_components]
    with prog.store.transaction():
        specialists: dict[str, list[str]] = {}
        for site_id, name in SITES:
            prog.add_site(site_id, name)
            specialists[site_id] = []
        letters = "ABCDEF"
        for index, letter in enumerate(letters):
            site_id = SITES[index % 2][0]
            trained = start - timedelta(days=rng.randint(10, 60))
            if index == 5:  # one specialist was trained after starting to deliver
                trained = start + timedelta(days=40)
            prog.add_specialist(f"PS{index + 1:02d}", site_id, f"Specialist {letter}", trained)
            specialists[site_id].append(f"PS{index + 1:02d}")
        summary.sites, summary.specialists = len(SITES), len(letters)

        arms = ["vps", "control"] * (participants // 2) + ["vps"] * (participants % 2)
        rng.shuffle(arms)
        for number, arm in enumerate(arms, start=1):
            site_id = SITES[number % 2][0]
            enrolled = start + timedelta(days=rng.randint(0, days - 60))
            age_or_year = {"age": rng.randint(19, 64)} if rng.random() < 0.8 else {"birth_year": today.year - rng.randint(20, 64)}
            person = prog.add_participant(
                f"P-{number:04d}", site_id, enrolled, arm=arm, consent_on=enrolled,
                gender=rng.choice(codes("gender")), race=rng.choice(codes("race")),
                residence=rng.choice(codes("residence")), marital=rng.choice(codes("marital")),
                education=rng.choice(codes("education")), working=rng.random() < 0.2,
                ssdi_ssi=rng.random() < 0.6, psych_meds=rng.random() < 0.8, **age_or_year)
            summary.participants[arm] = summary.participants.get(arm, 0) + 1
            if arm == "control" and rng.random() > 0.03:  # services as usual, not VPS (rarely, a mistake)
                left = enrolled + timedelta(days=rng.randint(30, 200))
                if rng.random() < 0.1 and left < today:
                    prog.exit_participant(person.id, left, rng.choice(EXIT_REASONS))
                    summary.exits += 1
                continue
            specialist = rng.choice(specialists[site_id])
            engagement = rng.choice((4, 6, 9, 12, 16, 22, 30))  # mean days between contacts varies widely
            day, last = enrolled + timedelta(days=rng.randint(0, 10)), None
            leaves = rng.random() < 0.12
            yesterday = today - timedelta(days=1)  # entries up to today's midnight keep the demo deterministic
            stop = min(yesterday, enrolled + timedelta(days=rng.randint(30, 200))) if leaves else yesterday
            while day <= stop:
                kind = "no-show" if rng.random() < 0.12 else ("collateral" if rng.random() < 0.05 else "individual")
                lag = rng.choice((0, 0, 0, 1, 1, 2)) if rng.random() < 0.96 else rng.randint(4, 20)
                entered = datetime.combine(day + timedelta(days=lag), time(17, rng.randint(0, 59)), UTC)
                chosen = rng.sample(vocational, rng.randint(0, 2)) + rng.sample(other, rng.randint(1, 2))
                prog.log_session(
                    person.id, specialist=specialist, minutes=rng.choice((15, 30, 45, 45, 60, 60, 90)),
                    on=day, type=kind, mode=rng.choices(codes("mode"), (6, 3, 1, 1))[0],
                    components=() if kind == "no-show" else chosen,
                    supports=rng.sample(codes("support_type"), rng.randint(1, 2)),
                    phase=rng.choice(codes("phase")), clinical=rng.random() < 0.005,
                    entered_at=min(entered, datetime.combine(today, time(0), UTC)),
                    session_id=f"{rng.getrandbits(128):032x}")
                summary.sessions[kind] = summary.sessions.get(kind, 0) + 1
                summary.late_entries += lag > 3
                summary.first_date = min(summary.first_date or day, day)
                summary.last_date = max(summary.last_date or day, day)
                last = day
                day += timedelta(days=max(1, int(rng.expovariate(1 / engagement))))
            if last and leaves and stop < yesterday:
                prog.exit_participant(person.id, stop, rng.choice(EXIT_REASONS))
                summary.exits += 1
        prog.store.set_meta("demo", str(seed))
    return summary
