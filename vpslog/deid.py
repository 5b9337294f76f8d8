"""De-identification as pure functions of the project secret.

Pseudonyms are HMAC-SHA-256 of the id, keyed with the project secret, so they
are stable across exports of the same store (repeated exports link up) and
cannot be reversed without the secret. Each participant's dates shift back by
the same 0-364 days, derived the same way, so intervals are kept.
"""

from __future__ import annotations

import hashlib
import hmac


def _digest(secret: bytes, kind: str, value: str) -> bytes:
    return hmac.new(secret, f"vpslog-deidentify:{kind}:{value}".encode(), hashlib.sha256).digest()


def participant_pseudonym(secret: bytes, participant_id: str) -> str:
    """`R-` and 12 digits: still a valid study code under the default pattern."""
    return f"R-{int.from_bytes(_digest(secret, 'participant', participant_id)[:8], 'big') % 10**12:012d}"


def staff_pseudonym(secret: bytes, value: str) -> str:
    """For specialist ids and the actors who entered records."""
    return "SP-" + _digest(secret, "staff", value)[:5].hex()


def site_pseudonym(secret: bytes, site_id: str) -> str:
    """For site codes, which a program may name after a town or an agency."""
    return "ST-" + _digest(secret, "site", site_id)[:5].hex()


def record_pseudonym(secret: bytes, record_id: str) -> str:
    """For session, supervision, milestone, screening and allocation ids: 32 hex digits, so a
    de-identified export still imports, and no row matches its identified twin by id."""
    return _digest(secret, "record", record_id)[:16].hex()


def date_shift(secret: bytes, participant_id: str) -> int:
    """Days (0-364) to move every date of this participant back by."""
    return int.from_bytes(_digest(secret, "shift", participant_id)[:4], "big") % 365


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


GUARDED = (*FORMULA_TRIGGERS, "'")
"""A cell starting with one of these gets the `'` guard: the triggers, and the guard itself,
so that import can always undo it (`'=x` exports as `''=x` and comes back as `'=x`)."""


def neutralize(text: str) -> str:
    """What a spreadsheet would run as a formula gets a leading `'` (the SQL export does the same)."""
    return "'" + text if text.startswith(GUARDED) else text


def restore(text: str) -> str:
    """The inverse of neutralize, for import."""
    return text[1:] if text.startswith("'") and text[1:].startswith(GUARDED) else text
