"""`vpslog review ...`: fidelity reviews. Reviewers score every item of schemas/review.toml 1-5
(record-based items are scored from the fidelity rules when the review starts), observe
sessions, write strengths and recommendations, sign; the action plan is followed up after."""

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from vpslog.commands.common import FormatOption, parse_day, program, say, sweep_leftovers, warn_clear_output
from vpslog.render import Format, json_text

app = typer.Typer(help="Fidelity reviews: reviewer-rated items, recommendations and their follow-up.",
                  no_args_is_help=True)

ReviewId = Annotated[str, typer.Argument(help="Review id (any unique prefix).", show_default=False)]
Addendum = Annotated[Optional[str], typer.Option(
    "--addendum", metavar="REASON", help="Change a signed review, as an addendum with this reason.")]
Item = Annotated[Optional[str], typer.Option("--item", help="The review item it concerns.")]


class ReportFormat(str, Enum):
    markdown = "markdown"
    json = "json"
    html = "html"


def _reviews(prog):
    from vpslog.review.program import Reviews

    return Reviews(prog)


@app.command("start")
def start(
    ctx: typer.Context,
    reviewer: Annotated[Optional[list[str]], typer.Option("--reviewer", help="A reviewer's name (repeat for each).")] = None,
    site: Annotated[Optional[str], typer.Option("--site", help="The site reviewed (default: the whole program).")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="The review date (default today).")] = None,
) -> None:
    """Start a review; the record-based items are scored at once from the fidelity rules."""
    with program(ctx) as prog:
        reviews = _reviews(prog)
        review = reviews.start(reviewer or [], site=site, as_of=parse_day(as_of, prog.today))
        items = prog.store.review_part("review_item", review.id)
    scored = sum(row["score"] is not None for row in items)
    waiting = sum("records" not in row["sources"] for row in items)
    say(f"started review {review.id[:8]} of {review.site_id or 'the program'} as of {review.as_of}: "
        f"{scored} items scored from the records, {waiting} for the reviewers")


@app.command("score")
def score(
    ctx: typer.Context,
    review: ReviewId,
    item: Annotated[str, typer.Argument(help="Item id of schemas/review.toml (any unique prefix).", show_default=False)],
    value: Annotated[int, typer.Argument(metavar="SCORE", help="1 to 5.", show_default=False)],
    source: Annotated[str, typer.Option("--source", help="interview, observation or documents.")] = "",
    evidence: Annotated[Optional[str], typer.Option("-n", "--evidence", help="What the score rests on (required).")] = None,
    addendum: Addendum = None,
) -> None:
    """Score an item (or override a record-based one, keeping the computed score)."""
    with program(ctx) as prog:
        row = _reviews(prog).score(review, item, value, source, evidence, addendum)
    override = f" (records gave {row.computed_score})" if row.computed_score not in (None, row.score) else ""
    say(f"scored {row.item}: {row.score}{override}")


@app.command("observe")
def observe(
    ctx: typer.Context,
    review: ReviewId,
    session: Annotated[str, typer.Option("--session", help="The session observed (id prefix).", show_default=False)],
    present: Annotated[Optional[list[str]], typer.Option("--present", help="Components seen, comma list.")] = None,
    absent: Annotated[Optional[list[str]], typer.Option("--absent", help="Components looked for and not seen.")] = None,
    addendum: Addendum = None,
) -> None:
    """Record a session observation against the curriculum components."""
    from vpslog.parsing import resolve_codes

    with program(ctx) as prog:
        known = prog.catalog.components
        observation = _reviews(prog).observe(review, session, resolve_codes(present or (), known, "component"),
                                             resolve_codes(absent or (), known, "component"), addendum)
    say(f"observed session {observation.session_id[:8]}: {len(observation.present)} present, "
        f"{len(observation.absent)} absent")


@app.command("recommend")
def recommend(
    ctx: typer.Context,
    review: ReviewId,
    text: Annotated[str, typer.Argument(help="The recommendation.", show_default=False)],
    item: Item = None,
    owner: Annotated[Optional[str], typer.Option("--owner", help="The specialist who owns the action.")] = None,
    due: Annotated[Optional[str], typer.Option("--due", help="When the action is due.")] = None,
    addendum: Addendum = None,
) -> None:
    """Add a recommendation: an action item followed up with `vpslog review action`."""
    with program(ctx) as prog:
        finding = _reviews(prog).find(review, "recommendation", text, item=item, owner=owner,
                                      due=parse_day(due, prog.today), addendum=addendum)
    say(f"recommendation {finding.id[:8]} added (open" + (f", due {finding.due})" if finding.due else ")"))


@app.command("strength")
def strength(ctx: typer.Context, review: ReviewId,
             text: Annotated[str, typer.Argument(help="The strength.", show_default=False)],
             item: Item = None, addendum: Addendum = None) -> None:
    """Add a strength the reviewers saw."""
    with program(ctx) as prog:
        finding = _reviews(prog).find(review, "strength", text, item=item, addendum=addendum)
    say(f"strength {finding.id[:8]} added")


