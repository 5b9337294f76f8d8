"""The library core: the program's records and the rules for changing them.

`Program` knows nothing of the terminal; the CLI, the tests and a notebook all
drive it the same way. Each change runs in one store transaction that also
appends its audit entry, so a refusal leaves the store exactly as it was.
"""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path

from vpslog import config
from vpslog.curriculum import Catalog
from vpslog.errors import InputError, NotFoundError, StoreError
from vpslog.files import link_refusal
from vpslog.parsing import ACTOR_PATTERN, quoted, upper_id
from vpslog.store import Store
from vpslog.store.base import file_refusal, not_a_store

TYPE_CHECKING = False  # typing itself costs quick entry a few ms
if TYPE_CHECKING:
    from vpslog.models import Milestone, Participant, Record, Screening, Session, Site, Specialist, Supervision


def build(model: type[Record] | str, data: dict, catalog: Catalog) -> Record:
    """Validate `data` as `model` (a model, or its table's name) against the curriculum, as one clear
    refusal. The models are imported here, when first used: quick entry (vpslog/quick.py) logs a
    session without building them."""
    from pydantic import ValidationError

    from vpslog.models import RECORDS, describe

    model = RECORDS[model] if isinstance(model, str) else model
    try:
        return model.model_validate(data, context={"catalog": catalog})
    except ValidationError as exc:
        raise InputError(describe(exc)) from None


