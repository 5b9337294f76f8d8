"""The hash chain of the audit trail, as pure functions over stored values.

Each entry's hash is an HMAC-SHA-256, keyed with the project secret (kept
outside the store), of its own stored values and of the previous entry's hash.
Changing a byte, removing an entry or cutting the tail breaks the chain; the
store also keeps the head (last seq and hash) to catch a cut tail, and a witness
file outside the store keeps it too, to catch a cut tail with a rewritten head.
The replay protects the records themselves: folding each record's entries gives
the state it must have, which is compared with the row.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence

GENESIS = "0" * 64
CHAINED = ("seq", "at", "actor", "action", "tbl", "record_id", "before", "after", "reason", "prev_hash")
"""The audit columns an entry's hash covers, in order."""


_JSON = json.JSONEncoder(ensure_ascii=False)


def _scalar(value) -> str:
    """A stored value as `json` (ensure_ascii off) writes it. Text, whole numbers and NULL, nearly
    every value, are spelt here: an import hashes and images a million rows, and the encoder's
    own call costs more than the work (tests hold this to json's bytes)."""
    kind = value.__class__
    if kind is str:
        return _quoted(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    return _JSON.encode(value)


_quoted = json.encoder.encode_basestring  # json's own quoting of text, ensure_ascii off


def _message(values: Sequence) -> bytes:
    """What an entry's hash covers: its chained values as a compact JSON array."""
    return ("[" + ",".join([_quoted(value) if value.__class__ is str else _scalar(value) for value in values])
            + "]").encode("utf-8")


def _keyed(secret: bytes) -> tuple:
    """HMAC-SHA-256 keyed once (RFC 2104's inner and outer pads), so that hashing a message is
    two hash copies: hmac's own copy() costs twice that, and an import chains a row each."""
    key = secret if len(secret) <= 64 else hashlib.sha256(secret).digest()
    key = key.ljust(64, b"\0")
    return (hashlib.sha256(bytes(byte ^ 0x36 for byte in key)), hashlib.sha256(bytes(byte ^ 0x5C for byte in key)))


def _mac(keyed: tuple, message: bytes) -> str:
    inner, outer = keyed[0].copy(), keyed[1].copy()
    inner.update(message)
    outer.update(inner.digest())
    return outer.hexdigest()


def entry_hash(secret: bytes, values: Sequence) -> str:
    return hmac.new(secret, _message(values), hashlib.sha256).hexdigest()


def stored_image(image: dict | None) -> str | None:
    """How an image is kept in the `before`/`after` columns: JSON with sorted keys (as
    json.dumps(image, sort_keys=True, ensure_ascii=False) writes it)."""
    if image is None:
        return None
    return "{" + ", ".join([named + (_quoted(value) if (value := image[key]).__class__ is str else _scalar(value))
                            for key, named in _layout(tuple(image))]) + "}"


@functools.lru_cache(maxsize=64)
def _layout(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """An image's keys in sorted order, each with its quoted `"key": ` (a table's rows share one)."""
    return tuple((key, _quoted(key) + ": ") for key in sorted(keys))


def chained(secret: bytes, head: tuple[int, str] | None, entries: Iterable[Sequence]) -> Iterator[list]:
    """Entries (at, actor, action, tbl, record_id, before, after, reason) as stored rows: each
    numbered after `head`, linked to the one before and hashed (the columns CHAINED, then hash)."""
    seq, prev_hash = head if head else (0, GENESIS)
    keyed = _keyed(secret)
    for entry in entries:
        seq += 1
        values = [seq, *entry, prev_hash]
        prev_hash = _mac(keyed, _message(values))
        yield [*values, prev_hash]


def text_digest(secret: bytes, text: str) -> str:
    """Stands in for a free-text note in the audit: shows that it changed, not what it says."""
    return "hmac:" + hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def verifies(secret: bytes, entry: dict) -> bool:
    """Whether a stored entry's hash is the HMAC of its own chained values under `secret`."""
    return hmac.compare_digest(entry_hash(secret, [entry[c] for c in CHAINED]), entry["hash"])


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
        if not verifies(secret, entry):
            return f"{label} was changed after it was written: its content does not match its hash"
        expected_seq, prev_hash, last = seq + 1, entry["hash"], (seq, entry["hash"])
    if last != head:
        have = f"entry {last[0]}" if last else "no entries"
        want = f"entry {head[0]}" if head else "no entries"
        return f"the audit trail ends at {have} but the store's head records {want}: entries were removed from the end"
    return None

NOTE_FIELDS = frozenset({"note", "detail", "evidence"})
"""Free text kept only in its own row: the audit trail records a keyed digest."""
EVENT_ACTIONS = frozenset({"import", "export", "merge", "repair", "accept-head", "encrypt", "rekey"})
"""Entries that record an event, not a change of one record: the replay passes over them."""
NO_RECORD_CHANGED = frozenset({"export", "encrypt", "rekey"})
"""Events after which every record is as it was (a demo store stays the demo it was built as)."""


def image(secret: bytes, row: dict | None) -> dict | None:
    """A record as the trail keeps it: every field, notes replaced by their keyed digest."""
    if row is None:
        return None
    return {k: text_digest(secret, v) if k in NOTE_FIELDS and v else v for k, v in row.items()}


def replay(secret: bytes, table: str, rows: Iterable[dict], entries: Iterable[dict]) -> Iterator[str]:
    """What differs between a table's current rows and the state its trail says they must have.

    `rows` are sorted by id and `entries` (that table's record entries) by record id, then
    seq, so both stream side by side: memory stays flat however large the table. Each
    problem names the table, the record and the fields; values are never shown (notes,
    names and places are sensitive)."""
    states = _states(entries)
    state = next(states, None)
    for row in rows:
        while state is not None and state[0] < row["id"]:
            yield f"{table} {state[0]}: missing: created by audit entry {state[2]} but no longer in the store"
            state = next(states, None)
        if state is None or state[0] != row["id"]:
            yield f"{table} {row['id']}: has no audit entry: it was added outside vpslog"
            continue
        record_id, expected, first, last = state
        state = next(states, None)
        if expected is None:
            yield f"{table} {record_id}: the trail changes it (entry {first}) but never created it"
            continue
        current = image(secret, row)
        changed = sorted(k for k in current.keys() | expected.keys() if current.get(k) != expected.get(k))
        if changed:
            yield (f"{table} {record_id}: {', '.join(changed)} changed outside vpslog "
                   f"(the trail's last entry for it is {last})")
    while state is not None:
        yield f"{table} {state[0]}: missing: created by audit entry {state[2]} but no longer in the store"
        state = next(states, None)


def _states(entries: Iterable[dict]) -> Iterator[tuple[str, dict | None, int, int]]:
    """(record id, state the trail gives it, first seq, last seq) per record, folding its entries."""
    record_id = state = first = last = None
    for entry in entries:
        if entry["record_id"] != record_id:
            if record_id is not None:
                yield record_id, state, first, last
            record_id, state, first = entry["record_id"], None, entry["seq"]
        after = json.loads(entry["after"]) if entry["after"] else {}
        if entry["before"] is None:
            state = after  # created: the full image
        elif state is not None:
            state.update(after)  # changed: the fields that changed
        last = entry["seq"]
    if record_id is not None:
        yield record_id, state, first, last


def witness_problem(witness: tuple[int, str] | None, hash_at_seq: str | None,
                    head: tuple[int, str] | None) -> str | None:
    """Whether the chain still holds the entry recorded outside the store (None when it does).

    The witness may lag the head by the last write (a crash between commit and its
    update): a chain that extends it is fine, one that no longer contains it was cut."""
    if witness is None:
        return None
    seq, digest = witness
    if hash_at_seq == digest:
        return None
    have = f"ends at entry {head[0]}" if head else "is empty"
    return (f"the audit trail {have} but the witness file recorded entry {seq} ({digest[:12]}): "
            "entries were cut or the trail was replaced (or an older copy of the store was restored)")


def rekey_notes(entry: dict, row: dict, old: bytes, new: bytes) -> dict:
    """An entry brought from a store keyed with `old`, its note digests re-keyed with `new`
    where they stand for the record's current note (the only text known); others stay as
    they were, since the replay compares a record's latest state only."""
    if old == new:
        return entry
    swap = {text_digest(old, row[k]): text_digest(new, row[k]) for k in NOTE_FIELDS if row.get(k)}

    def rekeyed(stored):
        if not stored or not swap:
            return stored
        values = json.loads(stored)
        return stored_image({k: swap.get(v, v) if k in NOTE_FIELDS else v for k, v in values.items()})

    return {**entry, "before": rekeyed(entry["before"]), "after": rekeyed(entry["after"])}
