"""The rules for changing a fidelity review, over a core.Program: start, score, observe,
recommend, follow up, sign. Each change is one store transaction with its audit entry, so a
refusal writes nothing. A signed review changes only as an addendum: the reason is kept in
the audit trail (action `addendum`)."""

from __future__ import annotations

from datetime import date, datetime

from vpslog.core import _now, build
from vpslog.errors import InputError
from vpslog.parsing import quoted, utc_stamp
from vpslog.models import Review, ReviewFinding, ReviewItem, ReviewObservation
from vpslog.review.scale import REVIEWER_SOURCES, SOURCES, load_review_scale
from vpslog.review.scoring import record_score


class Reviews:
    """A program's fidelity reviews."""

    def __init__(self, prog):
        self.prog = prog
        self.store = prog.store

    def start(self, reviewers: list[str], *, site: str | None = None, as_of: date | None = None) -> Review:
        """A new review, its record-based items scored at once from the fidelity engine as of
        the review date (kept as scored then), its reviewer items waiting for a score."""
        from vpslog.fidelity.engine import evaluate
        from vpslog.fidelity.rules import load_rules

        names = [name.strip() for name in reviewers if name.strip()]
        if not names:
            raise InputError("no reviewer given: pass --reviewer NAME (repeat it for each reviewer)")
        if any(";" in name for name in names):
            raise InputError("a reviewer's name cannot hold `;`: give each with its own --reviewer")
        prog, as_of = self.prog, as_of or self.prog.today
        prog._refuse_out_of_range(as_of, "review date")
        scale, book = load_review_scale(prog.catalog), load_rules(prog.catalog)
        with self.prog.changing():
            site_id = prog.resolve("site", site) if site else None
            if (open_one := self.store.open_review(site_id)) is not None:
                raise InputError(f"review {open_one['id'][:8]} of {site_id or 'the program'} is not signed yet: "
                                 "sign it before starting the next")
            refuse_back_dated(self.store, site_id, as_of)
            review = build(Review, {**prog._entered(), "site_id": site_id, "as_of": as_of,
                                    "reviewers": "; ".join(names), "scale_version": scale.version,
                                    "rules_version": book.version}, prog.catalog)
            summary = {row["rule"]: row for row in evaluate(self.store, prog.catalog, book, as_of, site=site_id).summary()}
            self.store.insert("review", review, actor=prog.actor)
            for item in scale.items:
                score, evidence = record_score(scale.scale, summary[item.rule]) if item.from_records else (None, None)
                row = build(ReviewItem, {**prog._entered(), "review_id": review.id, "item": item.id, "score": score,
                                         "sources": ("records",) if item.from_records else (),
                                         "computed_score": score, "computed_evidence": evidence}, prog.catalog)
                self.store.insert("review_item", row, actor=prog.actor)
        return review

    def review(self, text: str) -> dict:
        """A review by its id or a unique prefix of it."""
        return self.store.get("review", self.store.resolve("review", text.strip().lower(), "review"))

    def score(self, review: str, item: str, score: int, source: str, evidence: str | None,
              addendum: str | None = None) -> ReviewItem:
        """A reviewer's score with its evidence; on a record-based item an override (the computed
        score is kept). Each score adds its source and a `source: evidence` line."""
        from vpslog.parsing import resolve_code

        if not 1 <= score <= 5:
            raise InputError(f"score {score} is outside the scale: give 1 to 5")
        if source not in SOURCES:
            raise InputError(f"unknown source {quoted(source)}; accepted: {', '.join(REVIEWER_SOURCES)}")
        if source == "records":
            raise InputError("records scores come from the fidelity engine when the review starts; "
                             f"score from {', '.join(REVIEWER_SOURCES)}")
        evidence = _required(evidence, "evidence is required: say what the score rests on with -n")
        with self.prog.changing():
            row = self.review(review)
            reason = self._addendum(row, addendum)
            action = "addendum" if reason else "amend"
            items = {part["item"]: part for part in self.store.review_part("review_item", row["id"])}
            current = items[resolve_code(item, list(items), "review item")]
            sources = tuple(dict.fromkeys([*filter(None, current["sources"].split(";")), source]))
            lines = [line for line in (current["evidence"], f"{source}: {evidence}") if line]
            updated = build(ReviewItem, {**current, "score": score, "sources": sources,
                                         "evidence": "\n".join(lines)}, self.prog.catalog)
            if reason is None and current["computed_score"] is not None and score != current["computed_score"]:
                reason = f"override of the records score {current['computed_score']}"
            self.store.update("review_item", updated, actor=self.prog.actor, reason=reason, action=action)
        return updated

    def observe(self, review: str, session: str, present: tuple[str, ...], absent: tuple[str, ...],
                addendum: str | None = None) -> ReviewObservation:
        """A session observed against the curriculum components: a session of the site reviewed,
        not voided, on or before the review date, observed once per review."""
        with self.prog.changing():
            row = self.review(review)
            reason = self._addendum(row, addendum)
            seen = self.prog.session(session)
            if problems := unobservable(self.prog, row, seen):
                raise InputError(next(iter(problems.values())))
            if any(o["session_id"] == seen["id"] for o in self.store.review_part("review_observation", row["id"])):
                raise InputError(f"session {seen['id'][:8]} is already observed in review {row['id'][:8]}")
            observation = build(ReviewObservation, {**self.prog._entered(), "review_id": row["id"],
                                                    "session_id": seen["id"], "present": present, "absent": absent},
                                self.prog.catalog)
            self.store.insert("review_observation", observation, actor=self.prog.actor, reason=reason,
                              action="addendum" if reason else "insert")
        return observation

    def find(self, review: str, kind: str, detail: str, *, item: str | None = None, owner: str | None = None,
             due: date | None = None, addendum: str | None = None) -> ReviewFinding:
        """A strength, or a recommendation (an open action item, with an owner and a due date if given)."""
        from vpslog.parsing import resolve_code

        detail = _required(detail, f"the {kind} has no text: write it in quotes after the review id")
        with self.prog.changing():
            row = self.review(review)
            reason = self._addendum(row, addendum)
            items = [part["item"] for part in self.store.review_part("review_item", row["id"])]
            if due is not None and due.isoformat() < row["as_of"]:
                raise InputError(f"due date {due} is before the review date {row['as_of']}")
            finding = build(ReviewFinding, {
                **self.prog._entered(), "review_id": row["id"], "kind": kind, "detail": detail,
                "item": resolve_code(item, items, "review item") if item else None,
                "owner": self.prog.resolve("specialist", owner) if owner else None, "due": due,
                "status": "open" if kind == "recommendation" else None}, self.prog.catalog)
            self.store.insert("review_finding", finding, actor=self.prog.actor, reason=reason,
                              action="addendum" if reason else "insert")
        return finding

    def follow_up(self, finding: str, status: str, on: date, note: str | None) -> ReviewFinding:
        """An action item done or dropped, with what was done or why not (allowed after signing:
        following up the action plan is what comes after a review)."""
        if status not in ("done", "dropped"):
            raise InputError(f"unknown follow-up {quoted(status)}; accepted: done, dropped")
        note = _required(note, "say what was done, or why it was dropped, with -n")
        self.prog._refuse_out_of_range(on, "follow-up date")
        with self.prog.changing():
            row = self.store.get("review_finding",
                                 self.store.resolve("review_finding", finding.strip().lower(), "action item"))
            if row["kind"] != "recommendation":
                raise InputError(f"{row['id'][:8]} is a strength, not an action item")
            if row["status"] != "open":
                raise InputError(f"action {row['id'][:8]} is already {row['status']} (on {row['closed_on']})")
            as_of = self.store.get("review", row["review_id"])["as_of"]
            if on.isoformat() < as_of:
                raise InputError(f"follow-up date {on} is before the review date {as_of}")
            updated = build(ReviewFinding, {**row, "status": status, "closed_on": on, "note": note}, self.prog.catalog)
            self.store.update("review_finding", updated, actor=self.prog.actor, reason=None, action=status)
        return updated

    def sign(self, review: str) -> Review:
        """Lock a review once every reviewer item has a score."""
        with self.prog.changing():
            row = self.review(review)
            if row["status"] == "signed":
                raise InputError(f"review {row['id'][:8]} is already signed (on {row['signed_at'][:10]})")
            unscored = [part["item"] for part in self.store.review_part("review_item", row["id"])
                        if part["score"] is None and "records" not in part["sources"].split(";")]
            if unscored:
                raise InputError(f"review {row['id'][:8]} cannot be signed: no score yet for {', '.join(unscored)}")
            if latest := later_signed(self.store, row["site_id"], row["as_of"], row["entered_at"]):  # merged in
                raise InputError(f"review {row['id'][:8]} cannot be signed: review {latest['id'][:8]} of "
                                 f"{row['site_id'] or 'the program'} as of {latest['as_of']}, a later one, is signed, "
                                 "and would then compare against this one, changing its signed report")
            signed = build(Review, {**row, "status": "signed", "signed_at": _now(), "signed_by": self.prog.actor},
                           self.prog.catalog)
            self.store.update("review", signed, actor=self.prog.actor, reason=None, action="sign")
        return signed

    def _addendum(self, review: dict, addendum: str | None) -> str | None:
        """The addendum's reason for a change to `review`: a signed review changes only as an
        addendum with a reason; an addendum to a review not yet signed is refused as a mistake."""
        if review["status"] == "signed":
            if addendum is None or not addendum.strip():
                raise InputError(f"review {review['id'][:8]} is signed: change it only as an addendum, "
                                 "with --addendum \"reason\"")
            return addendum.strip()
        if addendum is not None:
            raise InputError(f"review {review['id'][:8]} is not signed: change it directly, without --addendum")
        return None


