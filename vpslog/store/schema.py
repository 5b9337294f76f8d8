"""The store's schema: one list of statements per version (PRAGMA user_version).

A store at version n is brought to SCHEMA_VERSION by running MIGRATIONS[n:] in
one transaction. Tables are STRICT; the CHECK constraints mirror the models.
"""

_DATE = "CHECK ({0} IS NULL OR date({0}) IS {0})"
_FLAG = "CHECK ({0} IN (0, 1))"
_ENTERED = f"""
  entered_at TEXT NOT NULL,
  entered_by TEXT NOT NULL,
  voided INTEGER NOT NULL DEFAULT 0 {_FLAG.format('voided')},
  void_reason TEXT,
  CHECK (voided = 0 OR void_reason IS NOT NULL)"""

AUDIT_TRIGGERS = {
    "audit_no_update": """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
    "audit_no_delete": """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
}
"""The audit table refuses UPDATE and DELETE; opening a store recreates any that were dropped."""

SESSION_BY_PARTICIPANT = ("participant_id", "date", "entered_at", "id", "voided", "type", "specialist_id",
                          "clinical", "minutes", "components")
"""Every session column the fidelity stream, contact histories and participant totals read, in the
order they read sessions: by participant and date, a day's sessions in the order they were entered."""
SESSION_BY_SPECIALIST = ("specialist_id", "voided", "date", "type", "participant_id")
"""Every session column the specialist rules, caseloads and the `--specialist` filters read."""

