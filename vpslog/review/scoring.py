"""Pure scoring of a review: record-based items from the fidelity summary, the total and its
band, the comparison with the previous review, and when the next review is due."""

from __future__ import annotations

import calendar
from datetime import date

from vpslog.fidelity.rules import Scale
from vpslog.review.scale import Interval


def record_score(scale: Scale, summary_row: dict) -> tuple[int | None, str]:
    """A record-based item's score from its fidelity rule's program-level summary row, and the
    counts it rests on. No score when the rule judged no one (every subject pending, or none)."""
    counts = ", ".join(f"{summary_row[status]} {status}" for status in ("pass", "warn", "fail", "pending"))
    rate = summary_row["pass_rate"]
    if rate is None:
        return None, f"nothing to judge on the review date ({counts})"
    return scale.item_score(rate), f"pass rate {rate:.0%} ({counts})"


def total(scale: Scale, scores: list[int | None]) -> dict:
    """The total of the items scored, the most it could be (5 each), its share and band."""
    scored = [score for score in scores if score is not None]
    points, most = sum(scored), 5 * len(scored)
    share = points / most if most else 0.0
    return {"total": points, "max": most, "share": round(share, 4), "band": scale.band(share) if most else None}


def compare(items: list[dict], previous: list[dict]) -> list[dict]:
    """Item by item against the previous review: both scores and whether it went up, down or
    stayed; `new` for an item the previous review did not score."""
    before = {row["item"]: row["score"] for row in previous}
    rows = []
    for row in items:
        then, now = before.get(row["item"]), row["score"]
        change = ("new" if then is None else "not scored" if now is None else
                  "up" if now > then else "down" if now < then else "same")
        rows.append({"item": row["item"], "previous": then, "score": now, "change": change})
    return rows


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it is shorter)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_rows(interval: Interval, sites: list[str], latest: dict[str | None, tuple[date, str | None]],
             overdue: list[dict], today: date) -> list[dict]:
    """Sites whose next review is due by `today`, then open action items past their due date.

    `latest` holds each site's (and the whole program's, key None) last signed review as (date,
    band): a site counts the later of its own and the program's. The next review comes
    `interval.months` after it, or `months_when_good` once the band is a good one."""
    rows = []
    for site in sites:
        last = max((latest[key] for key in (site, None) if key in latest), default=None, key=lambda pair: pair[0])
        if last is None:
            rows.append({"what": "review", "subject": site, "since": None, "due": today.isoformat(),
                         "why": "never reviewed"})
            continue
        months = interval.months_after(last[1])
        next_review = add_months(last[0], months)
        if next_review <= today:
            rows.append({"what": "review", "subject": site, "since": last[0].isoformat(), "due": next_review.isoformat(),
                         "why": f"last review {last[1] or 'not scored'}: every {months} months"})
    for action in overdue:
        rows.append({"what": "action", "subject": action["id"][:8], "since": action["as_of"],
                     "due": action["due"], "why": f"open, owner {action['owner'] or 'none'}, "
                                                  f"review of {action['site_id'] or 'the program'}"})
    return rows
