"""The review report: gathered once from the store (`gather`), de-identified if asked, then
rendered as markdown (here), json (by the command) or HTML (report/html.py). It holds the
total and band, every item with its score, sources and evidence, the observations,
strengths, recommendations with their follow-up, the addenda made after signing, and the
comparison with the previous signed review of the same site."""

from __future__ import annotations

from functools import partial

from vpslog.render import markdown_line, markdown_text
from vpslog.review.scale import ReviewScale
from vpslog.review.scoring import compare, total


def gather(store, scale: ReviewScale, review: dict) -> dict:
    """Everything the report shows about `review`, in JSON types."""
    items = store.review_part("review_item", review["id"])
    observations = store.review_part("review_observation", review["id"])
    findings = store.review_part("review_finding", review["id"])
    previous = store.previous_review(review)
    return {
        "review": {key: review[key] for key in ("id", "site_id", "as_of", "reviewers", "status", "signed_at",
                                                "signed_by", "scale_version", "rules_version")},
        **total(scale.scale, [row["score"] for row in items]),
        "items": [_item(scale, row, observations) for row in items],
        "observations": [{"session_id": o["session_id"], "date": store.get("session", o["session_id"])["date"],
                          "present": _codes(o["present"]), "absent": _codes(o["absent"])} for o in observations],
        "strengths": [{"id": f["id"], "item": f["item"], "detail": f["detail"]}
                      for f in findings if f["kind"] == "strength"],
        "recommendations": [_action(f) for f in findings if f["kind"] == "recommendation"],
        "addenda": [{"at": a["at"], "by": a["actor"], "record": a["tbl"], "reason": a["reason"]}
                    for a in store.review_addenda(review["id"])],
        "previous": None if previous is None else _previous(store, scale, previous, items),
    }


def _codes(text: str) -> list[str]:
    return [code for code in text.split(";") if code]


def _item(scale: ReviewScale, row: dict, observations: list[dict]) -> dict:
    """An item as reported; an item the scale no longer has (review.toml edited since) keeps its id."""
    known = {item.id: item for item in scale.items}.get(row["item"])
    score = row["score"]
    watched = set(known.components) if known else set()
    checked = [o for o in observations if watched & {*_codes(o["present"]), *_codes(o["absent"])}]
    return {
        "item": row["item"], "title": known.title if known else row["item"], "score": score,
        "anchor": known.anchors[score - 1] if known and score else None,
        "computed_score": row["computed_score"], "overridden": score != row["computed_score"] and "records" in row["sources"],
        "sources": _codes(row["sources"]), "computed_evidence": row["computed_evidence"], "evidence": row["evidence"],
        "observed": {"sessions": len(checked), "present": sum(bool(watched & set(_codes(o["present"]))) for o in checked)}
        if watched else None,
    }


def _action(finding: dict) -> dict:
    return {key: finding[key] for key in ("id", "item", "detail", "owner", "due", "status", "closed_on", "note")}


def _previous(store, scale: ReviewScale, previous: dict, items: list[dict]) -> dict:
    earlier = store.review_part("review_item", previous["id"])
    return {"id": previous["id"], "as_of": previous["as_of"], **total(scale.scale, [row["score"] for row in earlier]),
            "items": compare(items, earlier),
            "open_actions": [_action(f) for f in store.review_part("review_finding", previous["id"])
                             if f["status"] == "open"]}


WITHHELD = "withheld"


def deidentify(store, report: dict) -> dict:
    """The report as `vpslog export --deidentify` shows reviews: sites, staff and records as
    keyed pseudonyms, reviewers' names, evidence, findings, notes and reasons withheld, and an
    observed session's date moved back by its participant's offset."""
    from datetime import date, timedelta

    from vpslog.deid import date_shift, record_pseudonym, site_pseudonym, staff_pseudonym

    secret = store.secret()
    record = partial(record_pseudonym, secret)
    staff = partial(staff_pseudonym, secret)

    def withheld(text):
        return None if text is None else WITHHELD

    def action(a: dict) -> dict:
        return {**a, "id": record(a["id"]), "detail": WITHHELD, "owner": a["owner"] and staff(a["owner"]),
                "note": withheld(a["note"])}

    def observation(o: dict) -> dict:
        person = store.get("session", o["session_id"])["participant_id"]
        shifted = date.fromisoformat(o["date"]) - timedelta(days=date_shift(secret, person))
        return {**o, "session_id": record(o["session_id"]), "date": shifted.isoformat()}

    review, previous = report["review"], report["previous"]
    return {
        **report,
        "review": {**review, "id": record(review["id"]), "site_id": review["site_id"] and site_pseudonym(secret, review["site_id"]),
                   "reviewers": WITHHELD, "signed_by": review["signed_by"] and staff(review["signed_by"])},
        "items": [{**i, "computed_evidence": withheld(i["computed_evidence"]), "evidence": withheld(i["evidence"])}
                  for i in report["items"]],
        "observations": [observation(o) for o in report["observations"]],
        "strengths": [{**s, "id": record(s["id"]), "detail": WITHHELD} for s in report["strengths"]],
        "recommendations": [action(a) for a in report["recommendations"]],
        "addenda": [{**a, "by": staff(a["by"]), "reason": withheld(a["reason"])} for a in report["addenda"]],
        "previous": None if previous is None else {**previous, "id": record(previous["id"]),
                                                   "open_actions": [action(a) for a in previous["open_actions"]]},
    }