def _required(text: str | None, refusal: str) -> str:
    if text is None or not text.strip():
        raise InputError(refusal)
    return text.strip()


REVIEW_PART_NAMES = {"review_item": "an item", "review_observation": "an observation", "review_finding": "a finding"}


def unobservable(prog, review: dict, session: dict) -> dict[str, str]:
    """Why `review` cannot observe `session`, each rule it breaks by name (none when it can): a session
    of the site reviewed, that took place (not voided, not a no-show), on or before the review date.
    `observe` checks a new observation; `amend` and `void` refuse a change that breaks a rule the
    session kept (Program._keep_observable)."""
    found = {}
    if session["voided"] or session["type"] not in prog.catalog.delivered_types:
        why = "voided" if session["voided"] else f"a {session['type']}"
        found["took place"] = f"session {session['id'][:8]} is {why}: observe a session that took place"
    if session["date"] > review["as_of"]:
        found["date"] = f"session {session['id'][:8]} on {session['date']} is after the review date {review['as_of']}"
    site = prog.store.get("participant", session["participant_id"])["site_id"]
    if review["site_id"] is not None and site != review["site_id"]:
        found["site"] = f"session {session['id'][:8]} is at {site}, not at {review['site_id']}, the site reviewed"
    return found


def later_signed(store, site_id: str | None, as_of: str, entered_at: str | None = None) -> dict | None:
    """The latest signed review of a site (or of the whole program) when it comes after a review as of
    `as_of` (by date, then entry time, as reviews are ordered; `entered_at` None: one started now, whose
    entry time is later than any): the signed one would then compare against it."""
    latest = store.latest_signed_reviews().get(site_id)
    if latest is None:
        return None
    mine, theirs = (as_of,) if entered_at is None else (as_of, entered_at), (latest["as_of"], latest["entered_at"])
    return latest if mine < theirs[:len(mine)] else None


