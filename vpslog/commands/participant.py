"""`vpslog participant add|list|show|exit|edit`."""

from enum import Enum
from typing import Annotated, Optional

import typer

from vpslog.commands.common import CodesInHelp, FormatOption, filtered, parse_day, program, say
from vpslog.completion import complete_participant
from vpslog.render import Format, emit, emit_record

app = typer.Typer(help="Participants (pseudonymous study codes only, never names).", no_args_is_help=True)
COLUMNS = ("id", "site_id", "enrolled_on", "arm", "consent_on", "status", "exited_on")


class Arm(str, Enum):
    vps = "vps"
    control = "control"


IdArg = Annotated[str, typer.Argument(metavar="ID", help="Study code, e.g. P-0017.",
                                      autocompletion=complete_participant)]
Site = Annotated[Optional[str], typer.Option("--site", metavar="ID", help="Site id.")]
Enrolled = Annotated[Optional[str], typer.Option("--enrolled", metavar="DATE", help="Enrollment date.")]
ArmOpt = Annotated[Optional[Arm], typer.Option("--arm", metavar="ARM", case_sensitive=False, help="Study arm: vps or control.")]
Consent = Annotated[Optional[str], typer.Option("--consent", metavar="DATE", help="Consent date.")]
Age = Annotated[Optional[int], typer.Option("--age", metavar="N", help="Age at enrollment.")]
BirthYear = Annotated[Optional[int], typer.Option("--birth-year", metavar="YEAR", help="Birth year (instead of --age).")]
Gender = Annotated[Optional[str], typer.Option("--gender", metavar="CODE", help="Gender: {gender}.")]
Race = Annotated[Optional[str], typer.Option("--race", metavar="CODE", help="Race/ethnicity: {race}.")]
Residence = Annotated[Optional[str], typer.Option("--residence", metavar="CODE", help="Residential status: {residence}.")]
Marital = Annotated[Optional[str], typer.Option("--marital", metavar="CODE", help="Marital status: {marital}.")]
Education = Annotated[Optional[str], typer.Option("--education", metavar="CODE", help="Education: {education}.")]
Working = Annotated[Optional[bool], typer.Option("--working/--not-working", help="Working for pay at baseline.")]
Ssdi = Annotated[Optional[bool], typer.Option("--ssdi-ssi/--no-ssdi-ssi", help="Receiving SSDI/SSI.")]
Meds = Annotated[Optional[bool], typer.Option("--psych-meds/--no-psych-meds", help="Taking psychotropic medication.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")]


def _fields(today, **values) -> dict:
    """The options given, as model fields; dates parsed, omitted ones left out."""
    for key in ("enrolled_on", "consent_on"):
        values[key] = parse_day(values[key], today)
    if values.get("arm") is not None:
        values["arm"] = values["arm"].value
    return {k: v for k, v in values.items() if v is not None}


@app.command("add", cls=CodesInHelp)
def add(ctx: typer.Context, participant_id: IdArg,
        site: Annotated[str, typer.Option("--site", metavar="ID", help="Site id.")],
        enrolled: Annotated[str, typer.Option("--enrolled", metavar="DATE", help="Enrollment date.")],
        arm: ArmOpt = None, consent: Consent = None, age: Age = None, birth_year: BirthYear = None,
        gender: Gender = None, race: Race = None, residence: Residence = None, marital: Marital = None,
        education: Education = None, working: Working = None, ssdi_ssi: Ssdi = None, psych_meds: Meds = None) -> None:
    """Add a participant by study code."""
    with program(ctx) as prog:
        fields = _fields(prog.today, enrolled_on=enrolled, arm=arm, consent_on=consent, age=age,
                         birth_year=birth_year, gender=gender, race=race, residence=residence, marital=marital,
                         education=education, working=working, ssdi_ssi=ssdi_ssi, psych_meds=psych_meds)
        person = prog.add_participant(participant_id, site, fields.pop("enrolled_on"), **fields)
    say(f"added participant {person.id} at site {person.site_id}, enrolled {person.enrolled_on}")


@app.command("edit", cls=CodesInHelp)
def edit(ctx: typer.Context, participant_id: IdArg, reason: Reason, site: Site = None,
         enrolled: Enrolled = None, arm: ArmOpt = None, consent: Consent = None, age: Age = None,
         birth_year: BirthYear = None, gender: Gender = None, race: Race = None, residence: Residence = None,
         marital: Marital = None, education: Education = None, working: Working = None,
         ssdi_ssi: Ssdi = None, psych_meds: Meds = None) -> None:
    """Correct a participant's enrollment or demographic fields, with a reason."""
    with program(ctx) as prog:
        changes = _fields(prog.today, site_id=site, enrolled_on=enrolled, arm=arm, consent_on=consent, age=age,
                          birth_year=birth_year, gender=gender, race=race, residence=residence, marital=marital,
                          education=education, working=working, ssdi_ssi=ssdi_ssi, psych_meds=psych_meds)
        if "age" in changes:
            changes.setdefault("birth_year", None)
        if "birth_year" in changes:
            changes.setdefault("age", None)
        person = prog.edit_participant(participant_id, changes, reason)
    say(f"updated participant {person.id}")


@app.command("exit")
def exit_(ctx: typer.Context, participant_id: IdArg,
          on: Annotated[str, typer.Option("--on", help="Exit date.")], reason: Reason) -> None:
    """Record that a participant left the program."""
    with program(ctx) as prog:
        person = prog.exit_participant(participant_id, parse_day(on, prog.today), reason)
    say(f"participant {person.id} exited on {person.exited_on}")


class Status(str, Enum):
    active = "active"
    exited = "exited"


@app.command("list")
def list_(ctx: typer.Context, site: Site = None,
          status: Annotated[Optional[Status], typer.Option("--status", case_sensitive=False,
                                                           help="active or exited.")] = None,
          fmt: FormatOption = Format.table) -> None:
    """List participants."""
    with program(ctx) as prog:
        rows = prog.store.participants(site=filtered(prog, "site", site), status=status.value if status else None)
    from vpslog.models import Participant

    columns = COLUMNS if fmt is Format.table else tuple(Participant.model_fields)
    emit([_booleans(row) for row in rows], columns, fmt, "participants")


@app.command("show")
def show(ctx: typer.Context, participant_id: IdArg, fmt: FormatOption = Format.table) -> None:
    """One participant, with session counts and first and last contact."""
    with program(ctx) as prog:
        row = prog.participant(participant_id)
        row = {**_booleans(row), **prog.store.participant_summary(row["id"])}
    if fmt is Format.json:  # as schemas/participant-show.schema.json describes it
        from vpslog.shapes import ParticipantShown

        row = ParticipantShown.model_validate(row).model_dump(mode="json")
    emit_record(row, fmt, f"participant {row['id']}")


def _booleans(row: dict) -> dict:
    return {k: bool(v) if k in ("working", "ssdi_ssi", "psych_meds") and v is not None else v for k, v in row.items()}