def markdown(report: dict) -> str:
    """The report as a markdown document; stored text is escaped, never read as markup."""
    review = report["review"]
    lines = [f"# Fidelity review {review['id'][:8]}: {markdown_text(review['site_id'] or 'whole program')}, {review['as_of']}", "",
             f"- Reviewers: {markdown_text(review['reviewers'])}",
             f"- Status: {review['status']}" + (f", signed {review['signed_at']} by {markdown_text(review['signed_by'])}"
                                                if review["signed_at"] else ""),
             f"- Total: {report['total']} of {report['max']} ({report['share']:.0%}): **{report['band'] or 'not scored'}**",
             f"- Scale {review['scale_version']}, fidelity rules {review['rules_version']}", "",
             "## Items", "", "| item | score | sources | evidence |", "|---|---|---|---|"]
    for item in report["items"]:
        score = "–" if item["score"] is None else str(item["score"])
        if item["overridden"]:
            score += f" (records: {item['computed_score'] or '–'})"
        evidence = [e.replace("\n", "; ") for e in (item["computed_evidence"], item["evidence"]) if e]
        if item["observed"] and item["observed"]["sessions"]:
            evidence.append(f"observed in {item['observed']['present']} of {item['observed']['sessions']} sessions")
        lines.append(f"| {markdown_text(item['title'])} (`{item['item']}`) | {score} | {', '.join(item['sources'])} | "
                     f"{markdown_text('; '.join(evidence))} |")
    if report["observations"]:
        lines += ["", "## Sessions observed", "", "| session | date | present | absent |", "|---|---|---|---|"]
        lines += [f"| {o['session_id'][:8]} | {o['date']} | {', '.join(o['present'])} | {', '.join(o['absent'])} |"
                  for o in report["observations"]]
    lines += ["", "## Strengths", ""] + ([f"- {markdown_line(s['detail'])}" + (f" (`{s['item']}`)" if s["item"] else "")
                                         for s in report["strengths"]] or ["None recorded."])
    lines += ["", "## Recommendations", ""] + (_actions(report["recommendations"]) or ["None recorded."])
    if report["addenda"]:
        lines += ["", "## Addenda after signing", ""]
        lines += [f"- {a['at']} {markdown_text(a['by'])} ({a['record']}): {markdown_text(a['reason'])}" for a in report["addenda"]]
    previous = report["previous"]
    lines += ["", "## Compared with the previous review", ""]
    if previous is None:
        lines.append("No earlier signed review of this site.")
    else:
        lines += [f"Previous review {previous['id'][:8]} of {previous['as_of']}: {previous['total']} of "
                  f"{previous['max']} ({previous['share']:.0%}), {previous['band'] or 'not scored'}.", "",
                  "| item | previous | now | change |", "|---|---|---|---|"]
        lines += [f"| `{row['item']}` | {_score(row['previous'])} | {_score(row['score'])} | {row['change']} |"
                  for row in previous["items"]]
        lines += ["", "Action items of the previous review still open:", ""]
        lines += _actions(previous["open_actions"]) or ["None."]
    return "\n".join(lines) + "\n"


def _actions(actions: list[dict]) -> list[str]:
    return [f"- [{'x' if a['status'] == 'done' else ' '}] {markdown_text(a['detail'])}"
            + (f" (`{a['item']}`)" if a["item"] else "")
            + f" — owner {markdown_text(a['owner'] or '–')}, due {a['due'] or '–'}, {a['status']}"
            + (f" on {a['closed_on']}: {markdown_text(a['note'])}" if a["closed_on"] else "") + f" [{a['id'][:8]}]"
            for a in actions]


def _score(value: int | None) -> str:
    return "–" if value is None else str(value)

