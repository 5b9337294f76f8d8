"""`vpslog screen` (eligibility) and `vpslog enroll` (consent and arm)."""

from typing import Annotated, Optional

import typer

from vpslog.commands.common import parse_day, program, say, warn
from vpslog.commands.participant import Arm
from vpslog.completion import complete_participant

IdArg = Annotated[str, typer.Argument(metavar="PARTICIPANT", autocompletion=complete_participant)]


def screen(
    ctx: typer.Context,
    participant: IdArg,
    date: Annotated[Optional[str], typer.Option("-d", "--date", help="Screening date (default today).")] = None,
    answer: Annotated[Optional[list[str]], typer.Option(
        "--answer", help="ID=yes|no for every criterion of schemas/eligibility.toml (else you are asked).")] = None,
) -> None:
    """Screen a participant against the eligibility criteria and store the result."""
    from vpslog.eligibility import load_criteria

    with program(ctx) as prog:
        criteria = load_criteria(prog.catalog.folder)
        day = parse_day(date, prog.today) or prog.today
        if answer:
            answers = _given(answer, criteria.ids)
        else:
            person = prog.screenable(participant, day)
            if prog.only_eligible(person, day):  # said before the questions, not after them
                warn(f"note: {person['id']} is enrolled: a screening on {day} would become their latest, so only "
                     "an eligible one can be recorded")
            answers = {c.id: _asked(f"{c.id}: {c.question}") for c in criteria.items}
        screening = prog.screen(participant, day, answers)
    if screening.eligible:
        say(f"{screening.participant_id} is eligible (screened {screening.date}, rules {screening.rules_version})")
    else:
        say(f"{screening.participant_id} is not eligible (screened {screening.date}, rules "
            f"{screening.rules_version}): {screening.reasons}")


def _asked(question: str) -> bool:
    """A yes or a no, asked until one is given: Enter alone answers nothing (it meant no, which
    passed an exclusion criterion unread)."""
    from vpslog.eligibility import parse_answer
    from vpslog.errors import InputError

    while True:
        try:
            return parse_answer(typer.prompt(f"{question} [yes/no]"))
        except InputError as exc:
            typer.echo(f"{exc}", err=True)


def _given(pairs: list[str], ids: tuple[str, ...]) -> dict[str, bool]:
    from vpslog.eligibility import parse_answer
    from vpslog.errors import InputError
    from vpslog.parsing import did_you_mean, quoted

    answers = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower()
        if not sep:
            raise InputError(f"--answer {quoted(pair)} not understood: use ID=yes or ID=no")
        if key not in ids:
            raise InputError(f"unknown criterion {quoted(key)}{did_you_mean(key, ids)}")
        answer = parse_answer(value)
        if answers.setdefault(key, answer) != answer:  # which one was meant is not for vpslog to guess
            raise InputError(f"criterion {key} is answered both yes and no; give it once")
    return answers


def enroll(
    ctx: typer.Context,
    participant: IdArg,
    consent: Annotated[str, typer.Option("--consent", help="Date consent was given.")],
    arm: Annotated[Optional[Arm], typer.Option("--arm", case_sensitive=False, help="Assign this arm.")] = None,
    randomize: Annotated[bool, typer.Option("--randomize", help="Allocate by permuted blocks per site.")] = False,
) -> None:
    """Enroll a screened, eligible participant: consent and arm (given or randomized)."""
    from vpslog.errors import UsageError

    if (arm is None) == (not randomize):
        raise UsageError("give exactly one of --arm vps|control or --randomize")
    with program(ctx) as prog:
        person = prog.enroll(participant, parse_day(consent, prog.today), arm.value if arm else None)
    how = "randomized to" if randomize else "assigned to"
    say(f"{person.id} enrolled (consent {person.consent_on}), {how} the {person.arm} arm")
