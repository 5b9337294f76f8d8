"""The fidelity reviews' side of the store: reads of reviews, their items, observations and
findings. A mixin of Store (writes go through Store.insert/update, so every change is audited)."""

from __future__ import annotations

REVIEW_PARTS = ("review_item", "review_observation", "review_finding")
"""The tables whose rows belong to one review (by review_id)."""


class ReviewRecords:
    """Mixed into Store: `self` is an open Store."""

    def reviews(self) -> list[dict]:
        """Every review, newest first."""
        return list(self.db.query("SELECT * FROM review ORDER BY as_of DESC, entered_at DESC"))

    def open_review(self, site_id: str | None) -> dict | None:
        """The review of a site (None: of the whole program) that is not signed yet, if any."""
        row = self.conn.execute("SELECT * FROM review WHERE site_id IS ? AND status = 'open'", (site_id,)).fetchone()
        return dict(row) if row else None

    def previous_review(self, review: dict) -> dict | None:
        """The latest signed review of the same site (or of the whole program) before `review`."""
        row = self.conn.execute(
            """SELECT * FROM review WHERE site_id IS ? AND status = 'signed' AND id != ?
                      AND (as_of < ? OR (as_of = ? AND entered_at < ?))
               ORDER BY as_of DESC, entered_at DESC LIMIT 1""",
            (review["site_id"], review["id"], review["as_of"], review["as_of"], review["entered_at"])).fetchone()
        return dict(row) if row else None

    def latest_signed_reviews(self) -> dict[str | None, dict]:
        """The latest signed review of each site, and of the whole program (key None)."""
        latest = {}
        for row in self.conn.execute("SELECT * FROM review WHERE status = 'signed' ORDER BY as_of, entered_at"):
            latest[row["site_id"]] = dict(row)
        return latest

    def observing_reviews(self, session_id: str) -> list[dict]:
        """The reviews that observed a session (a plain read: quick entry's amend and void ask it)."""
        return [dict(row) for row in self.conn.execute(
            """SELECT r.* FROM review r JOIN review_observation o ON o.review_id = r.id
               WHERE o.session_id = ? ORDER BY r.as_of""", (session_id,))]

    def review_part(self, table: str, review_id: str) -> list[dict]:
        """The items, observations or findings of a review, in the order they were made."""
        assert table in REVIEW_PARTS
        return list(self.db.query(f'SELECT * FROM "{table}" WHERE review_id = ? ORDER BY rowid', [review_id]))

    def overdue_actions(self, today: str) -> list[dict]:
        """Open recommendations whose due date has passed, with their review's site and date, oldest due first."""
        return list(self.db.query(
            """SELECT f.*, r.site_id, r.as_of FROM review_finding f JOIN review r ON r.id = f.review_id
               WHERE f.status = 'open' AND f.due < ? ORDER BY f.due, f.rowid""", [today]))

    def review_addenda(self, review_id: str) -> list[dict]:
        """Audit entries of changes made to a review after it was signed, oldest first."""
        parts = " UNION ".join(f'SELECT id FROM "{table}" WHERE review_id = ?' for table in REVIEW_PARTS)
        return list(self.db.query(
            f"""SELECT seq, at, actor, tbl, record_id, reason FROM audit
                WHERE action = 'addendum' AND (record_id = ? OR record_id IN ({parts})) ORDER BY seq""",
            [review_id, *[review_id] * len(REVIEW_PARTS)]))

    def review_staff_values(self) -> list[str]:
        """Who started, signed or owns anything of a review (for the pseudonyms of an export)."""
        return [row[0] for row in self.conn.execute(
            """SELECT entered_by FROM review UNION SELECT signed_by FROM review WHERE signed_by IS NOT NULL
               UNION SELECT entered_by FROM review_item UNION SELECT entered_by FROM review_observation
               UNION SELECT entered_by FROM review_finding UNION SELECT owner FROM review_finding
               WHERE owner IS NOT NULL""")]
