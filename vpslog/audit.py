"""The hash chain of the audit trail, as pure functions over stored values.

Each entry's hash is an HMAC-SHA-256, keyed with the project secret (kept
outside the store), of its own stored values and of the previous entry's hash.
Changing a byte, removing an entry or cutting the tail breaks the chain; the
store also keeps the head (last seq and hash) to catch a cut tail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence

GENESIS = "0" * 64
CHAINED = ("seq", "at", "actor", "action", "tbl", "record_id", "before", "after", "reason", "prev_hash")
"""The audit columns an entry's hash covers, in order."""


def entry_hash(secret: bytes, values: Sequence) -> str:
    message = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()


def text_digest(secret: bytes, text: str) -> str:
    """Stands in for a free-text note in the audit: shows that it changed, not what it says."""
    return "hmac:" + hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def first_break(secret: bytes, entries: Iterable[dict], head: tuple[int, str] | None) -> str | None:
    """Why the chain is broken at its first bad entry, or None when it verifies."""
    expected_seq, prev_hash, last = 1, GENESIS, None
    for entry in entries:
        seq = entry["seq"]
        label = f"audit entry {seq} ({entry['action']} {entry['tbl']} {entry['record_id'][:8]})"
        if seq != expected_seq:
            return f"audit entry {expected_seq} is missing: the chain jumps from {expected_seq - 1} to {seq}"
        if entry["prev_hash"] != prev_hash:
            return f"{label} does not follow entry {seq - 1}: its link to the previous hash is wrong"
        if not hmac.compare_digest(entry_hash(secret, [entry[c] for c in CHAINED]), entry["hash"]):
            return f"{label} was changed after it was written: its content does not match its hash"
        expected_seq, prev_hash, last = seq + 1, entry["hash"], (seq, entry["hash"])
    if last != head:
        have = f"entry {last[0]}" if last else "no entries"
        want = f"entry {head[0]}" if head else "no entries"
        return f"the audit trail ends at {have} but the store's head records {want}: entries were removed from the end"
    return None