@app.command("action")
def action(
    ctx: typer.Context,
    finding: Annotated[str, typer.Argument(metavar="ID", help="The recommendation's id.", show_default=False)],
    status: Annotated[str, typer.Argument(metavar="done|dropped", show_default=False)],
    on: Annotated[Optional[str], typer.Option("--on", help="When (default today).")] = None,
    note: Annotated[Optional[str], typer.Option("-n", "--note", help="What was done, or why dropped (required).")] = None,
) -> None:
    """Follow up an action item: done or dropped."""
    with program(ctx) as prog:
        row = _reviews(prog).follow_up(finding, status, parse_day(on, prog.today) or prog.today, note)
    say(f"action {row.id[:8]} {row.status} on {row.closed_on}")


@app.command("sign")
def sign(ctx: typer.Context, review: ReviewId) -> None:
    """Sign a review: it is locked (later changes only as addenda with a reason)."""
    with program(ctx) as prog:
        signed = _reviews(prog).sign(review)
    say(f"signed review {signed.id[:8]} by {signed.signed_by}")


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List reviews, newest first, with their totals."""
    from vpslog.render import emit
    from vpslog.review.scale import load_review_scale
    from vpslog.review.scoring import total

    with program(ctx) as prog:
        scale = load_review_scale(prog.catalog)
        rows = [{**row, "site_id": row["site_id"] or "(program)",
                 **total(scale.scale, [i["score"] for i in prog.store.review_part("review_item", row["id"])])}
                for row in prog.store.reviews()]
    if fmt is Format.table:
        rows = [{**row, "id": row["id"][:8]} for row in rows]
    emit(rows, ("id", "site_id", "as_of", "status", "reviewers", "total", "max", "share", "band"), fmt, "reviews")


@app.command("show")
def show(ctx: typer.Context, review: ReviewId, fmt: FormatOption = Format.table) -> None:
    """One review's items: score, the records' score, sources."""
    from vpslog.render import emit

    with program(ctx) as prog:
        row = _reviews(prog).review(review)
        items = prog.store.review_part("review_item", row["id"])
    title = f"review {row['id'][:8]} of {row['site_id'] or 'the program'} as of {row['as_of']} ({row['status']})"
    joined = ", " if fmt is Format.table else ";"
    rows = [{**i, "sources": [s for s in i["sources"].split(";") if s] if fmt is Format.json
             else i["sources"].replace(";", joined)} for i in items]
    emit(rows, ("item", "score", "computed_score", "sources"), fmt, title)


@app.command("report")
def report(ctx: typer.Context, review: ReviewId,
           fmt: Annotated[ReportFormat, typer.Option("--format", help="Output format.")] = ReportFormat.markdown,
           out: Annotated[Optional[Path], typer.Option(
               "--out", help="The new file to write (html: required unless printing to standard output).")] = None,
           deidentify: Annotated[bool, typer.Option(
               "--deidentify", help="Pseudonyms, shifted dates, no reviewers' names or evidence, as in exports.")] = False,
           ) -> None:
    """The review report: total and band, items with evidence, strengths, recommendations, and the
    comparison with the previous signed review of the same site."""
    from vpslog.report.html import refuse_target, render_review, write
    from vpslog.review.report import deidentify as deidentified, gather, markdown
    from vpslog.review.scale import load_review_scale

    if out is not None:
        refuse_target(out)
    with program(ctx) as prog:
        if out is not None:
            warn_clear_output(prog, deidentify)
        result = gather(prog.store, load_review_scale(prog.catalog), _reviews(prog).review(review))
        if deidentify:
            result = deidentified(prog.store, result)
    if fmt is ReportFormat.json:
        text = json_text(result) + "\n"
    elif fmt is ReportFormat.html:
        text = render_review(result, deidentified=deidentify)
    else:
        text = markdown(result)
    if out is None:
        sys.stdout.write(text)
        return
    sweep_leftovers(out)  # a report killed before it was linked into place left its temp file
    write(out, text)
    say(f"wrote {out}")


@app.command("due")
def due(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """Sites whose next review is due, and open action items past their due date."""
    from vpslog.render import emit
    from vpslog.review.scale import load_review_scale
    from datetime import date

    from vpslog.review.scoring import due_rows, total

    with program(ctx) as prog:
        scale = load_review_scale(prog.catalog)
        store = prog.store
        latest = {site: (date.fromisoformat(row["as_of"]),
                         total(scale.scale, [i["score"] for i in store.review_part("review_item", row["id"])])["band"])
                  for site, row in store.latest_signed_reviews().items()}
        rows = due_rows(scale.interval, [row["id"] for row in store.rows("site")], latest,
                        store.overdue_actions(prog.today.isoformat()), prog.today)
    emit(rows, ("what", "subject", "since", "due", "why"), fmt, f"reviews and actions due as of {prog.today}")
