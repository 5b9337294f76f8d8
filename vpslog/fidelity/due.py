"""Who needs a contact: the continuity and dose results of a caseload, most urgent first."""

from __future__ import annotations

from vpslog.fidelity.engine import Report
from vpslog.parsing import plural


def due_list(report: Report, caseload: set[str]) -> list[dict]:
    """Participants of `caseload` who fail tomorrow without a contact: overdue under the
    continuity rule (no contact for its limit or longer) or off track for the dose (pending,
    and their pace so far would not reach it by its last day); longest without contact first."""
    rules = {rule.id: rule for rule in report.book.rules}
    found: dict[str, dict] = {}
    for result in report.results:
        rule, numbers = rules[result.rule], result.numbers
        if result.subject not in caseload or rule.kind not in ("max_gap", "dose_window"):
            continue
        entry = found.setdefault(result.subject, {"participant": result.subject, "last_contact": None,
                                                  "days_since": None, "needed": "", "why": []})
        if rule.kind == "max_gap":
            entry["last_contact"], entry["days_since"] = numbers["last_contact"], numbers["days_since_last"]
            waited, limit = numbers["days_since_last"] or 0, rule.params["max_days"]
            if waited > limit:
                entry["why"].append(f"no contact for {waited} days (limit {limit})")
            elif waited == limit:
                entry["why"].append(f"no contact for {waited} days: due today (limit {limit})")
        elif result.status == "pending" and not numbers["on_track"]:
            what = "/".join(rule.params["session_types"])
            entry["needed"] = f"{numbers['missing']} more {what} {plural(numbers['missing'], 'session')} by {numbers['deadline']}"
            entry["why"].append("off track for the dose")
    rows = [entry | {"why": "; ".join(entry["why"])} for entry in found.values() if entry["why"]]
    return sorted(rows, key=lambda e: (-(e["days_since"] or 0), e["participant"]))