def refuse_back_dated(store, site_id: str | None, as_of: date, entered_at: str | None = None) -> None:
    """A new review of a site (or of the whole program) does not come before its latest signed one
    (`entered_at` of one brought in, None for one started now): it would become the review the signed
    one compares against, changing a signed report."""
    if latest := later_signed(store, site_id, as_of.isoformat(), entered_at):
        raise InputError(f"review {latest['id'][:8]} of {site_id or 'the program'} as of {latest['as_of']} is signed: "
                         f"a new review is not dated before it ({as_of}), or its signed report would change")


def check_review_record(store, table: str, record, opened: dict | None = None) -> None:
    """The review rules a record brought in by `import` or `merge` meets (core.Program.check_record):
    one open review per site (or of the whole program), counting those `opened` earlier in the
    same import or merge (site -> review id, kept up to date here); nothing added to a signed
    review: a part entered after the signing, or of a kind the signed review already has here
    (its items, observations or findings arrive together, each table in one import or merge; an
    addendum is made with --addendum, not brought in); and a signed review's reviewer items all
    scored. A record already in the store is left to the caller's identical-or-conflict check."""
    if store.get(table, record.id) is not None:
        return
    if table == "review":
        refuse_back_dated(store, record.site_id, record.as_of, utc_stamp(record.entered_at))
        if record.status != "open":
            return
        pending = (opened or {}).get(record.site_id)
        open_one = store.open_review(record.site_id) or ({"id": pending} if pending else None)
        if open_one is not None and open_one["id"] != record.id:
            raise InputError(f"review {open_one['id'][:8]} of {record.site_id or 'the program'} is not signed yet: "
                             "one review of a site is open at a time")
        if opened is not None:
            opened[record.site_id] = record.id
        return
    review = store.get("review", record.review_id)
    if review is None or review["status"] != "signed":
        return
    added = record.entered_at > datetime.fromisoformat(review["signed_at"]) or bool(store.review_part(table, review["id"]))
    if added:
        raise InputError(f"review {review['id'][:8]} is signed: {REVIEW_PART_NAMES[table]} added to it would "
                         "change it; add it here with --addendum")
    if table == "review_item" and record.score is None and "records" not in record.sources:
        raise InputError(f"review {review['id'][:8]} is signed, but its reviewer item {record.item} has no score")
