"""The reports a trial team needs: dose, enrollment flow, baseline table, billing
units and allocation balance. Each returns rows (dicts with stable keys); the
CLI renders them as table, markdown, csv or json.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from vpslog.curriculum import DEMOGRAPHICS
from vpslog.export import load_settings
from vpslog.fidelity.engine import evaluate
from vpslog.fidelity.rules import load_rules

ARMS = ("vps", "control")
BOOLEANS = {"working": "Working for pay", "ssdi_ssi": "Receiving SSDI/SSI", "psych_meds": "Taking psychotropic medication"}


def _dose_results(prog, as_of: date) -> dict[str, object]:
    book = load_rules(prog.catalog)
    rule = next((r for r in book.rules if r.kind == "dose_window"), None)
    if rule is None:
        return {}
    report = evaluate(prog.store, prog.catalog, book, as_of)
    return {r.subject: r for r in report.results if r.rule == rule.id}


def _enrolled(prog, as_of: date) -> list[dict]:
    """Participants allocated to an arm among those fidelity counts as of the date (enrolled on or
    before it: store.research.COUNTED), so a report and the fidelity check count the same people."""
    return [row for row in prog.store.counted_participants(as_of.isoformat()) if row["arm"]]


def dose(prog, as_of: date) -> list[dict]:
    """Per participant: individual sessions, the best window, when the dose was reached, and the
    minutes of the sessions delivered (a no-show's minutes were not spent with the participant)."""
    results = _dose_results(prog, as_of)
    totals = prog.store.participant_totals(as_of.isoformat(), prog.catalog.delivered_types)
    rows = []
    for person in _enrolled(prog, as_of):
        result = results.get(person["id"])
        numbers = result.numbers if result else {}
        rows.append({
            "participant": person["id"], "site": person["site_id"], "arm": person["arm"],
            "enrolled_on": person["enrolled_on"],
            "individual_sessions": totals.get(person["id"], {}).get("individual_sessions", 0),
            "best_window": numbers.get("best_window"), "reached_on": numbers.get("reached_on"),
            "dose": result.status if result else "n/a",
            "minutes": totals.get(person["id"], {}).get("minutes", 0)})
    return rows


def flow(prog, as_of: date) -> list[dict]:
    """The enrollment flow: screened, eligible, ineligible by reason, enrolled, allocated, dose, exits."""
    day = as_of.isoformat()
    screenings = prog.store.latest_screenings(day)
    enrolled = _enrolled(prog, as_of)
    results = _dose_results(prog, as_of)
    by_arm = lambda people: {arm: sum(1 for p in people if p["arm"] == arm) for arm in ARMS}  # noqa: E731
    rows = [_flow("screened", None, len(screenings)),
            _flow("eligible", None, sum(1 for s in screenings if s["eligible"]))]
    reasons = Counter(reason for s in screenings if not s["eligible"] for reason in s["reasons"].split("; ") if reason)
    rows += [_flow("ineligible", reason, n) for reason, n in reasons.most_common()]
    rows.append(_flow("enrolled and allocated", None, len(enrolled), by_arm(enrolled)))
    reached = [p for p in enrolled if getattr(results.get(p["id"]), "status", None) == "pass"]
    rows.append(_flow("reached the dose", None, len(reached), by_arm(reached)))
    exited = [p for p in enrolled if p["exited_on"] and p["exited_on"] <= day]
    by_reason: dict[str, list[dict]] = {}
    for person in exited:  # one reason however it was typed: `moved away `, `Moved away`
        by_reason.setdefault(" ".join((person["exit_reason"] or "").split()).casefold(), []).append(person)
    for _, people in sorted(by_reason.items()):
        shown = Counter(" ".join((p["exit_reason"] or "").split()) for p in people).most_common(1)[0][0]
        rows.append(_flow("exited", shown, len(people), by_arm(people)))
    return rows


def _flow(step: str, detail: str | None, total: int, arms: dict | None = None) -> dict:
    arms = arms or {}
    return {"step": step, "detail": detail or "", "vps": arms.get("vps"), "control": arms.get("control"), "total": total}


def percent(part: int, whole: int) -> str:
    """n (%) the way a paper prints it: one decimal, halves rounded up."""
    if not whole:
        return f"{part} (–)"
    share = (Decimal(100) * part / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{part} ({share}%)"


def mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    mean = Decimal(str(statistics.fmean(values))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    sd = Decimal(str(statistics.stdev(values) if len(values) > 1 else 0.0)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{mean} ± {sd}"


def baseline(prog, as_of: date) -> list[dict]:
    """Baseline characteristics per arm and overall: age mean ± SD, each category n (%)."""
    people = _enrolled(prog, as_of)
    groups = {arm: [p for p in people if p["arm"] == arm] for arm in ARMS} | {"overall": people}

    def row(characteristic, category, cell) -> dict:
        return {"characteristic": characteristic, "category": category, **{g: cell(members) for g, members in groups.items()}}

    rows = [row("participants", "", lambda members: str(len(members)))]
    rows.append(row("age at enrollment, mean ± SD", "", lambda members: mean_sd(
        [a for a in (_age(p) for p in members) if a is not None])))
    for name in DEMOGRAPHICS:
        for code in prog.catalog.codes(name):
            rows.append(row(name, code, lambda members, code=code, name=name: percent(
                sum(1 for p in members if p[name] == code), sum(1 for p in members if p[name] is not None))))
    for name, label in BOOLEANS.items():
        rows.append(row(label, "yes", lambda members, name=name: percent(
            sum(1 for p in members if p[name] == 1), sum(1 for p in members if p[name] is not None))))
    for name in (*DEMOGRAPHICS, *BOOLEANS):
        if any(p[name] is None for p in people):
            rows.append(row(BOOLEANS.get(name, name), "(missing)", lambda members, name=name: str(
                sum(1 for p in members if p[name] is None))))
    return rows


def _age(person: dict) -> int | None:
    if person["age"] is not None:
        return person["age"]
    if person["birth_year"] is not None:
        return int(person["enrolled_on"][:4]) - person["birth_year"]
    return None


def units(prog, as_of: date) -> list[dict]:
    settings = load_settings(prog.catalog)
    return prog.store.units_by_month(as_of.isoformat(), settings.minutes_per_unit, settings.round_up_from,
                                     settings.unit_types)


def allocation(prog, as_of: date) -> list[dict]:
    """Randomized allocations per site and arm, and the imbalance."""
    counts: dict[str, Counter] = {}
    for site, arm, n in prog.store.allocation_counts(as_of.isoformat()):
        counts.setdefault(site, Counter())[arm] = n
    return [{"site": site, "vps": c["vps"], "control": c["control"], "difference": c["vps"] - c["control"]}
            for site, c in counts.items()]


REPORTS = {"dose": dose, "flow": flow, "baseline": baseline, "units": units, "allocation": allocation}
