"""Renders a fidelity Report: one function per output format, no computing.

json shape (stable, for other tools):
  {"as_of", "rules_version", "filters", "summary": [per rule: rule, title, scope,
   severity, pass, warn, fail, pending, pass_rate, item_score], "sites": [per site
   and rule: site, rule, pass, warn, fail, pending], "scale": {total, max, share,
   band, item_bands, total_bands}, "results": [rule, scope, subject, site, status,
   evidence, numbers]}
"results" holds every participant and specialist result, and the session
results that need attention (session passes are only counted).
"""

from __future__ import annotations

import json
import sys

from vpslog.fidelity.engine import Report
from vpslog.render import Format, emit

SUMMARY = ("rule", "scope", "severity", "pass", "warn", "fail", "pending", "pass_rate", "item_score")
RESULT = ("rule", "scope", "subject", "site", "status", "evidence")
ORDER = {"fail": 0, "warn": 1, "pending": 2, "pass": 3}


def as_json(report: Report) -> dict:
    return {
        "as_of": report.as_of.isoformat(),
        "rules_version": report.book.version,
        "filters": report.filters,
        "summary": report.summary(),
        "sites": [{"site": site, "rule": rule.id, **report.tally(rule.id, site)}
                  for site in report.sites for rule in report.book.rules],
        "scale": report.scale(),
        "results": ({"rule": r.rule, "scope": r.scope, "subject": r.subject, "site": r.site, "status": r.status,
                     "evidence": r.evidence, "numbers": r.numbers} for r in report.results),
    }


def _stream_json(document: dict) -> None:
    """Write the report one result per line: C-speed encoding, and no second copy in memory."""
    results = document.pop("results")
    head = json.dumps(document, ensure_ascii=False)
    sys.stdout.write(head[:-1] + ', "results": [')
    for index, result in enumerate(results):
        sys.stdout.write(("\n" if index == 0 else ",\n") + json.dumps(result, ensure_ascii=False))
    sys.stdout.write("\n]}\n")


def attention(report: Report) -> list[dict]:
    """Participants and specialists with a warn or fail, worst first; sessions summarised per rule."""
    rows = [r for r in report.results if r.status in ("fail", "warn") and r.scope != "session"]
    rows.sort(key=lambda r: (ORDER[r.status], r.scope, r.subject, r.rule))
    out = [{"subject": r.subject, "site": r.site, "rule": r.rule, "status": r.status, "evidence": r.evidence}
           for r in rows]
    for rule in (r for r in report.book.rules if r.scope == "session"):
        flagged = [r for r in report.results if r.rule == rule.id and r.status in ("fail", "warn")]
        if flagged:
            ids = ", ".join(r.subject[:8] for r in flagged[:3]) + (" …" if len(flagged) > 3 else "")
            out.append({"subject": f"{len(flagged)} sessions", "site": "", "rule": rule.id,
                        "status": rule.severity, "evidence": f"{flagged[0].evidence}; sessions {ids}"})
    return out


def render(report: Report, fmt: Format) -> None:
    if fmt is Format.json:
        _stream_json(as_json(report))
        return
    if fmt is Format.csv:
        emit([_row(r) for r in report.results], RESULT, fmt)
        return
    render_summary(report, fmt)
    emit(attention(report), ("subject", "site", "rule", "status", "evidence"), fmt, "Needs attention")


def render_summary(report: Report, fmt: Format) -> None:
    """The program summary (table or markdown): each rule's counts, by site, and the scale."""
    scale = report.scale()
    emit(report.summary(), SUMMARY, fmt, f"Fidelity as of {report.as_of} (rules {report.book.version})")
    if len(report.sites) > 1:
        emit(_by_site(report), ("rule", *report.sites), fmt, "Pass rate by site (pass/judged)")
    bands = ", ".join(f"{b['label']} >= {b['min_share']:.0%}" for b in scale["total_bands"])
    items = ", ".join(f"{b['score']} if >= {b['min_rate']:.0%}" for b in scale["item_bands"])
    line = (f"Scale: {scale['total']} of {scale['max']} ({scale['share']:.0%}): {scale['band']}. "
            f"Item score per rule from its pass rate: {items}. Total bands: {bands}.")
    sys.stdout.write(line + "\n\n")


def explain(report: Report, rule_id: str, fmt: Format) -> None:
    """Every subject of one rule, worst first, with its evidence."""
    rule = report.book.get(rule_id)
    rows = sorted((r for r in report.results if r.rule == rule.id), key=lambda r: (ORDER[r.status], r.subject))
    if fmt is Format.json:
        sys.stdout.write(json.dumps([_row(r) | {"numbers": r.numbers} for r in rows], indent=2) + "\n")
        return
    emit([_row(r) for r in rows], RESULT, fmt, f"{rule.id}: {rule.title}")


def _row(result) -> dict:
    return {key: getattr(result, key) for key in RESULT}


def _by_site(report: Report) -> list[dict]:
    rows = []
    for rule in report.book.rules:
        row = {"rule": rule.id}
        for site in report.sites:
            tally = report.tally(rule.id, site)
            judged = tally["pass"] + tally["warn"] + tally["fail"]
            row[site] = f"{tally['pass']}/{judged}" if judged else "-"
        rows.append(row)
    return rows