MIGRATIONS: list[list[str]] = [
    [  # version 1
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
        "CREATE TABLE site (id TEXT PRIMARY KEY, name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200)) STRICT",
        f"""CREATE TABLE specialist (
  id TEXT PRIMARY KEY,
  site_id TEXT NOT NULL REFERENCES site(id),
  name TEXT,
  trained_on TEXT {_DATE.format('trained_on')},
  active INTEGER NOT NULL DEFAULT 1 {_FLAG.format('active')}
) STRICT""",
        f"""CREATE TABLE participant (
  id TEXT PRIMARY KEY,
  site_id TEXT NOT NULL REFERENCES site(id),
  enrolled_on TEXT NOT NULL {_DATE.format('enrolled_on')},
  arm TEXT CHECK (arm IN ('vps', 'control')),
  consent_on TEXT {_DATE.format('consent_on')},
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'exited')),
  exited_on TEXT {_DATE.format('exited_on')} CHECK (exited_on >= enrolled_on),
  exit_reason TEXT,
  age INTEGER CHECK (age BETWEEN 16 AND 120),
  birth_year INTEGER CHECK (birth_year BETWEEN 1900 AND 2100),
  gender TEXT, race TEXT, residence TEXT, marital TEXT, education TEXT,
  working INTEGER {_FLAG.format('working')},
  ssdi_ssi INTEGER {_FLAG.format('ssdi_ssi')},
  psych_meds INTEGER {_FLAG.format('psych_meds')},
  CHECK ((status = 'exited') = (exited_on IS NOT NULL)),
  CHECK (age IS NULL OR birth_year IS NULL)
) STRICT""",
        f"""CREATE TABLE session (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  participant_id TEXT NOT NULL REFERENCES participant(id),
  specialist_id TEXT NOT NULL REFERENCES specialist(id),
  date TEXT NOT NULL {_DATE.format('date')},
  start_time TEXT,
  minutes INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 480),
  type TEXT NOT NULL,
  mode TEXT NOT NULL,
  location TEXT,
  components TEXT NOT NULL DEFAULT '',
  supports TEXT NOT NULL DEFAULT '',
  phase TEXT,
  clinical INTEGER NOT NULL DEFAULT 0 {_FLAG.format('clinical')},
  note TEXT,{_ENTERED}
) STRICT""",
        "CREATE INDEX session_by_participant ON session (participant_id, date)",
        "CREATE INDEX session_by_specialist ON session (specialist_id, date)",
        f"""CREATE TABLE supervision (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  specialist_id TEXT NOT NULL REFERENCES specialist(id),
  supervisor TEXT NOT NULL,
  date TEXT NOT NULL {_DATE.format('date')},
  minutes INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 480),
  "group" INTEGER NOT NULL DEFAULT 0 {_FLAG.format('"group"')},
  topics TEXT NOT NULL DEFAULT '',
  note TEXT,{_ENTERED}
) STRICT""",
        "CREATE INDEX supervision_by_specialist ON supervision (specialist_id, date)",
        f"""CREATE TABLE milestone (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  participant_id TEXT NOT NULL REFERENCES participant(id),
  date TEXT NOT NULL {_DATE.format('date')},
  kind TEXT NOT NULL,
  detail TEXT,{_ENTERED}
) STRICT""",
        "CREATE INDEX milestone_by_participant ON milestone (participant_id, date)",
        """CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  tbl TEXT NOT NULL,
  record_id TEXT NOT NULL,
  before TEXT CHECK (before IS NULL OR json_valid(before)),
  after TEXT CHECK (after IS NULL OR json_valid(after)),
  reason TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE
) STRICT""",
        "CREATE INDEX audit_by_record ON audit (tbl, record_id)",
        *AUDIT_TRIGGERS.values(),
    ],
    [  # version 2: eligibility screening and randomized allocation
        f"""CREATE TABLE screening (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  participant_id TEXT NOT NULL REFERENCES participant(id),
  date TEXT NOT NULL {_DATE.format('date')},
  answers TEXT NOT NULL CHECK (json_valid(answers)),
  eligible INTEGER NOT NULL {_FLAG.format('eligible')},
  reasons TEXT NOT NULL DEFAULT '',
  rules_version TEXT NOT NULL,
  entered_at TEXT NOT NULL,
  entered_by TEXT NOT NULL
) STRICT""",
        "CREATE INDEX screening_by_participant ON screening (participant_id, date)",
        """CREATE TABLE allocation (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  participant_id TEXT NOT NULL UNIQUE REFERENCES participant(id),
  site_id TEXT NOT NULL REFERENCES site(id),
  number INTEGER NOT NULL CHECK (number >= 1),
  arm TEXT NOT NULL CHECK (arm IN ('vps', 'control')),
  allocated_at TEXT NOT NULL,
  UNIQUE (site_id, number)
) STRICT""",
    ],
    [  # version 3: a specialist's first and last delivered session read from the index alone
        "DROP INDEX session_by_specialist",
        "CREATE INDEX session_by_specialist ON session (specialist_id, voided, date)",
    ],
    [  # version 4: fidelity reviews (issue 10)
        f"""CREATE TABLE review (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  site_id TEXT REFERENCES site(id),
  as_of TEXT NOT NULL {_DATE.format('as_of')},
  reviewers TEXT NOT NULL CHECK (length(reviewers) BETWEEN 1 AND 200),
  scale_version TEXT NOT NULL,
  rules_version TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'signed')),
  signed_at TEXT,
  signed_by TEXT,
  entered_at TEXT NOT NULL,
  entered_by TEXT NOT NULL,
  CHECK ((status = 'signed') = (signed_at IS NOT NULL AND signed_by IS NOT NULL))
) STRICT""",
        "CREATE INDEX review_by_site ON review (site_id, as_of)",
        """CREATE TABLE review_item (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  review_id TEXT NOT NULL REFERENCES review(id),
  item TEXT NOT NULL,
  score INTEGER CHECK (score BETWEEN 1 AND 5),
  sources TEXT NOT NULL DEFAULT '',
  computed_score INTEGER CHECK (computed_score BETWEEN 1 AND 5),
  computed_evidence TEXT,
  evidence TEXT,
  entered_at TEXT NOT NULL,
  entered_by TEXT NOT NULL,
  UNIQUE (review_id, item)
) STRICT""",
        """CREATE TABLE review_observation (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  review_id TEXT NOT NULL REFERENCES review(id),
  session_id TEXT NOT NULL REFERENCES session(id),
  present TEXT NOT NULL DEFAULT '',
  absent TEXT NOT NULL DEFAULT '',
  entered_at TEXT NOT NULL,
  entered_by TEXT NOT NULL,
  UNIQUE (review_id, session_id)
) STRICT""",
        f"""CREATE TABLE review_finding (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  review_id TEXT NOT NULL REFERENCES review(id),
  kind TEXT NOT NULL CHECK (kind IN ('strength', 'recommendation')),
  item TEXT,
  detail TEXT NOT NULL CHECK (length(detail) >= 1),
  owner TEXT REFERENCES specialist(id),
  due TEXT {_DATE.format('due')},
  status TEXT CHECK (status IN ('open', 'done', 'dropped')),
  closed_on TEXT {_DATE.format('closed_on')},
  note TEXT,
  entered_at TEXT NOT NULL,
  entered_by TEXT NOT NULL,
  CHECK ((kind = 'recommendation') = (status IS NOT NULL)),
  CHECK ((coalesce(status, '') IN ('done', 'dropped')) = (closed_on IS NOT NULL))
) STRICT""",
        "CREATE INDEX review_finding_by_review ON review_finding (review_id)",
    ],
    [  # version 5: the session reads of fidelity and the reports answered from the indexes alone.
        # Sessions are stored as they are logged (by date), so reading them by participant or by
        # specialist through the table jumps from page to page: 1M sessions took 3 s on a plain store
        # and 12 s on an encrypted one (each page read is a page decrypted), 1.3 s and 2 s like this.
        "DROP INDEX session_by_participant",
        f"CREATE INDEX session_by_participant ON session ({', '.join(SESSION_BY_PARTICIPANT)})",
        "DROP INDEX session_by_specialist",
        f"CREATE INDEX session_by_specialist ON session ({', '.join(SESSION_BY_SPECIALIST)})",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = ("site", "specialist", "participant", "session", "supervision", "milestone", "screening", "allocation",
          "review", "review_item", "review_observation", "review_finding")
"""The record tables, in dependency order."""