class Program:
    """A VPS program's store, seen through its curriculum and its rules."""

    def __init__(self, store: Store, catalog: Catalog, actor: str, today: date | None = None):
        self.store = store
        self.catalog = catalog
        self.actor = actor
        self.today = today or date.today()

    @classmethod
    def open(cls, db: Path, *, create: bool = False, settings: dict | None = None, key=None,
             cipher: bool = False) -> Program:
        """The program at `db`; `create` makes the store (encrypted with `key`) and the project secret;
        `cipher` opens a plain store through SQLCipher (see Store.open)."""
        settings = config.load() if settings is None else settings
        if (refusal := file_refusal(Path(db))) is not None:
            raise refusal  # before `init` takes a folder for an existing store, or makes a secret for a pipe
        # init: a store to be made is no file, an empty one, or an empty database (what a stopped init leaves)
        what = not_a_store(Path(db)) if create and Path(db).exists() and Path(db).stat().st_size > 0 else None
        fresh = create and (what == "an empty file" or not Path(db).exists() or Path(db).stat().st_size == 0)
        if fresh and (refusal := link_refusal(Path(db))):
            raise StoreError(refusal)  # before a secret is made for a store that cannot be
        secret = config.ensure_secret() if fresh else config.read_secret()
        if create and not fresh and secret is None and what is None:  # another program's is refused as such
            raise StoreError(f"{db} already exists but the project secret its audit trail is keyed with is not "
                             f"at {config.secret_path()}: restore that file from your backup (a new secret would "
                             "break the trail, so none is made for an existing store)")
        store = Store.open(db, secret, create=create, secret_path=config.secret_path(),
                           witness=config.witness_path(db), earlier_witnesses=config.earlier_witness_paths(db),
                           key=key, cipher=cipher)
        return cls(store, Catalog(), config.actor(settings))

    def close(self) -> None:
        self.store.close()

    def notices(self) -> list[str]:
        """What opening the store found worth telling the user: a store others can read, repairs made."""
        path = self.store.path
        loose = [f"{path} can be read by other users; fix with: chmod 600 {path}*"] if self.store.others_can_read() else []
        return loose + self.store.repaired

    # -- sites, specialists, participants ------------------------------------

    def add_site(self, site_id: str, name: str) -> Site:
        site = build("site", {"id": upper_id(site_id.strip()), "name": name}, self.catalog)
        with self.changing():
            self._refuse_existing("site", site.id)
            self.store.insert("site", site, actor=self.actor)
        return site

    def add_specialist(self, specialist_id: str, site: str, name: str | None = None,
                       trained_on: date | None = None) -> Specialist:
        with self.changing():
            data = {"id": upper_id(specialist_id.strip()), "site_id": self.resolve("site", site),
                    "name": name, "trained_on": trained_on}
            specialist = build("specialist", data, self.catalog)
            self._refuse_existing("specialist", specialist.id)
            self.check_specialist(specialist)
            self.store.insert("specialist", specialist, actor=self.actor)
        return specialist

    def add_participant(self, participant_id: str, site: str, enrolled_on: date, **fields) -> Participant:
        with self.changing():
            data = {"id": participant_id, "site_id": self.resolve("site", site), "enrolled_on": enrolled_on, **fields}
            participant = build("participant", data, self.catalog)
            self._refuse_existing("participant", participant.id)
            self.check_participant(participant)
            self.store.insert("participant", participant, actor=self.actor)
        return participant

    def edit_participant(self, participant: str, changes: dict, reason: str) -> Participant:
        """Change any enrollment or demographic field, with the reason in the audit."""
        with self.changing():
            row = self.participant(participant)
            if "site_id" in changes:
                changes["site_id"] = self.resolve("site", changes["site_id"])
            updated = build("participant", {**row, **changes}, self.catalog)
            self.check_participant(updated, changes)
            enrolled = updated.enrolled_on.isoformat()
            for what, first in (("session", self.store.participant_summary(updated.id)["first_session"]),
                                ("milestone", self.store.first_milestone_date(updated.id))):
                if first and enrolled > first:
                    raise InputError(f"{updated.id} has a {what} on {first}, before the new enrollment date {enrolled}")
            allocated = self.store.allocation_of(updated.id) if "arm" in changes else None
            if allocated and updated.arm != allocated["arm"]:  # the trial's record of what chance decided
                raise InputError(f"{updated.id} was randomized to {allocated['arm']} (allocation {allocated['number']} "
                                 f"at {allocated['site_id']}): the arm is the allocation's and cannot be edited")
            self.store.update("participant", updated, actor=self.actor, reason=_reason(reason))
        return updated

    def exit_participant(self, participant: str, on: date, reason: str) -> Participant:
        with self.changing():
            row = self.participant(participant)
            if row["status"] == "exited":
                raise InputError(f"{row['id']} already exited on {row['exited_on']}")
            self._refuse_out_of_range(on, "exit date")
            for what, day in (("was enrolled", row["enrolled_on"]), ("consented", row["consent_on"])):
                if day and day > on.isoformat():
                    raise InputError(f"{row['id']} {what} on {day}, after the exit date {on}")
            last = self.store.last_session_date(row["id"])
            if last and last > on.isoformat():
                raise InputError(f"{row['id']} has a session on {last}, after the exit date {on}")
            updated = build("participant", {**row, "status": "exited", "exited_on": on,
                                          "exit_reason": _reason(reason)}, self.catalog)
            self.store.update("participant", updated, actor=self.actor, reason=reason, action="exit")
        return updated

    # -- screening and enrollment ----------------------------------------------

    def screen(self, participant: str, on: date, answers: dict[str, bool]) -> Screening:
        """Store a screening with its result, its reasons and the rules version."""
        from vpslog.eligibility import assess, load_criteria

        criteria = load_criteria(self.catalog.folder)
        if missing := [c for c in criteria.ids if c not in answers]:
            raise InputError(f"no answer for {', '.join(missing)}: every criterion needs yes or no")
        eligible, reasons = assess(criteria, answers)
        with self.changing():
            person = self.screenable(participant, on)
            if not eligible and self.only_eligible(person, on):
                raise InputError(f"{person['id']} is enrolled in the {person['arm']} arm: this screening is not "
                                 "eligible, and as their latest it would count, making them ineligible at "
                                 "enrollment (an earlier ineligible one is recorded once the eligible screening "
                                 "that followed it is); nothing was written")
            screening = build("screening", {
                **self._entered(), "participant_id": person["id"], "date": on, "answers": answers,
                "eligible": eligible, "reasons": "; ".join(reasons), "rules_version": criteria.version}, self.catalog)
            self.check_screening(screening)
            self.store.insert("screening", screening, actor=self.actor)
        return screening

    def screenable(self, participant: str, on: date) -> dict:
        """The participant a screening on `on` is of: active, the date not in the future (checked
        before the questions too, so that nobody answers them all for nothing)."""
        self.check_actor()
        person = self._active(participant)
        self._refuse_out_of_range(on, "screening date")
        enrolled = person["arm"] and (person["consent_on"] or person["enrolled_on"])
        if enrolled and on.isoformat() > enrolled:  # (before it: a record of a screening made then; see screen)
            raise InputError(f"{person['id']} is enrolled in the {person['arm']} arm (on {enrolled}): a screening "
                             "after that day would change who was eligible at enrollment, as the latest one counts")
        return person

    def only_eligible(self, person: dict, on: date) -> bool:
        """Whether a screening of `person` on `on` can only be an eligible one: they are enrolled and it
        would become their latest, which counts (an ineligible one would unmake their enrollment)."""
        latest = self.store.latest_screening(person["id"]) if person["arm"] else None
        return bool(person["arm"]) and (latest is None or on.isoformat() >= latest["date"])

    def enroll(self, participant: str, consent_on: date, arm: str | None = None,
               sequence_key: bytes | None = None) -> Participant:
        """Record consent and the arm: given, or (arm=None) randomized by permuted blocks per
        site from the sequence keyed with the project secret (the demo gives its own key)."""
        from vpslog.randomization import allocate

        with self.changing():
            person = self._active(participant)
            if person["arm"]:
                raise InputError(f"{person['id']} is already allocated to the {person['arm']} arm")
            screening = self.store.latest_screening(person["id"])
            if screening is None:
                raise InputError(f"{person['id']} has no screening: run `vpslog screen {person['id']}` first")
            if not screening["eligible"]:
                raise InputError(f"{person['id']} was not eligible at screening on {screening['date']}: "
                                 f"{screening['reasons']}")
            allocated = self.store.allocation_of(person["id"])  # imported before the participant enrolled
            if allocated is not None and arm != allocated["arm"]:
                raise InputError(f"{person['id']} was randomized to {allocated['arm']} (allocation {allocated['number']} "
                                 f"at {allocated['site_id']}): enroll with --arm {allocated['arm']}, the allocation's")
            if arm is None:
                number = self.store.last_allocation_number(person["site_id"]) + 1
                allocation = build("allocation", {
                    "id": uuid.uuid4().hex, "participant_id": person["id"], "site_id": person["site_id"],
                    "number": number, "arm": allocate(sequence_key or self.store.secret(), person["site_id"], number),
                    "allocated_at": _now()}, self.catalog)
                self.store.insert("allocation", allocation, actor=self.actor, action="randomize")
                arm = allocation.arm
            updated = build("participant", {**person, "arm": arm, "consent_on": consent_on}, self.catalog)
            self.check_participant(updated, ("arm", "consent_on"))
            self.store.update("participant", updated, actor=self.actor, reason=None, action="enroll")
        return updated

    # -- sessions --------------------------------------------------------------

    def log_session(self, participant: str, *, specialist: str | None, minutes: int, on: date,
                    type: str, mode: str, components=(), supports=(), phase: str | None = None,
                    note: str | None = None, clinical: bool = False, start_time: time | None = None,
                    location: str | None = None, entered_at: datetime | None = None,
                    session_id: str | None = None) -> Session:
        """Record one session; refused (nothing written) if any rule is broken.

        `entered_at` defaults to now and `session_id` to a random one; a bulk
        load (the demo) gives its own to stay deterministic.
        """
        data = {
            **self._entered(session_id, entered_at), "minutes": minutes, "date": on, "type": type, "mode": mode,
            "components": tuple(components), "supports": tuple(supports), "phase": phase,
            "note": note, "clinical": clinical, "start_time": start_time, "location": location,
        }
        with self.changing():
            data["participant_id"] = self.resolve("participant", participant)
            data["specialist_id"] = self._specialist(specialist)
            session = self.build_session(data)
            self.check_entry(session)
            self.check_session(session, self.store.get("participant", session.participant_id),
                               self.store.get("specialist", session.specialist_id))
            self.store.insert("session", session, actor=self.actor)
        return session

    def build_session(self, data: dict) -> Session:
        """A session validated by its model (quick entry applies the checks compiled from it first)."""
        return build("session", data, self.catalog)

    def advisories(self, session: Session) -> list[str]:
        """What the fidelity rules will flag about a session just logged or amended, said at once
        (the session is kept: it records what happened)."""
        arm = self.store.get("participant", session.participant_id)["arm"]
        if arm == "vps" and not session.clinical:
            return []  # the usual case: nothing to say, and no rules to load
        from vpslog.fidelity.rules import load_rules

        said = []
        for rule in load_rules(self.catalog).rules:
            if rule.kind == "arm_integrity" and arm in rule.params["arms"] and session.type in rule.params["session_types"]:
                said.append(f"{session.participant_id} is in the {arm} arm: {session.type} sessions break "
                            f"{rule.id} (fidelity will flag it)")
            elif rule.kind == "no_clinical" and session.clinical:
                said.append(f"a clinical service was recorded, which {rule.id} flags: VPS does not provide one")
        return said

    def amend_session(self, session_id: str, changes: dict, reason: str) -> Session:
        with self.changing():
            row = self._live_session(session_id)
            if "participant_id" in changes:
                changes["participant_id"] = self.resolve("participant", changes["participant_id"])
            if "specialist_id" in changes:
                changes["specialist_id"] = self._specialist(changes["specialist_id"])
            if changes.get("type", row["type"]) not in self.catalog.delivered_types:
                changes = {"components": (), "supports": (), "phase": None} | changes  # what did not happen goes
            session = self.build_session({**row, **changes})
            self.check_session(session, self.store.get("participant", session.participant_id))
            self._keep_observable(row, session)
            self.store.update("session", session, actor=self.actor, reason=_reason(reason))
        return session

    def _keep_observable(self, row: dict, session) -> None:
        """A change does not make an observed session one its reviews could not observe (voided, a
        no-show, after the review date, at another site): moved or voided, it changed a signed review's
        report unseen. What was so before the change (the participant moved site since) is not the
        change's to refuse."""
        reviews = self.store.observing_reviews(session.id)
        if not reviews:
            return  # nearly always: and quick entry then never loads the review rules
        from vpslog.review.program import unobservable

        seen = {"id": session.id, "voided": session.voided, "type": session.type, "date": str(session.date),
                "participant_id": session.participant_id}
        for review in reviews:
            kept = unobservable(self, review, row)  # rules the session broke already are not this change's
            if broken := [text for rule, text in unobservable(self, review, seen).items() if rule not in kept]:
                raise InputError(f"session {session.id[:8]} is observed in review {review['id'][:8]}, so it stays one "
                                 f"that review could observe: {broken[0]}; nothing was changed")

    def void_session(self, session_id: str, reason: str) -> Session:
        """A wrong session is voided, never deleted: it stays in the store and its history."""
        with self.changing():
            row = self._live_session(session_id)
            session = self.build_session({**row, "voided": True, "void_reason": _reason(reason)})
            self._keep_observable(row, session)
            self.store.update("session", session, actor=self.actor, reason=reason, action="void")
        return session

    def log_supervision(self, specialist: str, *, supervisor: str | None, minutes: int, on: date,
                        group: bool = False, topics=(), note: str | None = None) -> Supervision:
        """Record a supervision meeting of a specialist; refused (nothing written) if any rule is broken."""
        if not supervisor or not supervisor.strip():
            raise InputError("no supervisor given: pass --supervisor NAME")
        data = {**self._entered(), "supervisor": supervisor, "minutes": minutes, "date": on,
                "group": group, "topics": tuple(topics), "note": note}
        with self.changing():
            data["specialist_id"] = self._specialist(specialist)
            supervision = build("supervision", data, self.catalog)
            self.check_entry(supervision)
            self.check_supervision(supervision, self.store.get("specialist", supervision.specialist_id))
            self.store.insert("supervision", supervision, actor=self.actor)
        return supervision

    def log_milestone(self, participant: str, kind: str, *, on: date, detail: str | None = None) -> Milestone:
        """Record a vocational milestone, dated between the participant's enrollment and today."""
        data = {**self._entered(), "kind": kind, "date": on, "detail": detail}
        with self.changing():
            person = self.participant(participant)
            milestone = build("milestone", {**data, "participant_id": person["id"]}, self.catalog)
            self.check_entry(milestone)
            self.check_milestone(milestone, person)
            self.store.insert("milestone", milestone, actor=self.actor)
        return milestone

    def session(self, session_id: str) -> dict:
        return self.store.get("session", self.resolve("session", session_id))

    def participant(self, participant: str) -> dict:
        return self.store.get("participant", self.resolve("participant", participant))

    def history(self, record: str) -> list[dict]:
        """Audit entries of a session, supervision or milestone (by id prefix) or of a
        participant, specialist or site. An id that is exactly one record's wins over a prefix of
        another table's (a site `DE` beside sessions `de18…`); a prefix naming several is refused."""
        found = []
        for table in (*_LOGGED, "participant", "specialist", "site"):
            try:  # a prefix ambiguous among one table's ids is said so, not passed over to the next table
                found.append((table, self.resolve(table, record)))
            except NotFoundError:
                continue
            except InputError:  # ambiguous as a prefix here, unless it is exactly an id of another table
                found.append((table, None))
        exact = [(table, record_id) for table, record_id in found if record_id is not None
                 and record_id.lower() == record.strip().lower()]  # a site `DE` beside sessions de18…, de8a…
        if len(exact) == 1:
            return list(self.store.audit_entries(*exact[0]))
        for table in [table for table, record_id in found if record_id is None]:
            self.resolve(table, record)  # says it is ambiguous, with the candidates
        if len(found) > 1:
            raise InputError(f"{quoted(record)} is ambiguous: it could be "
                             + ", ".join(f"{table} {record_id}" for table, record_id in found))
        if not found:
            raise InputError(f"no session, supervision, milestone, participant, specialist or site matches "
                             f"{quoted(record)}")
        return list(self.store.audit_entries(*found[0]))

    # -- rules -----------------------------------------------------------------

    def resolve(self, table: str, text: str) -> str:
        """The id in `table` that `text` is or uniquely begins. Study codes, site and
        specialist ids are upper case and record ids lower-case hex, whatever the user
        typed; a site or specialist id of an older store that is not upper case is still
        found by its exact letters in any case."""
        text = text.strip()
        if table in _STAFF and (same := self.store.id_ignoring_case(table, text)) is not None:
            return same
        if table == "participant":
            text = text.upper()  # as the model upper-cases a study code
        elif table in _STAFF:
            text = upper_id(text)
        elif table in _LOGGED:
            text = text.lower()
        return self.store.resolve(table, text, table)

    def _entered(self, record_id: str | None = None, entered_at: datetime | None = None) -> dict:
        """What every logged event carries: its id (random unless given), when and by whom it was entered."""
        return {"id": record_id or uuid.uuid4().hex, "entered_by": self.actor,
                "entered_at": entered_at or _now()}

    def _specialist(self, specialist: str | None) -> str:
        if not specialist:
            raise InputError("no specialist given: pass --specialist ID, or set a default with "
                             "`vpslog config set specialist ID`")
        specialist_id = self.resolve("specialist", specialist)
        _refuse_inactive(self.store.get("specialist", specialist_id))
        return specialist_id

    def _live_session(self, session_id: str) -> dict:
        row = self.session(session_id)
        if row["voided"]:
            raise InputError(f"session {row['id'][:8]} is voided and cannot change")
        return row

    # -- the rules every record meets, whether typed, amended or imported -------
    # They take rows already loaded (import looks them up in bulk) and raise InputError.

    def check_record(self, table: str, record, *, person: dict | None = None,
                     specialist: dict | None = None, opened: dict | None = None) -> None:
        """Every rule a record of `table` meets whatever brings it in (`import`, `merge`), given
        the rows of the participant and specialist it names (looked up by the caller), and the
        reviews left open by what the same import or merge brought before (`opened`)."""
        if "entered_by" in type(record).model_fields:
            self.check_entry(record)
        if table == "participant":
            self.check_participant(record)
        elif table == "specialist":
            self.check_specialist(record)
        elif table == "screening":
            self.check_screening(record)
        elif table == "session":
            self.check_session(record, person, specialist)
        elif table == "supervision":
            self.check_supervision(record, specialist)
        elif table == "milestone":
            self.check_milestone(record, person)
        elif table == "allocation":
            self.check_allocation(record, person)
        elif table.startswith("review"):
            from vpslog.review.program import check_review_record

            check_review_record(self.store, table, record, opened)

    def check_entry(self, record) -> None:
        """A logged event was entered no later than now, by a user or specialist id (never a name)."""
        if _utc(record.entered_at) > _now():
            raise InputError(f"entered_at {record.entered_at.isoformat()} is in the future")
        if not ACTOR.fullmatch(record.entered_by):
            raise InputError(f"entered_by: {NOT_AN_ACTOR}")

    def changing(self):
        """The transaction records are changed in, by a user the trail can name: checked first, for
        every change (`amend` and `void` took a login name with a space into the trail)."""
        self.check_actor()
        return self.store.transaction()

    @contextmanager
    def rehearsal(self):
        """A change made and rolled back: every rule and constraint applied, nothing written (`-e`
        checks a session before the editor opens, so that no note is written for nothing). Never
        inside an open transaction, which it would join and could not roll back alone."""
        if self.store.conn.in_transaction:
            raise RuntimeError("a rehearsal runs in a transaction of its own")
        try:
            with self.changing():
                yield
                raise _Rehearsed
        except _Rehearsed:
            pass

    def check_actor(self) -> None:
        """The user about to write is a user or specialist id: what every entry and signature names
        (never a name; a review started by one could not be signed)."""
        if not ACTOR.fullmatch(self.actor):
            raise InputError(f"you are {quoted(self.actor)}: {NOT_AN_ACTOR}")

    def check_specialist(self, specialist: Specialist) -> None:
        if specialist.trained_on is not None:
            self._refuse_out_of_range(specialist.trained_on, "training date")

    def check_participant(self, person: Participant, changed=None) -> None:
        """Enrollment, consent and exit have happened: none is dated after today. A birth year gives an
        age at enrollment that --age accepts, checked for a new record or when `changed` (the fields
        an edit gives) holds the birth year or the enrollment date: an older record holding another
        stays editable."""
        from vpslog.models import AGES

        for day, what in ((person.enrolled_on, "enrollment date"), (person.consent_on, "consent date"),
                          (person.exited_on, "exit date")):
            if day is not None:
                self._refuse_out_of_range(day, what)
        if (person.exited_on and person.consent_on and person.consent_on > person.exited_on
                and (changed is None or {"consent_on", "exited_on"} & set(changed))):  # as `exit` refuses it
            raise InputError(f"{person.id} exited on {person.exited_on}, before the consent date {person.consent_on}")
        age = None if person.birth_year is None else person.enrolled_on.year - person.birth_year
        checked = changed is None or {"birth_year", "enrolled_on"} & set(changed)
        if age is not None and checked and not AGES[0] <= age <= AGES[1]:
            raise InputError(f"birth year {person.birth_year} makes the age at enrollment {age}; it must be "
                             f"{AGES[0]} to {AGES[1]}, as --age")

    def check_allocation(self, allocation, person: dict) -> None:
        """An allocation brought in was made no later than now (in UTC, as `enroll --randomize` writes
        it) and not before 1900. (Its site and arm are the record of the randomization: a participant
        may have moved site since, or an older store an arm edited by hand.)"""
        moment = allocation.allocated_at
        if _utc(moment) > _now():
            raise InputError(f"allocated_at {moment.isoformat()} is in the future")
        if moment.date() < EARLIEST:
            raise InputError(f"allocated_at {moment.isoformat()} is before {EARLIEST}: check the year")

    def check_screening(self, screening: Screening) -> None:
        self._refuse_out_of_range(screening.date, "screening date")

    def check_session(self, session: Session, person: dict, specialist: dict | None = None) -> None:
        """A session falls between enrollment and today, not after an exit; one that did not take
        place (a no-show) records no content; `specialist` (given when the session is new or moves
        to them) must be active."""
        self.check_session_date(person, session.date)
        if session.type not in self.catalog.delivered_types and (session.components or session.supports
                                                                 or session.phase):
            raise InputError(f"a {session.type} session records no content: leave out its components, "
                             "support types and phase")
        if specialist is not None:
            _refuse_inactive(specialist)

    def check_session_date(self, person: dict, day: date) -> None:
        """A session date falls between enrollment and today, not after an exit (on its own, so
        that the prompts of `vpslog log` refuse a date before the rest is typed)."""
        self._check_dated(person, day, "session date")
        if person["status"] == "exited" and day.isoformat() > person["exited_on"]:
            raise InputError(f"{person['id']} exited on {person['exited_on']}; "
                             f"no session can be logged after that (session date {day})")

    def check_supervision(self, supervision: Supervision, specialist: dict) -> None:
        _refuse_inactive(specialist)
        self._refuse_out_of_range(supervision.date, "supervision date")

    def check_milestone(self, milestone: Milestone, person: dict) -> None:
        self._check_dated(person, milestone.date, "milestone date")

    def _active(self, participant: str) -> dict:
        row = self.participant(participant)
        if row["status"] != "active":
            raise InputError(f"{row['id']} exited on {row['exited_on']}")
        return row

    def _check_dated(self, person: dict, day: date, what: str) -> None:
        """A participant's session or milestone falls between enrollment and today."""
        self._refuse_out_of_range(day, what)
        if day.isoformat() < person["enrolled_on"]:
            raise InputError(f"{what} {day} is before {person['id']} enrolled on {person['enrolled_on']}")

    def _refuse_out_of_range(self, day: date, what: str) -> None:
        """Not after today, and not before EARLIEST: a year typed short (`0026-03-02` for 2026) would
        be stored, and its de-identified shift would leave the calendar SQLite and Python share."""
        if day > self.today:
            raise InputError(f"{what} {day} is in the future (today is {self.today})")
        if day < EARLIEST:
            raise InputError(f"{what} {day} is before {EARLIEST}: check the year (dates are YYYY-MM-DD)")

    def _refuse_existing(self, table: str, record_id: str) -> None:
        """Refuses an id already taken, in any case for sites and specialists (so `north`
        of an older store and a new `NORTH` never stand side by side)."""
        taken = (self.store.id_ignoring_case(table, record_id) if table in _STAFF
                 else record_id if self.store.get(table, record_id) else None)
        if taken is not None:
            raise InputError(f"{table} {taken} already exists")


def _refuse_inactive(specialist: dict) -> None:
    if not specialist["active"]:
        raise InputError(f"specialist {specialist['id']} is not active")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


EARLIEST = date(1900, 1, 1)
"""No record is dated before it (see Program._refuse_out_of_range)."""
ACTOR = re.compile(ACTOR_PATTERN)
NOT_AN_ACTOR = ("not a user or specialist id (letters, digits and . _ @ -, no spaces); set yours with "
                "`vpslog config set specialist ID`")

_STAFF = ("site", "specialist")
"""Tables whose ids are upper-case codes that older stores may hold in lower case."""

_LOGGED = ("session", "supervision", "milestone")
"""Tables of logged events, whose ids are random lower-case hex (a prefix is enough)."""


def _utc(moment: datetime) -> datetime:
    """A stored moment in UTC: one without its zone (an older import kept it so) is read as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Rehearsed(Exception):
    """Ends a rehearsal: the transaction rolls back."""


def _reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise InputError("a reason is required: say why with --reason")
    return reason.strip()
